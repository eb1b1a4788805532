/**
 * Sign-on with OpenID Connect (docs/identity.md), through optional peer dependencies loaded only when `gateway.oidc`
 * is configured (`load`; without them the start fails naming the install command): `openid-client` for discovery, the
 * dashboard's authorization-code flow with PKCE and the revocation of a signed-out session's tokens (RFC 7009, where
 * the issuer has a `revocation_endpoint`), and `jose` for the admin API's access tokens, each checked against the
 * issuer's published keys (its `jwks_uri`, fetched again for an unknown key id), issuer, audience, expiry and lifetime
 * (`iat` required, within `max_token_lifetime`) on the gateway's `Clock`. Unsigned and symmetric algorithms are
 * refused, and so are an ID token whatever its audience (`idTokenSign`) and a signed-out session's token. The
 * discovery document is read when first needed and kept; a failed read is tried again at the next.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Jose from "jose"
import type * as OpenIdClient from "openid-client"
import type { Oidc as OidcOptions } from "../../../Gateway.js"
import type { OptionsError } from "../../../OptionsError.js"
import type { StoreUnavailableError } from "../../../Store.js"
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
  /** The audience an access token must name; none: no token is taken (sessions and admin keys only). */
  readonly audience: string | undefined
  /** The sign-on's clients (the dashboard's, the command line's): a token whose audience names one is an ID token. */
  readonly clients: ReadonlyArray<string>
  readonly scopes: ReadonlyArray<string>
  readonly userClaim: string
  readonly groupsClaim: string
  readonly roles: Readonly<Record<string, ReadonlyArray<string>>>
  readonly sessionTtl: Duration.Duration
  /** The longest an access token may live (its `exp` less its `iat`), and the oldest it may be. */
  readonly maxTokenLifetime: Duration.Duration
  readonly redirectUrl: string | undefined
  readonly cliClientId: string | undefined
}

/** The libraries, loaded. */
export interface Libraries {
  readonly client: typeof OpenIdClient
  readonly jose: typeof Jose
}

/** A person a token or a sign-in names: their user claim, who they are at their issuer, and their groups. */
export interface Person {
  /** Their user claim (`user_claim`): how people read their name. */
  readonly subject: string
  /**
   * Who they are, once among every issuer: the token's issuer (`iss`, a trailing `/` dropped) and its subject (`sub`),
   * as `<issuer>#<sub>` (an issuer's URL has no fragment, so the first `#` after it parts the two). Two issuers' people
   * of one user claim are two people.
   */
  readonly id: string
  readonly groups: ReadonlyArray<string>
}

/**
 * The tokens the issuer gave a dashboard session: revoked at sign-out where the issuer allows it, and the access
 * token refused by the gateway from then on until its end (`accessUntil`, Clock milliseconds).
 */
export interface Tokens {
  readonly access: Redacted.Redacted<string> | undefined
  readonly accessUntil: number | undefined
  readonly refresh: Redacted.Redacted<string> | undefined
}

/** What a finished sign-in gives: the person, and the session's tokens. */
export interface SignedIn extends Person {
  readonly tokens: Tokens
}

/** Whether a token belongs to a dashboard session signed out. */
export type SignedOut = (token: string) => Effect.Effect<boolean, StoreUnavailableError>

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
  /**
   * Where to send a browser signing out (the issuer's `end_session_endpoint`), if the issuer publishes one: the
   * client and the page to return to, and no token (the browser is given none).
   */
  readonly endSessionUrl: (returnTo: string) => Effect.Effect<string | undefined, Errors.ErrorAnswer>
  /** A signed-out session's `tokens` revoked at the issuer's `revocation_endpoint` (RFC 7009), where it has one. */
  readonly revoke: (tokens: Tokens) => Effect.Effect<void>
  readonly random: { readonly state: () => string; readonly nonce: () => string; readonly verifier: () => string }
}

/** The default scopes asked for at sign-in. */
export const defaultScopes: ReadonlyArray<string> = ["openid", "email", "profile"]
/** How long a dashboard session lasts by default. */
export const defaultSessionTtl = Duration.hours(8)
/**
 * The longest an access token may live by default: a day, past what most issuers give by default (an hour or so),
 * short of the years a forged or mis-issued token may claim.
 */
export const defaultMaxTokenLifetime = Duration.hours(24)
/** How far the issuer's clock may be from the gateway's, in seconds: for `exp`, `nbf`, and an `iat` ahead of it. */
const clockSkew = 30

// Access tokens are signed with the issuer's private keys: a symmetric or absent signature is never taken.
const algorithms = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

/** The sign-on's clients of `options`: their ID tokens name them as their audience. */
export function clientsOf(options: OidcOptions | undefined): ReadonlyArray<string> {
  return options === undefined
    ? []
    : [options.clientId, ...(options.cliClientId === undefined ? [] : [options.cliClientId])]
}

