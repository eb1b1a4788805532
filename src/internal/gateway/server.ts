/**
 * The gateway's server: the options checked, the configuration built (its engine, keys and routes: a generation) and
 * served on a `node:http` server from the moment its port is bound (answered as starting until then: `starting.ts`).
 * A reload reads the configuration again (`Options.source`) and builds it whole before serving it; it keeps the store,
 * the database, the metrics, the stored responses and the keys' limiters and budgets (`keys/limits.ts`), while the
 * routers, their breakers and the key pools are the new configuration's (their shared state stays in the store).
 *
 * Generations (`makeGenerations`): a request holds the generation it started on until its scope closes (a stream's
 * after its last event), so calls in flight finish on the deployments they started on; a generation that fails to
 * build is closed and the current one stays.
 *
 * The drain (`drain.ts`), on the scope's close: calls in flight get the grace period, then open streams are cut with
 * the route's error event, so a client sees a failed answer rather than a dropped connection; what is left is
 * interrupted and the deployments closed.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as ByteSize from "effect/ByteSize"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as HttpClient from "effect/http/HttpClient"
import * as HttpIncomingMessage from "effect/http/HttpIncomingMessage"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Http from "node:http"
import {
  type AuditAnchor as AuditAnchorOption,
  type Config,
  type Database as DatabaseOption,
  DatabaseError,
  defaultPort,
  type GatewayStartError,
  type Keys,
  type Options,
  type Service,
  type SourceError
} from "../../Gateway.js"
import type { OptionsError } from "../../OptionsError.js"
import * as Router from "../../Router.js"
import * as Store from "../../Store.js"
import { messageOf } from "../errorText.js"
import { takenInScope } from "../held.js"
import * as OptionsErrors from "../optionsError.js"
import * as Database from "../persistence/database.js"
import { describe } from "../persistence/database.js"
import * as Sql from "../persistence/sql.js"
import { urlOf } from "../store/connection.js"
import type * as Authentication from "./access/authentication.js"
import * as App from "./app.js"
import * as AuditAnchor from "./audit/anchor.js"
import * as AuditRetention from "./audit/retention.js"
import { schemas } from "./databaseSchema.js"
import { Drain, shutdown } from "./drain.js"
import * as Engine from "./engine.js"
import * as TokenCallers from "./identity/callers.js"
import * as Oidc from "./identity/oidc.js"
import * as Sessions from "./identity/sessions.js"
import * as Intake from "./intake.js"
import * as Auth from "./keys/auth.js"
import * as KeyLimits from "./keys/limits.js"
import * as Policy from "./keys/policy.js"
import * as RuntimeKeys from "./keys/runtime.js"
import * as KeyStore from "./keys/store.js"
import * as McpEndpoint from "./mcp/endpoint.js"
import * as McpPins from "./mcp/pins.js"
import * as McpSessions from "./mcp/sessions.js"
import * as Starting from "./starting.js"
import * as Stores from "./stores.js"

const defaultHost = "127.0.0.1"
/** The largest request body by default; `batch` takes a line of its input, a request body too, up to it. */
export const defaultMaxBodyBytes = 8 * 1024 * 1024
const defaultGracePeriod = Duration.seconds(20)
/** The seconds a request has to arrive in (its headers, at most `headersTimeoutMillis` of it, and its body). */
export const defaultRequestBodyTimeoutSeconds = 30
const headersTimeoutMillis = 10_000

/**
 * The `node:http` deadlines for a request to be whole in `requestTimeout` ms: one late is answered 408 and its
 * connection closed, so a client trickling its body cannot hold a connection (Node's own deadline is 300 s).
 */
export function deadlines(requestTimeout: number): Http.ServerOptions {
  return {
    requestTimeout,
    headersTimeout: Math.min(headersTimeoutMillis, requestTimeout),
    connectionsCheckingInterval: Math.min(1000, requestTimeout / 4)
  }
}

// The gateway keys of a configuration and of the options, and the admin keys.
function keysOf(config: Config, options: Options) {
  return [...(config.keys?.keys ?? []), ...(options.keys ?? [])]
}
function adminKeysOf(config: Config, options: Options) {
  return [
    ...(config.keys?.adminKeys ?? []),
    ...(options.adminKeys ?? [])
  ]
}

