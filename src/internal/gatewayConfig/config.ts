/**
 * What a gateway serves, as plain records (`Gateway.Config`). Declared below both the reader that writes them
 * (`ProviderConfig.gatewayConfig`) and the gateway that reads them; `Gateway` exports them under these names.
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Redacted from "effect/Redacted"
import type * as Budget from "../../Budget.js"
import type * as Guardrail from "../../Guardrail.js"
import type { OptionsError } from "../../OptionsError.js"
import type * as Router from "../../Router.js"
import type * as Store from "../../Store.js"
import type { Database } from "../persistence/database.js"

// Where the gateway's database is: declared with the database it describes.
export type { Database } from "../persistence/database.js"

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
   * The MCP tools it may list and call at `/mcp`: qualified names (`files__read`) or globs (`calc__*`, `*`).
   * Deny by default: a key without `tools` sees none (docs/mcp.md).
   *
   * @since 0.3.0
   */
  readonly tools?: ReadonlyArray<string> | undefined
  /**
   * `Config.guardrails` its calls run besides the gateway's, model's and router's (the union; docs/guardrails.md).
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
  /** Its own token bucket: bursts of `capacity` requests, `refillRate` a second after. Default: none. */
  readonly rateLimit?: { readonly capacity: number; readonly refillRate: number } | undefined
  /**
   * US dollars per `period`. Each call reserves its worst case first (prompt estimate plus `max_tokens`, else
   * `defaultMaxTokens`, default 4,096, at the highest price its model can reach) and is charged its real cost after,
   * so the limit is never passed. Every model the key may call needs a price. Default: no limit.
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
  /** `request_log_max_rows`: past it, the oldest rows are deleted. Default 100,000. */
  readonly requestLogMaxRows?: number | undefined
  /** `request_log_max_bytes` (a row counts its text and 160 bytes): past it, the oldest go. Default 256 MiB. */
  readonly requestLogMaxBytes?: number | undefined
  /**
   * Bytes of kept responses (`responses_max_bytes`; body plus whole conversation as JSON, an image its whole data
   * URL): past it, the least recently used go first (in Redis, the oldest). Keep it well below Redis' `maxmemory`: a
   * full Redis refuses every write, every key's limits and budgets with them. Default 64 MiB.
   */
  readonly responsesMaxBytes?: number | undefined
  /**
   * Bytes of one key's kept responses (`responses_max_key_bytes`), so no key fills the store for the others.
   * Default: a quarter of `responsesMaxBytes`, and at least `responsesMaxResponseBytes`.
   *
   * @since 0.3.0
   */
  readonly responsesMaxKeyBytes?: number | undefined
  /**
   * `responses_max_response_bytes`: a larger response is answered but not kept, and continuing a conversation past
   * it is refused (400). Default 4 MiB.
   */
  readonly responsesMaxResponseBytes?: number | undefined
  /** `responses_max_chain`: continuing a `previous_response_id` chain past it is refused (400). Default 100. */
  readonly responsesMaxChain?: number | undefined
  /**
   * Open WebSockets on `/v1/responses` (Codex's WebSocket mode) per key per instance (`responses_sockets_max_key`;
   * without keys, all of them): one more is refused (429 `too_many_websockets`) before its handshake. Default 16.
   *
   * @since 0.3.0
   */
  readonly responsesSocketsMaxKey?: number | undefined
  /**
   * `responses_socket_idle`: a `/v1/responses` WebSocket idle this long is closed (1000, naming the setting); the
   * client opens another when it needs one. Default: ten minutes.
   *
   * @since 0.3.0
   */
  readonly responsesSocketIdle?: Duration.Input | undefined
  /**
   * `mcp_sessions_max`: past it, a new session replaces the least recently used idle one (no request for a minute),
   * else is refused (429). Default 5,000.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMax?: number | undefined
  /**
   * `mcp_sessions_max_key`: as `mcpSessionsMax`, within one key's sessions. Default 100.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMaxKey?: number | undefined
  /**
   * `mcp_sessions_max_bytes`: as `mcpSessionsMax`, by bytes (a record counts its client's revision, capabilities
   * and identity, its id, path and key, and 64 bytes). Default 16 MiB.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMaxBytes?: number | undefined
  /**
   * `mcp_sessions_max_key_bytes`: as `mcpSessionsMaxKey`, by bytes. Default 1 MiB.
   *
   * @since 0.3.0
   */
  readonly mcpSessionsMaxKeyBytes?: number | undefined
  /**
   * `request_body_timeout_seconds`: a request whose headers and body take longer is answered 408 and its connection
   * closed (headers alone have 10 seconds at most). Taken at start. Default 30.
   */
  readonly requestBodyTimeoutSeconds?: number | undefined
  /**
   * `affinity_max_sessions`: pinned sessions per router unless its `affinity.maxSessions` says; past it, the least
   * recently answered goes. Pins are keyed by the session's SHA-256 digest. Default 10,000.
   */
  readonly affinityMaxSessions?: number | undefined
  /**
   * `hosted_tools`: what a `/v1/responses` request's OpenAI-run tools (`web_search`, `file_search`, ...) do when its
   * model reaches another API: `"omit"` drops them, named in `x-omitted-tools` and the log line, refusing (400) only
   * when `tool_choice` requires one; `"refuse"` refuses (400) every such request. Default `"omit"`.
   *
   * @since 0.3.0
   */
  readonly hostedTools?: HostedTools | undefined
  /**
   * `allow_keyless`: lets a keyless gateway answer without a key beyond loopback or on a shared store. Without it,
   * such a gateway answers only keyed requests and does not start if it could never have a key; on loopback without
   * a store it answers keyless until it has keys. Default `false`.
   *
   * @since 0.3.0
   */
  readonly allowKeyless?: boolean | undefined
  /**
   * `Config.guardrails` every chat call and MCP tool call runs. Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
  /**
   * OpenID Connect sign-on for the dashboard (authorization code with PKCE, server-side session) and the admin API
   * (the issuer's access tokens), roles from groups and `/admin/grants` (docs/identity.md). Admin keys stay `admin`
   * as the break-glass path, logged at each use. Needs `openid-client` and `jose`. Default: none.
   *
   * @since 0.3.0
   */
  readonly oidc?: Oidc | undefined
  /**
   * Where the audit log's head is also written (`gateway.audit`; docs/identity.md, "Anchoring the head"), so
   * `audit verify --anchor` finds a chain rewritten whole. Needs a database; taken at start. Default: none.
   *
   * @since 0.3.0
   */
  readonly auditAnchor?: AuditAnchor | undefined
  /**
   * `gateway.audit.retention` (docs/identity.md, "Retention"): hourly, older rows are deleted and the chain verified
   * from the last one deleted (its base), first written to the anchor marked a base, so `audit verify --anchor`
   * catches a chain starting anywhere else. Needs a database. Default 365 days.
   *
   * @since 0.3.0
   */
  readonly auditRetention?: Duration.Input | undefined
  /**
   * `token_callers` (docs/identity.md): lets an API call present an issuer's access token instead of a gateway key,
   * checked as the admin API checks tokens; its team claim names a run-time team whose budget, tools and guardrails
   * apply, and the call is recorded under person and team. Needs a `database` and `openid-client` and `jose`.
   *
   * @since 0.3.0
   */
  readonly tokenCallers?: ReadonlyArray<TokenCallers> | undefined
}

