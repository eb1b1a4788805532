/**
 * The dashboard's sign-on (docs/identity.md), with provider.json's `gateway.oidc`:
 *
 * - `GET /admin/login`: a sign-in begun (state, nonce and PKCE verifier kept by the gateway, `sessions.ts`; the state
 *   also in a short-lived cookie binding the sign-in to this browser), the browser sent to the issuer.
 * - `GET /admin/callback`: the issuer's code exchanged and checked, a session opened in an HTTP-only, `SameSite=Lax`
 *   cookie for its bounded life, the browser sent to the dashboard.
 * - `POST /admin/logout`: the session ended here (its cookie and access token refused from then on), its tokens revoked
 *   at the issuer where it can (RFC 7009), and where it has an `end_session_endpoint`, where to send the browser to
 *   sign out there too (never a token).
 * - `GET /admin/oidc`: what a command line needs to sign in through the issuer (`login --url`), to anyone: it is all
 *   public at the issuer too.
 * - `GET /admin/me`: who asks, their roles, and the permissions these grant somewhere and over the whole gateway (what
 *   the dashboard's routes need, so it shows and asks for those only).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Redacted from "effect/Redacted"
import { AdminCheck } from "../access/adminCheck.js"
import { grants, permissions } from "../access/roles.js"
import { digestNamed } from "../audit/actor.js"
import type { Subjects } from "../audit/record.js"
import * as Errors from "../errorAnswer.js"
import { type Oidc, signInFailed } from "../identity/oidc.js"
import { cookieOf, sessionCookie, unavailable } from "../identity/principal.js"
import * as Sessions from "../identity/sessions.js"
import { errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"

/** The cookie that binds a sign-in under way to the browser that began it. */
export const loginCookie = "elr_login"

const callbackPath = "/admin/callback"

const notConfigured = Errors.answer(
  404,
  "This gateway has no sign-on: configure provider.json's `gateway.oidc` (docs/identity.md), or use an admin key.",
  "invalid_request_error",
  null,
  "sign_on_not_configured"
)

/** The scheme and host a request came to (`x-forwarded-proto` read for the scheme, as a proxy in front sends it). */
export function originOf(request: HttpServerRequest.HttpServerRequest): string {
  const forwarded = request.headers["x-forwarded-proto"]?.split(",")[0]?.trim()
  const scheme = forwarded === "https" ? "https" : "http"
  return `${scheme}://${request.headers["host"] ?? "localhost"}`
}

// The redirect URI of the sign-on: the configured one, else the callback of the origin the request came to.
function redirectUriOf(oidc: Oidc, request: HttpServerRequest.HttpServerRequest): string {
  return oidc.settings.redirectUrl ?? `${originOf(request)}${callbackPath}`
}

// A cookie's attributes: HTTP-only, `SameSite=Lax`, `Secure` when `url` is https.
function cookieOptions(url: string, path: string, maxAge: Duration.Duration) {
  return { httpOnly: true, sameSite: "lax", secure: url.startsWith("https:"), path, maxAge } as const
}

/**
 * The audit subject of a sign-out: the session the request showed, named by its id's digest (`sha256:` and its first
 * hex digits, as the sessions' store keys it; never the id, which is the cookie), and no values.
 */
export const subjects: Subjects = {
  "POST /admin/logout": {
    object: (_params, _answer, request) => {
      const id = cookieOf(request.headers["cookie"], sessionCookie)
      return id === undefined ? undefined : `session:${digestNamed(id)}`
    },
    state: () => Effect.succeed(null)
  }
}

