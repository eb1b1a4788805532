/**
 * The key pool over a `KeyPool.LeaseStore`, which never asks which backend keeps it. Keys with a cap keep their
 * in-flight leases, cooldown, rate-limit count and disabled reason in the store's leases: the cap holds across every
 * instance, exactly. Keys without one are picked in this process over the loads every instance publishes
 * (`keyPool/uncapped.ts`): no round trip per call, and a load balance as close as the publish period lets it be. A
 * pool with both takes a capped key only when it is less loaded than the least loaded uncapped one. A 429 one
 * instance sees cools the key for all; totals and failure counts in `status` are this instance's.
 *
 * While the store is unavailable the pool fails with `NoCapacityError` (`storeUnavailable`), the error a pool with
 * no usable key fails with; a store that fails open (`keyPool/failOpen.ts`) never is.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import { createHash } from "node:crypto"
import type * as KeyPool from "../../KeyPool.js"
import { NoCapacityError } from "../../LlmError.js"
import type * as ProviderClient from "../../ProviderClient.js"
import type { StoreUnavailableError } from "../../Store.js"
import { type Settled, sharedVerdictOf, verdictOf } from "./outcome.js"
import { acquireOf, type Settings } from "./service.js"
import { leastLoaded, levels, makeState, status as localStatus, tryAcquire, tryAcquireKey } from "./state.js"
import * as Uncapped from "./uncapped.js"

// How often a call waiting for a key another instance holds looks again.
const pollMillis = 50

/** A lease taken in Redis: `lease` names it there, `index` is its key's place in the lease group. */
class SharedLease implements KeyPool.Lease {
  /** Until released. */
  held = true
  /** A success reported while held, told to Redis with the release: one command for both. */
  succeeded = false
  constructor(
    readonly credentials: ProviderClient.Credentials,
    readonly slot: number,
    readonly index: number,
    readonly lease: string,
    readonly pool: object
  ) {}
}

/** What one attempt at a key found: a lease, or why none (times on this process' clock). */
type Attempt =
  | { readonly _tag: "Taken"; readonly lease: KeyPool.Lease }
  | {
    readonly _tag: "Blocked"
    readonly allDisabled: boolean
    readonly availableAt: number | undefined
    readonly releasable: boolean
  }

/** Where a pool keeps what its instances share: a lease store, and the key naming the pool in it. */
export interface Backend {
  readonly store: KeyPool.LeaseStore["Service"]
  readonly key: string
}

/**
 * The name of a pool's state in the store: its key, and a digest of its endpoint when it names one, so pools
 * of one key but distinct endpoints keep apart. A digest, not the endpoint: a base URL may hold credentials.
 */
function groupKeyOf(key: string, endpoint: string | undefined): string {
  return endpoint === undefined
    ? `pool:${key}`
    : `pool:${key}@${createHash("sha256").update(endpoint).digest("hex").slice(0, 16)}`
}

