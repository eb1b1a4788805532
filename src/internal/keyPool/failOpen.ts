/**
 * Fail-open, as a decorator over `KeyPool.LeaseStore` (the shared part is `persistence/failOpen.ts`): every step goes
 * to the shared store and, while that fails with `StoreUnavailableError`, to an outage's local store whose keys hold `1
 * / instances` of their caps. A lease is given back where it was taken; a verdict goes to the store serving at that
 * moment. Loads published during an outage reach no other instance, so uncapped keys are picked by this instance's
 * calls alone.
 *
 * An outage frees no key: its local store begins with every key as this instance last read it in the shared store (a
 * pick rereads the states when their version moved, so another instance's cooldown is known), so a key cooling there
 * cools here until the same end, and a disabled key stays disabled.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as KeyPool from "../../KeyPool.js"
import type { StoreUnavailableError } from "../../Store.js"
import { countShareOf, outage } from "../persistence/failOpen.js"

/** A key's state as this instance last read it in the shared store. */
interface Known {
  /** The cooldown's end on this instance's `Clock` (epoch ms); 0: none known. */
  coolingUntil: number
  disabled: string | undefined
}

/** What the decorator knows of each key, per lease group (`LeasesOptions.key`), by masked id. */
class Knowledge {
  private readonly groups = new Map<string, Map<string, Known>>()

  private of(key: string, id: string): Known {
    let group = this.groups.get(key)
    if (group === undefined) this.groups.set(key, group = new Map())
    let known = group.get(id)
    if (known === undefined) group.set(id, known = { coolingUntil: 0, disabled: undefined })
    return known
  }

  /** A cooldown the shared store answered, its end at `until` when its time was `storeNow`. */
  cooled(key: string, id: string, until: number, storeNow: number, localNow: number): void {
    if (until === 0) return
    this.of(key, id).coolingUntil = localNow + Math.max(0, until - storeNow)
  }

  disabled(key: string, id: string, reason: string): void {
    this.of(key, id).disabled = reason
  }

  /** A key's whole state as the shared store read it (a status, a publish's view). */
  read(
    key: string,
    id: string,
    state: { readonly coolingUntil: number; readonly disabled: string | undefined },
    storeNow: number,
    localNow: number
  ): void {
    const known = this.of(key, id)
    known.coolingUntil = state.coolingUntil > storeNow ? localNow + state.coolingUntil - storeNow : 0
    known.disabled = state.disabled
  }

  get(key: string, id: string): Known | undefined {
    return this.groups.get(key)?.get(id)
  }
}

/** Verdicts that put on a local key what is known of it: a disable, or a cooldown of exactly what is left of it. */
function knownVerdicts(known: Known, now: number): ReadonlyArray<KeyPool.LeaseVerdict> {
  if (known.disabled !== undefined) return [{ disabled: known.disabled }]
  const left = known.coolingUntil - now
  return left > 0 ? [{ askedMillis: left, initialMillis: left, maxMillis: left, jitterFactor: 1, capMillis: left }] : []
}

/** An outage's local store, and the groups it has begun (each begun once, from what was known). */
interface Local {
  readonly store: KeyPool.LeaseStore["Service"]
  readonly leases: Map<KeyPool.LeasesOptions, KeyPool.Leases>
  readonly loads: Map<KeyPool.LoadsOptions, KeyPool.Loads>
}

// A verdict's answer from the shared store, kept in `knowledge`: the cooldown it gave, the disable it made.
const told =
  (knowledge: Knowledge, key: string, id: string | undefined, verdict: KeyPool.LeaseVerdict | undefined) =>
  (answer: readonly [number, number]) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      if (id === undefined) return answer
      if (verdict !== undefined && verdict !== "success" && "disabled" in verdict) {
        knowledge.disabled(key, id, verdict.disabled)
      }
      knowledge.cooled(key, id, answer[0], answer[1], now)
      return answer
    })

// The keys' states read from the shared store, kept in `knowledge`.
const readAll = (
  knowledge: Knowledge,
  key: string,
  ids: ReadonlyArray<string>,
  states: ReadonlyArray<{ readonly coolingUntil: number; readonly disabled: string | undefined }>,
  storeNow: number
) =>
  Effect.map(Clock.currentTimeMillis, (now) => {
    states.forEach((state, index) => {
      const id = ids[index]
      if (id !== undefined) knowledge.read(key, id, state, storeNow, now)
    })
  })

