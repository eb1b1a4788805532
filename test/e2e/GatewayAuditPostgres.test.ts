/**
 * The admin audit log of two gateway instances on one real PostgreSQL server: admin actions sent to both at once form
 * one chain (every `seq` once, in order, the chain verified by reading the database itself), and both instances read
 * the same log; refusals sent to both are no rows of their own, and are summarised once, by both together.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Refusals from "../../src/internal/gateway/audit/refusals.js"
import * as AuditStore from "../../src/internal/gateway/audit/store.js"
import * as Database from "../../src/internal/persistence/database.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { call, gatewayOn, providerKey } from "../utils/adminApi.js"
import { postgresServer } from "../utils/postgresServer.js"

describe("the admin audit log on a shared Postgres", () => {
  it.live(
    "two instances appending at once form one valid chain, which both read",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const database = { postgres: Redacted.make(yield* server.database("audit")) }
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const one = yield* gatewayOn(simulator, database)
        const other = yield* gatewayOn(simulator, database)
        const teams = Array.from({ length: 40 }, (_, index) => `team-${index}`)
        const answers = yield* Effect.forEach(
          teams,
          (name, index) => call(index % 2 === 0 ? one.url : other.url, "POST", "/admin/teams", { name }),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(answers.map((answer) => answer.status), teams.map(() => 201))

        const read = (url: string) =>
          Effect.map(call(url, "GET", "/admin/audit?limit=500"), (answer) => {
            assert.strictEqual(answer.status, 200)
            return (answer.body as unknown as {
              readonly data: ReadonlyArray<{ readonly seq: number; readonly after: { readonly name: string } }>
            }).data
          })
        const fromOne = yield* read(one.url)
        assert.deepStrictEqual(fromOne.map((row) => row.seq), teams.map((_, index) => teams.length - index))
        assert.deepStrictEqual(yield* read(other.url), fromOne)
        const named = new Set(fromOne.map((row) => row.after.name))
        assert.deepStrictEqual([...named].sort(), [...teams].sort())

        const verified = yield* Effect.scoped(Effect.flatMap(Database.open(database), (sql) =>
          Effect.provide(
            AuditStore.AuditLogStore.use((log) => log.verify()),
            Layer.provide(
              AuditStore.layerSql,
              Layer.succeed(Sql.Database, { sql, bounds: { address: "audit", timeout: Duration.infinity } })
            )
          )))
        assert.deepStrictEqual([verified.broken, verified.rows, verified.head.seq], [undefined, 40, 40])
      }),
    120_000
  )

  it.live(
    "refusals sent to two instances: no row of their own, and one summary of them all",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const database = { postgres: Redacted.make(yield* server.database("refusals")) }
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const one = yield* gatewayOn(simulator, database)
        const other = yield* gatewayOn(simulator, database)
        const sent = 50
        const answers = yield* Effect.forEach(
          Array.from({ length: sent }, (_, index) => index),
          (index) => call(index % 2 === 0 ? one.url : other.url, "GET", "/admin/spend", undefined, "gw-not-a-key"),
          { concurrency: 8 }
        )
        assert.isTrue(answers.every((answer) => Refusals.isRefusal(answer.status)))
        // The summary comes a window after the first refusal.
        yield* Effect.sleep("62 seconds")
        const answer = yield* call(one.url, "GET", "/admin/audit?limit=500")
        assert.strictEqual(answer.status, 200)
        const rows = (answer.body as unknown as {
          readonly data: ReadonlyArray<{
            readonly action: string
            readonly outcome: string
            readonly from: string | null
            readonly after: { readonly refusals?: number } | null
          }>
        }).data
        assert.deepStrictEqual(
          rows.map((row) => [row.action, row.from, row.after?.refusals]),
          [[Refusals.summaryAction, null, sent]]
        )
      }),
    180_000
  )
})