/** The sign-on routes over the configuration served. */
export const routes = Effect.gen(function*() {
  const { now, options } = yield* Configuration
  const { served } = yield* Requests
  const { adminAs } = yield* AdminCheck
  const { oidc } = options
  const sessions = yield* Sessions.sessions

  // `handle` with the identity provider; without one, 404 saying how to configure it.
  function withOidc(
    handle: (oidc: Oidc, request: HttpServerRequest.HttpServerRequest) => Effect.Effect<
      HttpServerResponse.HttpServerResponse,
      Errors.ErrorAnswer
    >
  ) {
    return served(({ request }) =>
      oidc === undefined
        ? Effect.succeed(errorResponse(notConfigured))
        : Effect.catch(handle(oidc, request), (refused) => Effect.succeed(errorResponse(refused)))
    )
  }

  const login = withOidc((oidc, request) => {
    const state = oidc.random.state()
    const nonce = oidc.random.nonce()
    const verifier = oidc.random.verifier()
    const redirectUri = redirectUriOf(oidc, request)
    const begun = Effect.mapError(
      sessions.begin(state, {
        codeVerifier: Redacted.make(verifier),
        nonce,
        redirectUri,
        expiresAt: now() + Sessions.pendingMillis
      }),
      unavailable
    )
    return Effect.map(
      Effect.andThen(begun, oidc.authorizationUrl({ redirectUri, state, nonce, verifier })),
      (location) =>
        HttpServerResponse.setCookieUnsafe(
          HttpServerResponse.redirect(location, { status: 302 }),
          loginCookie,
          state,
          cookieOptions(redirectUri, callbackPath, Duration.millis(Sessions.pendingMillis))
        )
    )
  })

  const callback = withOidc((oidc, request) =>
    Effect.gen(function*() {
      const query = new URL(request.url, "http://gateway").searchParams
      const refusedThere = query.get("error")
      if (refusedThere !== null) {
        return yield* Effect.fail(signInFailed(`the identity provider answered ${refusedThere}`))
      }
      const state = query.get("state") ?? ""
      // A state this browser did not begin (a sign-in forced on it from elsewhere) is refused.
      if (state === "" || cookieOf(request.headers["cookie"], loginCookie) !== state) {
        return yield* Effect.fail(signInFailed("it was not begun in this browser, or it took too long"))
      }
      const pending = yield* Effect.mapError(sessions.take(state), unavailable)
      if (pending === undefined) return yield* Effect.fail(signInFailed("it took too long, or was already used"))
      const url = new URL(pending.redirectUri)
      url.search = query.toString()
      const person = yield* oidc.callback({
        url,
        state,
        nonce: pending.nonce,
        verifier: Redacted.value(pending.codeVerifier)
      })
      const ttl = oidc.settings.sessionTtl
      const id = yield* Effect.mapError(
        sessions.open({ ...person, expiresAt: now() + Duration.toMillis(ttl) }),
        unavailable
      )
      yield* Effect.logInfo(`Gateway: ${person.subject} signed in to the dashboard`).pipe(
        Effect.annotateLogs({ person: person.subject })
      )
      const dashboard = new URL("/dashboard", pending.redirectUri).href
      return HttpServerResponse.redirect(dashboard, { status: 302 }).pipe(
        HttpServerResponse.setCookieUnsafe(sessionCookie, id, cookieOptions(dashboard, "/", ttl)),
        HttpServerResponse.expireCookieUnsafe(loginCookie, { path: callbackPath })
      )
    })
  )

  const logout = withOidc((oidc, request) =>
    Effect.gen(function*() {
      const id = cookieOf(request.headers["cookie"], sessionCookie)
      const ended = id === undefined ? undefined : yield* Effect.mapError(sessions.close(id), unavailable)
      if (ended !== undefined) yield* oidc.revoke(ended.tokens)
      const returnTo = `${originOf(request)}/dashboard`
      const location = ended === undefined
        ? undefined
        : yield* Effect.orElseSucceed(oidc.endSessionUrl(returnTo), () => undefined)
      return HttpServerResponse.expireCookieUnsafe(
        json(200, JSON.stringify({ signed_out: ended !== undefined, redirect: location ?? null })),
        sessionCookie,
        { path: "/" }
      )
    })
  )

  const me = served(() =>
    adminAs((principal) =>
      Effect.succeed(json(
        200,
        JSON.stringify({
          name: principal.name,
          kind: principal.kind,
          via: principal.via,
          roles: principal.roles,
          permissions: permissions.filter((permission) => grants(principal.roles, permission, "any")),
          global_permissions: permissions.filter((permission) => grants(principal.roles, permission, "global")),
          sign_on: oidc !== undefined
        })
      ))
    )
  )

  const published = withOidc(({ settings }) =>
    Effect.succeed(json(
      200,
      JSON.stringify({
        issuer: settings.issuer,
        audience: settings.audience ?? null,
        scopes: settings.scopes,
        cli_client_id: settings.cliClientId ?? null
      })
    ))
  )

  return [
    HttpRouter.route("GET", "/admin/login", login),
    HttpRouter.route("GET", "/admin/oidc", published),
    HttpRouter.route("GET", callbackPath, callback),
    HttpRouter.route("POST", "/admin/logout", logout),
    HttpRouter.route("GET", "/admin/me", me)
  ]
})
