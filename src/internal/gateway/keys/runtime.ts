/**
 * The callers of the keys made at run time (`keys/store.ts`), each with its models, its token bucket (kept across
 * reloads while its figures stay) and a budget in the SQL ledger over its own scope and, in a team, its team's, so a
 * call must fit both; without a budget its spend is still counted by the month. Whenever the store reads a change, only
 * the callers of keys whose record or team's record changed are built again: the store keeps an unchanged record the
 * same object, and a caller is kept while its key's and its team's records are the objects it was built from, so one
 * change among many keys builds one caller.
 * A key is found by its digest, or within a rotation's grace by a replaced key's; an expired one is refused with when
 * it expired. A revoked key's streams in flight are cut (`revoked`) as soon as the store reads it, on any instance, and
 * a replaced key's when its grace period ends.
 */
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import type * as Budget from "../../../Budget.js"
import * as RateLimiter from "../../../RateLimiter.js"
import { type Caller, configKeyPrefix, personPrefix } from "../access/caller.js"
import * as Allow from "../access/tools.js"
import * as Errors from "../errorAnswer.js"
import { SpendLedger } from "./ledger.js"
import type { KeyRecord, Store as KeyStore, TeamRecord } from "./store.js"

/** The reply tokens of a budgeted request without `maxTokens`, as provider.json's keys have by default. */
const defaultMaxTokens = 4096

/** The ledger scope of a key's spend. */
export const keyScope = (id: string): string => `key:${id}`
/** The ledger scope of a team's spend. */
export const teamScope = (id: string): string => `team:${id}`

/** A scope's limit: its budget, or none (its spend counted by the month). */
export const limitOf = (scope: string, budget: KeyRecord["budget"]): Budget.Limit => ({
  scope,
  limit: budget?.limit ?? Infinity,
  period: budget?.period ?? "month"
})

export interface RuntimeKeys {
  /**
   * Whether a key was ever made here, revoked or not: from then on every request needs a key, so revoking the last
   * one does not open the gateway again.
   */
  readonly everMade: () => boolean
  /** The callers of the live keys with a budget of their own, for the dashboard's budgets. */
  readonly budgeted: () => ReadonlyArray<Caller>
  /** The id of the live key made at run time named `name`, if there is one. */
  readonly named: (name: string) => string | undefined
  /** The caller of the live key made at run time of id `id`, if there is one. */
  readonly byId: (id: string) => Caller | undefined
  /** The caller `digest` names at `now`, the refusal of an expired key, or `undefined`. */
  readonly find: (digest: string, now: number) => Caller | Errors.ErrorAnswer | undefined
}

/**
 * What a digest names: the key's own digest, or that of a key one of its rotations replaced, until it stops working,
 * with the caller known by it. A key is made at random, its replacements too, so one digest names one key.
 */
interface Named {
  readonly caller: Caller
  readonly until: number
  readonly expiresAt: number | undefined
}

/**
 * A live key's entry as the last rebuild made it: from which record, and which of its team's (none outside a team),
 * with the digests it set. The store keeps an unchanged record the same object, so the same two objects mean nothing
 * to rebuild.
 */
interface Built {
  readonly key: KeyRecord
  readonly team: TeamRecord | undefined
  readonly caller: Caller
  readonly digests: ReadonlyArray<readonly [string, Named]>
}

interface Limiter {
  readonly figures: string
  readonly limiter: RateLimiter.Service
  readonly scope: Scope.Closeable
}

const expired = (at: number) =>
  Errors.answer(
    401,
    `This gateway key expired at ${new Date(at).toISOString()}. Ask the gateway's operator for a new one.`,
    "invalid_request_error",
    null,
    "expired_api_key"
  )

/**
 * The callers of `store`'s keys, rebuilt on its every change, for the scope's life, their budgets in the spend ledger;
 * `revoked` is told the ids of the keys each change took away.
 */
