/**
 * The gateway's Anthropic request body: `POST /v1/messages` (Anthropic's
 * Messages API reference), its text parsed as JSON and checked against an
 * Effect Schema of the wire (snake_case, unknown fields ignored, `null` taken
 * as unset), then turned into the library's `ChatRequest`. A body that does not
 * fit is a `Problem` naming the field as Anthropic does (`messages.2.role`).
 * Ranges (a `max_tokens` of 0, a `temperature` of 5) are the `ChatRequest`
 * schema's, checked by the `Llm` before anything is sent; `anthropicPath`
 * renames its paths to the wire's.
 *
 * The mapping: `system` (a string or text blocks) becomes system messages
 * first, and a `system` turn among the messages (Anthropic's mid-conversation
 * system message) a system message in its place; a user turn's `tool_result` blocks become tool messages (ahead of
 * the turn's other blocks, as Anthropic orders them), its text and image
 * blocks a user message; an assistant turn's text, `tool_use` blocks (their
 * `input` as the arguments' JSON) and thinking, whose signed blocks are kept
 * in `providerMetadata` so the library's Anthropic adapter sends them back
 * unchanged (an unsigned one, as the gateway's streams give, is kept as
 * reasoning only; the gateway's own carrier block, `anthropic/render.ts`, gives
 * back the provider's state: the turn's metadata and each call's). A tool use
 * id the gateway made of a provider's call id (`toolUseId`) is the provider's
 * id again (`callId`). `thinking` becomes a `reasoningEffort` (`enabled` by its
 * budget per the adapter's `thinkingBudgets`, `adaptive` and `between_tools` `output_config.effort` or else
 * medium, `disabled` none), `output_config.format` a `json_schema` response format, `metadata.user_id` the
 * `user`. A block's `cache_control` becomes its part's, system message's, tool result's or tool's `cache`
 * breakpoint (an assistant turn's on the turn's last block); the top-level `cache_control` (automatic caching, which
 * the API applies to the last cacheable block) the last message's, on its last part. Not carried: `top_k`,
 * `disable_parallel_tool_use`, a tool result's `is_error`, `context_management`
 * and any other field the gateway does not read (accepted and left out).
 *
 * As for the OpenAI body, the schema is its own check (`internal/schemaCheck.ts`).
 */
import * as Schema from "effect/Schema"
import type { Input as ChatRequest, ReasoningEffort } from "../../../ChatRequest.js"
import type { CacheBreakpoint, ContentPart, Message, ToolCall, ToolDefinition } from "../../../Message.js"
import { type JsonRecord, metadataOf, thinkingBudgets } from "../../providers/anthropic/wire.js"
import { checker, maybe, Problem, problemOf, Refused, set } from "../../schemaCheck.js"
import { type Carried, opened as openedCarrier, restoreCall } from "../carried.js"

export { Problem } from "../../schemaCheck.js"

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const CacheControl = Schema.Struct({
  type: Schema.Literal("ephemeral"),
  ttl: maybe(Schema.Literals(["5m", "1h"]))
})

const cacheControl = maybe(CacheControl)

const TextBlock = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String, cache_control: cacheControl })

const ImageSource = Schema.Union([
  Schema.Struct({ type: Schema.Literal("base64"), media_type: Schema.String, data: Schema.String }),
  Schema.Struct({ type: Schema.Literal("url"), url: Schema.String })
]).annotate({ expected: "a base64 or url image source" })

const Block = Schema.Union([
  TextBlock,
  Schema.Struct({ type: Schema.Literal("image"), source: ImageSource, cache_control: cacheControl }),
  Schema.Struct({
    type: Schema.Literal("tool_use"),
    id: Schema.String,
    name: Schema.String,
    input: JsonObject,
    cache_control: cacheControl
  }),
  Schema.Struct({
    type: Schema.Literal("tool_result"),
    tool_use_id: Schema.String,
    content: maybe(Schema.Union([Schema.String, Schema.Array(TextBlock)])),
    is_error: maybe(Schema.Boolean),
    cache_control: cacheControl
  }),
  Schema.Struct({ type: Schema.Literal("thinking"), thinking: Schema.String, signature: Schema.String }),
  Schema.Struct({ type: Schema.Literal("redacted_thinking"), data: Schema.String })
]).annotate({ expected: "a text, image, tool_use, tool_result, thinking or redacted_thinking block" })

