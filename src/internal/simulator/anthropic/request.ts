/**
 * The Messages request (`POST /v1/messages`) and the `count_tokens` body, read with the Anthropic codec
 * (`wire/anthropic/request.ts`), then held to the rules the API adds past the wire's shape (docs/simulator.md and each
 * check's doc give them) and reduced to a `Reply.Prompt`, with the window a Claude Sonnet 4 or 4.5 prompt has without
 * the 1M-token beta (200,000 tokens). What is wrong is worded as the API words it, as pydantic does
 * (`max_tokens: Field required`).
 */
import * as Result from "effect/Result"
import type * as Http from "node:http"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Extra } from "../../../simulator/Anthropic.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import type { Refused } from "../../schemaCheck.js"
import * as Images from "../../tokens/images.js"
import {
  type AnyBody,
  betasOf,
  bindsThinking,
  breakpointBlocks,
  checkCount,
  checkMessages,
  longContextBeta,
  maxBreakpoints,
  minThinkingBudget,
  minThinkingTopP,
  needsLongContextBeta,
  standardContextWindow,
  takesBothSamplings,
  takesMidConversationSystem,
  toolSearchBeta,
  toRequest
} from "../../wire/anthropic/request.js"
import { longerAfterShorter } from "../../wire/cacheLifetime.js"
import { isBlank } from "../../wire/emptyText.js"
import { requestPrompt } from "../decoded.js"
import { bareTypeName, invalid, valueAt } from "../requestChecks.js"
import { signatureOf } from "./render.js"
import { dropsMismatched, prefixDigest, prefixMismatch } from "./thinkingBinding.js"

type WireMessage = AnyBody["messages"][number]

// A path as Anthropic writes it: `messages.2.role`.
const dotted = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

// The tags of the block, tool choice and thinking unions, as the API lists them when a `type` is none of them.
const blockTags = ["text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"]
const toolChoiceTags = ["auto", "any", "tool", "none"]
const thinkingTags = ["enabled", "disabled", "adaptive", "between_tools"]

const quoted = (tags: ReadonlyArray<string>): string => tags.map((tag) => `'${tag}'`).join(", ")

function tagError(param: string, value: unknown, tags: ReadonlyArray<string>): ApiError {
  const found = isJsonObject(value) && typeof value.type === "string" ? ` '${value.type}'` : ""
  return invalid(
    `${param}: Input tag${found} found using 'type' does not match any of the expected tags: ${quoted(tags)}`,
    `${param}.type`
  )
}

const pydanticTypes: Readonly<Record<string, string>> = {
  string: "string",
  number: "number",
  boolean: "boolean",
  array: "list",
  object: "dictionary"
}

/** A schema's refusal (`expected string | null`) of `value` as pydantic words it (`Input should be a valid string`). */
function pydantic(message: string, value: unknown): string {
  if (value === undefined) return "Field required"
  if (message.startsWith("expected \"")) {
    const literals = [...message.matchAll(/"([^"]*)"/g)].map((match) => `'${match[1]}'`)
    return `Input should be ${
      literals.length > 1 ? `${literals.slice(0, -1).join(", ")} or ${literals.at(-1)}` : literals[0]
    }`
  }
  const types = [...new Set([...message.matchAll(/\b(string|number|boolean|array|object)\b/g)].map((m) => m[1]!))]
  return types.length > 0
    ? `Input should be a valid ${types.map((type) => pydanticTypes[type]).join(" or ")}`
    : `Input should be ${message.replace(/^expected /, "")}`
}

const maxTokensError = (value: unknown): ApiError =>
  invalid(`max_tokens: Input should be an integer of at least 1, got ${JSON.stringify(value)}`, "max_tokens")

const budgetError = invalid(
  `thinking.enabled.budget_tokens: Input should be greater than or equal to ${minThinkingBudget}`,
  "thinking.budget_tokens"
)

/** What is wrong at a union (a block, `tool_choice`, `thinking`): not an object, a tag it does not take, or a field. */
function unionError(
  body: unknown,
  at: ReadonlyArray<PropertyKey>,
  tags: ReadonlyArray<string>,
  field: (tag: string) => ApiError | undefined
): ApiError | undefined {
  const value = valueAt(body, at)
  const param = dotted(at)
  if (!isJsonObject(value) || typeof value.type !== "string") {
    return invalid(`${param}: Input should be an object with a type`, param)
  }
  return tags.includes(value.type) ? field(value.type) : tagError(param, value, tags)
}

