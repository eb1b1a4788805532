/**
 * The Messages request (`POST /v1/messages` and `/v1/messages/count_tokens`, Anthropic's Messages and token counting
 * references) in both directions: decoded for the gateway and the simulator into a `ChatRequest` (checked against a
 * schema of the wire, a misfit a `Problem` naming the field as Anthropic does, `messages.2.role`), and encoded from one
 * for the client (`requestBody`, `countBody`). Ranges are the `ChatRequest` schema's, checked by the `Llm`. Signed
 * thinking blocks are kept in `providerMetadata` so that they go back unchanged; fields not read (`top_k`, `is_error`,
 * `context_management`) are accepted and dropped.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Mutable } from "effect/Types"
import type { Input as ChatRequest, ReasoningEffort, ToolChoice } from "../../../ChatRequest.js"
import type {
  AssistantMessage,
  CacheBreakpoint,
  ContentPart,
  ImagePart,
  Message,
  ToolCall,
  ToolDefinition,
  ToolMessage
} from "../../../Message.js"
import { RequestError } from "../../codecError.js"
import { definedFields, JsonObjectSchema, pickDefined, requestArguments } from "../../json.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { checker, decodeBody, maybe, Problem, problemOf, type Refused, set } from "../../schemaCheck.js"
import type * as Media from "../../tokens/media.js"
import { breakpointBlock, breakpointOf, CacheControl } from "../breakpoint.js"
import { breakpointPlaces, limitBreakpoints, type Place } from "../cacheLifetime.js"
import { requireMediaKind } from "../contentKinds.js"
import type { Origin } from "../dialect.js"
import { effortOfBudget } from "../effort.js"
import { isBlank } from "../emptyText.js"
import { outputTool, outputToolName } from "../outputTool.js"
import { problem } from "../problem.js"
import * as ServiceTier from "../serviceTier.js"
import { toolDeclaration } from "../toolDeclaration.js"
import { countAt } from "../usage.js"
import { metadataOf, thinkingBlocksOf } from "./reply.js"

// ---------------------------------------------------------------------------
// The schema, and decoding

const optionalCache = maybe(CacheControl)

const TextBlock = Schema.Struct({ type: Schema.Literal("text"), text: Schema.String, cache_control: optionalCache })

const ImageSource = Schema.Union([
  Schema.Struct({ type: Schema.Literal("base64"), media_type: Schema.String, data: Schema.String }),
  Schema.Struct({ type: Schema.Literal("url"), url: Schema.String })
]).annotate({ expected: "a base64 or url image source" })

// A PDF (Anthropic's PDF support guide): base64 or by URL. A plain-text or content source is not carried.
const DocumentSource = Schema.Union([
  Schema.Struct({ type: Schema.Literal("base64"), media_type: Schema.Literal("application/pdf"), data: Schema.String }),
  Schema.Struct({ type: Schema.Literal("url"), url: Schema.String })
]).annotate({ expected: "a base64 (application/pdf) or url document source" })

const ImageBlock = Schema.Struct({ type: Schema.Literal("image"), source: ImageSource, cache_control: optionalCache })

const DocumentBlock = Schema.Struct({
  type: Schema.Literal("document"),
  source: DocumentSource,
  title: maybe(Schema.String),
  context: maybe(Schema.String),
  citations: maybe(Schema.Struct({ enabled: maybe(Schema.Boolean) })),
  cache_control: optionalCache
})

// A deferred tool a tool result loads (Anthropic's tool search guide: a custom tool search's result).
const ToolReferenceBlock = Schema.Struct({ type: Schema.Literal("tool_reference"), tool_name: Schema.String })

// What a tool_result's content takes besides a string (the Messages API's tool_result reference).
const ResultBlock = Schema.Union([TextBlock, ImageBlock, DocumentBlock, ToolReferenceBlock]).annotate({
  expected: "a text, image, document or tool_reference block"
})

type ResultBlock = typeof ResultBlock.Type

const Block = Schema.Union([
  TextBlock,
  ImageBlock,
  DocumentBlock,
  Schema.Struct({
    type: Schema.Literal("tool_use"),
    id: Schema.String,
    name: Schema.String,
    input: JsonObjectSchema,
    cache_control: optionalCache
  }),
  Schema.Struct({
    type: Schema.Literal("tool_result"),
    tool_use_id: Schema.String,
    content: maybe(Schema.Union([Schema.String, Schema.Array(ResultBlock)])),
    is_error: maybe(Schema.Boolean),
    cache_control: optionalCache
  }),
  Schema.Struct({ type: Schema.Literal("thinking"), thinking: Schema.String, signature: Schema.String }),
  Schema.Struct({ type: Schema.Literal("redacted_thinking"), data: Schema.String })
]).annotate({ expected: "a text, image, document, tool_use, tool_result, thinking or redacted_thinking block" })

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
  input_schema: JsonObjectSchema,
  strict: maybe(Schema.Boolean),
  cache_control: optionalCache,
  defer_loading: maybe(Schema.Boolean)
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
  format: maybe(Schema.Struct({ type: Schema.Literal("json_schema"), schema: JsonObjectSchema }))
})

// The prompt's fields, which `count_tokens` takes as `/v1/messages` does.
const promptFields = {
  messages: Schema.Array(WireMessage),
  system: maybe(Schema.Union([Schema.String, Schema.Array(TextBlock)])),
  tools: maybe(Schema.Array(WireTool)),
  tool_choice: maybe(WireToolChoice),
  thinking: maybe(WireThinking),
  output_config: maybe(WireOutputConfig),
  cache_control: optionalCache
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
  metadata: maybe(Schema.Struct({ user_id: maybe(Schema.String) })),
  // The Messages reference's two values; any other is refused, as the API refuses it.
  service_tier: maybe(Schema.Literals(["auto", "standard_only"]))
})

/** The `count_tokens` body: a Messages body's prompt; the fields that shape a reply are not read. */
export const WireCountRequest = Schema.Struct({ model: Schema.String, ...promptFields })

