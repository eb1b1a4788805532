/**
 * The gateway's server: the options checked, the engine built, the
 * application served on a `node:http` server through `NodeHttpServer`, and on
 * the scope's close a drain (`drain.ts`): the server stops accepting, calls in
 * flight have the grace period to finish, then the streams still open are
 * cut, each ending with an error event, whatever is left is interrupted
 * (freeing its upstream call) and the engine's deployments are closed.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as ByteSize from "effect/ByteSize"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import * as Http from "node:http"
import {
  type Database as DatabaseLocation,
  DatabaseError,
  defaultPort,
  type GatewayStartError,
  type Options,
  type Service
} from "../../Gateway.js"
import type { OptionsError } from "../../OptionsError.js"
import type * as Store from "../../Store.js"
import * as Ledger from "../budget/sql.js"
import * as OptionsErrors from "../optionsError.js"
import * as Database from "../sql/database.js"
import { describe } from "../sql/location.js"
import * as App from "./app.js"
import * as Auth from "./auth.js"
import * as Drain from "./drain.js"
import * as Engine from "./engine.js"
import * as KeyStore from "./keyStore.js"
import * as RuntimeKeys from "./runtimeKeys.js"

const defaultHost = "127.0.0.1"
/** The largest request body by default; `batch` takes a line of its input, a request body too, up to it. */
export const defaultMaxBodyBytes = 8 * 1024 * 1024
const defaultGracePeriod = Duration.seconds(20)

const loopback = new Set(["127.0.0.1", "::1", "localhost"])

// The gateway keys of the configuration and of the options.
const keysOf = (options: Options) => [...(options.config.keys?.keys ?? []), ...(options.keys ?? [])]
const adminKeysOf = (options: Options) => [...(options.config.keys?.adminKeys ?? []), ...(options.adminKeys ?? [])]

// The keys and teams of the database, their callers, and the spend ledger, kept for the gateway's life.
const manage = (sql: SqlClient.SqlClient, store: Store.Store | undefined, database: DatabaseLocation) =>
  Effect.gen(function*() {
    const ledger = yield* Ledger.make(sql)
    const keyStore = yield* KeyStore.make(sql).pipe(
      Effect.mapError((error) =>
        new DatabaseError({ database: describe(database), reason: `its keys could not be read (${error.reason})` })
      )
    )
    const runtime = yield* RuntimeKeys.make(keyStore, ledger, store)
    return { ledger, store: keyStore, runtime }
  })

const check = (options: Options): OptionsError | undefined => {
  const host = options.host ?? defaultHost
  // Beyond loopback, a gateway with a database and admin keys asks every request for a key, made at run time (none
  // until one is) or in the config.
  const managed = (options.database ?? options.config.database) !== undefined && adminKeysOf(options).length > 0
  if (!loopback.has(host) && keysOf(options).length === 0 && !managed) {
    return OptionsErrors.make(
      "Gateway",
      "host",
      host,
      "a loopback address (127.0.0.1, ::1 or localhost): without gateway keys the gateway serves only this machine"
    )
  }
  const port = options.port ?? defaultPort
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) {
    return OptionsErrors.make("Gateway", "port", port, "an integer from 0 to 65535")
  }
  return OptionsErrors.positive("Gateway", "maxBodyBytes", options.maxBodyBytes, { integer: true, optional: true }) ??
    OptionsErrors.duration("Gateway", "gracePeriod", options.gracePeriod) ??
    OptionsErrors.duration("Gateway", "responsesTtl", options.responsesTtl, true)
}

/** `Gateway.make`. */
export const make = (
  options: Options,
  startError: (description: string, cause: unknown) => GatewayStartError
): Effect.Effect<
  Service,
  OptionsError | GatewayStartError | DatabaseError,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.gen(function*() {
    const problem = check(options)
    if (problem !== undefined) return yield* problem
    const database = options.database ?? options.config.database
    const sql = database === undefined ? undefined : yield* Database.connect(database)
    const host = options.host ?? defaultHost
    const port = options.port ?? defaultPort
    const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
    const engine = yield* Engine.make(options.config, options.store)
    const managedKeys = sql === undefined ? undefined : yield* manage(sql, engine.store, database!)
    const auth = yield* Auth.make(
      keysOf(options),
      adminKeysOf(options),
      engine,
      managedKeys === undefined ? undefined : {
        ...managedKeys,
        keysRequired: !loopback.has(host),
        configBudgets: engine.store === undefined || "postgres" in database!
      }
    )
    const drain = new Drain.Drain()
    const server = Http.createServer()
    // The drain is ours (below), so that streams are cut with an error event before the server interrupts them.
    const httpServer = yield* NodeHttpServer.make(() => server, { host, port, disablePreemptiveShutdown: true }).pipe(
      Effect.mapError((error) => {
        const cause = error.cause
        return startError(`${host}:${port}: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
      })
    )
    const address = server.address()
    const bound = typeof address === "object" && address !== null ? address.port : port
    // Built once the port is bound: without keys, a request's `Host` names it.
    const app = yield* App.make(engine, {
      drain,
      maxBodyBytes,
      auth,
      logRequests: options.logRequests ?? false,
      modelLoadDetails: options.modelLoadDetails ?? options.config.keys?.modelLoadDetails ?? false,
      port: bound,
      responsesTtl: options.responsesTtl,
      managedKeys,
      database: sql
    })
    yield* httpServer.serve(app).pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
      // A span per request would cost more than the gateway's own work.
      Effect.provideService(HttpMiddleware.TracerDisabledWhen, () => true)
    )
    // Added last, so it runs first on the scope's close: before the server interrupts the requests left.
    yield* Effect.addFinalizer(() => Drain.shutdown(server, drain, options.gracePeriod ?? defaultGracePeriod))
    return {
      url: `http://${host.includes(":") ? `[${host}]` : host}:${bound}`,
      host,
      port: bound,
      models: engine.models.map((model) => model.id),
      status: engine.status,
      ready: engine.ready,
      keys: auth.keys,
      isAdmin: auth.isAdmin
    }
  })
