/**
 * The key pool behind `KeyPool` with `shared`: each key's in-flight leases,
 * cooldown, rate-limit count and disabled reason live in Redis
 * (`store/leases.ts`), so a 429 one instance sees cools the key for all, and
 * least-loaded selection counts every instance's calls. Totals and failure
 * counts in `status` are this instance's.
 *
 * While Redis is unavailable: `"fail-open"` hands out keys from a local pool
 * whose caps are `1 / instances` of the configured ones; `"fail-closed"` fails
 * with `NoCapacityError`, the error a pool with no usable key fails with.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import type * as KeyPool from "../../KeyPool.js"
import { NoCapacityError } from "../../LlmError.js"
import type * as ProviderClient from "../../ProviderClient.js"
import type * as Store from "../../Store.js"
import type { StoreUnavailableError } from "../../Store.js"
import * as Leases from "../store/leases.js"
import { jitterFactor, type Settled, verdictOf } from "./outcome.js"
import { acquireOf, makeService, type Settings } from "./service.js"
import { makeState } from "./state.js"

// How often a call waiting for a key another instance holds looks again.
const pollMillis = 50

/** A lease taken in Redis: `lease` names it there. */
class SharedLease implements KeyPool.Lease {
  /** Until released. */
  held = true
  /** A success reported while held, told to Redis with the release: one command for both. */
  succeeded = false
  constructor(
    readonly credentials: ProviderClient.Credentials,
    readonly slot: number,
    readonly lease: string,
    readonly pool: object
  ) {}
}

const localKeys = (keys: KeyPool.Options["keys"], instances: number): KeyPool.Options["keys"] =>
  instances === 1 ?
    keys :
    keys.map((entry) =>
      typeof entry === "object" && "key" in entry && entry.maxConcurrency !== undefined
        ? { ...entry, maxConcurrency: Math.max(1, Math.floor(entry.maxConcurrency / instances)) }
        : entry
    )

