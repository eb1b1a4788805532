/**
 * The key pool's state machine; the service over it is in `keyPool/service.ts`,
 * what a call's outcome does to a key in `keyPool/outcome.ts`.
 *
 * Every operation on the state is synchronous and runs in one step (inside a
 * `Ref.modify`, or on the state read from the ref within one effect), so under
 * any concurrency each acquire, release and report sees and leaves a
 * consistent state. The state object is mutable on purpose: copying a heap of
 * 10,000 keys per acquire would make the pool linear.
 */
import * as Deferred from "effect/Deferred"
import * as Redacted from "effect/Redacted"
import type * as KeyPool from "../../KeyPool.js"
import { OptionsError } from "../../OptionsError.js"
import * as ProviderClient from "../../ProviderClient.js"
import * as Heap from "../heap.js"
import * as Invalid from "../optionsError.js"
import { type Cooldown, cooldownMillis, type RandomSource, type Settled, verdictOf } from "./outcome.js"

/** One key and its counters. */
export interface Slot {
  readonly _tag: "Slot"
  readonly id: number
  readonly credentials: ProviderClient.Credentials
  readonly lease: LeaseImpl
  readonly weight: number
  readonly maxConcurrency: number
  inFlight: number
  /** Other instances' calls in flight on this key, as they last published them (a shared pool's keys without a cap). */
  elsewhere: number
  totalRequests: number
  failures: number
  coolingUntil: number | undefined
  disabled: string | undefined
  /** The pool's pick sequence number when this key was last handed out: the oldest wins ties. */
  lastPicked: number
  /** Rate limits since the last success, one per cooldown (a report while cooling adds none). */
  rateLimits: number
  /** The key's share of its weight, in `levels`ths: below `levels` while it warms up after a cooldown. */
  level: number
  /** While warming up: when the cooldown ended, the window, and when the next level is due (epoch ms). */
  rampFrom: number
  rampWindow: number
  rampNext: number
}

/** How finely a warming key's share grows: from 1/levels to full in `levels - 1` steps. */
export const levels = 10

/**
 * The level of a key `elapsed` milliseconds into a slow start of `window`:
 * 1 at its start, growing in equal steps, `levels` (full) at its end.
 */
export const levelAt = (elapsed: number, window: number): number =>
  elapsed >= window ? levels : 1 + Math.floor(Math.max(0, elapsed) * (levels - 1) / window)

/**
 * A slot is in `ready` exactly when it is enabled, not cooling and below its
 * concurrency cap, so the top of `ready` is always the key to hand out. A
 * slot is in `cooling` exactly when it is enabled and has a cooldown; the
 * cooldown's end is only compared with the clock at acquire time, when the
 * expired tops of `cooling` move back to `ready`.
 */
export interface State {
  readonly providerId: string
  /** The identity leases carry, to reject a lease issued by another state. */
  readonly token: object
  readonly slots: Array<Slot>
  /** Slots by masked id, to find a duplicate key without reading every raw value. */
  readonly byKeyId: Map<string, Array<Slot>>
  readonly ready: Heap.Heap<Slot>
  readonly cooling: Heap.Heap<Slot>
  /** Enabled slots warming up after a cooldown, soonest next level first. */
  readonly ramping: Heap.Heap<Slot>
  sequence: number
  /** Slots not disabled. */
  enabled: number
  /** Enabled slots at their concurrency cap: a release of one may free capacity. */
  saturated: number
  /**
   * Completed (and cleared) on every change that could let a waiter through;
   * created only when someone waits. Every waiter wakes and retries: with one
   * O(log n) attempt each that is cheaper than keeping a queue of waiters
   * consistent under interruption, at the price of no FIFO order among them.
   */
  wake: Deferred.Deferred<void> | undefined
}

/** The runtime shape of a `KeyPool.Lease`; `pool` ties it to the state that issued it. */
export class LeaseImpl implements KeyPool.Lease {
  constructor(
    readonly credentials: ProviderClient.Credentials,
    readonly slot: number,
    readonly pool: object
  ) {}
}

