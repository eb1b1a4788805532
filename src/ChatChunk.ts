/**
 * The pieces of a streamed reply, and `collect`, which folds a stream of them into the same `ChatResponse` the
 * non-streaming call returns. Chunks are plain tagged objects, not class instances: a stream makes one per token.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Struct from "effect/Struct"
import {
  type ChatResponse,
  emptyUsage,
  FinishReason,
  RateLimitSnapshot,
  SkippedEvents,
  Usage as UsageModel
} from "./ChatResponse.js"
import { definedFields } from "./internal/json.js"
import { StreamTruncatedError } from "./LlmError.js"
import { ProviderMetadata, type ToolCall } from "./Message.js"

/**
 * A piece of the reply's text.
 *
 * @since 0.1.0
 * @category Models
 */
export const TextDelta = Schema.TaggedStruct("TextDelta", { text: Schema.String })

/**
 * @since 0.1.0
 * @category Models
 */
export type TextDelta = typeof TextDelta.Type

/**
 * A piece of the reasoning text.
 *
 * @since 0.1.0
 * @category Models
 */
export const ReasoningDelta = Schema.TaggedStruct("ReasoningDelta", { text: Schema.String })

/**
 * @since 0.1.0
 * @category Models
 */
export type ReasoningDelta = typeof ReasoningDelta.Type

/**
 * A piece of a tool call. `index` identifies the call within the reply (dense, from 0, in the order calls were
 * opened); `id` and `name` come with the first piece of a call, `arguments` is appended piece by piece.
 *
 * @since 0.1.0
 * @category Models
 */
