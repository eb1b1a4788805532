/**
 * The callers of the keys made at run time (`keys/runtime.ts`' `make`) over the store a gateway without a database
 * keeps them in (SQLite in memory, `unshared`: read again only at `reload`, as every admin write does), on the
 * `TestClock`: a key found by its own digest, and within a rotation's grace by the replaced key's, up to the
 * millisecond before the grace ends and never from it, each replaced key by its own grace; an expired key refused; a
 * revoked key found by none of its digests once the store reads it, its callers called stale, provider.json's and
 * callers by token never; the streams asked with a replaced key cut when its grace ends (the fiber sleeping to it);
 * a change of one key building its caller again and keeping the others' (the same objects), and a team's change its
 * keys'; and among 2,000 keys each found by its own digest only.
 *
 * The spend ledger is the gateway's (`Ledger.layer`) over a budget store in memory, not its SQL one: the keys' callers
 * only build their budgets with it, and the SQL store renews its leases every 10 s for its life, a fiber the
 * `TestClock` wakes at each of them (about 0.35 s of a test a simulated day), which the years and days here cross.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Budget from "../../src/Budget.js"
import * as Caller from "../../src/internal/gateway/access/caller.js"
import type { ErrorAnswer } from "../../src/internal/gateway/errorAnswer.js"
import * as Ledger from "../../src/internal/gateway/keys/ledger.js"
import * as Runtime from "../../src/internal/gateway/keys/runtime.js"
import * as KeyStore from "../../src/internal/gateway/keys/store.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { effectProp } from "../utils/effectProp.js"
import { memoryDatabase } from "../utils/sqlDatabases.js"

/** A call of `revoked`: when it came, and which callers it called stale. */
interface Cut {
  readonly at: number
  readonly stale: (caller: Caller.Caller) => boolean
}

const second = 1_000
const day = 86_400_000

/** What `find` gave: the caller's id and the digest it is known by, a refusal's status and code, or none. */
const seen = (found: Caller.Caller | ErrorAnswer | undefined) =>
  found === undefined
    ? "none"
    : "id" in found
    ? `${found.id} by ${found.digest}`
    : `${found.status} ${found.code}`

/**
 * The runtime keys over a new store, as the gateway builds them with no database (`stores.ts`), with every call of
 * `revoked` recorded, and the store's writes as the admin API makes them (`admin/keys.ts`), each read back (`reload`).
 */
const gateway = Effect.gen(function*() {
  const database = yield* Effect.map(memoryDatabase, (made) => ({ ...made, unshared: true }))
  const records = yield* Layer.build(
    Layer.merge(
      Layer.orDie(KeyStore.layerSql).pipe(Layer.provide(Layer.succeed(Sql.Database, database))),
      Ledger.layer.pipe(Layer.provide(Budget.layerStoreMemory))
    )
  )
  const limiterStores = yield* Layer.build(RateLimiter.layerStoreMemory)
  const store = Context.get(records, KeyStore.KeyStore)
  const cuts: Array<Cut> = []
  const runtime = yield* Runtime.make(
    store,
    limiterStores,
    (stale) =>
      Effect.map(Clock.currentTimeMillis, (at) => {
        cuts.push({ at, stale })
      })
  ).pipe(Effect.provideService(Ledger.SpendLedger, Context.get(records, Ledger.SpendLedger)))

  let made = 0
  const saved = <E>(write: Effect.Effect<void, E>) => Effect.andThen(Effect.orDie(write), Effect.orDie(store.reload))
  const recordOf = (name: string, now: number, fields: Partial<KeyStore.KeyRecord> = {}) => {
    const secret = `elr-${name}-${made++}`
    const record: KeyStore.KeyRecord = {
      id: `key_${name}`,
      name,
      sha256: Caller.digest(secret),
      previous: [],
      createdAt: now,
      updatedAt: now,
      revokedAt: undefined,
      ...fields
    }
    return record
  }
  /** A key made now; its id and digest. */
  const makeKey = (name: string, fields: Partial<KeyStore.KeyRecord> = {}) =>
    Effect.gen(function*() {
      const record = recordOf(name, yield* Clock.currentTimeMillis, fields)
      yield* saved(store.insertKey(record))
      return { id: record.id, digest: record.sha256 }
    })
  /** Key `id` rotated now with `grace` ms, as the admin API does: the new key's digest. */
  const rotate = (id: string, grace: number) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const key = store.keys().find((held) => held.id === id)!
      const previous = [
        ...key.previous.filter((replaced) => replaced.until > now),
        ...(grace > 0 ? [{ sha256: key.sha256, until: now + grace }] : [])
      ]
      const sha256 = Caller.digest(`elr-${key.name}-${made++}`)
      yield* saved(store.updateKey(id, { sha256, previous }))
      return sha256
    })
  /** Key `id` revoked now, written; read back unless `read` is false. */
  const revoke = (id: string, read = true) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const write = Effect.orDie(store.updateKey(id, { revokedAt: now }))
      return read ? saved(write) : write
    })
  /** What `digest` finds at the clock's now. */
  const findNow = (digest: string) => Effect.map(Clock.currentTimeMillis, (now) => seen(runtime.find(digest, now)))
  return { store, runtime, cuts, recordOf, saved, makeKey, rotate, revoke, findNow }
})