/** A pool over options `KeyPool.make` has checked, kept in `backend`. */
export const make = (
  options: KeyPool.Options,
  backend: Backend,
  settings: Settings
): Effect.Effect<KeyPool.Service> =>
  Effect.gen(function*() {
    const { cooldown, maxWaitMillis, providerId, slowStartMillis } = settings
    const slots = makeState(providerId, options.keys).slots
    const isCapped = slots.map((slot) => slot.maxConcurrency !== Infinity)
    const capped = slots.filter((_, i) => isCapped[i])
    const uncappedSlots = slots.filter((_, i) => !isCapped[i])
    const groupKey = groupKeyOf(backend.key, options.endpoint)
    // The pool's index of each capped key, by its place in the lease group; and of each uncapped one.
    const cappedAt = slots.flatMap((_, i) => isCapped[i] ? [i] : [])
    const uncappedAt = slots.flatMap((_, i) => isCapped[i] ? [] : [i])
    const group = capped.length === 0 ? undefined : yield* backend.store.leases({
      key: groupKey,
      candidates: capped.map((slot) => ({
        id: slot.credentials.keyId,
        weight: slot.weight,
        maxConcurrency: slot.maxConcurrency
      })),
      slowStartMillis
    })
    const uncapped = uncappedSlots.length === 0 ? undefined : yield* Uncapped.make(
      backend.store,
      groupKey,
      uncappedSlots.map((slot) => ({ key: slot.credentials.key, weight: slot.weight })),
      settings
    )
    const uncappedState = uncapped === undefined ? undefined : Ref.getUnsafe(uncapped.ref)
    const token = {}
    const totals = capped.map(() => 0)
    const failures = capped.map(() => 0)
    // This instance's shared leases, for `status` while the store is away.
    const holding = capped.map(() => 0)

    const noCapacity = (availableAt: number | undefined) =>
      new NoCapacityError(
        availableAt === undefined
          ? { provider: providerId, model: "" }
          : { provider: providerId, model: "", availableAt }
      )
    const storeUnavailable = new NoCapacityError({ provider: providerId, model: "", storeUnavailable: true })

    const leaseOf = (taken: KeyPool.LeaseTaken): KeyPool.Lease => {
      totals[taken.index]!++
      holding[taken.index]!++
      const at = cappedAt[taken.index]!
      return new SharedLease(slots[at]!.credentials, at, taken.index, taken.lease, token)
    }

    // An uncapped key from this process' state: taken, or why none.
    const takeUncapped = (now: number): Attempt => {
      if (uncappedState === undefined) {
        return { _tag: "Blocked", allDisabled: true, availableAt: undefined, releasable: false }
      }
      const result = tryAcquire(uncappedState, now, slowStartMillis)
      if (result._tag === "Slot") {
        return { _tag: "Taken", lease: result.lease }
      }
      return { _tag: "Blocked", allDisabled: result.allDisabled, availableAt: result.availableAt, releasable: false }
    }

    // The least loaded key: an uncapped one without a round trip when the pool has no capped keys; otherwise a
    // capped one from Redis when it is less loaded than the best uncapped one.
    const attempt: Effect.Effect<Attempt, StoreUnavailableError> = Effect.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      if (group === undefined) {
        return Effect.andThen(uncapped!.check, Effect.sync(() => takeUncapped(now)))
      }
      const best = uncappedState === undefined ? undefined : leastLoaded(uncappedState, now, slowStartMillis)
      const pick = best === undefined
        ? group.pick
        : group.pickBelow({ inFlight: best.inFlight + best.elsewhere, share: best.weight * best.level / levels })
      return Effect.map(pick, (result): Attempt => {
        if (result._tag === "Taken") {
          return { _tag: "Taken", lease: leaseOf(result) }
        }
        const local = takeUncapped(now)
        if (result._tag === "Declined" || local._tag === "Taken") return local
        const availableAt = result.availableAt === undefined ? undefined : now + (result.availableAt - result.now)
        return {
          _tag: "Blocked",
          allDisabled: result.allDisabled && local.allDisabled,
          availableAt: local.availableAt === undefined || availableAt === undefined
            ? local.availableAt ?? availableAt
            : Math.min(local.availableAt, availableAt),
          releasable: result.releasable
        }
      })
    })

    // As the in-memory pool waits: for a release (polled: it may come from
    // another instance) or a cooldown's end, within `maxWait`; a cooling key only
    // when it cools by `cooledBy`.
    const takeLoop = (deadline: number | undefined, cooledBy: number): Effect.Effect<KeyPool.Lease, NoCapacityError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.flatMap(
          Effect.catchTag(attempt, "StoreUnavailableError", () => Effect.succeed(undefined)),
          (result) => {
            if (result === undefined) return Effect.fail(storeUnavailable)
            if (result._tag === "Taken") return Effect.succeed(result.lease)
            const availableAt = result.availableAt
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

    const tryTake: Effect.Effect<KeyPool.Lease | undefined> = Effect.flatMap(
      Effect.catchTag(attempt, "StoreUnavailableError", () => Effect.succeed(undefined)),
      (result) => Effect.succeed(result?._tag === "Taken" ? result.lease : undefined)
    )

    // The named key: an uncapped one here, a capped one in the store.
    const tryTakeKey = (keyId: string): Effect.Effect<KeyPool.Lease | undefined> => {
      const index = slots.findIndex((slot) => slot.credentials.keyId === keyId)
      if (index < 0) return Effect.succeed(undefined)
      if (!isCapped[index]) {
        return Effect.clockWith((clock) => {
          const slot = () =>
            tryAcquireKey(uncappedState!, keyId, clock.currentTimeMillisUnsafe(), slowStartMillis)?.lease
          return Effect.match(uncapped!.check, { onFailure: () => undefined, onSuccess: slot })
        })
      }
      return Effect.match(group!.pickOne(cappedAt.indexOf(index)), {
        onFailure: () => undefined,
        onSuccess: (taken) => taken === undefined ? undefined : leaseOf(taken)
      })
    }

    const foreign = Effect.die(new Error(`KeyPool ${providerId}: a lease this pool did not issue was given to it`))

    // One script drops the lease and applies the outcome; a store that went
    // away meanwhile lets the lease expire within its TTL.
    const settle = (lease: SharedLease, leaseName: string, outcome: Settled | undefined) =>
      Effect.withFiber((fiber) => {
        if (lease.pool !== token) return foreign
        if (leaseName !== "") holding[lease.index]!--
        const verdict = outcome === undefined ? undefined : verdictOf(outcome)
        if (verdict !== undefined && verdict._tag !== "Success" && verdict._tag !== "Ignored") failures[lease.index]!++
        if (verdict?._tag === "Success") failures[lease.index] = 0
        const told = verdict === undefined ? undefined : sharedVerdictOf(verdict, cooldown, fiber.getRef(Random.Random))
        if (leaseName === "" && told === undefined) return Effect.void
        return Effect.ignore(group!.release(lease.index, leaseName, told))
      })

    const release = (lease: KeyPool.Lease, options?: KeyPool.ReleaseOptions): Effect.Effect<void> => {
      if (uncapped !== undefined && uncapped.owns(lease)) return uncapped.release(lease, options)
      if (!(lease instanceof SharedLease)) return foreign
      if (lease.pool === token && lease.held) {
        lease.held = false
        if (options?.unused === true) totals[lease.index]!--
      }
      return settle(lease, lease.lease, lease.succeeded ? "success" : undefined)
    }

    // A success while the lease is held goes with its release; any other outcome at once, as it may cool or
    // disable the key for every instance.
    const report = (lease: KeyPool.Lease, outcome: KeyPool.Outcome): Effect.Effect<void> => {
      if (uncapped !== undefined && uncapped.owns(lease)) return uncapped.report(lease, outcome)
      if (!(lease instanceof SharedLease)) return foreign
      if (outcome === "success" && lease.pool === token && lease.held) {
        lease.succeeded = true
        failures[lease.index] = 0
        return Effect.void
      }
      return settle(lease, "", outcome)
    }

    const cappedStatus: Effect.Effect<ReadonlyArray<KeyPool.KeyStatus>> = group === undefined
      ? Effect.succeed([])
      : Effect.flatMap(
        Effect.catchTag(group.status, "StoreUnavailableError", () => Effect.succeed(undefined)),
        (read) => {
          // Without the store no key is usable; the leases shown are this instance's.
          const unknown = (i: number) => ({ inFlight: holding[i]!, coolingUntil: 0, disabled: undefined })
          const now = read?.now ?? 0
          return Effect.succeed(capped.map((slot, i): KeyPool.KeyStatus => {
            const key = read === undefined ? unknown(i) : read.keys[i]!
            const cooling = key.disabled === undefined && key.coolingUntil > now
            const warming = slowStartMillis > 0 && key.coolingUntil > 0 && now - key.coolingUntil < slowStartMillis
            return {
              keyId: slot.credentials.keyId,
              weight: slot.weight,
              maxConcurrency: slot.maxConcurrency,
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

    // The pool's keys in its order: the capped ones as Redis counts them, the others as this instance sees them.
    const status: Effect.Effect<ReadonlyArray<KeyPool.KeyStatus>> = Effect.flatMap(cappedStatus, (cappedKeys) =>
      Effect.clockWith((clock) => {
        const now = clock.currentTimeMillisUnsafe()
        const uncappedKeys = uncappedState === undefined ? [] : localStatus(uncappedState, now, slowStartMillis)
        // Without the store no key is usable.
        const usable = uncapped === undefined || !uncapped.unavailable()
        const out = new Array<KeyPool.KeyStatus>(slots.length)
        cappedAt.forEach((at, i) => out[at] = cappedKeys[i]!)
        uncappedAt.forEach((at, i) => out[at] = usable ? uncappedKeys[i]! : { ...uncappedKeys[i]!, share: 0 })
        return Effect.succeed(out)
      }))

    return {
      providerId,
      acquire: acquireOf(take(), release),
      take,
      tryTake,
      tryTakeKey,
      release,
      report,
      status
    }
  })
