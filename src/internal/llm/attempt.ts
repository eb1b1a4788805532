/**
 * One attempt of an `Llm` call: take a rate permit (`consume`, with the
 * request's estimated model tokens for a limiter that keeps a budget), take a
 * key, call the provider, report the outcome with the key, give back the key
 * and the permit.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type { Usage } from "../../ChatResponse.js"
import type * as KeyPool from "../../KeyPool.js"
import { InvalidRequestError, type LlmError, NoCapacityError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import type * as RateLimiter from "../../RateLimiter.js"
import type { StoreUnavailableError } from "../../Store.js"
import { outcomeOf } from "../keyPool/outcome.js"
import { goesElsewhere, RouterCall } from "../routerCall.js"
import * as Telemetry from "../telemetry.js"
import type { Attempted, Env } from "./env.js"
import { bounded, type Due, type Failures, withinDeadline } from "./retry.js"
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
}

/**
 * What a `consume` for the attempt asks: one request token, and the estimate (own and enumerable, so a spread keeps
 * it).
 */
const askOf = (taking: Taking, onExceeded: "delay" | "fail"): RateLimiter.ConsumeOptions => ({
  cost: attemptCost,
  onExceeded,
  get tokens() {
    return taking.estimate()
  }
})

type PermitError = RateLimiter.RateLimiterCostError | RateLimiter.RateLimiterExceededError | StoreUnavailableError

// A shared limiter whose store is down under fail-closed: no capacity now.
const storeError = (env: Env, request: Attempted) =>
  new NoCapacityError({ provider: env.client.provider, model: request.model ?? "", storeUnavailable: true })

