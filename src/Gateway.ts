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
import type * as Budget from "./Budget.js"
import type * as Guardrail from "./Guardrail.js"
import type { Database, DatabaseError } from "./internal/persistence/database.js"
import type { OptionsError } from "./OptionsError.js"
import type * as Router from "./Router.js"
import type * as Store from "./Store.js"

// Where the gateway's database is, and its failure at start: declared with the database they describe.
export { type Database, DatabaseError } from "./internal/persistence/database.js"

/**
 * The port the gateway listens on unless told otherwise.
 *
 * @since 0.2.0
 * @category Constants
 */
export const defaultPort = 4000

/**
 * A key clients call the gateway with, and what it may do.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Key {
  /** Names the key in logs and status (never the key itself). */
  readonly name: string
  readonly key: Redacted.Redacted<string>
  /** The router, deployment, model or group names it may call. Default: every name. */
  readonly models?: ReadonlyArray<string> | undefined
  /**
   * The MCP tools it may list and call at `/mcp` (`Config.mcpServers`): qualified names (`files__read`) or globs of
   * them, `*` standing for any run of characters (`calc__*`, `*`). Deny by default: a key without `tools` sees none
   * (docs/mcp.md).
   *
   * @since 0.3.0
   */
  readonly tools?: ReadonlyArray<string> | undefined
  /**
   * The names of `Config.guardrails` its calls run besides the gateway's, their model's and their router's (the chain
   * is the union; docs/guardrails.md). Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
  /** Its own token bucket: bursts of `capacity` requests, `refillRate` a second after. Default: none. */
  readonly rateLimit?: { readonly capacity: number; readonly refillRate: number } | undefined
  /**
   * US dollars it may spend per `period` (`Budget.Period`). Each call reserves its worst case before it is sent
   * (the prompt's estimate plus `max_tokens`, or embeddings' inputs, at the highest price among the deployments its
   * model can reach) and is charged its real cost after, so the limit is never passed; a request without `max_tokens`
   * is sent with `defaultMaxTokens` (default 4,096). Every model the key may call needs a price. Default: no limit.
   */
  readonly budget?: {
    readonly limit: number
    readonly period: Budget.Period
    readonly defaultMaxTokens?: number | undefined
  } | undefined
}

/**
 * A key for the gateway's admin endpoints.
 *
 * @since 0.3.0
 * @category Models
 */
export interface AdminKey {
  readonly name: string
  readonly key: Redacted.Redacted<string>
}

