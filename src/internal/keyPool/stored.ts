/**
 * The key pool: one algorithm over a `KeyPool.LeaseStore`, whatever backend keeps it (a pool made without one runs over
 * a store in memory of its own). Keys leased in the store keep their leases, cooldown, rate-limit count and disabled
 * reason there, so a cap holds exactly across every instance. A store that publishes loads (Redis, where a lease costs
 * a round trip) has its uncapped keys picked in this process over the loads every instance publishes
 * (`keyPool/uncapped.ts`): no round trip per call, a balance as close as the publish period allows; a pool with both
 * takes a leased key only when it is less loaded than the least loaded uncapped one. A 429 one instance sees cools the
 * key for all; totals and failure counts in `status` are this instance's.
 *
 * A take that finds no key waits, within `maxWait`, for a cooldown's end or a release: on the store's signal where it
 * gives one (memory), else polling, since another instance's release is not seen otherwise. While the store is
 * unavailable the pool fails with `NoCapacityError` (`storeUnavailable`), as a pool with no usable key does; a store
 * that fails open (`keyPool/failOpen.ts`) never is.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import { hash } from "node:crypto"
import type * as KeyPool from "../../KeyPool.js"
import { type LlmError, NoCapacityError } from "../../LlmError.js"
import * as ProviderClient from "../../ProviderClient.js"
import type { StoreUnavailableError } from "../../Store.js"
import { inScope } from "../held.js"
import * as Steps from "../steps.js"
import * as Memory from "./memory.js"
import type * as Verdicts from "./redis/verdict.js"
import * as Uncapped from "./uncapped.js"

// How often a call waiting for a key another instance holds looks again, where the store gives no signal.
const pollMillis = 50

/** What a pool reads of its options besides its keys. */
export interface Settings {
  readonly providerId: string
  readonly cooldown: Cooldown
  readonly slowStartMillis: number
  /** `undefined`: fail at once when exhausted. */
  readonly maxWaitMillis: number | undefined
}

/** Defaults documented on `KeyPool.Options`. */
const defaultInitialCooldown = Duration.seconds(1)
const defaultMaxCooldown = Duration.seconds(30)
const defaultCooldownCap = Duration.minutes(5)
const defaultSlowStart = Duration.seconds(10)
const defaultMaxWait = Duration.seconds(60)

export function settingsOf(options: KeyPool.Options): Settings {
  const exhausted = options.whenExhausted ?? { _tag: "Wait", maxWait: defaultMaxWait }
  const cooldown = options.rateLimitCooldown
  const initialMillis = Duration.toMillis(cooldown?.initial ?? defaultInitialCooldown)
  return {
    providerId: options.providerId,
    cooldown: {
      initialMillis,
      // A max below the initial cooldown caps it: every cooldown is then the max.
      maxMillis: Duration.toMillis(cooldown?.max ?? Duration.max(defaultMaxCooldown, Duration.millis(initialMillis))),
      jitter: cooldown?.jitter ?? true,
      capMillis: Duration.toMillis(options.maxCooldown ?? defaultCooldownCap)
    },
    slowStartMillis: Duration.toMillis(options.slowStart ?? defaultSlowStart),
    maxWaitMillis: exhausted._tag === "Fail" ? undefined : Duration.toMillis(exhausted.maxWait)
  }
}

// ---------------------------------------------------------------------------
// What a call's outcome does to its key: the verdict `report` acts on, and what the pool tells its store of it

/** The cooldown of a key rate-limited without `retryAfter`, per pool (`KeyPool.Options.rateLimitCooldown`). */
export interface Cooldown {
  readonly initialMillis: number
  readonly maxMillis: number
  readonly jitter: boolean
  /** The longest any cooldown lasts, a provider's `retryAfter` included (`KeyPool.Options.maxCooldown`). */
  readonly capMillis: number
}

/** What `report` draws jitter from (Effect's `Random` service). */
export interface RandomSource {
  readonly nextDoubleUnsafe: () => number
}

