/**
 * The memory backend of `KeyPool.LeaseStore`: the steps of the Redis lease scripts (`redis/leases.ts`,
 * `redis/verdict.ts`, `redis/published.ts`) on state kept in this process and read on the `Clock`, so `TestClock`
 * drives cooldowns, warm-ups and lapsing loads. A lease held here never lapses: its holder is this process, which
 * cannot die without it.
 *
 * A group (the keys under one key of the store, the union of every pool's keys naming it, each with the weight and cap
 * it was first listed with) keeps its usable keys in a min-heap by load, so a pick is O(log n) whatever the number of
 * keys. Every step is synchronous and runs in one effect, so under any concurrency each sees and leaves a consistent
 * group; the group is mutable on purpose, as copying the heap per pick would make a pick linear. A pick that finds no
 * key hands out a signal completed at the next change that may free one, so a pool waits for a release without
 * polling.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as KeyPool from "../../KeyPool.js"
import * as Heap from "../heap.js"
import { uniqueId } from "../persistence/uniqueId.js"
import * as Steps from "../steps.js"

/** How finely a warming key's share grows: from 1/levels to full in `levels - 1` steps. */
export const levels = 10

/** A key's level `elapsed` milliseconds into a slow start of `window`: 1 at its start, in equal steps to `levels`. */
export function levelAt(elapsed: number, window: number): number {
  return elapsed >= window ? levels : 1 + Math.floor(Math.max(0, elapsed) * (levels - 1) / window)
}

/** One key of a group and its counters. */
export interface Slot {
  /** Its place in the group (the heaps' id). */
  readonly index: number
  /** Its masked id. */
  readonly id: string
  readonly weight: number
  /** `Infinity`: unbounded. */
  readonly maxConcurrency: number
  inFlight: number
  /** Other instances' calls in flight on this key, as they last published them (`keyPool/uncapped.ts`). */
  elsewhere: number
  /** When its last cooldown ends (kept after it, for the warm-up); 0: never cooled. It cools while in `cooling`. */
  coolingUntil: number
  disabled: string | undefined
  /** The group's pick sequence number when this key was last picked: the oldest wins ties. */
  lastPicked: number
  /** Rate limits since its last success, one per cooldown (a rate limit while it cools adds none). */
  rateLimits: number
  /** Its share of its weight, in `levels`ths: below `levels` while it warms up after a cooldown. */
  level: number
  /** While warming up: when the cooldown ended, the window, and when the next level is due (epoch ms). */
  rampFrom: number
  rampWindow: number
  rampNext: number
}

/**
 * The keys under one key of the store. A slot is in `ready` exactly when it is enabled, not cooling and below its cap,
 * so the top of `ready` is the key to hand out; in `cooling` while enabled and its cooldown not seen to end (cooldowns
 * are compared with the clock at pick time, when the ended tops move back to `ready`).
 */
export interface Group {
  readonly slots: Array<Slot>
  readonly byId: Map<string, Slot>
  readonly ready: Heap.Heap<Slot>
  readonly cooling: Heap.Heap<Slot>
  /** Enabled slots warming up after a cooldown, soonest next level first. */
  readonly ramping: Heap.Heap<Slot>
  sequence: number
  /** Slots not disabled. */
  enabled: number
  /** Enabled slots at their cap: a release of one may free capacity. */
  saturated: number
  /** Bumped by every rate limit and disable, so publishers know to read the keys' states again. */
  version: number
  /**
   * Completed (and cleared) on every change that could let a waiter through; made only when a pick finds no key.
   * Every waiter wakes and picks again: cheaper than a queue of waiters kept consistent under interruption, at the
   * price of no FIFO order among them.
   */
  wake: Deferred.Deferred<void> | undefined
  /** Leases held, by name (a number of the group's, as a string: short to hash). */
  readonly held: Map<string, Slot>
  leases: number
  /** The loads each publisher last published, and when they lapse. */
  readonly loads: Map<string, { readonly lapsesAt: number; readonly counts: ReadonlyMap<string, number> }>
}