// The callers of the database's keys and teams, their budgets in the spend ledger of `stores`, for the gateway's life.
function manage(database: Sql.Database["Service"], stores: Context.Context<Stores.Stores>, drain: Drain) {
  return RuntimeKeys.make(Context.get(stores, KeyStore.KeyStore), stores, (stale) => drain.revoked(stale)).pipe(
    Effect.provideContext(stores),
    Effect.map((runtime) => ({ runtime, database }))
  )
}

// What the key policy (`keys/policy.ts`) reads of `config` served with `options`.
function settingOf(config: Config, options: Options): Policy.Setting {
  const database = options.database ?? config.database
  return {
    host: options.host ?? defaultHost,
    redis: (options.store ?? config.store) !== undefined,
    database: database === undefined ? undefined : "sqlite" in database ? "sqlite" : "postgres",
    adminKeys: adminKeysOf(config, options).length,
    keys: keysOf(config, options).length,
    allowKeyless: config.keys?.allowKeyless === true
  }
}

// Every problem of the options, in one error.
function check(options: Options): OptionsError | undefined {
  // Before the database is open, whatever it may hold: refused here only when no key could ever be had.
  const setting = settingOf(options.config, options)
  const port = options.port ?? defaultPort
  return OptionsErrors.all([
    Policy.keylessProblem(setting, setting.database !== undefined),
    Number.isInteger(port) && port >= 0 && port <= 65535
      ? undefined
      : OptionsErrors.make("Gateway", "port", port, "an integer from 0 to 65535"),
    OptionsErrors.positive("Gateway", "maxBodyBytes", options.maxBodyBytes, { integer: true, optional: true }),
    OptionsErrors.duration("Gateway", "gracePeriod", options.gracePeriod),
    OptionsErrors.duration("Gateway", "responsesTtl", options.responsesTtl, true),
    OptionsErrors.duration("Gateway", "requestLogRetention", options.requestLogRetention, true),
    ...anchorProblems(options.config.keys?.auditAnchor, setting.database !== undefined),
    OptionsErrors.duration("Gateway", "config.keys.auditRetention", options.config.keys?.auditRetention, true),
    OptionsErrors.duration(
      "Gateway",
      "config.keys.responsesSocketIdle",
      options.config.keys?.responsesSocketIdle,
      true
    ),
    ...invalidBounds(options.config.keys)
  ])
}

// The audit anchor's problems: a file named, a positive time between writes, and a database whose log it anchors.
function anchorProblems(
  anchor: AuditAnchorOption | undefined,
  database: boolean
): ReadonlyArray<OptionsError | undefined> {
  if (anchor === undefined) return []
  return [
    OptionsErrors.nonEmpty("Gateway", "config.keys.auditAnchor.file", anchor.file),
    OptionsErrors.duration("Gateway", "config.keys.auditAnchor.every", anchor.every, true),
    database
      ? undefined
      : OptionsErrors.make("Gateway", "config.keys.auditAnchor", anchor.file, "a database, whose audit log it anchors")
  ]
}

/** The bounds on what the gateway keeps (`Gateway.Keys`), each taken at start: a restart changes them. */
const boundFields = [
  "requestLogMaxRows",
  "requestLogMaxBytes",
  "responsesMaxBytes",
  "responsesMaxKeyBytes",
  "responsesMaxResponseBytes",
  "responsesMaxChain",
  "responsesSocketsMaxKey",
  "requestBodyTimeoutSeconds",
  "mcpSessionsMax",
  "mcpSessionsMaxKey",
  "mcpSessionsMaxBytes",
  "mcpSessionsMaxKeyBytes"
] as const

// Each bound that is not a positive integer, and one response (or one key's) allowed more than the store holds.
function invalidBounds(keys: Config["keys"]): ReadonlyArray<OptionsError | undefined> {
  const nested = [
    ["responsesMaxResponseBytes", "responsesMaxKeyBytes"],
    ["responsesMaxResponseBytes", "responsesMaxBytes"],
    ["responsesMaxKeyBytes", "responsesMaxBytes"],
    ["mcpSessionsMaxKey", "mcpSessionsMax"],
    ["mcpSessionsMaxKeyBytes", "mcpSessionsMaxBytes"]
  ] as const
  return [
    ...[...boundFields, "affinityMaxSessions" as const].map((field) =>
      OptionsErrors.positive("Gateway", `config.keys.${field}`, keys?.[field], { integer: true, optional: true })
    ),
    ...nested.map(([inner, outer]) => {
      const value = keys?.[inner]
      return value !== undefined && value > (keys?.[outer] ?? Infinity)
        ? OptionsErrors.make(
          "Gateway",
          `config.keys.${inner}`,
          value,
          `at most config.keys.${outer} (${keys?.[outer]})`
        )
        : undefined
    })
  ]
}

