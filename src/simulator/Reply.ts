/**
 * The simulator's deterministic reply generator, shared by every wire format: a format reduces its request to a
 * {@link Prompt}, {@link generate} turns it into a {@link Reply} (reasoning, text, tool calls, finish reason, usage)
 * and the format renders it, whole or streamed. The same prompt always gives the same reply, so a streamed and a
 * non-streamed call for the same request carry the same text and the same usage. docs/simulator.md gives its rules:
 * {@link countTokens}' count and the model's manners with tools and JSON in its opening section, the words, caps,
 * schemas ({@link SchemaRefused}) and {@link embedding}s in "Each wire's own rules".
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { SchemaLimitError } from "../internal/jsonSchemaRef.js"
import { fragment } from "../internal/simulator/callFragments.js"
import { fnv1a, prng } from "../internal/simulator/prng.js"
import { synthesize, synthesizeArguments, violate } from "../internal/simulator/schemaValues.js"
import { toolsToCall } from "../internal/simulator/toolPick.js"

/**
 * A tool the caller offered.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Tool {
  readonly name: string
  /** The JSON Schema of the arguments, as sent. */
  readonly parameters: unknown
}

/**
 * Which tool, if any, the model must call.
 *
 * @since 0.1.0
 * @category Models
 */
export type ToolChoice =
  | { readonly _tag: "Auto" }
  | { readonly _tag: "None" }
  | { readonly _tag: "Required" }
  | { readonly _tag: "Named"; readonly name: string }

/**
 * A request reduced to what the generator needs; every wire format builds one.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Prompt {
  readonly model: string
  /** Prompt tokens, counted by the wire format with {@link countTokens}. */
  readonly promptTokens: number
  /** The text of the last user message: the seed of the reply. */
  readonly lastUserText: string
  /**
   * The request's system (and developer) text, joined: read with `lastUserText` for an instruction not to call tools.
   * Default: none.
   *
   * @since 0.3.0
   */
  readonly instructions?: string | undefined
  /** The role of the last message (`"user"`, `"tool"`, `"assistant"`, …). */
  readonly lastRole: string
  /**
   * The assistant's turns in the request's history (its messages of role `assistant`, Gemini's `model`): where a
   * session is, as a scenario places a request. Default: 0.
   *
   * @since 0.3.0
   */
  readonly assistantTurns?: number | undefined
  /**
   * The text of every message of the request, system and tool results included, in order: what a scenario looks for a
   * compaction's summary in. Default: none.
   *
   * @since 0.3.0
   */
  readonly texts?: ReadonlyArray<string> | undefined
  /**
   * Whether the request asks for a compaction by its API's own means (a Responses input ending with
   * `compaction_trigger`): the reply is the conversation's summary, and calls no tool. Default: no.
   *
   * @since 0.3.0
   */
  readonly compaction?: boolean | undefined
  /** The content of the last message when it is a tool result. */
  readonly toolResult?: string | undefined
  readonly tools: ReadonlyArray<Tool>
  readonly toolChoice: ToolChoice
  /** `false` when the caller forbids parallel tool calls. */
  readonly parallelToolCalls: boolean
  /** Whether the caller asked for reasoning (and not effort `"none"`). */
  readonly reasoning: boolean
  /** The caller's cap on completion tokens, when set. */
  readonly maxTokens?: number | undefined
  /** The JSON Schema the reply must follow (structured output), when the caller asked for one. */
  readonly responseSchema?: unknown
  /** Whether the caller asked for a JSON object without a schema (JSON mode). Default: false. */
  readonly jsonObject?: boolean | undefined
  /**
   * The vendor flags a Chat Completions request asked to go on from its last assistant message with: vLLM's
   * `continue_final_message`, DeepSeek's `prefix` on that message. Default: none.
   */
  readonly prefillFlags?: ReadonlyArray<PrefillFlag> | undefined
  /**
   * When the messages end with an assistant's reply and then a user message (a continuation turn, as a router asks for
   * the rest of a cut reply): the user text that reply answered, and the reply. Default: none.
   */
  readonly continued?: { readonly userText: string; readonly assistantText: string } | undefined
}

/**
 * How a continuation turn is answered (`Knobs.continuation`): `continue` goes on from the cut reply, `restart` starts
 * it again word for word, `repeat` repeats its last six words, `reword` gives it again with its words pairwise swapped;
 * each then goes on.
 *
 * @since 0.3.0
 * @category Models
 */
export type ContinuationMode = "continue" | "restart" | "repeat" | "reword"

/**
 * A vendor flag that asks an OpenAI-compatible server to go on from a last assistant message.
 *
 * @since 0.1.0
 * @category Models
 */
export type PrefillFlag = "continue_final_message" | "prefix"

