/**
 * A local OpenID Connect issuer for trying the gateway's sign-on (docs/identity.md): `oidc-provider` (a certified
 * implementation) on 127.0.0.1, with the gateway's client, the command line's public client (the device grant) and a
 * few people, each in groups. Its sign-in page takes any password. It prints the provider.json `gateway` section that
 * signs in through it, then serves until Ctrl-C.
 *
 *   npx node --import tsx examples/oidc-issuer.ts
 *
 * `OIDC_ISSUER_PORT` (default 9400) and `GATEWAY_URL` (default http://127.0.0.1:4000) change where each listens. For
 * trying only: its keys are made at each start, and it keeps nothing.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { exportJWK, generateKeyPair } from "jose"
import * as Http from "node:http"
import Provider from "oidc-provider"

const port = Number(process.env["OIDC_ISSUER_PORT"] ?? 9400)
const gateway = process.env["GATEWAY_URL"] ?? "http://127.0.0.1:4000"
const issuer = `http://127.0.0.1:${port}`

/** The gateway's client: its secret is this example's, given to `serve` as `OIDC_CLIENT_SECRET`. */
const client = { id: "llm-gateway", secret: "local-issuer-client-secret" }
/** The command line's public client (`effect-llm-router login`). */
const cliClientId = "llm-cli"
/** The audience of the access tokens for the gateway's admin API. */
const audience = "urn:llm-gateway"

/** Who may sign in (any password), by their e-mail, with their groups. */
const people: Readonly<Record<string, ReadonlyArray<string>>> = {
  "ada@example.com": ["llm-admins"],
  "otto@example.com": ["llm-ops"],
  "vera@example.com": ["staff"]
}

/** provider.json's `gateway` section that signs in through this issuer: each role and the groups that hold it. */
const gatewaySection = {
  oidc: {
    issuer,
    client_id: client.id,
    client_secret: "env:OIDC_CLIENT_SECRET",
    audience,
    scopes: ["openid", "email", "groups"],
    cli_client_id: cliClientId,
    roles: { admin: ["llm-admins"], operator: ["llm-ops"], viewer: ["staff"] }
  }
}

// The issuer's configuration: its clients, its people's claims, and access tokens as JWTs for the gateway's audience.
const configuration = (keys: ReadonlyArray<Record<string, unknown>>) => ({
  clients: [{
    client_id: client.id,
    client_secret: client.secret,
    redirect_uris: [`${gateway}/admin/callback`],
    post_logout_redirect_uris: [`${gateway}/dashboard`],
    grant_types: ["authorization_code"],
    response_types: ["code"]
  }, {
    client_id: cliClientId,
    token_endpoint_auth_method: "none",
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
    response_types: [],
    redirect_uris: []
  }],
  jwks: { keys: [...keys] },
  findAccount: (_context: unknown, sub: string) =>
    people[sub] === undefined ? undefined : {
      accountId: sub,
      claims: () => ({ sub, email: sub, groups: [...people[sub]!] })
    },
  claims: { openid: ["sub"], email: ["email"], groups: ["groups"] },
  scopes: ["openid", "email", "groups", "offline_access"],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "email groups",
        audience,
        accessTokenFormat: "jwt" as const,
        jwt: { sign: { alg: "RS256" as const } }
      })
    }
  },
  // An access token carries the person's e-mail and groups, as the gateway's roles read them.
  extraTokenClaims: (_context: unknown, token: { readonly kind: string; readonly accountId?: string | undefined }) =>
    token.kind !== "AccessToken" || token.accountId === undefined
      ? undefined
      : { email: token.accountId, groups: [...(people[token.accountId] ?? [])] },
  issueRefreshToken: (_context: unknown, allowed: { readonly grantTypeAllowed: (grant: string) => boolean }) =>
    allowed.grantTypeAllowed("refresh_token"),
  cookies: { keys: ["local-issuer-cookie-key"] }
})

const program = Effect.gen(function*() {
  const { privateKey } = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
  const jwk = { ...(yield* Effect.promise(() => exportJWK(privateKey))), kid: "local", alg: "RS256", use: "sig" }
  const provider = new Provider(issuer, configuration([jwk]))
  const server = Http.createServer(provider.callback())
  yield* Effect.acquireRelease(
    Effect.callback<void>((resume) => {
      server.listen(port, "127.0.0.1", () => resume(Effect.void))
    }),
    () => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
  )
  yield* Console.log(issuer)
  yield* Console.error(
    `An OpenID Connect issuer at ${issuer}, for a gateway at ${gateway}. People (any password): ${
      Object.entries(people).map(([person, groups]) => `${person} (${groups.join(", ")})`).join(", ")
    }.\nIn provider.json, with an admin key or serve's admin token beside it:\n` +
      `"gateway": ${JSON.stringify(gatewaySection, null, 2)}\n` +
      `Serve it with OIDC_CLIENT_SECRET=${client.secret} (npm install openid-client jose in your project), ` +
      `then sign in at ${gateway}/dashboard, or effect-llm-router login --url ${gateway}. Ctrl-C to stop.`
  )
  return yield* Effect.never
})

NodeRuntime.runMain(program.pipe(Effect.scoped))
