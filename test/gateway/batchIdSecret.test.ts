/**
 * The batch ids' secret against its store's contract (`contract/batchIdSecret.ts`) on each backend the gateway has:
 * SQLite and Postgres (`layerSql`, two instances on one database), and Redis (`layerRedis`, two connections under
 * one prefix on one redis-server the file shares); and the read the gateway keeps (`remembered`) trying the store
 * again after a failure.
 */
import { afterAll, beforeAll, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as IdSecret from "../../src/internal/gateway/batches/idSecret.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import { SharedStore } from "../../src/internal/store/sharedStore.js"
import { StoreUnavailableError } from "../../src/Store.js"
import { batchIdSecretContract } from "../contract/batchIdSecret.js"
import { type RedisServer, redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"
import { postgresFor, sqliteDatabase } from "../utils/sqlDatabases.js"

/** The store `layer` builds. */
const built = (layer: Layer.Layer<IdSecret.IdSecretStore>) =>
  Effect.map(Layer.build(layer), Context.get(IdSecret.IdSecretStore))

/** Two instances' stores on one new database. */
const onDatabase = (database: Effect.Effect<Sql.Database["Service"], never, Scope.Scope>) =>
  Effect.flatMap(
    database,
    (made) =>
      Effect.all([
        built(Layer.provide(IdSecret.layerSql, Layer.succeed(Sql.Database, made))),
        built(Layer.provide(IdSecret.layerSql, Layer.succeed(Sql.Database, made)))
      ])
  )

batchIdSecretContract({ name: "SQLite", instances: onDatabase(sqliteDatabase("batch-id-secret")) })
batchIdSecretContract({ name: "Postgres", instances: onDatabase(postgresFor("batch_id_secret")) })

const serverScope = Effect.runSync(Scope.make())
let redis: RedisServer | undefined
beforeAll(() =>
  Effect.runPromise(Effect.provideService(redisServer, Scope.Scope, serverScope)).then((server) => {
    redis = server
  }), 60_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

batchIdSecretContract({
  name: "Redis",
  instances: Effect.suspend(() => {
    const prefix = `batch-id-secret-${randomUUID()}`
    const instance = Effect.flatMap(
      Effect.orDie(connected(redis!.url, { prefix })),
      (store) => built(Layer.provide(IdSecret.layerRedis, Layer.succeed(SharedStore, store)))
    )
    return Effect.all([instance, instance])
  })
})

it.effect("the gateway's read of it is kept once it succeeds, and tried again while the store is away", () =>
  Effect.gen(function*() {
    let reads = 0
    let away = true
    const store: IdSecret.Secrets = {
      secret: Effect.suspend(() => {
        reads++
        return away
          ? Effect.fail(new StoreUnavailableError({ address: "test", reason: "the store is away" }))
          : Effect.succeed(Redacted.make(`secret-${reads}`))
      })
    }
    const secret = IdSecret.remembered(store)
    expect((yield* Effect.flip(secret))._tag).toBe("StoreUnavailableError")
    away = false
    expect(Redacted.value(yield* secret)).toBe("secret-2")
    expect(Redacted.value(yield* secret)).toBe("secret-2")
    expect(reads).toBe(2)
  }))

it.effect("SQL: a secret read back unlike its column fails with StoreUnavailableError naming table and column", () =>
  Effect.gen(function*() {
    const database = yield* sqliteDatabase("batch-id-secret-malformed")
    yield* database.sql`INSERT INTO batch_id_secret (id, secret) VALUES (1, '')`
    const secrets = yield* built(IdSecret.layerSql.pipe(Layer.provide(Layer.succeed(Sql.Database, database))))
    const failure = yield* Effect.flip(secrets.secret)
    expect(failure).toBeInstanceOf(StoreUnavailableError)
    expect(failure.reason).toMatch(/a row of batch_id_secret .*\["secret"\]/s)
  }).pipe(Effect.scoped))
