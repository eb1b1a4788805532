/**
 * The gateway's stores (`stores.ts`), each on the backend its configuration names, over every configuration: no
 * database, a SQLite file or Postgres, each with and without a shared Redis store. Each store's backend is seen from
 * outside: built for three instances, two on one database with Redis stores under other prefixes (what they share is in
 * the database) and two on other databases with one Redis prefix (what they share is in Redis); shared by neither, it
 * is in each instance's memory. One store of each kind is looked at (the roles granted, for the records; the batches'
 * ids' secret and provider.json keys' budgets, for what any instance may be asked for; the keys' limiters, for what the
 * instances share call by call).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Budget from "../../src/Budget.js"
import * as IdSecret from "../../src/internal/gateway/batches/idSecret.js"
import * as Grants from "../../src/internal/gateway/identity/grants.js"
import * as KeyLimits from "../../src/internal/gateway/keys/limits.js"
import * as Stores from "../../src/internal/gateway/stores.js"
import type * as Sql from "../../src/internal/persistence/sql.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { connected, redisServerFor } from "../utils/sharedStore.js"
import { postgresFor, postgresServerFor, sqliteDatabase } from "../utils/sqlDatabases.js"

postgresServerFor()
const redis = redisServerFor()

type Backend = Stores.Backend["_tag"]
type Instance = Context.Context<Stores.Stores>

/** Whether what `first` keeps, `second` reads: a probe of one store. */
type Probe = (first: Instance, second: Instance) => Effect.Effect<boolean, unknown, Scope.Scope>

const grants: Probe = (first, second) =>
  Effect.gen(function*() {
    const subject = randomUUID()
    yield* Context.get(first, Grants.GrantStore).add({ subject, role: "admin", createdAt: 0, createdBy: "test" })
    return (yield* Context.get(second, Grants.GrantStore).rolesOf(subject)).length > 0
  })

const idSecret: Probe = (first, second) =>
  Effect.gen(function*() {
    const one = yield* Context.get(first, IdSecret.IdSecretStore).secret
    const other = yield* Context.get(second, IdSecret.IdSecretStore).secret
    return Redacted.value(one) === Redacted.value(other)
  })

const keyBudgets: Probe = (first, second) =>
  Effect.gen(function*() {
    const options = { limits: [{ scope: Budget.overall, limit: 10, period: "1 day" as const }], key: randomUUID() }
    const budget = (instance: Instance) =>
      Effect.provideService(
        Budget.make(options),
        Budget.BudgetStore,
        Context.get(instance, KeyLimits.KeyLimitStores).budgets
      )
    const charged = yield* budget(first)
    yield* charged.charge(yield* charged.check({ estimate: 4 }), 4)
    const [status] = yield* (yield* budget(second)).status
    return status!.spent === 4
  })

const limiters: Probe = (first, second) =>
  Effect.gen(function*() {
    const options = { capacity: 1, refillRate: 0.001, key: randomUUID() }
    const limiter = (instance: Instance) =>
      Effect.provideContext(RateLimiter.make(options), Context.get(instance, KeyLimits.KeyLimitStores).limiters)
    yield* Effect.scoped((yield* limiter(first)).consume())
    return (yield* (yield* limiter(second)).status).available < 0.5
  })

const probes = [grants, idSecret, keyBudgets, limiters]

type Database = "none" | "SQLite" | "Postgres"

// A configuration (its database, whether it has a shared Redis store) and where each probe finds its store, in the
// order of `probes`.
const configurations: ReadonlyArray<readonly [Database, boolean, ReadonlyArray<Backend>]> = [
  ["none", false, ["Memory", "Memory", "Memory", "Memory"]],
  ["none", true, ["Memory", "Redis", "Redis", "Redis"]],
  ["SQLite", false, ["Sql", "Sql", "Sql", "Memory"]],
  ["SQLite", true, ["Sql", "Redis", "Redis", "Redis"]],
  ["Postgres", false, ["Sql", "Sql", "Sql", "Memory"]],
  ["Postgres", true, ["Sql", "Sql", "Sql", "Redis"]]
]

function newDatabase(kind: Database): Effect.Effect<Sql.Database["Service"] | undefined, never, Scope.Scope> {
  return kind === "none"
    ? Effect.succeed(undefined)
    : kind === "SQLite"
    ? sqliteDatabase("gateway-stores")
    : postgresFor("gateway_stores")
}

describe("the gateway's stores: each on the backend its configuration names", () => {
  for (const [kind, withRedis, expected] of configurations) {
    it.live(`database ${kind}, ${withRedis ? "a" : "no"} shared Redis store`, () =>
      Effect.gen(function*() {
        const url = (yield* redis).url
        const instance = (database: Sql.Database["Service"] | undefined, prefix: string) =>
          Effect.gen(function*() {
            const store = withRedis ? yield* Effect.orDie(connected(url, { prefix })) : undefined
            const backends = { database, sqlite: kind === "SQLite", store, responses: {} }
            return yield* Effect.orDie(Layer.build(Stores.layer(backends)))
          })
        const prefix = randomUUID()
        const database = yield* newDatabase(kind)
        const first = yield* instance(database, prefix)
        // On the same database, under another Redis prefix; on another database, under the same Redis prefix.
        const sameDatabase = yield* instance(database, randomUUID())
        const sameRedis = yield* instance(yield* newDatabase(kind), prefix)
        const seen: Array<Backend> = []
        for (const probe of probes) {
          seen.push(
            (yield* Effect.orDie(probe(first, sameDatabase)))
              ? "Sql"
              : (yield* Effect.orDie(probe(first, sameRedis)))
              ? "Redis"
              : "Memory"
          )
        }
        expect(seen).toEqual(expected)
      }).pipe(Effect.scoped), 60_000)
  }
})
