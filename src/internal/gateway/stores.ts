/**
 * The gateway's stores, each on the backend its configuration names, chosen here once for them all (`placement`):
 *
 * - its records (the keys and teams made at run time, the spend ledger, the MCP tools' pins and sessions, the
 *   dashboard's sessions, the roles granted, the request log, the audit log and its count of refusals) in its
 *   database, else in a SQLite database in this process's memory (no file), for its life;
 * - what any instance may be asked for (the batches' settlements, files, records, runs and ids' secret, and
 *   provider.json keys' budgets) in a database every instance shares (Postgres), else in the shared store's Redis,
 *   else in its database (a SQLite file of its own), else with the records in memory;
 * - what the instances share call by call (the keys' limiters, the kept responses, the routers' breakers and pins) in
 *   the shared store's Redis, else in memory.
 *
 * All are built for the gateway's life, and so kept across reloads, but the routers' stores: each configuration
 * builds its own (`engine.ts`' `RouterStores`), so in memory a reload starts its routers afresh.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../Budget.js"
import { DatabaseError } from "../../Gateway.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as Router from "../../Router.js"
import type * as Store from "../../Store.js"
import * as Database from "../persistence/database.js"
import * as Sql from "../persistence/sql.js"
import { SharedStore } from "../store/sharedStore.js"
import * as AuditRefusals from "./audit/refusals.js"
import * as AuditLog from "./audit/store.js"
import * as IdSecret from "./batches/idSecret.js"
import * as BatchRuns from "./batches/runs.js"
import * as BatchRunsRedis from "./batches/runsRedis.js"
import * as Settlements from "./batches/settlements.js"
import * as SettlementsRedis from "./batches/settlementsRedis.js"
import * as BatchStore from "./batches/store.js"
import * as BatchStoreRedis from "./batches/storeRedis.js"
import { schemas } from "./databaseSchema.js"
import { RouterStores } from "./engine.js"
import * as Grants from "./identity/grants.js"
import * as Sessions from "./identity/sessions.js"
import * as Ledger from "./keys/ledger.js"
import * as KeyLimits from "./keys/limits.js"
import * as SpendRecord from "./keys/spendRecord.js"
import * as KeyStore from "./keys/store.js"
import * as McpPins from "./mcp/pins.js"
import * as McpSessions from "./mcp/sessions.js"
import * as RequestLogStore from "./observe/requestLogStore.js"
import * as ResponsesStore from "./responses/store.js"
import * as ResponsesStoreRedis from "./responses/storeRedis.js"

/** What the gateway was configured to keep its state in, opened. */
export interface Backends {
  /** Its database, if any. */
  readonly database: Sql.Database["Service"] | undefined
  /** Whether the database is a SQLite file, each instance's own. */
  readonly sqlite: boolean
  /** The Redis store its instances share, if any. */
  readonly store: Store.Store | undefined
  /** How long and how much of the responses are kept (`Gateway.Keys`' bounds); the defaults when unset. */
  readonly responses: ResponsesStore.StoreOptions
}

/** Where a store is kept. */
export type Backend =
  | { readonly _tag: "Memory" }
  | { readonly _tag: "Sql" }
  | { readonly _tag: "Redis"; readonly store: Store.Store }

/**
 * Where each kind of the gateway's stores is kept (the module's doc says which stores are of which kind); the records
 * are always in a database, the one configured or one in this process's memory.
 */
export interface Placement {
  readonly shared: Extract<Backend, { readonly _tag: "Sql" | "Redis" }>
  readonly state: Extract<Backend, { readonly _tag: "Memory" | "Redis" }>
}

/** The one choice of every store's backend from what the gateway was configured with. */
export function placement({ database, sqlite, store }: Omit<Backends, "responses">): Placement {
  const redis = store === undefined ? undefined : { _tag: "Redis" as const, store }
  return {
    state: redis ?? { _tag: "Memory" },
    shared: redis === undefined || (database !== undefined && !sqlite) ? { _tag: "Sql" } : redis
  }
}

/** Where the in-memory database is, as a store's error names it. */
const inMemory = "this process's memory"

// The configured database, else a SQLite database in this process's memory (no file) for the layer's life.
function databaseOf(database: Sql.Database["Service"] | undefined) {
  return database !== undefined ? Layer.succeed(Sql.Database, database) : Layer.effect(
    Sql.Database,
    Effect.map(
      Database.connect({ sqlite: ":memory:" }, schemas),
      (sql) => ({ sql, bounds: { address: inMemory, timeout: Sql.defaultTimeout }, unshared: true })
    )
  )
}

// The records' stores, failing when the keys cannot be read.
const records = Layer.mergeAll(
  KeyStore.layerSql,
  ...[Ledger, McpPins, McpSessions, Sessions, Grants, RequestLogStore, AuditLog, AuditRefusals].map((store) =>
    store.layerSql
  )
)

// provider.json keys' budgets, in Redis, are recorded each instance's part in its database, when it has one, so that
// they are rebuilt when Redis loses them.
function shared(backend: Placement["shared"], database: Sql.Database["Service"] | undefined) {
  return backend._tag === "Sql"
    ? Layer.mergeAll(
      KeyLimits.layerLedger,
      ...[Settlements, BatchStore, BatchRuns, IdSecret].map((store) => store.layerSql)
    )
    : Layer.mergeAll(
      SettlementsRedis.layerRedis,
      BatchStoreRedis.layerRedis,
      BatchRunsRedis.layerRedis,
      IdSecret.layerRedis,
      KeyLimits.layerBudgetStore.pipe(Layer.provide(keyBudgetsInRedis(backend.store, database)))
    ).pipe(Layer.provide(Layer.succeed(SharedStore, backend.store)))
}

function keyBudgetsInRedis(store: Store.Store, database: Sql.Database["Service"] | undefined) {
  return Layer.unwrap(Effect.gen(function*() {
    const record = database === undefined ? undefined : yield* SpendRecord.make(database).pipe(
      Effect.mapError((error) =>
        new DatabaseError({
          database: database.bounds.address,
          reason: `its spend record could not be read (${error.reason})`
        })
      )
    )
    return Budget.layerStoreRedis(store, { record })
  }))
}

function state(backend: Placement["state"], responses: ResponsesStore.StoreOptions) {
  return backend._tag === "Memory"
    ? Layer.mergeAll(
      RateLimiter.layerStoreMemory,
      ResponsesStore.layerStoreMemory(responses),
      Layer.succeed(RouterStores, Router.layerStoreMemory)
    )
    : Layer.mergeAll(
      RateLimiter.layerStoreRedis(backend.store),
      ResponsesStoreRedis.layerStoreRedis(responses).pipe(Layer.provide(Layer.succeed(SharedStore, backend.store))),
      Layer.succeed(RouterStores, Router.layerStoreRedis(backend.store))
    )
}

/**
 * Every store of the gateway, on the backends `placement` chooses from `backends`; with a database, failing when its
 * keys or its spend record cannot be read.
 */
export function layer(backends: Backends) {
  const placed = placement(backends)
  const recordsAndState = Layer.merge(records, state(placed.state, backends.responses))
  return Layer.provideMerge(shared(placed.shared, backends.database), recordsAndState).pipe(
    Layer.provide(databaseOf(backends.database))
  )
}

/** Every store of the gateway. */
export type Stores = Layer.Success<ReturnType<typeof layer>>
