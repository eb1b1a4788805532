/**
 * The batches' settlements against their store's contract (`contract/batchSettlements.ts`) on each backend the gateway
 * has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and the settling of a batch over each.
 */
import * as Settlements from "../../src/internal/gateway/batches/settlements.js"
import { batchSettlementsContract } from "../contract/batchSettlements.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_settlements", Settlements.SettlementStore, Settlements)) {
  batchSettlementsContract(backend)
}