/** What the codec's schema refused (its first refusal) worded as the API words it. */
function refusalError(body: unknown, refused: Refused): ApiError {
  const { message, path } = refused.refusals[0]
  if (path.length === 0) return invalid(`The request body must be a JSON object, got ${bareTypeName(body)}`)
  const value = valueAt(body, path)
  const generic = () => invalid(`${dotted(path)}: ${pydantic(message, value)}`, dotted(path))
  if ((path[0] === "thinking" || path[0] === "tool_choice") && path.length === 1 && !isJsonObject(value)) {
    return invalid(`${path[0]}: Input should be an object`, path[0])
  }
  switch (path[0]) {
    case "max_tokens":
      return value === undefined ? generic() : maxTokensError(value)
    case "messages":
      if (path[2] === "role") {
        return invalid(`${dotted(path)}: Input should be 'user' or 'assistant'`, dotted(path))
      }
      if (path.length === 3 && path[2] === "content" && value !== undefined) {
        return invalid(
          `${dotted(path)}: Input should be a valid string or list, got ${bareTypeName(value)}`,
          dotted(path)
        )
      }
      if (path[2] === "content" && path.length >= 4) {
        return unionError(body, path.slice(0, 4), blockTags, () => undefined) ?? generic()
      }
      return generic()
    case "system":
      return path.length === 1
        ? generic()
        : invalid(`system.${String(path[1])}: Input should be a text block`, `system.${String(path[1])}`)
    case "thinking":
      return unionError(body, ["thinking"], thinkingTags, (tag) => tag === "enabled" ? budgetError : undefined) ??
        generic()
    case "tool_choice":
      return unionError(
        body,
        ["tool_choice"],
        toolChoiceTags,
        (tag) => tag === "tool" ? invalid("tool_choice.tool.name: Field required", "tool_choice.name") : undefined
      ) ?? generic()
    case "output_config":
      if (path.length === 1) return invalid("output_config: Input should be an object", "output_config")
      if (path.length === 2 && path[1] === "format") {
        return unionError(body, ["output_config", "format"], ["json_schema"], () => undefined) ?? generic()
      }
      return generic()
    default:
      return generic()
  }
}

/**
 * What the API refuses in `tool_choice` (Anthropic's Messages reference, and its extended thinking guide on tool use):
 * a choice without tools, `disable_parallel_tool_use` on a `none` choice (which has no other field), and a choice that
 * forces a tool (`any`, `tool`) with thinking on.
 */
function toolChoiceError(wire: AnyBody): ApiError | undefined {
  const choice = wire.tool_choice
  if (choice === undefined || choice === null) return undefined
  if ((wire.tools?.length ?? 0) === 0) {
    return invalid(`tool_choice.${choice.type} may only be specified while providing tools`, "tool_choice")
  }
  const parallel = choice.type === "none" ? choice.disable_parallel_tool_use : undefined
  if (parallel !== undefined && parallel !== null) {
    return invalid(
      "tool_choice.none.disable_parallel_tool_use: Extra inputs are not permitted",
      "tool_choice.disable_parallel_tool_use"
    )
  }
  const thinking = wire.thinking?.type
  if ((choice.type === "any" || choice.type === "tool") && thinking !== undefined && thinking !== "disabled") {
    return invalid("Thinking may not be enabled when tool_choice forces tool use.", "tool_choice")
  }
  return undefined
}

