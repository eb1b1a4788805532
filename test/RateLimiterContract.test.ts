/**
 * Every backend of a `RateLimiter` against one contract (`contract/rateLimiter.ts`): in memory (one limiter, and two
 * on one key of one memory store), and in Redis (`layerStoreRedis`, two instances each with its own connection
 * through a proxy that can hold Redis' replies back, under the default `onUnavailable: "fail-closed"`; `Store.test.ts`
 * runs the deprecated `shared` option); and the stores under it (`BucketStore`, `SlotStore`) against one contract of
 * their steps, in memory, in Redis, and in SQL (the gateway's database, buckets only: `rateLimiter/sql.ts`) on a SQLite
 * file and on a real Postgres server, two clients on one database as two gateway instances.
 */
import { describe, expect, it } from "@effect/vitest"
import { type Gateway, RateLimiter, type Store } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/testing/TestClock"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { schemas } from "../src/internal/gateway/databaseSchema.js"
import * as Database from "../src/internal/persistence/database.js"
import { defaultTimeout } from "../src/internal/persistence/sql.js"
import * as Memory from "../src/internal/rateLimiter/memory.js"
import * as Sql from "../src/internal/rateLimiter/sql.js"
import { bucketStoreContract, type ContractOptions, rateLimiterContract } from "./contract/rateLimiter.js"
import { postgresServer } from "./utils/postgresServer.js"
import { redisServer } from "./utils/redisServer.js"
import { connected, proxiedOne, redisInstances } from "./utils/sharedStore.js"
import { sqliteDatabase } from "./utils/sqlDatabases.js"

rateLimiterContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.map(
        Effect.orDie(RateLimiter.make(options)).pipe(Effect.provide(RateLimiter.layerStoreMemory)),
        (limiter) => [limiter, limiter] as const
      ),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

rateLimiterContract({
  name: "memory, two limiters on one key of layerStoreMemory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) =>
      Effect.gen(function*() {
        const stores = yield* Layer.build(RateLimiter.layerStoreMemory)
        const key = randomUUID()
        const one = Effect.orDie(Effect.provide(RateLimiter.make({ ...options, key }), stores))
        return [yield* one, yield* one] as const
      }),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

rateLimiterContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: redisInstances((store, options: ContractOptions, key) =>
    Effect.orDie(RateLimiter.make({ ...options, key }).pipe(Effect.provide(RateLimiter.layerStoreRedis(store))))
  )
})

bucketStoreContract({
  name: "memory",
  clock: "test",
  connect: Effect.sync(() => ({
    // One store in memory: both instances are limiters of one process.
    instances: Effect.map(Layer.build(RateLimiter.layerStoreMemory), (stores) => [stores, stores] as const),
    elapse: TestClock.adjust,
    faulty: undefined
  }))
})

bucketStoreContract({
  name: "Redis",
  clock: "live",
  connect: Effect.gen(function*() {
    const redis = yield* redisServer
    const storesOn = (store: Store.Store) => Layer.build(RateLimiter.layerStoreRedis(store))
    return {
      instances: Effect.all([
        Effect.flatMap(Effect.orDie(connected(redis.url)), storesOn),
        Effect.flatMap(Effect.orDie(connected(redis.url)), storesOn)
      ]),
      elapse: Effect.sleep,
      faulty: (options) =>
        Effect.gen(function*() {
          const { faults, store } = yield* proxiedOne(redis, options)
          return { stores: yield* storesOn(store), faults }
        })
    }
  })
})

/**
 * An instance's stores on its own client of `database`, as a gateway instance has: its buckets in the database. The
 * SQL backend keeps no slots (`slots: false`): the slot store beside it is memory's, which its contract never reaches.
 */
const sqlStoresOn = (database: Gateway.Database) =>
  Effect.map(
    Effect.orDie(Database.connect(database, schemas)),
    (sql) =>
      Context.make(
        RateLimiter.BucketStore,
        Sql.bucketStore({ sql, bounds: { address: "the contract's database", timeout: defaultTimeout } })
      ).pipe(Context.add(RateLimiter.SlotStore, Memory.slotStore()))
  )

bucketStoreContract({
  name: "SQLite",
  clock: "test",
  slots: false,
  connect: Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "limiter-contract-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    const database = { sqlite: join(dir, "gateway.db") }
    return {
      instances: Effect.all([sqlStoresOn(database), sqlStoresOn(database)]),
      elapse: TestClock.adjust,
      faulty: undefined
    }
  })
})

bucketStoreContract({
  name: "Postgres",
  clock: "test",
  slots: false,
  connect: Effect.gen(function*() {
    const postgres = yield* postgresServer
    const database = { postgres: Redacted.make(yield* postgres.database(`limiter_${randomUUID().slice(0, 8)}`)) }
    return {
      instances: Effect.all([sqlStoresOn(database), sqlStoresOn(database)]),
      elapse: TestClock.adjust,
      faulty: undefined
    }
  })
})

describe("SQL buckets", () => {
  it.effect("a bucket's row whose level is not a number fails its step, naming the table and the column", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase("limiter-malformed")
      yield* database.sql`INSERT INTO rate_buckets (bucket_key, level, read_at, full_at)
        VALUES ('k', 'lots', 0, ${Number.MAX_SAFE_INTEGER})`
      const bucket = yield* Sql.bucketStore(database).bucket({ key: "k", capacity: 10, refillRate: 1 })
      const failure = yield* Effect.flip(bucket.peek)
      expect(failure._tag).toBe("StoreUnavailableError")
      expect(failure.reason).toMatch(/a row of rate_buckets .*\["level"\]/s)
    }).pipe(Effect.scoped))
})