type Body = typeof WireMessagesRequest.Type
/** A checked body of either route: the prompt, and a Messages body's other fields when it has them. */
export type AnyBody =
  & typeof WireCountRequest.Type
  & { readonly [K in Exclude<keyof Body, "model">]?: Body[K] | undefined }
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

type WireCache = typeof CacheControl.Type | null | undefined

// `value` with the breakpoint of a block's `cache_control`, when it has one.
const withCache = <A extends object>(value: A, wire: WireCache): A & { readonly cache?: CacheBreakpoint } => {
  const cache = breakpointOf(wire)
  return cache === undefined ? value : { ...value, cache }
}

/** The top-level `cache_control` (automatic caching) on the last block; string content becomes a text part for it. */
const withLastBreakpoint = (message: Message, wire: WireCache): Message => {
  if (wire == null) return message
  if (message.role !== "user") return withCache(message, wire)
  const parts: ReadonlyArray<ContentPart> = typeof message.content === "string"
    ? [{ type: "text", text: message.content }]
    : message.content
  if (parts.length === 0) return message
  return { ...message, content: [...parts.slice(0, -1), withCache(parts.at(-1)!, wire)] }
}

const image = (source: typeof ImageBlock.Type["source"]): ContentPart => ({
  type: "image",
  url: source.type === "url" ? source.url : `data:${source.media_type};base64,${source.data}`
})

type DocumentBlock = typeof DocumentBlock.Type

// What a document block says of itself beside its bytes (its title, context and citations), when it says any.
const documentOf = (block: DocumentBlock): Pick<ImagePart, "document"> => {
  const enabled = block.citations?.enabled
  const document = {
    ...(typeof block.title === "string" ? { title: block.title } : {}),
    ...(typeof block.context === "string" ? { context: block.context } : {}),
    ...(typeof enabled === "boolean" ? { citations: enabled } : {})
  }
  return Object.keys(document).length === 0 ? {} : { document }
}

// A PDF as the media part every dialect carries one as: inline as a `data:` URL, by URL with its type stated.
const pdf = (block: DocumentBlock): ContentPart => {
  const { source } = block
  return source.type === "url"
    ? { type: "image", url: source.url, mediaType: "application/pdf", ...documentOf(block) }
    : { type: "image", url: `data:application/pdf;base64,${source.data}`, ...documentOf(block) }
}

// A text, image or document block as its part, with its breakpoint.
const partOf = (block: Exclude<ResultBlock, typeof ToolReferenceBlock.Type>): ContentPart =>
  withCache(
    block.type === "text"
      ? { type: "text", text: block.text }
      : block.type === "image"
      ? image(block.source)
      : pdf(block),
    block.cache_control
  )

// A user turn: its tool results as tool messages, then the rest as one user message; each one's `Origin` too.
const userTurn = (
  content: ReadonlyArray<WireBlock>,
  at: string,
  into: Array<Message>,
  origins: Array<Origin> | undefined
): Problem | undefined => {
  const parts: Array<ContentPart> = []
  const placed: Array<string> = []
  let results = 0
  for (let j = 0; j < content.length; j++) {
    const block = content[j]!
    switch (block.type) {
      case "text":
      case "image":
      case "document":
        parts.push(partOf(block))
        placed.push(`${at}.content.${j}`)
        break
      case "tool_result": {
        // Its content: a string as it is, blocks as parts (a PDF or image a tool returned kept, not flattened), but its
        // tool references (the tools it loads, by name), which are the message's own.
        const content = block.content ?? ""
        const blocks = typeof content === "string" ? [] : content
        const kept = blocks.flatMap((part, k) => part.type === "tool_reference" ? [] : [[part, k] as const])
        const references = blocks.flatMap((part) => part.type === "tool_reference" ? [part.tool_name] : [])
        const where = `${at}.content.${j}`
        into.push(withCache(
          {
            role: "tool",
            toolCallId: block.tool_use_id,
            content: typeof content === "string" ? content : kept.map(([part]) => partOf(part)),
            ...(references.length > 0 ? { toolReferences: references } : {})
          },
          block.cache_control
        ))
        results++
        // Its parts' paths, in order.
        origins?.push({ at: where, parts: kept.map(([, k]) => `${where}.content.${k}`) })
        break
      }
      default:
        return problem(`${at}.content.${j}.type`, `${block.type} blocks are only allowed in assistant messages`)
    }
  }
  if (parts.length > 0 || results === 0) {
    into.push({ role: "user", content: parts })
    origins?.push({ at: `${at}.content`, parts: placed })
  }
  return undefined
}