/**
 * The callers one issuer's tokens may be (`gateway.token_callers`). Optional per-person limits: `rateLimit` counted
 * per user claim in the gateway's key-limiter store, so instances on a shared store share one bucket; `budget`
 * charged under the person beside their team's (a call must fit both; models need a price). Without a budget a
 * person's spend is still counted, against no limit.
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
   * Team-claim value to run-time team; of several mapped values, the first. A token with none mapped is refused
   * (401); one mapped to a missing team, 403 naming it.
   */
  readonly teams: Readonly<Record<string, string>>
  /** The router, deployment, model or group names these callers may use. Default: every name. */
  readonly models?: ReadonlyArray<string> | undefined
  /**
   * As `Oidc.maxTokenLifetime`. Default 24 hours.
   *
   * @since 0.3.0
   */
  readonly maxTokenLifetime?: Duration.Input | undefined
}

/**
 * Where and how often the audit log's head is written: a JSON line (`{"at":...,"kind":"head","seq":12,"digest":...}`)
 * at start, every `every` while the head moves, and at shutdown (also logged as `audit_head`); plus each base that
 * retention cuts the chain at (`"kind":"base"`), the only point the chain may start after.
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
 * An OpenID Connect identity provider for the admin side (docs/identity.md has Keycloak, Entra ID, Google and Okta).
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
   * The admin API's own audience, never `clientId` or `cliClientId` (an ID token's audience is its client, so such a
   * value is refused). Default: none, and the admin API takes no token.
   */
  readonly audience?: string | undefined
  /** The scopes asked for at sign-in. Default `["openid", "email", "profile"]`. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** The claim that names a person (grants name them by it). Default `"email"`. */
  readonly userClaim?: string | undefined
  /** The claim listing a person's groups. Default `"groups"`. */
  readonly groupsClaim?: string | undefined
  /** Role (`admin`, `team_admin:<team>`, ...) to the groups holding it. Default: none (grants alone). */
  readonly roles?: Readonly<Record<string, ReadonlyArray<string>>> | undefined
  /** How long a dashboard session lasts before signing in again. Default 8 hours. */
  readonly sessionTtl?: Duration.Input | undefined
  /**
   * Refused (401): a token whose `exp` is further than this from its `iat`, issued longer ago, or issued more than 30
   * seconds ahead of the gateway's clock. Default 24 hours.
   *
   * @since 0.3.0
   */
  readonly maxTokenLifetime?: Duration.Input | undefined
  /**
   * Where the issuer sends a browser back. Default: `/admin/callback` on the sign-in's host and scheme
   * (`x-forwarded-proto` read).
   */
  readonly redirectUrl?: string | undefined
  /**
   * The CLI's public client (device authorization grant), published by `GET /admin/oidc` so `login --url` needs
   * nothing more. Default: none (`login --client-id`).
   *
   * @since 0.3.0
   */
  readonly cliClientId?: string | undefined
}