// One struct with the role as a literal, so a bad role is named at `messages.N.role`.
const WireMessage = Schema.Struct({
  role: Schema.Literals(["user", "assistant", "system"]),
  content: Schema.Union([Schema.String, Schema.Array(Block)]).annotate({ expected: "a string or an array of blocks" })
})

const WireTool = Schema.Struct({
  // Server tools (`web_search_…`) are Anthropic's own, which no other provider runs.
  type: maybe(Schema.Literal("custom")),
  name: Schema.String,
  description: maybe(Schema.String),
  input_schema: JsonObject,
  strict: maybe(Schema.Boolean),
  cache_control: cacheControl
})

const WireToolChoice = Schema.Union([
  Schema.Struct({ type: Schema.Literals(["auto", "any", "none"]), disable_parallel_tool_use: maybe(Schema.Boolean) }),
  Schema.Struct({ type: Schema.Literal("tool"), name: Schema.String, disable_parallel_tool_use: maybe(Schema.Boolean) })
])

const WireThinking = Schema.Union([
  Schema.Struct({ type: Schema.Literal("enabled"), budget_tokens: Schema.Number }),
  Schema.Struct({ type: Schema.Literals(["disabled", "adaptive", "between_tools"]) })
])

// `effort` is a string: a level this gateway does not know yet is left out, not refused.
const WireOutputConfig = Schema.Struct({
  effort: maybe(Schema.String),
  format: maybe(Schema.Struct({ type: Schema.Literal("json_schema"), schema: JsonObject }))
})

// The prompt's fields, which `count_tokens` takes as `/v1/messages` does.
const promptFields = {
  messages: Schema.Array(WireMessage),
  system: maybe(Schema.Union([Schema.String, Schema.Array(TextBlock)])),
  tools: maybe(Schema.Array(WireTool)),
  tool_choice: maybe(WireToolChoice),
  thinking: maybe(WireThinking),
  output_config: maybe(WireOutputConfig),
  cache_control: cacheControl
}

/** The Messages body, as far as the gateway reads it. */
export const WireMessagesRequest = Schema.Struct({
  model: Schema.String,
  max_tokens: Schema.Number,
  ...promptFields,
  temperature: maybe(Schema.Number),
  top_p: maybe(Schema.Number),
  stop_sequences: maybe(Schema.Array(Schema.String)),
  stream: maybe(Schema.Boolean),
  metadata: maybe(Schema.Struct({ user_id: maybe(Schema.String) }))
})

/** The `count_tokens` body: a Messages body's prompt; the fields that shape a reply are not read. */
export const WireCountRequest = Schema.Struct({ model: Schema.String, ...promptFields })

type Body = typeof WireMessagesRequest.Type
/** A checked body of either route: the prompt, and a Messages body's other fields when it has them. */
type AnyBody = typeof WireCountRequest.Type & { readonly [K in Exclude<keyof Body, "model">]?: Body[K] | undefined }
type WireBlock = typeof Block.Type

/** A decoded Messages body: the request for the engine (its `model` the address), and how to answer it. */
export interface Messages {
  readonly _tag: "Messages"
  readonly model: string
  readonly request: ChatRequest
  readonly stream: boolean
  /** The body as checked, from which `anthropicPath` places the engine's messages. */
  readonly body: Body
}

/** A decoded `count_tokens` body: the request whose prompt to count (its `model` the address). */
export interface Count {
  readonly _tag: "Count"
  readonly model: string
  readonly request: ChatRequest
  readonly body: AnyBody
}

// A path as Anthropic writes it: `messages.2.role`.
const dotted = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

// `messages[2].role` (as the engine's errors write paths) as Anthropic writes it.
const dottedText = (path: string): string => path.replace(/\[(\d+)\]/g, ".$1")