// A request cost of one that the bucket can never grant (a capacity below one) is a defect, while an estimate
// above the budget's capacity is the request's fault; `"delay"` never answers that it is exceeded.
const permitError = (env: Env, request: Attempted) => (error: PermitError): Effect.Effect<never, LlmError> => {
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

// The permit if it is free now, held in the attempt's scope; `undefined` when the limiter refuses it.
const tryPermit = (taking: Taking) =>
  Effect.catch(
    Scope.provide(taking.env.limiter.consume(askOf(taking, "fail")), taking.scope),
    (error): Effect.Effect<undefined, LlmError> =>
      error._tag === "RateLimiterExceededError" ? Effect.undefined : permitError(taking.env, taking.request)(error)
  )

// Waits for what `acquire` takes, interruptibly and within the deadline,
// although the caller holds what it gets uninterruptibly: `acquire` runs in
// a fiber of its own, and what it takes after the caller stopped waiting
// (interrupted, or out of time) is given back.
const waitFor = <A, E>(
  env: Env,
  acquire: Effect.Effect<A, E>,
  giveBack: (a: A) => Effect.Effect<void>,
  request: Attempted,
  due: Due
): Effect.Effect<A, E | LlmError> =>
  Effect.flatMap(Effect.forkDetach(acquire), (fiber) =>
    Effect.onError(
      Effect.interruptible(bounded(env, Fiber.join(fiber), request, due)),
      () =>
        Effect.flatMap(
          Effect.andThen(Fiber.interrupt(fiber), Fiber.await(fiber)),
          (exit) => Exit.isSuccess(exit) ? giveBack(exit.value) : Effect.void
        )
    ))

// Until when a cooling key is waited for: one that frees within
// `Options.maxRateLimitWait` of the call's first rate limit (of now, before
// any). Inside a router that could take the call elsewhere (`RouterCall`,
// asked with the error the call would fail with), none is, so the router
// moves on at once, unless the call's last rate limit said when to come back
// (`Retry-After`): a short one is waited out on this deployment, a longer one
// than `maxRateLimitWait` is not.
const cooledBy = (env: Env, now: number, failures: Failures | undefined, call: RouterCall): number => {
  const last = failures?.rotatedBy
  const toldWhen = last?._tag === "RateLimitError" && last.retryAfter !== undefined
  if (!toldWhen && goesElsewhere(call, last?._tag ?? "NoCapacityError")) return now
  return (failures?.rateLimitedAt ?? now) + env.rateLimitWaitMillis
}

/**
 * One attempt's taking: its request, its deadline, its failures so far, the
 * scope its permit is held in, and the request's estimated model tokens,
 * computed only when a limiter reads them (one without a budget does not).
 */
class Taking {
  readonly scope = Scope.makeUnsafe()
  tokens: number | undefined = undefined
  constructor(
    readonly env: Env,
    readonly request: Attempted,
    readonly due: Due,
    readonly failures: Failures | undefined,
    readonly estimateOf: () => number,
    readonly call: RouterCall
  ) {}
  estimate(): number {
    return this.tokens ??= this.estimateOf()
  }
}

const closePermit = (taking: Taking) => Scope.close(taking.scope, Exit.void)

// A wait for the rate permit (and the budget), in arrival order.
const waitPermit = (taking: Taking) =>
  waitFor(
    taking.env,
    Effect.catch(
      Scope.provide(taking.env.limiter.consume(askOf(taking, "delay")), taking.scope),
      permitError(taking.env, taking.request)
    ),
    () => closePermit(taking),
    taking.request,
    taking.due
  )

// A wait for a key (until `cooledBy`) that gives the permit back when it fails.
const waitKey = (taking: Taking) =>
  Effect.onError(
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

// The router is told the key the attempt holds (`RouterCall.tookKey`).
const heldOf = (taking: Taking, lease: KeyPool.Lease, permit: RateLimiter.ConsumeResult): Held => {
  taking.call.tookKey?.(lease.credentials.keyId)
  return { lease, permit: taking.scope, budget: taking.tokens === undefined ? undefined : permit }
}

// A key free now: the one the router names (`RouterCall.key`) when it is usable, else the least-loaded.
const tryKey = (taking: Taking): Effect.Effect<KeyPool.Lease | undefined> => {
  const named = taking.call.key
  const pool = taking.env.pool
  if (named === undefined) return pool.tryTake
  return Effect.flatMap(pool.tryTakeKey(named), (lease) => lease === undefined ? pool.tryTake : Effect.succeed(lease))
}

// With the permit held, a key: at once when free, else waited for.
const keyHeld = (taking: Taking, permit: RateLimiter.ConsumeResult): Effect.Effect<Held, LlmError> =>
  Effect.flatMap(tryKey(taking), (lease) =>
    lease !== undefined
      ? Effect.succeed(heldOf(taking, lease, permit))
      : Effect.map(waitKey(taking), (lease) => heldOf(taking, lease, permit)))

const waitPermitThenKey = (taking: Taking) => Effect.flatMap(waitPermit(taking), (permit) => keyHeld(taking, permit))

// The permit, then the key: each at once when free, else waited for.
const permitThenKey = (taking: Taking) =>
  Effect.flatMap(
    tryPermit(taking),
    (permit) => permit !== undefined ? keyHeld(taking, permit) : waitPermitThenKey(taking)
  )

/**
 * The rate permit, then the key. Runs uninterruptibly; the waits inside stay
 * interruptible and give back what was taken before them. `tokens`: the
 * request's estimate for a tokens-per-minute budget; `failures`: the call's
 * so far, after its first attempt.
 */
export const hold = (
  env: Env,
  request: Attempted,
  due: Due,
  tokens: () => number,
  failures: Failures | undefined
): Effect.Effect<Held, LlmError> =>
  Effect.withFiber((fiber) => {
    const taking = new Taking(env, request, due, failures, tokens, fiber.getRef(RouterCall))
    return permitThenKey(taking)
  })

/** An `Llm.attempt` span's first attributes: the provider, the model, the attempt's number and its key's masked id. */
export const describeAttempt = (env: Env, request: Attempted, attempt: number, held: Held) =>
  Telemetry.describeAttempt(
    env.client.provider,
    request.model,
    attempt,
    "llm_router.key_id",
    held.lease.credentials.keyId
  )

/**
 * Reports the attempt's outcome with its key (none for an interruption or a
 * defect), then gives back the key and the permit. Every exit an attempt
 * ends with fails with an `LlmError`: the call's own, or the stream's.
 */
export const letGo = (env: Env, held: Held, exit: Exit.Exit<unknown, unknown>) => {
  const outcome = outcomeOf(exit as Exit.Exit<unknown, LlmError>)
  const release = Effect.andThen(env.pool.release(held.lease), Scope.close(held.permit, exit))
  return outcome === undefined ? release : Effect.andThen(env.pool.report(held.lease, outcome), release)
}

/**
 * Settles the budget with the tokens the provider counted; with no usage
 * reported, the estimate stays spent.
 */
export const reconcile = (held: Held, usage: Pick<Usage, "totalTokens"> | undefined) =>
  held.budget === undefined || isMissing(usage) ? Effect.void : held.budget.reconcile(usage!.totalTokens)

/**
 * One attempt of a call answered whole (a chat, an embedding batch, a token count: no usage to settle): a
 * permit and a key held for the call, its outcome reported with the key.
 * Held uninterruptibly; the provider call runs as the caller does.
 */
export const attemptCall = <
  R extends Attempted,
  A extends { readonly usage?: Pick<Usage, "totalTokens"> | undefined }
>(
  env: Env,
  request: R,
  due: Due,
  tokens: () => number,
  call: (request: R, credentials: Credentials) => Effect.Effect<A, LlmError>
) =>
(attempt: number, failures: Failures | undefined): Effect.Effect<A, LlmError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(hold(env, request, due, tokens, failures), (held) => {
      const send = withinDeadline(env, request, due, (bound) => call(bound, held.lease.credentials))
      const settled = held.budget === undefined ? send : Effect.tap(send, (reply) => reconcile(held, reply.usage))
      const traced = Telemetry.spanned(
        { name: Telemetry.llmAttempt, describe: describeAttempt(env, request, attempt, held) },
        () => settled
      )
      return Effect.onExit(restore(traced), (exit) => letGo(env, held, exit))
    })
  )