/** What a cooldown is multiplied by: 80% to 120% with jitter, else 1. */
export function jitterFactor(cooldown: Cooldown, random: RandomSource): number {
  return cooldown.jitter ? 0.8 + 0.4 * random.nextDoubleUnsafe() : 1
}

/** How a call with a lease went: an outcome, or its `Exit` (interruptions and defects are not held against the key). */
export type Settled = KeyPool.Outcome | Exit.Exit<unknown, LlmError>

/** The outcome an `Exit` tells the pool: none for an interruption or a defect, which say nothing about the key. */
export function outcomeOf(exit: Exit.Exit<unknown, LlmError>): KeyPool.Outcome | undefined {
  if (Exit.isSuccess(exit)) return "success"
  return Option.getOrUndefined(Cause.findErrorOption(exit.cause))
}

/** What `report` understands, normalized. */
export type Verdict =
  | { readonly _tag: "Success" }
  | { readonly _tag: "RateLimited"; readonly retryAfterMillis: number | undefined }
  | { readonly _tag: "Rejected"; readonly reason: string }
  | { readonly _tag: "Refused"; readonly reason: string }
  | { readonly _tag: "Failed" }
  | { readonly _tag: "Ignored" }

const success: Verdict = { _tag: "Success" }
const ignoredVerdict: Verdict = { _tag: "Ignored" }

/** The verdict of an outcome: interruptions and defects are `Ignored`. */
export function verdictOf(outcome: Settled): Verdict {
  // Interruption and defects say nothing about the key.
  const settled = Exit.isExit(outcome) ? outcomeOf(outcome) : outcome
  return settled === undefined ? ignoredVerdict : settled === "success" ? success : verdictOfError(settled)
}

function verdictOfError(error: LlmError): Verdict {
  switch (error._tag) {
    case "RateLimitError":
      return {
        _tag: "RateLimited",
        retryAfterMillis: error.retryAfter === undefined ? undefined : Duration.toMillis(error.retryAfter)
      }
    case "AuthError":
      // A cloud credential that gave no token (a managed identity timing out, say) says nothing of the key: the
      // next call asks the credential again. A 403 refuses the key what this pool's calls ask (a project key limited
      // to some models, a model the account may not use): the key is refused by this pool only (docs/router.md,
      // "Which refusals disable a key where"). An invalid key, an exhausted quota or credit are the key's everywhere.
      return error.reason === "credential_unavailable"
        ? { _tag: "Failed" }
        : error.reason === "forbidden"
        ? { _tag: "Refused", reason: error.reason }
        : { _tag: "Rejected", reason: error.reason }
    default:
      return { _tag: "Failed" }
  }
}

/** What a shared pool tells its store of a verdict (`redis/leases.ts`); `undefined`: nothing. */
export function sharedVerdictOf(
  verdict: Verdict,
  cooldown: Cooldown,
  random: RandomSource
): Verdicts.Verdict | undefined {
  switch (verdict._tag) {
    case "Ignored":
    case "Failed":
    case "Refused":
      return undefined
    case "Success":
      return "success"
    case "Rejected":
      return { disabled: verdict.reason }
    case "RateLimited":
      return {
        askedMillis: verdict.retryAfterMillis,
        initialMillis: cooldown.initialMillis,
        maxMillis: cooldown.maxMillis,
        jitterFactor: jitterFactor(cooldown, random),
        capMillis: cooldown.capMillis
      }
  }
}

/** One key of a pool, as listed, with its defaults and the credentials its leases carry. */
export interface Key {
  readonly key: Redacted.Redacted<string>
  readonly weight: number
  readonly maxConcurrency: number
  readonly credentials: ProviderClient.Credentials
}

/** The options of a key listed with them; `undefined` for a key listed alone. */
export function listedOptions(entry: KeyPool.Options["keys"][number]): KeyPool.KeyOptions | undefined {
  return typeof entry === "string" || Redacted.isRedacted(entry) ? undefined : entry as KeyPool.KeyOptions
}

/**
 * A key as listed: one record and its credentials, nothing else made for it (a large pool is rebuilt at each gateway
 * reload, and the collector copies each object a key makes).
 */
