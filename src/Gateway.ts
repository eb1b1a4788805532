/**
 * The gateway: the library's engine over HTTP, OpenAI- and Anthropic-compatible, so programs in any language (and the
 * official `openai` and `@anthropic-ai/sdk` clients, unchanged) call the models and routers of a `provider.json`. A
 * request's `model` names a router of the file's `router` section, or a deployment (`provider/model_name`), a model or
 * a group, routed over every deployment that serves it. Failures are the client API's error JSON and statuses, in the
 * gateway's words: no deployment name, upstream address or provider request id, which the log line keeps. Gateway keys
 * are kept only as SHA-256 digests; admin keys guard `/metrics`, the dashboard's data and the `/admin/` paths.
 * docs/gateway.md lists the endpoints, their errors, the keys, the request log, reloads and what the gateway guards.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { AdminKey, Config, Database, Key } from "./internal/gatewayConfig/config.js"
import type { DatabaseError } from "./internal/persistence/database.js"
import type { OptionsError } from "./OptionsError.js"
import type * as Router from "./Router.js"
import type * as Store from "./Store.js"

// What a gateway serves, declared below both the gateway and the configuration's reader, which writes it.
export type {
  AdminKey,
  AuditAnchor,
  Config,
  Database,
  Deployment,
  HostedTools,
  Key,
  Keys,
  McpClientCredentials,
  McpConnection,
  McpGovernance,
  McpHttpServer,
  McpServer,
  McpStdioServer,
  NamedRouter,
  Oidc,
  TokenCallers
} from "./internal/gatewayConfig/config.js"

// The gateway's failure at start when its database does not answer: declared with the database.
export { DatabaseError } from "./internal/persistence/database.js"

/**
 * The port the gateway listens on unless told otherwise.
 *
 * @since 0.2.0
 * @category Constants
 */
export const defaultPort = 4000

/**
 * Why `Options.source` gave no configuration: for a `provider.json`, the `ProviderConfigError` that names every
 * problem of the file, as at start.
 *
 * @since 0.3.0
 * @category Errors
 */
export interface SourceError {
  readonly _tag: string
  readonly message: string
}

/**
 * What a running gateway keeps of a key: its name and digest, never the key.
 *
 * @since 0.3.0
 * @category Models
 */
export interface KeyInfo {
  readonly name: string
  /** The key's SHA-256, hex. */
  readonly sha256: string
  readonly admin: boolean
  /** The names it may call; `undefined`: every name. */
  readonly models: ReadonlyArray<string> | undefined
  /**
   * The MCP tools it may list and call (`Key.tools`: qualified names and globs); `undefined`: none (an admin
   * key's too).
   *
   * @since 0.3.0
   */
  readonly tools: ReadonlyArray<string> | undefined
  /**
   * The names of the guardrails its calls run besides their target's (`Key.guardrails`); `undefined`: none.
   *
   * @since 0.3.0
   */
  readonly guardrails: ReadonlyArray<string> | undefined
  /**
   * Its budget (`Key.budget`), enforced as configured; `undefined`: none (an admin key's too).
   *
   * @since 0.3.0
   */
  readonly budget?: Key["budget"]
  /**
   * Its own token bucket (`Key.rateLimit`); `undefined`: none (an admin key's too).
   *
   * @since 0.3.0
   */
  readonly rateLimit?: Key["rateLimit"]
}

/**
 * @since 0.2.0
 * @category Models
 */
