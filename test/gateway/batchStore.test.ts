/**
 * The batches' files and records against their store's contract (`contract/batchStore.ts`) on each backend the gateway
 * has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`storeRedis.ts`' `layerRedis`, each test
 * under a prefix of its own on one redis-server the file shares).
 */
import * as Batches from "../../src/internal/gateway/batches/store.js"
import * as BatchesRedis from "../../src/internal/gateway/batches/storeRedis.js"
import { batchStoreContract } from "../contract/batchStore.js"
import { redisBackend } from "../utils/sharedStore.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_store", Batches.BatchStore, Batches)) {
  batchStoreContract(backend)
}

batchStoreContract(redisBackend("batches", Batches.BatchStore, BatchesRedis.layerRedis))