export function normalize(entry: KeyPool.Options["keys"][number]): Key {
  const listed = listedOptions(entry)
  const secret = listed === undefined ? entry as Redacted.Redacted<string> | string : listed.key
  const key = typeof secret === "string" ? Redacted.make(secret) : secret
  return {
    key,
    weight: listed?.weight ?? 1,
    maxConcurrency: listed?.maxConcurrency ?? Infinity,
    credentials: ProviderClient.credentials(key)
  }
}

/** A lease taken in the store: `index` is its key's place in the lease group, `candidate` its place in `leases`. */
class StoredLease implements KeyPool.Lease {
  /** Until released. */
  held = true
  /** A success reported while held, told to the store with the release: one step for both. */
  succeeded = false
  constructor(
    readonly credentials: ProviderClient.Credentials,
    readonly slot: number,
    readonly index: number,
    readonly lease: string,
    readonly pool: object,
    readonly leases: KeyPool.Leases,
    readonly candidate: number
  ) {}
}

/** A pool's steps over its leased keys but those it refused (a 403); `leases` undefined when none is left. */
interface View {
  readonly leases: KeyPool.Leases | undefined
  readonly places: ReadonlyArray<number>
}

/** Why an attempt found no key, as the store says it; `availableAt` on the clock that read `now`. */
type Blocked = Omit<KeyPool.LeaseBlocked, "stateVersion">

/** What one attempt at a key found: a lease, or why none. */
type Attempt = KeyPool.Lease | Blocked

function isBlocked(attempt: Attempt): attempt is Blocked {
  return (attempt as Blocked)._tag === "Blocked"
}

// A step whose result and failure are dropped: a lease the store lost lapses within its TTL.
const ignored = { onFailure: () => undefined, onSuccess: () => undefined }

/** Where a pool keeps what its instances share: a lease store, and the key naming the pool in it. */
export interface Backend {
  readonly store: KeyPool.LeaseStore["Service"]
  readonly key: string
}

/** The state of a pool's keys: their places in the store's lease group, and what this instance counts of them. */
export interface Core {
  readonly providerId: string
  readonly store: KeyPool.LeaseStore["Service"]
  readonly groupKey: string
  /** The identity leases carry, to reject a lease issued by another state. */
  readonly token: object
  readonly keys: Array<Key>
  /** Per key: its place in the lease group, or -1 when it is picked here (`uncapped`). */
  readonly placeOf: Array<number>
  /** By place in the lease group: the key's place in `keys`. */
  readonly leased: Array<number>
  readonly uncapped: Uncapped.Uncapped | undefined
  /** Per key: leases handed out, and failures since its last success, as this instance counts them. */
  readonly totals: Array<number>
  readonly failures: Array<number>
  /** By place in the lease group: this instance's leases, for `status` while the store is away. */
  readonly holding: Array<number>
}

/**
 * The name of a pool's state in the store: its key, and a digest of its endpoint when it names one, so pools
 * of one key but distinct endpoints keep apart. A digest, not the endpoint: a base URL may hold credentials.
 */
function groupKeyOf(key: string, endpoint: string | undefined): string {
  return endpoint === undefined
    ? `pool:${key}`
    : `pool:${key}@${hash("sha256", endpoint, "hex").slice(0, 16)}`
}

// The keys of `entries` not in `core` yet, `known` their ids (a key listed twice counts once, its first listing
// winning), added. By id, so that adding n keys takes time in n, not n squared.
function addKeys(core: Core, known: Set<string>, entries: KeyPool.Options["keys"], leaseAll: boolean): void {
  for (const entry of entries) {
    const key = normalize(entry)
    if (known.has(key.credentials.keyId)) continue
    known.add(key.credentials.keyId)
    const at = core.keys.length
    core.keys.push(key)
    core.totals.push(0)
    core.failures.push(0)
    if (leaseAll || key.maxConcurrency !== Infinity) {
      core.placeOf.push(core.leased.length)
      core.leased.push(at)
      core.holding.push(0)
    } else {
      core.placeOf.push(-1)
    }
  }
}