const problem = (param: string, detail: string) => new Problem(param, `${param}: ${detail}`)

type WireCache = typeof CacheControl.Type | null | undefined

// `value` with the breakpoint of a block's `cache_control`, when it has one.
const withCache = <A extends object>(value: A, wire: WireCache): A & { readonly cache?: CacheBreakpoint } => {
  if (wire === null || wire === undefined) return value
  return { ...value, cache: wire.ttl === null || wire.ttl === undefined ? {} : { ttl: wire.ttl } }
}

/**
 * `message` with the breakpoint of the top-level `cache_control` on its last block (automatic caching): a user
 * message's on its last part, its string content taken as one text part to carry it.
 */
const withLastBreakpoint = (message: Message, wire: WireCache): Message => {
  if (wire === null || wire === undefined) return message
  if (message.role !== "user") return withCache(message, wire)
  const parts: ReadonlyArray<ContentPart> = typeof message.content === "string"
    ? [{ type: "text", text: message.content }]
    : message.content
  if (parts.length === 0) return message
  return { ...message, content: [...parts.slice(0, -1), withCache(parts.at(-1)!, wire)] }
}

const image = (source: Extract<WireBlock, { type: "image" }>["source"]): ContentPart => ({
  type: "image",
  url: source.type === "url" ? source.url : `data:${source.media_type};base64,${source.data}`
})

const resultText = (content: string | ReadonlyArray<{ readonly text: string }> | null | undefined): string => {
  if (content === null || content === undefined) return ""
  if (typeof content === "string") return content
  let out = ""
  for (const block of content) out += block.text
  return out
}

// A user turn: its tool results as tool messages, then the rest as one user message.
const userTurn = (
  content: ReadonlyArray<WireBlock>,
  at: string,
  into: Array<Message>,
  origins: Array<string> | undefined
): Problem | undefined => {
  const parts: Array<ContentPart> = []
  let results = 0
  for (let j = 0; j < content.length; j++) {
    const block = content[j]!
    switch (block.type) {
      case "text":
        parts.push(withCache({ type: "text", text: block.text }, block.cache_control))
        break
      case "image":
        parts.push(withCache(image(block.source), block.cache_control))
        break
      case "tool_result":
        into.push(withCache(
          { role: "tool", toolCallId: callId(block.tool_use_id), content: resultText(block.content) },
          block.cache_control
        ))
        results++
        origins?.push(`${at}.content.${j}`)
        break
      default:
        return problem(`${at}.content.${j}.type`, `${block.type} blocks are only allowed in assistant messages`)
    }
  }
  if (parts.length > 0 || results === 0) {
    into.push({ role: "user", content: parts })
    origins?.push(`${at}.content`)
  }
  return undefined
}

// A system turn among the messages: a system message of each text block, in its place.
const systemTurn = (
  content: ReadonlyArray<WireBlock>,
  at: string,
  into: Array<Message>,
  origins: Array<string> | undefined
): Problem | undefined => {
  for (let j = 0; j < content.length; j++) {
    const block = content[j]!
    if (block.type !== "text") {
      return problem(`${at}.content.${j}.type`, `${block.type} blocks are not allowed in system messages`)
    }
    into.push(withCache({ role: "system", content: block.text }, block.cache_control))
    origins?.push(`${at}.content.${j}`)
  }
  return undefined
}

