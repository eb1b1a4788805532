/**
 * The `mcp_servers` section of `provider.json`, read as `Gateway.McpServer`s: by name, each a Streamable HTTP server
 * (`url`, `headers`, optional OAuth client credentials) or a program the gateway runs (`command`, `args`, `env`), with
 * the tools taken, governance, protocol and bounds. Header and environment values and the client secret are
 * `env:NAME` or written in the file, read as `Redacted` either way.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { Issue } from "../../ProviderConfig.js"
import type * as Gateway from "../gatewayConfig/config.js"
import { isServerName, serverNameRule } from "../gatewayConfig/mcpServerNames.js"
import { definedFields } from "../json.js"
import { HttpUrl, NonEmpty, oneOf, optional, Positive, PositiveInt } from "./fields.js"
import { halfRateLimit, limitsOf, readAll, type ReadSecret } from "./gateway.js"
import { duration, DurationEntry, toDuration } from "./router.js"

const Url = NonEmpty.check(
  Schema.makeFilter((url: string) => /^https?:\/\/[^\s]+$/.test(url), {
    message: "expected an http:// or https:// URL (the server's Streamable HTTP endpoint)"
  })
)

// How often a server is pinged: 0 (never), or seconds or a duration.
const PingInterval = Schema.Union([Schema.Number, Schema.String]).check(
  Schema.makeFilter((value: number | string) => value === 0 || toDuration(value) !== undefined, {
    message: "expected 0 (no pings), seconds (a positive number) or a duration such as \"30 seconds\""
  })
)

const McpServerEntry = Schema.Struct({
  /** A Streamable HTTP server's endpoint. */
  url: optional(Url),
  /** Sent with every request to it: `env:NAME` or the value. */
  headers: optional(Schema.Record(Schema.String, NonEmpty)),
  /** The program of a stdio server. */
  command: optional(NonEmpty),
  args: optional(Schema.Array(Schema.String)),
  /** Its environment's variables: `env:NAME` or the value. */
  env: optional(Schema.Record(Schema.String, Schema.String)),
  /** The names (or globs) of its tools the gateway takes; absent: every tool. */
  tools: optional(Schema.Array(NonEmpty)),
  /** US dollars a call of its tools costs, reserved from the caller's budget. */
  price_per_call: optional(Positive),
  max_concurrency: optional(PositiveInt),
  rate_limit_capacity: optional(Positive),
  rate_limit_refill_rate: optional(Positive),
  /** Names of the file's `guardrails` section its tool calls run. */
  guardrails: optional(Schema.Array(NonEmpty)),
  /** The protocol revision it is spoken to in. */
  protocol: optional(oneOf(["2025-11-25", "2026-07-28"])),
  max_reply_bytes: optional(PositiveInt),
  /** Seconds or a duration such as "30 seconds". */
  call_timeout: optional(DurationEntry),
  /** How often it is pinged while up: seconds or a duration; 0 turns pings off. */
  ping_interval: optional(PingInterval),
  /** OAuth client credentials of an HTTP server: the token endpoint, the client and its secret (`env:NAME`). */
  token_url: optional(HttpUrl),
  client_id: optional(NonEmpty),
  client_secret: optional(NonEmpty),
  scope: optional(NonEmpty)
})

export const McpServersEntry = Schema.Record(Schema.String, McpServerEntry)

export type McpServersEntry = typeof McpServersEntry.Type

type Issues = ReadonlyArray<typeof Issue.Type>

// The fields of one kind of server that the other kind has no use for.
const httpOnly = ["headers", "token_url", "client_id", "client_secret", "scope"] as const
const credentials = ["token_url", "client_id", "client_secret"] as const
const stdioOnly = ["args", "env"] as const