function candidatesOf(core: Core): Array<KeyPool.LeaseCandidate> {
  return core.leased.map((at) => {
    const key = core.keys[at]!
    return { id: key.credentials.keyId, weight: key.weight, maxConcurrency: key.maxConcurrency }
  })
}

/** The state of the keys `keys` (checked by `KeyPool.make`), kept in `backend`. */
export function makeCore(
  providerId: string,
  keys: KeyPool.Options["keys"],
  endpoint: string | undefined,
  backend: Backend
): Effect.Effect<Core> {
  return Effect.suspend(() => {
    const core: Core = {
      providerId,
      store: backend.store,
      groupKey: groupKeyOf(backend.key, endpoint),
      token: {},
      keys: [],
      placeOf: [],
      leased: [],
      uncapped: undefined,
      totals: [],
      failures: [],
      holding: []
    }
    // A step of keys at a time, other fibers (a server's requests) running between: a pool of many thousand keys is
    // built without holding the process.
    const known = new Set<string>()
    const added = Steps.inSteps(keys, (chunk) => addKeys(core, known, chunk, backend.store.leaseUncapped === true))
    return Effect.flatMap(added, () => {
      const uncappedAt: Array<number> = []
      core.placeOf.forEach((place, at) => place < 0 && uncappedAt.push(at))
      if (uncappedAt.length === 0) return Effect.succeed(core)
      return Effect.map(
        Uncapped.make(backend.store, core.groupKey, uncappedAt.map((at) => core.keys[at]!), uncappedAt),
        (uncapped): Core => ({ ...core, uncapped })
      )
    })
  })
}

/** A pool over options `KeyPool.make` has checked, kept in `backend`. */
export function make(
  options: KeyPool.Options,
  backend: Backend,
  settings: Settings
): Effect.Effect<KeyPool.Service> {
  return Effect.flatMap(
    makeCore(options.providerId, options.keys, options.endpoint, backend),
    (core) => service(core, settings)
  )
}

function noCapacity(providerId: string, availableAt: number | undefined) {
  return new NoCapacityError(
    availableAt === undefined
      ? { provider: providerId, model: "" }
      : { provider: providerId, model: "", availableAt }
  )
}

// Made when it happens: an error made with the pool would keep, in its stack's frames until read, what the pool's build
// held (every key's candidate, at a gateway's reload).
function storeUnavailable(providerId: string) {
  return new NoCapacityError({ provider: providerId, model: "", storeUnavailable: true })
}

// A lease the store took over `from`, counted here against its key.
function storedLease(core: Core, taken: KeyPool.LeaseTaken, from: View): KeyPool.Lease {
  const place = from.places[taken.index]!
  const at = core.leased[place]!
  core.totals[at]!++
  core.holding[place]!++
  return new StoredLease(core.keys[at]!.credentials, at, place, taken.lease, core.token, from.leases!, taken.index)
}

// An uncapped key taken in this process' group.
function localLease(core: Core, slot: Memory.Slot): KeyPool.Lease {
  const uncapped = core.uncapped!
  Memory.take(uncapped.group, slot)
  const key = uncapped.keys[slot.index]!
  core.totals[key.slot]!++
  return new Uncapped.LocalLease(key, core.token)
}

// Why no uncapped key from this process' group (none at a cap); `now`: this process' clock.
function noneHere(local: Memory.Group | undefined, now: number): Blocked {
  return {
    _tag: "Blocked",
    allDisabled: local === undefined || local.enabled === 0,
    availableAt: local?.cooling.peek()?.coolingUntil,
    releasable: false,
    now
  }
}

// An uncapped key from this process' group: taken, or why none.
function takeUncapped(core: Core, now: number, slowStartMillis: number): Attempt {
  const local = core.uncapped?.group
  const slot = local === undefined ? undefined : Memory.leastLoaded(local, now, slowStartMillis)
  return slot === undefined ? noneHere(local, now) : localLease(core, slot)
}