function sameDatabase(a: DatabaseOption | undefined, b: DatabaseOption | undefined): boolean {
  return a === undefined || b === undefined
    ? a === b
    : "sqlite" in a
    ? "sqlite" in b && a.sqlite === b.sqlite
    : "postgres" in b && Redacted.value(a.postgres) === Redacted.value(b.postgres)
}

// A store's options compared whole, its Redis URL by value (a `Redacted` one prints as `<redacted>` whatever it holds).
function sameStore(a: Store.Options | undefined, b: Store.Options | undefined): boolean {
  return a === undefined || b === undefined
    ? a === b
    : JSON.stringify({ ...a, redis: urlOf(a) }) === JSON.stringify({ ...b, redis: urlOf(b) })
}

const keptAtReload =
  "the one it started with (a reload keeps the store, the database, its request log's settings and the time and " +
  "bytes responses are kept; changing them takes a restart)"

// What a reload cannot change of the configuration it started with, taken at start (not read from the configuration
// where the options give it): each change its own problem.
function restartOnly(options: Options, config: Config): ReadonlyArray<OptionsError | undefined> {
  const started = options.config
  // A field of the keys changed, unless the options give it (`overridden`), named with `shown`.
  const kept = (field: keyof Keys, shown: unknown, overridden = false) =>
    overridden || JSON.stringify(config.keys?.[field]) === JSON.stringify(started.keys?.[field])
      ? undefined
      : OptionsErrors.make("Gateway", `config.keys.${field}`, shown, keptAtReload)
  return [
    options.store === undefined && !sameStore(config.store, started.store)
      ? OptionsErrors.make("Gateway", "config.store", "another store", keptAtReload)
      : undefined,
    options.database === undefined && !sameDatabase(config.database, started.database)
      ? OptionsErrors.make("Gateway", "config.database", "another database", keptAtReload)
      : undefined,
    kept("logPayloads", config.keys?.logPayloads, options.logPayloads !== undefined),
    kept("responsesTtl", "another time to keep responses", options.responsesTtl !== undefined),
    kept("requestLogRetention", "another retention", options.requestLogRetention !== undefined),
    kept("responsesSocketIdle", "another idle time"),
    kept("auditAnchor", "another anchor"),
    kept("auditRetention", "another retention"),
    ...boundFields.map((field) => kept(field, config.keys?.[field]))
  ]
}

/** What the checks of a configuration read of the gateway that would serve it. */
interface Serving {
  /** Whether it has a database (keys made at run time, callers by token's teams). */
  readonly database: boolean
  /** Whether a key may be had beside the configuration's (`Policy.keylessProblem`: refused when none could). */
  readonly everMade: boolean
  /** The key made at run time of a name, if any (`RuntimeKeys.named`). */
  readonly named: (name: string) => string | undefined
}

/**
 * Every problem of `config` served with `options`, in one error. The callers and keys are checked against the engine,
 * or what the configuration names (`Engine.catalog`) where it could not be built, so no part hides another's.
 */
function problemsOf(
  config: Config,
  options: Options,
  engine: Result.Result<Engine.Engine, OptionsError>,
  serving: Serving
): Effect.Effect<OptionsError | undefined> {
  return Effect.gen(function*() {
    const setting = settingOf(config, options)
    const served = Result.isSuccess(engine)
      ? engine.success
      : Engine.served(Engine.catalog(yield* config.deployments(undefined), config.routers), config.guardrails)
    const tokenCallers = config.keys?.tokenCallers ?? []
    return OptionsErrors.all([
      ...restartOnly(options, config),
      Policy.keylessProblem(setting, serving.everMade),
      ...invalidBounds(config.keys),
      ...anchorProblems(config.keys?.auditAnchor, setting.database !== undefined),
      OptionsErrors.duration("Gateway", "config.keys.auditRetention", config.keys?.auditRetention, true),
      ...(config.keys?.oidc === undefined ? [] : Oidc.problems(config.keys.oidc)),
      Result.isFailure(engine) ? engine.failure : undefined,
      ...McpEndpoint.problems(config.mcpServers ?? {}, Result.isSuccess(engine) ? engine.success : undefined),
      ...TokenCallers.problems(tokenCallers, serving.database, served, Oidc.clientsOf(config.keys?.oidc)),
      ...Auth.problems(keysOf(config, options), adminKeysOf(config, options), served, serving.named)
    ])
  })
}

