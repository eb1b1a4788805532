/**
 * The key pool service over its state machine (`keyPool/state.ts`), and the
 * service `KeyPool.fromAcquire` builds from a scoped `acquire`.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import type * as KeyPool from "../../KeyPool.js"
import { NoCapacityError } from "../../LlmError.js"
import type * as ProviderClient from "../../ProviderClient.js"
import type { Cooldown, Settled } from "./outcome.js"
import { LeaseImpl, release, report, type Slot, type State, status, tryAcquire, tryAcquireKey } from "./state.js"

/** What a pool view needs besides the shared state. */
export interface Settings {
  readonly providerId: string
  readonly cooldown: Cooldown
  readonly slowStartMillis: number
  /** `undefined`: fail at once when exhausted. */
  readonly maxWaitMillis: number | undefined
}

/** Defaults documented on `KeyPool.Options`. */
export const defaultInitialCooldown = Duration.seconds(1)
export const defaultMaxCooldown = Duration.seconds(30)
export const defaultCooldownCap = Duration.minutes(5)
export const defaultSlowStart = Duration.seconds(10)
export const defaultMaxWait = Duration.seconds(60)

const millisOf = (input: Duration.Input) => Duration.toMillis(Duration.fromInputUnsafe(input))

export const settingsOf = (options: KeyPool.Options): Settings => {
  const exhausted = options.whenExhausted ?? { _tag: "Wait", maxWait: defaultMaxWait }
  const cooldown = options.rateLimitCooldown
  const initialMillis = millisOf(cooldown?.initial ?? defaultInitialCooldown)
  return {
    providerId: options.providerId,
    cooldown: {
      initialMillis,
      // A max below the initial cooldown caps it: every cooldown is then the max.
      maxMillis: millisOf(cooldown?.max ?? Duration.max(defaultMaxCooldown, Duration.millis(initialMillis))),
      jitter: cooldown?.jitter ?? true,
      capMillis: millisOf(options.maxCooldown ?? defaultCooldownCap)
    },
    slowStartMillis: millisOf(options.slowStart ?? defaultSlowStart),
    maxWaitMillis: exhausted._tag === "Fail" ? undefined : millisOf(exhausted.maxWait)
  }
}

const wakeAll = (wake: Deferred.Deferred<void> | undefined): Effect.Effect<void> =>
  wake === undefined ? Effect.void : Deferred.succeed(wake, undefined)

const noCapacity = (providerId: string, availableAt: number | undefined) =>
  new NoCapacityError(
    availableAt === undefined ? { provider: providerId, model: "" } : { provider: providerId, model: "", availableAt }
  )

/** A lease of a pool built by `fromAcquire`, with the scope its `acquire` runs in. */
class ScopedLease implements KeyPool.Lease {
  readonly credentials: ProviderClient.Credentials
  readonly slot: number
  constructor(readonly lease: KeyPool.Lease, readonly scope: Scope.Closeable) {
    this.credentials = lease.credentials
    this.slot = lease.slot
  }
}

/**
 * `KeyPool.fromAcquire`: each `take` acquires in a scope of its own, closed by
 * `release`. Such a pool cannot be tried without waiting, so `tryTake` (and `tryTakeKey`) always
 * says no, nor told how long to wait, so `take` waits as its `acquire` does.
 */
export const fromAcquire = (scoped: KeyPool.ScopedService): KeyPool.Service => {
  const foreign = Effect.die(new Error(`KeyPool ${scoped.providerId}: a lease this pool did not issue was given to it`))
  const take = Effect.flatMap(Scope.make(), (scope) =>
    Effect.map(
      Effect.onError(Scope.provide(scoped.acquire, scope), (cause) => Scope.close(scope, Exit.failCause(cause))),
      (lease): KeyPool.Lease => new ScopedLease(lease, scope)
    ))
  return {
    providerId: scoped.providerId,
    acquire: scoped.acquire,
    take: () => take,
    tryTake: Effect.succeed(undefined),
    tryTakeKey: () => Effect.succeed(undefined),
    release: (lease) => lease instanceof ScopedLease ? Scope.close(lease.scope, Exit.void) : foreign,
    report: (lease, outcome) =>
      lease instanceof ScopedLease ? scoped.report(lease.lease, outcome) : scoped.report(lease, outcome),
    status: scoped.status
  }
}

