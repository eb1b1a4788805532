/**
 * Sign-on with OpenID Connect (docs/identity.md), through maintained libraries, optional peer dependencies loaded only
 * when provider.json configures `gateway.oidc` (`load`: without them the start fails naming the install command):
 * `openid-client` for the issuer's discovery document and the dashboard's authorization-code flow with PKCE, and
 * `jose` for the admin API's access tokens, each checked against the keys the issuer publishes (its `jwks_uri`, fetched
 * again for a key id it does not know), its issuer, the audience and the expiry, on the gateway's `Clock`; unsigned
 * (`alg: none`) and symmetric algorithms are refused. The discovery document is read at the first sign-in or token and
 * kept; a failed read is tried again at the next.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Jose from "jose"
import type * as OpenIdClient from "openid-client"
import type { Oidc as OidcOptions } from "../../../Gateway.js"
import type { OptionsError } from "../../../OptionsError.js"
import { messageOf } from "../../errorText.js"
import * as OptionsErrors from "../../optionsError.js"
import * as Errors from "../errorAnswer.js"

/** The install command the libraries need, named wherever they are missing. */
export const installCommand = "npm install openid-client jose"

/** The settings with their defaults. */
export interface Settings {
  readonly issuer: string
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string> | undefined
  readonly audience: string
  readonly scopes: ReadonlyArray<string>
  readonly userClaim: string
  readonly groupsClaim: string
  readonly roles: Readonly<Record<string, ReadonlyArray<string>>>
  readonly sessionTtl: Duration.Duration
  readonly redirectUrl: string | undefined
  readonly cliClientId: string | undefined
}

/** The libraries, loaded. */
export interface Libraries {
  readonly client: typeof OpenIdClient
  readonly jose: typeof Jose
}

/** A person a token or a sign-in names: their user claim, and their groups. */
export interface Person {
  readonly subject: string
  readonly groups: ReadonlyArray<string>
}

/** What a finished sign-in gives: the person, and the ID token to hint at sign-out. */
export interface SignedIn extends Person {
  readonly idToken: Redacted.Redacted<string> | undefined
}

/** The gateway's identity provider. */
export interface Oidc {
  readonly settings: Settings
  /** The person a bearer access token names, or the 401 (or, the issuer away, 503) answer. */
  readonly verify: (token: string) => Effect.Effect<Person, Errors.ErrorAnswer>
  /** The issuer's authorization URL for a sign-in returning to `redirectUri`, with PKCE's challenge of `verifier`. */
  readonly authorizationUrl: (input: {
    readonly redirectUri: string
    readonly state: string
    readonly nonce: string
    readonly verifier: string
  }) => Effect.Effect<string, Errors.ErrorAnswer>
  /** The code of the callback's `url` exchanged and checked (state, nonce, PKCE): who signed in. */
  readonly callback: (input: {
    readonly url: URL
    readonly state: string
    readonly nonce: string
    readonly verifier: string
  }) => Effect.Effect<SignedIn, Errors.ErrorAnswer>
  /** Where to send a browser signing out (the issuer's `end_session_endpoint`), if the issuer publishes one. */
  readonly endSessionUrl: (input: {
    readonly idToken: Redacted.Redacted<string> | undefined
    readonly returnTo: string
  }) => Effect.Effect<string | undefined, Errors.ErrorAnswer>
  readonly random: { readonly state: () => string; readonly nonce: () => string; readonly verifier: () => string }
}

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/

/** Whether a presented credential has a JWT's shape (three base64url parts), not a key's. */
export const isJwtShaped = (credential: string): boolean => jwtShape.test(credential)

/** The default scopes asked for at sign-in. */
export const defaultScopes: ReadonlyArray<string> = ["openid", "email", "profile"]
/** How long a dashboard session lasts by default. */
export const defaultSessionTtl = Duration.hours(8)

// Access tokens are signed with the issuer's private keys: a symmetric or absent signature is never taken.
const algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

/** The settings of `options`, with their defaults. */
export function settingsOf(options: OidcOptions): Settings {
  return {
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    audience: options.audience ?? options.clientId,
    scopes: options.scopes ?? defaultScopes,
    userClaim: options.userClaim ?? "email",
    groupsClaim: options.groupsClaim ?? "groups",
    roles: options.roles ?? {},
    sessionTtl: options.sessionTtl === undefined ? defaultSessionTtl : Duration.fromInputUnsafe(options.sessionTtl),
    redirectUrl: options.redirectUrl,
    cliClientId: options.cliClientId
  }
}