// A system turn among the messages: a system message of each text block, in its place.
const systemTurn = (
  content: ReadonlyArray<WireBlock>,
  at: string,
  into: Array<Message>,
  origins: Array<Origin> | undefined
): Problem | undefined => {
  for (let j = 0; j < content.length; j++) {
    const block = content[j]!
    if (block.type !== "text") {
      return problem(`${at}.content.${j}.type`, `${block.type} blocks are not allowed in system messages`)
    }
    into.push(withCache({ role: "system", content: block.text }, block.cache_control))
    origins?.push({ at: `${at}.content.${j}`, parts: [] })
  }
  return undefined
}

// An assistant turn as one message; a `cache_control` on any of its blocks is the message's breakpoint.
const assistantTurn = (content: ReadonlyArray<WireBlock>, at: string, into: Array<Message>): Problem | undefined => {
  let cache: WireCache
  let text = ""
  let reasoning: string | undefined
  const calls: Array<ToolCall> = []
  const thinking: Array<JsonObject> = []
  for (let j = 0; j < content.length; j++) {
    const block = content[j]!
    switch (block.type) {
      case "text":
        text += block.text
        cache = block.cache_control ?? cache
        break
      case "tool_use":
        calls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) })
        cache = block.cache_control ?? cache
        break
      case "thinking":
        if (block.thinking !== "") reasoning = (reasoning ?? "") + block.thinking
        // Unsigned (as a stream that never got its signature leaves it): Anthropic would refuse it back.
        if (block.signature !== "") thinking.push(block)
        break
      case "redacted_thinking":
        thinking.push(block)
        break
      default:
        return problem(`${at}.content.${j}.type`, `${block.type} blocks are only allowed in user messages`)
    }
  }
  const metadata = metadataOf(thinking)
  into.push(withCache({
    role: "assistant",
    content: text,
    ...(calls.length > 0 ? { toolCalls: calls } : {}),
    ...definedFields({ reasoning, providerMetadata: metadata })
  }, cache))
  return undefined
}

// `output_config.effort` as a reasoning effort, when it names one.
const knownEffort = (effort: string | null | undefined): ReasoningEffort | undefined =>
  effort != null && effort in thinkingBudgets
    ? effort as ReasoningEffort
    : undefined

const toolOf = (wire: typeof WireTool.Type): ToolDefinition => {
  const out: Mutable<ToolDefinition> = { name: wire.name, parameters: wire.input_schema }
  set(out, "description", wire.description)
  set(out, "strict", wire.strict)
  set(out, "deferLoading", wire.defer_loading)
  return withCache(out, wire.cache_control)
}

/**
 * A checked body as the engine's request, or a `Problem` (a block in the wrong role's turn). `origins`, when given,
 * gets each engine message's wire path (and its parts'), in order.
 */
export const toRequest = (body: AnyBody, origins?: Array<Origin>): Result.Result<ChatRequest, Problem> => {
  const messages: Array<Message> = []
  const system = body.system
  if (typeof system === "string") {
    messages.push({ role: "system", content: system })
    origins?.push({ at: "system", parts: [] })
  } else if (system != null) {
    for (let i = 0; i < system.length; i++) {
      messages.push(withCache({ role: "system", content: system[i]!.text }, system[i]!.cache_control))
      origins?.push({ at: `system.${i}`, parts: [] })
    }
  }
  for (let i = 0; i < body.messages.length; i++) {
    const { content, role } = body.messages[i]!
    const at = `messages.${i}`
    if (typeof content === "string") {
      messages.push({ role, content })
      origins?.push({ at: `${at}.content`, parts: [] })
    } else {
      const refused = role === "system"
        ? systemTurn(content, at, messages, origins)
        : role === "user"
        ? userTurn(content, at, messages, origins)
        : assistantTurn(content, at, messages)
      if (refused !== undefined) return Result.fail(refused)
      if (role === "assistant") origins?.push({ at: `${at}.content`, parts: [] })
    }
  }
  if (messages.length > 0) messages.push(withLastBreakpoint(messages.pop()!, body.cache_control))
  const request: Mutable<ChatRequest> = { messages }
  set(request, "maxTokens", body.max_tokens)
  set(request, "temperature", body.temperature)
  set(request, "topP", body.top_p)
  set(request, "stop", body.stop_sequences)
  if (body.tools != null && body.tools.length > 0) request.tools = body.tools.map(toolOf)
  const choice = body.tool_choice
  if (choice != null) {
    request.toolChoice = choice.type === "tool"
      ? { tool: choice.name }
      : choice.type === "any"
      ? "required"
      : choice.type
    if (choice.type !== "none" && typeof choice.disable_parallel_tool_use === "boolean") {
      request.parallelToolCalls = !choice.disable_parallel_tool_use
    }
  }
  const thinking = body.thinking
  if (thinking != null) {
    request.reasoningEffort = thinking.type === "enabled"
      ? effortOfBudget(thinking.budget_tokens, thinkingBudgets)
      : thinking.type === "disabled"
      ? "none"
      : knownEffort(body.output_config?.effort) ?? "medium"
  }
  const format = body.output_config?.format
  if (format != null) request.responseFormat = { type: "json_schema", name: "output", schema: format.schema }
  set(request, "user", body.metadata?.user_id)
  // Claude Code names its session there: the conversation a router with affinity keeps on one deployment.
  set(request, "session", body.metadata?.user_id)
  if (body.service_tier != null) request.serviceTier = ServiceTier.fromAnthropic(body.service_tier)
  return Result.succeed(request)
}