function byLoad(a: Slot, b: Slot): boolean {
  // Cross-multiplied so equal loads compare equal exactly (no rounding of inFlight / (weight * share)).
  const x = (a.inFlight + a.elsewhere) * b.weight * b.level
  const y = (b.inFlight + b.elsewhere) * a.weight * a.level
  if (x !== y) return x < y
  if (a.lastPicked !== b.lastPicked) return a.lastPicked < b.lastPicked
  return a.index < b.index
}

function byCooldownEnd(a: Slot, b: Slot): boolean {
  return a.coolingUntil !== b.coolingUntil ? a.coolingUntil < b.coolingUntil : a.index < b.index
}

function byNextLevel(a: Slot, b: Slot): boolean {
  return a.rampNext !== b.rampNext ? a.rampNext < b.rampNext : a.index < b.index
}

function indexOf(slot: Slot): number {
  return slot.index
}

export function makeGroup(): Group {
  return {
    slots: [],
    byId: new Map(),
    ready: Heap.make(byLoad, indexOf),
    cooling: Heap.make(byCooldownEnd, indexOf),
    ramping: Heap.make(byNextLevel, indexOf),
    sequence: 0,
    enabled: 0,
    saturated: 0,
    version: 0,
    wake: undefined,
    held: new Map(),
    leases: 0,
    loads: new Map()
  }
}

function wakeAll(group: Group): void {
  const wake = group.wake
  if (wake === undefined) return
  group.wake = undefined
  Deferred.doneUnsafe(wake, Effect.void)
}

/** The slots of `candidates` in order: those the group lacks added (waking its waiters), the others as first listed. */
export function join(group: Group, candidates: ReadonlyArray<KeyPool.LeaseCandidate>): Array<Slot> {
  let added = false
  const slots = candidates.map((candidate) => {
    const present = group.byId.get(candidate.id)
    if (present !== undefined) return present
    const slot: Slot = {
      index: group.slots.length,
      id: candidate.id,
      weight: candidate.weight,
      maxConcurrency: candidate.maxConcurrency,
      inFlight: 0,
      elsewhere: 0,
      coolingUntil: 0,
      disabled: undefined,
      lastPicked: 0,
      rateLimits: 0,
      level: levels,
      rampFrom: 0,
      rampWindow: 0,
      rampNext: 0
    }
    group.slots.push(slot)
    group.byId.set(slot.id, slot)
    group.enabled++
    group.ready.push(slot)
    added = true
    return slot
  })
  if (added) wakeAll(group)
  return slots
}

/** `join`, a step of candidates at a time (`internal/steps.ts`). */
export function joinInSteps(
  group: Group,
  candidates: ReadonlyArray<KeyPool.LeaseCandidate>
): Effect.Effect<Array<Slot>> {
  return Effect.suspend(() => {
    const slots: Array<Slot> = []
    return Effect.as(Steps.inSteps(candidates, (chunk) => slots.push(...join(group, chunk))), slots)
  })
}

// The time the slot's next level is due, from its current one.
function nextLevelAt(slot: Slot): number {
  return slot.rampFrom + Math.ceil(slot.level * slot.rampWindow / (levels - 1))
}

// Moves the slots whose cooldown ended back to `ready`, warming up over `slowStartMillis`, and raises the share of
// the warming slots whose next level is due: only those are touched.
function catchUp(group: Group, now: number, slowStartMillis: number): void {
  const { cooling, ramping, ready } = group
  for (let top = cooling.peek(); top !== undefined && top.coolingUntil <= now; top = cooling.peek()) {
    cooling.pop()
    // The warm-up counts from the cooldown's end, however late this pick notices it.
    const ended = top.coolingUntil
    top.level = slowStartMillis > 0 ? levelAt(now - ended, slowStartMillis) : levels
    if (top.level < levels) {
      top.rampFrom = ended
      top.rampWindow = slowStartMillis
      top.rampNext = nextLevelAt(top)
      ramping.push(top)
    }
    if (top.inFlight < top.maxConcurrency) ready.push(top)
  }
  for (let top = ramping.peek(); top !== undefined && top.rampNext <= now; top = ramping.peek()) {
    top.level = levelAt(now - top.rampFrom, top.rampWindow)
    ready.update(top)
    if (top.level < levels) {
      top.rampNext = nextLevelAt(top)
      ramping.update(top)
    } else {
      ramping.pop()
    }
  }
}

