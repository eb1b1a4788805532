/**
 * The attempts of an `Llm` call, under the retry policy and the call's deadline: its own (`Options.deadline`) or a
 * sooner one a `Router` set for it (`RouterCall.deadline`), which bounds waits, provider calls and backoffs. Each
 * attempt takes a rate permit (with the request's estimated tokens for a limiter that keeps a budget) and a key, calls
 * the provider, reports the outcome with the key, and gives both back.
 */
import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type { Usage } from "../../ChatResponse.js"
import type * as KeyPool from "../../KeyPool.js"
import { InvalidRequestError, type LlmError, NoCapacityError, TimeoutError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import type * as RateLimiter from "../../RateLimiter.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import type { StoreUnavailableError } from "../../Store.js"
import { outcomeOf } from "../keyPool/stored.js"
import { goesElsewhere, RouterCall } from "../routerCall.js"
import * as Telemetry from "../telemetry.js"
import { timeoutFail } from "../time/watchdog.js"
import type { Attempted, Env } from "./service.js"
import { isMissing } from "./usage.js"

// The request bucket is charged one token per attempt.
const attemptCost = 1

/** What one attempt holds until it ends: a rate permit and a key. */
export interface Held {
  readonly lease: KeyPool.Lease
  /** The scope the permit's `consume` holds it in: closing it gives the permit back. */
  readonly permit: Scope.Closeable
  /** The permit, when the limiter took the request's estimated model tokens from a budget: it settles them. */
  readonly budget: RateLimiter.ConsumeResult | undefined
  /** The call is traced (a tracer other than the native one): the attempt gets a span. */
  readonly traced: boolean
}

/**
 * What a `consume` for the attempt asks: a request token and the estimate (own and enumerable, so a spread keeps it).
 */
function askOf(taking: Taking, onExceeded: "delay" | "fail"): RateLimiter.ConsumeOptions {
  return {
    cost: attemptCost,
    onExceeded,
    get tokens() {
      return taking.estimate()
    }
  }
}

type PermitError = RateLimiter.RateLimiterCostError | RateLimiter.RateLimiterExceededError | StoreUnavailableError

// A shared limiter whose store is down under fail-closed: no capacity now.
function storeError(env: Env, request: Attempted) {
  return new NoCapacityError({ provider: env.client.provider, model: request.model ?? "", storeUnavailable: true })
}

// A request cost of one that the bucket can never grant (a capacity below one) is a defect, while an estimate
// above the budget's capacity is the request's fault; `"delay"` never answers that it is exceeded.
function permitError(env: Env, request: Attempted) {
  return (error: PermitError): Effect.Effect<never, LlmError> => {
    if (error._tag === "StoreUnavailableError") return Effect.fail(storeError(env, request))
    if (error._tag === "RateLimiterCostError" && error.bucket === "tokensPerMinute") {
      return Effect.fail(
        new InvalidRequestError({
          provider: env.client.provider,
          model: request.model ?? "",
          code: "tokens_per_minute_exceeded",
          detail: error.message
        })
      )
    }
    return Effect.die(error)
  }
}

// The permit if it is free now, held in the attempt's scope; `undefined` when the limiter refuses it.
function tryPermit(taking: Taking) {
  return Effect.catch(
    Scope.provide(taking.env.limiter.consume(askOf(taking, "fail")), taking.scope),
    (error): Effect.Effect<undefined, LlmError> =>
      error._tag === "RateLimiterExceededError" ? Effect.undefined : permitError(taking.env, taking.request)(error)
  )
}

// Waits for `acquire` interruptibly and within the deadline, although the caller holds what it gets uninterruptibly:
// `acquire` runs in a fiber of its own, and what it takes after the caller stopped waiting is given back.
function waitFor<A, E>(
  env: Env,
  acquire: Effect.Effect<A, E>,
  giveBack: (a: A) => Effect.Effect<void>,
  request: Attempted,
  due: Due
): Effect.Effect<A, E | LlmError> {
  return Effect.flatMap(Effect.forkDetach(acquire), (fiber) =>
    Effect.onError(
      Effect.interruptible(bounded(env, Fiber.join(fiber), request, due)),
      () =>
        Effect.flatMap(
          Effect.andThen(Fiber.interrupt(fiber), Fiber.await(fiber)),
          (exit) => Exit.isSuccess(exit) ? giveBack(exit.value) : Effect.void
        )
    ))
}

// Until when a cooling key is waited for: one that frees within `Options.maxRateLimitWait` of the call's first rate
// limit. Inside a router that could take the call elsewhere (`RouterCall`), none is, so the router moves on at once,
// unless the last rate limit's `Retry-After` is within `maxRateLimitWait`: that is waited out on this deployment.
function cooledBy(env: Env, now: number, failures: Failures | undefined, call: RouterCall): number {
  const last = failures?.rotatedBy
  const toldWhen = last?._tag === "RateLimitError" && last.retryAfter !== undefined
  if (!toldWhen && goesElsewhere(call, last?._tag ?? "NoCapacityError")) return now
  return (failures?.rateLimitedAt ?? now) + env.rateLimitWaitMillis
}

/** One attempt's taking; its estimated model tokens are computed only when a limiter with a budget reads them. */
class Taking {
  readonly scope = Scope.makeUnsafe()
  tokens: number | undefined = undefined
  constructor(
    readonly env: Env,
    readonly request: Attempted,
    readonly due: Due,
    readonly failures: Failures | undefined,
    readonly estimateOf: () => number,
    readonly call: RouterCall,
    readonly traced: boolean
  ) {}
  estimate(): number {
    return this.tokens ??= this.estimateOf()
  }
}

function closePermit(taking: Taking) {
  return Scope.close(taking.scope, Exit.void)
}

// A wait for the rate permit (and the budget), in arrival order.
function waitPermit(taking: Taking) {
  return waitFor(
    taking.env,
    Effect.catch(
      Scope.provide(taking.env.limiter.consume(askOf(taking, "delay")), taking.scope),
      permitError(taking.env, taking.request)
    ),
    () => closePermit(taking),
    taking.request,
    taking.due
  )
}

// A wait for a key (until `cooledBy`) that gives the permit back when it fails.
function waitKey(taking: Taking) {
  return Effect.onError(
    Effect.withFiber((fiber) => {
      const { due, env, failures } = taking
      return waitFor(
        env,
        env.pool.take({
          cooledBy: cooledBy(env, due.clock.currentTimeMillisUnsafe(), failures, fiber.getRef(RouterCall))
        }),
        (lease) => env.pool.release(lease),
        taking.request,
        due
      )
    }),
    () => closePermit(taking)
  )
}

// The router is told the key the attempt holds (`RouterCall.tookKey`).
function heldOf(taking: Taking, lease: KeyPool.Lease, permit: RateLimiter.ConsumeResult): Held {
  taking.call.tookKey?.(lease.credentials.keyId)
  return {
    lease,
    permit: taking.scope,
    budget: taking.tokens === undefined ? undefined : permit,
    traced: taking.traced
  }
}

// A key free now: the one the router names (`RouterCall.key`) when it is usable, else the least-loaded.
function tryKey(taking: Taking): Effect.Effect<KeyPool.Lease | undefined> {
  const named = taking.call.key
  const pool = taking.env.pool
  if (named === undefined) return pool.tryTake
  return Effect.flatMap(pool.tryTakeKey(named), (lease) => lease === undefined ? pool.tryTake : Effect.succeed(lease))
}

// With the permit held, a key: at once when free, else waited for.
function keyHeld(taking: Taking, permit: RateLimiter.ConsumeResult): Effect.Effect<Held, LlmError> {
  return Effect.flatMap(tryKey(taking), (lease) =>
    lease !== undefined
      ? Effect.succeed(heldOf(taking, lease, permit))
      : Effect.map(waitKey(taking), (lease) => heldOf(taking, lease, permit)))
}

function waitPermitThenKey(taking: Taking) {
  return Effect.flatMap(waitPermit(taking), (permit) => keyHeld(taking, permit))
}

// The permit, then the key: each at once when free, else waited for.
function permitThenKey(taking: Taking) {
  return Effect.flatMap(
    tryPermit(taking),
    (permit) => permit !== undefined ? keyHeld(taking, permit) : waitPermitThenKey(taking)
  )
}

/**
 * The rate permit, then the key. Runs uninterruptibly; the waits inside stay interruptible and give back what was taken
 * before them. `failures`: the call's so far, after its first attempt.
 */
export function hold(
  env: Env,
  request: Attempted,
  due: Due,
  tokens: () => number,
  failures: Failures | undefined
): Effect.Effect<Held, LlmError> {
  return Effect.withFiber((fiber) => {
    const taking = new Taking(env, request, due, failures, tokens, fiber.getRef(RouterCall), !Telemetry.untraced(fiber))
    return permitThenKey(taking)
  })
}

/** An `Llm.attempt` span's first attributes: the provider, the model, the attempt's number and its key's masked id. */
export function describeAttempt(env: Env, request: Attempted, attempt: number, held: Held) {
  return Telemetry.describeAttempt(
    env.client.provider,
    request.model,
    attempt,
    "llm_router.key_id",
    held.lease.credentials.keyId
  )
}

/**
 * Reports the attempt's outcome with its key (none for an interruption or a defect), then gives back the key and the
 * permit. Every exit an attempt ends with fails with an `LlmError`: the call's own, or the stream's.
 */
export function letGo(env: Env, held: Held, exit: Exit.Exit<unknown, unknown>) {
  const outcome = outcomeOf(exit as Exit.Exit<unknown, LlmError>)
  const release = Effect.andThen(env.pool.release(held.lease), Scope.close(held.permit, exit))
  return outcome === undefined ? release : Effect.andThen(env.pool.report(held.lease, outcome), release)
}

/** Settles the budget with the tokens the provider counted; with no usage reported, the estimate stays spent. */
export function reconcile(held: Held, usage: Pick<Usage, "totalTokens"> | undefined) {
  return held.budget === undefined || isMissing(usage) ? Effect.void : held.budget.reconcile(usage!.totalTokens)
}

/**
 * One attempt of a call answered whole (a chat, an embedding batch, a token count: no usage to settle). Held
 * uninterruptibly; the provider call runs as the caller does.
 */
export function attemptCall<
  R extends Attempted,
  A extends { readonly usage?: Pick<Usage, "totalTokens"> | undefined }
>(
  env: Env,
  request: R,
  due: Due,
  tokens: () => number,
  call: (request: R, credentials: Credentials) => Effect.Effect<A, LlmError>
) {
  return (attempt: number, failures: Failures | undefined): Effect.Effect<A, LlmError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(hold(env, request, due, tokens, failures), (held) => {
        const send = withinDeadline(env, request, due, (bound) => call(bound, held.lease.credentials))
        const settled = held.budget === undefined ? send : Effect.tap(send, (reply) => reconcile(held, reply.usage))
        const spanned = Telemetry.spannedWhen(
          held.traced,
          () => ({ name: Telemetry.llmAttempt, describe: describeAttempt(env, request, attempt, held) }),
          () => settled
        )
        return Effect.onExit(restore(spanned), (exit) => letGo(env, held, exit))
      })
    )
}

