/**
 * The main service: chat with a model through a key pool and a rate limiter,
 * retrying what can succeed, and always reporting usage.
 *
 * `chat` = take a rate permit -> take the least-loaded key -> call the provider ->
 * report the outcome to the key pool -> retry per the policy -> usage (estimated
 * locally when the provider sent none) and its cost (`Options.price`).
 * `chatStream` does the same, retrying only until the first chunk has arrived:
 * after that a failure fails the stream; its cost is on the `Finish` chunk.
 * Interrupting a call, or the consumer of a stream, aborts the HTTP request and
 * frees the key and the permit.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse, Usage } from "./ChatResponse.js"
import * as Deadline from "./internal/deadline.js"
import * as StreamOpen from "./internal/streamOpen.js"
import { estimateUsage } from "./internal/tokenEstimate.js"
import * as KeyPool from "./KeyPool.js"
import * as Pricing from "./Pricing.js"
import { InvalidRequestError, type LlmError, NoCapacityError, StreamTruncatedError, TimeoutError } from "./LlmError.js"
import { ProviderClient } from "./ProviderClient.js"
import * as RateLimiter from "./RateLimiter.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly chat: (request: ChatRequest) => Effect.Effect<ChatResponse, LlmError>
  readonly chatStream: (request: ChatRequest) => Stream.Stream<ChatChunk.ChatChunk, LlmError>
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class Llm extends Context.Tag("effect-llm-router/Llm")<Llm, Service>() {}

/**
 * @since 0.1.0
 * @category Accessors
 */
export const chat = (request: ChatRequest): Effect.Effect<ChatResponse, LlmError, Llm> =>
  Effect.flatMap(Llm, (llm) => llm.chat(request))

/**
 * @since 0.1.0
 * @category Accessors
 */