/** The slot a pick would take at `now`, left where it is; `undefined` when none is usable. */
export function leastLoaded(group: Group, now: number, slowStartMillis: number): Slot | undefined {
  if (group.cooling.size > 0 || group.ramping.size > 0) catchUp(group, now, slowStartMillis)
  return group.ready.peek()
}

/** A slot's weight times its warm-up share. */
export function shareOf(slot: Slot): number {
  return slot.weight * slot.level / levels
}

/** Why the group hands out nothing at `now`, with the signal of the next change that may free a key. */
function blocked(group: Group, now: number): KeyPool.LeaseBlocked {
  group.wake ??= Deferred.makeUnsafe<void>()
  return {
    _tag: "Blocked",
    allDisabled: group.enabled === 0,
    availableAt: group.cooling.peek()?.coolingUntil,
    releasable: group.saturated > 0,
    now,
    wake: Deferred.await(group.wake)
  }
}

/** Counts a lease of a usable slot: out of `ready` once at its cap. */
export function take(group: Group, slot: Slot): void {
  slot.inFlight++
  slot.lastPicked = ++group.sequence
  if (slot.inFlight >= slot.maxConcurrency) {
    group.ready.remove(slot)
    group.saturated++
  } else {
    group.ready.update(slot)
  }
}

/** Drops a lease of `slot`, waking the waiters when that made it usable. */
export function drop(group: Group, slot: Slot): void {
  const wasSaturated = slot.inFlight >= slot.maxConcurrency
  slot.inFlight--
  if (slot.disabled !== undefined) return
  if (wasSaturated) group.saturated--
  if (group.cooling.has(slot)) return
  group.ready.push(slot)
  if (wasSaturated) wakeAll(group)
}

// A key that cools or is disabled stops warming up.
function stopRamp(group: Group, slot: Slot): void {
  slot.level = levels
  group.ramping.remove(slot)
}

/**
 * Cools an enabled key until `until`, unless it already cools as long: a later report never shortens a cooldown the
 * provider asked for. Wakes the waiters, who re-plan: it may end before the one they sleep on.
 */
export function coolUntil(group: Group, slot: Slot, until: number): void {
  if (slot.disabled !== undefined || slot.coolingUntil >= until) return
  slot.coolingUntil = until
  stopRamp(group, slot)
  group.ready.remove(slot)
  group.cooling.push(slot)
  wakeAll(group)
}

/** Disables a key for `reason`, unless it already is; wakes the waiters, who must learn when the last key goes. */
export function disable(group: Group, slot: Slot, reason: string): void {
  if (slot.disabled !== undefined) return
  slot.disabled = reason
  stopRamp(group, slot)
  group.enabled--
  if (slot.inFlight >= slot.maxConcurrency) group.saturated--
  group.ready.remove(slot)
  group.cooling.remove(slot)
  wakeAll(group)
}

/** Sets the other instances' calls in flight on a key, which its place among the ready keys follows. */
export function setElsewhere(group: Group, slot: Slot, count: number): void {
  if (slot.elsewhere === count) return
  slot.elsewhere = count
  group.ready.update(slot)
}

const none = [0, 0] as const

/**
 * Applies a verdict to `slot` at `now`, as `redis/verdict.ts`'s script does: a rate limit counts unless the key already
 * cools (a call sent before); a disable is for good. Gives its cooldown end and `now` (0, 0: none).
 */
export function apply(
  group: Group,
  slot: Slot,
  verdict: KeyPool.LeaseVerdict,
  now: number
): readonly [number, number] {
  if (verdict === "success") {
    slot.rateLimits = 0
    return none
  }
  group.version++
  if ("disabled" in verdict) {
    disable(group, slot, verdict.disabled)
    return none
  }
  if (slot.disabled !== undefined) return [0, now]
  const cool = slot.coolingUntil
  if (cool <= now) slot.rateLimits++
  const asked = verdict.askedMillis ?? Math.min(
    verdict.maxMillis,
    Math.floor(
      Math.min(verdict.maxMillis, verdict.initialMillis * 2 ** (slot.rateLimits - 1)) * verdict.jitterFactor + 0.5
    )
  )
  const until = now + Math.min(verdict.capMillis, Math.max(0, asked))
  if (cool >= until) return [cool, now]
  coolUntil(group, slot, until)
  return [until, now]
}