/** What the API refuses in a body's fields that fit the wire: its ranges, and a thinking budget below `max_tokens`. */
function fieldError(wire: AnyBody): ApiError | undefined {
  const maxTokens = wire.max_tokens ?? undefined
  if (maxTokens !== undefined && (!Number.isInteger(maxTokens) || maxTokens < 1)) {
    return maxTokensError(maxTokens)
  }
  if (wire.messages.length === 0) return invalid("messages: at least one message is required", "messages")
  const temperature = wire.temperature ?? undefined
  const topP = wire.top_p ?? undefined
  if (temperature !== undefined && temperature > 1) {
    return invalid("temperature: Input should be less than or equal to 1", "temperature")
  }
  if (temperature !== undefined && temperature < 0) {
    return invalid("temperature: Input should be greater than or equal to 0", "temperature")
  }
  const choiceBroken = toolChoiceError(wire)
  if (choiceBroken !== undefined) return choiceBroken
  // The top-level one (automatic caching) takes one of the four too.
  const automatic = wire.cache_control === undefined || wire.cache_control === null ? 0 : 1
  const blocks = breakpointBlocks(wire as unknown as JsonObject)
  const breakpoints = blocks.length + automatic
  if (breakpoints > maxBreakpoints) {
    return invalid(
      `A maximum of ${maxBreakpoints} blocks with cache_control may be provided. Found ${breakpoints}.`,
      "cache_control"
    )
  }
  // The top-level one is applied to the last cacheable block: it comes last.
  const controls = [...blocks.map(([list, i]) => (list[i] as JsonObject)["cache_control"]), wire.cache_control]
  if (longerAfterShorter(controls.filter((control) => control !== undefined && control !== null)) !== undefined) {
    return invalid(
      "A ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are " +
        "processed in the following order: `tools`, `system`, `messages`.",
      "cache_control"
    )
  }
  if (temperature !== undefined && topP !== undefined && !takesBothSamplings(wire.model)) {
    return invalid("`temperature` and `top_p` cannot both be specified for this model. Please use only one.")
  }
  const thinking = wire.thinking
  const thinkingOn = thinking !== undefined && thinking !== null && thinking.type !== "disabled"
  if (thinkingOn && temperature !== undefined && temperature !== 1) {
    return invalid("`temperature` may only be set to 1 when thinking is enabled or in adaptive mode.", "temperature")
  }
  // The codec does not read `top_k`; the body does hold it (Anthropic's extended thinking guide: not with thinking).
  const topK = valueAt(wire, ["top_k"])
  if (thinkingOn && topK !== undefined && topK !== null) {
    return invalid("`top_k` is not supported when thinking is enabled.", "top_k")
  }
  if (thinkingOn && topP !== undefined && topP < minThinkingTopP) {
    return invalid(
      `\`top_p\` must be greater than or equal to ${minThinkingTopP} or unset when thinking is enabled.`,
      "top_p"
    )
  }
  if (thinking?.type !== "enabled") return undefined
  const budget = thinking.budget_tokens
  if (!Number.isInteger(budget) || budget < minThinkingBudget) return budgetError
  if (maxTokens !== undefined && budget >= maxTokens) {
    return invalid("`max_tokens` must be greater than `thinking.budget_tokens`", "max_tokens")
  }
  return undefined
}

/**
 * Why the API refuses the system message at `messages[i]` there (its mid-conversation system messages reference): a
 * model that takes none, or a place it may not be: it must follow a user message (so it is never first, nor next to
 * another system message), and be last or be followed by an assistant message.
 */
function systemError(wire: AnyBody, i: number): ApiError | undefined {
  const path = `messages.${i}`
  if (!takesMidConversationSystem(wire.model)) {
    return invalid(
      `${path}.role: Input should be 'user' or 'assistant' ` +
        "(use the top-level `system` parameter for a system prompt)",
      `${path}.role`
    )
  }
  if (wire.messages[i - 1]?.role !== "user") {
    return invalid(`${path}: a system message must immediately follow a user message`, path)
  }
  const next = wire.messages[i + 1]
  if (next !== undefined && next.role !== "assistant") {
    return invalid(`${path}: a system message must be the last message or be followed by an assistant message`, path)
  }
  return undefined
}

/**
 * How a request's thinking blocks are checked against their prefix (`thinkingBinding.ts`): the digest of the prompt
 * before each message where the model binds them, and whether a block of another prefix is dropped, not refused.
 */
interface Binding {
  readonly before: ((message: number) => string) | undefined
  readonly drops: boolean
}

/** What is wrong with a thinking block's signature: none, made for another text, or (bound) after another prefix. */
function signatureError(
  block: { readonly thinking: string; readonly signature: string },
  path: string,
  bound: string | undefined,
  drops: boolean
): ApiError | undefined {
  const signed = signatureOf(block.thinking)
  // A bound signature is the text's and its prefix's; one of a model that binds none is accepted by those that do.
  if (block.signature === signed && bound === undefined) return undefined
  if (!block.signature.startsWith(signed)) {
    return invalid(`${path}: Invalid \`signature\` in \`thinking\` block`, `${path}.signature`)
  }
  if (bound === undefined || block.signature === `${signed}.${bound}` || drops) return undefined
  return prefixMismatch(path)
}

