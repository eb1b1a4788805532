/**
 * The batches the gateway runs as calls against their store's contract (`contract/batchRuns.ts`) on each backend the
 * gateway has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`runsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares).
 */
import * as Runs from "../../src/internal/gateway/batches/runs.js"
import * as RunsRedis from "../../src/internal/gateway/batches/runsRedis.js"
import { batchRunsContract } from "../contract/batchRuns.js"
import { redisBackend } from "../utils/sharedStore.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_runs", Runs.RunStore, Runs)) batchRunsContract(backend)

batchRunsContract(redisBackend("runs", Runs.RunStore, RunsRedis.layerRedis))
