/**
 * One attempt of an `Llm` call: take a rate permit (after the token budget,
 * when the limiter keeps one), take a key, call the provider, report the
 * outcome with the key, give back the key and the permit.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { identity } from "effect/Function"
import type { Usage } from "../../ChatResponse.js"
import { InvalidRequestError, type LlmError, NoCapacityError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import type * as RateLimiter from "../../RateLimiter.js"
import type { StoreUnavailableError } from "../../Store.js"
import type * as KeyPool from "../../KeyPool.js"
import type * as KeyPoolInternal from "../keyPoolService.js"
import type { Settled } from "../keyPoolOutcome.js"
import { Elsewhere, type Onward } from "../oneAttempt.js"
import type * as RateLimiterInternal from "../rateLimiter.js"
import type { Reservation } from "../rateLimiter.js"
import * as Telemetry from "../telemetry.js"
import { bounded, type Due, withinDeadline } from "./due.js"
import type { Attempted, Env } from "./env.js"
import type { Failures } from "./retry.js"
import { isMissing } from "./usage.js"

// The request bucket is charged one token per attempt.
const attemptCost = 1

/** What one attempt holds until it ends: a rate permit, a key and the token budget it reserved. */
export interface Held {
  readonly lease: KeyPool.Lease
  readonly freePermit: Effect.Effect<void>
  readonly reservation: Reservation | undefined
}

const budgetError = (env: Env, request: Attempted) => (error: RateLimiter.RateLimiterCostError | StoreUnavailableError) =>
  error._tag === "StoreUnavailableError"
    ? storeError(env, request)
    : new InvalidRequestError({
      provider: env.client.provider,
      model: request.model ?? "",
      code: "tokens_per_minute_exceeded",
      detail: error.message
    })

// A shared limiter whose store is down under fail-closed: no capacity now.
const storeError = (env: Env, request: Attempted) =>
  new NoCapacityError({ provider: env.client.provider, model: request.model ?? "", storeUnavailable: true })

// A cost of one never exceeds a bucket, so only the store can refuse the permit.
const permitOf = <A>(env: Env, request: Attempted, permit: Effect.Effect<A, RateLimiter.RateLimiterCostError | StoreUnavailableError>) =>
  Effect.catch(permit, (error) => error._tag === "StoreUnavailableError" ? Effect.fail(storeError(env, request)) : Effect.die(error))

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
// any). Inside a router that could take the call elsewhere (`Elsewhere`,
// asked with the error the call would fail with), none is, so the router
// moves on at once, unless the call's last rate limit said when to come back
// (`Retry-After`): a short one is waited out on this deployment, a longer one
// than `maxRateLimitWait` is not.
const cooledBy = (env: Env, now: number, failures: Failures | undefined, onward: Onward | undefined): number => {
  const last = failures?.rotatedBy
  const toldWhen = last?._tag === "RateLimitError" && last.retryAfter !== undefined
  if (!toldWhen && onward !== undefined && onward.elsewhere(last?._tag ?? "NoCapacityError")) return now
  return (failures?.rateLimitedAt ?? now) + env.rateLimitWaitMillis
}

// A wait for the rate permit, in arrival order.
const waitPermit = (env: Env, request: Attempted, due: Due) =>
  waitFor(env, permitOf(env, request, env.limiter.takePermit(attemptCost)), identity, request, due)

// A wait for a key (until `cooledBy`) that gives the permit back when it fails.
const waitKey = (env: Env, request: Attempted, due: Due, failures: Failures | undefined, freePermit: Effect.Effect<void>) =>
  Effect.onError(
    Effect.withFiber((fiber) =>
      waitFor(
        env,
        env.pool.takeCooledBy(cooledBy(env, due.clock.currentTimeMillisUnsafe(), failures, fiber.getRef(Elsewhere))),
        (lease) => env.pool.release(lease, undefined),
        request,
        due
      )
    ),
    () => freePermit
  )

// What an attempt holds once `key` gives it a key, holding the permit.
const holding = (
  key: Effect.Effect<KeyPool.Lease, LlmError>,
  freePermit: Effect.Effect<void>,
  reservation: Reservation | undefined
) => Effect.map(key, (lease): Held => ({ lease, freePermit, reservation }))

// With the permit held, a key: at once when free, else waited for.
const keyHeld = (
  env: Env,
  request: Attempted,
  due: Due,
  failures: Failures | undefined,
  freePermit: Effect.Effect<void>,
  reservation: Reservation | undefined
): Effect.Effect<Held, LlmError> =>
  Effect.flatMap(env.pool.tryTake, (lease) =>
    lease !== undefined
      ? Effect.succeed({ lease, freePermit, reservation })
      : holding(waitKey(env, request, due, failures, freePermit), freePermit, reservation))

// The permit, then the key: each at once when free, else waited for.
const permitThenKey = (
  env: Env,
  request: Attempted,
  due: Due,
  failures: Failures | undefined,
  reservation: Reservation | undefined
) =>
  Effect.flatMap(
    permitOf(env, request, env.limiter.tryTakePermit(attemptCost)),
    (freePermit) =>
      freePermit !== undefined
        ? keyHeld(env, request, due, failures, freePermit, reservation)
        : Effect.flatMap(waitPermit(env, request, due), (freePermit) => keyHeld(env, request, due, failures, freePermit, reservation))
  )

