/**
 * The `gateway` section of `provider.json`, read as `Gateway.Keys`: gateway keys (each with its models, rate limit and
 * budget) and admin keys, from the environment (`env:NAME`) or written in the file, and the gateway's settings: the
 * request log's, `/v1/responses`' bounds, session affinity, `allow_keyless`, admin sign-on (`oidc`; docs/identity.md),
 * callers by an issuer's token (`token_callers`) and the audit log's anchor and retention (`audit`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Budget from "../../Budget.js"
import type { Issue } from "../../ProviderConfig.js"
import { periodBounds, periodInBounds } from "../budget/window.js"
import type * as Gateway from "../gatewayConfig/config.js"
import { roleProblem } from "../gatewayConfig/roles.js"
import { definedFields } from "../json.js"
import { HttpUrl, NonEmpty, oneOf, optional, Positive, PositiveInt } from "./fields.js"
import { duration, DurationEntry, toDuration } from "./router.js"

// Seconds, a duration string such as "1 day", or "month" (the UTC calendar month), within a budget's bounds.
const Period = Schema.Union([Schema.Number, Schema.String]).check(
  Schema.makeFilter(
    (value: number | string) => {
      if (value === "month") return true
      const length = toDuration(value)
      return length !== undefined && periodInBounds(Duration.toMillis(length))
    },
    { message: `expected seconds, a duration such as "1 day" (${periodBounds}), or "month"` }
  )
)

// A key's (or a person's) budget: US dollars per period (default "month").
const KeyBudget = Schema.Struct({
  limit: Positive,
  period: optional(Period),
  default_max_tokens: optional(PositiveInt)
})

/** A gateway key of the section, decoded one at a time so that one that does not decode leaves the others read. */
export const KeyEntry = Schema.Struct({
  name: NonEmpty,
  /** `env:NAME`, or the key itself (discouraged: the file then holds a secret). */
  key: NonEmpty,
  /** Router, deployment, model or group names; absent: every name. */
  models: optional(Schema.Array(NonEmpty)),
  /** Qualified MCP tool names or globs of them (`files__read`, `calc__*`); absent: none. */
  tools: optional(Schema.Array(NonEmpty)),
  /** Names of the `guardrails` section its calls run; absent: none of its own. */
  guardrails: optional(Schema.Array(NonEmpty)),
  rate_limit_capacity: optional(Positive),
  rate_limit_refill_rate: optional(Positive),
  /** US dollars per period (default "month"); a request without `max_tokens` goes with `default_max_tokens` (4,096). */
  budget: optional(KeyBudget)
})

/** An admin key of the section, decoded as a gateway key is. */
export const AdminKeyEntry = Schema.Struct({ name: NonEmpty, key: NonEmpty })

// Each role and the groups that hold it: every role named as docs/identity.md's table has them.
const RoleMapping = Schema.Record(Schema.String, Schema.Array(NonEmpty)).check(
  Schema.makeFilter((roles: Readonly<Record<string, ReadonlyArray<string>>>) =>
    Object.keys(roles).flatMap((role) => {
      const problem = roleProblem(role)
      return problem === undefined ? [] : [{ path: [role], issue: problem }]
    })
  )
)

const OidcEntry = Schema.Struct({
  /** The issuer's URL (its discovery document is read below it). */
  issuer: HttpUrl,
  client_id: NonEmpty,
  /** `env:NAME` (or the secret itself, discouraged); absent for a public client. */
  client_secret: optional(NonEmpty),
  /** The audience an access token must name; default the client id. */
  audience: optional(NonEmpty),
  scopes: optional(Schema.Array(NonEmpty)),
  user_claim: optional(NonEmpty),
  groups_claim: optional(NonEmpty),
  roles: optional(RoleMapping),
  /** How long a dashboard session lasts: seconds or a duration. */
  session_ttl: optional(DurationEntry),
  /** The longest an access token may live (its `exp` less its `iat`): seconds or a duration. */
  max_token_lifetime: optional(DurationEntry),
  /** The gateway's `/admin/callback` as the issuer's clients reach it. */
  redirect_url: optional(HttpUrl),
  /** The command line's public client at the issuer (the device grant), published by `GET /admin/oidc`. */
  cli_client_id: optional(NonEmpty)
})