/**
 * Sizes of a reply, from the simulator's options and per-request headers.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Knobs {
  /** Text tokens in a reply. */
  readonly replyTokens: number
  /** Reasoning tokens when reasoning is requested. */
  readonly reasoningTokens: number
  /** How many tool calls to make when the reply is a tool call. */
  readonly toolCalls: number
  /** Prompt tokens reported as cached (clamped to the prompt). */
  readonly cachedTokens: number
  /** Prompt tokens reported as written to the cache (clamped to the prompt's uncached rest). Default: 0. */
  readonly cacheWriteTokens?: number | undefined
  /** Of `cacheWriteTokens`, those written for an hour (clamped to them); the rest for five minutes. Default: 0. */
  readonly cacheWrite1hTokens?: number | undefined
  /**
   * How the model treats the schemas and tools it is given: `conforming` (the default) follows them, calling a tool
   * when the conversation asks for one (a forced choice, or the user's text names an offered tool); `nonconforming`
   * writes JSON that violates them; `text` ignores them and the tools and answers plain words; `loop` calls a tool on
   * every turn, after a tool result too, so an agent's loop never ends on its own.
   */
  readonly output?: OutputMode | undefined
  /** How a continuation turn (`Prompt.continued`) is answered; default: as any request. */
  readonly continuation?: ContinuationMode | undefined
  /**
   * The reply's text, whatever the prompt (no tool call, no JSON): in pieces of at most four non-space characters, each
   * with the spaces before it (`replyPieces`); `maxTokens` cuts it as any reply. Default: words.
   *
   * @since 0.3.0
   */
  readonly reply?: string | undefined
  /**
   * The reply's reasoning, whatever the prompt asks (as a model that always reasons), in `replyPieces`' pieces;
   * `maxTokens` cuts it first, as any reasoning. Default: `reasoningTokens` words when the prompt asks for reasoning.
   *
   * @since 0.3.0
   */
  readonly reasoning?: string | undefined
  /**
   * The model refuses with this text (OpenAI's `refusal`), whatever the prompt: no text and no tool call, its pieces
   * (`replyPieces`) counted as completion tokens. Default: no refusal.
   *
   * @since 0.3.0
   */
  readonly refusal?: string | undefined
}

/**
 * See `Knobs.output`.
 *
 * @since 0.1.0
 * @category Models
 */
export type OutputMode = "conforming" | "nonconforming" | "text" | "loop"

/**
 * One tool call of a reply.
 *
 * @since 0.1.0
 * @category Models
 */
export interface ToolCall {
  /** `call_…`, derived from the request. */
  readonly id: string
  readonly name: string
  /** The arguments, a JSON string. */
  readonly arguments: string
  /** `arguments` split into the pieces a stream sends (at least two). */
  readonly fragments: ReadonlyArray<string>
}

/**
 * Token counts of a reply, with the details OpenAI reports.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Usage {
  readonly promptTokens: number
  /** Visible, reasoning and tool-call tokens together. */
  readonly completionTokens: number
  readonly totalTokens: number
  /** Inside `promptTokens`. */
  readonly cachedTokens: number
  /** Inside `promptTokens`, apart from `cachedTokens`: written to the cache (Anthropic reports them). */
  readonly cacheWriteTokens: number
  /** Inside `cacheWriteTokens`: written for an hour (Anthropic's `ephemeral_1h_input_tokens`). */
  readonly cacheWrite1hTokens: number
  /** Inside `completionTokens`. */
  readonly reasoningTokens: number
  /**
   * The service tier the reply was served at, where it is not the standard one (`Options.defaultServiceTier`).
   *
   * @since 0.3.0
   */
  readonly serviceTier?: string | undefined
}

/**
 * How a reply ended.
 *
 * @since 0.1.0
 * @category Models
 */
export type FinishReason = "stop" | "length" | "tool_calls"

/**
 * A generated reply, before any wire format renders it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Reply {
  /** Reasoning tokens; empty when reasoning was not requested. */
  readonly reasoning: ReadonlyArray<string>
  /** Text tokens; their concatenation is the reply text. */
  readonly content: ReadonlyArray<string>
  readonly toolCalls: ReadonlyArray<ToolCall>
  /**
   * The model's refusal (`Knobs.refusal`), which each wire format writes as its writer writes a `ChatResponse`'s.
   *
   * @since 0.3.0
   */
  readonly refusal?: string | undefined
  readonly finishReason: FinishReason
  readonly usage: Usage
}

const vocabulary: ReadonlyArray<string> = (
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et " +
  "dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex " +
  "ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla " +
  "pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim " +
  "id est laborum vitae semper"
).split(" ")
const spaced = vocabulary.map((word) => ` ${word}`)
const capitalised = vocabulary.map((word) => word.charAt(0).toUpperCase() + word.slice(1))