const byLoad = (a: Slot, b: Slot): boolean => {
  // Cross-multiplied so equal loads compare equal exactly (no rounding of inFlight / (weight * share)).
  const x = (a.inFlight + a.elsewhere) * b.weight * b.level
  const y = (b.inFlight + b.elsewhere) * a.weight * a.level
  if (x !== y) return x < y
  if (a.lastPicked !== b.lastPicked) return a.lastPicked < b.lastPicked
  return a.id < b.id
}

const byCooldownEnd = (a: Slot, b: Slot): boolean => {
  const x = a.coolingUntil ?? Infinity
  const y = b.coolingUntil ?? Infinity
  return x !== y ? x < y : a.id < b.id
}

const byNextLevel = (a: Slot, b: Slot): boolean => a.rampNext !== b.rampNext ? a.rampNext < b.rampNext : a.id < b.id

const slotId = (slot: Slot): number => slot.id

interface NormalizedKey {
  readonly key: Redacted.Redacted<string>
  readonly weight: number
  readonly maxConcurrency: number
}

const normalize = (entry: KeyPool.Options["keys"][number]): NormalizedKey => {
  if (typeof entry === "string") return { key: Redacted.make(entry), weight: 1, maxConcurrency: Infinity }
  if (Redacted.isRedacted(entry)) {
    return { key: entry as Redacted.Redacted<string>, weight: 1, maxConcurrency: Infinity }
  }
  return {
    key: typeof entry.key === "string" ? Redacted.make(entry.key) : entry.key,
    weight: entry.weight ?? 1,
    maxConcurrency: entry.maxConcurrency ?? Infinity
  }
}

// An entry without a usable key, as its error shows it: a missing one (an unset variable's `undefined`) as such, else
// masked.
const badKey = (entry: unknown): string | undefined => {
  const key = typeof entry === "object" && entry !== null && !Redacted.isRedacted(entry)
    ? (entry as { readonly key?: unknown }).key
    : entry
  const value = Redacted.isRedacted(key) ? Redacted.value(key) : key
  return typeof value === "string" && value !== ""
    ? undefined
    : value === undefined || value === null
    ? String(value)
    : "<redacted>"
}

/** Why the options cannot make a pool, or undefined. The error never shows a key. */
export const invalidOptions = (options: KeyPool.Options): OptionsError | undefined => {
  const cooldown = options.rateLimitCooldown
  const timing = Invalid.duration("KeyPool", "rateLimitCooldown.initial", cooldown?.initial, true) ??
    Invalid.duration("KeyPool", "rateLimitCooldown.max", cooldown?.max, true) ??
    Invalid.duration("KeyPool", "maxCooldown", options.maxCooldown, true) ??
    Invalid.duration("KeyPool", "slowStart", options.slowStart)
  if (timing !== undefined) return timing
  if (options.key !== undefined && (typeof options.key !== "string" || options.key === "")) {
    return Invalid.make("KeyPool", "key", options.key, "a non-empty string")
  }
  if (options.shared !== undefined && (typeof options.shared.key !== "string" || options.shared.key === "")) {
    return Invalid.make("KeyPool", "shared.key", options.shared.key, "a non-empty string")
  }
  // A pool without keys could only ever fail its calls with NoCapacityError.
  if (options.keys.length === 0) {
    return new OptionsError({ module: "KeyPool", option: "keys", value: "[]", expected: "at least one key" })
  }
  for (const [index, entry] of options.keys.entries()) {
    const bad = badKey(entry)
    if (bad !== undefined) {
      return new OptionsError({ module: "KeyPool", option: `keys[${index}]`, value: bad, expected: "a non-empty key" })
    }
    const key = normalize(entry)
    const problem = Invalid.positive("KeyPool", `keys[${index}].weight`, key.weight) ??
      (key.maxConcurrency === Infinity
        ? undefined
        : Invalid.positive("KeyPool", `keys[${index}].maxConcurrency`, key.maxConcurrency, { integer: true }))
    if (problem !== undefined) return problem
  }
  return undefined
}

/** A state holding the given keys (duplicates collapse to their first listing). */
export const makeState = (providerId: string, keys: KeyPool.Options["keys"]): State => {
  const state: State = {
    providerId,
    token: {},
    slots: [],
    byKeyId: new Map(),
    ready: Heap.make(byLoad, slotId),
    cooling: Heap.make(byCooldownEnd, slotId),
    ramping: Heap.make(byNextLevel, slotId),
    sequence: 0,
    enabled: 0,
    saturated: 0,
    wake: undefined
  }
  addKeys(state, keys)
  return state
}

