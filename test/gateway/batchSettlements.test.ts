/**
 * The batches' settlements against their store's contract (`contract/batchSettlements.ts`) on each backend the gateway
 * has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`settlementsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares), and the settling of a batch over each.
 */
import * as Settlements from "../../src/internal/gateway/batches/settlements.js"
import * as SettlementsRedis from "../../src/internal/gateway/batches/settlementsRedis.js"
import { batchSettlementsContract } from "../contract/batchSettlements.js"
import { redisBackend } from "../utils/sharedStore.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_settlements", Settlements.SettlementStore, Settlements)) {
  batchSettlementsContract(backend)
}

batchSettlementsContract(redisBackend("settlements", Settlements.SettlementStore, SettlementsRedis.layerRedis))