/** `WireMessagesRequest`'s check: a parsed body as itself, or the first thing the schema finds wrong with it. */
export const checkMessages = checker(WireMessagesRequest, { errors: "first" })

/** `WireCountRequest`'s check, as `checkMessages`. */
export const checkCount = checker(WireCountRequest, { errors: "first" })

const notJson = new Problem(undefined, "The request body is not valid JSON: it must be a JSON object.")

// What the schema refused in a body, its path as Anthropic writes it.
const dottedProblem = (refused: Refused): Problem => problemOf(refused, dotted)

// A body's text checked by `check`, then as the engine's request and what `made` makes of both; or what is wrong.
const decodeWith = <B extends AnyBody, A>(
  text: string,
  check: (input: unknown) => Result.Result<B, Refused>,
  made: (body: B, request: ChatRequest) => A
): Result.Result<A, Problem> =>
  Result.flatMap(
    decodeBody(text, check, dottedProblem, notJson),
    (body) => Result.map(toRequest(body), (request) => made(body, request))
  )

function messagesDecoded(body: typeof WireMessagesRequest.Type, request: ChatRequest): Messages {
  return { _tag: "Messages", model: body.model, request, stream: body.stream === true, body }
}

function countDecoded(body: typeof WireCountRequest.Type, request: ChatRequest): Count {
  return { _tag: "Count", model: body.model, request, body }
}

/** A Messages body (its text) as the engine's request, or what is wrong with it. */
export const messages = (text: string): Result.Result<Messages, Problem> =>
  decodeWith(text, checkMessages, messagesDecoded)

/** A `count_tokens` body (its text) as the request whose prompt to count, or what is wrong with it. */
export const countTokens = (text: string): Result.Result<Count, Problem> => decodeWith(text, checkCount, countDecoded)

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

// What follows a part's path in the engine's request, as the wire's block writes it.
const partFields: Readonly<Record<string, string>> = { ".url": ".source", ".document.title": ".title" }

/**
 * An engine request path (`messages[3].content[1].document.title`) as the wire's (`messages.1.content.2.title`): each
 * message and part placed back in the turn (or `system`) and block it came from.
 */
export const anthropicPath = (path: string, body: AnyBody): string => {
  const message = /^messages\[(\d+)\](?:\.content\[(\d+)\](\S*))?/.exec(path)
  if (message !== null) {
    const origins: Array<Origin> = []
    toRequest(body, origins)
    const origin = origins[Number(message[1])]
    const part = message[2] === undefined ? undefined : origin?.parts[Number(message[2])]
    return part === undefined ? origin?.at ?? "messages" : `${part}${partFields[message[3]!] ?? ""}`
  }
  return dottedText(
    path.replace(/^(topP|maxTokens|stop|toolChoice|reasoningEffort|responseFormat|user)\b/, (name) => renamed[name]!)
      .replace(/^tools\[(\d+)\]\.parameters/, "tools[$1].input_schema")
  )
}

// ---------------------------------------------------------------------------
// Encoding: the library's request as the body a client sends

/** `thinking.budget_tokens` per reasoning effort; the API's least budget is 1024 (`none` sends no `thinking`). */
export const thinkingBudgets: Readonly<Record<Exclude<ReasoningEffort, "none">, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32768,
  max: 63999
}

/** The least `thinking.budget_tokens` the API accepts. */
export const minThinkingBudget = 1024

const dataUrl = /^data:([^;,]+);base64,(.*)$/s

// `block` with the `cache_control` of `cache`, when there is one.
const cached = (block: JsonObject, cache: CacheBreakpoint | undefined): JsonObject =>
  cache === undefined ? block : { ...block, cache_control: breakpointBlock("ephemeral", cache) }

// The media the Messages API reads in a message's content: images, and PDFs as `document` blocks.
const messagesMedia: ReadonlyArray<Media.Kind> = ["image", "pdf"]

// A document part's title, context and citations as the block's fields, in the order Anthropic's reference lists them.
const documentFields = (part: ImagePart): JsonObject => {
  const document = part.document
  if (document === undefined) return {}
  return {
    ...definedFields({ title: document.title, context: document.context }),
    ...(document.citations !== undefined ? { citations: { enabled: document.citations } } : {})
  }
}

const contentPart = (part: ContentPart, where: string): JsonObject => {
  if (part.type === "text") return cached({ type: "text", text: part.text }, part.cache)
  const type = requireMediaKind(part, where, "the Messages API", messagesMedia) === "pdf" ? "document" : "image"
  const inline = dataUrl.exec(part.url)
  const source = inline === null
    ? { type: "url", url: part.url }
    : { type: "base64", media_type: inline[1], data: inline[2] }
  return cached(type === "document" ? { type, source, ...documentFields(part) } : { type, source }, part.cache)
}

/** A message's parts as blocks, without the blank texts Anthropic refuses (`wire/emptyText.ts`). */
const contentBlocks = (parts: ReadonlyArray<ContentPart>, i: number): Array<JsonObject> =>
  parts.flatMap((part, j) =>
    part.type === "text" && isBlank(part.text) ? [] : [contentPart(part, `messages[${i}].content[${j}]`)]
  )

