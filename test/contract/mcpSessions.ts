/**
 * The contract every backend of the MCP sessions' store (`mcp/sessions.ts`' `SessionStore`) keeps, run against each
 * (`test/gateway/mcpSessions.test.ts`: memory; SQLite, the database of one machine; Postgres, of several instances): a
 * session saved is read back whole, an unknown id reads as none, and a save forgets the sessions started before the
 * time it is given, and only those; a session's subscriptions are recorded with it (each once), and go when it ends or
 * is forgotten; its bounds, by count and bytes, per key and in all, let the idlest go or refuse the new one. On a
 * database a session is read with its subscriptions in one query: a request naming a session waits on one round trip.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import { type StoreBackend, unreadableRow } from "../utils/sqlDatabases.js"

const session = (id: string, startedAt: number, caller: string | null): Sessions.Session => ({
  id,
  path: "/mcp",
  caller,
  initialize: JSON.stringify({ protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: id } }),
  startedAt
})

const recorded = (
  id: string,
  startedAt: number,
  caller: string | null,
  subscribed: ReadonlyArray<string> = []
): Sessions.Recorded => ({ ...session(id, startedAt, caller), usedAt: startedAt, subscribed })

// Bounds no test of the store's other steps reaches.
const roomy: Sessions.Bounds = { maxSessions: 1_000, maxKeySessions: 1_000, maxBytes: 1e9, maxKeyBytes: 1e9 }

export const mcpSessionsContract = (backend: StoreBackend<Sessions.Store, "memory" | "SQLite" | "Postgres">) =>
  describe(`MCP sessions' store contract: ${backend.name}`, () => {
    const makeStore = backend.store
    const label = backend.name
    it.live(`${label}: saved sessions read back; a save forgets those started before its cut-off`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.save(session("a", 1_000, "config:agent"), 0, roomy)
        yield* store.save(session("b", 2_000, null), 0, roomy)
        expect(yield* store.read("a")).toEqual(recorded("a", 1_000, "config:agent"))
        expect(yield* store.read("b")).toEqual(recorded("b", 2_000, null))
        expect(yield* store.read("c")).toBeUndefined()
        // Saved with a cut-off of 1500: `a` (1000) is forgotten, `b` (2000) and `c` kept.
        yield* store.save(session("c", 3_000, "key_1"), 1_500, roomy)
        expect(yield* store.read("a")).toBeUndefined()
        expect(yield* store.read("b")).toEqual(recorded("b", 2_000, null))
        expect(yield* store.read("c")).toEqual(recorded("c", 3_000, "key_1"))
      }).pipe(Effect.scoped))

    it.live(`${label}: a session's subscriptions are recorded with it, and go when it ends or is forgotten`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.save(session("a", 1_000, null), 0, roomy)
        yield* store.save(session("b", 2_000, null), 0, roomy)
        yield* store.subscribe("a", "mcp://docs/file:///b.md", true)
        yield* store.subscribe("a", "mcp://docs/file:///a.md", true)
        // Twice is once.
        yield* store.subscribe("a", "mcp://docs/file:///a.md", true)
        yield* store.subscribe("b", "file:///a.md", true)
        expect(yield* store.read("a")).toEqual(
          recorded("a", 1_000, null, ["mcp://docs/file:///a.md", "mcp://docs/file:///b.md"])
        )
        yield* store.subscribe("a", "mcp://docs/file:///b.md", false)
        // Unsubscribing from what it does not subscribe to changes nothing.
        yield* store.subscribe("a", "mcp://docs/file:///c.md", false)
        expect((yield* store.read("a"))?.subscribed).toEqual(["mcp://docs/file:///a.md"])
        // A session not recorded records nothing.
        yield* store.subscribe("ghost", "file:///a.md", true)
        expect(yield* store.read("ghost")).toBeUndefined()

        // Ended: gone, with its subscriptions; another session's are kept.
        yield* store.end("a")
        expect(yield* store.read("a")).toBeUndefined()
        expect(yield* store.read("b")).toEqual(recorded("b", 2_000, null, ["file:///a.md"]))
        // Forgotten past the cut-off, with its subscriptions: the same id saved again subscribes to nothing.
        yield* store.save(session("c", 3_000, null), 2_500, roomy)
        expect(yield* store.read("b")).toBeUndefined()
        yield* store.save(session("b", 4_000, null), 0, roomy)
        expect(yield* store.read("b")).toEqual(recorded("b", 4_000, null))
        // Which of a list of ids are recorded, however many.
        const many = Array.from({ length: 1_200 }, (_, n) => `ghost-${n}`)
        expect(yield* store.known(["a", "b", "c", ...many, "b"])).toEqual(new Set(["b", "c"]))
        expect(yield* store.known([])).toEqual(new Set())
      }).pipe(Effect.scoped))

    // The bounds: the times are the store's (a save's is its session's start), so no clock is read.
    const minute = 60_000
    it.live(`${label}: past a key's count, its idlest session makes room; none idle, the new one is refused`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const bounds = { ...roomy, maxKeySessions: 3 }
        for (const [id, at] of [["a1", 0], ["a2", 1_000], ["a3", 2_000]] as const) {
          expect(yield* store.save(session(id, at, "key_a"), 0, bounds)).toEqual({ _tag: "Kept", letGo: [] })
        }
        yield* store.save(session("b1", 0, "key_b"), 0, bounds)
        // Used since: a1 is not idle at 100 s; a2 (used at 1 s) is the idlest of key_a's.
        yield* store.touch("a1", 70_000)
        expect(yield* store.save(session("a4", 100_000, "key_a"), 0, bounds)).toEqual({ _tag: "Kept", letGo: ["a2"] })
        expect(yield* store.read("a2")).toBeUndefined()
        expect((yield* store.read("a1"))?.usedAt).toBe(70_000)
        // A gateway without keys has one owner: its sessions are bounded in all only.
        for (const [id, at] of [["n1", 0], ["n2", 1], ["n3", 2], ["n4", 3]] as const) {
          expect(yield* store.save(session(id, at, null), 0, bounds)).toEqual({ _tag: "Kept", letGo: [] })
        }
        // Another key's idle session is not a key's room.
        expect(yield* store.read("b1")).toEqual(recorded("b1", 0, "key_b"))
        // Every one of key_a's used within the minute: refused, recorded nowhere, nothing let go of.
        for (const id of ["a1", "a3", "a4"]) yield* store.touch(id, 100_000 + minute / 2)
        expect(yield* store.save(session("a5", 100_000 + minute, "key_a"), 0, bounds)).toEqual({
          _tag: "Refused",
          full: "key"
        })
        expect(yield* store.read("a5")).toBeUndefined()
        for (const id of ["a1", "a3", "a4", "b1"]) expect((yield* store.read(id))?.id).toBe(id)
      }).pipe(Effect.scoped))

    it.live(`${label}: past all sessions' count, each key past its share, the idlest of all makes room; none idle, refused`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const bounds = { ...roomy, maxSessions: 3 }
        yield* store.save(session("a", 0, "key_a"), 0, bounds)
        yield* store.save(session("b", 1_000, "key_b"), 0, bounds)
        yield* store.save(session("c", 2_000, null), 0, bounds)
        yield* store.touch("a", 50_000)
        expect(yield* store.save(session("d", 70_000, "key_d"), 0, bounds)).toEqual({ _tag: "Kept", letGo: ["b"] })
        expect(yield* store.save(session("e", 70_001, "key_d"), 0, bounds)).toEqual({ _tag: "Kept", letGo: ["c"] })
        expect(yield* store.save(session("f", 70_002, "key_f"), 0, bounds)).toEqual({ _tag: "Refused", full: "all" })
        expect((yield* Effect.forEach(["a", "b", "c", "d", "e", "f"], store.read)).map((one) => one?.id)).toEqual([
          "a",
          undefined,
          undefined,
          "d",
          "e",
          undefined
        ])
      }).pipe(Effect.scoped))

    it.live(
      `${label}: past all sessions' count, a key's own idle session makes room first, then one of a key past its ` +
        "share (the bound split evenly among the keys holding sessions), anyone's last",
      () =>
        Effect.gen(function*() {
          const store = yield* makeStore
          const bounds = { ...roomy, maxSessions: 6 }
          const started: ReadonlyArray<readonly [string, number, string]> = [
            ["b1", 0, "key_b"],
            ["c1", 500, "key_c"],
            ["a1", 1_000, "key_a"],
            ["a2", 2_000, "key_a"],
            ["a3", 3_000, "key_a"],
            ["d1", 4_000, "key_d"]
          ]
          for (const [id, at, caller] of started) yield* store.save(session(id, at, caller), 0, bounds)
          // Every one idle, b1 the idlest of all: key_a's new session takes the place of key_a's own idlest.
          expect(yield* store.save(session("a4", 100_000, "key_a"), 0, bounds)).toEqual({ _tag: "Kept", letGo: ["a1"] })
          // A key with none of its own: five keys share six, one each; key_a holds three, past its share.
          expect(yield* store.save(session("e1", 100_001, "key_e"), 0, bounds)).toEqual({ _tag: "Kept", letGo: ["a2"] })
          // Every session of the key past its share in use: the idlest of anyone's, the last resort.
          yield* store.touch("a3", 100_000)
          expect(yield* store.save(session("f1", 100_002, "key_f"), 0, bounds)).toEqual({ _tag: "Kept", letGo: ["b1"] })
          for (const id of ["c1", "d1"]) yield* store.touch(id, 100_000)
          expect(yield* store.save(session("g1", 100_003, "key_g"), 0, bounds)).toEqual({
            _tag: "Refused",
            full: "all"
          })
          const ids = ["a1", "a2", "a3", "a4", "b1", "c1", "d1", "e1", "f1", "g1"]
          expect((yield* Effect.forEach(ids, store.read)).flatMap((one) => one === undefined ? [] : [one.id])).toEqual([
            "a3",
            "a4",
            "c1",
            "d1",
            "e1",
            "f1"
          ])
        }).pipe(Effect.scoped)
    )

    it.live(`${label}: bytes bound a key's sessions and all; a record past a key's bytes is refused alone`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const small = (id: string, at: number) => session(id, at, "key_a")
        const size = Sessions.sizeOf(small("s1", 0))
        const bounds = { ...roomy, maxKeyBytes: size * 3, maxBytes: size * 4 }
        for (const [id, at] of [["s1", 0], ["s2", 1], ["s3", 2]] as const) yield* store.save(small(id, at), 0, bounds)
        // One twice as large as each: two of the key's idle ones make room.
        const large = {
          ...small("l1", minute * 2),
          initialize: JSON.stringify({ protocolVersion: "2025-11-25", pad: "x".repeat(size + 10) })
        }
        expect(yield* store.save(large, 0, bounds)).toEqual({ _tag: "Kept", letGo: ["s1", "s2"] })
        // Larger than a key's bytes, alone: refused, nothing let go of.
        const huge = {
          ...small("h1", minute * 3),
          initialize: JSON.stringify({ pad: "x".repeat(size * 3) })
        }
        expect(yield* store.save(huge, 0, bounds)).toEqual({ _tag: "Refused", full: "large" })
        expect((yield* store.read("s3"))?.id).toBe("s3")
        expect((yield* store.read("l1"))?.id).toBe("l1")
        // All keys' bytes: another key's session past them lets the idlest of all go.
        yield* store.save(session("o1", minute * 3, "key_o"), 0, bounds)
        expect(yield* store.save(session("o2", minute * 4, "key_o"), 0, bounds)).toEqual({
          _tag: "Kept",
          letGo: ["s3"]
        })
      }).pipe(Effect.scoped))

    it.live(`${label}: a save refused past all sessions' bytes undoes the room its key's bound made`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        const size = Sessions.sizeOf(session("a1", 0, "key_a"))
        const large = {
          ...session("a2", 100_001, "key_a"),
          initialize: JSON.stringify({ protocolVersion: "2025-11-25", pad: "x".repeat(size) })
        }
        // a1 and a2 are past the key's bytes; b1, b2 and a2 past all.
        const bounds = {
          ...roomy,
          maxKeyBytes: Sessions.sizeOf(large) + size - 1,
          maxBytes: 2 * size + Sessions.sizeOf(large) - 1
        }
        yield* store.save(session("a1", 0, "key_a"), 0, bounds)
        yield* store.save(session("b1", 100_000, "key_b"), 0, bounds)
        yield* store.save(session("b2", 100_000, "key_b"), 0, bounds)
        expect(yield* store.save(large, 0, bounds)).toEqual({ _tag: "Refused", full: "all" })
        // a1, let go of for the key's bound, is kept: the refusal undid it.
        expect((yield* store.read("a1"))?.id).toBe("a1")
        expect(yield* store.read("a2")).toBeUndefined()
      }).pipe(Effect.scoped))

    const sql = backend.sql
    if (sql !== undefined) {
      it.live(`${label}: a session is read with its subscriptions in one query`, () =>
        Effect.gen(function*() {
          const database = yield* sql.database
          let queries = 0
          const counted = new Proxy(database.sql, {
            apply: (target, self, args) => {
              queries++
              return Reflect.apply(target, self, args)
            }
          }) as SqlClient.SqlClient
          const store = yield* sql.store({ ...database, sql: counted })
          yield* store.save(session("a", 1_000, null), 0, roomy)
          yield* store.subscribe("a", "file:///b.md", true)
          yield* store.subscribe("a", "file:///a.md", true)
          queries = 0
          expect(yield* store.read("a")).toEqual(recorded("a", 1_000, null, ["file:///a.md", "file:///b.md"]))
          expect(queries).toBe(1)
        }).pipe(Effect.scoped))

      it.live(`${label}: a session whose use is no number fails its read, naming the column`, () =>
        Effect.gen(function*() {
          const error = yield* unreadableRow(sql, {
            asText: ["mcp_sessions", "used_at"],
            write: (database, store) =>
              Effect.andThen(
                store.save(session("a", 1_000, null), 0, roomy),
                database.sql`UPDATE mcp_sessions SET used_at = 'lately' WHERE id = 'a'`
              ),
            read: (store) => store.read("a")
          })
          expect(error._tag).toBe("StoreUnavailableError")
          expect(error.reason).toMatch(/^reading an MCP session: .*\["used_at"\]/)
        }).pipe(Effect.scoped))
    }
  })