/** For tests: why the group is inconsistent (heap order, heap membership, counters), or `undefined`. O(n). */
export function invariantViolation(group: Group): string | undefined {
  const heaps = Heap.invariantViolation(group.ready) ?? Heap.invariantViolation(group.cooling) ??
    Heap.invariantViolation(group.ramping)
  if (heaps !== undefined) return heaps
  let enabled = 0
  let saturated = 0
  for (const slot of group.slots) {
    const name = `slot ${slot.index}`
    if (slot.inFlight < 0 || slot.inFlight > slot.maxConcurrency) return `${name} has ${slot.inFlight} in flight`
    const isEnabled = slot.disabled === undefined
    if (isEnabled) enabled++
    if (isEnabled && slot.inFlight >= slot.maxConcurrency) saturated++
    const cooling = group.cooling.has(slot)
    if (cooling && !isEnabled) return `${name} wrongly in cooling`
    const shouldBeReady = isEnabled && !cooling && slot.inFlight < slot.maxConcurrency
    if (group.ready.has(slot) !== shouldBeReady) return `${name} ${shouldBeReady ? "missing from" : "wrongly in"} ready`
    const shouldRamp = isEnabled && !cooling && slot.level < levels
    if (group.ramping.has(slot) !== shouldRamp) return `${name} ${shouldRamp ? "missing from" : "wrongly in"} ramping`
  }
  if (enabled !== group.enabled) return `enabled is ${group.enabled}, counted ${enabled}`
  if (saturated !== group.saturated) return `saturated is ${group.saturated}, counted ${saturated}`
  return undefined
}

// A publisher publishes as often as Store's default `publishPeriod`, and its loads count as long as its default
// `publishTtl`.
const publishPeriod = Duration.millis(100)
const publishTtlMillis = 1000

const declined: KeyPool.LeaseDeclined = { _tag: "Declined" }

/**
 * The steps of a pool naming `options.key` over `group`: picked from the heap, or, for a pool naming fewer keys than
 * the group, the least loaded of its own.
 */
export function leasesOf(group: Group, options: KeyPool.LeasesOptions): KeyPool.Leases {
  return leasesOver(group, join(group, options.candidates), options.slowStartMillis)
}

/** The steps of a pool over `slots`, its candidates' slots in `group` in their order. */
function leasesOver(group: Group, slots: ReadonlyArray<Slot>, slowStartMillis: number): KeyPool.Leases {
  // Each group slot's place among the candidates (-1: not one).
  const at: Array<number> = []
  slots.forEach((slot, c) => at[slot.index] = c)

  function leased(slot: Slot): KeyPool.LeaseTaken {
    take(group, slot)
    const lease = String(++group.leases)
    group.held.set(lease, slot)
    return { _tag: "Taken", index: at[slot.index]!, lease }
  }

  // The least loaded of the candidates, when they are fewer than the group's keys.
  function leastOfMine(now: number): Slot | KeyPool.LeaseBlocked {
    catchUp(group, now, slowStartMillis)
    let best: Slot | undefined
    let earliest: number | undefined
    let releasable = false
    let enabled = false
    for (const slot of slots) {
      if (slot.disabled !== undefined) continue
      enabled = true
      if (group.cooling.has(slot)) earliest = Math.min(earliest ?? Infinity, slot.coolingUntil)
      else if (slot.inFlight >= slot.maxConcurrency) releasable = true
      else if (best === undefined || byLoad(slot, best)) best = slot
    }
    if (best !== undefined) return best
    return { ...blocked(group, now), allDisabled: !enabled, availableAt: earliest, releasable }
  }

  function pickAt(now: number, bar: KeyPool.LeaseLoad | undefined) {
    const found = slots.length === group.slots.length
      ? leastLoaded(group, now, slowStartMillis) ?? blocked(group, now)
      : leastOfMine(now)
    if ("_tag" in found) return found
    if (bar !== undefined && bar.inFlight * shareOf(found) <= (found.inFlight + found.elsewhere) * bar.share) {
      return declined
    }
    return leased(found)
  }

  // Each step reads the `Clock` as it runs; the steps without arguments are made once.
  const pick = Effect.clockWith((clock) =>
    Effect.succeed(pickAt(clock.currentTimeMillisUnsafe(), undefined) as KeyPool.LeaseTaken | KeyPool.LeaseBlocked)
  )

  function pickBelow(bar: KeyPool.LeaseLoad) {
    return Effect.clockWith((clock) => Effect.succeed(pickAt(clock.currentTimeMillisUnsafe(), bar)))
  }

  function pickOne(index: number) {
    return Effect.clockWith((clock) => {
      const slot = slots[index]!
      catchUp(group, clock.currentTimeMillisUnsafe(), slowStartMillis)
      return Effect.succeed(group.ready.has(slot) ? leased(slot) : undefined)
    })
  }

  function release(index: number, lease: string, verdict: KeyPool.LeaseVerdict | undefined) {
    return Effect.clockWith((clock) => {
      const slot = slots[index]!
      if (lease !== "" && group.held.delete(lease)) drop(group, slot)
      return Effect.succeed(verdict === undefined ? none : apply(group, slot, verdict, clock.currentTimeMillisUnsafe()))
    })
  }

  const status = Effect.clockWith((clock) =>
    Effect.map(
      Steps.mapInSteps(slots, (slot): KeyPool.LeaseKeyState => ({
        inFlight: slot.inFlight + slot.elsewhere,
        coolingUntil: slot.coolingUntil,
        disabled: slot.disabled
      })),
      (keys) => ({ now: clock.currentTimeMillisUnsafe(), keys })
    )
  )

  return { pick, pickBelow, pickOne, release, status }
}

