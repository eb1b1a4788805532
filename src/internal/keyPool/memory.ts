/**
 * The memory backend of `KeyPool.LeaseStore`: the steps of the Redis lease scripts (`store/leases.ts`,
 * `store/verdict.ts`, `store/published.ts`) on state kept in this process and read on the `Clock`, so `TestClock`
 * drives cooldowns, warm-ups and lapsing loads. Groups of one store under one key are one group, as they are in
 * Redis. A lease held here never lapses: its holder is this process, which cannot die without it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as KeyPool from "../../KeyPool.js"
import { uniqueId } from "../store/leases.js"

/** One key's shared state, as the Redis state hash keeps it. */
interface KeyFields {
  disabled: string | undefined
  /** When its last cooldown ends (kept after it, for the warm-up); 0: never cooled. */
  coolingUntil: number
  /** The pool's pick sequence number when it was last picked. */
  picked: number
  inFlight: number
  /** Rate limits since its last success. */
  rateLimits: number
}

/** What one key of the store keeps. */
interface Pool {
  readonly keys: Map<string, KeyFields>
  sequence: number
  /** Bumped by every cooldown and disable, so publishers know to read the keys' states again. */
  version: number
  /** Leases held, by name: the key each counts on. */
  readonly held: Map<string, string>
  /** The loads each publisher last published, and when they lapse. */
  readonly loads: Map<string, { readonly lapsesAt: number; readonly counts: ReadonlyMap<string, number> }>
}

// A publisher publishes as often as Store's default `publishPeriod`, and its loads count as long as its default
// `publishTtl`.
const publishPeriod = Duration.millis(100)
const publishTtlMillis = 1000

const fieldsOf = (pool: Pool, id: string): KeyFields => {
  let fields = pool.keys.get(id)
  if (fields === undefined) {
    fields = { disabled: undefined, coolingUntil: 0, picked: 0, inFlight: 0, rateLimits: 0 }
    pool.keys.set(id, fields)
  }
  return fields
}

const none = [0, 0] as const

// The lease (if any) dropped and the verdict applied to key `id`, as `store/verdict.ts`'s script does.
const settle = (
  pool: Pool,
  id: string,
  lease: string,
  verdict: KeyPool.LeaseVerdict | undefined,
  now: number
): readonly [number, number] => {
  const fields = fieldsOf(pool, id)
  if (lease !== "" && pool.held.delete(lease)) fields.inFlight--
  if (verdict === undefined) return none
  if (verdict === "success") {
    fields.rateLimits = 0
    return none
  }
  if ("disabled" in verdict) {
    fields.disabled = verdict.disabled
    pool.version++
    return none
  }
  if (fields.disabled !== undefined) return [0, now]
  pool.version++
  const cool = fields.coolingUntil
  // A rate limit reported while the key cools (a call sent before) does not count again.
  if (cool <= now) fields.rateLimits++
  const asked = verdict.askedMillis ?? Math.min(
    verdict.maxMillis,
    Math.floor(
      Math.min(verdict.maxMillis, verdict.initialMillis * 2 ** (fields.rateLimits - 1)) * verdict.jitterFactor + 0.5
    )
  )
  const until = now + Math.min(verdict.capMillis, Math.max(0, asked))
  // A cooldown is only ever extended.
  if (cool >= until) return [cool, now]
  fields.coolingUntil = until
  return [until, now]
}

// The lease of a usable key: its count and pick sequence moved on.
const taken = (pool: Pool, fields: KeyFields, id: string, index: number, inFlight: number): KeyPool.LeaseTaken => {
  const lease = uniqueId()
  fields.picked = ++pool.sequence
  fields.inFlight = inFlight + 1
  pool.held.set(lease, id)
  return { _tag: "Taken", index, lease }
}

