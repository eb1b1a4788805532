/**
 * The main service: chat with a model through a key pool and a rate limiter,
 * retrying what can succeed, and always reporting usage.
 *
 * `chat` = take a rate permit -> take the least-loaded key -> call the provider ->
 * report the outcome to the key pool -> retry per the policy -> usage (estimated
 * locally when the provider sent none). `chatStream` does the same, retrying only
 * until the first chunk has arrived: after that a failure fails the stream.
 * Interrupting a call, or the consumer of a stream, aborts the HTTP request and
 * frees the key and the permit.
 *
 * `embed` splits its inputs into batches of the provider's size
 * (`ProviderClient.maxEmbeddingInputs`), sends each batch through the same
 * attempt as `chat` (permit, key, outcome, retry, deadline), a few at a time,
 * and joins the vectors in input order with the usage summed.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChatChunk from "./ChatChunk.js"
import type { Input as ChatRequest } from "./ChatRequest.js"
import type { ChatResponse, Usage } from "./ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "./Embedding.js"
import * as EmbeddingBatches from "./internal/embeddingBatches.js"
import { timeoutFail } from "./internal/timeout.js"
import * as StructuredOutput from "./internal/structuredOutput.js"
import { estimateEmbeddingUsage, estimateUsage } from "./internal/tokenEstimate.js"
import * as KeyPool from "./KeyPool.js"
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
  /**
   * The vectors of one text or many, in input order. An empty list or an
   * empty text fails with `InvalidRequestError` before any call.
   */
  readonly embed: (request: EmbeddingRequest) => Effect.Effect<EmbeddingResponse, LlmError>
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
  schema: Schema.Schema<A, I, never>,
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
   * `TimeoutError`. Default: 10 minutes.
   */
  readonly deadline?: Duration.DurationInput
  /** How many batches of one `embed` call are in flight at once. Default: 4. */
  readonly embeddingConcurrency?: number
}

// The request bucket is charged one token per attempt.
const attemptCost = 1

/** What the attempt machinery reads of a request: its model. */
interface Modelled {
  readonly model?: string | undefined
}

const withModel = <R extends Modelled>(request: R, model: string | undefined): R =>
  request.model !== undefined || model === undefined ? request : { ...request, model }