/**
 * The keys of a gateway, as the file's `gateway` section gives them.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Keys {
  readonly keys: ReadonlyArray<Key>
  readonly adminKeys: ReadonlyArray<AdminKey>
  /** Whether `GET /llm/model-load/<model>` is served (to admin keys; keys masked). Default `false`. */
  readonly modelLoadDetails?: boolean | undefined
  /** Whether the request log keeps each call's request body and reply text (`Options.logPayloads`). Default `false`. */
  readonly logPayloads?: boolean | undefined
  /** How long the request log keeps its rows (`Options.requestLogRetention`). Default 30 days. */
  readonly requestLogRetention?: Duration.Input | undefined
  /** How long responses are kept (`responses_ttl`); `Options.responsesTtl` overrides it. Default: one hour. */
  readonly responsesTtl?: Duration.Input | undefined
  /**
   * How many rows the request log keeps at most (`request_log_max_rows`): past it, the oldest are deleted. Default
   * 100,000.
   */
  readonly requestLogMaxRows?: number | undefined
  /**
   * How many bytes of rows the request log keeps at most (`request_log_max_bytes`; a row counts its text and 160
   * bytes): past it, the oldest are deleted. Default 256 MiB.
   */
  readonly requestLogMaxBytes?: number | undefined
  /**
   * How many bytes of responses are kept at most (`responses_max_bytes`; a response counts its body and its whole
   * conversation as JSON, an image its whole data URL), in memory or Redis: past it, the least recently used go first
   * (in Redis, the oldest). With a store, keep it well below Redis' `maxmemory`: a full Redis refuses every write, the
   * limits and budgets of every key with them. Default 64 MiB.
   */
  readonly responsesMaxBytes?: number | undefined
  /**
   * How many bytes of one gateway key's responses are kept at most (`responses_max_key_bytes`), in memory or Redis:
   * past it, that key's own least recently used go first (in Redis, its oldest), so no key fills the store for the
   * others. Default: a quarter of `responsesMaxBytes`, and at least `responsesMaxResponseBytes`.
   *
   * @since 0.3.0
   */
  readonly responsesMaxKeyBytes?: number | undefined
  /**
   * How many bytes one kept response takes at most (`responses_max_response_bytes`), in memory or Redis: a larger one
   * is answered but not kept, and a request that would continue a conversation past it is refused (400). Default
   * 4 MiB.
   */
  readonly responsesMaxResponseBytes?: number | undefined
  /**
   * How many responses one chain of `previous_response_id`s holds at most (`responses_max_chain`): a request that
   * would continue it further is refused (400). Default 100.
   */
  readonly responsesMaxChain?: number | undefined
  /**
   * How many WebSockets on `/v1/responses` (the Responses API's WebSocket mode, as Codex opens it) one gateway key
   * holds open at once on an instance (`responses_sockets_max_key`; without keys, all of them): one more is refused
   * (429 `too_many_websockets`) before its handshake. Default 16.
   *
   * @since 0.3.0
   */
  readonly responsesSocketsMaxKey?: number | undefined
  /**
   * How long a WebSocket on `/v1/responses` may wait for its next frame (`responses_socket_idle`: seconds or a
   * duration) before the gateway closes it (1000, naming the setting); a client opens another when it needs one.
   * Default: ten minutes.
   *
   * @since 0.3.0
   */
  readonly responsesSocketIdle?: Duration.Input | undefined
  /**
   * How many MCP sessions the gateway keeps at most (`mcp_sessions_max`), in its database or its memory: a new one
   * past it takes the place of the least recently used idle one (no request for a minute), else is refused (429).
   * Default 5,000.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMax?: number | undefined
  /**
   * How many MCP sessions one gateway key keeps at most (`mcp_sessions_max_key`): a new one past it takes the place of
   * that key's least recently used idle one, else is refused (429). Default 100.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMaxKey?: number | undefined
  /**
   * How many bytes of MCP sessions' records the gateway keeps at most (`mcp_sessions_max_bytes`; a record counts its
   * client's `initialize` revision, capabilities and identity, its id, path and key, and 64 bytes), as
   * `mcpSessionsMax` does its count. Default 16 MiB.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMaxBytes?: number | undefined
  /**
   * How many bytes of one gateway key's MCP sessions' records the gateway keeps at most (`mcp_sessions_max_key_bytes`),
   * as `mcpSessionsMaxKey` does its count. Default 1 MiB.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMaxKeyBytes?: number | undefined
  /**
   * How many seconds a request has to arrive in, its headers and its whole body (`request_body_timeout_seconds`):
   * past it, it is answered 408 and its connection closed (its headers alone have 10 seconds at most). Taken at
   * start. Default 30.
   */
  readonly requestBodyTimeoutSeconds?: number | undefined
  /**
   * How many sessions each of the gateway's routers keeps pinned in memory at most (`affinity_max_sessions`), unless
   * its own `affinity.maxSessions` says: past it, the least recently answered goes first. Each pin is kept under its
   * session's SHA-256 digest. Default 10,000.
   */
  readonly affinityMaxSessions?: number | undefined
  /**
   * What a `/v1/responses` request's tools that OpenAI runs itself (`web_search`, `file_search`, `code_interpreter`,
   * `image_generation`, `mcp`) do when its model reaches deployments of another API (`hosted_tools`): `"omit"` leaves
   * them out, naming them in the answer's `x-omitted-tools` header and the request's log line (the model answers
   * without them), and refuses (400) only a request whose `tool_choice` requires one; `"refuse"` refuses (400) every
   * request with one. Default `"omit"`.
   *
   * @since 0.3.0
   */
  readonly hostedTools?: HostedTools | undefined
  /**
   * Whether a gateway without gateway keys answers requests without a key even where it otherwise would not
   * (`allow_keyless`): listening beyond loopback, or sharing its limits with other instances through a store. Without
   * it, such a gateway answers only requests with a key (listed, or made at run time) and does not start when it
   * could never have one. A gateway on loopback without a store answers without a key either way, until it has keys.
   * Default `false`.
   *
   * @since 0.3.0
   */
  readonly allowKeyless?: boolean | undefined
  /**
   * The names of `Config.guardrails` every chat call and MCP tool call runs (`guardrails` of the `gateway` section).
   * Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
  /**
   * Sign-on for the dashboard and the admin API with an OpenID Connect identity provider (`oidc`; docs/identity.md):
   * people sign in to the dashboard (the authorization-code flow with PKCE, a server-side session) and call the admin
   * API with the issuer's access tokens, each with the roles their groups map to and those granted through
   * `/admin/grants`. Admin keys stay `admin` beside it (the break-glass path, logged at each use). It needs the
   * optional packages `openid-client` and `jose`. Default: none (admin keys only).
   *
   * @since 0.3.0
   */
  readonly oidc?: Oidc | undefined
  /**
   * Where the audit log's head is written outside the database (provider.json's `gateway.audit`; docs/identity.md,
   * "Anchoring the head"), for `audit verify --anchor` to find a chain rewritten whole. Needs a database; taken at
   * start. Default: none.
   *
   * @since 0.3.0
   */
  readonly auditAnchor?: AuditAnchor | undefined
  /**
   * How long the audit log keeps its rows (provider.json's `gateway.audit.retention`; docs/identity.md, "Retention"):
   * once an hour, the rows older than it are deleted, the chain then verified from the last row deleted (its base),
   * which is first written to the anchor when there is one, marked a base, so `audit verify --anchor` finds a chain
   * that starts anywhere else. Needs a database. Default 365 days.
   *
   * @since 0.3.0
   */
  readonly auditRetention?: Duration.Input | undefined
  /**
   * Callers by token (`token_callers`; docs/identity.md): an API call may present, instead of a gateway key, an access
   * token of one of these issuers (`Authorization: Bearer <JWT>`, or `x-api-key`), checked as the admin API checks
   * its tokens (the issuer's published keys, the issuer, the audience, the expiry); its team claim names a team made
   * at run time, whose budget, tools and guardrails the call has, and the call is recorded under the person and the
   * team. It needs a `database` (teams are made there) and the optional packages `openid-client` and `jose`.
   * Default: none (gateway keys only).
   *
   * @since 0.3.0
   */
  readonly tokenCallers?: ReadonlyArray<TokenCallers> | undefined
}

