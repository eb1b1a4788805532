/**
 * What the sign-on tests share: a real OpenID Connect issuer (`oidcIssuer.ts`) and a gateway over the simulator with
 * provider.json's `gateway.oidc` pointing at it (the issuer's people's groups mapped to every role), an admin key, and a
 * SQLite database (for keys, teams and grants) in a directory of its own; and a request helper over loopback.
 */
import * as Effect from "effect/Effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import * as OidcIssuer from "./oidcIssuer.js"

export const providerKey = "sk-identity-provider-4c8e2a6f0b"
export const adminKey = "gw-identity-admin-1f3b5d7a9c2e"
process.env["IDENTITY_ADMIN_KEY"] = adminKey
process.env["IDENTITY_OIDC_CLIENT_SECRET"] = OidcIssuer.clientSecret

/**
 * A gateway with sign-on through a fresh issuer whose tokens last `lifetimes`, `oidc` added to its `gateway.oidc` (a
 * field `undefined` there left out), on a SQLite database unless `database` is false, for the scope.
 */
export const serveWith = (lifetimes: OidcIssuer.Lifetimes, oidc: Record<string, unknown> = {}, database = true) =>
  Effect.gen(function*() {
    const issuer = yield* OidcIssuer.makeWith(lifetimes)
    const directory = yield* Effect.acquireRelease(
      Effect.promise(() => mkdtemp(Path.join(tmpdir(), "identity-"))),
      (path) => Effect.promise(() => rm(path, { recursive: true, force: true }))
    )
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
    const signOn = Object.fromEntries(
      Object.entries({
        issuer: issuer.url,
        client_id: OidcIssuer.clientId,
        client_secret: "env:IDENTITY_OIDC_CLIENT_SECRET",
        audience: OidcIssuer.audience,
        scopes: ["openid", "email", "groups"],
        roles: OidcIssuer.roles,
        ...oidc
      }).filter(([, value]) => value !== undefined)
    )
    const config = yield* ProviderConfig.fromJson({
      sim: [{
        model_name: "gpt-4o-mini",
        base_url: `${simulator.url}/v1`,
        api_keys: [providerKey],
        max_retries: 0,
        pricing: { input_per_mtok: 1, output_per_mtok: 2 }
      }],
      gateway: {
        admin_keys: [{ name: "ops", key: "env:IDENTITY_ADMIN_KEY" }],
        model_load_details: true,
        oidc: signOn
      }
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      database: database ? { sqlite: Path.join(directory, "gateway.db") } : undefined
    }).pipe(Effect.provide(UndiciHttpClient.layer()))
    yield* issuer.register(`${gateway.url}/admin/callback`, `${gateway.url}/dashboard`)
    return { issuer, gateway }
  })

/** A gateway with sign-on through a fresh issuer, for the scope. */
export const serve = serveWith({})

/** An answer: its status, its JSON body (empty when it has none), and its error's code, message and field, if any. */
export interface Answer {
  readonly status: number
  readonly body: Readonly<Record<string, unknown>>
  readonly code: string | null
  readonly message: string
  readonly param: string | null
}

const recordOf = (value: unknown): Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null ? value as Record<string, unknown> : {}

/** The rows of a list answer's `data`. */
export const rowsOf = (answer: Answer): ReadonlyArray<Readonly<Record<string, unknown>>> =>
  Array.isArray(answer.body["data"]) ? answer.body["data"].map(recordOf) : []

/** `method` `path` of `gateway`, with `headers`, and `body` as JSON when given. */
export const call = (
  gateway: Gateway.Service,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: unknown
) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    let parsed: unknown = null
    try {
      parsed = JSON.parse(text)
    } catch {
      // Prometheus text, or nothing.
    }
    const error = recordOf(recordOf(parsed)["error"])
    return {
      status: response.status,
      body: recordOf(parsed),
      code: typeof error["code"] === "string" ? error["code"] : null,
      message: typeof error["message"] === "string" ? error["message"] : "",
      param: typeof error["param"] === "string" ? error["param"] : null
    }
  })

/** The `authorization` header of `token`. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
