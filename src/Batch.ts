/**
 * Many requests as one provider batch, at its batch price (half the standard one for these providers): submitted where
 * the provider has a batch API (`ProviderClient.batch`), polled on a `Schedule` until it ends, and each request's
 * `ChatResponse` or typed error given back in order. Where the provider has none, the requests run as `Llm` calls a
 * few at a time, at the standard price.
 *
 * A request's failure is a value among the results, never the batch's: the provider's error for that line, or
 * `BatchLineError` for a line it never answered. The batch itself fails only when it cannot be made (an invalid
 * request, a refused submission or poll, `BatchError`). A batch whose consumer is interrupted is cancelled at the
 * provider. See docs/batch.md.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import * as Run from "./internal/batch/run.js"
import { envOf } from "./internal/llm/service.js"
import * as KeyPool from "./KeyPool.js"
import type * as Llm from "./Llm.js"
import type { LlmError } from "./LlmError.js"
import { ProviderClient } from "./ProviderClient.js"
import type { BatchState } from "./ProviderClient.js"
import * as RateLimiter from "./RateLimiter.js"

/**
 * A line the provider never answered: `missing` from a batch's result file, or not run because the batch `expired`
 * (its completion window passed) or was `cancelled`. `index` is the request's place in the list.
 *
 * @since 0.3.0
 * @category Errors
 */
export class BatchLineError extends Schema.TaggedError<BatchLineError>()("BatchLineError", {
  provider: Schema.String,
  model: Schema.String,
  batchId: Schema.String,
  index: Schema.Number,
  reason: Schema.Literals(["missing", "expired", "cancelled"])
}) {
  override get message() {
    const why = this.reason === "missing"
      ? "is missing from the batch's results"
      : this.reason === "expired"
      ? "was not run before the batch expired"
      : "was not run: the batch was cancelled"
    return `${this.provider} (${this.model}): request ${this.index} of batch ${this.batchId} ${why}. ` +
      "Send it again, in a new batch or as a call."
  }
}

/**
 * A batch the provider will not run (`refused`: its input did not validate, or the batch failed as a whole), with
 * the provider's reason.
 *
 * @since 0.3.0
 * @category Errors
 */
export class BatchError extends Schema.TaggedError<BatchError>()("BatchError", {
  provider: Schema.String,
  model: Schema.String,
  batchId: Schema.String,
  reason: Schema.Literal("refused"),
  detail: Schema.String
}) {
  override get message() {
    return `${this.provider} (${this.model}) refused batch ${this.batchId}: ${this.detail}. ` +
      "Fix the requests it names and submit the batch again."
  }
}

/**
 * One request's outcome: its reply, at the batch price, or its error.
 *
 * @since 0.3.0
 * @category Models
 */
export type Outcome = Result.Result<ChatResponse, LlmError | BatchLineError>

/**
 * A request's outcome with its place in the list.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Line {
  readonly _tag: "Line"
  readonly index: number
  readonly result: Outcome
}

/**
 * Where a batch is: the provider's id of it (none when run as calls), its state and its counts of lines.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Progress {
  readonly _tag: "Progress"
  readonly batchId: string | undefined
  readonly state: BatchState
  readonly total: number
  readonly succeeded: number
  readonly failed: number
}

/**
 * What `events` gives: progress as it goes, and each line.
 *
 * @since 0.3.0
 * @category Models
 */
export type Event = Progress | Line

/**
 * Options of `make` and `layer`: an `Llm`'s (the retry policy and deadline apply when the requests run as calls), and
 * how the batch is polled and run.

 *
 * @since 0.3.0
 * @category Models
 */
export interface Options extends Llm.Options {
  /**
   * How often a provider batch is asked how it goes, a `Duration` between polls or a `Schedule` (it ends the
   * polling when it ends: the batch is then read as it stands). Default: every 30 seconds.
   */
  readonly poll?: Duration.Input | Schedule.Schedule<unknown> | undefined
  /** How many requests run at once where the provider has no batch API. Default: 4. */
  readonly concurrency?: number | undefined
}

/**
 * @since 0.3.0
 * @category Models
 */
export interface Service {
  /** Each request's outcome, in order, once the batch has ended. */
  readonly run: (requests: ReadonlyArray<ChatRequest>) => Effect.Effect<ReadonlyArray<Outcome>, LlmError | BatchError>
  /** Each request's line, as the provider gives it (when the batch ends) or as its call completes. */
  readonly stream: (requests: ReadonlyArray<ChatRequest>) => Stream.Stream<Line, LlmError | BatchError>
  /** The batch's progress at every poll (or completed call) and each request's line. */
  readonly events: (requests: ReadonlyArray<ChatRequest>) => Stream.Stream<Event, LlmError | BatchError>
}