const TokenCallersEntry = Schema.Struct({
  /** The issuer's URL (its discovery document and published keys are read below it). */
  issuer: HttpUrl,
  /** The audience a caller's token must name. */
  audience: NonEmpty,
  user_claim: optional(NonEmpty),
  team_claim: optional(NonEmpty),
  /** Each value of the team claim and the name of the team (made at run time) it maps to. */
  teams: Schema.Record(Schema.String, NonEmpty),
  /** Router, deployment, model or group names; absent: every name. */
  models: optional(Schema.Array(NonEmpty)),
  /** Each person's own rate limit, as a key's. */
  rate_limit_capacity: optional(Positive),
  rate_limit_refill_rate: optional(Positive),
  /** Each person's own budget, as a key's. */
  budget: optional(KeyBudget),
  /** The longest a caller's token may live (its `exp` less its `iat`): seconds or a duration. */
  max_token_lifetime: optional(DurationEntry)
})

/**
 * Where the audit log's head is written outside the database (docs/identity.md, "Anchoring the head"), and how long
 * its rows are kept ("Retention").
 */
const AuditEntry = Schema.Struct({
  /** The file the heads are appended to. */
  anchor: optional(NonEmpty),
  /** How often, while the head moves: seconds or a duration. */
  anchor_every: optional(DurationEntry),
  /** How long rows are kept: seconds or a duration. */
  retention: optional(DurationEntry)
})

export const GatewayEntry = Schema.Struct({
  keys: optional(Schema.Array(KeyEntry)),
  admin_keys: optional(Schema.Array(AdminKeyEntry)),
  /** Serve `GET /llm/model-load/<model>` (keys masked) to admin keys. */
  model_load_details: optional(Schema.Boolean),
  /** The request log keeps each call's request body and reply text, keys masked. */
  log_payloads: optional(Schema.Boolean),
  /** Days the request log keeps its rows. */
  request_log_retention: optional(Positive),
  /** Rows the request log keeps at most (the oldest beyond are deleted). */
  request_log_max_rows: optional(PositiveInt),
  /** Bytes of rows the request log keeps at most (the oldest beyond are deleted). */
  request_log_max_bytes: optional(PositiveInt),
  /** How long a `/v1/responses` response is kept (`Gateway.Options.responsesTtl`): seconds or a duration. */
  responses_ttl: optional(DurationEntry),
  /** Bytes of responses kept at most, in memory or Redis (the least recently used, or the oldest, are dropped). */
  responses_max_bytes: optional(PositiveInt),
  /** Bytes of one gateway key's responses kept at most (its own least recently used, or oldest, are dropped). */
  responses_max_key_bytes: optional(PositiveInt),
  /** Bytes one kept response (its body and whole conversation) takes at most. */
  responses_max_response_bytes: optional(PositiveInt),
  /** Responses one chain of `previous_response_id`s holds at most. */
  responses_max_chain: optional(PositiveInt),
  /** WebSockets on `/v1/responses` one gateway key holds open at once (one more is refused before its handshake). */
  responses_sockets_max_key: optional(PositiveInt),
  /** How long a WebSocket on `/v1/responses` waits for its next frame before it is closed: seconds or a duration. */
  responses_socket_idle: optional(DurationEntry),
  /** MCP sessions kept at most, of all keys and of one (the idlest make room, else a new one is refused). */
  mcp_sessions_max: optional(PositiveInt),
  mcp_sessions_max_key: optional(PositiveInt),
  /** Bytes of MCP sessions' records kept at most, of all keys and of one. */
  mcp_sessions_max_bytes: optional(PositiveInt),
  mcp_sessions_max_key_bytes: optional(PositiveInt),
  /** Sessions each of the gateway's routers keeps pinned in memory at most, unless its `affinity` says. */
  affinity_max_sessions: optional(PositiveInt),
  /** Seconds a request (its headers and whole body) has to arrive in. */
  request_body_timeout_seconds: optional(PositiveInt),
  /** A Responses request's tools OpenAI runs itself, for a model reaching another API: left out, or refused. */
  hosted_tools: optional(oneOf(["omit", "refuse"])),
  /** Without gateway keys, answer requests without a key beyond loopback or with a shared store too. */
  allow_keyless: optional(Schema.Boolean),
  /** Names of the `guardrails` section every chat call runs. */
  guardrails: optional(Schema.Array(NonEmpty)),
  /** Sign-on for the dashboard and the admin API (docs/identity.md). */
  oidc: optional(OidcEntry),
  /** API callers by an issuer's access token instead of a gateway key (docs/identity.md). */
  token_callers: optional(Schema.Array(TokenCallersEntry)),
  /** The audit log's anchor and retention (docs/identity.md). */
  audit: optional(AuditEntry)
})

