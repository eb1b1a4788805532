/**
 * An `Llm` for your application's tests: it answers from a script, or from a
 * function, and records every request it saw. Swap it for the real layer:
 *
 * ```ts
 * const test = LlmTest.layer([LlmTest.reply("Paris"), new LlmError.RateLimitError({ provider: "test", model: "m" })])
 * // One provide around the program and the read: each provide builds a new layer with an empty record.
 * Effect.gen(function*() {
 *   yield* program
 *   const seen = yield* LlmTest.requests
 * }).pipe(Effect.provide(test))
 * ```
 *
 * `embed` answers from the same script (`LlmTest.embedding([[0.1, 0.2]])`); its requests are in `embeddingRequests`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "./ChatResponse.js"
import type { EmbeddingResponse, EmbeddingUsage, Input as EmbeddingRequest } from "./Embedding.js"
import { estimatedPromptTokens } from "./internal/promptSize.js"
import * as Llm from "./Llm.js"
import type { LlmError } from "./LlmError.js"
import type { ToolCall } from "./Message.js"

/**
 * What one call answers: a whole response, a list of chunks (for streams; `chat`
 * collects them), embeddings (for `embed`), or an error.
 *
 * @since 0.1.0
 * @category Models
 */
export type Answer =
  | ChatResponse
  | { readonly chunks: ReadonlyArray<ChatChunk.ChatChunk> }
  | EmbeddingResponse
  | LlmError

/**
 * What one `embed` call answers: embeddings or an error.
 *
 * @since 0.1.0
 * @category Models
 */
export type EmbeddingAnswer = EmbeddingResponse | LlmError

