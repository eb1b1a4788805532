/**
 * An `Llm` for your application's tests: it answers from a script, or from a
 * function, and records every request it saw. Swap it for the real layer:
 *
 * ```ts
 * const test = LlmTest.layer([LlmTest.reply("Paris"), new LlmError.RateLimitError({ provider: "test", model: "m" })])
 * program.pipe(Effect.provide(test))
 * // later: const seen = yield* LlmTest.requests
 * ```
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
import * as Llm from "./Llm.js"
import type { LlmError } from "./LlmError.js"
import type { ToolCall } from "./Message.js"

/**
 * What one call answers: a whole response, a list of chunks (for streams; `chat`
 * collects them), or an error.
 *
 * @since 0.1.0
 * @category Models
 */
export type Answer = ChatResponse | { readonly chunks: ReadonlyArray<ChatChunk.ChatChunk> } | LlmError

/**
 * The recorder: the requests the test `Llm` has seen, in order.
 *
 * @since 0.1.0
 * @category Tags
 */
export class LlmTest extends Context.Tag("effect-llm-router/LlmTest")<LlmTest, {
  readonly requests: Effect.Effect<ReadonlyArray<ChatRequest>>
}>() {}

/**
 * The requests seen so far.
 *
 * @since 0.1.0
 * @category Accessors
 */
export const requests: Effect.Effect<ReadonlyArray<ChatRequest>, never, LlmTest> = Effect.flatMap(
  LlmTest,
  (test) => test.requests
)

/**
 * A response with the given text (and, optionally, tool calls, finish reason and
 * usage). Usage defaults to zero; provider and model to `"test"`.
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

const asResponse = (answer: Answer): Effect.Effect<ChatResponse, LlmError> =>
  isError(answer)
    ? Effect.fail(answer)
    : "chunks" in answer
    ? ChatChunk.collect(Stream.fromIterable(answer.chunks))
    : Effect.succeed(answer)

const asStream = (answer: Answer): Stream.Stream<ChatChunk.ChatChunk, LlmError> =>
  isError(answer)
    ? Stream.fail(answer)
    : "chunks" in answer
    ? Stream.fromIterable(answer.chunks)
    : Stream.fromIterable(ChatChunk.fromResponse(answer))

/**
 * An `Llm` that answers each call with the result of `handler`, plus the recorder.
 *
 * @since 0.1.0
 * @category Layers
 */
export const fromHandler = (
  handler: (request: ChatRequest) => Effect.Effect<Answer>
): Layer.Layer<Llm.Llm | LlmTest> =>
  Layer.unwrapEffect(
    Effect.map(Ref.make<ReadonlyArray<ChatRequest>>([]), (seen) => {
      const answer = (request: ChatRequest) => Effect.zipRight(Ref.update(seen, (all) => [...all, request]), handler(request))
      return Layer.merge(
        Layer.succeed(
          Llm.Llm,
          Llm.Llm.of({
            chat: (request) => Effect.flatMap(answer(request), asResponse),
            chatStream: (request) => Stream.unwrap(Effect.map(answer(request), asStream))
          })
        ),
        Layer.succeed(LlmTest, { requests: Ref.get(seen) })
      )
    })
  )

/**
 * An `Llm` that answers calls in order from `script`. A call past the end of the
 * script is a defect (the test asked for more than it scripted).
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (script: ReadonlyArray<Answer>): Layer.Layer<Llm.Llm | LlmTest> =>
  Layer.unwrapEffect(
    Effect.map(Ref.make(0), (next) =>
      fromHandler(() =>
        Effect.flatMap(Ref.getAndUpdate(next, (n) => n + 1), (n) => {
          const answer = script[n]
          return answer === undefined
            ? Effect.dieMessage(`LlmTest: call ${n + 1} has no answer; the script has ${script.length}`)
            : Effect.succeed(answer)
        })
      ))
  )