const takeWake = (state: State): Deferred.Deferred<void> | undefined => {
  const wake = state.wake
  state.wake = undefined
  return wake
}

/**
 * Adds the keys the state lacks (pools sharing a provider id hold the union of
 * their keys); a key already present keeps its weight and cap. Returns the
 * waiters to wake when a key was added.
 */
export const addKeys = (state: State, keys: KeyPool.Options["keys"]): Deferred.Deferred<void> | undefined => {
  let added = false
  for (const entry of keys) {
    const { key, maxConcurrency, weight } = normalize(entry)
    const credentials = ProviderClient.credentials(key)
    const sameId = state.byKeyId.get(credentials.keyId)
    if (sameId?.some((slot) => Redacted.value(slot.credentials.key) === Redacted.value(key))) continue
    const id = state.slots.length
    const slot: Slot = {
      _tag: "Slot",
      id,
      credentials,
      lease: new LeaseImpl(credentials, id, state.token),
      weight,
      maxConcurrency,
      inFlight: 0,
      elsewhere: 0,
      totalRequests: 0,
      failures: 0,
      coolingUntil: undefined,
      disabled: undefined,
      lastPicked: 0,
      rateLimits: 0,
      level: levels,
      rampFrom: 0,
      rampWindow: 0,
      rampNext: 0
    }
    state.slots.push(slot)
    if (sameId === undefined) state.byKeyId.set(credentials.keyId, [slot])
    else sameId.push(slot)
    state.enabled++
    state.ready.push(slot)
    added = true
  }
  return added ? takeWake(state) : undefined
}

// The time the slot's next level is due, from its current one.
const nextLevelAt = (slot: Slot): number => slot.rampFrom + Math.ceil(slot.level * slot.rampWindow / (levels - 1))

const expireCooldowns = (state: State, now: number, slowStartMillis: number): void => {
  for (let top = state.cooling.peek(); top !== undefined && top.coolingUntil! <= now; top = state.cooling.peek()) {
    state.cooling.pop()
    // The warm-up counts from the cooldown's end, however late this acquire notices it.
    const ended = top.coolingUntil!
    top.coolingUntil = undefined
    top.level = slowStartMillis > 0 ? levelAt(now - ended, slowStartMillis) : levels
    if (top.level < levels) {
      top.rampFrom = ended
      top.rampWindow = slowStartMillis
      top.rampNext = nextLevelAt(top)
      state.ramping.push(top)
    }
    if (top.inFlight < top.maxConcurrency) state.ready.push(top)
  }
}

// Raises the share of the warming keys whose next level is due: only those are touched.
const advanceRamps = (state: State, now: number): void => {
  for (let top = state.ramping.peek(); top !== undefined && top.rampNext <= now; top = state.ramping.peek()) {
    top.level = levelAt(now - top.rampFrom, top.rampWindow)
    state.ready.update(top)
    if (top.level < levels) {
      top.rampNext = nextLevelAt(top)
      state.ramping.update(top)
    } else {
      state.ramping.pop()
    }
  }
}

// A key that cools or is disabled stops warming up.
const stopRamp = (state: State, slot: Slot): void => {
  slot.level = levels
  state.ramping.remove(slot)
}

/** Why no key could be handed out. */
export interface Blocked {
  readonly _tag: "Blocked"
  /** Every key is disabled: nothing will free by itself. */
  readonly allDisabled: boolean
  /** The earliest cooldown end (epoch ms), when some enabled key is cooling. */
  readonly availableAt: number | undefined
  /** Some enabled key is at its concurrency cap, so a release may free capacity. */
  readonly releasable: boolean
  /** Completed on the next change that could free capacity. */
  readonly wake: Deferred.Deferred<void>
}

/**
 * Takes the least-loaded usable key, or says why there is none. O(log n) plus
 * expired cooldowns and due warm-up steps. `slowStartMillis`: the warm-up of a
 * key whose cooldown ends here (0: none).
 */
