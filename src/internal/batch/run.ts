/**
 * `Batch`'s one algorithm: requests checked as `Llm` checks a call's; with a batch API, submitted as one provider
 * batch with a pool key, polled on the `Schedule` until it ends (each poll a `Progress`), its lines reconciled
 * (`reconcile.ts`) and priced at the batch tier; without one, run as `Llm` calls a few at a time. A batch whose
 * consumer leaves before it ends is cancelled.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import type { Event, Line, Outcome, Progress } from "../../Batch.js"
import { BatchError } from "../../Batch.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import { InvalidRequestError, isRetryable, type LlmError } from "../../LlmError.js"
import { batchTier } from "../../Pricing.js"
import type { BatchApi, BatchStatus, Credentials } from "../../ProviderClient.js"
import { chat } from "../llm/chat.js"
import { type Env, invalidChat, withModel } from "../llm/service.js"
import { withCost } from "../llm/usage.js"
import { customIdOf, ended } from "../wire/batch.js"
import { reconcile } from "./reconcile.js"

/** How many requests of a batch run at once as calls, where the client has no batch API, unless told otherwise. */
export const callConcurrency = 4

/** What a batch runs with: the `Llm` environment, how often it polls and how many calls run at once without an API. */
export interface Settings {
  readonly env: Env
  readonly poll: Schedule.Schedule<unknown>
  readonly concurrency: number
}

/** A batch's progress as its events give it: its id (none when run as calls), its state and its counts of lines. */
function progress(batchId: string | undefined, { failed, state, succeeded, total }: Omit<BatchStatus, "id">): Progress {
  return { _tag: "Progress", batchId, state, total, succeeded, failed }
}

/** The requests with the service's model, or the error of the first that is not a `ChatRequest`. */
function checked(env: Env, requests: ReadonlyArray<ChatRequest>): Result.Result<ReadonlyArray<ChatRequest>, LlmError> {
  const out: Array<ChatRequest> = []
  for (const [index, request] of requests.entries()) {
    const invalid = invalidChat(request, env.client.provider, env.model)
    if (invalid !== undefined) {
      return Result.fail(new InvalidRequestError({ ...invalid, detail: `request ${index}: ${invalid.detail}` }))
    }
    out.push(withModel(env, request))
  }
  return Result.succeed(out)
}

/** The one model a batch's requests name, or the error of a batch that names none or several. */
function oneModel(env: Env, requests: ReadonlyArray<ChatRequest>): Result.Result<string, LlmError> {
  const models = new Set(requests.map((request) => request.model ?? ""))
  const [model] = models
  if (models.size === 1 && model !== undefined && model !== "") return Result.succeed(model)
  return Result.fail(
    new InvalidRequestError({
      provider: env.client.provider,
      model: model ?? "",
      param: "model",
      detail: models.size > 1
        ? `a batch's requests name one model, these name ${[...models].join(", ")} (nothing was sent)`
        : "the requests name no model and the batch has no default `model` (nothing was sent)"
    })
  )
}

/** An answered line at the batch price: its usage marked with the batch tier, its cost at that tier's prices. */
function batchPriced(env: Env, request: ChatRequest, response: ChatResponse): ChatResponse {
  return withCost(env, request, { ...response, usage: { ...response.usage, serviceTier: batchTier } })
}

/**
 * A poll or results read, retried after a passing failure (5xx, rate limit, dropped connection): the batch runs on at
 * the provider whatever one poll met, and its lines are paid for.
 */
const stepRetries = Schedule.exponential("1 second")

function steady<A>(step: Effect.Effect<A, LlmError>): Effect.Effect<A, LlmError> {
  return Effect.retry(step, { schedule: stepRetries, times: 4, while: (error: LlmError) => isRetryable(error) })
}

/** A key's credentials for a batch's steps: the pool's least-loaded key, given back at once (a batch holds no slot). */
function credentialsOf(env: Env): Effect.Effect<Credentials, LlmError> {
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(restore(env.pool.take()), (lease) => Effect.as(env.pool.release(lease), lease.credentials))
  )
}