const isMissing = (usage: Pick<Usage, "totalTokens"> | undefined) => usage === undefined || usage.totalTokens === 0

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

    const spanAttributes = (request: Modelled) => ({
      "gen_ai.system": client.provider,
      "gen_ai.request.model": request.model ?? ""
    })

    // Runs attempts under the retry policy and the deadline. When rotation has
    // used up every key (the pool answers NoCapacityError right after a rate
    // limit or a rejected key), the provider's own error is what the caller can
    // act on, so it is the one returned.
    const retrying = <A>(request: Modelled, attemptOnce: (attempt: number) => Effect.Effect<A, LlmError>) =>
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
            timeoutFail(effect, deadline, () =>
              new TimeoutError({
                provider: client.provider,
                model: request.model ?? "",
                timeout: deadline,
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
    const acquire = (scope: Scope.Scope, attempt: number, request: Modelled, tokens: number) =>
      Effect.gen(function*() {
        const reservation = yield* limiter.reserve(tokens).pipe(
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
    const reconcile = (reservation: RateLimiter.Reservation, usage: Pick<Usage, "totalTokens"> | undefined) =>
      isMissing(usage) ? Effect.void : limiter.reconcile(reservation, usage!.totalTokens)

    const estimateMissingUsage = (request: ChatRequest, response: ChatResponse): Effect.Effect<ChatResponse> =>
      isMissing(response.usage)
        ? Effect.map(estimateUsage(request, response), (usage) => ({ ...response, usage }))
        : Effect.succeed(response)

    const annotateUsage = (usage: Usage) =>
      Effect.annotateCurrentSpan({
        "gen_ai.usage.input_tokens": usage.promptTokens,
        "gen_ai.usage.output_tokens": usage.completionTokens
      })

    const chat = (input: ChatRequest): Effect.Effect<ChatResponse, LlmError> => {
      const request = withModel(input, options?.model)
      const once = (attempt: number) =>
        Effect.scopeWith((scope) =>
          Effect.flatMap(acquire(scope, attempt, request, RateLimiter.estimateTokens(request)), ({ lease, reservation }) =>
            Effect.tap(client.chat(request, lease.credentials), (response) => reconcile(reservation, response.usage)))
        ).pipe(Effect.scoped, Effect.withSpan("Llm.attempt", { attributes: spanAttributes(request), captureStackTrace: false }))
      return retrying(request, once).pipe(
        Effect.flatMap((response) => estimateMissingUsage(request, response)),
        Effect.tap((response) => annotateUsage(response.usage)),
        Effect.withSpan("Llm.chat", { attributes: spanAttributes(request), captureStackTrace: false })
      )
    }

    // One attempt at a stream: everything it holds lives in its own scope, which
    // is closed at once when the attempt fails before its first chunk, and
    // otherwise handed to the consumer's stream.
    const openStream = (request: ChatRequest, attempt: number) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const opened = yield* restore(
            Effect.gen(function*() {
              const { lease, reservation } = yield* acquire(scope, attempt, request, RateLimiter.estimateTokens(request))
              const pull = yield* Scope.extend(Stream.toPull(client.chatStream(request, lease.credentials)), scope)
              const first = yield* firstChunk(pull, request)
              return { first, pull, reservation }
            })
          ).pipe(Effect.exit)
          if (Exit.isFailure(opened)) {
            yield* Scope.close(scope, opened)
            return yield* Effect.failCause(opened.cause)
          }
          return { scope, ...opened.value }
        })
      ).pipe(Effect.withSpan("Llm.attempt", { attributes: spanAttributes(request), captureStackTrace: false }))

    const firstChunk = (
      pull: Effect.Effect<Chunk.Chunk<ChatChunk.ChatChunk>, Option.Option<LlmError>>,
      request: ChatRequest
    ): Effect.Effect<Chunk.Chunk<ChatChunk.ChatChunk>, LlmError> =>
      Effect.flatMap(
        Effect.mapError(pull, (error) =>
          Option.getOrElse(error, () =>
            new StreamTruncatedError({ provider: client.provider, model: request.model ?? "", detail: "the stream ended before any chunk" })
          )),
        (chunk) => (Chunk.isEmpty(chunk) ? firstChunk(pull, request) : Effect.succeed(chunk))
      )

    const chatStream = (input: ChatRequest): Stream.Stream<ChatChunk.ChatChunk, LlmError> => {
      const request = withModel(input, options?.model)
      const opened = Effect.uninterruptibleMask((restore) =>
        restore(retrying(request, (attempt) => openStream(request, attempt))).pipe(
          Effect.tap(({ scope }) => Effect.addFinalizer((exit) => Scope.close(scope, exit)))
        )
      )
      return Stream.unwrapScoped(
        Effect.map(opened, ({ first, pull, reservation }) =>
          settleStreamUsage(request, reservation, Stream.concat(Stream.fromChunk(first), Stream.repeatEffectChunkOption(pull))))
      ).pipe(Stream.withSpan("Llm.chatStream", { attributes: spanAttributes(request) }))
    }

    // At the Finish chunk: settles the budget with the provider's usage, or
    // inserts an estimated Usage chunk before Finish when the provider sent none.
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
          if (!isMissing(usage)) return Effect.as(reconcile(reservation, usage), chunk)
          const done = accumulator.response()!
          return Effect.map(estimateUsage(request, done), (estimated): Chunk.Chunk<ChatChunk.ChatChunk> => {
            const before = Chunk.filter(chunk, (item) => item._tag !== "Finish" && item._tag !== "Usage")
            return Chunk.appendAll(before, Chunk.fromIterable<ChatChunk.ChatChunk>([{ _tag: "Usage", usage: estimated }, finish]))
          })
        })
      })

    const embeddingConcurrency = Math.max(1, options?.embeddingConcurrency ?? 4)

    // One batch, attempted as a chat call is; usage the provider did not
    // report is counted locally.
    const embedBatch = (request: EmbeddingRequest, inputs: ReadonlyArray<string>) => {
      const batch: EmbeddingRequest = { ...request, input: inputs }
      const tokens = EmbeddingBatches.estimateTokens(inputs)
      const once = (attempt: number) =>
        Effect.scopeWith((scope) =>
          Effect.flatMap(acquire(scope, attempt, batch, tokens), ({ lease, reservation }) =>
            Effect.tap(client.embed(batch, lease.credentials), (response) => reconcile(reservation, response.usage)))
        ).pipe(Effect.scoped, Effect.withSpan("Llm.attempt", { attributes: spanAttributes(batch), captureStackTrace: false }))
      return Effect.flatMap(retrying(batch, once), (response) =>
        isMissing(response.usage)
          ? Effect.map(estimateEmbeddingUsage(inputs), (usage) => ({ ...response, usage }))
          : Effect.succeed(response))
    }

    const embed = (input: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError> => {
      const request = withModel(input, options?.model)
      const inputs = EmbeddingBatches.inputsOf(request, client.provider, request.model ?? "")
      if (!Array.isArray(inputs)) return Effect.fail(inputs as InvalidRequestError)
      const batches = EmbeddingBatches.split(inputs, client.maxEmbeddingInputs)
      return Effect.forEach(batches, (batch) => embedBatch(request, batch), { concurrency: embeddingConcurrency }).pipe(
        Effect.timed,
        Effect.map(([latency, parts]) => EmbeddingBatches.combine(parts, latency)),
        Effect.tap((response) => Effect.annotateCurrentSpan({ "gen_ai.usage.input_tokens": response.usage.promptTokens })),
        Effect.withSpan("Llm.embed", { attributes: spanAttributes(request), captureStackTrace: false })
      )
    }

    return Llm.of({ chat, chatStream, embed })
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
