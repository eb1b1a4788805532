/**
 * The batches' files and records against their store's contract (`contract/batchStore.ts`) on each backend the gateway
 * has: SQLite and Postgres (`layerSql`), and Redis (`storeRedis.ts`' `layerRedis`, each test
 * under a prefix of its own on one redis-server the file shares); a SQL row read back unlike its columns is a typed
 * failure.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Batches from "../../src/internal/gateway/batches/store.js"
import * as BatchesRedis from "../../src/internal/gateway/batches/storeRedis.js"
import { batchStoreContract } from "../contract/batchStore.js"
import { redisBackend } from "../utils/sharedStore.js"
import { sqliteDatabase, storeBackends, storeOn } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_store", Batches.BatchStore, Batches)) {
  batchStoreContract(backend)
}

batchStoreContract(redisBackend("batches", Batches.BatchStore, BatchesRedis.layerRedis))

describe("the batches' files in SQL", () => {
  it.effect("a row read back unlike its columns fails a read with StoreUnavailableError naming table and column", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase("batch-store-malformed")
      yield* database.sql`INSERT INTO batch_input_files (id, owner, filename, content, bytes, created_at)
        VALUES ('file-1', 'key-a', 'in.jsonl', '{}', 'big', 0)`
      const store = yield* storeOn(Batches.BatchStore, Batches.layerSql, database)
      const failure = yield* Effect.flip(store.file("file-1", "key-a", 0))
      expect(failure._tag).toBe("StoreUnavailableError")
      expect(failure.reason).toMatch(/a row of batch_input_files .*\["bytes"\]/s)
    }).pipe(Effect.scoped))
})