/**
 * Tokens for `chars` UTF-16 code units of text: `ceil(chars / 4)`.
 *
 * @since 0.1.0
 * @category Tokens
 */
export const countTokens = (chars: number): number => Math.ceil(chars / 4)

/**
 * Tokens an image part adds to a prompt at OpenAI's low detail (`detail: "low"`); at any other detail, and on the other
 * APIs, an image counts by its dimensions.
 *
 * @since 0.1.0
 * @category Tokens
 */
export const imageTokens = 85

/** `n` words: capitalised first, leading spaces after, a full stop at the end. */
const words = (seed: number, n: number, continuing = false): Array<string> => {
  const next = prng(seed)
  const out = new Array<string>(n)
  for (let i = 0; i < n; i++) {
    const pick = next() % vocabulary.length
    out[i] = i === 0 && !continuing ? capitalised[pick]! : spaced[pick]!
  }
  if (n > 0) out[n - 1] = `${out[n - 1]!}.`
  return out
}

/** A continuation turn's answer to the cut reply `cut`, in `mode`, going on with `rest`. */
const continuation = (mode: ContinuationMode, cut: string, rest: Array<string>): Array<string> => {
  const pieces = cut.match(/\s*\S+/g) ?? []
  switch (mode) {
    case "continue":
      return rest
    case "restart":
      return [...pieces, ...rest]
    case "repeat":
      return [...pieces.slice(-6).map((piece, i) => (i === 0 ? ` ${piece.trimStart()}` : piece)), ...rest]
    case "reword": {
      const words = pieces.map((piece) => piece.trim())
      const swapped = words.map((_, i) => words[i % 2 === 0 ? Math.min(i + 1, words.length - 1) : i - 1]!)
      return [...swapped.map((word, i) => (i === 0 ? word : ` ${word}`)), ...rest]
    }
  }
}

/**
 * A chosen reply's tokens: pieces of at most four non-space characters, each with the whitespace before it, the last
 * with the whitespace after it; joined, the text itself.
 *
 * @since 0.3.0
 * @category Tokens
 */
export const replyPieces = (text: string): Array<string> => text.match(/\s*\S{1,4}|\s+$/g) ?? []

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

const callId = (seed: number, index: number): string => {
  const next = prng(seed ^ Math.imul(index + 1, 0x9e3779b1))
  let id = "call_"
  for (let i = 0; i < 24; i++) id += base62[next() % 62]
  return id
}

/** JSON text in pieces of at most four characters: one token each, as `countTokens` counts. */
const jsonPieces = (text: string): Array<string> => text.match(/[\s\S]{1,4}/g) ?? []

/**
 * A schema whose value would take more work than any expansion of a caller's schema is allowed (a node budget and a
 * nesting bound; a recursion alone is not refused). Answered as a provider answers a schema it cannot take: an invalid
 * request.
 *
 * @since 0.1.0
 * @category Models
 */
export interface SchemaRefused {
  readonly _tag: "SchemaRefused"
  /** Names the schema (`tool "lookup"`, `the response format`) and what is past the bound. */
  readonly message: string
}

/** The JSON text of `value()`, a value for the schema `subject` names, or that schema's refusal. */
const schemaJson = (subject: string, value: () => unknown): Result.Result<string, SchemaRefused> => {
  try {
    return Result.succeed(JSON.stringify(value()))
  } catch (error) {
    if (!(error instanceof SchemaLimitError)) throw error
    return Result.fail({ _tag: "SchemaRefused", message: `Invalid schema for ${subject}: the schema ${error.reason}.` })
  }
}