/** Whether `url` names this machine: the one place an issuer or a redirect may be plain `http:`. */
export function isLoopbackUrl(url: URL): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname)
}

/** The problem of `text` as the URL of `option` (an issuer's, a redirect's), or undefined when it is one. */
export function urlProblem(option: string, text: string | undefined): OptionsError | undefined {
  if (text === undefined) return undefined
  const parsed = URL.canParse(text) ? new URL(text) : undefined
  return parsed !== undefined &&
      (parsed.protocol === "https:" || (parsed.protocol === "http:" && isLoopbackUrl(parsed)))
    ? undefined
    : OptionsErrors.make("Gateway", option, text, "an https:// URL (http:// only on this machine's loopback)")
}

/** The problems of `options`, each naming its option. */
export function problems(options: OidcOptions): ReadonlyArray<OptionsError | undefined> {
  return [
    urlProblem("oidc.issuer", options.issuer),
    urlProblem("oidc.redirectUrl", options.redirectUrl),
    options.clientId === "" ? OptionsErrors.make("Gateway", "oidc.clientId", "", "a non-empty client id") : undefined,
    options.cliClientId === ""
      ? OptionsErrors.make("Gateway", "oidc.cliClientId", "", "a non-empty client id")
      : undefined,
    OptionsErrors.duration("Gateway", "oidc.sessionTtl", options.sessionTtl, true)
  ]
}

/** The libraries, or the error naming the install command and the `option` (`oidc`, `tokenCallers`) that needs them. */
export const load = (option: string): Effect.Effect<Libraries, OptionsError> =>
  Effect.tryPromise({
    try: async () => ({ client: await import("openid-client"), jose: await import("jose") }),
    catch: () =>
      OptionsErrors.make(
        "Gateway",
        option,
        option === "oidc" ? "sign-on" : "callers by token",
        `the optional packages openid-client and jose installed (${installCommand})`
      )
  })

const unavailable = (why: string) =>
  Errors.answer(
    503,
    `The identity provider could not be reached (${why}); retry later, or use an admin key.`,
    "server_error",
    null,
    "identity_provider_unavailable"
  )

const invalidToken = (why: string) =>
  Errors.answer(401, `The access token was refused: ${why}.`, "invalid_request_error", null, "invalid_token")

/** The answer to a sign-in that could not be completed, saying why. */
export const signInFailed = (why: string) =>
  Errors.answer(
    400,
    `The sign-in could not be completed (${why}): sign in again at /admin/login.`,
    "invalid_request_error",
    null,
    "sign_in_failed"
  )

// Why jose refused a token, in words that name the check (never the token).
function refusalOf(cause: unknown): Errors.ErrorAnswer {
  const error = cause as { readonly code?: string; readonly claim?: string }
  switch (error.code) {
    case "ERR_JWT_EXPIRED":
      return invalidToken("it has expired")
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return invalidToken(
        error.claim === "aud"
          ? "it is not for this gateway (its audience)"
          : error.claim === "iss"
          ? "it is not from this gateway's issuer"
          : `its \`${error.claim}\` claim does not check`
      )
    case "ERR_JOSE_ALG_NOT_ALLOWED":
    case "ERR_JOSE_NOT_SUPPORTED":
      return invalidToken("its signature algorithm is not one the gateway takes (unsigned tokens never are)")
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
    case "ERR_JWKS_NO_MATCHING_KEY":
      return invalidToken("its signature is not by one of the issuer's published keys")
    case "ERR_JWKS_TIMEOUT":
      return unavailable("its published keys were not read in time")
    default:
      return error.code === undefined ? unavailable(messageOf(cause)) : invalidToken("it is not a signed JWT")
  }
}

// The claim `name` of `claims` as a list of strings (a single string is a list of one).
function listClaim(claims: Readonly<Record<string, unknown>>, name: string): ReadonlyArray<string> {
  const value = claims[name]
  if (typeof value === "string") return [value]
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []
}

/** The person `claims` name under `settings`, or why not. */
function personOf(settings: Settings, claims: Readonly<Record<string, unknown>>): Result.Result<Person, string> {
  const subject = claims[settings.userClaim]
  if (typeof subject !== "string" || subject === "") {
    return Result.fail(`it has no \`${settings.userClaim}\` claim (user_claim)`)
  }
  return Result.succeed({ subject, groups: listClaim(claims, settings.groupsClaim) })
}