/** The settings of `options`, with their defaults. */
export function settingsOf(options: OidcOptions): Settings {
  return {
    issuer: options.issuer,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    audience: options.audience,
    clients: clientsOf(options),
    scopes: options.scopes ?? defaultScopes,
    userClaim: options.userClaim ?? "email",
    groupsClaim: options.groupsClaim ?? "groups",
    roles: options.roles ?? {},
    sessionTtl: options.sessionTtl === undefined ? defaultSessionTtl : Duration.fromInputUnsafe(options.sessionTtl),
    maxTokenLifetime: options.maxTokenLifetime === undefined
      ? defaultMaxTokenLifetime
      : Duration.fromInputUnsafe(options.maxTokenLifetime),
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
    OptionsErrors.duration("Gateway", "oidc.sessionTtl", options.sessionTtl, true),
    OptionsErrors.duration("Gateway", "oidc.maxTokenLifetime", options.maxTokenLifetime, true),
    audienceProblem("oidc.audience", options.audience, clientsOf(options))
  ]
}

/**
 * The problem of `audience` (of the option `option`) when it names one of the sign-on's `clients`: an ID token's
 * audience is its client (OpenID Connect Core 1.0, section 2), so such an audience would take ID tokens.
 */
export function audienceProblem(
  option: string,
  audience: string | undefined,
  clients: ReadonlyArray<string>
): OptionsError | undefined {
  return audience === undefined || !clients.includes(audience) ? undefined : OptionsErrors.make(
    "Gateway",
    option,
    audience,
    "an audience of the API apart from the sign-on's clients (`client_id`, `cli_client_id`): the ID tokens of a " +
      "client name it as their audience"
  )
}

// ID-token-only claims (OpenID Connect Core 1.0, sections 2 and 3.3.2.11; Financial-grade API's `s_hash`).
const idTokenClaims = ["nonce", "at_hash", "c_hash", "s_hash"]
// The `typ` of a JWT access token (RFC 9068, section 2.1), and the generic ones issuers give both kinds.
const tokenTypes: ReadonlySet<string> = new Set(["at+jwt", "application/at+jwt", "jwt", "application/jwt"])

/**
 * Why a verified JWT is an ID token and no access token, or `undefined`: a `typ` header of another kind than RFC 9068's
 * `at+jwt` (or the generic `JWT`), a claim only ID tokens carry (`nonce`, `at_hash`, `c_hash`, `s_hash`), Keycloak's
 * `typ: "ID"` claim, or an audience naming one of the sign-on's `clients` (an ID token's audience is its client).
 */