/** When a call's deadline passes (`Clock` milliseconds), and the bound that makes it, for its `TimeoutError`. */
export interface Due {
  readonly at: number
  readonly timeout: Duration.Duration
  /** The call's `Clock`, read when an attempt starts. */
  readonly clock: Clock.Clock
}

/** What `use` makes of the router's call and its `Clock`, in the call's span of `request` when traced. */
export function inCallSpan<A>(
  env: Env,
  request: Telemetry.Requested,
  span: Pick<Telemetry.LlmCall<A>, "operation" | "done" | "handedOn">,
  use: (call: RouterCall, clock: Clock.Clock) => (span: Tracer.Span | undefined) => Effect.Effect<A, LlmError>
): Effect.Effect<A, LlmError> {
  return Effect.withFiber((fiber) => {
    const call = fiber.getRef(RouterCall)
    return Telemetry.spannedWhen(
      !Telemetry.untraced(fiber),
      () => Telemetry.llmCallSpan({ ...span, provider: env.client.provider, request, router: call }),
      use(call, fiber.getRef(Clock.Clock))
    )
  })
}

/** The sooner of the call's own deadline and `handedDown` (a `Router`'s, `Infinity` when none). */
export function dueOf(env: Env, handedDown: number, clock: Clock.Clock): Due {
  const now = clock.currentTimeMillisUnsafe()
  const own = now + env.deadlineMillis
  return handedDown < own
    ? { at: handedDown, timeout: Duration.millis(Math.max(0, handedDown - now)), clock }
    : { at: own, timeout: env.deadline, clock }
}

