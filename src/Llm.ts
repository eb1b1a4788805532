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
 * `embed` splits its inputs into batches of the provider's size
 * (`ProviderClient.maxEmbeddingInputs`), sends each batch through the same
 * attempt as `chat` (permit, key, outcome, retry, deadline), a few at a time,
 * and joins the vectors in input order with the usage summed.
 *
 * Under a tracer the application installed, each `chat` and `embed` is a
 * span (`Llm.chat`, `Llm.embed`, with one `Llm.attempt` span per attempt)
 * carrying GenAI attributes: the provider (`gen_ai.system`), the model, the
 * tokens used, and for an attempt its number and the masked key id, never a
 * key. Under Effect's built-in tracer, which exports nothing, no span is made.
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse, Usage } from "./ChatResponse.js"
import * as ChunkSources from "./internal/chunkSource.js"
import * as Deadline from "./internal/deadline.js"
import { timeoutFail } from "./internal/timeout.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "./Embedding.js"
import * as EmbeddingBatches from "./internal/embeddingBatches.js"
import * as StructuredOutput from "./internal/structuredOutput.js"
import { estimateEmbeddingUsage, estimateUsage } from "./internal/tokenEstimate.js"
import * as KeyPool from "./KeyPool.js"
import * as Pricing from "./Pricing.js"
import { InvalidRequestError, type LlmError, NoCapacityError, StreamTruncatedError, TimeoutError } from "./LlmError.js"
import { type Credentials, ProviderClient } from "./ProviderClient.js"
import * as RateLimiter from "./RateLimiter.js"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * The key of `Service`'s optional member that says every call ends by the
 * deadline a `Router` sets for it; a decorator an application writes sets
 * `[Llm.KeepsDeadline]: true` when it adds no wait of its own.
 *
 * @since 0.2.0
 * @category Models
 */
export const KeepsDeadline: typeof Deadline.KeepsDeadline = Deadline.KeepsDeadline

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  readonly chat: (request: ChatRequest) => Effect.Effect<ChatResponse, LlmError>
  readonly chatStream: (request: ChatRequest) => Stream.Stream<ChatChunk.ChatChunk, LlmError>
  /**
   * The vectors of one text or many, in input order. An empty list or an
   * empty text fails with `InvalidRequestError` before any call.
   */
  readonly embed: (request: EmbeddingRequest) => Effect.Effect<EmbeddingResponse, LlmError>
  /**
   * Present when every call ends by the deadline a `Router` sets for it, so
   * the router bounds the call without a timer of its own. `make` and
   * `Router` set it. A decorator that spreads the service it wraps keeps it,
   * which is right as long as the decorator adds no wait of its own.
   */
  readonly [Deadline.KeepsDeadline]?: true | undefined
}

/**
 * @since 0.1.0
 * @category Tags
 */
export class Llm extends Context.Service<Llm, Service>()("effect-llm-router/Llm") {}

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
 * A structured output: the value decoded from the reply, and the reply itself
 * (usage, cost, model, latency).
 *
 * @since 0.1.0
 * @category Models
 */
export interface GeneratedObject<A> {
  readonly value: A
  readonly response: ChatResponse
}

/**
 * Options of `generateObject`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface GenerateObjectOptions {
  /**
   * The schema's name as sent (OpenAI `json_schema.name`, Anthropic's tool
   * name; characters other than letters, digits, `_` and `-` become `_`).
   * Default: the schema's identifier or title annotation, else `"output"`.
   */
  readonly name?: string | undefined
  /** What the output is, for the model. Default: the schema's description annotation, if any. */
  readonly description?: string | undefined
  /** Ask the provider to enforce the schema exactly (OpenAI `strict`). Default: on. */
  readonly strict?: boolean | undefined
}

/**
 * Asks for a reply that follows `schema` and decodes it: the JSON Schema made
 * from the Effect Schema (`JSONSchema.make`) goes as the request's
 * `responseFormat` (each adapter sends it as its provider's structured-output
 * option), and the reply's text is decoded with `schema`. Text that is not
 * JSON, or JSON that fails the schema, fails with `OutputDecodeError`, whose
 * `raw` is the whole text and `detail` the reason; a refusal or a safety cut
 * fails with `ContentFilterError`. Built on `chat`, so it works over any `Llm`
 * (a test one, a router).
 *
 * @since 0.1.0
 * @category Accessors
 */