// An assistant turn as one message; a `cache_control` on any of its blocks is the message's breakpoint.
const assistantTurn = (content: ReadonlyArray<WireBlock>, at: string): Message | Problem => {
  let cache: WireCache
  let text = ""
  let reasoning: string | undefined
  const calls: Array<ToolCall> = []
  const thinking: Array<JsonRecord> = []
  let carried: Carried | undefined
  for (let j = 0; j < content.length; j++) {
    const block = content[j]!
    switch (block.type) {
      case "text":
        text += block.text
        cache = block.cache_control ?? cache
        break
      case "tool_use":
        calls.push({ id: callId(block.id), name: block.name, arguments: JSON.stringify(block.input) })
        cache = block.cache_control ?? cache
        break
      case "thinking": {
        // The gateway's own block: the provider's state for this turn, not the model's thinking.
        const opened = openedCarrier(block.signature)
        if (opened !== undefined) {
          carried = opened
          break
        }
        reasoning = (reasoning ?? "") + block.thinking
        // Unsigned (the gateway streams thinking without a signature): Anthropic would refuse it back.
        if (block.signature !== "") thinking.push(block)
        break
      }
      case "redacted_thinking":
        thinking.push(block)
        break
      default:
        return problem(`${at}.content.${j}.type`, `${block.type} blocks are only allowed in user messages`)
    }
  }
  const signed = metadataOf(thinking)
  const metadata = carried?.message === undefined ? signed : { ...carried.message, ...signed }
  return withCache({
    role: "assistant",
    content: text,
    ...(calls.length > 0 ? { toolCalls: calls.map((call) => restoreCall(call, carried?.calls)) } : {}),
    ...(reasoning !== undefined ? { reasoning } : {}),
    ...(metadata !== undefined ? { providerMetadata: metadata } : {})
  }, cache)
}

// `output_config.effort` as a reasoning effort, when it names one.
const knownEffort = (effort: string | null | undefined): ReasoningEffort | undefined =>
  effort !== null && effort !== undefined && effort in thinkingBudgets
    ? effort as ReasoningEffort
    : undefined

// The effort whose budget is the largest not above `budget` (the least one below them all).
const effortOf = (budget: number): ReasoningEffort => {
  let effort: ReasoningEffort = "minimal"
  for (const [name, tokens] of Object.entries(thinkingBudgets)) if (tokens <= budget) effort = name as ReasoningEffort
  return effort
}

const tool = (wire: typeof WireTool.Type): ToolDefinition => {
  const out: { -readonly [K in keyof ToolDefinition]: ToolDefinition[K] } = {
    name: wire.name,
    parameters: wire.input_schema
  }
  set(out, "description", wire.description)
  set(out, "strict", wire.strict)
  return withCache(out, wire.cache_control)
}

/**
 * A checked body as the engine's request, or what is wrong with it (a block in
 * the wrong role's turn). `origins`, when given, gets the wire path of each
 * engine message, in order.
 */
export const toRequest = (body: AnyBody, origins?: Array<string>): ChatRequest | Problem => {
  const messages: Array<Message> = []
  const system = body.system
  if (typeof system === "string") {
    messages.push({ role: "system", content: system })
    origins?.push("system")
  } else if (system !== null && system !== undefined) {
    for (let i = 0; i < system.length; i++) {
      messages.push(withCache({ role: "system", content: system[i]!.text }, system[i]!.cache_control))
      origins?.push(`system.${i}`)
    }
  }
  for (let i = 0; i < body.messages.length; i++) {
    const { content, role } = body.messages[i]!
    const at = `messages.${i}`
    if (typeof content === "string") {
      messages.push({ role, content })
      origins?.push(`${at}.content`)
    } else if (role === "system") {
      const refused = systemTurn(content, at, messages, origins)
      if (refused !== undefined) return refused
    } else if (role === "user") {
      const refused = userTurn(content, at, messages, origins)
      if (refused !== undefined) return refused
    } else {
      const turn = assistantTurn(content, at)
      if (turn instanceof Problem) return turn
      messages.push(turn)
      origins?.push(`${at}.content`)
    }
  }
  if (messages.length > 0) messages.push(withLastBreakpoint(messages.pop()!, body.cache_control))
  const request: { -readonly [K in keyof ChatRequest]: ChatRequest[K] } = { messages }
  set(request, "maxTokens", body.max_tokens)
  set(request, "temperature", body.temperature)
  set(request, "topP", body.top_p)
  set(request, "stop", body.stop_sequences)
  if (body.tools !== null && body.tools !== undefined && body.tools.length > 0) request.tools = body.tools.map(tool)
  const choice = body.tool_choice
  if (choice !== null && choice !== undefined) {
    request.toolChoice = choice.type === "tool"
      ? { tool: choice.name }
      : choice.type === "any"
      ? "required"
      : choice.type
  }
  const thinking = body.thinking
  if (thinking !== null && thinking !== undefined) {
    request.reasoningEffort = thinking.type === "enabled"
      ? effortOf(thinking.budget_tokens)
      : thinking.type === "disabled"
      ? "none"
      : knownEffort(body.output_config?.effort) ?? "medium"
  }
  const format = body.output_config?.format
  if (format !== null && format !== undefined) {
    request.responseFormat = { type: "json_schema", name: "output", schema: format.schema }
  }
  set(request, "user", body.metadata?.user_id)
  // Claude Code names its session there: the conversation a router with affinity keeps on one deployment.
  set(request, "session", body.metadata?.user_id)
  return request
}