export type GatewayEntry = typeof GatewayEntry.Type

// The section's bounds (`responses_max_bytes`...), every one a number.
type MaxField = Extract<keyof GatewayEntry, `${string}max${string}`>

/** Reads a key as written (`env:NAME` or the key), or names what is missing at `path`. */
export type ReadSecret = (
  text: string,
  path: string
) => Effect.Effect<Redacted.Redacted<string>, ReadonlyArray<typeof Issue.Type>>

// Every value of `values` read (`env:NAME` or as written), or the issues of those that could not be.
export const readAll = (values: Readonly<Record<string, string>>, at: string, read: ReadSecret) =>
  Effect.gen(function*() {
    const out: Record<string, Redacted.Redacted<string>> = {}
    const issues: Array<typeof Issue.Type> = []
    for (const [name, text] of Object.entries(values)) {
      const value = yield* Effect.result(read(text, `${at}.${name}`))
      if (value._tag === "Failure") issues.push(...value.failure)
      else out[name] = value.success
    }
    return { out, issues }
  })

const period = (value: number | string | undefined): Budget.Period =>
  value === undefined || value === "month" ? "month" : Duration.toMillis(toDuration(value)!)

// The `oidc` entry as `Gateway.Oidc`, its client secret read (an issue in `issues` when it cannot be; its path in
// `literals` when written in the file).
const oidcOf = (
  entry: typeof OidcEntry.Type,
  read: ReadSecret,
  issues: Array<typeof Issue.Type>,
  literals: Array<string>
) =>
  Effect.gen(function*() {
    if (entry.client_secret?.startsWith("env:") === false) literals.push("gateway.oidc.client_secret")
    const secret = yield* readAll(definedFields({ client_secret: entry.client_secret }), "gateway.oidc", read)
    issues.push(...secret.issues)
    return {
      issuer: entry.issuer,
      clientId: entry.client_id,
      ...definedFields({
        clientSecret: secret.out.client_secret,
        audience: entry.audience,
        scopes: entry.scopes,
        userClaim: entry.user_claim,
        groupsClaim: entry.groups_claim,
        roles: entry.roles,
        sessionTtl: duration(entry.session_ttl),
        maxTokenLifetime: duration(entry.max_token_lifetime),
        redirectUrl: entry.redirect_url,
        cliClientId: entry.cli_client_id
      })
    } satisfies Gateway.Oidc
  })

/** An entry's own limits, as provider.json writes them: a rate limit and a budget, each optional. */
interface Limits {
  readonly rate_limit_capacity?: number | undefined
  readonly rate_limit_refill_rate?: number | undefined
  readonly budget?: typeof KeyBudget.Type | undefined
}

// An entry's rate limit and budget as `Gateway.Key` and `Gateway.TokenCallers` have them.
export function limitsOf(item: Limits): Pick<Gateway.Key, "rateLimit" | "budget"> {
  return definedFields({
    rateLimit: item.rate_limit_capacity !== undefined && item.rate_limit_refill_rate !== undefined
      ? { capacity: item.rate_limit_capacity, refillRate: item.rate_limit_refill_rate }
      : undefined,
    budget: item.budget && {
      limit: item.budget.limit,
      period: period(item.budget.period),
      ...definedFields({ defaultMaxTokens: item.budget.default_max_tokens })
    }
  })
}