/**
 * Every problem the gateway served with `options` would find building `config`, in one error, with nothing kept: its
 * engine built in a scope closed at once, on no store (`config.deployments` should connect to none either), its keys
 * checked without their limits. What a reload or a start of `config` checks, that a loader can name with its own.
 */
export function configurationProblems(
  config: Config,
  options: Options
): Effect.Effect<OptionsError | undefined, never, HttpClient.HttpClient> {
  return Effect.scoped(Effect.gen(function*() {
    const engine = yield* Effect.result(
      Engine.make(config, undefined).pipe(Effect.provideService(Engine.RouterStores, Router.layerStoreMemory))
    )
    // Whether a gateway without keys could have one is its flags' and database's to say, at start (`check`).
    const database = (options.database ?? config.database) !== undefined
    return yield* problemsOf(config, options, engine, { database, everMade: true, named: () => undefined })
  }))
}

/** What one configuration serves: its engine, its keys and its routes. */
interface Generation {
  readonly engine: Engine.Engine
  readonly auth: Authentication.Auth
  /** Its keys, masked in a logged payload: the gateway and admin keys, and the deployments' provider keys. */
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
  readonly app: Effect.Success<ReturnType<typeof App.make>>
}

// The keys of `config` served with `options`, masked in a logged payload: the gateway and admin keys, the deployments'
// provider keys and the sign-on's client secret.
function secretsOf(config: Config, options: Options): ReadonlyArray<Redacted.Redacted<string>> {
  const clientSecret = config.keys?.oidc?.clientSecret
  return [
    ...[...keysOf(config, options), ...adminKeysOf(config, options)].map((key) => key.key),
    ...(config.providerKeys ?? []),
    ...(clientSecret === undefined ? [] : [clientSecret])
  ]
}

// What a WebSocket's frame may hold past the body limit (its event's envelope), so it is refused as a body is.
const frameSlack = 64 * 1024

/**
 * The gateway's stores, for its life: the database, one store connection for every configuration served, and every
 * store on the backend its configuration names (`stores.ts`).
 */
function openStores(options: Options, drain: Drain) {
  return Effect.gen(function*() {
    const database = options.database ?? options.config.database
    const sql = database === undefined ? undefined : yield* Database.connect(database, schemas)
    // The database as one SQL store: every step of its keys, spend and request log bounded and named alike.
    const stored: Sql.Database["Service"] | undefined = sql === undefined
      ? undefined
      : { sql, bounds: { address: describe(database!), timeout: Sql.defaultTimeout } }
    const wantedStore = options.store ?? options.config.store
    const store = wantedStore === undefined || !("redis" in wantedStore) ? wantedStore : yield* Store.make(wantedStore)
    const keys = options.config.keys
    const stores = yield* Layer.build(Stores.layer({
      database: stored,
      sqlite: database !== undefined && "sqlite" in database,
      store,
      responses: {
        ttl: options.responsesTtl ?? keys?.responsesTtl,
        maxBytes: keys?.responsesMaxBytes,
        maxKeyBytes: keys?.responsesMaxKeyBytes,
        maxResponseBytes: keys?.responsesMaxResponseBytes,
        maxChain: keys?.responsesMaxChain
      }
    })).pipe(
      Effect.catchTag("StoreUnavailableError", (error) =>
        Effect.fail(
          new DatabaseError({ database: error.address, reason: `its keys could not be read (${error.reason})` })
        ))
    )
    const managedKeys = stored === undefined ? undefined : yield* manage(stored, stores, drain)
    const keyLimits = yield* KeyLimits.make(Context.get(stores, KeyLimits.KeyLimitStores))
    return { stored, store, stores, managedKeys, keyLimits }
  })
}

