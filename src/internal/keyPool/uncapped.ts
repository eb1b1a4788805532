/**
 * A stored pool's keys without a cap, where its store publishes loads rather than lease them (Redis): picked in this
 * process from a memory store's group (`keyPool/memory.ts`), over this instance's calls plus the others' as they last
 * published them. A call costs no round trip; a cooldown or disable it reports goes to the store at once (the store
 * sets a cooldown's end, so every instance cools alike), and the others learn it at their next publish.
 *
 * While the store is away the others' counts count as none: the keys are picked by this instance's calls alone.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as KeyPool from "../../KeyPool.js"
import type * as ProviderClient from "../../ProviderClient.js"
import type { StoreUnavailableError } from "../../Store.js"
import * as Memory from "./memory.js"
import type { Verdict } from "./stored.js"

/** An uncapped key: its credentials, its place in the pool, and its slot in the group. */
export interface LocalKey {
  readonly credentials: ProviderClient.Credentials
  readonly slot: number
  readonly local: Memory.Slot
}

/** A lease of an uncapped key, one a take, so that the pool can tell it was given back already. */
export class LocalLease implements KeyPool.Lease {
  /** Until released. */
  held = true
  readonly credentials: ProviderClient.Credentials
  readonly slot: number
  readonly local: Memory.Slot
  constructor(key: LocalKey, readonly pool: object) {
    this.credentials = key.credentials
    this.slot = key.slot
    this.local = key.local
  }
}

/** The keys without a cap of one stored pool. */
export interface Uncapped {
  readonly group: Memory.Group
  /** Each key, by its place among the uncapped keys. */
  readonly keys: ReadonlyArray<LocalKey>
  /** The last publish failed: whether the store is away, as a publish now finds it. */
  readonly check: Effect.Effect<void, StoreUnavailableError>
  /** The last publish failed (the store is away, as far as this instance knows). */
  readonly unavailable: () => boolean
  /** Tells a verdict on the key of `lease`, with the store's verdict `told` (`undefined`: none to tell). */
  readonly report: (lease: LocalLease, verdict: Verdict, told: KeyPool.LeaseVerdict | undefined) => Effect.Effect<void>
}

/** The keys `keys` (none with a cap) of the pool whose group is under `key`; `slot`: each one's place in the pool. */
export const make = (
  store: KeyPool.LeaseStore["Service"],
  key: string,
  keys: ReadonlyArray<{ readonly credentials: ProviderClient.Credentials; readonly weight: number }>,
  slot: ReadonlyArray<number>
): Effect.Effect<Uncapped> =>
  Effect.gen(function*() {
    const group = Memory.makeGroup()
    const slots = yield* Memory.joinInSteps(
      group,
      keys.map((entry) => ({ id: entry.credentials.keyId, weight: entry.weight, maxConcurrency: Infinity }))
    )
    const locals = keys.map((entry, i): LocalKey => ({
      credentials: entry.credentials,
      slot: slot[i]!,
      local: slots[i]!
    }))
    const published = yield* store.loads({ key, ids: slots.map((local) => local.id) })
    // Rate limits since the key's last success, as the store counts them: a success clears them there only when
    // there are some.
    const rateLimits = slots.map(() => 0)
    let unavailable: StoreUnavailableError | undefined

    // The store's epoch milliseconds `at`, read by it at `storeNow`, on this process' clock at `now`.
    const localTime = (at: number, storeNow: number, now: number) => now + (at - storeNow)

    const takeIn = (view: KeyPool.LoadsView, now: number) => {
      for (let i = 0; i < slots.length; i++) {
        const local = slots[i]!
        Memory.setElsewhere(group, local, view.elsewhere[i]!)
        const shared = view.keys?.[i]
        if (shared === undefined) continue
        rateLimits[i] = shared.rateLimits
        if (shared.disabled !== undefined) Memory.disable(group, local, shared.disabled)
        else if (shared.coolingUntil > view.now) {
          Memory.coolUntil(group, local, localTime(shared.coolingUntil, view.now, now))
        }
      }
    }

    const publish = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.match(
        published.publish(slots.map((local) => local.inFlight)),
        {
          onSuccess: (view) => {
            unavailable = undefined
            takeIn(view, now)
          },
          onFailure: (error) => {
            unavailable = error
            for (const local of slots) Memory.setElsewhere(group, local, 0)
          }
        }
      ))
    yield* publish
    yield* published.every(publish)

    // This instance's own verdict, while the store cannot take it.
    const applyHere = (lease: LocalLease, told: KeyPool.LeaseVerdict) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          Memory.apply(group, lease.local, told, now)
        }))

    const report = (lease: LocalLease, verdict: Verdict, told: KeyPool.LeaseVerdict | undefined) => {
      const index = lease.local.index
      if (told === undefined) return Effect.void
      if (verdict._tag === "RateLimited") {
        // The cooldown is the store's (its count of rate limits, its clock); without the store, this instance's own.
        return Effect.matchEffect(published.tell(index, told), {
          onFailure: () => applyHere(lease, told),
          onSuccess: ([until, storeNow]) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.sync(() => {
                rateLimits[index] = Math.max(1, rateLimits[index]!)
                if (until > 0) Memory.coolUntil(group, lease.local, localTime(until, storeNow, now))
              }))
        })
      }
      if (verdict._tag === "Rejected") {
        return Effect.andThen(applyHere(lease, told), Effect.ignore(published.tell(index, told)))
      }
      if (rateLimits[index] === 0) return applyHere(lease, told)
      rateLimits[index] = 0
      return Effect.andThen(applyHere(lease, told), published.post(index, told))
    }

    const check = Effect.suspend(() =>
      unavailable === undefined
        ? Effect.void
        : Effect.andThen(
          publish,
          Effect.suspend(() => unavailable === undefined ? Effect.void : Effect.fail(unavailable))
        )
    )

    return { group, keys: locals, check, unavailable: () => unavailable !== undefined, report }
  })