export interface Options {
  /** What to serve (`ProviderConfig.gatewayConfig` of a `provider.json`). */
  readonly config: Config
  /**
   * Any address with gateway keys, or with admin keys and a database to make them in (every request then needs a key);
   * without, a loopback address (`127.0.0.1`, `::1`, `localhost`), unless the config's `keys.allowKeyless`. Default
   * `127.0.0.1`.
   */
  readonly host?: string
  /** `0` picks a free port. Default `defaultPort` (4000). */
  readonly port?: number
  /** The largest request body in bytes; larger ones get 413. Default 8 MiB. */
  readonly maxBodyBytes?: number
  /**
   * On close, how long calls in flight may take to finish before they are cut (a stream then ends with an error
   * event). Default 20 seconds.
   */
  readonly gracePeriod?: Duration.Input
  /** Gateway keys, besides the config's. Default: none. */
  readonly keys?: ReadonlyArray<Key>
  /**
   * Admin keys (for `/metrics`, `/dashboard/data`, `model-load` and the `/admin/` paths), besides the config's.
   * Default: none.
   */
  readonly adminKeys?: ReadonlyArray<AdminKey>
  /**
   * A secret the gateway proves it holds, without showing it, at `GET /admin/instance?challenge=...` (the HMAC-SHA256
   * of the challenge and both ends of the TCP connection the request came on), so a program on this machine can tell
   * it from another process on the address or between before sending it a credential on that connection (`serve`
   * gives its admin token). Give a secret of 256 random bits; none: the route is 404.
   *
   * @since 0.3.0
   */
  readonly instanceSecret?: Redacted.Redacted<string> | undefined
  /** A log line per request (`Effect.logInfo`, its fields as annotations). Default `false`; `serve` turns it on. */
  readonly logRequests?: boolean
  /**
   * Serve `GET /llm/model-load/<model>` (a deployment's keys, masked) to admin keys. Default: the config's
   * `keys.modelLoadDetails` (a file's `gateway.model_load_details`), else `false`.
   */
  readonly modelLoadDetails?: boolean
  /**
   * Where instances share the deployments' limits, the routers' breakers and the gateway keys' rate limits and
   * budgets, in place of the config's `store`: a connected `Store` (shared with the program's own code) or its options.
   * Default: the config's `store`.
   */
  readonly store?: Store.Store | Store.Options | undefined
  /**
   * How long `/v1/responses` keeps a stored response for `previous_response_id` and `GET`/`DELETE /v1/responses/{id}`,
   * in memory or, with a store, in its Redis for every instance. Default: the config's `keys.responsesTtl`, else one
   * hour.
   */
  readonly responsesTtl?: Duration.Input | undefined
  /** Where keys made at run time, spend and the request log are kept, in place of the config's `database`. */
  readonly database?: Database | undefined
  /**
   * With a database, whether the request log keeps each call's request body and reply text, every key the gateway
   * knows masked in them. Default: the config's `keys.logPayloads`, else `false`: a row holds no prompt and no reply.
   */
  readonly logPayloads?: boolean | undefined
  /**
   * With a database, how long the request log keeps its rows: older ones are deleted at start and hourly after.
   * Default: the config's `keys.requestLogRetention` (a file's `gateway.request_log_retention`, in days), else 30 days.
   */
  readonly requestLogRetention?: Duration.Input | undefined
  /**
   * Where `reload` (and `POST /admin/reload`) reads the configuration again: for a `provider.json`,
   * `Effect.map(ProviderConfig.load(path), ProviderConfig.gatewayConfig)` with a `FileSystem` provided. Default:
   * `config`, as given (a reload then builds it again).
   */
  readonly source?: Effect.Effect<Config, SourceError> | undefined
}

/**
 * A running gateway.
 *
 * @since 0.2.0
 * @category Models
 */