// The store's pick over `from` as an attempt; every leased key refused, blocked for good.
function pickOf(core: Core, from: View): Effect.Effect<Attempt, StoreUnavailableError> {
  const leases = from.leases
  return leases === undefined
    ? Effect.clockWith((clock) =>
      Effect.succeed<Attempt>({
        _tag: "Blocked",
        allDisabled: true,
        availableAt: undefined,
        releasable: false,
        now: clock.currentTimeMillisUnsafe()
      })
    )
    : Effect.map(leases.pick, (result) => result._tag === "Taken" ? storedLease(core, result, from) : result)
}

/** What one pool sees of its keys, narrowed as it refuses some; other pools of a key's state still use it. */
interface Sight {
  readonly view: () => View
  /** The store's pick over the current view, made again only when the view is. */
  readonly pick: () => Effect.Effect<Attempt, StoreUnavailableError>
  /** Per key: why this pool refused it, or undefined. */
  readonly refused: ReadonlyArray<string | undefined>
  readonly refuse: (at: number, reason: string) => Effect.Effect<void>
}

function makeSight(
  core: Core,
  localOf: ReadonlyArray<Uncapped.LocalKey | undefined>,
  initial: View,
  slowStartMillis: number
): Sight {
  const refused: Array<string | undefined> = core.keys.map(() => undefined)
  let view = initial
  let fromPick = pickOf(core, view)

  // Refuses key `at` for this pool: out of its view (a leased key) or its group (an uncapped one); its lease given
  // back as any. The store is not told: the key stays usable to the other pools of its state.
  function refuse(at: number, reason: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (refused[at] !== undefined) return Effect.void
      refused[at] = reason
      const place = core.placeOf[at]!
      if (place < 0) {
        Memory.disable(core.uncapped!.group, localOf[at]!.local, reason)
        return Effect.void
      }
      const places = view.places.filter((candidate) => candidate !== place)
      const candidates = candidatesOf(core)
      const narrowed = places.length === 0
        ? Effect.succeed(undefined)
        : core.store.leases({
          key: core.groupKey,
          candidates: places.map((candidate) => candidates[candidate]!),
          slowStartMillis
        })
      return Effect.map(narrowed, (leases) => {
        view = { leases, places }
        fromPick = pickOf(core, view)
      })
    })
  }
  function current() {
    return view
  }
  function pick() {
    return fromPick
  }
  return { view: current, pick, refused, refuse }
}

// The least loaded key: from the store when the pool picks none here; an uncapped one without a round trip when
// the pool leases none; otherwise a leased one when it is less loaded than the best uncapped one.
function attemptOf(core: Core, sight: Sight, slowStartMillis: number): Effect.Effect<Attempt, StoreUnavailableError> {
  const local = core.uncapped?.group
  if (local === undefined) return Effect.suspend(sight.pick)
  return Effect.clockWith((clock) => {
    const now = clock.currentTimeMillisUnsafe()
    const from = sight.view()
    const group = from.leases
    if (group === undefined) {
      return Effect.andThen(core.uncapped!.check, Effect.sync(() => takeUncapped(core, now, slowStartMillis)))
    }
    const best = Memory.leastLoaded(local, now, slowStartMillis)
    const pick = best === undefined
      ? group.pick
      : group.pickBelow({ inFlight: best.inFlight + best.elsewhere, share: Memory.shareOf(best) })
    return Effect.map(pick, (result): Attempt => {
      if (result._tag === "Taken") return storedLease(core, result, from)
      const here = takeUncapped(core, now, slowStartMillis)
      if (result._tag === "Declined" || !isBlocked(here)) return here
      const availableAt = result.availableAt === undefined ? undefined : now + (result.availableAt - result.now)
      return {
        _tag: "Blocked",
        allDisabled: result.allDisabled && here.allDisabled,
        availableAt: here.availableAt === undefined || availableAt === undefined
          ? here.availableAt ?? availableAt
          : Math.min(here.availableAt, availableAt),
        releasable: result.releasable,
        now,
        wake: result.wake
      }
    })
  })
}