// What the permit and the key asked at once came back with, settled:
// - both taken: the attempt holds them;
// - the key refused: a key is waited for, holding the permit;
// - the permit refused: the key goes back unused (`untake`), and the call
//   waits for its permit, then takes a key;
// - a failure or death on one side: what the other took goes back, and the
//   attempt fails with it (with the key's, when both sides fail).
const settleAtOnce = (
  env: Env,
  request: Attempted,
  due: Due,
  failures: Failures | undefined,
  reservation: Reservation | undefined,
  permit: Exit.Exit<Effect.Effect<void> | undefined, LlmError>,
  key: Exit.Exit<KeyPool.Lease | undefined>
): Effect.Effect<Held, LlmError> => {
  const freePermit = Exit.isSuccess(permit) ? permit.value : undefined
  if (Exit.isFailure(key)) {
    return freePermit === undefined
      ? Effect.failCause(key.cause)
      : Effect.andThen(freePermit, Effect.failCause(key.cause))
  }
  const lease = key.value
  if (freePermit !== undefined) {
    return lease !== undefined
      ? Effect.succeed({ lease, freePermit, reservation })
      : holding(waitKey(env, request, due, failures, freePermit), freePermit, reservation)
  }
  // The permit refused or failed: the key, if taken, goes back unused first.
  const next = Exit.isFailure(permit)
    ? Effect.failCause(permit.cause)
    : Effect.flatMap(waitPermit(env, request, due), (freePermit) => keyHeld(env, request, due, failures, freePermit, reservation))
  return lease === undefined ? next : Effect.andThen(env.pool.untake(lease), next)
}

// Both in a shared store: the permit and the key asked at once, so their
// round trips overlap (the store's client sends commands issued together in
// one write): both commands are sent, then their replies waited for, the
// permit's first, in this fiber (a limiter with `maxConcurrency` sends its
// commands only in its wait, after the key's).
const permitAndKeyAtOnce = (
  env: Env,
  request: Attempted,
  due: Due,
  failures: Failures | undefined,
  reservation: Reservation | undefined,
  sendPermit: NonNullable<RateLimiterInternal.FastPath["remote"]>,
  sendKey: NonNullable<KeyPoolInternal.FastPath["takeAlongside"]>
) =>
  Effect.flatMap(sendPermit(attemptCost), (permitReply) =>
    Effect.flatMap(sendKey, (keyReply) =>
      Effect.flatMap(Effect.exit(permitOf(env, request, permitReply)), (permit) =>
        Effect.flatMap(
          Effect.exit(keyReply),
          (key) => settleAtOnce(env, request, due, failures, reservation, permit, key)
        ))))

// The permit and the key, once the token budget (if any) holds the request.
const permitAndKey = (
  env: Env,
  request: Attempted,
  due: Due,
  failures: Failures | undefined,
  reservation: Reservation | undefined
) => {
  const sendPermit = env.limiter.remote
  const sendKey = env.pool.takeAlongside
  return sendPermit !== undefined && sendKey !== undefined
    ? permitAndKeyAtOnce(env, request, due, failures, reservation, sendPermit, sendKey)
    : permitThenKey(env, request, due, failures, reservation)
}

/**
 * The rate permit and the key: in that order, or at once when both are in a
 * shared store. Runs uninterruptibly; the waits inside stay interruptible and
 * give back what was taken before them.
 * `tokens`: the request's estimate for the tokens-per-minute budget;
 * `failures`: the call's so far, after its first attempt.
 */
export const hold = (
  env: Env,
  request: Attempted,
  due: Due,
  tokens: () => number,
  failures: Failures | undefined
): Effect.Effect<Held, LlmError> => {
  if (!env.limiter.hasTokenBudget) return permitAndKey(env, request, due, failures, undefined)
  // The request's estimated tokens in the tokens-per-minute budget come first,
  // so the request token is taken right before the call.
  // A reservation cut short by an interruption stays spent, as one the provider never reports on does.
  return Effect.flatMap(
    Effect.interruptible(bounded(env, Effect.mapError(env.limiter.reserve(tokens()), budgetError(env, request)), request, due)),
    (reservation) => permitAndKey(env, request, due, failures, reservation)
  )
}

/** An `Llm.attempt` span's first attributes: the provider, the model, the attempt's number and its key's masked id. */
export const describeAttempt = (env: Env, request: Attempted, attempt: number, held: Held) =>
  Telemetry.describeAttempt(env.client.provider, request.model, attempt, "llm_router.key_id", held.lease.credentials.keyId)

// Every scope an attempt's lease lives in is closed with an exit whose failures
// are LlmErrors: the call's own, or the stream's.
const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Settled => exit as Exit.Exit<unknown, LlmError>

/** Gives back the key (reporting the attempt's outcome) and the permit. */
export const letGo = (env: Env, held: Held, exit: Exit.Exit<unknown, unknown>) =>
  Effect.andThen(env.pool.release(held.lease, outcomeOf(exit)), held.freePermit)

/**
 * Settles the budget with the tokens the provider counted; with no usage
 * reported, the estimate stays spent.
 */
export const reconcile = (env: Env, held: Held, usage: Pick<Usage, "totalTokens"> | undefined) =>
  held.reservation === undefined || isMissing(usage) ? Effect.void : env.limiter.reconcile(held.reservation, usage!.totalTokens)

/**
 * One attempt of a call answered whole (a chat, an embedding batch): a
 * permit and a key held for the call, its outcome reported with the key.
 * Held uninterruptibly; the provider call runs as the caller does.
 */
export const attemptCall = <R extends Attempted, A extends { readonly usage: Pick<Usage, "totalTokens"> }>(
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
      const settled = held.reservation === undefined ? send : Effect.tap(send, (reply) => reconcile(env, held, reply.usage))
      const traced = Effect.withFiber((fiber) =>
        Telemetry.untraced(fiber) ? settled : Telemetry.within(
          settled,
          Telemetry.llmAttempt,
          describeAttempt(env, request, attempt, held)
        )
      )
      return Effect.onExit(restore(traced), (exit) => letGo(env, held, exit))
    })
  )