// The issue of half a rate limit (`whose`: "a key's") at `path`, pushed on `issues`.
export function halfRateLimit(item: Limits, path: string, whose: string, issues: Array<typeof Issue.Type>) {
  if ((item.rate_limit_capacity === undefined) === (item.rate_limit_refill_rate === undefined)) return
  const missing = item.rate_limit_capacity === undefined ? "rate_limit_capacity" : "rate_limit_refill_rate"
  issues.push({
    path: `${path}.${missing}`,
    message: `is missing (${whose} rate limit takes both rate_limit_capacity and rate_limit_refill_rate)`
  })
}

const tokenCallersOf = (entry: typeof TokenCallersEntry.Type): Gateway.TokenCallers => ({
  issuer: entry.issuer,
  audience: entry.audience,
  teams: entry.teams,
  ...definedFields({
    userClaim: entry.user_claim,
    teamClaim: entry.team_claim,
    models: entry.models,
    maxTokenLifetime: duration(entry.max_token_lifetime)
  }),
  ...limitsOf(entry)
})

/** Where each key of a section's `keys` and `admin_keys` is in the file: those that did not decode are left out. */
export interface KeyIndexes {
  readonly keys: ReadonlyArray<number>
  readonly admin_keys: ReadonlyArray<number>
}

/**
 * The section's keys read, or every issue (a missing variable, a name or key listed twice, half a rate limit), and the
 * paths of keys written in the file rather than as `env:NAME`, to warn about. `indexes`: where its keys are in the
 * file (default: their place in `entry`). A key whose variable is unset stands as written (`env:NAME`, its path in
 * `unset`) so the rest of it is still checked; the unset variable is an issue, so such a section is never served.
 */