function providerEvents(
  settings: Settings,
  api: BatchApi,
  requests: ReadonlyArray<ChatRequest>,
  model: string
): Stream.Stream<Event, LlmError | BatchError> {
  const { env } = settings
  const provider = env.client.provider
  const customIds = requests.map((_, index) => customIdOf(index))
  return Stream.unwrap(Effect.gen(function*() {
    const credentials = yield* credentialsOf(env)
    const submitted = yield* api.submit(
      requests.map((request, index) => ({ customId: customIds[index]!, request })),
      model,
      credentials
    )
    let last = submitted
    // Each poll after the schedule's wait: `fromSchedule` sleeps on the `Clock`, so a `TestClock` drives it.
    const retrieved = Stream.fromSchedule(settings.poll).pipe(
      Stream.mapEffect(() => steady(api.retrieve(submitted.id, model, credentials)))
    )
    const polls = Stream.concat(Stream.succeed(submitted), retrieved).pipe(
      Stream.takeUntil((status) => ended(status.state)),
      Stream.tap((status) => Effect.sync(() => last = status))
    )
    const lines = Stream.unwrap(Effect.suspend((): Effect.Effect<Stream.Stream<Line>, LlmError | BatchError> => {
      const status = last
      if (status.state === "refused") {
        return Effect.fail(
          new BatchError({
            provider,
            model,
            batchId: status.id,
            reason: "refused",
            detail: status.detail ?? "the provider refused the batch"
          })
        )
      }
      return Effect.map(steady(api.results(status, model, credentials)), (read) => {
        const outcomes = reconcile(
          { provider, model, batchId: status.id, customIds, state: status.state },
          read,
          (index, response) => batchPriced(env, requests[index]!, response)
        )
        return Stream.fromIterable(outcomes.map((result, index): Line => ({ _tag: "Line", index, result })))
      })
    }))
    // A batch left before it ends is cancelled, so the provider runs (and bills) no more of it.
    const cancel = Effect.suspend(() =>
      ended(last.state) ? Effect.void : Effect.ignore(api.cancel(last.id, model, credentials))
    )
    return Stream.concat(Stream.map(polls, (status) => progress(status.id, status)), lines).pipe(
      Stream.onExit((exit) => Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause) ? cancel : Effect.void)
    )
  }))
}

function callEvents(settings: Settings, requests: ReadonlyArray<ChatRequest>): Stream.Stream<Event> {
  const { env } = settings
  const counts = { succeeded: 0, failed: 0 }
  const total = requests.length
  const progressNow = () =>
    progress(undefined, {
      state: counts.succeeded + counts.failed === total ? "completed" : "running",
      total,
      ...counts
    })
  const lines = Stream.fromIterable(requests.entries()).pipe(
    Stream.mapEffect(
      ([index, request]) =>
        Effect.map(Effect.result(chat(env, request)), (result): ReadonlyArray<Event> => {
          if (Result.isSuccess(result)) counts.succeeded++
          else counts.failed++
          const outcome: Outcome = result
          return [{ _tag: "Line", index, result: outcome }, progressNow()]
        }),
      { concurrency: settings.concurrency, unordered: true }
    ),
    Stream.flatMap(Stream.fromIterable)
  )
  return Stream.concat(Stream.sync(progressNow), lines)
}

/** A batch's events: its progress as it goes and each request's line. */
export function events(
  settings: Settings,
  requests: ReadonlyArray<ChatRequest>
): Stream.Stream<Event, LlmError | BatchError> {
  return Stream.unwrap(Effect.suspend(() => {
    const { env } = settings
    const valid = checked(env, requests)
    if (Result.isFailure(valid)) return Effect.fail(valid.failure)
    const all = valid.success
    if (all.length === 0) return Effect.succeed(Stream.empty)
    const api = env.client.batch
    if (api === undefined) return Effect.succeed(callEvents(settings, all))
    return Effect.map(Effect.fromResult(oneModel(env, all)), (model) => providerEvents(settings, api, all, model))
  }))
}

/** Each request's outcome, in order, once the batch has ended. */
export function run(
  settings: Settings,
  requests: ReadonlyArray<ChatRequest>
): Effect.Effect<ReadonlyArray<Outcome>, LlmError | BatchError> {
  return Effect.suspend(() => {
    const outcomes: Array<Outcome> = new Array(requests.length)
    return Effect.as(
      Stream.runForEach(events(settings, requests), (event) =>
        Effect.sync(() => {
          if (event._tag === "Line") outcomes[event.index] = event.result
        })),
      outcomes
    )
  })
}