/** A `LeaseStore` in this process' memory; publishers publish in `scope`. */
export function leaseStore(scope: Scope.Scope): KeyPool.LeaseStore["Service"] {
  const groups = new Map<string, Group>()
  function groupOf(key: string): Group {
    let group = groups.get(key)
    if (group === undefined) groups.set(key, group = makeGroup())
    return group
  }

  function loads(options: KeyPool.LoadsOptions): Effect.Effect<KeyPool.Loads> {
    const { ids } = options
    return Effect.suspend(() => {
      const group = groupOf(options.key)
      return Effect.map(joinInSteps(group, ids.map((id) => ({ id, weight: 1, maxConcurrency: Infinity }))), (slots) => {
        const publisher = uniqueId()
        let seen = -1

        function publish(counts: ReadonlyArray<number>) {
          return Effect.clockWith((clock) =>
            Effect.sync((): KeyPool.LoadsView => {
              const now = clock.currentTimeMillisUnsafe()
              const mine = new Map<string, number>()
              ids.forEach((id, c) => {
                if (counts[c]! !== 0) mine.set(id, counts[c]!)
              })
              group.loads.set(publisher, { lapsesAt: now + publishTtlMillis, counts: mine })
              const elsewhere = ids.map(() => 0)
              for (const [other, load] of group.loads) {
                if (other === publisher) continue
                if (load.lapsesAt <= now) {
                  group.loads.delete(other)
                  continue
                }
                ids.forEach((id, c) => {
                  elsewhere[c]! += load.counts.get(id) ?? 0
                })
              }
              if (group.version === seen) return { now, elsewhere, keys: undefined }
              seen = group.version
              const keys = slots.map((slot): KeyPool.PublishedKeyState => ({
                disabled: slot.disabled,
                coolingUntil: slot.coolingUntil,
                rateLimits: slot.rateLimits
              }))
              return { now, elsewhere, keys }
            })
          )
        }

        function tell(index: number, verdict: KeyPool.LeaseVerdict) {
          return Effect.clockWith((clock) =>
            Effect.sync(() => apply(group, slots[index]!, verdict, clock.currentTimeMillisUnsafe()))
          )
        }

        return {
          publish,
          tell,
          post: (index, verdict) => Effect.asVoid(tell(index, verdict)),
          every: (step) =>
            Effect.asVoid(Effect.forkIn(Effect.forever(Effect.andThen(Effect.sleep(publishPeriod), step)), scope))
        }
      })
    })
  }

  return {
    leases: (options) =>
      Effect.suspend(() => {
        const group = groupOf(options.key)
        return Effect.map(
          joinInSteps(group, options.candidates),
          (slots) => leasesOver(group, slots, options.slowStartMillis)
        )
      }),
    loads,
    leaseUncapped: true
  }
}
