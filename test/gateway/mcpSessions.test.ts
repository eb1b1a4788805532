/**
 * The MCP session store's contract, on each backend the gateway has (memory; SQLite, the database of one machine;
 * Postgres, of several instances): a session saved is read back whole, an unknown id reads as
 * none, and a save forgets the sessions started before the time it is given, and only those; a session's
 * subscriptions are recorded with it (each once), and go when it ends or is forgotten. On a database a session is read
 * with its subscriptions in one query: a request naming a session waits on one round trip.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import { postgresFor, sqliteDatabase } from "../utils/sqlDatabases.js"

const sqliteDatabaseMade = sqliteDatabase("mcp-sessions-unit")
const postgresDatabaseMade = postgresFor("mcp_sessions")
const sqliteStore = Effect.map(sqliteDatabaseMade, Sessions.sqlStore)
const postgresStore = Effect.map(postgresDatabaseMade, Sessions.sqlStore)

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

describe("MCP sessions' store", () => {
  const stores = [
    ["memory", Effect.sync(Sessions.memoryStore)],
    ["SQLite", sqliteStore],
    ["Postgres", postgresStore]
  ] as const
  for (const [label, makeStore] of stores) {
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
  }

  for (const [label, makeDatabase] of [["SQLite", sqliteDatabaseMade], ["Postgres", postgresDatabaseMade]] as const) {
    it.live(`${label}: a session is read with its subscriptions in one query`, () =>
      Effect.gen(function*() {
        const database = yield* makeDatabase
        let queries = 0
        const counted = new Proxy(database.sql, {
          apply: (target, self, args) => {
            queries++
            return Reflect.apply(target, self, args)
          }
        }) as SqlClient.SqlClient
        const store = Sessions.sqlStore({ ...database, sql: counted })
        yield* store.save(session("a", 1_000, null), 0, roomy)
        yield* store.subscribe("a", "file:///b.md", true)
        yield* store.subscribe("a", "file:///a.md", true)
        queries = 0
        expect(yield* store.read("a")).toEqual(recorded("a", 1_000, null, ["file:///a.md", "file:///b.md"]))
        expect(queries).toBe(1)
      }).pipe(Effect.scoped))
  }
})