export interface Service {
  /** `http://host:port`; the OpenAI base URL is this plus `/v1`. */
  readonly url: string
  readonly host: string
  readonly port: number
  /** Every name a request's `model` may use, as `GET /v1/models` lists them (of the configuration served now). */
  readonly models: ReadonlyArray<string>
  /**
   * Every deployment's status (keys, in flight, breakers), counting the calls of every router: by model name and
   * through each router of the `router` section; a breaker is the most open of the routers' for that deployment.
   */
  readonly status: Effect.Effect<Router.Status>
  /**
   * What `GET /ready` answers: whether some deployment can take a call now (since 0.3.0, a deployment whose cloud
   * credential gives no token cannot).
   */
  readonly ready: Effect.Effect<boolean>
  /**
   * The deployments whose cloud credential (Vertex AI's, Microsoft Entra ID's, AWS's) gives no token now, by name, each
   * with what the credential said (never a secret): their calls are answered 503 `credential_unavailable`. One that
   * gave nothing is asked again only after 5 seconds, so `/ready` answers at once.
   *
   * @since 0.3.0
   */
  readonly unavailableCredentials: Effect.Effect<Readonly<Record<string, string>>>
  /** The gateway and admin keys, as names and digests (of the configuration served now). */
  readonly keys: ReadonlyArray<KeyInfo>
  /**
   * Whether a request needs a gateway key (every path but `/health`, `/ready`, the dashboard's page and the admin
   * paths, which take an admin key): some key is configured or was ever made at run time, or the gateway listens
   * beyond loopback or shares its limits through a store, unless `Keys.allowKeyless`.
   *
   * @since 0.3.0
   */
  readonly keysRequired: boolean
  /** Whether `key` is one of the admin keys (looked up by its SHA-256 digest). */
  readonly isAdmin: (key: Redacted.Redacted<string>) => boolean
  /**
   * Reads the configuration again (`Options.source`), builds it whole and serves it in place of the running one; calls
   * in flight finish on the deployments they started on. A configuration that cannot be read or built, would change
   * the store or the database (they take a restart), or would leave a gateway that needs keys (`keysRequired`) without
   * one is refused whole, and the running one stays. One reload runs at a time, each logged.
   *
   * Carried over: each gateway key's budget (a key whose limit or period changed starts charged with what the old one
   * spent and holds), its rate limiter while its rate limit is the same, the metrics and the stored responses. Afresh
   * in memory: the key pools' load and cooldowns, the routers' breakers, latencies and session affinity, and the
   * dashboard's figures; with a store, their shared state stays in it.
   *
   * @example
   * ```ts
   * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
   * import { Effect } from "effect"
   * import { Gateway, ProviderConfig, UndiciHttpClient } from "effect-llm-router"
   *
   * const read = ProviderConfig.load("provider.json").pipe(
   *   Effect.map(ProviderConfig.gatewayConfig),
   *   Effect.provide(NodeFileSystem.layer)
   * )
   * const program = Effect.gen(function*() {
   *   const gateway = yield* Gateway.make({ config: yield* read, source: read })
   *   // Later, once provider.json changed: a file that does not load leaves the running configuration serving.
   *   yield* gateway.reload.pipe(Effect.catch((error) => Effect.logWarning(error.message)))
   *   return yield* Effect.never
   * }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
   * ```
   */
  readonly reload: Effect.Effect<void, SourceError | OptionsError>
}

/**
 * @since 0.2.0
 * @category Tags
 */
export class Gateway extends Context.Service<Gateway, Service>()("effect-llm-router/Gateway") {}

/**
 * The gateway could not listen on its address.
 *
 * @since 0.2.0
 * @category Errors
 */
export class GatewayStartError extends Schema.TaggedError<GatewayStartError>()("GatewayStartError", {
  description: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The gateway could not listen: ${this.description}. Choose another port, or 0 for a free one.`
  }
}

const startError = (description: string, cause: unknown) => new GatewayStartError({ description, cause })

/**
 * Builds the engine from the configuration and serves it; returns once the gateway serves it. Until then every request
 * is answered 503 with `Retry-After` (docs/gateway.md, "Starting"). Closing the scope stops accepting, lets calls in
 * flight finish within `gracePeriod`, ends the streams still open with an error event, then closes everything. The
 * HTTP server is loaded only here, so a program that imports the library without serving does not load it.

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gateway, ProviderConfig, UndiciHttpClient } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const config = yield* ProviderConfig.fromJson({
 *     openai: [{ model_name: "gpt-4o-mini", api_keys: ["env:OPENAI_API_KEY"] }]
 *   })
 *   const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 4000 })
 *   yield* Effect.log(`OpenAI base URL: ${gateway.url}/v1`)
 *   return yield* Effect.never
 * }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.2.0
 * @category Constructors
 */
export const make = (
  options: Options
): Effect.Effect<
  Service,
  OptionsError | GatewayStartError | DatabaseError,
  HttpClient.HttpClient | Scope.Scope
> =>
  Effect.flatMap(
    Effect.promise(() => import("./internal/gateway/server.js")),
    (internal) => internal.make(options, startError)
  )

/**
 * The gateway as a layer: serving while the layer is alive.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { Gateway, ProviderConfig, UndiciHttpClient } from "effect-llm-router"
 *
 * const main = Layer.unwrap(Effect.map(
 *   ProviderConfig.fromJson({ openai: [{ model_name: "gpt-4o-mini", api_keys: ["env:OPENAI_API_KEY"] }] }),
 *   (config) => Gateway.layer({ config: ProviderConfig.gatewayConfig(config) })
 * )).pipe(Layer.provide(UndiciHttpClient.layer()))
 *
 * Layer.launch(main)
 * ```
 *
 * @since 0.2.0
 * @category Layers
 */
export const layer = (
  options: Options
): Layer.Layer<Gateway, OptionsError | GatewayStartError | DatabaseError, HttpClient.HttpClient> =>
  Layer.effect(Gateway, make(options))