/** The HTTP server bound at `host:port`, not serving yet, and the port it is bound to (`port` 0: one chosen). */
function listen(
  at: {
    readonly host: string
    readonly port: number
    readonly maxBodyBytes: number
    readonly bodyTimeoutSeconds: number
  },
  startError: (description: string, cause: unknown) => GatewayStartError
) {
  return Effect.gen(function*() {
    const { host, maxBodyBytes, port } = at
    const server = Http.createServer(deadlines(at.bodyTimeoutSeconds * 1000))
    // The drain is ours (below), so streams are cut with an error event before the server interrupts them. A WebSocket
    // frame is a body: one a little past the limit is refused as a body is (413); one far past it is cut by the socket
    // (1009) before it is held whole. The server's own scope closes after the drain: it holds what the server makes at
    // a request (its WebSocket server), and its close waits for every socket the drain closes.
    const serverScope = yield* Scope.fork(yield* Effect.scope)
    const httpServer = yield* NodeHttpServer.make(() => server, {
      host,
      port,
      disablePreemptiveShutdown: true,
      websocket: { maxPayload: maxBodyBytes + frameSlack }
    }).pipe(
      Scope.provide(serverScope),
      Effect.mapError(({ cause }) => startError(`${host}:${port}: ${messageOf(cause)}`, cause))
    )
    const address = server.address()
    const bound = typeof address === "object" && address !== null ? address.port : port
    return { server, httpServer, bound }
  })
}

// What outlasts a reload (the sockets, the request log, the audit log), bounded by `options`.
function makeLasting(
  options: Options,
  parts: Pick<Parameters<typeof App.lasting>[0], "status" | "stores" | "secrets">
) {
  const keys = options.config.keys
  return App.lasting({
    ...parts,
    sockets: { maxPerKey: keys?.responsesSocketsMaxKey, idle: keys?.responsesSocketIdle },
    logPayloads: options.logPayloads ?? keys?.logPayloads ?? false,
    requestLogRetention: options.requestLogRetention ?? keys?.requestLogRetention,
    requestLogMaxRows: keys?.requestLogMaxRows,
    requestLogMaxBytes: keys?.requestLogMaxBytes
  })
}

// The audit log's head written outside the database from start to shutdown (`audit/anchor.ts`), and its rows past
// the retention deleted, the base anchored first (`audit/retention.ts`).
function keepAudit(audit: App.Lasting["audit"], keys: Config["keys"]) {
  return Effect.gen(function*() {
    const anchor = keys?.auditAnchor
    if (anchor !== undefined) {
      yield* AuditAnchor.write(audit, {
        file: anchor.file,
        every: anchor.every === undefined ? AuditAnchor.defaultEvery : Duration.fromInputUnsafe(anchor.every)
      })
    }
    const retention = keys?.auditRetention
    yield* AuditRetention.keep(audit, {
      retention: retention === undefined ? AuditRetention.defaultRetention : Duration.fromInputUnsafe(retention),
      anchor: anchor?.file
    })
  })
}

// The gateway's service over the generation served now, at `host` on the port bound.
function serviceOf(
  current: () => Generation,
  host: string,
  port: number,
  reload: Effect.Effect<ReadonlyArray<string>, SourceError | OptionsError>
): Service {
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    host,
    port,
    get models() {
      return current().engine.models.map((model) => model.id)
    },
    status: Effect.suspend(() => current().engine.status),
    ready: Effect.suspend(() => Effect.map(current().engine.ready, (readiness) => readiness.ready)),
    unavailableCredentials: Effect.suspend(() =>
      Effect.map(current().engine.ready, (readiness) => readiness.unavailableCredentials)
    ),
    get keys() {
      return current().auth.keys
    },
    get keysRequired() {
      return current().auth.required
    },
    isAdmin: (key) => current().auth.isAdmin(key),
    reload: Effect.asVoid(reload)
  }
}

/** `Gateway.make`. */
export function make(
  options: Options,
  startError: (description: string, cause: unknown) => GatewayStartError
): Effect.Effect<
  Service,
  OptionsError | GatewayStartError | DatabaseError,
  HttpClient.HttpClient | Scope.Scope