export const make = (
  store: KeyStore,
  limiterStores: Context.Context<RateLimiter.BucketStore | RateLimiter.SlotStore>,
  revoked: (stale: (caller: Caller) => boolean) => Effect.Effect<void>
): Effect.Effect<RuntimeKeys, never, SpendLedger | Scope.Scope> =>
  Effect.gen(function*() {
    const ledger = yield* SpendLedger
    const outer = yield* Effect.scope
    const limiters = new Map<string, Limiter>()
    let built: ReadonlyMap<string, Built> = new Map()
    let byDigest: ReadonlyMap<string, Named> = new Map()
    // The fiber that cuts the streams of replaced keys when the next grace period ends.
    let graceEnd: Fiber.Fiber<void> | undefined

    // Whether a caller of a key made here no longer works at `now`: its key revoked, or the replaced key it was asked
    // with past its grace. provider.json's callers and callers by token are not this module's.
    const staleAt = (now: number) => (caller: Caller): boolean => {
      if (caller.id.startsWith(configKeyPrefix) || caller.id.startsWith(personPrefix)) return false
      const named = caller.digest === undefined ? undefined : byDigest.get(caller.digest)
      return named === undefined || named.caller.id !== caller.id || named.until <= now
    }
    // The streams of callers stale now cut, and again when the next grace period ends.
    const cutStale: Effect.Effect<void> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      yield* revoked(staleAt(now))
      let next = Infinity
      for (const named of byDigest.values()) if (named.until > now && named.until < next) next = named.until
      if (graceEnd !== undefined) yield* Fiber.interrupt(graceEnd)
      // The fiber, when its time comes, is no longer the one to interrupt: it arms the next.
      const due = Effect.suspend(() => {
        graceEnd = undefined
        return cutStale
      })
      graceEnd = Number.isFinite(next)
        ? yield* Effect.forkIn(Effect.andThen(Effect.sleep(Duration.millis(next - now)), due), outer)
        : undefined
    })

    // The key's token bucket: the one it had while its figures are the same, else a new one.
    const limiterOf = Effect.fnUntraced(function*(key: KeyRecord) {
      const rate = key.rateLimit
      const figures = rate === undefined ? "" : `${rate.capacity}/${rate.refillRate}`
      const kept = limiters.get(key.id)
      if (kept !== undefined && kept.figures === figures) return kept.limiter
      if (kept !== undefined) {
        limiters.delete(key.id)
        yield* Scope.close(kept.scope, Exit.void)
      }
      if (rate === undefined) return undefined
      const scope = yield* Scope.fork(outer)
      // Checked on the way in (`admin/keys.ts`): positive figures make a limiter.
      const made = RateLimiter.make({
        capacity: rate.capacity,
        refillRate: rate.refillRate,
        // Named by its figures too: a changed rate limit starts a full bucket, in memory and in Redis alike.
        key: `gateway-runtime-key/${key.id}/${figures}`
      })
      const limiter = yield* Effect.provide(made, limiterStores).pipe(Scope.provide(scope), Effect.orDie)
      limiters.set(key.id, { figures, limiter, scope })
      return limiter
    })

    // The key's entry, with its digest and those of the keys its rotations replaced.
    const entryOf = Effect.fnUntraced(function*(key: KeyRecord, team: TeamRecord | undefined) {
      const limits = [limitOf(keyScope(key.id), key.budget)]
      if (team !== undefined) limits.push(limitOf(teamScope(team.id), team.budget))
      const budgeted = key.budget !== undefined || team?.budget !== undefined
      const caller: Caller = {
        id: key.id,
        name: key.name,
        digest: key.sha256,
        models: key.models === undefined ? undefined : new Set(key.models),
        // A key in a team may use what both lists allow.
        tools: team === undefined ? Allow.rule(key.tools) : Allow.both(Allow.rule(key.tools), Allow.rule(team.tools)),
        // Its calls run its own guardrails and its team's.
        guardrails: team?.guardrails === undefined
          ? key.guardrails
          : [...new Set([...(key.guardrails ?? []), ...team.guardrails])],
        limiter: yield* limiterOf(key),
        budget: ledger.budget(limits),
        defaultMaxTokens: budgeted ? defaultMaxTokens : undefined,
        team: key.teamId
      }
      // A replaced key is the same caller, known by the digest it was asked with: its streams are cut when its grace
      // ends (`stale`).
      const digests: Array<readonly [string, Named]> = [
        [key.sha256, { caller, until: Infinity, expiresAt: key.expiresAt }],
        ...key.previous.map(({ sha256, until }): readonly [string, Named] => [
          sha256,
          { caller: { ...caller, digest: sha256 }, until, expiresAt: key.expiresAt }
        ])
      ]
      const built: Built = { key, team, caller, digests }
      return built
    })

    // Each live key's entry: the one built before while its record and its team's are the same objects, else a new
    // one, so a change of one key among many builds one.
    const rebuild = Effect.gen(function*() {
      const teams = new Map(store.teams().map((team) => [team.id, team]))
      const live = store.keys().filter((key) => key.revokedAt === undefined)
      const liveIds = new Set(live.map((key) => key.id))
      for (const [id, kept] of limiters) {
        if (!liveIds.has(id)) {
          limiters.delete(id)
          yield* Scope.close(kept.scope, Exit.void)
        }
      }
      const next = new Map<string, Built>()
      const digests = new Map<string, Named>()
      for (const key of live) {
        const team = key.teamId === undefined ? undefined : teams.get(key.teamId)
        const kept = built.get(key.id)
        const made = kept !== undefined && kept.key === key && kept.team === team ? kept : yield* entryOf(key, team)
        next.set(key.id, made)
        for (const [digest, named] of made.digests) digests.set(digest, named)
      }
      built = next
      byDigest = digests
      yield* cutStale
    })

    yield* rebuild
    store.onChange(rebuild)

    return {
      everMade: () => store.keys().length > 0,
      // Those with a budget of their own (besides their team's).
      budgeted: () =>
        Array.from(built.values()).filter((made) => made.key.budget !== undefined).map((made) => made.caller),
      named: (name) => Array.from(built.values()).find((made) => made.key.name === name)?.key.id,
      byId: (id) => built.get(id)?.caller,
      find: (digest, now) => {
        const named = byDigest.get(digest)
        if (named === undefined || named.until <= now) return undefined
        return named.expiresAt !== undefined && named.expiresAt <= now ? expired(named.expiresAt) : named.caller
      }
    }
  })
