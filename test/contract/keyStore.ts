/**
 * The contract every backend of the keys and teams made at run time (`keys/store.ts`' `KeyStore`) keeps, run against
 * each (`test/gateway/keyStore.test.ts`: SQLite and Postgres, the gateway's databases): a key and a team are
 * read back whole, oldest first, once the store reloads, and its listeners run after a reload that found a change
 * only; a name (a key's among keys, a team's among teams, a revoked key's included) is taken once, at making and at
 * renaming; a rotation keeps every replaced key with its grace, and each change moves `updated_at` forward even
 * within one millisecond; budgets are set, changed and cleared; a team deleted lets its revoked keys go. Any sequence
 * of makings, renamings, revocations, budgets and team moves reads as a model of the two tables does. On a database,
 * two instances agree: what one writes the other reads once `refreshEvery` passes on its `Clock`, and not before;
 * among many keys, a reload after changes made on either reads what a new store reads at start, keeping each unchanged
 * key's and team's record the same object.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as KeyStore from "../../src/internal/gateway/keys/store.js"
import { effectProp } from "../utils/effectProp.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"

const digestOf = (name: string) => Buffer.from(name).toString("hex").padEnd(64, "0")

function keyRecord(id: string, name: string, at: number, fields: Partial<KeyStore.KeyRecord> = {}): KeyStore.KeyRecord {
  return {
    id,
    name,
    sha256: digestOf(id),
    previous: [],
    teamId: undefined,
    models: undefined,
    tools: undefined,
    guardrails: undefined,
    budget: undefined,
    rateLimit: undefined,
    expiresAt: undefined,
    metadata: undefined,
    createdAt: at,
    updatedAt: at,
    revokedAt: undefined,
    ...fields
  }
}

function teamRecord(id: string, name: string, at: number, fields: Partial<KeyStore.TeamRecord> = {}) {
  return {
    id,
    name,
    budget: undefined,
    tools: undefined,
    guardrails: undefined,
    metadata: undefined,
    createdAt: at,
    updatedAt: at,
    ...fields
  } satisfies KeyStore.TeamRecord
}

// What the store read, `updatedAt` aside (each backend stamps it from the clock).
const unstamped = <A extends { readonly updatedAt: number }>(rows: ReadonlyArray<A>) =>
  rows.map(({ updatedAt: _, ...rest }) => rest)

const names = ["research", "support", "billing"] as const

type Step =
  | { readonly op: "makeKey"; readonly name: number }
  | { readonly op: "makeTeam"; readonly name: number }
  | { readonly op: "renameKey"; readonly key: number; readonly name: number }
  | { readonly op: "renameTeam"; readonly team: number; readonly name: number }
  | { readonly op: "revoke"; readonly key: number }
  | { readonly op: "budget"; readonly key: number; readonly limit: number | undefined }
  | { readonly op: "join"; readonly key: number; readonly team: number | undefined }

const index = fc.integer({ min: 0, max: 3 })
const name = fc.integer({ min: 0, max: names.length - 1 })
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant("makeKey" as const), name }),
  fc.record({ op: fc.constant("makeTeam" as const), name }),
  fc.record({ op: fc.constant("renameKey" as const), key: index, name }),
  fc.record({ op: fc.constant("renameTeam" as const), team: index, name }),
  fc.record({ op: fc.constant("revoke" as const), key: index }),
  fc.record({
    op: fc.constant("budget" as const),
    key: index,
    limit: fc.option(fc.integer({ min: 1, max: 500 }), { nil: undefined })
  }),
  fc.record({ op: fc.constant("join" as const), key: index, team: fc.option(index, { nil: undefined }) })
)

/** The runs of the property: fewer on a database, whose steps are slower. */
const runsOf = { SQLite: 25, Postgres: 10 } as const

