/**
 * The batches' files and records against their store's contract (`contract/batchStore.ts`) on each backend the gateway
 * has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`storeRedis.ts`' `layerRedis`, each test
 * under a prefix of its own on one redis-server the file shares).
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Batches from "../../src/internal/gateway/batches/store.js"
import * as BatchesRedis from "../../src/internal/gateway/batches/storeRedis.js"
import { batchStoreContract } from "../contract/batchStore.js"
import { redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"
import { serviceOf, storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_store", Batches.BatchStore, Batches)) {
  batchStoreContract(backend)
}

const serverScope = Effect.runSync(Scope.make())
let redisUrl: string | undefined
beforeAll(() =>
  Effect.runPromise(Effect.provideService(redisServer, Scope.Scope, serverScope)).then((server) => {
    redisUrl = server.url
  }), 60_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

batchStoreContract({
  name: "Redis",
  store: Effect.suspend(() =>
    Effect.flatMap(
      Effect.orDie(connected(redisUrl!, { prefix: `batches-${randomUUID()}` })),
      (store) => serviceOf(Batches.BatchStore, BatchesRedis.layerRedis(store))
    )
  )
})
