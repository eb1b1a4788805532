/**
 * What a gateway serves, as plain records: its deployments and named routers, its store, database and keys, its MCP
 * servers and guardrails (`Gateway.Config`). The configuration's reader (`ProviderConfig.gatewayConfig`) writes them
 * and the gateway reads them, so they are declared below both; `Gateway` exports them under these names.
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