export const chatStream = (request: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError, Llm> =>
  Stream.unwrap(Effect.map(Llm, (llm) => llm.chatStream(request)))

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options {
  /** The model of requests that name none. Default: the provider client's default. */
  readonly model?: string
  /** The retry policy. Default: `RetryPolicy.make()` (3 retries, backoff from 500 millis). */
  readonly retry?: RetryPolicy.RetryPolicy
  /**
   * One bound on a call with all its retries (for a stream: until its first
   * chunk); past it the call fails with `TimeoutError`. A `Router`'s deadline,
   * when sooner, bounds it too. Default: 10 minutes.
   */
  readonly deadline?: Duration.DurationInput
  /**
   * The price of this service's calls, which sets `cost` on every response
   * (on a stream's `Finish` chunk). Default: the built-in price of the model
   * that answered (`Pricing.lookup(response.model)`), else of the requested
   * model; when neither is known, responses carry no cost.
   */
  readonly price?: Pricing.Price
}

// The request bucket is charged one token per attempt.
const attemptCost = 1

const withModel = (request: ChatRequest, model: string | undefined): ChatRequest =>
  request.model !== undefined || model === undefined ? request : { ...request, model }

const isMissing = (usage: Usage | undefined) => usage === undefined || usage.totalTokens === 0

/**
 * Builds the service from a `ProviderClient`, a `KeyPool` and a `RateLimiter`.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options?: Options): Effect.Effect<Service, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Effect.gen(function*() {
    const client = yield* ProviderClient
    const pool = yield* KeyPool.KeyPool
    const limiter = yield* RateLimiter.RateLimiter
    const policy = options?.retry ?? RetryPolicy.make()
    const deadline = Duration.decode(options?.deadline ?? "10 minutes")

    const spanAttributes = (request: ChatRequest) => ({
      "gen_ai.system": client.provider,
      "gen_ai.request.model": request.model ?? ""
    })

    // Runs attempts under the retry policy and the deadline. When rotation has
    // used up every key (the pool answers NoCapacityError right after a rate
    // limit or a rejected key), the provider's own error is what the caller can
    // act on, so it is the one returned.
    const retrying = <A>(request: ChatRequest, attemptOnce: (attempt: number) => Effect.Effect<A, LlmError>) =>
      Effect.suspend(() => {
        let attempts = 0
        let rotatedBy: LlmError | undefined
        return Effect.suspend(() => attemptOnce(++attempts)).pipe(
          Effect.tapError((error) =>
            Effect.sync(() => {
              if (RetryPolicy.rotatesKey(error)) rotatedBy = error
            })
          ),
          Effect.retry(policy),
          (effect) =>
            Deadline.within(effect, deadline, Deadline.of(request), (timeout) =>
              new TimeoutError({
                provider: client.provider,
                model: request.model ?? "",
                timeout,
                detail: "the call's deadline passed, retries included"
              })),
          Effect.mapError((error): LlmError =>
            error._tag !== "NoCapacityError"
              ? error
              : rotatedBy ?? (error.model === "" && request.model !== undefined
                ? new NoCapacityError({ ...error, model: request.model })
                : error)
          )
        )
      })

    // Holds, inside `scope` so that closing it frees them: the request's estimated
    // tokens in the tokens-per-minute budget (when the limiter has one), a rate
    // permit, and a key. The budget comes first so the request token is taken
    // right before the call.
    const acquire = (scope: Scope.Scope, attempt: number, request: ChatRequest) =>
      Effect.gen(function*() {
        const reservation = yield* limiter.reserve(RateLimiter.estimateTokens(request)).pipe(
          Effect.mapError((error) =>
            new InvalidRequestError({
              provider: client.provider,
              model: request.model ?? "",
              code: "tokens_per_minute_exceeded",
              detail: error.message
            })
          )
        )
        yield* limiter.permit(attemptCost).pipe(Effect.orDie, Scope.extend(scope))
        const lease = yield* Scope.extend(pool.acquire, scope)
        yield* Scope.addFinalizerExit(scope, (exit) => pool.report(lease, outcomeOf(exit)))
        yield* Effect.annotateCurrentSpan({ "llm.attempt": attempt, "llm.key_id": lease.credentials.keyId })
        return { lease, reservation }
      })

    // Settles the budget with the tokens the provider counted; with no usage
    // reported, the estimate stays spent.
    const reconcile = (reservation: RateLimiter.Reservation, usage: Usage | undefined) =>
      isMissing(usage) ? Effect.void : limiter.reconcile(reservation, usage!.totalTokens)

    // Built-in prices are looked up once per model name.
    const builtInPrices = new Map<string, Pricing.Price | undefined>()
    const builtInPrice = (model: string) => {
      if (!builtInPrices.has(model)) builtInPrices.set(model, Pricing.lookup(model))
      return builtInPrices.get(model)
    }
    const costOf = (request: ChatRequest, model: string, usage: Usage) =>
      Pricing.cost(
        options?.price ?? builtInPrice(model) ?? (request.model === undefined ? undefined : builtInPrice(request.model)),
        usage
      )
    const withCost = (request: ChatRequest, response: ChatResponse): ChatResponse => {
      const cost = costOf(request, response.model, response.usage)
      return cost === undefined ? response : { ...response, cost }
    }

    const withFinishCost = (request: ChatRequest, finish: ChatChunk.Finish, usage: Usage): ChatChunk.Finish => {
      const cost = costOf(request, finish.model, usage)
      return cost === undefined ? finish : { ...finish, cost }
    }

    const settleUsage = (request: ChatRequest, response: ChatResponse): Effect.Effect<ChatResponse> =>
      isMissing(response.usage)
        ? Effect.map(estimateUsage(request, response), (usage) => withCost(request, { ...response, usage }))
        : Effect.succeed(withCost(request, response))

    const annotateUsage = (usage: Usage) =>
      Effect.annotateCurrentSpan({
        "gen_ai.usage.input_tokens": usage.promptTokens,
        "gen_ai.usage.output_tokens": usage.completionTokens
      })

    const chat = (input: ChatRequest): Effect.Effect<ChatResponse, LlmError> => {
      const request = withModel(input, options?.model)
      const once = (attempt: number) =>
        Effect.scopeWith((scope) =>
          Effect.flatMap(acquire(scope, attempt, request), ({ lease, reservation }) =>
            Effect.tap(client.chat(request, lease.credentials), (response) => reconcile(reservation, response.usage)))
        ).pipe(Effect.scoped, Effect.withSpan("Llm.attempt", { attributes: spanAttributes(request), captureStackTrace: false }))
      return retrying(request, once).pipe(
        Effect.flatMap((response) => settleUsage(request, response)),
        Effect.tap((response) => annotateUsage(response.usage)),
        Effect.withSpan("Llm.chat", { attributes: spanAttributes(request), captureStackTrace: false })
      )
    }

    // One attempt at a stream: everything it holds lives in its own scope, which
    // is closed at once when the attempt fails before its first chunk, and
    // otherwise handed to the consumer's stream.
    const openStream = (request: ChatRequest, attempt: number) =>
      StreamOpen.open(
        (scope) =>
          Effect.map(acquire(scope, attempt, request), ({ lease, reservation }) => ({
            stream: client.chatStream(request, lease.credentials),
            extra: reservation
          })),
        () => new StreamTruncatedError({ provider: client.provider, model: request.model ?? "", detail: "the stream ended before any chunk" })
      ).pipe(Effect.withSpan("Llm.attempt", { attributes: spanAttributes(request), captureStackTrace: false }))

    const chatStream = (input: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> => {
      const request = withModel(input, options?.model)
      const opened = Effect.uninterruptibleMask((restore) =>
        restore(retrying(request, (attempt) => openStream(request, attempt))).pipe(
          Effect.tap(({ scope }) => Effect.addFinalizer((exit) => Scope.close(scope, exit)))
        )
      )
      return Stream.unwrapScoped(
        Effect.map(opened, (stream) => settleStreamUsage(request, stream.extra, StreamOpen.rest(stream)))
      ).pipe(Stream.withSpan("Llm.chatStream", { attributes: spanAttributes(request) }))
    }

    // At the Finish chunk: settles the budget with the provider's usage, or
    // inserts an estimated Usage chunk before Finish when the provider sent none;
    // and puts the cost of the final usage on the Finish chunk.
    const settleStreamUsage = (
      request: ChatRequest,
      reservation: RateLimiter.Reservation,
      stream: Stream.Stream<ChatChunk.ChatChunk, LlmError>
    ) =>
      Stream.suspend(() => {
        const accumulator = ChatChunk.makeAccumulator()
        let usage: Usage | undefined
        return Stream.mapChunksEffect(stream, (chunk) => {
          let finish: ChatChunk.Finish | undefined
          for (const item of chunk) {
            if (item._tag === "Usage") usage = item.usage
            else if (item._tag === "Finish") finish = item
            accumulator.add(item)
          }
          if (finish === undefined) return Effect.succeed(chunk)
          if (!isMissing(usage)) {
            const priced = withFinishCost(request, finish, usage!)
            return Effect.as(
              reconcile(reservation, usage),
              priced === finish ? chunk : Chunk.map(chunk, (item) => (item === finish ? priced : item))
            )
          }
          const done = accumulator.response()!
          return Effect.map(estimateUsage(request, done), (estimated): Chunk.Chunk<ChatChunk.ChatChunk> => {
            const before = Chunk.filter(chunk, (item) => item._tag !== "Finish" && item._tag !== "Usage")
            return Chunk.appendAll(
              before,
              Chunk.fromIterable<ChatChunk.ChatChunk>([
                { _tag: "Usage", usage: estimated },
                withFinishCost(request, finish, estimated)
              ])
            )
          })
        })
      })

    // Its calls are bounded by a deadline handed down by a Router, so the router needs no timer of its own.
    return Deadline.honour(Llm.of({ chat, chatStream }))
  })

// Every scope an attempt's lease lives in is closed with an exit whose failures
// are LlmErrors: the call's own, or the stream's.
const outcomeOf = (exit: Exit.Exit<unknown, unknown>): KeyPool.Outcome => exit as Exit.Exit<unknown, LlmError>

/**
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options?: Options): Layer.Layer<Llm, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Layer.effect(Llm, make(options))