/**
 * The callers one issuer's tokens may be (`Keys.tokenCallers`, provider.json's `gateway.token_callers`), each person
 * with their own limits when given, as a key's: `rateLimit` a token bucket (`rate_limit_capacity`,
 * `rate_limit_refill_rate`) counted per person (their user claim) in the store the gateway keeps its keys' limiters in,
 * so every instance on a shared store counts one bucket; `budget` charged in the database's ledger under the person,
 * beside their team's budget (a call must fit both; every model these callers may use needs a price). Default: neither
 * (a person's spend still counted, against no limit).
 *
 * @since 0.3.0
 * @category Models
 */
export interface TokenCallers extends Pick<Key, "rateLimit" | "budget"> {
  /** The issuer's URL, whose `/.well-known/openid-configuration` is read (https, or http on loopback only). */
  readonly issuer: string
  /** The audience a caller's token must name (this gateway's API, at that issuer). */
  readonly audience: string
  /** The claim that names the person (the request log's and spend's key name). Default `"email"`. */
  readonly userClaim?: string | undefined
  /** The claim whose value (a string, or a list of them) maps to a team through `teams`. Default `"groups"`. */
  readonly teamClaim?: string | undefined
  /**
   * Each value of the team claim and the name of the team made at run time it maps to; of a token whose claim holds
   * several mapped values, the first one's. A token none of whose values is mapped is refused (401), and one mapped to
   * a team that does not exist (403, naming it).
   */
  readonly teams: Readonly<Record<string, string>>
  /** The router, deployment, model or group names these callers may use. Default: every name. */
  readonly models?: ReadonlyArray<string> | undefined
  /**
   * The longest a caller's token may live, as `Oidc.maxTokenLifetime`. Default 24 hours.
   *
   * @since 0.3.0
   */
  readonly maxTokenLifetime?: Duration.Input | undefined
}

