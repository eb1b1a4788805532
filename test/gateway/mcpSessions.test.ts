/**
 * The MCP session store's contract, on each backend the gateway uses alone (memory; SQLite, the database of one
 * machine; Postgres is the e2e's, `GatewayMcpSessions`): a session saved is read back whole, an unknown id reads as
 * none, and a save forgets the sessions started before the time it is given, and only those.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import { sqliteDatabase } from "../utils/sqlDatabases.js"

const sqliteStore = Effect.map(sqliteDatabase("mcp-sessions-unit"), Sessions.sqlStore)

const session = (id: string, startedAt: number, caller: string | null): Sessions.Session => ({
  id,
  path: "/mcp",
  caller,
  initialize: JSON.stringify({ protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: id } }),
  startedAt
})

describe("MCP sessions' store", () => {
  for (const [label, makeStore] of [["memory", Effect.sync(Sessions.memoryStore)], ["SQLite", sqliteStore]] as const) {
    it.live(`${label}: saved sessions read back; a save forgets those started before its cut-off`, () =>
      Effect.gen(function*() {
        const store = yield* makeStore
        yield* store.save(session("a", 1_000, "config:agent"), 0)
        yield* store.save(session("b", 2_000, null), 0)
        expect(yield* store.read("a")).toEqual(session("a", 1_000, "config:agent"))
        expect(yield* store.read("b")).toEqual(session("b", 2_000, null))
        expect(yield* store.read("c")).toBeUndefined()
        // Saved with a cut-off of 1500: `a` (1000) is forgotten, `b` (2000) and `c` kept.
        yield* store.save(session("c", 3_000, "key_1"), 1_500)
        expect(yield* store.read("a")).toBeUndefined()
        expect(yield* store.read("b")).toEqual(session("b", 2_000, null))
        expect(yield* store.read("c")).toEqual(session("c", 3_000, "key_1"))
      }).pipe(Effect.scoped))
  }
})