/**
 * A pool's `take`: after a blocked attempt, a wait within `maxWait` for a release (on the store's signal, else polled:
 * it may come from another instance) or a cooldown's end (only one that cools by `cooledBy`). The waits are
 * interruptible whatever region `take` runs in: a key is only ever counted in the step that returns it.
 */
function makeTake(
  providerId: string,
  maxWaitMillis: number | undefined,
  attempt: Effect.Effect<Attempt, StoreUnavailableError>
) {
  function takeLoop(deadline: number | undefined, cooledBy: number): Effect.Effect<KeyPool.Lease, NoCapacityError> {
    return Effect.matchEffect(attempt, {
      onFailure: () => Effect.fail(storeUnavailable(providerId)),
      onSuccess: (result) =>
        isBlocked(result)
          ? Effect.flatMap(Clock.currentTimeMillis, (now) => waitFor(result, now, deadline, cooledBy))
          : Effect.succeed(result)
    })
  }

  // After a blocked attempt at `now`: fail, or wait and try again.
  function waitFor(
    result: Blocked,
    now: number,
    deadline: number | undefined,
    cooledBy: number
  ): Effect.Effect<KeyPool.Lease, NoCapacityError> {
    // On this process' clock.
    const availableAt = result.availableAt === undefined ? undefined : now + (result.availableAt - result.now)
    if (maxWaitMillis === undefined || result.allDisabled) return Effect.fail(noCapacity(providerId, availableAt))
    const until = deadline ?? now + maxWaitMillis
    const cooled = availableAt !== undefined && availableAt <= Math.min(until, cooledBy) ? availableAt : undefined
    if (now >= until || (!result.releasable && cooled === undefined)) {
      return Effect.fail(noCapacity(providerId, availableAt))
    }
    const poll = result.releasable && result.wake === undefined
    const wakeAt = Math.min(until, cooled ?? Infinity, poll ? now + pollMillis : Infinity)
    const sleep = Effect.sleep(Duration.millis(Math.max(1, wakeAt - now)))
    return Effect.andThen(
      Effect.interruptible(result.wake === undefined ? sleep : Effect.race(result.wake, sleep)),
      takeLoop(until, cooledBy)
    )
  }

  // A take without `cooledBy`, made once.
  const takeAny = takeLoop(undefined, Infinity)
  return function take(options?: KeyPool.TakeOptions) {
    return options?.cooledBy === undefined ? takeAny : takeLoop(undefined, options.cooledBy)
  }
}

// A pool's `tryTakeKey`: the named key, an uncapped one here, a leased one in the store.
function makeTryTakeKey(
  core: Core,
  sight: Sight,
  localOf: ReadonlyArray<Uncapped.LocalKey | undefined>,
  slowStartMillis: number
) {
  return function tryTakeKey(keyId: string): Effect.Effect<KeyPool.Lease | undefined> {
    const at = core.keys.findIndex((key) => key.credentials.keyId === keyId)
    if (at < 0) return Effect.succeed(undefined)
    const place = core.placeOf[at]!
    if (place < 0) {
      return Effect.clockWith((clock) => {
        const uncapped = core.uncapped!
        const slot = localOf[at]!.local
        function pick() {
          Memory.leastLoaded(uncapped.group, clock.currentTimeMillisUnsafe(), slowStartMillis)
          return uncapped.group.ready.has(slot) ? localLease(core, slot) : undefined
        }
        return Effect.match(uncapped.check, { onFailure: () => undefined, onSuccess: pick })
      })
    }
    return Effect.suspend(() => {
      const from = sight.view()
      const candidate = from.places.indexOf(place)
      if (candidate < 0) return Effect.succeed(undefined)
      return Effect.match(from.leases!.pickOne(candidate), {
        onFailure: () => undefined,
        onSuccess: (taken) => taken === undefined ? undefined : storedLease(core, taken, from)
      })
    })
  }
}