/**
 * Where and how often the gateway writes its audit log's head (`Keys.auditAnchor`): one JSON line
 * (`{"at":"<ISO time>","kind":"head","seq":12,"digest":"<hex>"}`) appended to `file` at start, every `every` while the
 * head moves, and at shutdown, each also logged as an `audit_head` line; and each base retention cuts the chain at
 * (`"kind":"base"`, with its row's time and the retention), the only point the chain may start after.
 *
 * @since 0.3.0
 * @category Models
 */
export interface AuditAnchor {
  /** The file the heads are appended to (made when missing, readable by its owner only). */
  readonly file: string
  /** How often the head is written while it moves. Default one minute. */
  readonly every?: Duration.Input | undefined
}

/**
 * An OpenID Connect identity provider for the admin side (`Keys.oidc`, provider.json's `gateway.oidc`;
 * docs/identity.md has the set-up of Keycloak, Entra ID, Google and Okta).
 *
 * @since 0.3.0
 * @category Models
 */
export interface Oidc {
  /** The issuer's URL, whose `/.well-known/openid-configuration` is read (https, or http on loopback only). */
  readonly issuer: string
  /** The gateway's client id at the issuer. */
  readonly clientId: string
  /** The client's secret (a confidential client); none for a public client, which PKCE alone protects. */
  readonly clientSecret?: Redacted.Redacted<string> | undefined
  /**
   * The audience an access token must name to reach the admin API: the API's own, never `clientId` or `cliClientId`
   * (an ID token's audience is its client: such a value is refused). Default: none, and the admin API then takes no
   * token (the dashboard's sessions and admin keys only).
   */
  readonly audience?: string | undefined
  /** The scopes asked for at sign-in. Default `["openid", "email", "profile"]`. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** The claim that names a person (grants name them by it). Default `"email"`. */
  readonly userClaim?: string | undefined
  /** The claim listing a person's groups. Default `"groups"`. */
  readonly groupsClaim?: string | undefined
  /**
   * Each role (`admin`, `operator`, `viewer`, `team_admin:<team>`, `team_viewer:<team>`, a team by name or id) and
   * the groups whose members hold it. Default: none (roles then come from grants alone).
   */
  readonly roles?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  /** How long a dashboard session lasts before signing in again. Default 8 hours. */
  readonly sessionTtl?: Duration.Input | undefined
  /**
   * The longest an access token may live: one whose `exp` is further than this from its `iat` is refused (401), and so
   * is one issued longer ago, or issued more than 30 seconds ahead of the gateway's clock. Default 24 hours.
   *
   * @since 0.3.0
   */
  readonly maxTokenLifetime?: Duration.Input | undefined
  /**
   * The URL the issuer sends a browser back to (`/admin/callback` as the issuer's clients reach the gateway). Default:
   * the `/admin/callback` of the host and scheme the sign-in came to (`x-forwarded-proto` read for the scheme).
   */
  readonly redirectUrl?: string | undefined
  /**
   * The command line's client at the issuer (a public client with the device authorization grant, not `clientId`),
   * published by `GET /admin/oidc` with the issuer, audience and scopes, so that `login --url` needs nothing more.
   * Default: none (`login` is then given its client with `--client-id`).
   *
   * @since 0.3.0
   */
  readonly cliClientId?: string | undefined
}

/**
 * What the gateway does with a Responses request's tools that OpenAI runs itself, for a model reaching another API
 * (`Keys.hostedTools`).
 *
 * @since 0.3.0
 * @category Models
 */