/** A `LeaseStore` in this process' memory; publishers publish in `scope`. */
export const leaseStore = (scope: Scope.Scope): KeyPool.LeaseStore["Service"] => {
  const pools = new Map<string, Pool>()
  const poolOf = (key: string): Pool => {
    let pool = pools.get(key)
    if (pool === undefined) {
      pool = { keys: new Map(), sequence: 0, version: 0, held: new Map(), loads: new Map() }
      pools.set(key, pool)
    }
    return pool
  }

  const leases = (options: KeyPool.LeasesOptions): Effect.Effect<KeyPool.Leases> =>
    Effect.sync(() => {
      const { candidates, slowStartMillis } = options
      const pool = poolOf(options.key)

      // The least loaded usable candidate (in flight over weight times warm-up share, ties to the one picked
      // longest ago), or why none; declined when `bar` is no more loaded.
      const pickAt = (now: number, bar: KeyPool.LeaseLoad | undefined) => {
        let best = -1
        let bestIn = 0
        let bestShare = 1
        let bestPick = 0
        let earliest = -1
        let releasable = false
        let enabled = 0
        for (let c = 0; c < candidates.length; c++) {
          const candidate = candidates[c]!
          const fields = fieldsOf(pool, candidate.id)
          if (fields.disabled !== undefined) continue
          enabled++
          const cool = fields.coolingUntil
          if (cool > now) {
            if (earliest < 0 || cool < earliest) earliest = cool
            continue
          }
          const inFlight = Math.max(0, fields.inFlight)
          if (inFlight >= candidate.maxConcurrency) {
            releasable = true
            continue
          }
          const share = slowStartMillis > 0 && cool > 0 && now - cool < slowStartMillis
            ? candidate.weight * (1 + Math.floor((now - cool) * 9 / slowStartMillis)) / 10
            : candidate.weight
          const x = inFlight * bestShare
          const y = bestIn * share
          if (best < 0 || x < y || (x === y && fields.picked < bestPick)) {
            best = c
            bestIn = inFlight
            bestShare = share
            bestPick = fields.picked
          }
        }
        if (best < 0) {
          return {
            _tag: "Blocked",
            allDisabled: enabled === 0,
            availableAt: earliest < 0 ? undefined : earliest,
            releasable,
            now
          } satisfies KeyPool.LeaseBlocked
        }
        if (bar !== undefined && bar.inFlight * bestShare <= bestIn * bar.share) {
          return { _tag: "Declined" } satisfies KeyPool.LeaseDeclined
        }
        const id = candidates[best]!.id
        return taken(pool, fieldsOf(pool, id), id, best, bestIn)
      }

      const pick = Effect.clockWith((clock) =>
        Effect.sync(() =>
          pickAt(clock.currentTimeMillisUnsafe(), undefined) as KeyPool.LeaseTaken | KeyPool.LeaseBlocked
        )
      )

      const pickBelow = (bar: KeyPool.LeaseLoad) =>
        Effect.clockWith((clock) => Effect.sync(() => pickAt(clock.currentTimeMillisUnsafe(), bar)))

      const pickOne = (index: number) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => {
            const candidate = candidates[index]!
            const fields = fieldsOf(pool, candidate.id)
            if (fields.disabled !== undefined || fields.coolingUntil > clock.currentTimeMillisUnsafe()) return undefined
            const inFlight = Math.max(0, fields.inFlight)
            if (inFlight >= candidate.maxConcurrency) return undefined
            return taken(pool, fields, candidate.id, index, inFlight)
          })
        )

      const release = (index: number, lease: string, verdict: KeyPool.LeaseVerdict | undefined) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => settle(pool, candidates[index]!.id, lease, verdict, clock.currentTimeMillisUnsafe()))
        )

      const status = Effect.clockWith((clock) =>
        Effect.sync(() => ({
          now: clock.currentTimeMillisUnsafe(),
          keys: candidates.map((candidate): KeyPool.LeaseKeyState => {
            const fields = fieldsOf(pool, candidate.id)
            return {
              inFlight: Math.max(0, fields.inFlight),
              coolingUntil: fields.coolingUntil,
              disabled: fields.disabled
            }
          })
        }))
      )

      return { pick, pickBelow, pickOne, release, status }
    })

  const loads = (options: KeyPool.LoadsOptions): Effect.Effect<KeyPool.Loads> =>
    Effect.sync(() => {
      const { ids } = options
      const pool = poolOf(options.key)
      const publisher = uniqueId()
      let seen = -1

      const publish = (counts: ReadonlyArray<number>) =>
        Effect.clockWith((clock) =>
          Effect.sync((): KeyPool.LoadsView => {
            const now = clock.currentTimeMillisUnsafe()
            const mine = new Map<string, number>()
            ids.forEach((id, c) => {
              if (counts[c]! !== 0) mine.set(id, counts[c]!)
            })
            pool.loads.set(publisher, { lapsesAt: now + publishTtlMillis, counts: mine })
            const elsewhere = ids.map(() => 0)
            for (const [other, load] of pool.loads) {
              if (other === publisher) continue
              if (load.lapsesAt <= now) {
                pool.loads.delete(other)
                continue
              }
              ids.forEach((id, c) => {
                elsewhere[c]! += load.counts.get(id) ?? 0
              })
            }
            if (pool.version === seen) return { now, elsewhere, keys: undefined }
            seen = pool.version
            const keys = ids.map((id): KeyPool.PublishedKeyState => {
              const fields = fieldsOf(pool, id)
              return { disabled: fields.disabled, coolingUntil: fields.coolingUntil, rateLimits: fields.rateLimits }
            })
            return { now, elsewhere, keys }
          })
        )

      const tell = (index: number, verdict: KeyPool.LeaseVerdict) =>
        Effect.clockWith((clock) =>
          Effect.sync(() => settle(pool, ids[index]!, "", verdict, clock.currentTimeMillisUnsafe()))
        )

      return {
        publish,
        tell,
        post: (index, verdict) => Effect.asVoid(tell(index, verdict)),
        every: (step) =>
          Effect.asVoid(Effect.forkIn(Effect.forever(Effect.andThen(Effect.sleep(publishPeriod), step)), scope))
      }
    })

  return { leases, loads }
}
