/**
 * The batches' files and records against their store's contract (`contract/batchStore.ts`) on each backend the gateway
 * has: memory (`layerMemory`), SQLite and Postgres (`layerSql`).
 */
import * as Batches from "../../src/internal/gateway/batches/store.js"
import { batchStoreContract } from "../contract/batchStore.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_store", Batches.BatchStore, Batches)) {
  batchStoreContract(backend)
}