/** The identity provider of `options`, over the loaded `libraries`, reading time from `now`. */
export function make(options: OidcOptions, libraries: Libraries, now: () => number): Oidc {
  const settings = settingsOf(options)
  const { client, jose } = libraries
  const issuerUrl = new URL(settings.issuer)
  type Discovered = { readonly config: OpenIdClient.Configuration; readonly keys: Jose.JWTVerifyGetKey }
  let discovered: Discovered | undefined
  // The discovery document, read once it is first needed and kept; a failure is not kept.
  const discover = Effect.suspend((): Effect.Effect<Discovered, Errors.ErrorAnswer> => {
    if (discovered !== undefined) return Effect.succeed(discovered)
    return Effect.tryPromise({
      try: async () => {
        const config = await client.discovery(
          issuerUrl,
          settings.clientId,
          settings.clientSecret === undefined ? undefined : Redacted.value(settings.clientSecret),
          undefined,
          issuerUrl.protocol === "http:" ? { execute: [client.allowInsecureRequests] } : undefined
        )
        const jwksUri = config.serverMetadata().jwks_uri
        if (jwksUri === undefined) throw new Error("its discovery document names no jwks_uri")
        return { config, keys: jose.createRemoteJWKSet(new URL(jwksUri)) }
      },
      catch: (cause) => unavailable(`its discovery document at ${settings.issuer}: ${messageOf(cause)}`)
    }).pipe(Effect.tap((found) => Effect.sync(() => (discovered = found))))
  })

  const verify = (token: string) =>
    Effect.flatMap(discover, ({ config, keys }) =>
      Effect.flatMap(
        Effect.tryPromise({
          try: () =>
            jose.jwtVerify(token, keys, {
              issuer: config.serverMetadata().issuer,
              audience: settings.audience,
              algorithms,
              currentDate: new Date(now()),
              clockTolerance: 30,
              requiredClaims: ["exp"]
            }),
          catch: refusalOf
        }),
        ({ payload }) => {
          return Effect.fromResult(Result.mapError(personOf(settings, payload), invalidToken))
        }
      ))

  const authorizationUrl: Oidc["authorizationUrl"] = (input) =>
    Effect.flatMap(
      discover,
      ({ config }) =>
        Effect.promise(() => client.calculatePKCECodeChallenge(input.verifier)).pipe(
          Effect.map((challenge) =>
            client.buildAuthorizationUrl(config, {
              redirect_uri: input.redirectUri,
              scope: settings.scopes.join(" "),
              code_challenge: challenge,
              code_challenge_method: "S256",
              state: input.state,
              nonce: input.nonce
            }).href
          )
        )
    )

  const callback: Oidc["callback"] = (input) =>
    Effect.flatMap(discover, ({ config }) =>
      Effect.tryPromise({
        try: async () => {
          const tokens = await client.authorizationCodeGrant(config, input.url, {
            pkceCodeVerifier: input.verifier,
            expectedState: input.state,
            expectedNonce: input.nonce,
            idTokenExpected: true
          })
          const idClaims: Readonly<Record<string, unknown>> = tokens.claims() ?? {}
          // The user and groups claims from the ID token, else from the userinfo endpoint (where many issuers keep
          // what the scopes asked for).
          const claims = idClaims[settings.userClaim] !== undefined && idClaims[settings.groupsClaim] !== undefined
            ? idClaims
            : { ...(await client.fetchUserInfo(config, tokens.access_token, String(idClaims["sub"]))), ...idClaims }
          const person = personOf(settings, claims)
          if (Result.isFailure(person)) throw new Error(`the issuer's answer ${person.failure}`)
          return {
            ...person.success,
            idToken: tokens.id_token === undefined ? undefined : Redacted.make(tokens.id_token)
          }
        },
        catch: (cause) => signInFailed(messageOf(cause))
      }))

  const endSessionUrl: Oidc["endSessionUrl"] = (input) =>
    Effect.map(
      discover,
      ({ config }) =>
        config.serverMetadata().end_session_endpoint === undefined ? undefined : client.buildEndSessionUrl(config, {
          post_logout_redirect_uri: input.returnTo,
          client_id: settings.clientId,
          ...(input.idToken === undefined ? {} : { id_token_hint: Redacted.value(input.idToken) })
        }).href
    )

  return {
    settings,
    verify,
    authorizationUrl,
    callback,
    endSessionUrl,
    random: { state: client.randomState, nonce: client.randomNonce, verifier: client.randomPKCECodeVerifier }
  }
}