/**
 * What happens to a Responses request's OpenAI-run tools when its model reaches another API.
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
   * `Config.guardrails` its calls run besides its deployments'. Default: none.
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
   * Its `provider.json` `api`: `/v1/responses` passes OpenAI-run tools only to a model whose every deployment speaks
   * `"responses"`. Default: unknown, treated as not `"responses"`.
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
   * `Config.guardrails` a call that may reach it runs; a name served by several deployments runs the union, since the
   * chain is chosen before the router picks. Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?: ReadonlyArray<string> | undefined
}

/**
 * An MCP server whose tools the gateway serves at `/mcp` as `<server>__<tool>` and at `/mcp/<server>` by their own
 * names (docs/mcp.md).
 *
 * @since 0.3.0
 * @category Models
 */
export type McpServer = McpHttpServer | McpStdioServer

/**
 * An MCP server's calls governed as a deployment's: a price reserved from the caller's budget and settled after, and
 * its own `RateLimiter` (docs/mcp.md).
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
   * `Config.guardrails` its tool calls run (`toolArguments`, `toolResult`) besides the gateway's, key's and team's
   * (the union; docs/guardrails.md). Default: none.
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
  /** `"2025-11-25"` (sessions from `initialize`, the default) or `"2026-07-28"` (stateless). */
  readonly protocol?: "2025-11-25" | "2026-07-28" | undefined
  /** A reply past it fails the call naming the bound. Default 4 MiB. */
  readonly maxReplyBytes?: number | undefined
  /** How long a call may take before it is cancelled and fails naming the bound. Default: 60 seconds. */
  readonly callTimeout?: Duration.Input | undefined
  /**
   * Pings find a server that went down while idle: one not answering within 10 seconds (or the interval, if shorter)
   * is reopened with backoff and listed again. Zero turns pings off. Default: 30 seconds.
   *
   * @since 0.3.0
   */
  readonly pingInterval?: Duration.Input | undefined
}

/**
 * OAuth 2.0 client credentials (RFC 6749, section 4.4) for an HTTP MCP server's bearer token: held until shortly
 * before it expires, and asked again after a 401.
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
 * An MCP server run as a child process over stdio: stopped with the gateway (input closed, then SIGTERM), restarted
 * with backoff when it exits, its stderr logged line by line.
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
   * These variables, and of the gateway's own only `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`, `TERM`, `LANG`,
   * `TMPDIR` and `TZ` (never its keys).
   */
  readonly env?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** The names of its tools the gateway takes (globs as `Key.tools`' of its own names). Default: every tool. */
  readonly tools?: ReadonlyArray<string> | undefined
}

/**
 * What a gateway serves, as plain records (`ProviderConfig.gatewayConfig` reads them from a `provider.json`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface Config {
  /** Built on `store`, the gateway's one store connection. One router serves them all by name; at least one needed. */
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
   * By name (letters and digits, single `-` or `_` between them). Default: none.
   *
   * @since 0.3.0
   */
  readonly mcpServers?: Readonly<Record<string, McpServer>> | undefined
  /**
   * By name, each built at start and each reload on the gateway's `HttpClient`. A chat call runs the union of those
   * named for the gateway, its deployments, router, key and team (docs/guardrails.md). Default: none.
   *
   * @since 0.3.0
   */
  readonly guardrails?:
    | Readonly<Record<string, Effect.Effect<Guardrail.Guardrail, OptionsError, HttpClient.HttpClient>>>
    | undefined
}