// The issues of an HTTP server's client credentials: all three of `token_url`, `client_id` and `client_secret`, or
// none (`scope` only with them).
function credentialIssues(server: typeof McpServerEntry.Type, at: string): Array<typeof Issue.Type> {
  const given = credentials.filter((field) => server[field] !== undefined)
  if (given.length === 0) {
    return server.scope === undefined
      ? []
      : [{ path: `${at}.scope`, message: "is for OAuth client credentials (token_url, client_id, client_secret)" }]
  }
  return credentials.filter((field) => server[field] === undefined).map((field) => ({
    path: `${at}.${field}`,
    message: "is missing (OAuth client credentials take token_url, client_id and client_secret)"
  }))
}

/** The section's servers read, or every issue: a bad name, a server both or neither kind, a variable not set. */
export const resolve = (
  entry: McpServersEntry,
  read: ReadSecret
): Effect.Effect<{ readonly servers: Readonly<Record<string, Gateway.McpServer>>; readonly issues: Issues }> =>
  Effect.gen(function*() {
    const servers: Record<string, Gateway.McpServer> = {}
    const issues: Array<typeof Issue.Type> = []
    for (const [name, server] of Object.entries(entry)) {
      const at = `mcp_servers.${name}`
      if (!isServerName(name)) issues.push({ path: at, message: `a server's name is ${serverNameRule}` })
      if ((server.url === undefined) === (server.command === undefined)) {
        issues.push({
          path: at,
          message: "expected either url (a Streamable HTTP server) or command (a program the gateway runs), not " +
            (server.url === undefined ? "neither" : "both")
        })
        continue
      }
      for (const field of server.url === undefined ? httpOnly : stdioOnly) {
        if (server[field] !== undefined) {
          issues.push({
            path: `${at}.${field}`,
            message: server.url === undefined
              ? "is for a Streamable HTTP server (url), not a stdio one (command)"
              : "is for a stdio server (command), not a Streamable HTTP one (url)"
          })
        }
      }
      if (server.tools !== undefined && server.tools.length === 0) {
        issues.push({ path: `${at}.tools`, message: "expected at least one name (leave tools out to take every tool)" })
      }
      halfRateLimit(server, at, "a server's", issues)
      // The tools taken, how their calls are governed (`Gateway.McpGovernance`; a server's limits are a rate limit,
      // no budget), and how the server is spoken to and bounded (`Gateway.McpConnection`).
      const tools = definedFields({
        tools: server.tools,
        pricePerCall: server.price_per_call,
        maxConcurrency: server.max_concurrency,
        guardrails: server.guardrails,
        ...limitsOf(server),
        protocol: server.protocol,
        maxReplyBytes: server.max_reply_bytes,
        callTimeout: duration(server.call_timeout),
        pingInterval: server.ping_interval === 0 ? Duration.zero : duration(server.ping_interval)
      })
      if (server.url !== undefined) {
        const headers = yield* readAll(server.headers ?? {}, `${at}.headers`, read)
        issues.push(...headers.issues)
        const credentialProblems = credentialIssues(server, at)
        issues.push(...credentialProblems)
        const secret = server.client_secret === undefined || credentialProblems.length > 0
          ? undefined
          : yield* Effect.result(read(server.client_secret, `${at}.client_secret`))
        if (secret?._tag === "Failure") issues.push(...secret.failure)
        const oauth = secret?._tag === "Success"
          ? {
            oauth: {
              tokenUrl: server.token_url!,
              clientId: server.client_id!,
              clientSecret: secret.success,
              ...definedFields({ scope: server.scope })
            }
          }
          : {}
        servers[name] = {
          url: server.url,
          ...definedFields({ headers: server.headers && headers.out }),
          ...oauth,
          ...tools
        }
      } else {
        const env = yield* readAll(server.env ?? {}, `${at}.env`, read)
        issues.push(...env.issues)
        servers[name] = {
          command: server.command!,
          ...definedFields({ args: server.args, env: server.env && env.out }),
          ...tools
        }
      }
    }
    return { servers, issues }
  })