export function deadlineError(env: Env, request: Attempted, due: Due): TimeoutError {
  return new TimeoutError({
    provider: env.client.provider,
    model: request.model ?? "",
    timeout: due.timeout,
    phase: "deadline",
    detail: "the call's deadline passed, retries included"
  })
}

/**
 * Bounds a wait by what is left of the call's deadline; used only where a wait really happens, so a call that finds a
 * permit and a key at once forks no timer.
 */
export function bounded<A, E>(env: Env, effect: Effect.Effect<A, E>, request: Attempted, due: Due) {
  return Effect.clockWith((clock) => {
    const left = due.at - clock.currentTimeMillisUnsafe()
    return left <= 0
      ? Effect.fail(deadlineError(env, request, due))
      : timeoutFail(effect, Duration.millis(left), () => deadlineError(env, request, due))
  })
}

/**
 * A provider call bounded by what is left of the deadline: by cutting the request's timeout when the client takes one
 * (the transport's watchdog keeps it), by `timeoutFail` otherwise; one system over the `Clock` either way.
 */
export function withinDeadline<R extends Attempted, A>(
  env: Env,
  request: R,
  due: Due,
  call: (request: R) => Effect.Effect<A, LlmError>
) {
  return Effect.suspend(() => {
    const left = Math.max(1, due.at - due.clock.currentTimeMillisUnsafe())
    const timeout = request.timeout ?? env.client.timeout
    if (timeout === undefined) {
      return timeoutFail(call(request), Duration.millis(left), () => deadlineError(env, request, due))
    }
    return Duration.toMillis(timeout) <= left ? call(request) : call({ ...request, timeout: Duration.millis(left) })
  })
}