export const tryAcquire = (state: State, now: number, slowStartMillis: number): Slot | Blocked => {
  const slot = leastLoaded(state, now, slowStartMillis)
  if (slot === undefined) {
    state.wake ??= Deferred.makeUnsafe<void>()
    return {
      _tag: "Blocked",
      allDisabled: state.enabled === 0,
      availableAt: state.cooling.peek()?.coolingUntil,
      releasable: state.saturated > 0,
      wake: state.wake
    }
  }
  return taken(state, slot)
}

/**
 * Takes the key whose masked id is `keyId` when it is usable now (enabled, not cooling, below its cap), whatever its
 * load; `undefined` otherwise.
 */
export const tryAcquireKey = (state: State, keyId: string, now: number, slowStartMillis: number): Slot | undefined => {
  if (state.cooling.size > 0) expireCooldowns(state, now, slowStartMillis)
  if (state.ramping.size > 0) advanceRamps(state, now)
  const slot = state.byKeyId.get(keyId)?.find((candidate) => state.ready.has(candidate))
  return slot === undefined ? undefined : taken(state, slot)
}

// A ready slot handed out: counted, and out of `ready` once at its cap.
const taken = (state: State, slot: Slot): Slot => {
  slot.inFlight++
  slot.totalRequests++
  slot.lastPicked = ++state.sequence
  if (slot.inFlight >= slot.maxConcurrency) {
    state.ready.remove(slot)
    state.saturated++
  } else {
    state.ready.update(slot)
  }
  return slot
}

/** Returns a key taken by `tryAcquire`; gives the waiters to wake when it became usable. */
export const release = (state: State, slot: Slot): Deferred.Deferred<void> | undefined => {
  const wasSaturated = slot.inFlight >= slot.maxConcurrency
  slot.inFlight--
  if (slot.disabled !== undefined) return undefined
  if (wasSaturated) state.saturated--
  if (slot.coolingUntil !== undefined) return undefined
  state.ready.push(slot)
  return wasSaturated ? takeWake(state) : undefined
}

/** What `report` reads besides the outcome: the time, the pool's cooldown, the jitter's random source. */
export interface Reporting {
  readonly now: number
  readonly cooldown: Cooldown
  readonly random: RandomSource
}

/**
 * Applies an outcome to the lease's key; gives the waiters to wake. A rate
 * limit without `retryAfter` cools the key per `cooldown`, and no cooldown
 * lasts past `cooldown.capMillis`, whatever the provider asked; one reported while
 * the key already cools (a request sent before the cooldown began) does not
 * count as another.
 */
export const report = (
  state: State,
  slot: Slot,
  outcome: Settled,
  reporting: Reporting
): Deferred.Deferred<void> | undefined => {
  const { cooldown, now, random } = reporting
  const verdict = verdictOf(outcome)
  switch (verdict._tag) {
    case "Ignored":
      return undefined
    case "Success":
      slot.failures = 0
      slot.rateLimits = 0
      return undefined
    case "Failed":
      slot.failures++
      return undefined
    case "RateLimited": {
      slot.failures++
      if (slot.disabled !== undefined) return undefined
      if (slot.coolingUntil === undefined || slot.coolingUntil <= now) slot.rateLimits++
      const asked = verdict.retryAfterMillis ?? cooldownMillis(slot.rateLimits, cooldown, random)
      return coolUntil(state, slot, now + Math.min(cooldown.capMillis, Math.max(0, asked)))
    }
    case "Rejected": {
      slot.failures++
      return disable(state, slot, verdict.reason)
    }
  }
}

/**
 * Cools an enabled key until `until` (epoch ms), unless it already cools as long: a later report never shortens a
 * cooldown the provider asked for. Gives the waiters to wake.
 */
export const coolUntil = (state: State, slot: Slot, until: number): Deferred.Deferred<void> | undefined => {
  if (slot.disabled !== undefined || (slot.coolingUntil !== undefined && slot.coolingUntil >= until)) return undefined
  slot.coolingUntil = until
  stopRamp(state, slot)
  state.ready.remove(slot)
  state.cooling.push(slot)
  // Waiters re-plan: this cooldown may end before the one they sleep on.
  return takeWake(state)
}