/**
 * The service's tag.
 *
 * @since 0.3.0
 * @category Tags
 */
export class Batch extends Context.Service<Batch, Service>()("effect-llm-router/Batch") {}

function scheduleOf(poll: Options["poll"]): Schedule.Schedule<unknown> {
  if (poll === undefined) return Schedule.spaced("30 seconds")
  return Schedule.isSchedule(poll) ? poll : Schedule.spaced(Duration.fromInputUnsafe(poll))
}

/**
 * Builds the service over a `ProviderClient`, a `KeyPool` and a `RateLimiter`, as `Llm.make` is built.
 *
 * @example
 * ```ts
 * import { Effect, Result } from "effect"
 * import { Batch, Message } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const batch = yield* Batch.make({ model: "claude-haiku-4-5", poll: "1 minute" })
 *   const outcomes = yield* batch.run([
 *     { messages: [Message.user("Name a colour.")] },
 *     { messages: [Message.user("Name a fruit.")] }
 *   ])
 *   return outcomes.map((outcome) => Result.isSuccess(outcome) ? outcome.success.text : outcome.failure._tag)
 * })
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const make = (
  options?: Options
): Effect.Effect<Service, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Effect.gen(function*() {
    const env = envOf(options, yield* ProviderClient, yield* KeyPool.KeyPool, yield* RateLimiter.RateLimiter)
    const settings: Run.Settings = {
      env,
      poll: scheduleOf(options?.poll),
      concurrency: Math.max(1, options?.concurrency ?? Run.callConcurrency)
    }
    return Batch.of({
      run: (requests) => Run.run(settings, requests),
      stream: (requests) =>
        Stream.filter(Run.events(settings, requests), (event): event is Line => event._tag === "Line"),
      events: (requests) => Run.events(settings, requests)
    })
  })

/**
 * `make` as a layer.
 *
 * @example
 * ```ts
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { Anthropic, Batch, KeyPool, RateLimiter } from "effect-llm-router"
 *
 * const Batches = Batch.layer({ model: "claude-haiku-4-5" }).pipe(
 *   Layer.provide(Anthropic.layer()),
 *   Layer.provide(KeyPool.layer({ providerId: "anthropic", keys: [process.env.ANTHROPIC_API_KEY!] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.layer({ capacity: 20, refillRate: 3 })),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layer = (
  options?: Options
): Layer.Layer<Batch, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Layer.effect(Batch, make(options))

/**
 * Runs the requests as one batch with the `Batch` in context: each one's outcome, in order.
 *
 * @example
 * ```ts
 * import { Effect, Result } from "effect"
 * import { Batch, Message } from "effect-llm-router"
 *
 * const dollars = Batch.run([{ messages: [Message.user("Hi")] }]).pipe(
 *   Effect.map((outcomes) =>
 *     outcomes.reduce((sum, outcome) => sum + (Result.isSuccess(outcome) ? outcome.success.cost ?? 0 : 0), 0)
 *   )
 * )
 * ```
 *
 * @since 0.3.0
 * @category Accessors
 */
export const run = (
  requests: ReadonlyArray<ChatRequest>
): Effect.Effect<ReadonlyArray<Outcome>, LlmError | BatchError, Batch> =>
  Effect.flatMap(Batch, (batch) => batch.run(requests))

/**
 * The requests' lines from the `Batch` in context, as they come.
 *
 * @example
 * ```ts
 * import { Effect, Result, Stream } from "effect"
 * import { Batch, Message } from "effect-llm-router"
 *
 * const program = Batch.stream([{ messages: [Message.user("Hi")] }]).pipe(
 *   Stream.runForEach((line) =>
 *     Effect.log(line.index, Result.isSuccess(line.result) ? line.result.success.text : line.result.failure.message)
 *   )
 * )
 * ```
 *
 * @since 0.3.0
 * @category Accessors
 */
export const stream = (requests: ReadonlyArray<ChatRequest>): Stream.Stream<Line, LlmError | BatchError, Batch> =>
  Stream.unwrap(Effect.map(Batch, (batch) => batch.stream(requests)))

/**
 * The batch's progress and lines from the `Batch` in context.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Batch, Message } from "effect-llm-router"
 *
 * const program = Batch.events([{ messages: [Message.user("Hi")] }]).pipe(
 *   Stream.runForEach((event) =>
 *     event._tag === "Progress" ? Effect.log(`${event.succeeded + event.failed} of ${event.total}`) : Effect.void
 *   )
 * )
 * ```
 *
 * @since 0.3.0
 * @category Accessors
 */
export const events = (requests: ReadonlyArray<ChatRequest>): Stream.Stream<Event, LlmError | BatchError, Batch> =>
  Stream.unwrap(Effect.map(Batch, (batch) => batch.events(requests)))