/** A pool's `release` and `report`: what a lease's end and a call's outcome do to its key, here and in the store. */
function makeSettle(core: Core, settings: Settings, refuse: Sight["refuse"]) {
  const { cooldown, providerId } = settings
  const { failures, holding, token, totals, uncapped } = core

  // Its error made when it happens, as `storeUnavailable`.
  const foreign = Effect.suspend(() =>
    Effect.die(new Error(`KeyPool ${providerId}: a lease this pool did not issue was given to it`))
  )

  function count(at: number, verdict: ReturnType<typeof verdictOf>) {
    if (verdict._tag === "Success") failures[at] = 0
    else if (verdict._tag !== "Ignored") failures[at]!++
  }

  // One step drops the lease and applies the outcome; a store that went away meanwhile lets the lease expire
  // within its TTL.
  function settle(lease: StoredLease, leaseName: string, outcome: Settled | undefined) {
    return Effect.withFiber((fiber) => {
      if (leaseName !== "") holding[lease.index]!--
      const verdict = outcome === undefined ? undefined : verdictOf(outcome)
      if (verdict !== undefined) count(lease.slot, verdict)
      const told = verdict === undefined ? undefined : sharedVerdictOf(verdict, cooldown, fiber.getRef(Random.Random))
      const released = leaseName === "" && told === undefined
        ? Effect.void
        : Effect.match(lease.leases.release(lease.candidate, leaseName, told), ignored)
      return verdict?._tag === "Refused" ? Effect.andThen(released, refuse(lease.slot, verdict.reason)) : released
    })
  }

  function owned(lease: KeyPool.Lease): lease is Uncapped.LocalLease {
    return lease instanceof Uncapped.LocalLease && lease.pool === token
  }

  // Whether `lease` was held until now: a lease released by hand and again as its scope closes (or twice by hand)
  // is given back, and counted, once.
  function givenBack(lease: StoredLease | Uncapped.LocalLease, options: KeyPool.ReleaseOptions | undefined) {
    if (!lease.held) return false
    lease.held = false
    if (options?.unused === true) totals[lease.slot]!--
    return true
  }

  function release(lease: KeyPool.Lease, options?: KeyPool.ReleaseOptions): Effect.Effect<void> {
    if (owned(lease)) {
      return Effect.sync(() => {
        if (givenBack(lease, options)) Memory.drop(uncapped!.group, lease.local)
      })
    }
    if (!(lease instanceof StoredLease) || lease.pool !== token) return foreign
    // Decided when it runs, not when it is made: a success reported in between goes with it.
    return Effect.suspend(() =>
      givenBack(lease, options) ? settle(lease, lease.lease, lease.succeeded ? "success" : undefined) : Effect.void
    )
  }

  // A success while the lease is held goes with its release; any other outcome at once, as it may cool or
  // disable the key for every instance.
  function report(lease: KeyPool.Lease, outcome: KeyPool.Outcome): Effect.Effect<void> {
    if (owned(lease)) {
      return Effect.withFiber((fiber) => {
        const verdict = verdictOf(outcome)
        count(lease.slot, verdict)
        if (verdict._tag === "Refused") return refuse(lease.slot, verdict.reason)
        return uncapped!.report(lease, verdict, sharedVerdictOf(verdict, cooldown, fiber.getRef(Random.Random)))
      })
    }
    if (!(lease instanceof StoredLease) || lease.pool !== token) return foreign
    return Effect.suspend(() => {
      if (outcome !== "success" || !lease.held) return settle(lease, "", outcome)
      lease.succeeded = true
      failures[lease.slot] = 0
      return Effect.void
    })
  }

  return { release, report }
}

// The leased keys' states in the store, by place in the lease group (a refused key's: none, as it is not read).
type LeasedRead = { readonly now: number; readonly keys: ReadonlyArray<KeyPool.LeaseKeyState | undefined> }

