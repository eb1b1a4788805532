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
import * as Http from "node:http"
import { type DatabaseError, defaultPort, type GatewayStartError, type Options, type Service } from "../../Gateway.js"
import type { OptionsError } from "../../OptionsError.js"
import * as OptionsErrors from "../optionsError.js"
import * as Database from "../sql/database.js"
import * as App from "./app.js"
import * as Auth from "./auth.js"
import * as Drain from "./drain.js"
import * as Engine from "./engine.js"

const defaultHost = "127.0.0.1"
/** The largest request body by default; `batch` takes a line of its input, a request body too, up to it. */
export const defaultMaxBodyBytes = 8 * 1024 * 1024
const defaultGracePeriod = Duration.seconds(20)

const loopback = new Set(["127.0.0.1", "::1", "localhost"])

// The gateway keys of the configuration and of the options.
const keysOf = (options: Options) => [...(options.config.keys?.keys ?? []), ...(options.keys ?? [])]

const check = (options: Options): OptionsError | undefined => {
  const host = options.host ?? defaultHost
  if (!loopback.has(host) && keysOf(options).length === 0) {
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
    OptionsErrors.duration("Gateway", "responsesTtl", options.responsesTtl, true) ??
    OptionsErrors.duration("Gateway", "requestLogRetention", options.requestLogRetention, true)
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
    const adminKeys = [...(options.config.keys?.adminKeys ?? []), ...(options.adminKeys ?? [])]
    const auth = yield* Auth.make(keysOf(options), adminKeys, engine)
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
      responsesTtl: options.responsesTtl ?? options.config.keys?.responsesTtl,
      database: sql,
      logPayloads: options.logPayloads ?? options.config.keys?.logPayloads ?? false,
      requestLogRetention: options.requestLogRetention ?? options.config.keys?.requestLogRetention,
      secrets: [
        ...[...keysOf(options), ...adminKeys].map((key) => key.key),
        ...(options.config.providerKeys ?? [])
      ]
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