export const resolve = (
  entry: GatewayEntry,
  read: ReadSecret,
  indexes?: KeyIndexes
): Effect.Effect<{
  readonly keys: Gateway.Keys
  readonly issues: ReadonlyArray<typeof Issue.Type>
  readonly literals: ReadonlyArray<string>
  /** The paths of the keys whose variable is unset (`gateway.keys[2].key`). */
  readonly unset: ReadonlyArray<string>
  /** Where each key of `keys.keys` and `keys.adminKeys` is in the file (`gateway.keys[2]`). */
  readonly paths: { readonly keys: ReadonlyArray<string>; readonly adminKeys: ReadonlyArray<string> }
}> =>
  Effect.gen(function*() {
    const issues: Array<typeof Issue.Type> = []
    const literals: Array<string> = []
    const unset: Array<string> = []
    const readAll = <E extends { readonly name: string; readonly key: string }>(
      entries: ReadonlyArray<E>,
      at: "keys" | "admin_keys"
    ) =>
      Effect.gen(function*() {
        const out: Array<{ readonly entry: E; readonly key: Redacted.Redacted<string>; readonly path: string }> = []
        const names = new Set<string>()
        for (const [index, item] of entries.entries()) {
          const path = `gateway.${at}[${indexes?.[at][index] ?? index}]`
          if (names.has(item.name)) issues.push({ path: `${path}.name`, message: `${item.name} is listed twice` })
          names.add(item.name)
          if (!item.key.startsWith("env:")) literals.push(`${path}.key`)
          const key = yield* Effect.result(read(item.key, `${path}.key`))
          if (key._tag === "Failure") {
            issues.push(...key.failure)
            unset.push(`${path}.key`)
          }
          out.push({ entry: item, key: key._tag === "Failure" ? Redacted.make(item.key) : key.success, path })
        }
        return out
      })
    const oidc = entry.oidc === undefined ? undefined : yield* oidcOf(entry.oidc, read, issues, literals)
    const keys = yield* readAll(entry.keys ?? [], "keys")
    const admins = yield* readAll(entry.admin_keys ?? [], "admin_keys")
    // One key, one identity: a key listed twice (as two gateway keys, or a gateway key and an admin key) is refused.
    const seen = new Map<string, string>()
    for (const { key, path } of [...keys, ...admins]) {
      const first = seen.get(Redacted.value(key))
      if (first !== undefined) issues.push({ path: `${path}.key`, message: `the same key as ${first}.key` })
      else seen.set(Redacted.value(key), path)
    }
    for (const { entry: item, path } of keys) halfRateLimit(item, path, "a key's", issues)
    for (const [index, item] of (entry.token_callers ?? []).entries()) {
      halfRateLimit(item, `gateway.token_callers[${index}]`, "a person's", issues)
    }
    // Each bound `inner` set past its `outer` one.
    const pastBounds = (bounds: ReadonlyArray<readonly [MaxField, MaxField]>) =>
      bounds.filter(([inner, outer]) => (entry[inner] ?? 0) > (entry[outer] ?? Infinity)).map(([inner, outer]) => ({
        path: `gateway.${inner}`,
        message: `expected at most ${outer} (${entry[outer]})`
      }))
    issues.push(
      // One response larger than a key's or the whole budget could never be kept, nor a key's past the whole.
      ...pastBounds([
        ["responses_max_response_bytes", "responses_max_key_bytes"],
        ["responses_max_response_bytes", "responses_max_bytes"],
        ["responses_max_key_bytes", "responses_max_bytes"]
      ]).slice(0, 1),
      // A key's MCP sessions bounded past all of them.
      ...pastBounds([
        ["mcp_sessions_max_key", "mcp_sessions_max"],
        ["mcp_sessions_max_key_bytes", "mcp_sessions_max_bytes"]
      ])
    )
    return {
      issues,
      literals,
      unset,
      paths: { keys: keys.map(({ path }) => path), adminKeys: admins.map(({ path }) => path) },
      keys: {
        keys: keys.map(({ entry: item, key }): Gateway.Key => ({
          name: item.name,
          key,
          ...definedFields({ models: item.models, tools: item.tools, guardrails: item.guardrails }),
          ...limitsOf(item)
        })),
        adminKeys: admins.map(({ entry: item, key }) => ({ name: item.name, key })),
        ...definedFields({
          modelLoadDetails: entry.model_load_details || undefined,
          logPayloads: entry.log_payloads || undefined,
          requestLogRetention: entry.request_log_retention === undefined
            ? undefined
            : Duration.days(entry.request_log_retention),
          responsesTtl: duration(entry.responses_ttl),
          responsesSocketIdle: duration(entry.responses_socket_idle),
          // The section's bounds on what the gateway keeps.
          requestLogMaxRows: entry.request_log_max_rows,
          requestLogMaxBytes: entry.request_log_max_bytes,
          responsesMaxBytes: entry.responses_max_bytes,
          responsesMaxKeyBytes: entry.responses_max_key_bytes,
          responsesMaxResponseBytes: entry.responses_max_response_bytes,
          responsesMaxChain: entry.responses_max_chain,
          responsesSocketsMaxKey: entry.responses_sockets_max_key,
          mcpSessionsMax: entry.mcp_sessions_max,
          mcpSessionsMaxKey: entry.mcp_sessions_max_key,
          mcpSessionsMaxBytes: entry.mcp_sessions_max_bytes,
          mcpSessionsMaxKeyBytes: entry.mcp_sessions_max_key_bytes,
          affinityMaxSessions: entry.affinity_max_sessions,
          requestBodyTimeoutSeconds: entry.request_body_timeout_seconds,
          hostedTools: entry.hosted_tools,
          allowKeyless: entry.allow_keyless || undefined,
          guardrails: entry.guardrails,
          oidc,
          tokenCallers: entry.token_callers?.map(tokenCallersOf),
          auditAnchor: entry.audit?.anchor === undefined ? undefined : {
            file: entry.audit.anchor,
            ...definedFields({ every: duration(entry.audit.anchor_every) })
          },
          auditRetention: duration(entry.audit?.retention)
        })
      }
    }
  })
