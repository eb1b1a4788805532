/**
 * Which of the issuer's tokens reach the admin API, over loopback against a real OpenID Connect issuer
 * (`oidc-provider`): a person signs in to the dashboard as a browser would, and the ID token the issuer gave the
 * gateway is never an admin bearer token, whatever `audience` is set to (none, the default: no token is; the API's;
 * the client's, which the gateway refuses to start with); nor is any token bearing a mark of an ID token (a `typ` of
 * another kind, `nonce`, `at_hash`, `c_hash`, `s_hash`, a `typ: ID` claim, an audience naming a sign-on client), over
 * every combination of them. Signing out gives the browser no token, revokes the session's tokens at the issuer's
 * revocation endpoint, and the gateway refuses the session's access token from then on.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, type Answer, bearer, call, serve, serveWith } from "../utils/identityHarness.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

type Served = Effect.Success<typeof serve>

/** `person` signed in to the dashboard of `served`: the session's cookie, and the tokens the issuer gave the gateway. */
const signIn = ({ gateway, issuer }: Served, person: string) =>
  Effect.gen(function*() {
    const login = yield* Effect.promise(() => fetch(`${gateway.url}/admin/login`, { redirect: "manual" }))
    const state = /elr_login=([^;]+)/.exec(login.headers.get("set-cookie") ?? "")?.[1]
    assert.isDefined(state)
    const back = new URL(yield* OidcIssuer.signIn(login.headers.get("location")!, person))
    const issued = issuer.issued.length
    const done = yield* Effect.promise(() =>
      fetch(`${gateway.url}${back.pathname}${back.search}`, {
        redirect: "manual",
        headers: { cookie: `elr_login=${state}` }
      })
    )
    assert.strictEqual(done.status, 302)
    const session = /elr_session=([^;]+)/.exec(done.headers.get("set-cookie") ?? "")?.[1]
    assert.isDefined(session)
    assert.strictEqual(issuer.issued.length, issued + 1)
    const tokens = issuer.issued.at(-1)!
    assert.isDefined(tokens.id_token)
    assert.isDefined(tokens.access_token)
    return { session: session!, idToken: tokens.id_token!, accessToken: tokens.access_token! }
  })

const refusedAsIdToken = (answer: Answer) => {
  assert.deepStrictEqual([answer.status, answer.code], [401, "invalid_token"])
  assert.include(answer.message, "ID token")
}

// What an ID token may bear that an access token never does, each over a valid access token's claims and header.
const marks: ReadonlyArray<{
  readonly name: string
  readonly claims?: Record<string, unknown>
  readonly header?: Record<string, unknown>
}> = [
  { name: "typ id_token+jwt", header: { typ: "id_token+jwt" } },
  { name: "typ logout+jwt", header: { typ: "logout+jwt" } },
  { name: "nonce", claims: { nonce: "n-0s8d7f" } },
  { name: "at_hash", claims: { at_hash: "x7Jc0k2Yl3Z9wQ" } },
  { name: "c_hash", claims: { c_hash: "p0Qw8Lz2Kd4Rs6" } },
  { name: "s_hash", claims: { s_hash: "z3Xc5Vb7Nm9Aa1" } },
  { name: "typ claim ID", claims: { typ: "ID" } },
  { name: "audience the client's", claims: { aud: [OidcIssuer.audience, OidcIssuer.clientId] } },
  { name: "audience the command line's client", claims: { aud: [OidcIssuer.audience, OidcIssuer.cliClientId] } }
]