const unknown = Caller.digest("elr-never-made")

describe("keys made at run time, found by digest", () => {
  it.effect("a key's own digest finds its caller, as its id does; an unknown digest or id finds none", () =>
    Effect.gen(function*() {
      const { makeKey, runtime } = yield* gateway
      const a = yield* makeKey("a")
      const b = yield* makeKey("b")
      for (const key of [a, b]) {
        for (const now of [0, 1, day, Number.MAX_SAFE_INTEGER]) {
          expect(seen(runtime.find(key.digest, now))).toBe(`${key.id} by ${key.digest}`)
        }
        expect(runtime.byId(key.id)).toMatchObject({ id: key.id, digest: key.digest })
      }
      expect(runtime.find(unknown, 0)).toBeUndefined()
      // A key's id is not its digest, nor the other way round.
      expect(runtime.find(a.id, 0)).toBeUndefined()
      expect(runtime.byId(a.digest)).toBeUndefined()
      expect(runtime.byId("key_c")).toBeUndefined()
      expect(runtime.everMade()).toBe(true)
      expect(runtime.named("b")).toBe(b.id)
    }).pipe(Effect.scoped))

  it.effect(
    "a replaced key's digest finds its caller, known by it, to the millisecond before its grace ends and never from " +
      "then on; the new key's throughout",
    () =>
      Effect.gen(function*() {
        const { cuts, findNow, makeKey, rotate, runtime } = yield* gateway
        for (const [index, grace] of [1, 2, 3, 17, second, 60 * second, day].entries()) {
          const key = yield* makeKey(`k${index}`)
          const start = yield* Clock.currentTimeMillis
          const fresh = yield* rotate(key.id, grace)
          const until = start + grace
          const old = `${key.id} by ${key.digest}`
          const now = `${key.id} by ${fresh}`
          // Every millisecond from the rotation to past its end (the cut points alone for a day's grace).
          const moments = grace <= 60 * second
            ? Array.from({ length: grace + 3 }, (_, step) => start + step)
            : [start, start + 1, until - 2, until - 1, until, until + 1, until + 2]
          const wrong = moments.flatMap((at) => {
            const got = [seen(runtime.find(key.digest, at)), seen(runtime.find(fresh, at))]
            const wanted = [at < until ? old : "none", now]
            return got[0] === wanted[0] && got[1] === wanted[1] ? [] : [{ at, got, wanted }]
          })
          expect(wrong).toEqual([])
          expect(runtime.byId(key.id)?.digest).toBe(fresh)

          // On the clock, through the cut points: the grace's end cuts the replaced key's streams once, at its end.
          const before = cuts.length
          yield* TestClock.setTime(until - 1)
          expect([yield* findNow(key.digest), yield* findNow(fresh)]).toEqual([old, now])
          expect(cuts).toHaveLength(before)
          yield* TestClock.setTime(until)
          expect([yield* findNow(key.digest), yield* findNow(fresh)]).toEqual(["none", now])
          expect(cuts.slice(before).map((cut) => cut.at)).toEqual([until])
          yield* TestClock.adjust(1)
          expect([yield* findNow(key.digest), yield* findNow(fresh)]).toEqual(["none", now])
          expect(cuts).toHaveLength(before + 1)
        }
      }).pipe(Effect.scoped)
  )

  effectProp(
    "for any grace, rotation time and moments, a replaced key's digest finds its caller exactly before the grace " +
      "ends, and its streams are cut when it ends",
    fc.record({ start: fc.integer({ min: 0, max: 3650 * day }), grace: fc.integer({ min: 1, max: 30 * day }) })
      .chain(({ grace, start }) =>
        fc.record({
          start: fc.constant(start),
          grace: fc.constant(grace),
          offsets: fc.array(
            fc.oneof(fc.integer({ min: 0, max: grace + second }), fc.constantFrom(grace - 1, grace, grace + 1)),
            { minLength: 1, maxLength: 8 }
          )
        })
      ),
    ({ grace, offsets, start }) =>
      Effect.gen(function*() {
        const { cuts, findNow, makeKey, rotate, runtime } = yield* gateway
        yield* TestClock.setTime(start)
        const key = yield* makeKey("rotated")
        const other = yield* makeKey("other")
        const fresh = yield* rotate(key.id, grace)
        const until = start + grace
        const old = runtime.find(key.digest, start) as Caller.Caller
        expect(old).toMatchObject({ id: key.id, digest: key.digest })
        const wanted = (at: number) => at < until ? `${key.id} by ${key.digest}` : "none"
        for (const offset of offsets) {
          expect(seen(runtime.find(key.digest, start + offset))).toBe(wanted(start + offset))
          expect(seen(runtime.find(fresh, start + offset))).toBe(`${key.id} by ${fresh}`)
        }
        for (const offset of [...new Set(offsets)].sort((x, y) => x - y)) {
          yield* TestClock.setTime(start + offset)
          expect(yield* findNow(key.digest)).toBe(wanted(start + offset))
          expect(yield* findNow(other.digest)).toBe(`${other.id} by ${other.digest}`)
          const ended = cuts.filter((cut) => cut.at === until)
          expect(ended).toHaveLength(start + offset >= until ? 1 : 0)
          for (const cut of ended) {
            expect(cut.stale(old)).toBe(true)
            expect(cut.stale(runtime.byId(key.id)!)).toBe(false)
            expect(cut.stale(runtime.byId(other.id)!)).toBe(false)
          }
        }
      })
  )

  it.effect("each key a rotation replaced keeps its own grace, and stops, and is cut, at its own end", () =>
    Effect.gen(function*() {
      const { cuts, findNow, makeKey, rotate, runtime, store } = yield* gateway
      yield* TestClock.setTime(10 * second)
      const key = yield* makeKey("twice")
      // Replaced at 10 s with a minute's grace, then its replacement at 20 s with 5 s.
      const middleDigest = yield* rotate(key.id, 60 * second)
      yield* TestClock.setTime(20 * second)
      const lastDigest = yield* rotate(key.id, 5 * second)
      const longEnd = 70 * second
      const shortEnd = 25 * second
      expect(store.keys()[0]!.previous).toEqual([
        { sha256: key.digest, until: longEnd },
        { sha256: middleDigest, until: shortEnd }
      ])
      const first = runtime.find(key.digest, 20 * second) as Caller.Caller
      const middle = runtime.find(middleDigest, 20 * second) as Caller.Caller
      expect([first.digest, middle.digest]).toEqual([key.digest, middleDigest])
      const state = () => Effect.all([findNow(key.digest), findNow(middleDigest), findNow(lastDigest)])
      const by = (digest: string) => `${key.id} by ${digest}`
      const before = cuts.length

      yield* TestClock.setTime(shortEnd - 1)
      expect(yield* state()).toEqual([by(key.digest), by(middleDigest), by(lastDigest)])
      expect(cuts).toHaveLength(before)
      yield* TestClock.setTime(shortEnd)
      expect(yield* state()).toEqual([by(key.digest), "none", by(lastDigest)])
      expect(cuts.slice(before).map((cut) => cut.at)).toEqual([shortEnd])
      const atShort = cuts.at(-1)!
      expect([atShort.stale(first), atShort.stale(middle), atShort.stale(runtime.byId(key.id)!)])
        .toEqual([false, true, false])

      yield* TestClock.setTime(longEnd - 1)
      expect(yield* state()).toEqual([by(key.digest), "none", by(lastDigest)])
      expect(cuts).toHaveLength(before + 1)
      yield* TestClock.setTime(longEnd)
      expect(yield* state()).toEqual(["none", "none", by(lastDigest)])
      expect(cuts.slice(before).map((cut) => cut.at)).toEqual([shortEnd, longEnd])
      const atLong = cuts.at(-1)!
      expect([atLong.stale(first), atLong.stale(middle), atLong.stale(runtime.byId(key.id)!)])
        .toEqual([true, true, false])

      // No grace left: no further cut.
      yield* TestClock.adjust(365 * day)
      expect(cuts).toHaveLength(before + 2)
      // A rotation without grace: the replaced key stops at once.
      const fourth = yield* rotate(key.id, 0)
      expect(yield* Effect.all([findNow(lastDigest), findNow(fourth)])).toEqual(["none", by(fourth)])
      expect(cuts.at(-1)!.stale({ ...middle, digest: lastDigest })).toBe(true)
    }).pipe(Effect.scoped))

  it.effect(
    "an expired key is refused (401 expired_api_key) from its expiry on, its caller found before; a key it " +
      "replaced too, within its grace",
    () =>
      Effect.gen(function*() {
        const { makeKey, rotate, runtime } = yield* gateway
        yield* TestClock.setTime(day)
        const expiresAt = day + 10 * second
        const key = yield* makeKey("expiring", { expiresAt })
        const expired = `401 expired_api_key`
        expect(seen(runtime.find(key.digest, expiresAt - 1))).toBe(`${key.id} by ${key.digest}`)
        for (const at of [expiresAt, expiresAt + 1, expiresAt + day]) {
          expect(seen(runtime.find(key.digest, at))).toBe(expired)
        }
        const refusal = runtime.find(key.digest, expiresAt) as ErrorAnswer
        expect(refusal).toMatchObject({ status: 401, code: "expired_api_key" })
        expect(refusal.message).toContain(new Date(expiresAt).toISOString())

        // Rotated at day + 5 s with a grace of 20 s: the grace outlives the expiry, which the rotation keeps.
        yield* TestClock.setTime(day + 5 * second)
        const fresh = yield* rotate(key.id, 20 * second)
        const until = day + 25 * second
        const wrong = [day + 5 * second, expiresAt - 1, expiresAt, expiresAt + 1, until - 1, until, until + 1].flatMap(
          (at) => {
            const got = [seen(runtime.find(key.digest, at)), seen(runtime.find(fresh, at))]
            const wanted = at < expiresAt
              ? [`${key.id} by ${key.digest}`, `${key.id} by ${fresh}`]
              : [at < until ? expired : "none", expired]
            return got[0] === wanted[0] && got[1] === wanted[1] ? [] : [{ at, got, wanted }]
          }
        )
        expect(wrong).toEqual([])
        // An expired key is refused, not taken away: `byId` still knows it.
        expect(runtime.byId(key.id)?.digest).toBe(fresh)
      }).pipe(Effect.scoped)
  )

  it.effect(
    "a revoked key's digests find none once the store reads the revocation, and its callers are stale; " +
      "provider.json's and callers by token never are",
    () =>
      Effect.gen(function*() {
        const { cuts, makeKey, revoke, rotate, runtime, store } = yield* gateway
        const key = yield* makeKey("revoked")
        const kept = yield* makeKey("kept")
        yield* TestClock.setTime(second)
        const fresh = yield* rotate(key.id, day)
        const own = runtime.byId(key.id)!
        const replaced = runtime.find(key.digest, second) as Caller.Caller
        const other = runtime.byId(kept.id)!
        const config: Caller.Caller = { ...own, id: Caller.configKeyId("ops"), digest: Caller.digest("config-key") }
        const person: Caller.Caller = { ...own, id: `${Caller.personPrefix}https://issuer#ada`, digest: undefined }
        // The same digests as the revoked key's: they are not this module's callers all the same.
        const lookalikes = [{ ...config, digest: fresh }, { ...person, digest: key.digest }]
        expect(cuts.at(-1)!.stale(own)).toBe(false)
        expect(cuts.at(-1)!.stale(replaced)).toBe(false)

        // Written, not yet read: the copy in memory, and the callers, are as they were.
        yield* TestClock.setTime(2 * second)
        const before = cuts.length
        yield* revoke(key.id, false)
        expect(seen(runtime.find(fresh, 2 * second))).toBe(`${key.id} by ${fresh}`)
        expect(cuts).toHaveLength(before)
        yield* Effect.orDie(store.reload)

        for (const digest of [fresh, key.digest]) {
          for (const at of [2 * second, second + day - 1, second + day]) {
            expect(runtime.find(digest, at)).toBeUndefined()
          }
        }
        expect(runtime.byId(key.id)).toBeUndefined()
        expect(seen(runtime.find(kept.digest, 2 * second))).toBe(`${kept.id} by ${kept.digest}`)
        expect(cuts.slice(before).map((cut) => cut.at)).toEqual([2 * second])
        const { stale } = cuts.at(-1)!
        expect([own, replaced].map(stale)).toEqual([true, true])
        expect([other, config, person, ...lookalikes].map(stale)).toEqual([false, false, false, false, false])
        // A caller of an id the store never had is stale too; provider.json's and by token, whatever their digest.
        expect(stale({ ...other, id: "key_gone" })).toBe(true)
        expect(stale({ ...config, digest: undefined })).toBe(false)
        expect(stale({ ...person, digest: unknown })).toBe(false)
        // The replaced key's grace, the revoked key's, is no longer waited for.
        yield* TestClock.adjust(2 * day)
        expect(cuts).toHaveLength(before + 1)
        expect(runtime.everMade()).toBe(true)
      }).pipe(Effect.scoped)
  )

  it.effect(
    "when a grace period ends, the streams asked with the replaced key are cut and the new key's not, once, " +
      "however often the store changed meanwhile",
    () =>
      Effect.gen(function*() {
        const { cuts, makeKey, rotate, runtime } = yield* gateway
        const grace = 5 * second
        yield* TestClock.setTime(second)
        const key = yield* makeKey("rotated")
        const fresh = yield* rotate(key.id, grace)
        const old = runtime.find(key.digest, second) as Caller.Caller
        const now = runtime.find(fresh, second) as Caller.Caller
        expect([old.digest, now.digest]).toEqual([key.digest, fresh])
        const atRotation = cuts.at(-1)!
        expect(atRotation.at).toBe(second)
        expect([atRotation.stale(old), atRotation.stale(now)]).toEqual([false, false])
        const before = cuts.length

        // The store changes within the grace: the fiber sleeping to its end is replaced, not doubled.
        yield* TestClock.adjust(second)
        yield* makeKey("meanwhile")
        yield* makeKey("and-again")
        const during = cuts.length
        expect(during).toBe(before + 2)
        yield* TestClock.adjust(grace - second - 1)
        expect(cuts).toHaveLength(during)
        yield* TestClock.adjust(1)
        // Waits on the cut, not on a duration: the fiber woken by the clock may take a turn or more.
        for (let turn = 0; turn < 100 && cuts.length === during; turn++) yield* Effect.yieldNow
        expect(cuts.slice(during).map((cut) => cut.at)).toEqual([second + grace])
        const { stale } = cuts.at(-1)!
        expect([stale(old), stale(now)]).toEqual([true, false])
        yield* TestClock.adjust(30 * day)
        expect(cuts).toHaveLength(during + 1)
      }).pipe(Effect.scoped)
  )

  it.effect(
    "a change of one key builds its caller again and keeps the others' (the same objects); a team's change " +
      "builds its keys' callers again, its guardrails and tools reaching them",
    () =>
      Effect.gen(function*() {
        const { makeKey, runtime, saved, store } = yield* gateway
        const now = yield* Clock.currentTimeMillis
        yield* saved(store.insertTeam({
          id: "team_1",
          name: "research",
          tools: ["docs__*"],
          guardrails: ["pii"],
          createdAt: now,
          updatedAt: now
        }))
        const inTeam = [
          yield* makeKey("a", { teamId: "team_1", tools: ["docs__*"] }),
          yield* makeKey("b", { teamId: "team_1", tools: ["docs__*", "web__*"] })
        ]
        const alone = [yield* makeKey("c"), yield* makeKey("d", { guardrails: ["secrets"] })]
        const callers = () => new Map([...inTeam, ...alone].map(({ id }) => [id, runtime.byId(id)!]))
        const before = callers()

        // Key c's guardrails changed: its caller alone is new, and found by its digest.
        yield* saved(store.updateKey("key_c", { guardrails: ["toxicity"] }))
        const afterKey = callers()
        for (const id of ["key_a", "key_b", "key_d"]) expect(afterKey.get(id)).toBe(before.get(id))
        const changed = afterKey.get("key_c")!
        expect(changed).not.toBe(before.get("key_c"))
        expect(changed).toMatchObject({ id: "key_c", digest: alone[0]!.digest, guardrails: ["toxicity"] })
        expect(runtime.find(alone[0]!.digest, now)).toBe(changed)

        // The team's guardrails and tools changed: its keys' callers are new and carry them; the others are kept.
        yield* saved(store.updateTeam("team_1", { guardrails: ["pii", "jailbreak"], tools: ["web__search"] }))
        const afterTeam = callers()
        for (const id of ["key_c", "key_d"]) expect(afterTeam.get(id)).toBe(afterKey.get(id))
        const [a, b] = [afterTeam.get("key_a")!, afterTeam.get("key_b")!]
        expect([a, b].map((caller) => before.get(caller.id) === caller)).toEqual([false, false])
        expect([a.guardrails, b.guardrails]).toEqual([["pii", "jailbreak"], ["pii", "jailbreak"]])
        // A key in the team may use what both lists allow: now nothing for a, web search for b.
        expect([a.tools("docs__search"), a.tools("web__search")]).toEqual([false, false])
        expect([b.tools("docs__search"), b.tools("web__search"), b.tools("web__fetch")]).toEqual([false, true, false])
        expect(runtime.find(inTeam[1]!.digest, now)).toBe(b)
      }).pipe(Effect.scoped)
  )

  it.effect("among 2,000 keys, each digest finds its own key's caller and no other's", () =>
    Effect.gen(function*() {
      const { recordOf, runtime, saved, store } = yield* gateway
      const records = Array.from({ length: 2_000 }, (_, index) => recordOf(`k${index}`, index))
      for (const record of records.slice(0, -1)) yield* Effect.orDie(store.insertKey(record))
      yield* saved(store.insertKey(records.at(-1)!))
      const wrong = records.filter((record) => {
        const found = runtime.find(record.sha256, 0)
        return seen(found) !== `${record.id} by ${record.sha256}` || runtime.byId(record.id) !== found
      })
      expect(wrong).toEqual([])
      // One digest, one caller: as many callers as keys.
      expect(new Set(records.map((record) => runtime.find(record.sha256, 0))).size).toBe(2_000)
      // A key's digest with one hex digit changed names no key.
      const near = records.flatMap((record) =>
        [0, 31, 63].map((at) =>
          record.sha256.slice(0, at) + (record.sha256[at] === "0" ? "1" : "0") + record.sha256.slice(at + 1)
        )
      )
      expect(near.filter((digest) => runtime.find(digest, 0) !== undefined)).toEqual([])
    }).pipe(Effect.scoped))
})
