/**
 * The batches' settlements against their store's contract (`contract/batchSettlements.ts`) on each backend the gateway
 * has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`settlementsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares), and the settling of a batch over each.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Settlements from "../../src/internal/gateway/batches/settlements.js"
import * as SettlementsRedis from "../../src/internal/gateway/batches/settlementsRedis.js"
import { batchSettlementsContract } from "../contract/batchSettlements.js"
import { redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"
import { serviceOf, storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_settlements", Settlements.SettlementStore, Settlements)) {
  batchSettlementsContract(backend)
}

const serverScope = Effect.runSync(Scope.make())
let redisUrl: string | undefined
beforeAll(() =>
  Effect.runPromise(Effect.provideService(redisServer, Scope.Scope, serverScope)).then((server) => {
    redisUrl = server.url
  }), 60_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

batchSettlementsContract({
  name: "Redis",
  store: Effect.suspend(() =>
    Effect.flatMap(
      Effect.orDie(connected(redisUrl!, { prefix: `settlements-${randomUUID()}` })),
      (store) => serviceOf(Settlements.SettlementStore, SettlementsRedis.layerRedis(store))
    )
  )
})