/** A user message's or a tool result's content as Anthropic takes it: nothing (`[]`) where nothing is left to send. */
const userContent = (content: string | ReadonlyArray<ContentPart>, i: number): string | Array<JsonObject> =>
  typeof content === "string" ? (isBlank(content) ? [] : content) : contentBlocks(content, i)

/** A tool result's content (the message at `i`), then a `tool_reference` block of each tool it loads. */
const resultBlocks = (message: ToolMessage, i: number): string | Array<JsonObject> => {
  const content = userContent(message.content, i)
  const references = message.toolReferences ?? []
  if (references.length === 0) return content
  const blocks = typeof content === "string" ? [{ type: "text", text: content }] : content
  return [...blocks, ...references.map((name) => ({ type: "tool_reference", tool_name: name }))]
}

/** An assistant message's content; nothing (`""` or `[]`) where it has no thinking, no call and a blank text. */
const assistantContent = (message: AssistantMessage, at: number): string | Array<JsonObject> => {
  const thinking = thinkingBlocksOf(message.providerMetadata)
  const calls = message.toolCalls ?? []
  const text = isBlank(message.content) ? "" : message.content
  if (thinking.length === 0 && calls.length === 0 && (message.cache === undefined || text === "")) return text
  // Thinking first, then text, then tool_use: the order the API produced and expects back.
  const blocks: Array<JsonObject> = [...thinking]
  if (text !== "") blocks.push({ type: "text", text })
  for (const call of calls) {
    blocks.push({
      type: "tool_use",
      id: call.id,
      name: call.name,
      input: requestArguments(call, "Anthropic", `messages[${at}].toolCalls`)
    })
  }
  const last = blocks.length - 1
  if (message.cache !== undefined && last >= 0) blocks[last] = cached(blocks[last]!, message.cache)
  return blocks
}

/** A system message's text and its cache breakpoint. */
interface SystemText {
  readonly text: string
  readonly cache: CacheBreakpoint | undefined
}

type Turn =
  | {
    readonly role: "user" | "assistant"
    content: string | Array<JsonObject>
    /** A user turn opened by tool results, which a following user message joins. */
    readonly results: boolean
  }
  | { readonly role: "system"; readonly texts: Array<SystemText>; readonly results: false }

/**
 * The model ids that take a `system` message among the messages (Anthropic's mid-conversation system messages
 * reference names Claude Opus 4.8 only; another model refuses one with a 400).
 */
export const takesMidConversationSystem = (model: string): boolean => model.startsWith("claude-opus-4-8")

/** The system texts as the top-level `system` or a system turn's content: a string when one text without a cache. */
const systemContent = (texts: ReadonlyArray<SystemText>): string | Array<JsonObject> =>
  texts.length === 1 && texts[0]!.cache === undefined
    ? texts[0]!.text
    : texts.map(({ cache, text }) => cached({ type: "text", text }, cache))

/**
 * A system turn where the API's placement rules allow one (right after a user turn, and last or before an
 * assistant turn; consecutive ones are merged already); the others' texts join the top-level `system`.
 */
const placed = (system: Array<SystemText>, turns: ReadonlyArray<Turn>): { turns: Array<Turn>; hoisted: boolean } => {
  let hoisted = false
  const kept = turns.filter((turn, k) => {
    if (turn.role !== "system") return true
    const next = turns[k + 1]
    if (turns[k - 1]?.role === "user" && (next === undefined || next.role === "assistant")) return true
    system.push(...turn.texts)
    hoisted ||= turns.slice(0, k).some(thinks)
    return false
  })
  return { turns: kept, hoisted }
}

// Whether a turn sends thinking back (signed, so bound to its prefix where the model binds it).
const thinks = (turn: Turn): boolean =>
  turn.role === "assistant" && Array.isArray(turn.content) &&
  turn.content.some((block) => block["type"] === "thinking" || block["type"] === "redacted_thinking")

/**
 * Messages with the system prompt hoisted to the top-level `system`, but later ones kept in place when `inPlace` and
 * the API takes a `system` message there. Consecutive tool results merge into one user turn, as every `tool_use` of a
 * turn must be answered in the very next message; a user message right after them joins that turn.
 */
const messagesOf = (
  messages: ReadonlyArray<Message>,
  inPlace: boolean
): {
  system: Array<SystemText>
  turns: Array<Turn>
  /** Whether a system text after a turn with thinking joined the top-level `system`: that thinking's prefix changed. */
  hoisted: boolean
} => {
  const system: Array<SystemText> = []
  const turns: Array<Turn> = []
  let hoisted = false
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const last = turns[turns.length - 1]
    // The user turn opened by tool results that this message joins, if any.
    const results = last?.results === true && Array.isArray(last.content) ? last.content : undefined
    switch (message.role) {
      case "system": {
        if (isBlank(message.content)) break
        const text = { text: message.content, cache: message.cache }
        if (!inPlace || last === undefined) {
          system.push(text)
          hoisted ||= turns.some(thinks)
        } else if (last.role === "system") last.texts.push(text)
        else turns.push({ role: "system", texts: [text], results: false })
        break
      }
      case "user": {
        const content = userContent(message.content, i)
        if (content.length === 0) break
        if (results === undefined) turns.push({ role: "user", content, results: false })
        else results.push(...(typeof content === "string" ? [{ type: "text", text: content }] : content))
        break
      }
      case "assistant": {
        const content = assistantContent(message, i)
        if (content.length > 0) turns.push({ role: "assistant", content, results: false })
        break
      }
      case "tool": {
        const content = resultBlocks(message, i)
        const block = cached(
          { type: "tool_result", tool_use_id: message.toolCallId, ...(content.length === 0 ? {} : { content }) },
          message.cache
        )
        if (results === undefined) turns.push({ role: "user", content: [block], results: true })
        else results.push(block)
      }
    }
  }
  if (!inPlace) return { system, turns, hoisted }
  const kept = placed(system, turns)
  return { system, turns: kept.turns, hoisted: hoisted || kept.hoisted }
}