/** A phase timeout (no headers, no first token, a stall) is left to a router with somewhere else to go. */
function isPhaseTimeout(error: LlmError): boolean {
  return error._tag === "TimeoutError" &&
    (error.phase === "headers" || error.phase === "firstToken" || error.phase === "idle")
}

/**
 * What a call's failures so far tell its next attempt: made at its first failure, so a call that succeeds makes none.
 */
export interface Failures {
  /** When the call was first rate-limited, if it was. */
  rateLimitedAt: number | undefined
  /**
   * The last rate-limited or rejected key's error: what the call fails with when rotation finds no key left
   * (`NoCapacityError` when none).
   */
  rotatedBy: LlmError | undefined
}

/** The retry policy, stepped by hand: the delay it asks before the next attempt; `Cause.Done` once it gives up. */
type Step = (now: number, error: LlmError) => Effect.Effect<readonly [unknown, Duration.Duration], Cause.Done<unknown>>

/**
 * Whether a retry that waits `delay` after `waited` already is left to the router: it has somewhere else to go for
 * `error`, and the waits would pass what it allows a deployment's retries (`RouterCall.retryWait`).
 */
function leftToRouter(call: RouterCall, error: LlmError, waited: number, delay: number): boolean {
  return delay > 0 && waited + delay > call.retryWait && goesElsewhere(call, error._tag)
}

/**
 * Runs `attemptOnce` until it succeeds, the policy gives up or the deadline passes; `once` (a router's probe): the
 * first attempt only. The first attempt runs without the policy's machinery. When rotation has used up every key (see
 * `attempt.takeKey`), the provider's own error is returned: it is the one the caller can act on.
 */
export function retrying<A>(
  env: Env,
  request: Attempted,
  due: Due,
  attemptOnce: (attempt: number, failures: Failures | undefined) => Effect.Effect<A, LlmError>,
  once: boolean
): Effect.Effect<A, LlmError> {
  return once
    ? Effect.mapError(attemptOnce(1, undefined), (error) => settle(request, undefined, error))
    : Effect.catch(
      attemptOnce(1, undefined),
      (error) => afterFirst(env, request, due, attemptOnce, error) as Effect.Effect<A, LlmError>
    )
}

// The error a call fails with, given its failures so far.
function settle(request: Attempted, failures: Failures | undefined, error: LlmError): LlmError {
  if (error._tag !== "NoCapacityError") return error
  if (failures?.rotatedBy !== undefined) return failures.rotatedBy
  return error.model === "" && request.model !== undefined
    ? new NoCapacityError({ ...error, model: request.model })
    : error
}

// The call's attempts after its first failed with `first`: the policy's machinery, made only now.
const afterFirst = Effect.fnUntraced(function*(
  env: Env,
  request: Attempted,
  due: Due,
  attemptOnce: (attempt: number, failures: Failures | undefined) => Effect.Effect<unknown, LlmError>,
  first: LlmError
): Effect.fn.Return<unknown, LlmError> {
  const failures: Failures = { rateLimitedAt: undefined, rotatedBy: undefined }
  const call = yield* RouterCall
  let step: Step | undefined
  let error = first
  let waited = 0
  for (let attempt = 1;; attempt++) {
    if (isPhaseTimeout(error) && goesElsewhere(call, "TimeoutError")) return yield* Effect.fail(error)
    const now = yield* Clock.currentTimeMillis
    if (RetryPolicy.rotatesKey(error)) failures.rotatedBy = error
    if (error._tag === "RateLimitError") failures.rateLimitedAt ??= now
    if (now >= due.at) {
      // A request timeout that the deadline cut short is the deadline's.
      return yield* Effect.fail(
        error._tag === "TimeoutError" ? deadlineError(env, request, due) : settle(request, failures, error)
      )
    }
    step ??= yield* Schedule.toStep(env.policy)
    const stepped = yield* Effect.result(step(now, error))
    if (Result.isFailure(stepped)) return yield* Effect.fail(settle(request, failures, error))
    const delay = Duration.toMillis(stepped.success[1])
    if (leftToRouter(call, error, waited, delay)) return yield* Effect.fail(settle(request, failures, error))
    waited += delay
    yield* bounded(env, Effect.sleep(stepped.success[1]), request, due)
    const next = yield* Effect.result(attemptOnce(attempt + 1, failures))
    if (Result.isSuccess(next)) return next.success
    error = next.failure
  }
})