// The mark of a tool use id the gateway made of a provider's call id (Anthropic's own `toolu_01…` never has it).
const madeToolUse = "toolu_gw_"

/**
 * A provider's tool call id as Anthropic's clients expect one (`toolu_…`): kept when it is one already (an Anthropic
 * deployment's), else marked so that `callId` gives the provider its own id back when the client returns it.
 */
export const toolUseId = (callId: string): string => callId.startsWith("toolu_") ? callId : `${madeToolUse}${callId}`

/** The provider's call id of a tool use id the client sends back (`toolUseId`'s inverse). */
export const callId = (toolUseId: string): string =>
  toolUseId.startsWith(madeToolUse) ? toolUseId.slice(madeToolUse.length) : toolUseId

const checkMessages = checker(WireMessagesRequest, { errors: "first" })
const checkCount = checker(WireCountRequest, { errors: "first" })

const notJson = new Problem(undefined, "The request body is not valid JSON: it must be a JSON object.")

// A body's text checked by `check`, then as the engine's request; or what is wrong with it.
const decodeWith = <B extends AnyBody>(
  text: string,
  check: (input: unknown) => B | Refused
): { readonly body: B; readonly request: ChatRequest } | Problem => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return notJson
  }
  const body = check(json)
  if (body instanceof Refused) return problemOf(body, dotted)
  const request = toRequest(body)
  return request instanceof Problem ? request : { body, request }
}

/** A Messages body (its text) as the engine's request, or what is wrong with it. */
export const messages = (text: string): Messages | Problem => {
  const decoded = decodeWith(text, checkMessages)
  if (decoded instanceof Problem) return decoded
  const { body, request } = decoded
  return { _tag: "Messages", model: body.model, request, stream: body.stream === true, body }
}

/** A `count_tokens` body (its text) as the request whose prompt to count, or what is wrong with it. */
export const countTokens = (text: string): Count | Problem => {
  const decoded = decodeWith(text, checkCount)
  if (decoded instanceof Problem) return decoded
  return { _tag: "Count", model: decoded.body.model, request: decoded.request, body: decoded.body }
}

// The request's fields as the wire names them, where the engine's differ.
const renamed: Readonly<Record<string, string>> = {
  topP: "top_p",
  maxTokens: "max_tokens",
  stop: "stop_sequences",
  toolChoice: "tool_choice",
  reasoningEffort: "thinking",
  responseFormat: "output_config.format",
  user: "metadata.user_id"
}

/**
 * A path of the engine's request (`messages[3].toolCallId`, `tools[0].parameters`,
 * `maxTokens`) as the wire body `body` writes it (`messages.1.content.0`,
 * `tools.0.input_schema`, `max_tokens`). The engine's message `i` is placed
 * back in the wire's turn (or `system`) it came from.
 */
export const anthropicPath = (path: string, body: AnyBody): string => {
  const message = /^messages\[(\d+)\](.*)$/.exec(path)
  if (message !== null) {
    const origins: Array<string> = []
    toRequest(body, origins)
    return origins[Number(message[1])] ?? "messages"
  }
  return dottedText(
    path.replace(/^(topP|maxTokens|stop|toolChoice|reasoningEffort|responseFormat|user)\b/, (name) => renamed[name]!)
      .replace(/^tools\[(\d+)\]\.parameters/, "tools[$1].input_schema")
  )
}