/**
 * A tool's definition; a deferred one (`defer_loading`) without a breakpoint, as the prompt's cached prefix holds no
 * deferred tool (Anthropic's tool search guide).
 */
const encodeTool = (tool: ToolDefinition): JsonObject => {
  const out = toolDeclaration(tool, "input_schema")
  if (tool.deferLoading === true) out["defer_loading"] = true
  else if (tool.cache !== undefined) out["cache_control"] = breakpointBlock("ephemeral", tool.cache)
  return out
}

const encodeToolChoice = (choice: ToolChoice): JsonObject =>
  typeof choice === "string"
    ? { type: choice === "required" ? "any" : choice }
    : { type: "tool", name: choice.tool }

/**
 * The `tool_choice` of a request with tools: its choice, with `disable_parallel_tool_use` when parallel calls are off
 * (on an `auto` choice when it has none); a `none` choice takes no other field (Anthropic's Messages reference).
 */
function toolChoiceOf(request: ChatRequest): JsonObject | undefined {
  const choice = request.toolChoice
  if (choice === "none" || request.parallelToolCalls !== false) {
    return choice === undefined ? undefined : encodeToolChoice(choice)
  }
  return { ...encodeToolChoice(choice ?? "auto"), disable_parallel_tool_use: true }
}

/** Whether the request's own choice makes the model call a tool: Anthropic takes no thinking with such a choice. */
function forcesTool(request: ChatRequest): boolean {
  const choice = request.toolChoice
  return (request.tools?.length ?? 0) > 0 && choice !== undefined && choice !== "auto" && choice !== "none"
}

/**
 * Whether `model`'s thinking blocks are bound to the conversation's prefix (system, tools but the deferred ones,
 * earlier messages): Claude 5.1 and the models after it refuse a block whose prefix changed, unless the request asks
 * for such blocks dropped (`thinking.block_binding.prefix_mismatch_behavior: "drop_block"`, with `bindingBeta`).
 */
export const bindsThinking = (model: string): boolean => {
  const version = /^claude-(?:opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?![0-9])/.exec(model)
  if (version === null) return false
  const major = Number(version[1])
  return major > 5 || (major === 5 && Number(version[2] ?? 0) >= 1)
}

/** The `anthropic-beta` value of `thinking.block_binding` (Anthropic's extended thinking reference). */
export const bindingBeta = "thinking-binding-controls-2026-08-01"

/** The `anthropic-beta` value of tool search (`defer_loading`, `tool_reference`; Anthropic's tool search guide). */
export const toolSearchBeta = "advanced-tool-use-2025-11-20"

/** The `anthropic-beta` value of the 1M-token context window (Anthropic's context windows guide). */
export const longContextBeta = "context-1m-2025-08-07"

/** The context window of a model that has the 1M-token one only with `longContextBeta`, without it. */
export const standardContextWindow = 200_000

/**
 * Whether `model` holds a prompt over `standardContextWindow` only with `longContextBeta`: Claude Sonnet 4 and 4.5, by
 * Anthropic's, Bedrock's or Vertex's id; the models after them have it without asking.
 */
export const needsLongContextBeta = (model: string): boolean =>
  /(?:^|\.)claude-sonnet-4(?:-0|-5)?(?=$|-\d{8}|@)/.test(model)

/** The values of an `anthropic-beta` header (comma-separated, perhaps sent more than once). */
export function betasOf(header: string | ReadonlyArray<string> | undefined): ReadonlyArray<string> {
  const values = typeof header === "string" ? header : (header ?? []).join(",")
  return values.split(",").map((value) => value.trim()).filter((value) => value !== "")
}

/**
 * The `anthropic-beta` values the body needs: tool search's (a deferred tool, or a result that loads one), the thinking
 * binding's (mismatched thinking dropped) and the 1M-token window's (`longContext`).
 */
export function requestBetas(
  request: ChatRequest,
  options: Pick<BodyOptions, "model" | "systemInPlace">
): ReadonlyArray<string> {
  const searches = request.tools?.some((tool) => tool.deferLoading === true) === true ||
    request.messages.some((message) => message.role === "tool" && (message.toolReferences?.length ?? 0) > 0)
  return [
    ...(searches ? [toolSearchBeta] : []),
    ...(dropsMismatchedThinking(request, options) ? [bindingBeta] : []),
    ...(request.longContext === true ? [longContextBeta] : [])
  ]
}

/** What the request body needs besides the request. */
export interface BodyOptions {
  readonly model: string
  readonly stream: boolean
  /** `max_tokens` when the request sets none (the API requires it). */
  readonly maxTokens: number
  /** Whether a system message that is not first may be sent in its place (`takesMidConversationSystem`). */
  readonly systemInPlace: boolean
  /** Whether the API takes `output_config.format` from a model that does (`takesOutputFormat`): Anthropic's own. */
  readonly structuredOutputs?: boolean | undefined
  /** Whether a request without a breakpoint is cached at its last block (`Options.cacheConversations`). */
  readonly cacheConversations?: boolean | undefined
}