/** Disables a key for `reason`, unless it already is. Gives the waiters to wake. */
export const disable = (state: State, slot: Slot, reason: string): Deferred.Deferred<void> | undefined => {
  if (slot.disabled !== undefined) return undefined
  slot.disabled = reason
  slot.coolingUntil = undefined
  stopRamp(state, slot)
  state.enabled--
  if (slot.inFlight >= slot.maxConcurrency) state.saturated--
  state.ready.remove(slot)
  state.cooling.remove(slot)
  // Waiters must learn when the last key goes, to fail at once.
  return takeWake(state)
}

/** Sets the other instances' calls in flight on a key, which its place among the ready keys follows. */
export const setElsewhere = (state: State, slot: Slot, count: number): void => {
  if (slot.elsewhere === count) return
  slot.elsewhere = count
  if (state.ready.has(slot)) state.ready.update(slot)
}

/**
 * The key `tryAcquire` would take at `now`, left where it is; `undefined` when none is usable. Expired cooldowns and
 * due warm-up steps are applied as `tryAcquire` applies them.
 */
export const leastLoaded = (state: State, now: number, slowStartMillis: number): Slot | undefined => {
  if (state.cooling.size > 0) expireCooldowns(state, now, slowStartMillis)
  if (state.ramping.size > 0) advanceRamps(state, now)
  return state.ready.peek()
}

// The part of its weight a key takes traffic with at `now`, warm-up included.
const shareOf = (slot: Slot, now: number, slowStartMillis: number): number => {
  if (slot.disabled !== undefined) return 0
  if (slot.coolingUntil !== undefined) {
    if (slot.coolingUntil > now) return 0
    return slowStartMillis > 0 ? levelAt(now - slot.coolingUntil, slowStartMillis) / levels : 1
  }
  return slot.level === levels ? 1 : levelAt(now - slot.rampFrom, slot.rampWindow) / levels
}

/** The per-key view `status` returns: masked ids only. */
export const status = (state: State, now: number, slowStartMillis: number): ReadonlyArray<KeyPool.KeyStatus> =>
  state.slots.map((slot) => ({
    keyId: slot.credentials.keyId,
    weight: slot.weight,
    maxConcurrency: slot.maxConcurrency === Infinity ? undefined : slot.maxConcurrency,
    inFlight: slot.inFlight + slot.elsewhere,
    totalRequests: slot.totalRequests,
    failures: slot.failures,
    coolingUntil: slot.coolingUntil !== undefined && slot.coolingUntil > now ? slot.coolingUntil : undefined,
    share: shareOf(slot, now, slowStartMillis),
    disabled: slot.disabled
  }))

/** For tests: why the state is inconsistent (heap order, heap membership, counters), or `undefined`. O(n). */
export const invariantViolation = (state: State): string | undefined => {
  const heaps = Heap.invariantViolation(state.ready) ?? Heap.invariantViolation(state.cooling) ??
    Heap.invariantViolation(state.ramping)
  if (heaps !== undefined) return heaps
  let enabled = 0
  let saturated = 0
  for (const slot of state.slots) {
    const name = `slot ${slot.id}`
    if (slot.inFlight < 0 || slot.inFlight > slot.maxConcurrency) return `${name} has ${slot.inFlight} in flight`
    const isEnabled = slot.disabled === undefined
    if (isEnabled) enabled++
    if (isEnabled && slot.inFlight >= slot.maxConcurrency) saturated++
    const shouldBeReady = isEnabled && slot.coolingUntil === undefined && slot.inFlight < slot.maxConcurrency
    if (state.ready.has(slot) !== shouldBeReady) return `${name} ${shouldBeReady ? "missing from" : "wrongly in"} ready`
    const shouldCool = isEnabled && slot.coolingUntil !== undefined
    if (state.cooling.has(slot) !== shouldCool) return `${name} ${shouldCool ? "missing from" : "wrongly in"} cooling`
    const shouldRamp = isEnabled && slot.coolingUntil === undefined && slot.level < levels
    if (state.ramping.has(slot) !== shouldRamp) return `${name} ${shouldRamp ? "missing from" : "wrongly in"} ramping`
  }
  if (enabled !== state.enabled) return `enabled is ${state.enabled}, counted ${enabled}`
  if (saturated !== state.saturated) return `saturated is ${state.saturated}, counted ${saturated}`
  return undefined
}