/** A thinking block sent back without the signature the simulator gave it, or a tool turn not opened by thinking. */
function thinkingError(
  message: WireMessage,
  at: number,
  final: boolean,
  reasoning: boolean,
  binding: Binding
): ApiError | undefined {
  if (typeof message.content === "string") return undefined
  const path = `messages.${at}`
  const bound = binding.before?.(at)
  for (let j = 0; j < message.content.length; j++) {
    const block = message.content[j]!
    if (block.type !== "thinking") continue
    const broken = signatureError(block, `${path}.content.${j}`, bound, binding.drops)
    if (broken !== undefined) return broken
  }
  // The API checks only the assistant turn of the tool loop in progress.
  const first = message.content[0]?.type
  if (
    final && reasoning && message.content.some((block) => block.type === "tool_use") &&
    first !== "thinking" && first !== "redacted_thinking"
  ) {
    return invalid(
      `${path}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${first}\`. When ` +
        "`thinking` is enabled, a final `assistant` message must start with a thinking block.",
      `${path}.content.0.type`
    )
  }
  return undefined
}

// The ids of a turn's blocks of `type` (`tool_use` ids, or the ids `tool_result` blocks answer).
function idsOf(message: WireMessage, type: "tool_use" | "tool_result"): ReadonlyArray<string> {
  if (typeof message.content === "string") return []
  const ids: Array<string> = []
  for (const block of message.content) {
    if (block.type === "tool_use" && type === "tool_use") ids.push(block.id)
    else if (block.type === "tool_result" && type === "tool_result") ids.push(block.tool_use_id)
  }
  return ids
}

const unanswered = (at: number, ids: ReadonlyArray<string>, rest: string): ApiError =>
  invalid(
    `messages.${at}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${
      ids.join(", ")
    }.${rest}`,
    `messages.${at}`
  )

/**
 * What the API refuses as empty in the message at `i`: no block, and a text (the content as a string, a text block, a
 * tool result's) that is empty or white space; but the final assistant turn (a prefill) may be `""` or `[]`.
 */