/**
 * Whether thinking may be on for `messages`: Anthropic refuses it when the last assistant turn called tools without
 * its signed thinking (its extended thinking with tool use reference), as a turn of another provider's, or of a client
 * that does not send thinking back, has none.
 */
const thinkingAllowed = (messages: ReadonlyArray<Message>): boolean => {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant") continue
    const calls = message.toolCalls?.length ?? 0
    const signed = thinkingBlocksOf(message.providerMetadata).length > 0
    // A turn with nothing to send is left out (`assistantContent`): the turn before it is the last one sent.
    if (calls === 0 && !signed && isBlank(message.content)) continue
    return calls === 0 || signed
  }
  return true
}

/** The thinking budget of `request` as `requestBody` sends it, or none where thinking stays off (below). */
function thinkingBudget(request: ChatRequest): number | undefined {
  const effort = request.reasoningEffort
  // The least budget must stay below `max_tokens`: a smaller limit leaves no room to think.
  const roomy = request.maxTokens === undefined || request.maxTokens > minThinkingBudget
  return effort === undefined || effort === "none" || !roomy || !thinkingAllowed(request.messages) ||
      forcesTool(request)
    ? undefined
    : thinkingBudgets[effort]
}

/**
 * Whether `requestBody` asks for thinking blocks of another prefix dropped: a model that binds its thinking
 * (`bindsThinking`), thinking on, and a system message after a turn with thinking joined to the top-level `system`,
 * which changes that thinking's prefix (the API would refuse it).
 */
function dropsMismatchedThinking(request: ChatRequest, options: Pick<BodyOptions, "model" | "systemInPlace">): boolean {
  return bindsThinking(options.model) && thinkingBudget(request) !== undefined &&
    messagesOf(request.messages, options.systemInPlace).hoisted
}

/**
 * The JSON body of `POST /v1/messages`; `providerOptions` are merged last, so they win. Throws `RequestError` for a
 * request this format cannot carry.
 *
 * - The API wants `max_tokens` above the thinking budget: without `maxTokens` it is the budget plus the default; with
 *   it the budget drops to `maxTokens - 1` (not below 1024, else thinking stays off). Thinking also stays off after
 *   tool calls without signed thinking (`thinkingAllowed`) and with a forced tool, both of which Anthropic refuses:
 *   the caller's choice is a rule, thinking a preference.
 * - No `tools` means no `tool_choice`, which Anthropic takes only with tools.
 * - `json_schema` becomes `output_config.format` where the model takes it (`takesOutputFormat`), else a forced tool
 *   (`wire/outputTool.ts`), which cannot go with `tools` (it would shut them out) nor thinking (the API refuses it):
 *   both throw. `json_object` and `seed` have no equivalent (ask for JSON in the prompt).
 * - Blank texts are left out, as the API refuses them (`wire/emptyText.ts`).
 * - A later system message stays in place (`systemInPlace`) only where the API's placement rules allow it.
 * - Of more than four breakpoints (`maxBreakpoints`), the last four in the prompt's order are sent; one of an hour
 *   after a shorter one is sent for five minutes, as the API refuses it (`wire/cacheLifetime.ts`).
 * - `promptCacheKey` has no field: such a request without a breakpoint gets one on its last block
 *   (`cacheConversation`).
 */
export const requestBody = (request: ChatRequest, options: BodyOptions): JsonObject => {
  const { hoisted, system, turns } = messagesOf(request.messages, options.systemInPlace)
  const budget = thinkingBudget(request)
  const body: JsonObject = {
    model: options.model,
    max_tokens: request.maxTokens ?? (budget === undefined ? options.maxTokens : budget + options.maxTokens)
  }
  if (system.length > 0) body["system"] = systemContent(system)
  body["messages"] = turns.map((turn) =>
    turn.role === "system"
      ? { role: "system", content: systemContent(turn.texts) }
      : { role: turn.role, content: turn.content }
  )
  if (budget !== undefined) {
    const cap = request.maxTokens === undefined
      ? budget
      : Math.max(minThinkingBudget, Math.min(budget, request.maxTokens - 1))
    body["thinking"] = hoisted && bindsThinking(options.model)
      ? { type: "enabled", budget_tokens: cap, block_binding: { prefix_mismatch_behavior: "drop_block" } }
      : { type: "enabled", budget_tokens: cap }
  }
  samplingInto(body, request, budget !== undefined)
  if (request.stop !== undefined && request.stop.length > 0) body["stop_sequences"] = request.stop
  const format = request.responseFormat
  const native = options.structuredOutputs === true && takesOutputFormat(options.model)
  const output = native ? undefined : outputTool(request, "Anthropic")
  if (format?.type === "json_schema" && output === undefined) {
    body["output_config"] = { format: { type: "json_schema", schema: format.schema } }
  }
  if (output !== undefined) {
    if (budget !== undefined) {
      throw new RequestError(
        "a json_schema response format is sent to Anthropic as a forced tool, and Anthropic refuses a forced tool " +
          "with thinking on; drop reasoningEffort (or set it to none)",
        "reasoningEffort"
      )
    }
    body["tools"] = [encodeTool(output)]
    body["tool_choice"] = encodeToolChoice({ tool: output.name })
  } else if (request.tools !== undefined && request.tools.length > 0) {
    body["tools"] = request.tools.map(encodeTool)
    const choice = toolChoiceOf(request)
    if (choice !== undefined) body["tool_choice"] = choice
  }
  if (request.user !== undefined) body["metadata"] = { user_id: request.user }
  const tier = ServiceTier.toAnthropic(request.serviceTier)
  if (tier !== undefined) body["service_tier"] = tier
  if (options.stream) body["stream"] = true
  limitBreakpoints(() => breakpointBlocks(body), "cache_control", false)
  if (request.promptCacheKey !== undefined || options.cacheConversations === true) cacheConversation(body)
  if (request.providerOptions !== undefined) Object.assign(body, request.providerOptions)
  return body
}