export type HostedTools = "omit" | "refuse"

/**
 * A named router of a gateway: the names of its deployments, in order, and its other `Router.Options`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface NamedRouter {
  readonly deployments: ReadonlyArray<string>
  readonly options: Omit<Router.Options, "deployments">
  /**
   * The names of `Config.guardrails` its calls run, besides those of its deployments. Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
}

/**
 * A deployment of a gateway: a router's deployment, and the wire API its provider speaks.
 *
 * @since 0.3.0
 * @category Models
 */
export interface Deployment extends Router.Deployment<OptionsError, HttpClient.HttpClient> {
  /**
   * The API its provider speaks, as a `provider.json` entry's `api` names it: `/v1/responses` passes the tools only
   * OpenAI's Responses API runs (`web_search`, `mcp`...) to a model whose every deployment speaks `"responses"`, and
   * refuses them for any other. Default: unknown, as an API other than `"responses"`.
   */
  readonly api?:
    | "chat-completions"
    | "responses"
    | "anthropic"
    | "gemini"
    | "ollama"
    | "azure"
    | "vertex"
    | "bedrock"
    | undefined
  /**
   * The names of `Config.guardrails` a call that may reach it runs (a name served by several deployments runs the
   * union of theirs: the chain is chosen before the router picks). Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
}

/**
 * An MCP server whose tools the gateway serves at `/mcp`, each as `<server>__<tool>`, and at `/mcp/<server>` under
 * its own names (docs/mcp.md): a Streamable HTTP server (`McpHttpServer`) or a program the gateway runs, speaking
 * over its standard input and output (`McpStdioServer`).
 *
 * @since 0.3.0
 * @category Models
 */
export type McpServer = McpHttpServer | McpStdioServer

/**
 * How an MCP server's calls are governed, as a deployment's are: a price charged to the caller's budget (reserved
 * before the call is sent, settled after, as model spend is), and a `RateLimiter` of its own (docs/mcp.md).
 *
 * @since 0.3.0
 * @category Models
 */
export interface McpGovernance {
  /** US dollars each call of its tools costs, reserved from the key's (and team's) budget. Default: free. */
  readonly pricePerCall?: number | undefined
  /** The most calls of its tools in flight at once; more wait their turn. Default: no cap. */
  readonly maxConcurrency?: number | undefined
  /** A token bucket of its calls (one token a call); a call waits for a token. Default: no limit. */
  readonly rateLimit?: { readonly capacity: number; readonly refillRate: number } | undefined
  /**
   * The names of `Config.guardrails` its tool calls run on their arguments and results (`on`: `toolArguments`,
   * `toolResult`), besides the gateway's and the caller's key's and team's (the chain is the union;
   * docs/guardrails.md). Default: none.
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
}

/**
 * How the gateway speaks to an MCP server and bounds each call (docs/mcp.md).
 *
 * @since 0.3.0
 * @category Models
 */
export interface McpConnection {
  /**
   * The protocol revision it is spoken to in: `"2025-11-25"` (sessions from `initialize`) or `"2026-07-28"`
   * (stateless). Default: `"2025-11-25"`.
   */
  readonly protocol?: "2025-11-25" | "2026-07-28" | undefined
  /**
   * The largest message it may send, in bytes: a reply past it fails the call naming the bound. Default: 4 MiB
   * (4,194,304 bytes).
   */
  readonly maxReplyBytes?: number | undefined
  /** How long a call may take before it is cancelled and fails naming the bound. Default: 60 seconds. */
  readonly callTimeout?: Duration.Input | undefined
  /**
   * How often the gateway pings it while it is up, so a server that went down while nobody called it is found: one
   * that does not answer within 10 seconds (or the interval, when shorter) is down, opened again with backoff and
   * listed again. Zero turns pings off. Default: 30 seconds.
   *
   * @since 0.3.0
   */
  readonly pingInterval?: Duration.Input | undefined
}

/**
 * OAuth 2.0 client credentials (RFC 6749, section 4.4) with which the gateway gets the bearer token an HTTP MCP
 * server takes: asked of `tokenUrl`, held until shortly before it expires, and asked again after a 401.
 *
 * @since 0.3.0
 * @category Models
 */
export interface McpClientCredentials {
  /** The authorization server's token endpoint (`https://auth.example.com/oauth/token`). */
  readonly tokenUrl: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  /** The scope asked for, space-separated. Default: none (the server's default). */
  readonly scope?: string | undefined
}

/**
 * An MCP server reached over Streamable HTTP.
 *
 * @since 0.3.0
 * @category Models
 */
export interface McpHttpServer extends McpGovernance, McpConnection {
  /** Its endpoint, `http://` or `https://` (`http://127.0.0.1:9001/mcp`). */
  readonly url: string
  /** Headers sent with every request to it, its credentials among them: the gateway's, never a caller's. */
  readonly headers?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** Client credentials whose token is sent as `Authorization: Bearer`, the gateway's own. Default: none. */
  readonly oauth?: McpClientCredentials | undefined
  /** The names of its tools the gateway takes (globs as `Key.tools`' of its own names). Default: every tool. */
  readonly tools?: ReadonlyArray<string> | undefined
}

/**
 * An MCP server the gateway runs as a child process and speaks to over its standard input and output: started with
 * the gateway's configuration and stopped with it (closing its input, then SIGTERM), restarted with backoff when it
 * exits, its standard error written to the gateway's log line by line.
 *
 * @since 0.3.0
 * @category Models
 */
export interface McpStdioServer extends McpGovernance, McpConnection {
  /** The program (`node`, `npx`, a path). */
  readonly command: string
  /** Its arguments. Default: none. */
  readonly args?: ReadonlyArray<string> | undefined
  /**
   * Its environment: these variables, and of the gateway's own only `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`,
   * `TERM`, `LANG`, `TMPDIR` and `TZ` (never its keys). Default: only those.
   */
  readonly env?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** The names of its tools the gateway takes (globs as `Key.tools`' of its own names). Default: every tool. */
  readonly tools?: ReadonlyArray<string> | undefined
}

/**
 * What a gateway serves: its deployments and named routers, its store and its keys, as plain records
 * (`ProviderConfig.gatewayConfig` reads them from a `provider.json`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface Config {
  /**
   * Every deployment, its `Llm` built on `store` (the one connection the gateway makes to its store, if any). One
   * router serves them all by deployment, model and group name; at least one is needed.
   */
  readonly deployments: (store: Store.Store | undefined) => Effect.Effect<ReadonlyArray<Deployment>>
  /** Routers addressed by their name, each over some of `deployments`. Default: none. */
  readonly routers?: Readonly<Record<string, NamedRouter>> | undefined
  /** Where instances share the limits, breakers and gateway keys' limits. Default: in memory. */
  readonly store?: Store.Options | undefined
  /** The keys clients call the gateway with. Default: none (the gateway serves loopback only). */
  readonly keys?: Keys | undefined
  /** Where keys made at run time, spend and the request log are kept. Default: none (nothing outlives the process). */
  readonly database?: Database | undefined
  /** The deployments' provider keys: masked wherever a logged payload holds them (`Options.logPayloads`). */
  readonly providerKeys?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  /**
   * The MCP servers whose tools the gateway serves at `/mcp`, by name (letters and digits, single `-` or `_` between
   * them). Default: none.
   *
   * @since 0.3.0
   */
  readonly mcpServers?: Readonly<Record<string, McpServer>> | undefined
  /**
   * The guardrails the gateway's keys, teams, deployments, routers and `keys.guardrails` name, by name, each built when
   * the configuration is (at start and at each reload) on the gateway's `HttpClient`. A chat call runs the union of
   * those named for the gateway, its model's deployments, its router, its key and its key's team
   * (docs/guardrails.md). Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?:
    | Readonly<Record<string, Effect.Effect<Guardrail.Guardrail, OptionsError, HttpClient.HttpClient>>>
    | undefined
}

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
