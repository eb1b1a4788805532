/**
 * A real OpenID Connect issuer for the sign-on tests: `oidc-provider` (the certified Node implementation) on a
 * loopback port, its signing key an RSA key made here, with one confidential client (the gateway) and people who each
 * belong to groups. Its development interactions are a login form (any password) and a consent page, which a browser
 * drives. `token` mints an access token signed with the issuer's own key (the claims a real issuer puts in one:
 * `iss`, `aud`, `exp`, the user and groups claims), so a test can make any of them wrong; `forged` signs with another
 * key under the same key id. A public client for the command line (`cliClientId`) may use the device authorization
 * grant (RFC 8628) and refresh tokens: its access tokens are JWTs for the gateway (`aud` its `audience`) with
 * the person's `email` and `groups`, as an issuer configured for an API gives them; `approveDevice` drives the
 * issuer's device pages over HTTP as a person approving (or aborting) a code, and `signIn` its sign-in pages as a
 * person signing in to the dashboard. `issued` holds every answer of its token endpoint (the tokens a client was
 * given), and `asked` every request it was sent (method and path), so a test can use a session's tokens as an
 * attacker who stole them would, and see what the gateway asked of the issuer.
 */
import * as Effect from "effect/Effect"
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import Provider from "oidc-provider"

export const clientId = "llm-gateway"
export const clientSecret = "oidc-client-secret-7d3f9a1c5e"
/** The public client `login` uses. */
export const cliClientId = "llm-cli"
/** The audience of the access tokens for the gateway's admin API (a resource indicator, RFC 8707: a URI). */
export const audience = "urn:llm-gateway"
/** A machine client whose client-credentials tokens the issuer itself mints for the gateway, as `robot`. */
export const robot = { clientId: "ops-robot", clientSecret: "ops-robot-secret-2b4d6f8a0c", person: "otto@example.com" }
/** The scopes `login` asks for from this issuer: the person's email and groups, and a refresh token. */
export const cliScopes = "openid email groups offline_access"

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

/** A token endpoint's answer: the tokens a client was given. */
export interface Issued {
  readonly access_token?: string
  readonly id_token?: string
  readonly refresh_token?: string
}

export interface Issuer {
  readonly url: string
  /**
   * An access token signed by the issuer's key: `claims` over valid ones for `subject` (its groups from `people`),
   * `header` over its protected header (`typ: at+jwt`; a `typ` of `null` leaves it out).
   */
  readonly token: (
    subject: string,
    claims?: Record<string, unknown>,
    header?: Record<string, unknown>
  ) => Effect.Effect<string>
  /** Every answer of the token endpoint, oldest first. */
  readonly issued: ReadonlyArray<Issued>
  /** Every request the issuer was sent, as `METHOD /path`, oldest first. */
  readonly asked: ReadonlyArray<string>
  /** The same token, signed with another key under the issuer's key id. */
  readonly forged: (subject: string) => Effect.Effect<string>
  /** An access token the issuer itself mints (client credentials) for `robot`, a JWT for `audience`. */
  readonly robotToken: Effect.Effect<string>
  /** Registers the gateway's callback and sign-out return URLs: the client exists from then on. */
  readonly register: (redirectUri: string, postLogoutRedirectUri: string) => Effect.Effect<void>
}

const keyId = "test-signing-key"

// A signed JWT of `claims` with `key`, `header` over its protected header (a `typ` of `null` left out).
const sign = (claims: Record<string, unknown>, key: Parameters<SignJWT["sign"]>[0], header = {}) =>
  Effect.promise(() => {
    const protectedHeader: Record<string, unknown> = { alg: "RS256", kid: keyId, typ: "at+jwt", ...header }
    if (protectedHeader["typ"] === null) delete protectedHeader["typ"]
    return new SignJWT(claims).setProtectedHeader(protectedHeader as { alg: string }).sign(key)
  })

/** How long the issuer's device codes and access tokens last, in seconds (its defaults: 600 and 3600). */
export interface Lifetimes {
  readonly deviceCode?: number
  readonly accessToken?: number
}

