/**
 * The gateway: the library's engine over HTTP, OpenAI- and
 * Anthropic-compatible, so programs in any language (and the official `openai`
 * and `@anthropic-ai/sdk` clients, unchanged) call the models and routers of a
 * `provider.json`.
 *
 * Endpoints: `POST /v1/chat/completions` (streamed as SSE ending in
 * `data: [DONE]`, or not; tools, `response_format`,
 * `stream_options.include_usage`), OpenAI's Responses API over any deployment: `POST /v1/responses` (input
 * items, instructions, function tools, `text.format`, `reasoning`; streamed as its numbered events from
 * `response.created` to `response.completed`, a failure after the start as `response.failed`, or whole as a
 * `response` object; tools other than functions, `web_search`, `mcp`..., go as they came to a model whose
 * deployments all speak the Responses API (`Deployment.api`), their output items back as it gave them, and are 400
 * naming them for any other), `POST /v1/responses/input_tokens` (counted with the library's tokenizer) and
 * `POST /v1/responses/compact` (a conversation compacted by a Responses deployment's own endpoint, or summarised by
 * the model, answered as a `response.compaction` object whose item a later turn on any deployment reads); responses
 * are kept for an hour (`store`, on by default; `responsesTtl`), in memory or, with a store, in its Redis for every
 * instance on it, so a `previous_response_id` continues one on any deployment (a Responses deployment with
 * `store` that answered it, called with the same key, is sent its own id of it and only the new input), and
 * `GET`/`DELETE /v1/responses/{id}` read and delete them; `POST /v1/embeddings` (floats or base64),
 * `GET /v1/models` (and `/v1/models/{name}`), `GET /health` (alive) and `GET /ready` (some deployment
 * can take a call); and Anthropic's `POST /v1/messages` (streamed as its events, or not), whose
 * failures are Anthropic's error JSON and statuses (529 `overloaded_error` for a provider down). A request's `model`
 * names a router of the file's `router` section (which then picks among its deployments), or a deployment
 * (`provider/model_name`), a model or a group, routed over every deployment
 * that serves it. Each deployment's `Llm` is built once, at start, and shared
 * by every name that reaches it.
 *
 * LLM-API-BalancedCall's own endpoints, in its shapes: `POST /llm/chat` (`{ messages, tools?, model? }`,
 * answered `{ "result": text }`; no `model`: balanced over every deployment), `POST /llm/chat/stream` (the
 * text as it comes; a failure ends it with an `[error] {json}` line), `GET /llm/system-load`
 * (`{ load_percent }`) and `GET /llm/system-capacity` (`{ total_max, details }`, keys masked); and
 * `GET /llm/model-load/<deployment>` only with `modelLoadDetails` (or the file's
 * `gateway.model_load_details`). `GET /metrics` is Prometheus text, and `GET /dashboard` a live page
 * (deployments with their breakers, in flight, request and error rates, latency and time-to-first-token
 * quantiles and cost; keys masked with their load and cooldowns) polling `GET /dashboard/data`.
 *
 * Failures are OpenAI's error JSON with the statuses its clients know (under
 * `/v1/messages`, Anthropic's): 400 naming the field of a bad request (nothing
 * is sent), 413 for a body over `maxBodyBytes`, 415 for a POST whose
 * `content-type` is not `application/json`, 404 `model_not_found`, 404 for an
 * unknown path and 405 (with `Allow`) for a known one asked with another
 * method, 400 `context_length_exceeded`, 429 with `Retry-After` (rate limits,
 * keys all cooling down, budgets), 401 when a provider refuses the gateway's
 * key, 503, 504 and 502 for provider failures. A provider failure's answer is
 * in the gateway's words: no deployment name, upstream address or provider
 * request id, which the log line keeps. Paths are matched exactly (case
 * included) once doubled and trailing slashes are dropped.
 * Every response carries `x-request-id`: the client's own when it sent a valid
 * one (at most 128 characters of `[A-Za-z0-9._:-]`), else a fresh UUID. A
 * streamed chat reply's id repeats it (`chatcmpl-<x-request-id>`; on
 * `/v1/messages`, `msg_` and it without its dashes), as does a whole reply's
 * when the provider gave it none.
 * A stream that fails after its first chunk ends with an error event
 * (`data: {"error": ...}`), which the official clients raise, never a clean
 * end. The gateway's routers continue a stream broken after part of the
 * answer went out (`mid_stream: "continue"`, their default): the next
 * deployment's rest of the answer follows in the same stream, whose chunks
 * then name that deployment's model. With `mid_stream: "restart"`, a
 * `Restart` is invisible while nothing of the answer has gone out; after that
 * the stream ends with an error event (code `stream_restarted`), as does a
 * continuation that cannot be made, with its error. A client that goes away
 * interrupts its call at once, freeing the upstream request, its key and its
 * permit.
 *
 * Gateway keys (`Options.keys`, or the file's `gateway` section) are asked of
 * every request but `/health`, `/ready`, the dashboard's page and the admin
 * endpoints, as `Authorization: Bearer <key>` or
 * `x-api-key`: kept only as SHA-256 digests, compared in constant time, each
 * limited to its models (403 `model_not_allowed` otherwise; `/v1/models` lists
 * only those), its own rate limit and its budget (429). No or a wrong key is
 * 401 `invalid_api_key`. The admin endpoints (`/metrics`, `/dashboard/data`,
 * `model-load`, `POST /admin/reload`, `/admin/spend`, `/admin/requests`, the keys and teams of `/admin/`) take an
 * admin key (`Options.adminKeys`) instead, 403 `admin_key_required` otherwise: a gateway without admin keys refuses
 * them to every caller (`serve` makes one, its data directory's `admin-token`); with `Keys.oidc`, people signed in
 * (the dashboard's session, or the identity provider's access token) may have them too, as their roles allow
 * (docs/identity.md), and an admin key is the break-glass path, logged at each use. Whether requests need a key is
 * decided by the configuration and what was ever made, not by the keys alive now: gateway keys configured, or a
 * key ever made at run time (revoked or not), or a gateway served beyond loopback or sharing its limits through a
 * store, unless `Keys.allowKeyless` (`Service.keysRequired`); a gateway that needs keys and could never have one does
 * not start. With a store and a SQLite database, keys and teams made at run time are refused (409
 * `shared_database_required`): the other instances would not know them (docs/store.md's recipe keeps them in
 * Postgres). Every request passes one guard
 * first, whatever the keys, in every configuration served: a gateway listening on loopback refuses (403
 * `host_not_allowed`) a request whose `Host` is not its own loopback name (`localhost`, `127.0.0.1` or `[::1]`,
 * with its port or without), so a web page cannot reach it through DNS rebinding; a request that may change
 * something (not GET or HEAD) from a page of another origin (its `Origin`, or `Sec-Fetch-Site` other than
 * `same-origin` or `none`) is refused (403 `cross_origin_request`), and one whose body is not declared JSON is a
 * 415, so a page cannot reach it by a cross-site form or `fetch` either.
 * Prompt caching: a `/v1/messages` block's `cache_control` (with its `ttl`) is carried to Anthropic deployments (as a
 * `cachePoint` with its `ttl` to Bedrock ones), and
 * the `prompt_cache_key` of `/v1/chat/completions` and `/v1/responses` to OpenAI's Chat Completions (not a preset's
 * server) and Responses deployments; other deployments are sent neither. Every answer reports the cache in its API's
 * usage shape (`prompt_tokens_details.cached_tokens`, `input_tokens_details.cached_tokens`,
 * `cache_read_input_tokens` and `cache_creation_input_tokens` with `cache_creation` by lifetime,
 * `cachedContentTokenCount`), its cost prices reads and writes apart (`Pricing.cost`), a budget reserves a prompt
 * with a breakpoint at its write premium, and `/metrics` counts the tokens in
 * `llm_gateway_cache_tokens_total{model,operation}` (`read`, `write`).
 * With `logRequests`, each request is logged once (`Effect.logInfo`, annotated
 * with its id, key name, model, deployment, status, latency, tokens (cache reads and writes included) and cost),
 * never a key.
 * The same record of each call is also a row of the request log, in the `database` when the gateway has one, else in
 * its memory for its life, within the same bounds (time, key, team, model asked,
 * deployment that answered, status, tokens in, out and cached, cost, latency, time to first token, error tag; the
 * request's body and reply text only with `logPayloads`, every key in them masked), written in batches by a fiber
 * of its own so that a slow or unreachable database never delays or fails a call (a row it cannot take is dropped
 * and counted in `llm_gateway_request_log_dropped_total`), written out on shutdown, and deleted once older than
 * `requestLogRetention`. Two admin endpoints read it: `GET /admin/spend?group_by=key|team|model|deployment&from=&to=`
 * (calls, cost and tokens per group; `bucket=hour|day` per hour or day) and `GET /admin/requests?key=&team=&model=
 * &status=&limit=&cursor=` (newest first, a page of at most 500 rows, `next_cursor` for the next); the dashboard
 * charts spend over time from it. With a store, every instance on it shares each key's rate limit
 * and budget (under `gateway-key/<name>`).
 * `POST /admin/reload` (with `content-type: application/json`) reads the configuration again and serves it
 * (`Service.reload`): 200 `{ "status": "reloaded", "models": [...] }`, or 400 `invalid_configuration` with the
 * refusal's message, the running configuration left serving.
 *
 * With a `database`, admin keys make keys and teams at run time (`POST/GET /admin/keys`, `GET/PATCH/DELETE
 * /admin/keys/{id}`, `POST /admin/keys/{id}/rotate`, `POST/GET /admin/teams`, `GET/PATCH/DELETE /admin/teams/{id}`;
 * provider.json's keys listed read-only); a key is shown once and kept as its SHA-256. A key made, changed or revoked
 * is in force on its instance at once and on every other instance on the database within about half a second. Its
 * spend, its team's, and (on Postgres, or without a store) provider.json keys' budgets are kept in the database's
 * ledger: reserved before a call, charged after, never passed across instances, kept over restarts. While the
 * database does not answer, a call that needs it is refused with 503 `database_unavailable`.
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
   * The MCP tools it may list and call (`Key.tools`: qualified names and globs); `undefined`: none (an admin key's
   * too).
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
   * of the challenge and the TCP connection the request came on, both its ends), so that a program on this machine
   * can tell it, on the connection it made, from another process on the address or between, before sending a
   * credential on that connection. `serve` gives its data directory's admin token, which `keys`, `teams`, `spend` and
   * `audit` check so before sending it. Give a secret of 256 random bits; none: the route answers 404.
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
   * budgets (under `gateway-key/<name>`), in place of the config's `store`: a connected `Store` (shared
   * with the program's own code) or its options; connected once for all of them. Default: the config's `store`.
   */
  readonly store?: Store.Store | Store.Options | undefined
  /**
   * How long `/v1/responses` keeps a stored response (`store`, on by default) for `previous_response_id` and
   * `GET`/`DELETE /v1/responses/{id}`: in memory, or, with a store, in its Redis (with Redis' expiry), where every
   * instance on it reads the same responses. Default: the config's (`Keys.responsesTtl`, provider.json's
   * `gateway.responses_ttl`), else one hour.
   */
  readonly responsesTtl?: Duration.Input | undefined
  /** Where keys made at run time, spend and the request log are kept, in place of the config's `database`. */
  readonly database?: Database | undefined
  /**
   * With a database, whether the request log keeps each call's request body and reply text, every key the gateway
   * knows masked in them (its gateway and admin keys, the provider keys, the key the request came with). Default: the
   * config's `keys.logPayloads` (a file's `gateway.log_payloads`), else `false`: a row holds no prompt and no reply.
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
   * with what the credential said (never a secret), as `GET /ready` lists them: the gateway answers their calls 503
   * `credential_unavailable`. Each credential is asked as a call would ask it (a token held while fresh is not); one
   * that
   * gave nothing is asked again only after 5 seconds (on the `Clock`), so `/ready` answers at once.
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
  /** Whether `key` is one of the admin keys (compared by digest, in constant time). */
  readonly isAdmin: (key: Redacted.Redacted<string>) => boolean
  /**
   * Reads the configuration again (`Options.source`), builds it whole (deployments, routers, keys) and serves it in
   * place of the running one; calls in flight finish on the deployments they started on, whose resources are closed
   * once the last of them ends. A configuration that cannot be read or built is refused whole (its
   * `ProviderConfigError` or `OptionsError`), as is one that would change the store or the database (they take a
   * restart) or leave a gateway that needs keys (`keysRequired`) without a way to have one; the running configuration
   * then stays. Each reload is
   * logged (`Effect.logInfo`, or `Effect.logWarning` with the refusal's message). One reload runs at a time.
   *
   * What carries over: each gateway key's budget (its spend and its calls in flight, never given back: a key whose
   * limit or period changed starts its new budget charged with what the old one spent and holds), its rate limiter
   * while its rate limit is the same, the metrics and the stored responses. What starts afresh in memory: the key
   * pools' load and cooldowns, the routers' breakers, latencies and session affinity, and the dashboard's figures;
   * with a store, their shared state stays in it.
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
 * Builds the engine from the configuration and serves it; returns once the
 * gateway serves it. From the moment its port is bound until then (with MCP
 * servers, until each answered or had its 10 seconds) every request is
 * answered at once, 503 with `Retry-After`, `/health` and `/ready` as
 * `{"status":"starting"}` (docs/gateway.md). Closing the scope stops
 * accepting, lets calls in flight finish within `gracePeriod`, ends the
 * streams still open with an error event, then closes everything. The server
 * (`NodeHttpServer`, `effect/http`'s router) is loaded only here, so a program
 * that imports the library without serving does not load it.
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