> {
  return Effect.gen(function*() {
    const problem = check(options)
    if (problem !== undefined) return yield* problem
    const drain = new Drain()
    const host = options.host ?? defaultHost
    const port = options.port ?? defaultPort
    const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
    const { keyLimits, managedKeys, store, stored, stores } = yield* openStores(options, drain)
    const keyStore = Context.get(stores, KeyStore.KeyStore)
    const { bound, httpServer, server } = yield* listen({
      host,
      port,
      maxBodyBytes,
      bodyTimeoutSeconds: options.config.keys?.requestBodyTimeoutSeconds ?? defaultRequestBodyTimeoutSeconds
    }, startError)
    // A reload builds in whichever fiber asks for it: with the gateway's own services.
    const services = yield* Effect.context<HttpClient.HttpClient>()
    const generations = yield* makeGenerations<Generation>()
    // Served from the moment the port is bound, before anything else of the start (the stores that outlast a
    // reload, the first configuration), so that no request waits for it: a request the server took before it serves
    // would never be answered. Until the first configuration is served (its MCP servers connected or given up on),
    // each is answered at once as the gateway starting.
    const serving = yield* Scope.fork(yield* Effect.scope)
    yield* httpServer.serve(
      Effect.flatMap(generations.lease, (generation) => generation === undefined ? Starting.answer : generation.app)
    ).pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
      // A span per request would cost more than the gateway's own work.
      Effect.provideService(HttpMiddleware.TracerDisabledWhen, () => true),
      Scope.provide(serving)
    )
    const current = generations.current
    const lasting = yield* makeLasting(options, {
      status: Effect.suspend(() => current().engine.status),
      stores,
      secrets: () => current().secrets
    })
    yield* keepAudit(lasting.audit, options.config.keys)

    // The MCP tools' pins, for the gateway's life, over their store.
    const mcpPins = McpPins.make(Context.get(lasting.stores, McpPins.PinStore), lasting.metrics.mcpToolHeld)

    // The dashboard's sessions (docs/identity.md), over their store.
    const sessions = yield* Effect.provideContext(Sessions.sessions, lasting.stores)

    const mcpSessionBounds = McpSessions.boundsOf(options.config.keys)

    // `effect` with the gateway's services, in the generation's scope (not the gateway's, which `services` holds), so
    // that what a generation starts (an MCP server's process) ends with it.
    function withServices<A, E>(effect: Effect.Effect<A, E, Scope.Scope | HttpClient.HttpClient>) {
      return Effect.flatMap(
        Effect.scope,
        (scope) => effect.pipe(Effect.provideService(Scope.Scope, scope), Effect.provideContext(services))
      )
    }

    // Built once the port is bound: on loopback, a request's `Host` names it.
    function build(config: Config) {
      return (previous: Generation | undefined): Effect.Effect<Generation, OptionsError, Scope.Scope> =>
        Effect.gen(function*() {
          const setting = settingOf(config, options)
          // The configuration checked whole, as at start: every problem named at once, the engine's with the others.
          const built = yield* Effect.result(Effect.provideContext(Engine.make(config, store), stores))
          const problem = yield* problemsOf(config, options, built, {
            database: managedKeys !== undefined,
            everMade: managedKeys?.runtime.everMade() ?? false,
            named: (name) => managedKeys?.runtime.named(name)
          })
          if (problem !== undefined || Result.isFailure(built)) return yield* problem!
          const engine = built.success
          const kept = previous?.auth.budgets ?? new Map()
          const tokenCallers = config.keys?.tokenCallers ?? []
          // The sign-on's clients, whose ID tokens no caller may present, and its signed-out sessions' tokens.
          const signOn = { clients: Oidc.clientsOf(config.keys?.oidc), signedOut: sessions.signedOut }
          const tokens = tokenCallers.length === 0 || managedKeys === undefined
            ? undefined
            : yield* TokenCallers.make(tokenCallers, yield* Oidc.load("tokenCallers"), lasting.now, {
              teams: keyStore.teams,
              limiters: stores
            }, signOn).pipe(Effect.provideContext(lasting.stores))
          const auth = yield* Auth.make(
            keysOf(config, options),
            adminKeysOf(config, options),
            engine,
            keyLimits,
            kept,
            { keysRequired: Policy.keysRequired(setting), database: managedKeys, tokens }
          )
          const oidcOptions = config.keys?.oidc
          const oidc = oidcOptions === undefined
            ? undefined
            : Oidc.make(Oidc.settingsOf(oidcOptions), yield* Oidc.load("oidc"), lasting.now, sessions.signedOut)
          const app = yield* App.make(engine, {
            drain,
            maxBodyBytes,
            auth,
            logRequests: options.logRequests ?? false,
            modelLoadDetails: options.modelLoadDetails ?? config.keys?.modelLoadDetails ?? false,
            hosts: Policy.isLoopback(host) ? Intake.loopbackHosts(bound) : undefined,
            database: stored,
            keysLocalOnly: Policy.localOnly(settingOf(options.config, options)),
            reload,
            mcp: Object.keys(config.mcpServers ?? {}).length === 0
              ? undefined
              : yield* McpEndpoint.make(config.mcpServers!, mcpPins, engine, stores),
            mcpPins,
            mcpSessionBounds,
            oidc,
            instance: options.instanceSecret === undefined ? undefined : { secret: options.instanceSecret },
            providerKeys: config.providerKeys ?? []
          }, lasting)
          return { engine, auth, app, secrets: secretsOf(config, options) }
        }).pipe(withServices)
    }

    const source = options.source ?? Effect.succeed(options.config)
    const reload: Effect.Effect<ReadonlyArray<string>, SourceError | OptionsError> = Effect.gen(function*() {
      const served = yield* generations.replace(build(yield* source))
      const models = served.engine.models.map((model) => model.id)
      yield* Effect.logInfo(`Gateway: configuration reloaded; models: ${models.join(", ")}`)
      return models
    }).pipe(
      Effect.tapError((error) =>
        Effect.logWarning(`Gateway: configuration not reloaded (the running one stays): ${error.message}`)
      )
    )

    // The requests still running at the close (past the drain) interrupted before what they use closes.
    yield* Effect.addFinalizer(() => Scope.close(serving, Exit.void))
    yield* generations.replace(build(options.config))
    // Added last, so it runs first on the scope's close: before the server interrupts the requests left, and before
    // the configurations served are closed.
    yield* Effect.addFinalizer(() => shutdown(server, drain, options.gracePeriod ?? defaultGracePeriod))
    return serviceOf(current, host, bound, reload)
  })
}