/** `shared`, falling back while it is unavailable on an outage's `local()` store with `1 / instances` of each cap. */
export const failOpen = (
  shared: KeyPool.LeaseStore["Service"],
  local: () => KeyPool.LeaseStore["Service"],
  instances: number
): KeyPool.LeaseStore["Service"] => {
  const knowledge = new Knowledge()
  const outages = outage(Effect.sync((): Local => ({ store: local(), leases: new Map(), loads: new Map() })))

  // Applies what is known of the keys `ids` through `tell` (a local release or tell of key `index`).
  const carry = (
    key: string,
    ids: ReadonlyArray<string>,
    tell: (index: number, verdict: KeyPool.LeaseVerdict) => Effect.Effect<unknown, StoreUnavailableError>
  ) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.forEach(ids, (id, index) => {
        const known = knowledge.get(key, id)
        return known === undefined
          ? Effect.void
          : Effect.forEach(knownVerdicts(known, now), (verdict) => Effect.orDie(tell(index, verdict)))
      }, { discard: true }))

  const localLeases = (options: KeyPool.LeasesOptions) => (outage: Local): Effect.Effect<KeyPool.Leases> => {
    const begun = outage.leases.get(options)
    if (begun !== undefined) return Effect.succeed(begun)
    return Effect.tap(
      outage.store.leases({
        ...options,
        candidates: options.candidates.map((candidate) => ({
          ...candidate,
          maxConcurrency: candidate.maxConcurrency === Infinity
            ? Infinity
            : countShareOf(candidate.maxConcurrency, instances)
        }))
      }),
      (leases) => {
        outage.leases.set(options, leases)
        return carry(
          options.key,
          options.candidates.map((candidate) => candidate.id),
          (index, verdict) => leases.release(index, "", verdict)
        )
      }
    )
  }

  const localLoads = (options: KeyPool.LoadsOptions) => (outage: Local): Effect.Effect<KeyPool.Loads> => {
    const begun = outage.loads.get(options)
    if (begun !== undefined) return Effect.succeed(begun)
    return Effect.tap(outage.store.loads(options), (loads) => {
      outage.loads.set(options, loads)
      return carry(options.key, options.ids, loads.tell)
    })
  }

  function leasesOf(options: KeyPool.LeasesOptions, sharedLeases: KeyPool.Leases): KeyPool.Leases {
    const { key } = options
    const ids = options.candidates.map((candidate) => candidate.id)
    const onLocal = <A>(step: (leases: KeyPool.Leases) => Effect.Effect<A, StoreUnavailableError>) => (outage: Local) =>
      Effect.flatMap(localLeases(options)(outage), (leases) => Effect.orDie(step(leases)))
    // The leases taken from an outage's local store, which only it can give back.
    const localHeld = new Map<string, KeyPool.Leases>()
    const fromLocal = <A extends { readonly _tag: string } | undefined>(
      step: (leases: KeyPool.Leases) => Effect.Effect<A, StoreUnavailableError>
    ) =>
      onLocal((leases) =>
        Effect.map(step(leases), (picked) => {
          if (picked?._tag === "Taken") localHeld.set((picked as KeyPool.LeaseTaken).lease, leases)
          return picked
        })
      )
    const readStatus = Effect.tap(
      sharedLeases.status,
      (status) => readAll(knowledge, key, ids, status.keys, status.now)
    )
    // The keys' states' version last read here. A pick that answers another reads the states (a cooldown or a disable
    // another instance set), so an outage begins from them without waiting for a status read of the pool's own.
    let version: string | undefined
    const learned = <A extends KeyPool.LeaseTaken | KeyPool.LeaseBlocked | KeyPool.LeaseDeclined>(
      picked: A
    ): Effect.Effect<A> => {
      const moved = picked._tag === "Declined" ? undefined : picked.stateVersion
      if (moved === undefined || moved === version) return Effect.succeed(picked)
      // Not read (the store failing): the next pick tries again.
      return Effect.as(Effect.ignore(Effect.tap(readStatus, () => Effect.sync(() => version = moved))), picked)
    }
    return {
      pick: outages.orLocal(Effect.flatMap(sharedLeases.pick, learned), fromLocal((leases) => leases.pick)),
      pickBelow: (bar) =>
        outages.orLocal(
          Effect.flatMap(sharedLeases.pickBelow(bar), learned),
          fromLocal((leases) => leases.pickBelow(bar))
        ),
      pickOne: (index) => outages.orLocal(sharedLeases.pickOne(index), fromLocal((leases) => leases.pickOne(index))),
      release: (index, lease, verdict) => {
        const heldBy = localHeld.get(lease)
        if (heldBy !== undefined) {
          localHeld.delete(lease)
          return heldBy.release(index, lease, verdict)
        }
        return outages.orLocal(
          Effect.flatMap(sharedLeases.release(index, lease, verdict), told(knowledge, key, ids[index], verdict)),
          onLocal((leases) => leases.release(index, "", verdict))
        )
      },
      status: outages.orLocal(readStatus, onLocal((leases) => leases.status))
    }
  }

  function loadsOf(options: KeyPool.LoadsOptions, sharedLoads: KeyPool.Loads): KeyPool.Loads {
    const { ids, key } = options
    const onLocal = <A>(step: (loads: KeyPool.Loads) => Effect.Effect<A, StoreUnavailableError>) => (outage: Local) =>
      Effect.flatMap(localLoads(options)(outage), (loads) => Effect.orDie(step(loads)))
    return {
      publish: (counts) =>
        outages.orLocal(
          Effect.tap(
            sharedLoads.publish(counts),
            (view) => view.keys === undefined ? Effect.void : readAll(knowledge, key, ids, view.keys, view.now)
          ),
          onLocal((loads) => loads.publish(counts))
        ),
      tell: (index, verdict) =>
        outages.orLocal(
          Effect.flatMap(sharedLoads.tell(index, verdict), told(knowledge, key, ids[index], verdict)),
          onLocal((loads) => loads.tell(index, verdict))
        ),
      post: sharedLoads.post,
      every: sharedLoads.every
    }
  }

  return {
    leases: (options) => Effect.map(shared.leases(options), (sharedLeases) => leasesOf(options, sharedLeases)),
    loads: (options) => Effect.map(shared.loads(options), (sharedLoads) => loadsOf(options, sharedLoads))
  }
}