/** A pool over options `KeyPool.make` has checked, kept in `shared.store`. */
export const make = (
  options: KeyPool.Options,
  shared: Store.Shared,
  settings: Settings
): Effect.Effect<KeyPool.Service> =>
  Effect.gen(function*() {
    const { cooldown, maxWaitMillis, providerId, slowStartMillis } = settings
    const connection = shared.store.connection
    const state = makeState(providerId, options.keys)
    const slots = state.slots
    const group = yield* Leases.group(
      connection,
      `pool:${shared.key}`,
      slots.map((slot) => ({ id: slot.credentials.keyId, weight: slot.weight, maxConcurrency: slot.maxConcurrency })),
      slowStartMillis
    )
    const local = connection.onUnavailable === "fail-open"
      ? makeService(Ref.makeUnsafe(makeState(providerId, localKeys(options.keys, connection.instances))), settings)
      : undefined
    const token = {}
    const totals = slots.map(() => 0)
    const failures = slots.map(() => 0)
    // This instance's shared leases, for `status` while the store is away.
    const holding = slots.map(() => 0)

    const noCapacity = (availableAt: number | undefined) =>
      new NoCapacityError(
        availableAt === undefined
          ? { provider: providerId, model: "" }
          : { provider: providerId, model: "", availableAt }
      )

    const leaseOf = (taken: Leases.Taken): KeyPool.Lease => {
      totals[taken.index]!++
      holding[taken.index]!++
      return new SharedLease(slots[taken.index]!.credentials, taken.index, taken.lease, token)
    }

    // As the in-memory pool waits: for a release (polled: it may come from
    // another instance) or a cooldown's end, within `maxWait`; a cooling key only
    // when it cools by `cooledBy`. Cooldown ends are on Redis' clock, so they
    // are measured from Redis' time, not this machine's.
    const takeLoop = (deadline: number | undefined, cooledBy: number): Effect.Effect<KeyPool.Lease, NoCapacityError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(
          Effect.catchTag(group.pick, "StoreUnavailableError", () =>
            local === undefined
              ? Effect.fail(new NoCapacityError({ provider: providerId, model: "", storeUnavailable: true }))
              : Effect.succeed(undefined)),
          (result) => {
            if (result === undefined) return local!.take({ cooledBy })
            if (result._tag === "Taken") return Effect.succeed(leaseOf(result))
            const availableAt = result.availableAt === undefined ? undefined : now + (result.availableAt - result.now)
            if (maxWaitMillis === undefined || result.allDisabled) return Effect.fail(noCapacity(availableAt))
            const until = deadline ?? now + maxWaitMillis
            const cooled = availableAt !== undefined && availableAt <= Math.min(until, cooledBy)
              ? availableAt
              : undefined
            if (now >= until || (!result.releasable && cooled === undefined)) {
              return Effect.fail(noCapacity(availableAt))
            }
            const wakeAt = Math.min(until, cooled ?? Infinity, result.releasable ? now + pollMillis : Infinity)
            return Effect.andThen(
              Effect.interruptible(Effect.sleep(Duration.millis(Math.max(1, wakeAt - now)))),
              takeLoop(until, cooledBy)
            )
          }
        ))

    const take = (options?: KeyPool.TakeOptions) =>
      Effect.suspend(() => takeLoop(undefined, options?.cooledBy ?? Infinity))

    const tryTakeBy = (
      pick: Effect.Effect<Leases.Taken | Leases.Blocked, StoreUnavailableError>
    ): Effect.Effect<KeyPool.Lease | undefined> =>
      Effect.flatMap(
        Effect.catchTag(pick, "StoreUnavailableError", () => Effect.succeed(undefined)),
        (result) =>
          result === undefined
            ? local === undefined ? Effect.succeed(undefined) : local.tryTake
            : result._tag === "Taken"
            ? Effect.succeed(leaseOf(result))
            : Effect.succeed(undefined)
      )
    const tryTake = tryTakeBy(group.pick)

    // The named key in Redis; without the store, in the fail-open local pool.
    const tryTakeKey = (keyId: string): Effect.Effect<KeyPool.Lease | undefined> => {
      const index = slots.findIndex((slot) => slot.credentials.keyId === keyId)
      if (index < 0) return Effect.succeed(undefined)
      return Effect.flatMap(
        Effect.catchTag(group.pickOne(index), "StoreUnavailableError", () => Effect.succeed(null)),
        (taken) =>
          taken === null
            ? local === undefined ? Effect.succeed(undefined) : local.tryTakeKey(keyId)
            : Effect.succeed(taken === undefined ? undefined : leaseOf(taken))
      )
    }

    const foreign = Effect.die(new Error(`KeyPool ${providerId}: a lease this pool did not issue was given to it`))

    // One script drops the lease and applies the outcome; a store that went
    // away meanwhile lets the lease expire within its TTL.
    const settle = (lease: KeyPool.Lease, leaseName: string, outcome: Settled | undefined) =>
      Effect.withFiber((fiber) => {
        if (!(lease instanceof SharedLease) || lease.pool !== token) return foreign
        if (leaseName !== "") holding[lease.slot]!--
        const verdict = outcome === undefined ? undefined : verdictOf(outcome)
        if (verdict !== undefined && verdict._tag !== "Success" && verdict._tag !== "Ignored") failures[lease.slot]!++
        if (verdict?._tag === "Success") failures[lease.slot] = 0
        const shared: Leases.Verdict | undefined =
          verdict === undefined || verdict._tag === "Ignored" || verdict._tag === "Failed"
            ? undefined
            : verdict._tag === "Success"
            ? "success"
            : verdict._tag === "Rejected"
            ? { disabled: verdict.reason }
            : {
              askedMillis: verdict.retryAfterMillis,
              initialMillis: cooldown.initialMillis,
              maxMillis: cooldown.maxMillis,
              jitterFactor: jitterFactor(cooldown, fiber.getRef(Random.Random)),
              capMillis: cooldown.capMillis
            }
        if (leaseName === "" && shared === undefined) return Effect.void
        return Effect.ignore(group.release(lease.slot, leaseName, shared))
      })

    const release = (lease: KeyPool.Lease, options?: KeyPool.ReleaseOptions): Effect.Effect<void> => {
      if (!(lease instanceof SharedLease)) return local === undefined ? foreign : local.release(lease, options)
      if (lease.pool === token && lease.held) {
        lease.held = false
        if (options?.unused === true) totals[lease.slot]!--
      }
      return settle(lease, lease.lease, lease.succeeded ? "success" : undefined)
    }

    // A success while the lease is held goes with its release; any other outcome at once, as it may cool or
    // disable the key for every instance.
    const report = (lease: KeyPool.Lease, outcome: KeyPool.Outcome): Effect.Effect<void> => {
      if (!(lease instanceof SharedLease)) return local === undefined ? foreign : local.report(lease, outcome)
      if (outcome === "success" && lease.pool === token && lease.held) {
        lease.succeeded = true
        failures[lease.slot] = 0
        return Effect.void
      }
      return settle(lease, "", outcome)
    }

    const status: Effect.Effect<ReadonlyArray<KeyPool.KeyStatus>> = Effect.flatMap(
      Effect.catchTag(group.status, "StoreUnavailableError", () => Effect.succeed(undefined)),
      (read) => {
        if (read === undefined && local !== undefined) return local.status
        // Fail-closed without the store: no key is usable; the leases shown are this instance's.
        const unknown = (i: number) => ({ inFlight: holding[i]!, coolingUntil: 0, disabled: undefined })
        const now = read?.now ?? 0
        return Effect.succeed(slots.map((slot, i): KeyPool.KeyStatus => {
          const key = read === undefined ? unknown(i) : read.keys[i]!
          const cooling = key.disabled === undefined && key.coolingUntil > now
          const warming = slowStartMillis > 0 && key.coolingUntil > 0 && now - key.coolingUntil < slowStartMillis
          return {
            keyId: slot.credentials.keyId,
            weight: slot.weight,
            maxConcurrency: slot.maxConcurrency === Infinity ? undefined : slot.maxConcurrency,
            inFlight: key.inFlight,
            totalRequests: totals[i]!,
            failures: failures[i]!,
            coolingUntil: cooling ? key.coolingUntil : undefined,
            share: read === undefined || key.disabled !== undefined || cooling
              ? 0
              : warming
              ? (1 + Math.floor((now - key.coolingUntil) * 9 / slowStartMillis)) / 10
              : 1,
            disabled: key.disabled
          }
        }))
      }
    )

    // A capped key taken alongside a permit that is then refused could turn away another call while held.
    const startTryTake = slots.every((slot) => slot.maxConcurrency === Infinity)
      ? Effect.map(group.startPick, tryTakeBy)
      : undefined
    return {
      providerId,
      acquire: acquireOf(take(), release),
      take,
      tryTake,
      tryTakeKey,
      startTryTake,
      release,
      report,
      status
    }
  })