/**
 * The recorder: the requests the test `Llm` has seen, in order.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const seen = Effect.gen(function*() {
 *   yield* Llm.chat({ messages: [Message.user("Hi")] })
 *   const recorder = yield* LlmTest.LlmTest
 *   return yield* recorder.requests
 * }).pipe(Effect.provide(LlmTest.layer([LlmTest.reply("Hello!")])))
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class LlmTest extends Context.Service<LlmTest, {
  readonly requests: Effect.Effect<ReadonlyArray<ChatRequest>>
  readonly embeddingRequests: Effect.Effect<ReadonlyArray<EmbeddingRequest>>
}>()("effect-llm-router/LlmTest") {}

/**
 * The requests seen so far.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const test = Effect.gen(function*() {
 *   yield* Llm.chat({ messages: [Message.user("Capital of France?")], temperature: 0 })
 *   const [request] = yield* LlmTest.requests
 *   return request?.temperature // 0
 * }).pipe(Effect.provide(LlmTest.layer([LlmTest.reply("Paris")])))
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const requests: Effect.Effect<ReadonlyArray<ChatRequest>, never, LlmTest> = LlmTest.use((test) => test.requests)

/**
 * The `embed` requests seen so far.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const test = Effect.gen(function*() {
 *   yield* Llm.embed({ input: ["red", "blue"] })
 *   const [request] = yield* LlmTest.embeddingRequests
 *   return request?.input // ["red", "blue"]
 * }).pipe(Effect.provide(LlmTest.layer([LlmTest.embedding([[0.1, 0.2], [0.3, 0.4]])])))
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export const embeddingRequests: Effect.Effect<ReadonlyArray<EmbeddingRequest>, never, LlmTest> = LlmTest.use((test) =>
  test.embeddingRequests
)

/**
 * Embeddings with the given vectors. Usage defaults to zero; provider and model to `"test"`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * const vectors = Llm.embed({ input: "hello" }).pipe(
 *   Effect.map((response) => response.embeddings),
 *   Effect.provide(
 *     LlmTest.layer([LlmTest.embedding([[0.1, 0.2, 0.3]], { usage: { promptTokens: 1, totalTokens: 1 } })])
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const embedding = (
  embeddings: ReadonlyArray<ReadonlyArray<number>>,
  options?: { readonly usage?: Partial<EmbeddingUsage>; readonly model?: string; readonly provider?: string }
): EmbeddingResponse => ({
  embeddings,
  model: options?.model ?? "test",
  provider: options?.provider ?? "test",
  usage: { promptTokens: 0, totalTokens: 0, estimated: false, ...options?.usage },
  latency: Duration.zero
})

/**
 * A response with the given text (and, optionally, tool calls, finish reason and
 * usage). Usage defaults to zero; provider and model to `"test"`.
 *
 * @example
 * ```ts
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * // A model that asks for a tool, then answers with what it returned.
 * const script = LlmTest.layer([
 *   LlmTest.reply("", { toolCalls: [{ id: "call_1", name: "get_weather", arguments: `{"city":"Paris"}` }] }),
 *   LlmTest.reply("It is 18 degrees in Paris.", { usage: { promptTokens: 40, completionTokens: 9, totalTokens: 49 } })
 * ])
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const reply = (
  text: string,
  options?: {
    readonly toolCalls?: ReadonlyArray<ToolCall>
    readonly finishReason?: FinishReason
    readonly usage?: Partial<Usage>
    readonly model?: string
    readonly provider?: string
    readonly reasoning?: string
  }
): ChatResponse => ({
  id: "test",
  model: options?.model ?? "test",
  provider: options?.provider ?? "test",
  text,
  ...(options?.reasoning !== undefined ? { reasoning: options.reasoning } : {}),
  toolCalls: options?.toolCalls ?? [],
  finishReason: options?.finishReason ?? ((options?.toolCalls?.length ?? 0) > 0 ? "tool_calls" : "stop"),
  usage: {
    promptTokens: 0,
    completionTokens: 0,
    totalTokens: 0,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    estimated: false,
    ...options?.usage
  },
  latency: Duration.zero
})

const isError = (answer: Answer): answer is LlmError => "_tag" in answer

const isEmbedding = (answer: Answer): answer is EmbeddingResponse => "embeddings" in answer

const wrongKind = (call: string, answer: Answer) =>
  Effect.die(
    new Error(
      `LlmTest: ${call === "embed" ? "an" : "a"} ${call} call was answered with ${
        isEmbedding(answer) ? "embeddings" : "a chat reply"
      }; script the right kind of answer`
    )
  )

const asResponse = (answer: Answer): Effect.Effect<ChatResponse, LlmError> =>
  isError(answer)
    ? Effect.fail(answer)
    : isEmbedding(answer)
    ? wrongKind("chat", answer)
    : "chunks" in answer
    ? ChatChunk.collect(Stream.fromIterable(answer.chunks))
    : Effect.succeed(answer)

const asStream = (answer: Answer): Stream.Stream<ChatChunk.ChatChunk, LlmError> =>
  isError(answer)
    ? Stream.fail(answer)
    : isEmbedding(answer)
    ? Stream.fromEffect(wrongKind("chatStream", answer))
    : "chunks" in answer
    ? Stream.fromIterable(answer.chunks)
    : Stream.fromIterable(ChatChunk.fromResponse(answer))

const asEmbedding = (answer: Answer): Effect.Effect<EmbeddingResponse, LlmError> =>
  isError(answer) ? Effect.fail(answer) : isEmbedding(answer) ? Effect.succeed(answer) : wrongKind("embed", answer)

/**
 * An `Llm` that answers each chat call with `handler` and each `embed` call with `options.embed` (without it, an
 * `embed` call is a defect), plus the recorder. `countTokens` counts locally.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { LlmError, Message } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * // Echoes the last message; refuses long prompts as a provider would.
 * const echo = LlmTest.fromHandler((request) => {
 *   const text = Message.textOf(request.messages.at(-1)?.content ?? "")
 *   return Effect.succeed(
 *     text.length > 1_000
 *       ? new LlmError.ContextLengthError({ provider: "test", model: "test", contextWindow: 1_000 })
 *       : LlmTest.reply(text)
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const fromHandler = (
  handler: (request: ChatRequest) => Effect.Effect<Answer>,
  options?: { readonly embed?: (request: EmbeddingRequest) => Effect.Effect<Answer> }
): Layer.Layer<Llm.Llm | LlmTest> =>
  Layer.unwrap(
    Effect.map(
      Effect.zip(Ref.make<ReadonlyArray<ChatRequest>>([]), Ref.make<ReadonlyArray<EmbeddingRequest>>([])),
      ([seen, seenEmbeddings]) => {
        const answer = (request: ChatRequest) =>
          Effect.andThen(Ref.update(seen, (all) => [...all, request]), handler(request))
        const embedHandler = options?.embed
        const embed = (request: EmbeddingRequest) =>
          Effect.andThen(
            Ref.update(seenEmbeddings, (all) => [...all, request]),
            embedHandler === undefined
              ? Effect.die(new Error("LlmTest: embed was called but the layer has no embed handler"))
              : Effect.flatMap(embedHandler(request), asEmbedding)
          )
        return Layer.merge(
          Layer.succeed(
            Llm.Llm,
            Llm.Llm.of({
              chat: (request) => Effect.flatMap(answer(request), asResponse),
              chatStream: (request) => Stream.unwrap(Effect.map(answer(request), asStream)),
              embed,
              // Counted locally, as for a provider without a counting endpoint; no answer of the script is used.
              countTokens: (request) => Effect.succeed({ inputTokens: estimatedPromptTokens(request), estimated: true })
            })
          ),
          Layer.succeed(LlmTest, { requests: Ref.get(seen), embeddingRequests: Ref.get(seenEmbeddings) })
        )
      }
    )
  )

/**
 * An `Llm` that answers calls (`chat`, `chatStream` and `embed` alike) in order from `script`. A call past the end of
 * the script, or answered with the wrong kind of answer, is a defect: the test asked for something it did not script.

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, LlmError, Message } from "effect-llm-router"
 * import { LlmTest } from "effect-llm-router/testing"
 *
 * // The first call is rate limited, the second answers.
 * const test = Llm.chat({ messages: [Message.user("Hi")] }).pipe(
 *   Effect.retry({ times: 1 }),
 *   Effect.provide(LlmTest.layer([
 *     new LlmError.RateLimitError({ provider: "test", model: "test" }),
 *     LlmTest.reply("Hello!")
 *   ]))
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (script: ReadonlyArray<Answer>): Layer.Layer<Llm.Llm | LlmTest> =>
  Layer.unwrap(
    Effect.map(Ref.make(0), (next) => {
      const nextAnswer = Effect.flatMap(Ref.getAndUpdate(next, (n) => n + 1), (n) => {
        const answer = script[n]
        return answer === undefined
          ? Effect.die(new Error(`LlmTest: call ${n + 1} has no answer; the script has ${script.length}`))
          : Effect.succeed(answer)
      })
      return fromHandler(() => nextAnswer, { embed: () => nextAnswer })
    })
  )