/** The generations of something rebuilt whole (`A`): the current one, leased by each user. */
export interface Generations<A> {
  /** The generation served now (there is one once the first `replace` succeeded). */
  readonly current: () => A
  /** The generation served now, held (its scope kept open) until the caller's scope closes; none before the first. */
  readonly lease: Effect.Effect<A | undefined, never, Scope.Scope>
  /**
   * `build` run in a scope of its own and, once it succeeds, served in place of the current generation, whose scope
   * closes when its last lease ends; a failed build is closed and the current one stays. One replacement at a time.
   */
  readonly replace: <E>(build: (previous: A | undefined) => Effect.Effect<A, E, Scope.Scope>) => Effect.Effect<A, E>
}

interface Held<A> {
  readonly value: A
  readonly scope: Scope.Closeable
  /** The requests holding it, plus one while it is the current generation. */
  leases: number
}

/**
 * No generation yet; each one built will be in a child of the caller's scope taken now, so closing that scope closes
 * every generation still open after whatever the caller adds to it later (its drain, say).
 */
export function makeGenerations<A>(): Effect.Effect<Generations<A>, never, Scope.Scope> {
  return Effect.gen(function*() {
    const parent = yield* Scope.fork(yield* Effect.scope)
    const replacing = yield* Semaphore.make(1)
    let current: Held<A> | undefined

    function release(held: Held<A>): Effect.Effect<void> {
      return --held.leases === 0 ? Scope.close(held.scope, Exit.void) : Effect.void
    }

    // Only the build may be interrupted: a generation built is served, or closed.
    function swap<E>(build: (previous: A | undefined) => Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E> {
      return Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const previous = current
          const scope = yield* Scope.fork(parent)
          const exit = yield* Effect.exit(restore(Scope.provide(build(previous?.value), scope)))
          if (Exit.isFailure(exit)) {
            yield* Scope.close(scope, exit)
            return yield* exit
          }
          current = { value: exit.value, scope, leases: 1 }
          if (previous !== undefined) yield* release(previous)
          return exit.value
        })
      )
    }

    return {
      current: () => current!.value,
      lease: takenInScope(() => {
        const leased = current
        if (leased === undefined) return [undefined, () => Effect.void]
        leased.leases++
        return [leased.value, () => release(leased)]
      }),
      replace: (build) => replacing.withPermits(1)(swap(build))
    }
  })
}
