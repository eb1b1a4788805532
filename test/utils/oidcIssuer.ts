/**
 * A real OpenID Connect issuer for the sign-on tests: `oidc-provider` (the certified Node implementation) on a
 * loopback port, its signing key an RSA key made here, with one confidential client (the gateway) and people who each
 * belong to groups. Its development interactions are a login form (any password) and a consent page, which a browser
 * drives. `token` mints an access token signed with the issuer's own key (the claims a real issuer puts in one:
 * `iss`, `aud`, `exp`, the user and groups claims), so a test can make any of them wrong; `forged` signs with another
 * key under the same key id.
 */
import * as Effect from "effect/Effect"
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import Provider from "oidc-provider"

export const clientId = "llm-gateway"
export const clientSecret = "oidc-client-secret-7d3f9a1c5e"
/** The audience of the access tokens for the gateway's admin API (a resource indicator, RFC 8707: a URI). */
export const audience = "urn:llm-gateway"
/** A machine client whose client-credentials tokens the issuer itself mints for the gateway, as `robot`. */
export const robot = { clientId: "ops-robot", clientSecret: "ops-robot-secret-2b4d6f8a0c", person: "otto@example.com" }

/** The people who may sign in, by login (their `email`, which is also their `sub`), with their groups. */
export const people: Readonly<Record<string, ReadonlyArray<string>>> = {
  "ada@example.com": ["llm-admins"],
  "otto@example.com": ["llm-ops"],
  "vera@example.com": ["staff"],
  "rhea@example.com": ["research-leads"],
  "remy@example.com": ["research"],
  "nora@example.com": []
}

/** provider.json's `roles` for `people`' groups. */
export const roles = {
  admin: ["llm-admins"],
  operator: ["llm-ops"],
  viewer: ["staff"],
  "team_admin:research": ["research-leads"],
  "team_viewer:research": ["research"]
}

export interface Issuer {
  readonly url: string
  /** An access token signed by the issuer's key: `claims` over valid ones for `subject` (its groups from `people`). */
  readonly token: (subject: string, claims?: Record<string, unknown>) => Effect.Effect<string>
  /** The same token, signed with another key under the issuer's key id. */
  readonly forged: (subject: string) => Effect.Effect<string>
  /** An access token the issuer itself mints (client credentials) for `robot`, a JWT for `audience`. */
  readonly robotToken: Effect.Effect<string>
  /** Registers the gateway's callback and sign-out return URLs: the client exists from then on. */
  readonly register: (redirectUri: string, postLogoutRedirectUri: string) => Effect.Effect<void>
}

const keyId = "test-signing-key"

// A signed JWT of `claims` with `key`.
const sign = (claims: Record<string, unknown>, key: Parameters<SignJWT["sign"]>[0]) =>
  Effect.promise(() => new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: keyId, typ: "at+jwt" }).sign(key))

/** The issuer, listening on a loopback port for the scope. */
export const make = Effect.gen(function*() {
  const { privateKey, publicKey } = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
  const other = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
  const jwk: JWK = { ...(yield* Effect.promise(() => exportJWK(privateKey))), kid: keyId, alg: "RS256", use: "sig" }
  void publicKey
  let handler: Http.RequestListener = (_request, response) => {
    response.statusCode = 503
    response.end()
  }
  const server = Http.createServer((request, response) => handler(request, response))
  yield* Effect.acquireRelease(
    Effect.callback<void>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.void))
    }),
    () => Effect.callback<void>((resume) => void server.close(() => resume(Effect.void)))
  )
  server.unref()
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const claimsOf = (subject: string) => {
    const now = Math.floor(Date.now() / 1000)
    return {
      iss: url,
      sub: subject,
      aud: audience,
      email: subject,
      groups: people[subject] ?? [],
      iat: now,
      exp: now + 300,
      client_id: clientId
    }
  }

  const register = (redirectUri: string, postLogoutRedirectUri: string) =>
    Effect.sync(() => {
      const provider = new Provider(url, {
        clients: [{
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [redirectUri],
          post_logout_redirect_uris: [postLogoutRedirectUri],
          grant_types: ["authorization_code"],
          response_types: ["code"]
        }, {
          client_id: robot.clientId,
          client_secret: robot.clientSecret,
          grant_types: ["client_credentials"],
          response_types: [],
          redirect_uris: []
        }],
        jwks: { keys: [jwk] },
        findAccount: (_context, sub) =>
          people[sub] === undefined ? undefined : {
            accountId: sub,
            claims: () => ({ sub, email: sub, groups: [...people[sub]!] })
          },
        claims: { openid: ["sub"], email: ["email"], groups: ["groups"] },
        scopes: ["openid", "email", "groups"],
        pkce: { required: () => true },
        features: {
          devInteractions: { enabled: true },
          rpInitiatedLogout: { enabled: true },
          clientCredentials: { enabled: true },
          // The gateway's admin API as a resource server: its access tokens are JWTs for `audience`.
          resourceIndicators: {
            enabled: true,
            defaultResource: () => audience,
            useGrantedResource: () => true,
            getResourceServerInfo: () => ({
              scope: "admin",
              audience,
              accessTokenFormat: "jwt",
              jwt: { sign: { alg: "RS256" } }
            })
          }
        },
        // The robot acts as the person it stands for: their user claim and groups in its tokens.
        extraTokenClaims: (_context, token) =>
          token.clientId === robot.clientId ? { email: robot.person, groups: [...people[robot.person]!] } : undefined,
        cookies: { keys: ["oidc-issuer-test-cookie-key"] }
      })
      handler = provider.callback()
    })

  // A client-credentials access token the issuer mints for the robot.
  const robotToken = Effect.promise(async () => {
    const response = await fetch(`${url}/token`, {
      method: "POST",
      headers: {
        authorization: `Basic ${Buffer.from(`${robot.clientId}:${robot.clientSecret}`).toString("base64")}`,
        "content-type": "application/x-www-form-urlencoded"
      },
      body: new URLSearchParams({ grant_type: "client_credentials", resource: audience, scope: "admin" })
    })
    const body = await response.json() as { readonly access_token?: string }
    if (body.access_token === undefined) throw new Error(`the issuer gave no token: ${JSON.stringify(body)}`)
    return body.access_token
  })

  return {
    url,
    register,
    robotToken,
    token: (subject, claims = {}) => sign({ ...claimsOf(subject), ...claims }, privateKey),
    forged: (subject) => sign(claimsOf(subject), other.privateKey)
  } satisfies Issuer
})
