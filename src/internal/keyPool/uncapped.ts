/**
 * A stored pool's keys without a cap: picked in this process, by the state
 * machine of the in-memory pool (`keyPool/state.ts`), over this instance's
 * calls plus the other instances' as they last published them
 * (`KeyPool.Loads`). A call on such a key costs no round trip to the
 * store; a cooldown or a disable it reports is told to the store at once
 * (a cooldown's end is the store's, so every instance cools alike), and the
 * other instances learn it at their next publish. Every publish period of
 * the store this instance's counts are published and the others' and the
 * keys' states taken in.
 *
 * While the store is away the others' counts count as none: the keys are
 * picked by this instance's calls alone.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import type * as KeyPool from "../../KeyPool.js"
import type { StoreUnavailableError } from "../../Store.js"
import { sharedVerdictOf, verdictOf } from "./outcome.js"
import { makeService, type Settings } from "./service.js"
import { coolUntil, disable, LeaseImpl, makeState, setElsewhere, type State } from "./state.js"

/** The keys without a cap of one shared pool. */
export interface Uncapped {
  readonly ref: Ref.Ref<State>
  /** The last publish failed: whether the store is away, as a publish now finds it. */
  readonly check: Effect.Effect<void, StoreUnavailableError>
  /** The last publish failed (the store is away, as far as this instance knows). */
  readonly unavailable: () => boolean
  /** Whether `lease` was issued here. */
  readonly owns: (lease: KeyPool.Lease) => boolean
  readonly release: (lease: KeyPool.Lease, options?: KeyPool.ReleaseOptions) => Effect.Effect<void>
  readonly report: (lease: KeyPool.Lease, outcome: KeyPool.Outcome) => Effect.Effect<void>
}

const wake = (deferred: Deferred.Deferred<void> | undefined): void => {
  if (deferred !== undefined) Deferred.doneUnsafe(deferred, Effect.void)
}

/** The keys `keys` (none with a cap) of the pool whose lease group is under `key`. */
export const make = (
  store: KeyPool.LeaseStore["Service"],
  key: string,
  keys: KeyPool.Options["keys"],
  settings: Settings
): Effect.Effect<Uncapped> =>
  Effect.gen(function*() {
    const state = makeState(settings.providerId, keys)
    const ref = Ref.makeUnsafe(state)
    const local = makeService(ref, settings)
    const published = yield* store.loads({ key, ids: state.slots.map((slot) => slot.credentials.keyId) })
    // Rate limits since the key's last success, as the store counts them: a success clears them there only when
    // there are some.
    const rateLimits = state.slots.map(() => 0)
    let unavailable: StoreUnavailableError | undefined

    // The store's epoch milliseconds `at`, read by it at `storeNow`, on this process' clock at `now`.
    const localTime = (at: number, storeNow: number, now: number) => now + (at - storeNow)

    const takeIn = (view: KeyPool.LoadsView, now: number) => {
      for (let i = 0; i < state.slots.length; i++) {
        const slot = state.slots[i]!
        setElsewhere(state, slot, view.elsewhere[i]!)
        const shared = view.keys?.[i]
        if (shared === undefined) continue
        rateLimits[i] = shared.rateLimits
        if (shared.disabled !== undefined) wake(disable(state, slot, shared.disabled))
        else if (shared.coolingUntil > view.now) {
          wake(coolUntil(state, slot, localTime(shared.coolingUntil, view.now, now)))
        }
      }
    }

    const publish = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.match(
        published.publish(state.slots.map((slot) => slot.inFlight)),
        {
          onSuccess: (view) => {
            unavailable = undefined
            takeIn(view, now)
          },
          onFailure: (error) => {
            unavailable = error
            for (const slot of state.slots) setElsewhere(state, slot, 0)
          }
        }
      ))
    yield* publish
    yield* published.every(publish)

    const owns = (lease: KeyPool.Lease) => lease instanceof LeaseImpl && lease.pool === state.token

    // A rate limit's cooldown is the store's (its count of rate limits, its clock); without the store, this
    // instance's own.
    const rateLimited = (
      lease: KeyPool.Lease,
      outcome: KeyPool.Outcome,
      told: Effect.Effect<readonly [number, number], StoreUnavailableError>
    ) =>
      Effect.matchEffect(told, {
        onFailure: () => local.report(lease, outcome),
        onSuccess: ([until, storeNow]) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            Effect.sync(() => {
              const slot = state.slots[lease.slot]!
              slot.failures++
              rateLimits[lease.slot] = Math.max(1, rateLimits[lease.slot]!)
              if (until > 0) wake(coolUntil(state, slot, localTime(until, storeNow, now)))
            }))
      })

    const report = (lease: KeyPool.Lease, outcome: KeyPool.Outcome): Effect.Effect<void> => {
      if (!owns(lease)) return local.report(lease, outcome)
      const verdict = verdictOf(outcome)
      if (verdict._tag === "Failed" || verdict._tag === "Ignored") return local.report(lease, outcome)
      return Effect.withFiber((fiber) => {
        const told = sharedVerdictOf(verdict, settings.cooldown, fiber.getRef(Random.Random))!
        if (verdict._tag === "RateLimited") return rateLimited(lease, outcome, published.tell(lease.slot, told))
        if (verdict._tag === "Rejected") {
          return Effect.andThen(local.report(lease, outcome), Effect.ignore(published.tell(lease.slot, told)))
        }
        if (rateLimits[lease.slot] === 0) return local.report(lease, outcome)
        rateLimits[lease.slot] = 0
        return Effect.andThen(local.report(lease, outcome), published.post(lease.slot, told))
      })
    }

    const check = Effect.suspend(() =>
      unavailable === undefined
        ? Effect.void
        : Effect.andThen(
          publish,
          Effect.suspend(() => unavailable === undefined ? Effect.void : Effect.fail(unavailable))
        )
    )

    return { ref, check, unavailable: () => unavailable !== undefined, owns, release: local.release, report }
  })
