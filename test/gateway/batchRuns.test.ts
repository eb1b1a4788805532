/**
 * The batches the gateway runs as calls against their store's contract (`contract/batchRuns.ts`) on each backend the
 * gateway has: memory (`layerMemory`), SQLite and Postgres (`layerSql`).
 */
import * as Runs from "../../src/internal/gateway/batches/runs.js"
import { batchRunsContract } from "../contract/batchRuns.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_runs", Runs.RunStore, Runs)) batchRunsContract(backend)