function emptyError(message: WireMessage, i: number, last: boolean): ApiError | undefined {
  const content = message.content
  const prefill = last && message.role === "assistant"
  if (Array.isArray(content) && content.length === 0) {
    if (prefill) return undefined
    return invalid(
      `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      `messages.${i}.content`
    )
  }
  const texts = typeof content === "string" ? (prefill ? [] : [content]) : content.flatMap(blockTexts)
  const refused = texts.find(isBlank)
  if (refused === undefined) return undefined
  return refused === ""
    ? invalid("messages: text content blocks must be non-empty", `messages.${i}.content`)
    : invalid("messages: text content blocks must contain non-whitespace text", `messages.${i}.content`)
}

/** The texts of a block: a text block's, or a tool result's text blocks'. */
function blockTexts(block: Exclude<WireMessage["content"], string>[number]): ReadonlyArray<string> {
  if (block.type === "text") return [block.text]
  if (block.type !== "tool_result" || !Array.isArray(block.content)) return []
  return block.content.flatMap((part) => part.type === "text" ? [part.text] : [])
}

/** What the API refuses in the turns: their roles and places, their thinking, and a `tool_use` left unanswered. */
function turnError(wire: AnyBody, reasoning: boolean, binding: Binding): ApiError | undefined {
  const messages = wire.messages
  let pending: ReadonlyArray<string> = []
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    if (message.role === "system") {
      const broken = systemError(wire, i)
      if (broken !== undefined) return broken
      continue
    }
    const empty = emptyError(message, i, i === messages.length - 1)
    if (empty !== undefined) return empty
    if (pending.length > 0) {
      const answered = idsOf(message, "tool_result")
      const missing = pending.filter((id) => !answered.includes(id))
      if (message.role !== "user" || missing.length > 0) {
        return unanswered(
          i - 1,
          missing,
          " Each `tool_use` block must have a corresponding `tool_result` block in the next message."
        )
      }
    }
    if (message.role === "assistant") {
      const broken = thinkingError(message, i, i >= messages.length - 2, reasoning, binding)
      if (broken !== undefined) return broken
    }
    pending = idsOf(message, "tool_use")
  }
  return pending.length > 0 ? unanswered(messages.length - 1, pending, "") : undefined
}

// Each tool_reference block of a turn's tool results: its path and the tool it names.
function referencesIn(wire: AnyBody): ReadonlyArray<readonly [string, string]> {
  const found: Array<readonly [string, string]> = []
  wire.messages.forEach((message, i) => {
    if (typeof message.content === "string") return
    message.content.forEach((block, j) => {
      if (block.type !== "tool_result" || !Array.isArray(block.content)) return
      block.content.forEach((part, k) => {
        if (part.type === "tool_reference") found.push([`messages.${i}.content.${j}.content.${k}`, part.tool_name])
      })
    })
  })
  return found
}

/**
 * What the API refuses of tool search (Anthropic's tool search guide): `defer_loading` or a `tool_reference` block
 * without its beta header, every tool deferred, a deferred tool with a `cache_control` (the cached prefix holds no
 * deferred tool), and a reference to a tool that is not a deferred one of the request.
 */
function toolSearchError(wire: AnyBody, betas: ReadonlyArray<string>): ApiError | undefined {
  const tools = wire.tools ?? []
  const references = referencesIn(wire)
  const deferring = tools.findIndex((tool) => tool.defer_loading !== undefined && tool.defer_loading !== null)
  if (!betas.includes(toolSearchBeta)) {
    if (deferring !== -1) {
      return invalid(`tools.${deferring}.defer_loading: Extra inputs are not permitted`, `tools.${deferring}`)
    }
    if (references.length > 0) {
      const [at] = references[0]!
      return tagError(at, { type: "tool_reference" }, ["text", "image", "document", "search_result"])
    }
    return undefined
  }
  const deferred = tools.filter((tool) => tool.defer_loading === true)
  if (deferred.length > 0 && deferred.length === tools.length) {
    return invalid("tools: at least one tool must not have defer_loading set to true", "tools")
  }
  const cached = tools.findIndex((tool) =>
    tool.defer_loading === true && tool.cache_control !== undefined && tool.cache_control !== null
  )
  if (cached !== -1) {
    return invalid(
      `tools.${cached}: a tool with defer_loading cannot have cache_control`,
      `tools.${cached}.cache_control`
    )
  }
  const unknown = references.find(([, name]) => !deferred.some((tool) => tool.name === name))
  if (unknown !== undefined) {
    return invalid(
      `${unknown[0]}.tool_name: Tool reference '${unknown[1]}' does not name a tool with defer_loading in tools`,
      `${unknown[0]}.tool_name`
    )
  }
  return undefined
}

/**
 * A checked body (its fields and turns held to the API's rules) as the prompt it asks about; a model that binds its
 * thinking signs the reply's after the whole prompt.
 */
function promptOf(wire: AnyBody, request: ChatRequest, drops: boolean): Result.Result<Decoded<Extra>, ApiError> {
  const reasoning = request.reasoningEffort !== undefined && request.reasoningEffort !== "none"
  const binds = bindsThinking(wire.model)
  const before = binds ? (message: number) => prefixDigest(wire, message) : undefined
  const broken = turnError(wire, reasoning, { before, drops })
  if (broken !== undefined) return Result.fail(broken)
  return requestPrompt(request, {
    model: wire.model,
    stream: wire.stream === true,
    extra: binds ? { binding: prefixDigest(wire, wire.messages.length) } : undefined,
    parallelToolCalls: wire.tool_choice?.disable_parallel_tool_use !== true,
    reasoning,
    unknownTool: (name) => invalid(`tool_choice: tool '${name}' is not in tools`, "tool_choice.name"),
    images: Images.anthropic
  })
}

/**
 * The decoder of the bodies `check` checks, given the request's headers (the betas it reads): a body checked, then as
 * the engine's request and the prompt; or the API's error.
 */
const decoderOf = (check: (body: unknown) => Result.Result<AnyBody, Refused>) =>
(
  body: unknown,
  _params?: unknown,
  headers?: Http.IncomingHttpHeaders
): Result.Result<Decoded<Extra>, ApiError> => {
  const checked = check(body)
  if (Result.isFailure(checked)) return Result.fail(refusalError(body, checked.failure))
  const wire = checked.success
  const betas = betasOf(headers?.["anthropic-beta"])
  const broken = fieldError(wire) ?? toolSearchError(wire, betas)
  if (broken !== undefined) return Result.fail(broken)
  const drops = dropsMismatched(body, betas)
  if (typeof drops !== "boolean") return Result.fail(drops)
  const request = toRequest(wire)
  // The mapping refuses a block in a turn of the wrong role.
  if (Result.isFailure(request)) return Result.fail(invalid(request.failure.message, request.failure.param))
  const standard = needsLongContextBeta(wire.model) && !betas.includes(longContextBeta)
  return Result.map(
    promptOf(wire, request.success, drops),
    (decoded) => standard ? { ...decoded, window: standardContextWindow } : decoded
  )
}

/** A Messages body. */
export const decode = decoderOf(checkMessages)

/**
 * A `count_tokens` body (Anthropic's token counting reference): a Messages body's prompt, checked as one; the fields
 * that shape a reply are not read.
 */
export const decodeCount = decoderOf(checkCount)
