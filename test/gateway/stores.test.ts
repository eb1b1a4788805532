/**
 * The gateway's stores (`stores.ts`), each on the backend its configuration names, over every configuration: no
 * database, a SQLite file or Postgres, each with and without a shared Redis store. Each store's backend is seen from
 * outside: built for three instances, two on one database with Redis stores under other prefixes (what they share is in
 * the database) and two on other databases with one Redis prefix (what they share is in Redis); shared by neither, it
 * is in each instance's memory. One store of each kind is looked at (the roles granted, for the records; the batches'
 * ids' secret and provider.json keys' budgets, for what any instance may be asked for; the keys' limiters, for what the
 * instances share call by call).
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Budget from "../../src/Budget.js"
import * as IdSecret from "../../src/internal/gateway/batches/idSecret.js"
import * as Grants from "../../src/internal/gateway/identity/grants.js"
import * as KeyLimits from "../../src/internal/gateway/keys/limits.js"
import * as Stores from "../../src/internal/gateway/stores.js"
import type * as Sql from "../../src/internal/persistence/sql.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import { type RedisServer, redisServer } from "../utils/redisServer.js"
import { connected } from "../utils/sharedStore.js"
import { postgresFor, postgresServerFor, sqliteDatabase } from "../utils/sqlDatabases.js"

postgresServerFor()
const serverScope = Effect.runSync(Scope.make())
let redis: RedisServer | undefined
beforeAll(() =>
  Effect.runPromise(Effect.provideService(redisServer, Scope.Scope, serverScope)).then((server) => {
    redis = server
  }), 60_000)
afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))

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

const probes = { grants, idSecret, keyBudgets, limiters }

interface Configuration {
  readonly database: "none" | "SQLite" | "Postgres"
  readonly redis: boolean
  /** Where each probed store is, by its probe. */
  readonly expected: { readonly [P in keyof typeof probes]: Backend }
}

const configurations: ReadonlyArray<Configuration> = [
  {
    database: "none",
    redis: false,
    expected: { grants: "Memory", idSecret: "Memory", keyBudgets: "Memory", limiters: "Memory" }
  },
  {
    database: "none",
    redis: true,
    expected: { grants: "Memory", idSecret: "Redis", keyBudgets: "Redis", limiters: "Redis" }
  },
  {
    database: "SQLite",
    redis: false,
    expected: { grants: "Sql", idSecret: "Sql", keyBudgets: "Sql", limiters: "Memory" }
  },
  {
    database: "SQLite",
    redis: true,
    expected: { grants: "Sql", idSecret: "Redis", keyBudgets: "Redis", limiters: "Redis" }
  },
  {
    database: "Postgres",
    redis: false,
    expected: { grants: "Sql", idSecret: "Sql", keyBudgets: "Sql", limiters: "Memory" }
  },
  {
    database: "Postgres",
    redis: true,
    expected: { grants: "Sql", idSecret: "Sql", keyBudgets: "Sql", limiters: "Redis" }
  }
]

function newDatabase(
  kind: Configuration["database"]
): Effect.Effect<Sql.Database["Service"] | undefined, never, Scope.Scope> {
  return kind === "none"
    ? Effect.succeed(undefined)
    : kind === "SQLite"
    ? sqliteDatabase("gateway-stores")
    : postgresFor("gateway_stores")
}

describe("the gateway's stores: each on the backend its configuration names", () => {
  for (const configuration of configurations) {
    const named = `database ${configuration.database}, ${configuration.redis ? "a" : "no"} shared Redis store`
    it.live(named, () =>
      Effect.gen(function*() {
        const prefix = randomUUID()
        const storeUnder = (under: string) =>
          configuration.redis ? Effect.orDie(connected(redis!.url, { prefix: under })) : Effect.succeed(undefined)
        const instance = (database: Sql.Database["Service"] | undefined, under: string) =>
          Effect.gen(function*() {
            const store = yield* storeUnder(under)
            const backends = { database, sqlite: configuration.database === "SQLite", store, responses: {} }
            return yield* Effect.orDie(Layer.build(Stores.layer(backends)))
          })
        const database = yield* newDatabase(configuration.database)
        const first = yield* instance(database, prefix)
        // On the same database, under another Redis prefix; on another database, under the same Redis prefix.
        const sameDatabase = yield* instance(database, randomUUID())
        const sameRedis = yield* instance(yield* newDatabase(configuration.database), prefix)
        const seen: Record<string, Backend> = {}
        for (const [name, probe] of Object.entries(probes)) {
          seen[name] = (yield* Effect.orDie(probe(first, sameDatabase)))
            ? "Sql"
            : (yield* Effect.orDie(probe(first, sameRedis)))
            ? "Redis"
            : "Memory"
        }
        expect(seen).toEqual(configuration.expected)
      }).pipe(Effect.scoped), 60_000)
  }
})