export const ToolCallDelta = Schema.TaggedStruct("ToolCallDelta", {
  index: Schema.Int,
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  arguments: Schema.String,
  /** Provider data for this call (Gemini's thought signature); the last one seen wins. */
  providerMetadata: Schema.optional(ProviderMetadata)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type ToolCallDelta = typeof ToolCallDelta.Type

/**
 * The token usage of the reply (the last one seen wins).
 *
 * @since 0.1.0
 * @category Models
 */
export const Usage = Schema.TaggedStruct("Usage", { usage: UsageModel })

/**
 * @since 0.1.0
 * @category Models
 */
export type Usage = typeof Usage.Type

/**
 * The last chunk of every complete stream: why it stopped, and what the `ChatResponse` needs besides the content.
 *
 * @since 0.1.0
 * @category Models
 */
export const Finish = Schema.TaggedStruct("Finish", {
  finishReason: FinishReason,
  id: Schema.String,
  model: Schema.String,
  provider: Schema.String,
  latency: Schema.Duration,
  refusal: Schema.optional(Schema.String),
  keyId: Schema.optional(Schema.String),
  /** Provider data for the reply as a whole (Anthropic's signed thinking blocks). */
  providerMetadata: Schema.optional(ProviderMetadata),
  /**
   * The cost in US dollars of the reply's usage, when its price is known; set here, where the usage is final, so
   * `collect` gives the same cost as the non-streaming call.
   */
  cost: Schema.optional(Schema.Number),
  /**
   * What the provider's prompt cache saved the reply (`ChatResponse.cacheSavings`), set with `cost`.
   *
   * @since 0.3.0
   */
  cacheSavings: Schema.optional(Schema.Number),
  /** The provider's rate-limit headers on the stream's response, when it sent any. */
  rateLimit: Schema.optional(RateLimitSnapshot),
  /** Malformed events (not JSON) the stream skipped before this chunk; absent when it skipped none. */
  skippedEvents: Schema.optional(SkippedEvents)
})

/**
 * @since 0.1.0
 * @category Models
 */
export type Finish = typeof Finish.Type

// What a `Router`'s `Start`, `Restart` and `Continue` chunks say of the attempt whose reply follows.
const AnsweringFields = {
  /** The number of the attempt that follows, counting every deployment the call has tried, from 1. */
  attempt: Schema.Int,
  /** The deployment whose reply follows. */
  deployment: Schema.String,
  /** The model of that deployment, which produces what follows. */
  model: Schema.String
}

// What a `Router`'s `Restart` and `Continue` chunks say of the attempt that follows a broken one.
const AttemptFields = {
  ...AnsweringFields,
  /** The deployment whose attempt broke. */
  from: Schema.String,
  /** The `_tag` of the error that broke the attempt before. */
  error: Schema.String
}

/**
 * The first chunk of every stream a `Router` gives out: the deployment and model whose reply follows, so a consumer
 * names the answering model from the start. When the first deployments tried failed before their first chunk,
 * `attempt` is above 1 and `from` and `error` name the last of them (nothing of theirs was sent). `collect` and
 * `makeAccumulator` pass over it.
 *
 * @since 0.3.0
 * @category Models
 */
export const Start = Schema.TaggedStruct("Start", {
  ...AnsweringFields,
  /** The deployment tried last before this one, which failed before its first chunk; absent on a first attempt. */
  from: Schema.optional(Schema.String),
  /** The `_tag` of that deployment's error; absent on a first attempt. */
  error: Schema.optional(Schema.String)
})

/**
 * @since 0.3.0
 * @category Models
 */
export type Start = typeof Start.Type

/**
 * The reply starts over: what came before this chunk belongs to an attempt that broke mid-stream, and is discarded.
 * A `Router` sends it when it restarts a stream on another deployment (`Router.Options.midStream: "restart"`);
 * `collect` and `makeAccumulator` keep only what follows the last one.
 *
 * @since 0.1.0
 * @category Models
 */
export const Restart = Schema.TaggedStruct("Restart", AttemptFields)

/**
 * @since 0.1.0
 * @category Models
 */
export type Restart = typeof Restart.Type

/**
 * The reply goes on from another deployment: the attempt at `from` broke mid-stream with `error`, and `deployment`
 * continues from exactly the text already sent (`Router.Options.midStream: "continue"`); the stream's `Usage` counts
 * every attempt. Nothing is discarded: `collect` and `makeAccumulator` keep everything.
 *
 * @since 0.1.0
 * @category Models
 */
export const Continue = Schema.TaggedStruct("Continue", AttemptFields)

/**
 * @since 0.1.0
 * @category Models
 */
export type Continue = typeof Continue.Type

/**
 * @since 0.1.0
 * @category Models
 */
export const ChatChunk = Schema.Union([
  TextDelta,
  ReasoningDelta,
  ToolCallDelta,
  Usage,
  Finish,
  Start,
  Restart,
  Continue
])

/**
 * @since 0.1.0
 * @category Models
 */
export type ChatChunk = typeof ChatChunk.Type

/**
 * A mutable fold of chunks into a response, for code that consumes a stream itself (a gateway relaying it, a cache
 * recording it). A `Restart` chunk discards everything before it; a `Start` or `Continue` chunk discards nothing.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Accumulator {
  readonly add: (chunk: ChatChunk) => void
  /** The response so far, once a `Finish` chunk was seen. */
  readonly response: () => ChatResponse | undefined
}

interface PendingCall {
  id: string
  name: string
  arguments: string
  providerMetadata?: ProviderMetadata
}

/**
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { ChatChunk, Llm, Message } from "effect-llm-router"
 *
 * // Print a reply as it streams, and keep it whole for the log.
 * const program = Effect.gen(function*() {
 *   const accumulator = ChatChunk.makeAccumulator()
 *   yield* Stream.runForEach(Llm.chatStream({ messages: [Message.user("Tell me a joke")] }), (chunk) =>
 *     Effect.sync(() => {
 *       accumulator.add(chunk)
 *       if (chunk._tag === "TextDelta") process.stdout.write(chunk.text)
 *     }))
 *   return accumulator.response() // the ChatResponse, once the Finish chunk arrived
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const makeAccumulator = (): Accumulator => {
  let text = ""
  let reasoning: string | undefined
  const calls: Array<PendingCall | undefined> = []
  let usage: UsageModel = emptyUsage
  let finish: Finish | undefined
  return {
    add(chunk) {
      switch (chunk._tag) {
        case "TextDelta":
          text += chunk.text
          break
        case "ReasoningDelta":
          reasoning = (reasoning ?? "") + chunk.text
          break
        case "ToolCallDelta": {
          const call = calls[chunk.index] ??= { id: "", name: "", arguments: "" }
          if (chunk.id !== undefined) call.id = chunk.id
          if (chunk.name !== undefined) call.name = chunk.name
          call.arguments += chunk.arguments
          if (chunk.providerMetadata !== undefined) call.providerMetadata = chunk.providerMetadata
          break
        }
        case "Usage":
          usage = chunk.usage
          break
        case "Finish":
          finish = chunk
          break
        case "Restart":
          text = ""
          reasoning = undefined
          calls.length = 0
          usage = emptyUsage
          finish = undefined
      }
    },
    response() {
      if (finish === undefined) return undefined
      const toolCalls = calls.flatMap((call) => call === undefined ? [] : [{ ...call }])
      return responseOf(finish, text, reasoning, toolCalls, usage)
    }
  }
}

const responseOf = (
  finish: Finish,
  text: string,
  reasoning: string | undefined,
  toolCalls: ReadonlyArray<ToolCall>,
  usage: UsageModel
): ChatResponse => ({
  id: finish.id,
  model: finish.model,
  provider: finish.provider,
  text,
  ...definedFields({ reasoning, refusal: finish.refusal }),
  toolCalls,
  finishReason: finish.finishReason,
  usage,
  ...definedFields({ cost: finish.cost, cacheSavings: finish.cacheSavings }),
  latency: finish.latency,
  ...definedFields(Struct.pick(finish, ["keyId", "providerMetadata", "rateLimit", "skippedEvents"]))
})

// The fields of a `Finish` chunk a response has only sometimes.
const extras = ["refusal", "keyId", "providerMetadata", "cost", "cacheSavings", "rateLimit", "skippedEvents"] as const

/**
 * Folds a chunk stream into the `ChatResponse` the non-streaming call returns, from what follows its last `Restart`
 * chunk, if any. A stream that ends without a `Finish` chunk fails with `StreamTruncatedError`.
 *
 * @example
 * ```ts
 * import { ChatChunk, Llm, Message } from "effect-llm-router"
 *
 * // The same ChatResponse that Llm.chat returns, read from a stream.
 * const response = ChatChunk.collect(Llm.chatStream({ messages: [Message.user("Hello")] }))
 * ```
 *
 * @since 0.1.0
 * @category Destructors
 */
export const collect = <E, R>(
  stream: Stream.Stream<ChatChunk, E, R>
): Effect.Effect<ChatResponse, E | StreamTruncatedError, R> =>
  Effect.suspend(() => {
    const accumulator = makeAccumulator()
    return Stream.runForEachArray(stream, (chunk) =>
      Effect.sync(() => {
        for (const item of chunk) accumulator.add(item)
      })).pipe(
        Effect.flatMap(() => {
          const response = accumulator.response()
          return response === undefined
            ? Effect.fail(
              new StreamTruncatedError({
                provider: "unknown",
                model: "unknown",
                detail: "the stream ended without a Finish chunk"
              })
            )
            : Effect.succeed(response)
        })
      )
  })

/**
 * The chunks that replay a whole response as a stream (a cache hit, a mock); `collect` gives back an equal response.

 *
 * @example
 * ```ts
 * import { Stream } from "effect"
 * import { ChatChunk, type ChatResponse } from "effect-llm-router"
 *
 * declare const stored: ChatResponse.ChatResponse
 *
 * // Replay a stored reply to a client that asked for a stream.
 * const replay = Stream.fromIterable(ChatChunk.fromResponse(stored))
 * const again = ChatChunk.collect(replay) // succeeds with a response equal to `stored`
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const fromResponse = (response: ChatResponse): ReadonlyArray<ChatChunk> => {
  const chunks: Array<ChatChunk> = []
  if (response.reasoning !== undefined) chunks.push({ _tag: "ReasoningDelta", text: response.reasoning })
  if (response.text !== "") chunks.push({ _tag: "TextDelta", text: response.text })
  response.toolCalls.forEach((call, index) =>
    chunks.push({
      _tag: "ToolCallDelta",
      index,
      id: call.id,
      name: call.name,
      arguments: call.arguments,
      ...definedFields({ providerMetadata: call.providerMetadata })
    })
  )
  chunks.push({ _tag: "Usage", usage: response.usage })
  chunks.push({
    _tag: "Finish",
    finishReason: response.finishReason,
    id: response.id,
    model: response.model,
    provider: response.provider,
    latency: response.latency,
    ...definedFields(Struct.pick(response, extras))
  })
  return chunks
}