/** The issuer with `lifetimes`, listening on a loopback port for the scope. */
export const makeWith = (lifetimes: Lifetimes) =>
  Effect.gen(function*() {
    const { privateKey, publicKey } = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
    const other = yield* Effect.promise(() => generateKeyPair("RS256", { extractable: true }))
    const jwk: JWK = { ...(yield* Effect.promise(() => exportJWK(privateKey))), kid: keyId, alg: "RS256", use: "sig" }
    void publicKey
    let handler: Http.RequestListener = (_request, response) => {
      response.statusCode = 503
      response.end()
    }
    const issued: Array<Issued> = []
    const asked: Array<string> = []
    const server = Http.createServer((request, response) => {
      asked.push(`${request.method} ${new URL(request.url ?? "/", "http://issuer").pathname}`)
      handler(request, response)
    })
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
            client_id: cliClientId,
            token_endpoint_auth_method: "none",
            grant_types: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            response_types: [],
            redirect_uris: []
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
            deviceFlow: { enabled: true },
            revocation: { enabled: true },
            clientCredentials: { enabled: true },
            // Access tokens as JWTs for the gateway, the audience its admin API checks.
            resourceIndicators: {
              enabled: true,
              defaultResource: () => audience,
              useGrantedResource: () => true,
              getResourceServerInfo: () => ({
                scope: "admin email groups",
                audience,
                accessTokenTTL: lifetimes.accessToken ?? 3600,
                accessTokenFormat: "jwt",
                jwt: { sign: { alg: "RS256" } }
              })
            }
          },
          // A person's access token carries their user claim and groups; the robot's, the person it stands for.
          extraTokenClaims: (_context, token) => {
            const person = token.clientId === robot.clientId ? robot.person : token.accountId
            return token.kind !== "AccessToken" && token.kind !== "ClientCredentials" || person === undefined
              ? undefined
              : { email: person, groups: [...(people[person] ?? [])] }
          },
          issueRefreshToken: (_context, client) => client.grantTypeAllowed("refresh_token"),
          ttl: { DeviceCode: lifetimes.deviceCode ?? 600 },
          cookies: { keys: ["oidc-issuer-test-cookie-key"] }
        })
        provider.on("grant.success", (context) => issued.push(context.body as Issued))
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
      issued,
      asked,
      token: (subject, claims = {}, header = {}) => sign({ ...claimsOf(subject), ...claims }, privateKey, header),
      forged: (subject) => sign(claimsOf(subject), other.privateKey)
    } satisfies Issuer
  })

/** The issuer with its default lifetimes, listening on a loopback port for the scope. */
export const make = makeWith({})

/** The attributes of an HTML tag's text `tag` (`name="value"` pairs). */
const attributesOf = (tag: string): Record<string, string> =>
  Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((match) => [match[1]!, match[2]!]))

/** A page a browser reached: its URL and text (none when it was sent away from the issuer: `left`). */
interface Page {
  readonly url: string
  readonly html: string
  readonly left: boolean
}

/**
 * A browser on the issuer's pages: a cookie jar, and `go`, which asks for a page (submitting `form` when given) and
 * follows redirects until a page answers, or one sends it away from the issuer (to the gateway's callback).
 */
function browser(issuer: string) {
  const cookies = new Map<string, string>()
  return async (start: string, form?: URLSearchParams): Promise<Page> => {
    let url = start
    let body = form
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(url, {
        method: body === undefined ? "GET" : "POST",
        redirect: "manual",
        headers: {
          cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join("; "),
          ...(body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
        },
        ...(body === undefined ? {} : { body })
      })
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(";", 1)[0]!
        cookies.set(pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1))
      }
      const location = response.headers.get("location")
      if (location === null) return { url, html: await response.text(), left: false }
      url = new URL(location, url).href
      if (new URL(url).origin !== issuer) return { url, html: "", left: true }
      body = undefined
    }
    throw new Error("the issuer's pages redirected more than 20 times")
  }
}

/**
 * The first form of `page`, with its hidden fields, `login` in its login field, any password in its password field,
 * and `userCode` in its code field: where it goes and what it sends; undefined when the page has none.
 */
function formOf(page: Page, login: string, userCode = "") {
  const form = /<form([^>]*)>([\s\S]*?)<\/form>/.exec(page.html)
  if (form === null) return undefined
  const fields = new URLSearchParams()
  for (const input of form[2]!.matchAll(/<input[^>]*>/g)) {
    const { name, value, type } = attributesOf(input[0])
    if (name === undefined) continue
    fields.set(
      name,
      name === "user_code" ? userCode : name === "login" ? login : type === "password" ? "any" : value ?? ""
    )
  }
  return { action: new URL(attributesOf(form[1]!)["action"] ?? page.url, page.url).href, fields }
}

/**
 * The code `userCode` entered at the issuer's device page `verificationUri` by the person `login` and approved (or,
 * with `abort`, aborted at its confirmation), as a browser would: a cookie jar, redirects followed, and each page's
 * form submitted with its hidden fields (the code, the login form's login and any password, the consent). What the
 * last page says: its text, for the test to check.
 */
export const approveDevice = (verificationUri: string, userCode: string, login: string, abort = false) =>
  Effect.promise(async () => {
    const go = browser(new URL(verificationUri).origin)
    let page = await go(verificationUri)
    for (let step = 0; step < 8; step++) {
      const form = formOf(page, login, userCode)
      if (form === undefined) return page.html
      const aborting = abort && form.fields.has("confirm")
      if (aborting) form.fields.set("abort", "yes")
      page = await go(form.action, form.fields)
      if (aborting) return page.html
    }
    throw new Error("the issuer's device pages did not end in 8 steps")
  })

/**
 * The person `login` signed in at the issuer from its authorization URL `authorizationUrl` (where a gateway's
 * `/admin/login` sends a browser), as a browser would: the login form (any password) and the consent submitted. Where
 * the issuer sends the browser back: the gateway's callback, with the code and the state.
 */
export const signIn = (authorizationUrl: string, login: string) =>
  Effect.promise(async () => {
    const go = browser(new URL(authorizationUrl).origin)
    let page = await go(authorizationUrl)
    for (let step = 0; step < 8 && !page.left; step++) {
      const form = formOf(page, login)
      if (form === undefined) throw new Error(`the issuer's page has no form: ${page.html.slice(0, 500)}`)
      page = await go(form.action, form.fields)
    }
    if (!page.left) throw new Error("the issuer's sign-in pages did not end in 8 steps")
    return page.url
  })