describe("the issuer's tokens on the admin API", () => {
  it.live(
    "an ID token is no bearer token, with the default audience or the API's, and the client's is refused at start",
    () =>
      Effect.gen(function*() {
        // The default: no audience, so no token at all is a bearer token; a session still signs in.
        const byDefault = yield* serveWith({}, { audience: undefined })
        const { accessToken, idToken, session } = yield* signIn(byDefault, "ada@example.com")
        for (const token of [idToken, accessToken]) {
          const answer = yield* call(byDefault.gateway, "POST", "/admin/keys", bearer(token), { name: "stolen" })
          assert.deepStrictEqual([answer.status, answer.code], [401, "invalid_token"])
          assert.include(answer.message, "`gateway.oidc.audience` is not set")
        }
        const me = yield* call(byDefault.gateway, "GET", "/admin/me", { cookie: `elr_session=${session}` })
        assert.deepStrictEqual([me.status, me.body["name"]], [200, "ada@example.com"])

        // The API's audience: the session's access token is one (RFC 9068), its ID token is not.
        const served = yield* serve
        const signedIn = yield* signIn(served, "ada@example.com")
        // (Its audience is the client's, not the API's: refused at the audience already.)
        const made = yield* call(served.gateway, "POST", "/admin/keys", bearer(signedIn.idToken), { name: "x" })
        const granted = yield* call(served.gateway, "POST", "/admin/grants", bearer(signedIn.idToken), {
          subject: "mallory@example.com",
          role: "admin"
        })
        for (const answer of [made, granted]) {
          assert.deepStrictEqual([answer.status, answer.code], [401, "invalid_token"])
        }
        assert.strictEqual((yield* call(served.gateway, "GET", "/admin/me", bearer(signedIn.accessToken))).status, 200)

        // The client's own id as the audience would take its ID tokens: the gateway does not start.
        const config = yield* ProviderConfig.fromJson({
          sim: [{ model_name: "gpt-4o-mini", base_url: "http://127.0.0.1:9/v1", api_keys: ["sk-unused-0000000000"] }],
          gateway: {
            admin_keys: [{ name: "ops", key: "env:IDENTITY_ADMIN_KEY" }],
            oidc: { issuer: served.issuer.url, client_id: OidcIssuer.clientId, audience: OidcIssuer.clientId }
          }
        })
        const refused = yield* Effect.flip(Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }))
        assert.include(refused.message, "oidc.audience")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "every combination of an ID token's marks is refused; a plain access token is taken",
    () =>
      Effect.gen(function*() {
        const { gateway, issuer } = yield* serveWith({}, { cli_client_id: OidcIssuer.cliClientId })
        for (const typ of ["at+jwt", "application/at+jwt", "JWT", null]) {
          const plain = yield* issuer.token("ada@example.com", {}, { typ })
          assert.strictEqual((yield* call(gateway, "GET", "/admin/me", bearer(plain))).status, 200, String(typ))
        }
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.subarray([...marks], { minLength: 1 }),
              fc.constantFrom("at+jwt", "JWT", null),
              async (chosen, typ) => {
                const claims = Object.assign({}, ...chosen.map((mark) => mark.claims ?? {}))
                // A mark of the claims under each header an access token may have: at+jwt, the generic JWT, none.
                const header = Object.assign({ typ: typ }, ...chosen.map((mark) => mark.header ?? {}))
                const token = await Effect.runPromise(issuer.token("ada@example.com", claims, header))
                const answer = await Effect.runPromise(call(gateway, "GET", "/admin/me", bearer(token)))
                refusedAsIdToken(answer)
              }
            ),
            { numRuns: 60 }
          )
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "signing out gives the browser no token, revokes the session's tokens at the issuer, and its access token is " +
      "refused from then on",
    () =>
      Effect.gen(function*() {
        const served = yield* serve
        const { gateway, issuer } = served
        const { accessToken, idToken, session } = yield* signIn(served, "ada@example.com")
        // Before: the session's access token is a bearer token of the admin API (as an attacker who took it would use).
        assert.strictEqual((yield* call(gateway, "GET", "/admin/me", bearer(accessToken))).status, 200)
        const response = yield* Effect.promise(() =>
          fetch(`${gateway.url}/admin/logout`, { method: "POST", headers: { cookie: `elr_session=${session}` } })
        )
        const text = yield* Effect.promise(() => response.text())
        const answer = JSON.parse(text) as { readonly signed_out: boolean; readonly redirect: string | null }
        assert.isTrue(answer.signed_out)
        // The issuer's sign-out page, with the client and the page to return to, and no token.
        const redirect = new URL(answer.redirect!)
        assert.strictEqual(redirect.origin, issuer.url)
        assert.deepStrictEqual([...redirect.searchParams.keys()].sort(), ["client_id", "post_logout_redirect_uri"])
        const shown = [text, JSON.stringify([...response.headers])].join("\n")
        for (const token of [idToken, accessToken]) assert.notInclude(shown, token)
        assert.notMatch(shown, /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\./)
        // Revoked at the issuer's revocation endpoint (RFC 7009), and refused by the gateway from then on.
        assert.include(issuer.asked, "POST /token/revocation")
        const after = yield* call(gateway, "POST", "/admin/keys", bearer(accessToken), { name: "after" })
        assert.deepStrictEqual([after.status, after.code], [401, "invalid_token"])
        assert.include(after.message, "signed out")
        // Another session's token is still taken.
        const other = yield* signIn(served, "ada@example.com")
        assert.strictEqual((yield* call(gateway, "GET", "/admin/me", bearer(other.accessToken))).status, 200)
        assert.strictEqual((yield* call(gateway, "GET", "/admin/me", bearer(adminKey))).status, 200)
      }).pipe(Effect.scoped),
    120_000
  )
})