/** A service over a (possibly shared) state. */
export const makeService = (ref: Ref.Ref<State>, settings: Settings): KeyPool.Service => {
  const { cooldown, maxWaitMillis, providerId, slowStartMillis } = settings

  const attempt = (now: number) => Ref.modify(ref, (state) => [tryAcquire(state, now, slowStartMillis), state])

  // The waits are interruptible, whatever region `take` runs in; a key is
  // only ever counted in the uninterruptible step that returns it. A cooling
  // key is waited for only when its cooldown ends by `cooledBy`.
  const takeLoop = (deadline: number | undefined, cooledBy: number): Effect.Effect<KeyPool.Lease, NoCapacityError> =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(attempt(now), (result) => {
        if (result._tag === "Slot") return Effect.succeed(result.lease)
        if (maxWaitMillis === undefined || result.allDisabled) {
          return Effect.fail(noCapacity(providerId, result.availableAt))
        }
        const until = deadline ?? now + maxWaitMillis
        const cooled = result.availableAt !== undefined && result.availableAt <= Math.min(until, cooledBy)
          ? result.availableAt
          : undefined
        if (now >= until || (!result.releasable && cooled === undefined)) {
          return Effect.fail(noCapacity(providerId, result.availableAt))
        }
        const wakeAt = Math.min(until, cooled ?? Infinity)
        return Effect.andThen(
          Effect.interruptible(Effect.race(Deferred.await(result.wake), Effect.sleep(Duration.millis(wakeAt - now)))),
          takeLoop(until, cooledBy)
        )
      }))

  const take = (options?: KeyPool.TakeOptions) =>
    Effect.suspend(() => takeLoop(undefined, options?.cooledBy ?? Infinity))

  // The fast paths (`tryTake`, `onSlot`) change the state in place, read from the ref within one effect: no
  // `Ref.modify`.
  const tryTake = Effect.clockWith((clock) => {
    const result = tryAcquire(Ref.getUnsafe(ref), clock.currentTimeMillisUnsafe(), slowStartMillis)
    return Effect.succeed(result._tag === "Slot" ? result.lease : undefined)
  })

  const tryTakeKey = (keyId: string) =>
    Effect.clockWith((clock) => {
      const slot = tryAcquireKey(Ref.getUnsafe(ref), keyId, clock.currentTimeMillisUnsafe(), slowStartMillis)
      return Effect.succeed(slot === undefined ? undefined : slot.lease)
    })

  const slotOf = (state: State, lease: KeyPool.Lease): Slot | undefined =>
    lease instanceof LeaseImpl && lease.pool === state.token ? state.slots[lease.slot] : undefined

  const foreign = Effect.die(new Error(`KeyPool ${providerId}: a lease this pool did not issue was given to it`))

  // One step on the slot of `lease`; the waiters it frees are woken after it.
  // A lease this pool did not issue is a defect.
  type Wakes = readonly [first: Deferred.Deferred<void> | undefined, second?: Deferred.Deferred<void> | undefined]
  const onSlot = (
    lease: KeyPool.Lease,
    step: (state: State, slot: Slot, now: number, random: Random.Random) => Wakes
  ) =>
    Effect.withFiber((fiber) => {
      const state = Ref.getUnsafe(ref)
      const slot = slotOf(state, lease)
      if (slot === undefined) return foreign
      const wakes = step(state, slot, fiber.getRef(Clock.Clock).currentTimeMillisUnsafe(), fiber.getRef(Random.Random))
      return wakes[1] === undefined
        ? wakeAll(wakes[0])
        : wakes[0] === undefined
        ? wakeAll(wakes[1])
        : Effect.andThen(wakeAll(wakes[0]), wakeAll(wakes[1]))
    })

  const report_ = (lease: KeyPool.Lease, outcome: Settled) =>
    onSlot(lease, (state, slot, now, random) => [report(state, slot, outcome, { now, cooldown, random })])

  const release_ = (lease: KeyPool.Lease, options?: KeyPool.ReleaseOptions) =>
    onSlot(lease, (state, slot) => {
      if (options?.unused === true) slot.totalRequests--
      return [release(state, slot)]
    })

  return {
    providerId,
    acquire: acquireOf(take(), release_),
    take,
    tryTake,
    tryTakeKey,
    release: release_,
    report: report_,
    status: Effect.flatMap(
      Clock.currentTimeMillis,
      (now) => Effect.map(Ref.get(ref), (state) => status(state, now, slowStartMillis))
    )
  }
}

/** `take` held in the scope: uninterruptible from the count to the finalizer, so the key always goes back. */
export const acquireOf = (
  take: Effect.Effect<KeyPool.Lease, NoCapacityError>,
  release: (lease: KeyPool.Lease) => Effect.Effect<void>
): Effect.Effect<KeyPool.Lease, NoCapacityError, Scope.Scope> =>
  Effect.uninterruptible(
    Effect.flatMap(take, (lease) =>
      Effect.flatMap(Effect.scope, (scope) => Effect.as(Scope.addFinalizer(scope, release(lease)), lease)))
  )