export const generateObject = <A, I>(
  request: ChatRequest,
  schema: Schema.Codec<A, I>,
  options?: GenerateObjectOptions
): Effect.Effect<GeneratedObject<A>, LlmError, Llm> =>
  Effect.flatMap(
    chat(StructuredOutput.requestFor(request, schema, options)),
    (response) => Effect.map(StructuredOutput.decode(response, schema), (value) => ({ value, response }))
  )

/**
 * @since 0.1.0
 * @category Accessors
 */
export const embed = (request: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError, Llm> =>
  Effect.flatMap(Llm, (llm) => llm.embed(request))

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
   * chunk; for `embed`: each batch); past it the call fails with
   * `TimeoutError`. A `Router`'s deadline, when sooner, bounds it too.
   * Default: 10 minutes.
   */
  readonly deadline?: Duration.Input
  /** How many batches of one `embed` call are in flight at once. Default: 4. */
  readonly embeddingConcurrency?: number
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

/** What the attempt machinery reads of a request (a chat or an embedding batch). */
interface Attempted {
  readonly model?: string | undefined
  readonly timeout?: Duration.Duration | undefined
}

const withModel = <R extends Attempted>(request: R, model: string | undefined): R =>
  request.model !== undefined || model === undefined ? request : { ...request, model }

const isMissing = (usage: Pick<Usage, "totalTokens"> | undefined) => usage === undefined || usage.totalTokens === 0

// Spans only when the application installed a tracer: Effect's built-in one
// exports nothing, and its spans cost a short call a large share of its CPU.
const untraced = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  !fiber.cache.tracerEnabled || fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer

/** `effect` in an `Effect.withSpan` span unless `untraced`, with `done`'s attributes (the tokens) added when it succeeds. */
const traced = <A, E>(
  effect: Effect.Effect<A, E>,
  name: string,
  attributes: Record<string, unknown>,
  done?: (a: A) => Record<string, unknown>
): Effect.Effect<A, E> =>
  Effect.withFiber((fiber) =>
    untraced(fiber) ? effect : Effect.withSpan(
      done === undefined ? effect : Effect.tap(effect, (a) => Effect.annotateCurrentSpan(done(a))),
      name,
      { attributes, ...noStackTrace }
    )
  )

/** When a call's deadline passes (`Clock` milliseconds), and the bound that makes it, for its `TimeoutError`. */
interface Due {
  readonly at: number
  readonly timeout: Duration.Duration
  /** The call's `Clock`, read when an attempt starts. */
  readonly clock: Clock.Clock
}

// A span here is this module's, not the caller's: its stack trace would name this file, at the cost of an `Error` per span.
const noStackTrace = { captureStackTrace: false } as const

type Batch = ChunkSources.Batch

/** The retry policy, stepped by hand: sleeps the policy's delay, fails with `Cause.Done` once it gives up. */
type Step = (error: LlmError) => Effect.Effect<unknown, Cause.Done<unknown>>

/** What one attempt holds until it ends: a rate permit, a key and the token budget it reserved. */
interface Held {
  readonly lease: KeyPool.Lease
  readonly freePermit: Effect.Effect<void>
  readonly reservation: RateLimiter.Reservation | undefined
}

/**
 * A stream's attempt after its first chunk: the provider's pull (the first
 * chunk still in it), the scope it was taken in (closing it aborts the
 * request), and what the attempt holds.
 */