/** A pool's `status`: its keys in order, the leased as the store counts them, the others as this instance sees them. */
function makeStatus(
  core: Core,
  sight: Sight,
  localOf: ReadonlyArray<Uncapped.LocalKey | undefined>,
  slowStartMillis: number
): Effect.Effect<ReadonlyArray<KeyPool.KeyStatus>> {
  const { failures, holding, keys, leased, placeOf, totals, uncapped } = core
  const refused = sight.refused

  // A key as `status` shows it, from its state in the store (or this process' group) at `now`.
  function keyStatus(at: number, state: KeyPool.LeaseKeyState, now: number, usable: boolean): KeyPool.KeyStatus {
    const key = keys[at]!
    const cooling = state.disabled === undefined && state.coolingUntil > now
    const warming = slowStartMillis > 0 && state.coolingUntil > 0 && now - state.coolingUntil < slowStartMillis
    return {
      keyId: key.credentials.keyId,
      weight: key.weight,
      maxConcurrency: key.maxConcurrency === Infinity ? undefined : key.maxConcurrency,
      inFlight: state.inFlight,
      totalRequests: totals[at]!,
      failures: failures[at]!,
      coolingUntil: cooling ? state.coolingUntil : undefined,
      share: !usable || state.disabled !== undefined || cooling
        ? 0
        : warming
        ? Memory.levelAt(now - state.coolingUntil, slowStartMillis) / Memory.levels
        : 1,
      disabled: state.disabled
    }
  }

  const leasedStatus = Effect.suspend((): Effect.Effect<LeasedRead | undefined> => {
    const from = sight.view()
    if (from.leases === undefined) return Effect.succeed(undefined)
    return from.leases.status.pipe(
      Effect.map((read): LeasedRead | undefined => {
        const byPlace: Array<KeyPool.LeaseKeyState | undefined> = leased.map(() => undefined)
        from.places.forEach((place, candidate) => byPlace[place] = read.keys[candidate])
        return { now: read.now, keys: byPlace }
      }),
      Effect.catchTag("StoreUnavailableError", () => Effect.succeed(undefined))
    )
  })

  return Effect.flatMap(
    leasedStatus,
    (read) =>
      Effect.clockWith((clock) => {
        const now = clock.currentTimeMillisUnsafe()
        const usable = uncapped === undefined || !uncapped.unavailable()
        return Steps.mapInSteps(keys, (_, at) => {
          const place = placeOf[at]!
          if (place >= 0) {
            const stored = read?.keys[place]
            return refused[at] === undefined && stored !== undefined
              ? keyStatus(at, stored, read!.now, true)
              : keyStatus(at, { inFlight: holding[place]!, coolingUntil: 0, disabled: refused[at] }, now, false)
          }
          const slot = localOf[at]!.local
          return keyStatus(at, { ...slot, inFlight: slot.inFlight + slot.elsewhere }, now, usable)
        })
      })
  )
}

/** A pool over `core`, with its own cooldown, warm-up and waits. */
export function service(core: Core, settings: Settings): Effect.Effect<KeyPool.Service> {
  return Effect.gen(function*() {
    const { maxWaitMillis, providerId, slowStartMillis } = settings
    const { leased, uncapped } = core
    // The steps over the pool's leased keys in the store's group (none when every key is picked here).
    const view: View = {
      leases: leased.length === 0
        ? undefined
        : yield* core.store.leases({ key: core.groupKey, candidates: candidatesOf(core), slowStartMillis }),
      places: leased.map((_, place) => place)
    }
    // Per key: its slot in this process' group when it is picked here.
    const localOf: Array<Uncapped.LocalKey | undefined> = []
    uncapped?.keys.forEach((key) => localOf[key.slot] = key)
    const sight = makeSight(core, localOf, view, slowStartMillis)

    const attempt = attemptOf(core, sight, slowStartMillis)
    const take = makeTake(providerId, maxWaitMillis, attempt)
    const tryTake: Effect.Effect<KeyPool.Lease | undefined> = Effect.match(attempt, {
      onFailure: () => undefined,
      onSuccess: (result) => isBlocked(result) ? undefined : result
    })
    const { release, report } = makeSettle(core, settings, sight.refuse)

    return {
      providerId,
      acquire: inScope(take(), release),
      take,
      tryTake,
      tryTakeKey: makeTryTakeKey(core, sight, localOf, slowStartMillis),
      release,
      report,
      status: makeStatus(core, sight, localOf, slowStartMillis)
    }
  })
}
