/**
 * The keys and teams made at run time against their store's contract (`contract/keyStore.ts`) on each backend: SQLite
 * and Postgres (`layerSql`); and the store required where it is read: the admin API of keys,
 * the admin check and the gateway's stores do not compile without it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as AdminKeys from "../../src/internal/gateway/admin/keys.js"
import * as AuditRefusals from "../../src/internal/gateway/audit/refusals.js"
import * as AuditLog from "../../src/internal/gateway/audit/store.js"
import * as IdSecret from "../../src/internal/gateway/batches/idSecret.js"
import * as BatchRuns from "../../src/internal/gateway/batches/runs.js"
import * as Settlements from "../../src/internal/gateway/batches/settlements.js"
import * as BatchStore from "../../src/internal/gateway/batches/store.js"
import { RouterStores } from "../../src/internal/gateway/engine.js"
import * as Grants from "../../src/internal/gateway/identity/grants.js"
import * as Sessions from "../../src/internal/gateway/identity/sessions.js"
import * as Ledger from "../../src/internal/gateway/keys/ledger.js"
import * as KeyLimits from "../../src/internal/gateway/keys/limits.js"
import * as SpendRecord from "../../src/internal/gateway/keys/spendRecord.js"
import * as KeyStore from "../../src/internal/gateway/keys/store.js"
import * as McpPins from "../../src/internal/gateway/mcp/pins.js"
import * as McpSessions from "../../src/internal/gateway/mcp/sessions.js"
import * as RequestLogStore from "../../src/internal/gateway/observe/requestLogStore.js"
import * as ResponsesStore from "../../src/internal/gateway/responses/store.js"
import type * as AdminChecks from "../../src/internal/gateway/serving/adminCheck.js"
import type * as Stores from "../../src/internal/gateway/stores.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Router from "../../src/Router.js"
import { keyStoreContract } from "../contract/keyStore.js"
import { inMemory, postgresFor, sqliteDatabase, storeBackends, unreadableRow } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("keys", KeyStore.KeyStore, KeyStore)) keyStoreContract(backend)

describe("the spend record", () => {
  for (const [name, database] of [["SQLite", sqliteDatabase("spend")], ["Postgres", postgresFor("spend")]] as const) {
    it.effect(`${name}: a total read back as no number fails with SpendRecordError naming the column`, () =>
      Effect.gen(function*() {
        const error = yield* unreadableRow({ database, store: (made) => Effect.orDie(SpendRecord.make(made)) }, {
          asText: ["recorded_spend", "spent"],
          write: ({ sql }) =>
            sql`INSERT INTO recorded_spend (counter, window_start, spent) VALUES ('key:a', 0, 'lots')`,
          read: (record) => record.total("key:a", 0)
        })
        expect(error._tag).toBe("SpendRecordError")
        expect(error.reason).toMatch(/a recorded total could not be read: .*\["spent"\]/)
      }).pipe(Effect.scoped))
  }
})

it("is required: the routes that read it, and the gateway's stores, left without it do not compile (the typecheck)", () => {
  // The services the admin API of keys and the admin check are built with, less the keys' store.
  type Without<T> = Exclude<Effect.Services<T>, KeyStore.KeyStore>
  type Routes = typeof AdminKeys.routes
  // @ts-expect-error: the admin API of keys reads the `KeyStore`.
  const routes: Effect.Effect<Effect.Success<Routes>, unknown, Without<Routes>> = undefined as unknown as Routes
  // @ts-expect-error: so does the admin check, to scope a team's admins.
  const check: Effect.Effect<unknown, unknown, Without<typeof AdminChecks.make>> =
    undefined as unknown as typeof AdminChecks.make
  // Every store of the gateway but the keys', in a database in memory.
  const others = Layer.mergeAll(
    inMemory(Grants.layerSql),
    inMemory(McpPins.layerSql),
    McpSessions.layerMemory,
    inMemory(Sessions.layerSql),
    inMemory(Settlements.layerSql),
    inMemory(BatchStore.layerSql),
    inMemory(BatchRuns.layerSql),
    inMemory(IdSecret.layerSql),
    inMemory(RequestLogStore.layerSql),
    inMemory(AuditLog.layerSql),
    inMemory(AuditRefusals.layerSql),
    ResponsesStore.layerStoreMemory(),
    Layer.succeed(RouterStores, Router.layerStoreMemory)
  ).pipe(
    Layer.provideMerge(KeyLimits.layerLedger),
    Layer.provideMerge(Layer.merge(inMemory(Ledger.layerSql), RateLimiter.layerStoreMemory))
  )
  // @ts-expect-error: the gateway's stores without the keys' are not its stores.
  const stores: Layer.Layer<Stores.Stores> = others
  const whole: Layer.Layer<Stores.Stores> = Layer.merge(others, Layer.orDie(inMemory(KeyStore.layerSql)))
  expect([routes, check, stores, whole].filter(Boolean)).toHaveLength(2)
})