export function idTokenSign(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  clients: ReadonlyArray<string>
): string | undefined {
  const typ = header["typ"]
  if (typeof typ === "string" && !tokenTypes.has(typ.toLowerCase())) {
    return `its type is \`${typ}\`, not an access token's (at+jwt)`
  }
  const claim = idTokenClaims.find((name) => Object.hasOwn(claims, name))
  if (claim !== undefined) return `it carries \`${claim}\`, which only ID tokens carry`
  if (typeof claims["typ"] === "string" && claims["typ"].toLowerCase() === "id") return "its `typ` claim is ID"
  const audience = listClaim(claims, "aud")
  const client = clients.find((id) => audience.includes(id))
  return client === undefined ? undefined : `its audience names the sign-on's client \`${client}\``
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

/** The answer to an access token refused, saying why. */
export const invalidToken = (why: string) =>
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

// Why jose refused a token, in words that name the check (never the token); `lifetime` the longest it may live.
function refusalOf(cause: unknown, lifetime: Duration.Duration): Errors.ErrorAnswer {
  const error = cause as { readonly code?: string; readonly claim?: string; readonly reason?: string }
  switch (error.code) {
    case "ERR_JWT_EXPIRED":
      return invalidToken(
        error.claim === "iat"
          ? `it was issued more than ${Duration.format(lifetime)} ago, the longest the gateway takes a token ` +
            "(max_token_lifetime)"
          : "it has expired"
      )
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return invalidToken(
        error.claim === "aud"
          ? "it is not for this gateway (its audience)"
          : error.claim === "iss"
          ? "it is not from this gateway's issuer"
          : error.claim === "iat" && error.reason === "check_failed"
          ? `it was issued in the future (its \`iat\` is more than ${clockSkew} seconds ahead of the gateway's clock)`
          : error.claim === "iat"
          ? "it has no `iat` claim, the time it was issued, as an access token has (RFC 9068)"
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
function personOf(
  settings: Pick<Settings, "userClaim" | "groupsClaim">,
  claims: Readonly<Record<string, unknown>>
): Result.Result<Person, string> {
  const subject = claims[settings.userClaim]
  if (typeof subject !== "string" || subject === "") {
    return Result.fail(`it has no \`${settings.userClaim}\` claim (user_claim)`)
  }
  // An address the issuer has not verified names whoever typed it (OpenID Connect Core 1.0, section 5.1).
  const verified = claims["email_verified"]
  if (settings.userClaim === "email" && (verified === false || verified === "false")) {
    return Result.fail("its `email` is not verified (`email_verified` is false), and `email` is the user claim")
  }
  const issuer = claims["iss"]
  const sub = claims["sub"]
  if (typeof issuer !== "string" || typeof sub !== "string" || sub === "") {
    return Result.fail("it has no `iss` and `sub` claims, which name the person at their issuer")
  }
  return Result.succeed({
    subject,
    id: `${issuer.replace(/\/$/, "")}#${sub}`,
    groups: listClaim(claims, settings.groupsClaim)
  })
}

// One token revoked; a refusal (an issuer that revokes no JWT access token answers `unsupported_token_type`) logged.
function revokeOne(
  client: Libraries["client"],
  config: OpenIdClient.Configuration,
  token: Redacted.Redacted<string>,
  hint: string
) {
  return Effect.tryPromise(() => client.tokenRevocation(config, Redacted.value(token), { token_type_hint: hint })).pipe(
    Effect.catch((error) =>
      Effect.logInfo("Gateway: the identity provider did not revoke a signed-out session's token").pipe(
        Effect.annotateLogs({ token_type: hint, reason: messageOf(error.cause) })
      )
    )
  )
}

/** The identity provider of `settings` over `libraries`, on the time `now`, refusing signed-out sessions' tokens. */
export function make(settings: Settings, libraries: Libraries, now: () => number, signedOut: SignedOut): Oidc {
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

  const verify = Effect.fnUntraced(function*(token: string) {
    const audience = settings.audience
    if (audience === undefined) {
      return yield* Effect.fail(invalidToken(
        "this gateway takes no access token on its admin API (`gateway.oidc.audience` is not set): sign in to the " +
          "dashboard, or use an admin key"
      ))
    }
    const ended = yield* Effect.mapError(
      signedOut(token),
      (error) => Errors.databaseUnavailable(error.reason)
    )
    if (ended) return yield* Effect.fail(invalidToken("it belongs to a dashboard session that was signed out"))
    const { config, keys } = yield* discover
    const lifetime = Math.floor(Duration.toSeconds(settings.maxTokenLifetime))
    const { payload, protectedHeader } = yield* Effect.tryPromise({
      try: () =>
        jose.jwtVerify(token, keys, {
          issuer: config.serverMetadata().issuer,
          audience,
          algorithms,
          currentDate: new Date(now()),
          clockTolerance: clockSkew,
          // Requires `iat` (as RFC 9068 does of an access token): refused issued longer ago, or ahead of the clock.
          maxTokenAge: lifetime,
          requiredClaims: ["exp"]
        }),
      catch: (cause) => refusalOf(cause, settings.maxTokenLifetime)
    })
    const lives = payload.exp! - payload.iat!
    if (lives > lifetime) {
      return yield* Effect.fail(invalidToken(
        `it lives ${Duration.format(Duration.seconds(lives))} (\`exp\` less \`iat\`), longer than the ` +
          `${Duration.format(settings.maxTokenLifetime)} the gateway takes (max_token_lifetime)`
      ))
    }
    const idToken = idTokenSign(protectedHeader, payload, settings.clients)
    if (idToken !== undefined) {
      return yield* Effect.fail(invalidToken(`it is an ID token, never an API bearer token (${idToken})`))
    }
    return yield* Effect.fromResult(Result.mapError(personOf(settings, payload), invalidToken))
  })

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
            tokens: {
              access: Redacted.make(tokens.access_token),
              accessUntil: tokens.expires_in === undefined ? undefined : now() + tokens.expires_in * 1000,
              refresh: tokens.refresh_token === undefined ? undefined : Redacted.make(tokens.refresh_token)
            }
          }
        },
        catch: (cause) => signInFailed(messageOf(cause))
      }))

  const endSessionUrl: Oidc["endSessionUrl"] = (returnTo) =>
    Effect.map(
      discover,
      ({ config }) =>
        config.serverMetadata().end_session_endpoint === undefined ? undefined : client.buildEndSessionUrl(config, {
          post_logout_redirect_uri: returnTo,
          client_id: settings.clientId
        }).href
    )

  const revoke: Oidc["revoke"] = (tokens) =>
    Effect.matchEffect(discover, {
      onFailure: () => Effect.void,
      onSuccess: ({ config }) =>
        config.serverMetadata().revocation_endpoint === undefined ? Effect.void : Effect.andThen(
          tokens.refresh === undefined ? Effect.void : revokeOne(client, config, tokens.refresh, "refresh_token"),
          tokens.access === undefined ? Effect.void : revokeOne(client, config, tokens.access, "access_token")
        )
    })

  return {
    settings,
    verify,
    authorizationUrl,
    callback,
    endSessionUrl,
    revoke,
    random: { state: client.randomState, nonce: client.randomNonce, verifier: client.randomPKCECodeVerifier }
  }
}
