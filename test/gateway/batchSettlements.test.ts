/**
 * The batches' settlements against their store's contract (`contract/batchSettlements.ts`) on each backend the gateway
 * has: SQLite and Postgres (`layerSql`), and Redis (`settlementsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares), and the settling of a batch over each; a SQL
 * row read back unlike its columns is a typed failure.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Settlements from "../../src/internal/gateway/batches/settlements.js"
import * as SettlementsRedis from "../../src/internal/gateway/batches/settlementsRedis.js"
import { batchSettlementsContract } from "../contract/batchSettlements.js"
import { redisBackend } from "../utils/sharedStore.js"
import { sqliteDatabase, storeBackends, storeOn } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_settlements", Settlements.SettlementStore, Settlements)) {
  batchSettlementsContract(backend)
}

batchSettlementsContract(redisBackend("settlements", Settlements.SettlementStore, SettlementsRedis.layerRedis))

describe("the batches' settlements in SQL", () => {
  it.effect("a row read back unlike its columns fails a read with StoreUnavailableError naming table and column", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase("settlements-malformed")
      yield* database.sql`INSERT INTO batch_settlements (id, opened_at, hold_id, hold_estimate, hold_at, hold_until)
        VALUES ('batch_1', 0, 'hold_1', 'lots', 0, 1)`
      const settlements = yield* storeOn(Settlements.SettlementStore, Settlements.layerSql, database)
      const failure = yield* Effect.flip(settlements.settled("batch_1"))
      expect(failure._tag).toBe("StoreUnavailableError")
      expect(failure.reason).toMatch(/a row of batch_settlements .*\["hold_estimate"\]/s)
    }).pipe(Effect.scoped))
})