/**
 * The reply to a prompt; pure and deterministic.
 *
 * A tool call when the prompt offers tools, the choice is not `none`, the choice forces a call or no text tells the
 * model to call none (`Do NOT call any tools`, `Respond with plain text only`, in the system or last user text), and
 * the last message is the user's (or a tool result, under a forced choice or in the `loop` mode): the tool the choice
 * names, else the last the user's text names, else the first, or `knobs.toolCalls` calls cycling through the tools.
 * Otherwise text. Fails with {@link SchemaRefused} for a schema past the bounds of its expansion.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const generate = (prompt: Prompt, knobs: Knobs): Result.Result<Reply, SchemaRefused> => {
  const seed = fnv1a(prompt.lastUserText, fnv1a(prompt.model))
  const budget = prompt.maxTokens ?? Number.POSITIVE_INFINITY
  let truncated = false

  const given = knobs.reasoning === undefined ? undefined : replyPieces(knobs.reasoning)
  let reasoningCount = given?.length ?? (prompt.reasoning ? knobs.reasoningTokens : 0)
  if (reasoningCount > budget) {
    reasoningCount = budget
    truncated = true
  }
  const reasoning = given !== undefined
    ? given.slice(0, reasoningCount)
    : reasoningCount > 0
    ? words(fnv1a("reasoning", seed), reasoningCount)
    : []
  const left = budget - reasoningCount

  const output = knobs.output ?? "conforming"
  const refusal = knobs.refusal
  const tools = knobs.reply === undefined && refusal === undefined
    ? toolsToCall(prompt, output, knobs.toolCalls)
    : undefined
  let content: Array<string> = []
  const toolCalls: Array<ToolCall> = []
  let toolTokens = 0
  if (tools !== undefined) {
    for (const [index, tool] of tools.entries()) {
      const written = schemaJson(`tool "${tool.name}"`, () => synthesizeArguments(tool.parameters, output))
      if (Result.isFailure(written)) return Result.fail(written.failure)
      const args = written.success
      toolTokens += countTokens(tool.name.length + args.length)
      toolCalls.push({ id: callId(seed, index), name: tool.name, arguments: args, fragments: fragment(args) })
    }
  } else {
    let wanted = knobs.replyTokens
    if (refusal !== undefined) {
      content = []
    } else if (knobs.reply !== undefined) {
      content = replyPieces(knobs.reply)
    } else if (prompt.responseSchema !== undefined && output !== "text") {
      const schema = prompt.responseSchema
      const value = () => (output === "nonconforming" ? violate(schema) : synthesize(schema))
      const json = schemaJson("the response format", value)
      if (Result.isFailure(json)) return Result.fail(json.failure)
      content = jsonPieces(json.success)
    } else if (prompt.jsonObject === true && output !== "text") {
      const json = JSON.stringify({ answer: words(seed, wanted).join("") })
      content = jsonPieces(output === "nonconforming" ? json.slice(0, -2) : json)
    } else if (prompt.lastRole === "tool" && prompt.toolResult !== undefined) {
      const result = prompt.toolResult.length > 200 ? `${prompt.toolResult.slice(0, 200)}…` : prompt.toolResult
      const lead = `The tool returned ${result.replace(/\s+/g, " ").trim()}`.split(" ")
      content = lead.map((word, i) => (i === 0 ? word : ` ${word}`))
      wanted = Math.max(wanted - content.length, 0)
      if (wanted > 0) content.push(...words(seed, wanted, true))
      else content[content.length - 1] = `${content[content.length - 1]!}.`
    } else if (knobs.continuation !== undefined && prompt.continued !== undefined) {
      content = continuation(knobs.continuation, prompt.continued.assistantText, words(seed, wanted, true))
    } else {
      // After an assistant prefill the reply goes on from it: no capital, a space before its first word.
      content = words(seed, wanted, prompt.lastRole === "assistant")
    }
    if (content.length > left) {
      content = content.slice(0, Math.max(left, 0))
      truncated = true
    }
  }

  const promptTokens = Math.max(1, prompt.promptTokens)
  const cachedTokens = Math.min(Math.max(0, knobs.cachedTokens), promptTokens)
  const cacheWriteTokens = Math.min(Math.max(0, knobs.cacheWriteTokens ?? 0), promptTokens - cachedTokens)
  const refusalTokens = refusal === undefined ? 0 : replyPieces(refusal).length
  const completionTokens = reasoning.length + content.length + toolTokens + refusalTokens
  return Result.succeed({
    reasoning,
    content,
    toolCalls,
    ...(refusal !== undefined ? { refusal } : {}),
    finishReason: toolCalls.length > 0 ? "tool_calls" : truncated ? "length" : "stop",
    usage: {
      promptTokens,
      completionTokens,
      totalTokens: promptTokens + completionTokens,
      cachedTokens,
      cacheWriteTokens,
      cacheWrite1hTokens: Math.min(Math.max(0, knobs.cacheWrite1hTokens ?? 0), cacheWriteTokens),
      reasoningTokens: reasoning.length
    }
  })
}

/**
 * The length of embedding vectors when a request sets no `dimensions`.
 *
 * @since 0.1.0
 * @category Embeddings
 */
export const defaultEmbeddingDimensions = 16

/**
 * The embedding of `text`: `dimensions` float32 values of a unit vector, deterministic in the model and the text.
 *
 * @since 0.1.0
 * @category Embeddings
 */
export const embedding = (model: string, text: string, dimensions: number): Array<number> => {
  const next = prng(fnv1a(text, fnv1a(model)))
  const raw = new Array<number>(dimensions)
  let norm = 0
  for (let i = 0; i < dimensions; i++) {
    // Uniform in [-1, 1), never all zero for long.
    const value = (next() / 0x80000000) - 1
    raw[i] = value
    norm += value * value
  }
  const scale = norm === 0 ? 0 : 1 / Math.sqrt(norm)
  return raw.map((value) => Math.fround(value * scale))
}