/**
 * A five-minute breakpoint on the last message's last block, for `promptCacheKey` or `cacheConversations`: Anthropic
 * caches only at breakpoints, and one there lets the next turn read the conversation so far. A thinking block takes
 * none (Anthropic's prompt caching reference).
 */
function cacheConversation(body: JsonObject): void {
  const messages = body["messages"]
  if (!Array.isArray(messages) || breakpointBlocks(body).length > 0) return
  const last = messages.at(-1)
  if (!isJsonObject(last)) return
  const content = typeof last["content"] === "string" ? [{ type: "text", text: last["content"] }] : last["content"]
  const block = Array.isArray(content) ? content.at(-1) : undefined
  if (!isJsonObject(block) || block["type"] === "thinking" || block["type"] === "redacted_thinking") return
  const cached = { ...block, cache_control: { type: "ephemeral" } }
  messages[messages.length - 1] = { ...last, content: [...(content as Array<unknown>).slice(0, -1), cached] }
}

/**
 * Sampling as the Messages reference takes it: a temperature up to 1 (OpenAI and Gemini take 2); with thinking, only a
 * temperature of 1 and a `top_p` of 0.95 or more (Anthropic's extended thinking guide). Only the temperature where the
 * model refuses both (`takesBothSamplings`), as OpenAI's clients often send both.
 */
function samplingInto(body: JsonObject, request: ChatRequest, thinking: boolean): void {
  const temperature = request.temperature === undefined ? undefined : Math.min(request.temperature, 1)
  if (temperature !== undefined && (!thinking || temperature === 1)) body["temperature"] = temperature
  const topP = request.topP
  if (topP !== undefined && body["temperature"] === undefined && (!thinking || topP >= minThinkingTopP)) {
    body["top_p"] = topP
  }
}

/**
 * Whether a model takes `temperature` and `top_p` together: Claude Opus 4.1, Sonnet and Haiku 4.5 and later refuse both
 * ("cannot both be specified for this model"); earlier Claude 4 and 3 models take both.
 */
export const takesBothSamplings = (model: string): boolean =>
  !/^claude-(?:(?:opus|sonnet|haiku)-4-[1-9](?![0-9])|(?:opus|sonnet|haiku)-[5-9](?![0-9]))/.test(model)

/** The least `top_p` Anthropic takes with thinking on (its extended thinking guide). */
export const minThinkingTopP = 0.95

export { maxBreakpoints } from "../cacheLifetime.js"

/** Where each block of `body` that holds a `cache_control` is (its list and index), in the prompt's order. */
export const breakpointBlocks = (body: JsonObject): ReadonlyArray<Place> =>
  breakpointPlaces("cache_control", body["tools"], body["system"], body["messages"])

// The fields of a Messages body that `count_tokens` takes too; it refuses the others (`max_tokens`, `stream`...).
const countedFields = ["model", "messages", "system", "tools", "tool_choice", "thinking"] as const

/** The body of `count_tokens`: `requestBody`'s prompt, without the fields that only shape the reply. */
export const countBody = (request: ChatRequest, options: Omit<BodyOptions, "stream">): JsonObject =>
  pickDefined(requestBody(request, { ...options, stream: false }), countedFields)

/** A `count_tokens` reply: the prompt's `tokens`. */
export function countReply(tokens: number): string {
  return JSON.stringify({ input_tokens: tokens })
}

/** The `input_tokens` of a `count_tokens` reply; throws `ShapeError` when it has none. */
export const countOf = (body: JsonObject): number => countAt(body, "input_tokens")

/**
 * Whether `model` takes `output_config.format`, Anthropic's structured outputs: Claude Opus 4.1, the 4.5 models and
 * every later one, by Anthropic's or Vertex's id. Earlier models, and names of another form, are sent the forced tool.
 */
export function takesOutputFormat(model: string): boolean {
  const named = /claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?:[-@]|$)/.exec(model)
  if (named === null) return false
  const major = Number(named[2])
  const minor = named[3] === undefined ? 0 : Number(named[3])
  return major > 4 || (major === 4 && (minor >= 5 || (named[1] === "opus" && minor === 1)))
}

/**
 * The forced tool whose input is the reply's text (`outputToolName`'s) for a request to `model`; none where the API
 * takes `output_config.format` from it (`structuredOutputs`).
 */
export function forcedOutputTool(request: ChatRequest, model: string, structuredOutputs: boolean): string | undefined {
  return structuredOutputs && takesOutputFormat(model) ? undefined : outputToolName(request)
}