export const keyStoreContract = (backend: StoreBackend<KeyStore.Store>) =>
  describe(`keys' and teams' store contract: ${backend.name}`, () => {
    const label = backend.name

    it.effect(`${label}: a key and a team are read back whole, oldest first, once the store reloads`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const team = teamRecord("team_1", "research", 1_000, {
          budget: { limit: 250.5, period: "month" },
          tools: ["docs.*"],
          guardrails: ["pii"],
          metadata: { owner: "ada" }
        })
        const full = keyRecord("key_2", "ci", 2_000, {
          previous: [{ sha256: digestOf("key_2 before"), until: 9_000 }],
          teamId: "team_1",
          models: ["gpt-4o", "claude"],
          tools: ["docs.search"],
          guardrails: ["secrets"],
          budget: { limit: 10, period: "1 day" },
          rateLimit: { capacity: 20, refillRate: 0.5 },
          expiresAt: 99_000,
          metadata: { purpose: "nightly", nested: { a: [1, 2] } }
        })
        const older = keyRecord("key_9", "bot", 1_500)
        yield* store.insertTeam(team)
        yield* store.insertKey(full)
        yield* store.insertKey(older)
        // Written, not yet read: the copy is what the last reload found.
        expect(store.keys()).toEqual([])
        yield* store.reload
        expect(store.keys()).toEqual([older, full])
        expect(store.teams()).toEqual([team])
      }))

    it.effect(`${label}: listeners run after a reload that found a change, and only then`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        let runs = 0
        store.onChange(Effect.sync(() => runs++))
        yield* store.reload
        expect(runs).toBe(0)
        yield* store.insertTeam(teamRecord("team_1", "research", 1))
        yield* store.reload
        expect(runs).toBe(1)
        // Seen while it runs: the listener reads the copy the reload just made.
        store.onChange(Effect.sync(() => expect(store.teams().map((team) => team.name)).toEqual(["research"])))
        yield* store.reload
        expect(runs).toBe(1)
        yield* store.updateTeam("team_1", { metadata: { a: 1 } })
        yield* store.reload
        expect(runs).toBe(2)
      }))

    it.effect(`${label}: a name is taken once, at making and at renaming, a revoked key's too`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* store.insertKey(keyRecord("key_1", "ci", 1))
        yield* store.insertKey(keyRecord("key_2", "bot", 2))
        yield* store.updateKey("key_1", { revokedAt: 3 })
        expect((yield* Effect.flip(store.insertKey(keyRecord("key_3", "ci", 4))))._tag).toBe("NameTaken")
        expect((yield* Effect.flip(store.updateKey("key_2", { name: "ci" })))._tag).toBe("NameTaken")
        // Its own name again, and a name of the other table, are free.
        yield* store.updateKey("key_2", { name: "bot" })
        yield* store.insertTeam(teamRecord("team_1", "ci", 5))
        yield* store.insertTeam(teamRecord("team_2", "research", 6))
        expect((yield* Effect.flip(store.insertTeam(teamRecord("team_3", "research", 7))))._tag).toBe("NameTaken")
        expect((yield* Effect.flip(store.updateTeam("team_1", { name: "research" })))._tag).toBe("NameTaken")
        yield* store.updateKey("key_2", { name: "deploy" })
        yield* store.updateTeam("team_2", { name: "support" })
        yield* store.reload
        expect(store.keys().map((key) => [key.id, key.name, key.revokedAt])).toEqual([
          ["key_1", "ci", 3],
          ["key_2", "deploy", undefined]
        ])
        expect(store.teams().map((team) => [team.id, team.name])).toEqual([["team_1", "ci"], ["team_2", "support"]])
      }))

    it.effect(`${label}: rotations keep each replaced key's grace; every change moves updated_at forward`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* TestClock.setTime(10_000)
        yield* store.insertKey(keyRecord("key_1", "ci", 10_000))
        const first = { sha256: digestOf("key_1"), until: 70_000 }
        yield* store.updateKey("key_1", { sha256: digestOf("second"), previous: [first] })
        const second = { sha256: digestOf("second"), until: 80_000 }
        yield* store.updateKey("key_1", { sha256: digestOf("third"), previous: [first, second] })
        yield* store.reload
        const [rotated] = store.keys()
        expect(rotated).toMatchObject({ sha256: digestOf("third"), previous: [first, second] })
        // Two changes within the same millisecond: each one past the last.
        expect(rotated!.updatedAt).toBe(10_002)
        yield* TestClock.setTime(50_000)
        yield* store.updateKey("key_1", { previous: [second] })
        yield* store.reload
        expect(store.keys()[0]).toMatchObject({ previous: [second], updatedAt: 50_000 })
        // A new digest another key has is refused as a name is.
        yield* store.insertKey(keyRecord("key_2", "bot", 50_000))
        expect((yield* Effect.flip(store.updateKey("key_2", { sha256: digestOf("third") })))._tag).toBe("NameTaken")
      }))

    it.effect(`${label}: budgets and limits are set, changed and cleared; a team deleted lets its revoked keys go`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* store.insertTeam(teamRecord("team_1", "research", 1, { budget: { limit: 100, period: "month" } }))
        yield* store.insertKey(keyRecord("key_1", "ci", 2, { teamId: "team_1", budget: { limit: 5, period: "month" } }))
        yield* store.insertKey(keyRecord("key_2", "bot", 3, { teamId: "team_1" }))
        yield* store.updateKey("key_1", {
          budget: { limit: 7.25, period: "7 days" },
          rateLimit: { capacity: 3, refillRate: 1 }
        })
        yield* store.updateTeam("team_1", { budget: undefined })
        yield* store.reload
        expect(store.keys()[0]).toMatchObject({
          budget: { limit: 7.25, period: "7 days" },
          rateLimit: { capacity: 3, refillRate: 1 }
        })
        expect(store.teams()[0]!.budget).toBeUndefined()
        yield* store.updateKey("key_1", { budget: undefined, rateLimit: undefined })
        yield* store.updateTeam("team_1", { budget: { limit: 40, period: "1 day" } })
        yield* store.updateKey("key_2", { revokedAt: 4 })
        yield* store.updateKey("key_1", { teamId: undefined })
        yield* store.reload
        expect(store.keys()[0]).toMatchObject({ budget: undefined, rateLimit: undefined, teamId: undefined })
        expect(store.teams()[0]!.budget).toEqual({ limit: 40, period: "1 day" })
        yield* store.deleteTeam("team_1")
        yield* store.reload
        expect(store.teams()).toEqual([])
        expect(store.keys().map((key) => [key.id, key.teamId, key.revokedAt])).toEqual([
          ["key_1", undefined, undefined],
          ["key_2", undefined, 4]
        ])
      }))

    effectProp(
      `${label}: any sequence of makings, renamings, revocations, budgets and team moves reads as the model's tables`,
      fc.array(step, { maxLength: 14 }),
      (steps) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const keys: Array<KeyStore.KeyRecord> = []
          const teams: Array<KeyStore.TeamRecord> = []
          const taken = (
            rows: ReadonlyArray<{ readonly id: string; readonly name: string }>,
            id: string,
            wanted: string
          ) => rows.some((row) => row.id !== id && row.name === wanted)
          // `write` run, refused with NameTaken exactly when the model says the name is taken.
          const named = (isTaken: boolean, write: Effect.Effect<void, unknown>) =>
            Effect.map(Effect.exit(write), (exit) =>
              expect(exit._tag, isTaken ? "taken" : "free").toBe(isTaken ? "Failure" : "Success"))
          for (const [at, one] of steps.entries()) {
            switch (one.op) {
              case "makeKey": {
                const made = keyRecord(`key_${at}`, names[one.name]!, at)
                const isTaken = taken(keys, made.id, made.name)
                yield* named(isTaken, store.insertKey(made))
                if (!isTaken) {
                  keys.push(made)
                }
                break
              }
              case "makeTeam": {
                const made = teamRecord(`team_${at}`, names[one.name]!, at)
                const isTaken = taken(teams, made.id, made.name)
                yield* named(isTaken, store.insertTeam(made))
                if (!isTaken) {
                  teams.push(made)
                }
                break
              }
              case "renameKey": {
                const key = keys[one.key]
                if (key === undefined) {
                  break
                }
                const isTaken = taken(keys, key.id, names[one.name]!)
                yield* named(isTaken, store.updateKey(key.id, { name: names[one.name]! }))
                if (!isTaken) {
                  keys[one.key] = { ...key, name: names[one.name]! }
                }
                break
              }
              case "renameTeam": {
                const team = teams[one.team]
                if (team === undefined) {
                  break
                }
                const isTaken = taken(teams, team.id, names[one.name]!)
                yield* named(isTaken, store.updateTeam(team.id, { name: names[one.name]! }))
                if (!isTaken) {
                  teams[one.team] = { ...team, name: names[one.name]! }
                }
                break
              }
              case "revoke": {
                const key = keys[one.key]
                if (key === undefined) {
                  break
                }
                yield* store.updateKey(key.id, { revokedAt: at })
                keys[one.key] = { ...key, revokedAt: at }
                break
              }
              case "budget": {
                const key = keys[one.key]
                if (key === undefined) {
                  break
                }
                const budget = one.limit === undefined ? undefined : { limit: one.limit, period: "month" as const }
                yield* store.updateKey(key.id, { budget })
                keys[one.key] = { ...key, budget }
                break
              }
              case "join": {
                const key = keys[one.key]
                const teamId = one.team === undefined ? undefined : teams[one.team]?.id
                if (key === undefined || (one.team !== undefined && teamId === undefined)) {
                  break
                }
                yield* store.updateKey(key.id, { teamId })
                keys[one.key] = { ...key, teamId }
                break
              }
            }
          }
          yield* store.reload
          expect(unstamped(store.keys())).toEqual(unstamped(keys))
          expect(unstamped(store.teams())).toEqual(unstamped(teams))
        }).pipe(Effect.orDie),
      runsOf[label]
    )

    const sql = backend.sql
    if (sql !== undefined) {
      it.effect(`${label}: two instances on one database: what one writes the other reads once refreshEvery passes`, () =>
        Effect.gen(function*() {
          const database = yield* sql.database
          const one = yield* sql.store(database)
          const other = yield* sql.store(database)
          const changed = yield* Deferred.make<void>()
          other.onChange(Deferred.succeed(changed, undefined))
          yield* one.insertTeam(teamRecord("team_1", "research", 1))
          yield* one.insertKey(keyRecord("key_1", "ci", 2, { teamId: "team_1" }))
          yield* one.reload
          expect(one.keys().map((key) => key.name)).toEqual(["ci"])
          // Not before its next look: the other still serves what it read at start.
          yield* TestClock.adjust(Duration.toMillis(KeyStore.refreshEvery) - 1)
          expect(other.keys()).toEqual([])
          yield* TestClock.adjust(1)
          yield* Deferred.await(changed)
          expect(other.keys()).toEqual(one.keys())
          expect(other.teams()).toEqual(one.teams())
          // A revocation, the same way.
          const revoked = yield* Deferred.make<void>()
          other.onChange(Deferred.succeed(revoked, undefined))
          yield* one.updateKey("key_1", { revokedAt: 3 })
          yield* TestClock.adjust(KeyStore.refreshEvery)
          yield* Deferred.await(revoked)
          expect(other.keys()[0]!.revokedAt).toBe(3)
        }))

      it.effect(
        `${label}: among many keys, a reload after changes (one instance's and another's) reads what a new ` +
          "store reads, each unchanged key's and team's record the same object as before",
        () =>
          Effect.gen(function*() {
            const database = yield* sql.database
            const one = yield* sql.store(database)
            const other = yield* sql.store(database)
            yield* one.insertTeam(teamRecord("team_1", "research", 1, { guardrails: ["pii"] }))
            yield* one.insertTeam(teamRecord("team_2", "support", 2))
            // More keys than one statement reads the rows of, a few in the first team, one in the second.
            const ids = Array.from({ length: 1_100 }, (_, at) => `key_${String(at).padStart(4, "0")}`)
            for (const [at, id] of ids.entries()) {
              const teamId = at % 100 === 0 ? "team_1" : at === 101 ? "team_2" : undefined
              yield* one.insertKey(keyRecord(id, `name ${id}`, 10 + at, { teamId, models: [`model ${at % 7}`] }))
            }
            yield* one.updateKey("key_0101", { revokedAt: 3 })
            yield* one.reload
            expect(one.keys().map((key) => key.id)).toEqual(ids)
            const keysBefore = new Map(one.keys().map((key) => [key.id, key]))
            const teamsBefore = new Map(one.teams().map((team) => [team.id, team]))

            // One key renamed and one revoked here, a team deleted with a revoked key in it (which it lets go), and
            // on the other instance a key's budget changed and a key made.
            yield* one.updateKey("key_0500", { name: "renamed" })
            yield* one.updateKey("key_0700", { revokedAt: 4 })
            yield* one.deleteTeam("team_2")
            yield* other.updateKey("key_0002", { budget: { limit: 9, period: "month" } })
            yield* other.insertKey(keyRecord("key_9999", "made elsewhere", 5))
            yield* one.reload

            const fresh = yield* sql.store(database)
            expect(one.keys()).toEqual(fresh.keys())
            expect(one.teams()).toEqual(fresh.teams())
            const changed = ["key_0500", "key_0700", "key_0101", "key_0002", "key_9999"]
            expect(one.keys().map((key) => key.id)).toEqual(["key_9999", ...ids])
            expect(one.keys().filter((key) => key !== keysBefore.get(key.id)).map((key) => key.id).sort())
              .toEqual([...changed].sort())
            expect(one.keys().find((key) => key.id === "key_0101")).toMatchObject({ teamId: undefined, revokedAt: 3 })
            expect(one.keys().find((key) => key.id === "key_0002")!.budget).toEqual({ limit: 9, period: "month" })
            expect(one.teams().map((team) => team.id)).toEqual(["team_1"])
            expect(one.teams()[0]).toBe(teamsBefore.get("team_1"))
            // The other instance, reloaded, agrees.
            yield* other.reload
            expect(other.keys()).toEqual(fresh.keys())
          })
      )

      it.effect(`${label}: a row read back in a shape the store does not write fails its reload, naming the column`, () =>
        Effect.gen(function*() {
          const database = yield* sql.database
          const store = yield* sql.store(database)
          yield* store.insertKey(keyRecord("key_1", "ci", 1))
          // A list of models as JSON of another shape; on SQLite, whose columns take any value, a time as text.
          yield* Effect.orDie(database.sql`UPDATE keys SET models = '"all"'`)
          const models = yield* Effect.flip(store.reload)
          expect(models._tag).toBe("StoreUnavailableError")
          expect(models.reason).toMatch(/keys.*models/)
          if (label === "SQLite") {
            yield* Effect.orDie(database.sql`UPDATE keys SET models = NULL, expires_at = 'soon'`)
            const expiresAt = yield* Effect.flip(store.reload)
            expect(expiresAt.reason).toMatch(/keys.*expires_at/)
          }
          expect(store.keys()).toEqual([])
        }))
    }
  })