interface Opened {
  readonly pull: Pull.Pull<Batch, LlmError>
  readonly scope: Scope.Closeable
  readonly held: Held
  readonly attemptSpan: Tracer.Span | undefined
}

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
    const deadline = Duration.fromInputUnsafe(options?.deadline ?? "10 minutes")
    const deadlineMillis = Duration.toMillis(deadline)

    // The call's deadline: its own, or a sooner one a `Router` set for it
    // (`Deadline.CallDeadline`, read when the call starts).
    const dueOf = (handedDown: number, clock: Clock.Clock): Due => {
      const now = clock.currentTimeMillisUnsafe()
      const own = now + deadlineMillis
      return handedDown < own
        ? { at: handedDown, timeout: Duration.millis(Math.max(0, handedDown - now)), clock }
        : { at: own, timeout: deadline, clock }
    }

    const deadlineError = (request: Attempted, due: Due) =>
      new TimeoutError({
        provider: client.provider,
        model: request.model ?? "",
        timeout: due.timeout,
        detail: "the call's deadline passed, retries included"
      })

    // Bounds a wait by what is left of the call's deadline. Used only where a
    // wait really happens (a busy limiter or pool, a backoff), so a call that
    // finds a permit and a key at once forks no timer.
    const bounded = <A, E>(effect: Effect.Effect<A, E>, request: Attempted, due: Due) =>
      Effect.clockWith((clock) => {
        const left = due.at - clock.currentTimeMillisUnsafe()
        return left <= 0
          ? Effect.fail(deadlineError(request, due))
          : timeoutFail(effect, Duration.millis(left), () => deadlineError(request, due))
      })

    const budgetError = (request: Attempted) => (error: RateLimiter.RateLimiterCostError) =>
      new InvalidRequestError({
        provider: client.provider,
        model: request.model ?? "",
        code: "tokens_per_minute_exceeded",
        detail: error.message
      })

    // The rate permit and the key, in that order. Runs uninterruptibly; the
    // waits inside stay interruptible and give back what was taken before them.
    // Waits for what `acquire` takes, interruptibly and within the deadline,
    // although the caller holds what it gets uninterruptibly: `acquire` runs in
    // a fiber of its own, and what it takes after the caller stopped waiting
    // (interrupted, or out of time) is given back.
    const waitFor = <A, E>(
      acquire: Effect.Effect<A, E>,
      giveBack: (a: A) => Effect.Effect<void>,
      request: Attempted,
      due: Due
    ): Effect.Effect<A, E | LlmError> =>
      Effect.flatMap(Effect.forkDetach(acquire), (fiber) =>
        Effect.onError(
          Effect.interruptible(bounded(Fiber.join(fiber), request, due)),
          () =>
            Effect.flatMap(
              Effect.andThen(Fiber.interrupt(fiber), Fiber.await(fiber)),
              (exit) => Exit.isSuccess(exit) ? giveBack(exit.value) : Effect.void
            )
        ))

    // A free key at once, or a wait for one that gives the permit back when it fails.
    const takeKey = (request: Attempted, due: Due, freePermit: Effect.Effect<void>) =>
      Effect.flatMap(pool.tryTake, (lease) =>
        lease !== undefined
          ? Effect.succeed(lease)
          : Effect.onError(waitFor(pool.take, (lease) => pool.release(lease, undefined), request, due), () => freePermit))

    // `tokens`: the request's estimate for the tokens-per-minute budget.
    const hold = (request: Attempted, due: Due, tokens: () => number): Effect.Effect<Held, LlmError> => {
      // The request's estimated tokens in the tokens-per-minute budget come first,
      // so the request token is taken right before the call.
      // A reservation cut short by an interruption stays spent, as one the provider never reports on does.
      const permitAndKey = (reservation: RateLimiter.Reservation | undefined) =>
        Effect.flatMap(
          Effect.flatMap(Effect.orDie(limiter.tryTakePermit(attemptCost)), (freePermit) =>
            freePermit !== undefined
              ? Effect.succeed(freePermit)
              : waitFor(Effect.orDie(limiter.takePermit(attemptCost)), identity, request, due)),
          (freePermit) =>
            Effect.map(takeKey(request, due, freePermit), (lease): Held => ({ lease, freePermit, reservation }))
        )
      if (!limiter.hasTokenBudget) return permitAndKey(undefined)
      return Effect.flatMap(
        Effect.interruptible(bounded(Effect.mapError(limiter.reserve(tokens()), budgetError(request)), request, due)),
        permitAndKey
      )
    }

    // Gives back the key (reporting the attempt's outcome) and the permit.
    const letGo = (held: Held, outcome: KeyPool.Outcome | undefined) =>
      Effect.andThen(pool.release(held.lease, outcome), held.freePermit)

    // Settles the budget with the tokens the provider counted; with no usage
    // reported, the estimate stays spent.
    const reconcile = (held: Held, usage: Pick<Usage, "totalTokens"> | undefined) =>
      held.reservation === undefined || isMissing(usage) ? Effect.void : limiter.reconcile(held.reservation, usage!.totalTokens)

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

    // A provider call bounded by what is left of the deadline: by cutting the
    // request's timeout when the client honours one, by a timer otherwise.
    const withinDeadline = <R extends Attempted, A>(
      request: R,
      due: Due,
      call: (request: R) => Effect.Effect<A, LlmError>
    ) =>
      Effect.suspend(() => {
        const left = Math.max(1, due.at - due.clock.currentTimeMillisUnsafe())
        const timeout = request.timeout ?? client.timeout
        if (timeout === undefined) return timeoutFail(call(request), Duration.millis(left), () => deadlineError(request, due))
        return Duration.toMillis(timeout) <= left ? call(request) : call({ ...request, timeout: Duration.millis(left) })
      })

    const spanAttributes = (request: Attempted) => ({
      "gen_ai.system": client.provider,
      "gen_ai.request.model": request.model ?? ""
    })

    const startSpan = (name: string, request: Attempted, parent: Tracer.Span | undefined, extra?: Record<string, unknown>) =>
      Effect.withFiber((fiber) =>
        untraced(fiber)
          ? Effect.succeed<Tracer.Span | undefined>(undefined)
          : Effect.map(
            Effect.makeSpan(name, {
              attributes: { ...spanAttributes(request), ...extra },
              ...(parent !== undefined ? { parent } : {})
            }),
            (span): Tracer.Span | undefined => span
          )
      )

    const endSpan = (span: Tracer.Span | undefined, exit: Exit.Exit<unknown, unknown>) =>
      span === undefined ? Effect.void : Effect.clockWith((clock) => Effect.sync(() => span.end(clock.currentTimeNanosUnsafe(), exit)))

    const annotate = (span: Tracer.Span | undefined, attributes: Record<string, unknown>) => {
      if (span !== undefined) for (const [key, value] of Object.entries(attributes)) span.attribute(key, value)
    }

    const usageAttributes = (usage: Usage) => ({
      "gen_ai.usage.input_tokens": usage.promptTokens,
      "gen_ai.usage.output_tokens": usage.completionTokens
    })

    const withParent = <A, E>(effect: Effect.Effect<A, E>, span: Tracer.Span | undefined) =>
      // No stack trace: the span is this module's own, not the caller's.
      span === undefined ? effect : Effect.withParentSpan(effect, span, noStackTrace)

    // Runs attempts under the retry policy and the deadline. The first attempt
    // runs without the policy's machinery; a failure hands it the error. When
    // rotation has used up every key (the pool answers NoCapacityError right
    // after a rate limit or a rejected key), the provider's own error is what
    // the caller can act on, so it is the one returned.
    const retrying = <A>(
      request: Attempted,
      due: Due,
      attemptOnce: (attempt: number) => Effect.Effect<A, LlmError>
    ): Effect.Effect<A, LlmError> => {
      let rotatedBy: LlmError | undefined
      const settle = (error: LlmError): LlmError => {
        if (error._tag !== "NoCapacityError") return error
        if (rotatedBy !== undefined) return rotatedBy
        return error.model === "" && request.model !== undefined ? new NoCapacityError({ ...error, model: request.model }) : error
      }
      const afterFailure = (
        error: LlmError,
        attempt: number,
        driver: Step | undefined
      ): Effect.Effect<A, LlmError> =>
        Effect.clockWith((clock) => {
          if (RetryPolicy.rotatesKey(error)) rotatedBy = error
          // A request timeout that the deadline cut short is the deadline's.
          if (clock.currentTimeMillisUnsafe() >= due.at) {
            return Effect.fail(error._tag === "TimeoutError" ? deadlineError(request, due) : settle(error))
          }
          const next = driver === undefined ? Schedule.toStepWithSleep(policy) : Effect.succeed(driver)
          return Effect.flatMap(next, (driver) => {
            return Effect.matchEffect(bounded(Effect.result(driver(error)), request, due), {
              onFailure: (timeout) => Effect.fail(timeout),
              onSuccess: (step) =>
                Result.isFailure(step)
                  ? Effect.fail(settle(error))
                  : Effect.catch(attemptOnce(attempt + 1), (again) => afterFailure(again, attempt + 1, driver))
            })
          })
        })
      return Effect.catch(attemptOnce(1), (error) => afterFailure(error, 1, undefined))
    }

    // One attempt of a call answered whole (a chat, an embedding batch): a
    // permit and a key held for the call, its outcome reported with the key.
    // Held uninterruptibly; the provider call runs as the caller does.
    const attemptCall = <R extends Attempted, A extends { readonly usage: Pick<Usage, "totalTokens"> }>(
      request: R,
      due: Due,
      tokens: () => number,
      call: (request: R, credentials: Credentials) => Effect.Effect<A, LlmError>
    ) =>
    (attempt: number): Effect.Effect<A, LlmError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(hold(request, due, tokens), (held) => {
          const send = withinDeadline(request, due, (bound) => call(bound, held.lease.credentials))
          const settled = held.reservation === undefined ? send : Effect.tap(send, (reply) => reconcile(held, reply.usage))
          return Effect.onExit(
            restore(traced(settled, "Llm.attempt", {
              ...spanAttributes(request),
              "llm.attempt": attempt,
              "llm.key_id": held.lease.credentials.keyId
            })),
            (exit) => letGo(held, outcomeOf(exit))
          )
        })
      )

    const chat = (input: ChatRequest): Effect.Effect<ChatResponse, LlmError> => {
      const request = withModel(input, options?.model)
      const answer = Effect.withFiber((fiber) => {
        const due = dueOf(fiber.getRef(Deadline.CallDeadline), fiber.getRef(Clock.Clock))
        return Effect.flatMap(
          retrying(request, due, attemptCall(request, due, () => RateLimiter.estimateTokens(request), client.chat)),
          (response) =>
            isMissing(response.usage)
              ? Effect.map(estimateUsage(request, response), (usage) => withCost(request, { ...response, usage }))
              : Effect.succeed(withCost(request, response))
        )
      })
      return traced(answer, "Llm.chat", spanAttributes(request), (response) => usageAttributes(response.usage))
    }

    // One attempt at a stream: holds a permit and a key, reads the provider's
    // `chatStream` through its own pull, taken in a scope of the attempt's, and
    // waits for its first chunk, all before the deadline. Fails (and lets go of
    // everything, the request first) before the first chunk; after it, the
    // pull and what the attempt holds belong to the stream.
    const openAttempt = (request: ChatRequest, due: Due, callSpan: Tracer.Span | undefined) =>
    (attempt: number) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(hold(request, due, () => RateLimiter.estimateTokens(request)), (held) => {
          const opening = (attemptSpan: Tracer.Span | undefined): Effect.Effect<Opened, LlmError> => {
            const scope = Scope.makeUnsafe()
            return Effect.onError(
              Effect.map(
                restore(withParent(
                  withinDeadline(request, due, (bound) => openFirst(bound, held.lease.credentials, scope)),
                  attemptSpan
                )),
                (pull): Opened => ({ pull, scope, held, attemptSpan })
              ),
              (cause) => {
                const exit = Exit.failCause(cause)
                return Effect.andThen(Scope.close(scope, exit), Effect.andThen(letGo(held, exit), endSpan(attemptSpan, exit)))
              }
            )
          }
          // Untraced (no span for the call): no span for the attempt either.
          if (callSpan === undefined) return opening(undefined)
          return Effect.flatMap(
            startSpan("Llm.attempt", request, callSpan, { "llm.attempt": attempt, "llm.key_id": held.lease.credentials.keyId }),
            opening
          )
        })
      )

    // The provider's stream, read up to its first chunk within the request's
    // timeout (a client's timeout bounds a stream until its first chunk).
    const openFirst = (request: ChatRequest, credentials: Credentials, scope: Scope.Scope) =>
      ChunkSources.openToFirst(client.chatStream(request, credentials), scope, () =>
        new StreamTruncatedError({ provider: client.provider, model: request.model ?? "", detail: "the stream ended before any chunk" }))

    // The stream's source, opened up to its first chunk: retried before it,
    // settled (key, permit, budget, cost) after it.
    const openSource = (input: ChatRequest): Effect.Effect<ChunkSources.ChunkSource, LlmError> => {
      const request = withModel(input, options?.model)
      const opened = (due: Due, callSpan: Tracer.Span | undefined) =>
        Effect.map(retrying(request, due, openAttempt(request, due, callSpan)), (opened) =>
          settledSource(request, opened, callSpan))
      return Effect.withFiber<ChunkSources.ChunkSource, LlmError>((fiber) => {
        const due = dueOf(fiber.getRef(Deadline.CallDeadline), fiber.getRef(Clock.Clock))
        if (untraced(fiber)) return opened(due, undefined)
        return Effect.flatMap(startSpan("Llm.chatStream", request, undefined), (callSpan) =>
          Effect.onError(opened(due, callSpan), (cause) => endSpan(callSpan, Exit.failCause(cause))))
      })
    }

    // A stream whose pull is its source's own: a caller that reads it through
    // its channel's pull (a `Router`) gets that pull, with no stream around it.
    const chatStream = (input: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> =>
      ChunkSources.streamFromSource(openSource(input))

    // The stream after its first chunk: settles the token budget at the Finish
    // chunk (or inserts an estimated Usage chunk before Finish when the provider
    // sent none), puts the cost of the final usage on the Finish chunk, and on
    // close gives back the key with the stream's outcome.
    const settledSource = (
      request: ChatRequest,
      opened: Opened,
      callSpan: Tracer.Span | undefined
    ): ChunkSources.ChunkSource => {
      const { attemptSpan, held, scope } = opened
      const accumulator = ChatChunk.makeAccumulator()
      let usage: Usage | undefined
      let outcome: Exit.Exit<unknown, LlmError> = Exit.void
      const settle = (chunk: Batch): Effect.Effect<Batch> => {
        let finish: ChatChunk.Finish | undefined
        for (const item of chunk) {
          if (item._tag === "Usage") usage = item.usage
          else if (item._tag === "Finish") finish = item
          accumulator.add(item)
        }
        if (finish === undefined) return Effect.succeed(chunk)
        if (!isMissing(usage)) {
          annotate(callSpan, usageAttributes(usage!))
          const priced = withFinishCost(request, finish, usage!)
          return Effect.as(
            reconcile(held, usage),
            priced === finish ? chunk : Arr.map(chunk, (item) => (item === finish ? priced : item))
          )
        }
        return Effect.map(estimateUsage(request, accumulator.response()!), (estimated): Batch => {
          annotate(callSpan, usageAttributes(estimated))
          const before = chunk.filter((item) => item._tag !== "Finish" && item._tag !== "Usage")
          const last: Batch = [{ _tag: "Usage", usage: estimated }, withFinishCost(request, finish, estimated)]
          return Arr.appendAll(before, last)
        })
      }
      const pull = Effect.flatMap(
        Effect.tapError(opened.pull, (error) =>
          Effect.sync(() => {
            if (!Cause.isDone(error)) outcome = Exit.fail(error)
          })),
        settle
      )
      const close = Effect.suspend(() => {
        const closed = Effect.andThen(Scope.close(scope, outcome), letGo(held, outcome))
        return callSpan === undefined
          ? closed
          : Effect.andThen(closed, Effect.andThen(endSpan(attemptSpan, outcome), endSpan(callSpan, outcome)))
      })
      return { pull, close }
    }

    const embeddingConcurrency = Math.max(1, options?.embeddingConcurrency ?? 4)

    // One batch, attempted as a chat call is, under its own deadline; usage the
    // provider did not report is counted locally.
    const embedBatch = (request: EmbeddingRequest, handedDown: number, inputs: ReadonlyArray<string>) =>
      Effect.clockWith((clock) => {
        const batch: EmbeddingRequest = { ...request, input: inputs }
        const due = dueOf(handedDown, clock)
        const once = attemptCall(batch, due, () => EmbeddingBatches.estimateTokens(inputs), client.embed)
        return Effect.flatMap(retrying(batch, due, once), (response) =>
          isMissing(response.usage)
            ? Effect.map(estimateEmbeddingUsage(inputs), (usage) => ({ ...response, usage }))
            : Effect.succeed(response))
      })

    const embed = (input: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError> => {
      const request = withModel(input, options?.model)
      const inputs = EmbeddingBatches.inputsOf(request, client.provider, request.model ?? "")
      if (!Array.isArray(inputs)) return Effect.fail(inputs as InvalidRequestError)
      const batches = EmbeddingBatches.split(inputs, client.maxEmbeddingInputs)
      const embedded = Effect.withFiber((fiber) => {
        const handedDown = fiber.getRef(Deadline.CallDeadline)
        return Effect.forEach(batches, (batch) => embedBatch(request, handedDown, batch), { concurrency: embeddingConcurrency })
      })
      return traced(
        Effect.map(Effect.timed(embedded), ([latency, parts]) => EmbeddingBatches.combine(parts, latency)),
        "Llm.embed",
        spanAttributes(request),
        (response) => ({ "gen_ai.usage.input_tokens": response.usage.promptTokens })
      )
    }

    // Its calls end by the deadline a Router sets, so the router needs no timer of its own.
    const service: Service = { chat, chatStream, embed, [Deadline.KeepsDeadline]: true }
    return service
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
