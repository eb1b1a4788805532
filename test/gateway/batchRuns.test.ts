/**
 * The batches the gateway runs as calls against their store's contract (`contract/batchRuns.ts`) on each backend the
 * gateway has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`runsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares).
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Runs from "../../src/internal/gateway/batches/runs.js"
import * as RunsRedis from "../../src/internal/gateway/batches/runsRedis.js"
import { batchRunsContract } from "../contract/batchRuns.js"
import { redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"
import { serviceOf, storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_runs", Runs.RunStore, Runs)) batchRunsContract(backend)

const serverScope = Effect.runSync(Scope.make())
let redisUrl: string | undefined
beforeAll(() =>
  Effect.runPromise(Effect.provideService(redisServer, Scope.Scope, serverScope)).then((server) => {
    redisUrl = server.url
  }), 60_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

batchRunsContract({
  name: "Redis",
  store: Effect.suspend(() =>
    Effect.flatMap(
      Effect.orDie(connected(redisUrl!, { prefix: `runs-${randomUUID()}` })),
      (store) => serviceOf(Runs.RunStore, RunsRedis.layerRedis(store))
    )
  )
})
