/**
 * `effect-llm-router login` and `logout`: signing in for a gateway through its OpenID Connect issuer with the device
 * authorization grant (RFC 8628): the address and code printed to stderr, approval in any browser, the tokens kept
 * (`LoginStore`) for the admin commands. Issuer, CLI client and scopes are the gateway's (`GET /admin/oidc`) unless
 * flags give them. `logout` forgets them, revoking the refresh token where the issuer has a revocation endpoint.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as OpenIdClient from "openid-client"
import * as UndiciHttpClient from "../UndiciHttpClient.js"
import * as AdminApi from "./adminApi.js"
import { printable } from "./adminApi.js"
import * as AdminToken from "./adminToken.js"
import { ExitCode, type Io, runParsed } from "./io.js"
import * as LoginStore from "./loginStore.js"
import { failUsage, loginUsage, logoutUsage, UsageError } from "./usage.js"

/** The scopes asked for by default: who the person is, and a refresh token. */
export const defaultScopes = "openid email offline_access"

const deviceGrant = "urn:ietf:params:oauth:grant-type:device_code"

const loginFlags = {
  url: { type: "string" },
  issuer: { type: "string" },
  "client-id": { type: "string" },
  scope: { type: "string" },
  data: { type: "string" }
} as const

interface LoginArgs {
  readonly url: string
  readonly issuer: string
  readonly clientId: string
  readonly scope: string
  readonly data: string | undefined
}

/** `login`'s flags read: what they give, each checked; the rest is asked of the gateway (`resolve`). */
type LoginFlags = Omit<LoginArgs, "issuer" | "clientId" | "scope"> & {
  readonly issuer: string | undefined
  readonly clientId: string | undefined
  readonly scope: string | undefined
}

const needsIssuer = "login needs --issuer, the gateway's OpenID Connect issuer URL (http:// or https://)"
const needsClientId = "login needs --client-id, the issuer's public client for the command line"

// Scopes as one space-separated string, from words separated by spaces or commas.
const scopeOf = (text: string): string => text.split(/[\s,]+/).filter((word) => word !== "").join(" ")

const parseLogin = (argv: ReadonlyArray<string>): Result.Result<LoginFlags | "help", UsageError> =>
  Result.gen(function*() {
    const parsed = yield* AdminApi.gatewayCommandFlags("login", argv, loginFlags)
    if (parsed === "help") return parsed
    const { url, values } = parsed
    if (values.issuer !== undefined && !/^https?:\/\/[^/]/.test(values.issuer)) {
      return yield* failUsage(`${needsIssuer}, got "${values.issuer}"`)
    }
    const clientId = values["client-id"]
    if (clientId === "") return yield* failUsage(needsClientId)
    const scope = values.scope === undefined ? undefined : scopeOf(values.scope)
    if (scope === "") return yield* failUsage("--scope needs at least one scope")
    return { url, issuer: values.issuer?.replace(/\/+$/, ""), clientId, scope, data: values.data }
  })

/** What a gateway with sign-on publishes for a command line to sign in (`GET /admin/oidc`). */
const Published = Schema.Struct({
  issuer: Schema.String,
  scopes: Schema.Array(Schema.String),
  cli_client_id: Schema.NullOr(Schema.String)
})

/**
 * `flags` completed from the gateway's published sign-on (flags win): its issuer, CLI client, and scopes plus
 * `offline_access` (a refresh token) without `--scope`. A gateway publishing none, or unreachable, leaves a usage error
 * naming the flag still needed.
 */
const resolve = Effect.fnUntraced(function*(flags: LoginFlags) {
  if (flags.issuer !== undefined && flags.clientId !== undefined) {
    return { ...flags, issuer: flags.issuer, clientId: flags.clientId, scope: flags.scope ?? defaultScopes }
  }
  const asked = yield* Effect.result(
    AdminApi.requestJson(
      { url: flags.url, key: undefined, method: "GET", path: "/admin/oidc" },
      Published,
      "sign-on settings"
    ).pipe(Effect.provide(UndiciHttpClient.layer()))
  )
  const missing = flags.issuer === undefined ? needsIssuer : needsClientId
  if (asked._tag === "Failure") {
    return yield* new UsageError({
      reason: `${missing}; the gateway at ${flags.url} publishes none (${asked.failure.message})`
    })
  }
  const published = asked.success.answer
  const clientId = flags.clientId ?? published.cli_client_id ?? undefined
  if (clientId === undefined) {
    return yield* new UsageError({
      reason: `${needsClientId}; the gateway at ${flags.url} publishes none (its provider.json's ` +
        "gateway.oidc.cli_client_id)"
    })
  }
  const scopes = published.scopes.includes("offline_access")
    ? published.scopes
    : [...published.scopes, "offline_access"]
  return {
    ...flags,
    issuer: flags.issuer ?? published.issuer.replace(/\/+$/, ""),
    clientId,
    scope: flags.scope ?? scopes.join(" ")
  }
})

const failed = (reason: string) => new LoginStore.LoginError({ reason })

// Who signed in, from the ID token's claims, if one came.
const whoOf = (tokens: OpenIdClient.TokenEndpointResponse & OpenIdClient.TokenEndpointResponseHelpers) => {
  const claims = tokens.claims()
  const who = claims?.["email"] ?? claims?.["preferred_username"] ?? claims?.sub
  return typeof who === "string" ? ` as ${printable(who)}` : ""
}

/**
 * The device authorization grant: the code printed, the token endpoint polled at the issuer's interval (five seconds
 * unless it says, five more at each `slow_down`) until approved, denied or expired; then the tokens stored for the URL.
 */
const login = Effect.fnUntraced(function*(args: LoginArgs, io: Io, secrets: Array<Redacted.Redacted<string>>) {
  const client = yield* LoginStore.loadClient
  const config = yield* LoginStore.discover(client, args.issuer, args.clientId)
  const device = yield* LoginStore.atIssuer(
    `The issuer at ${args.issuer} refused to start a login`,
    () => client.initiateDeviceAuthorization(config, { scope: args.scope })
  )
  secrets.push(Redacted.make(device.device_code))
  const expires = (yield* Clock.currentTimeMillis) + device.expires_in * 1000
  io.stderr(
    `To sign in, open ${printable(device.verification_uri)} and enter the code ` +
      `${printable(device.user_code)}` +
      (device.verification_uri_complete === undefined
        ? ""
        : `\n(or open ${printable(device.verification_uri_complete)})`) +
      `\nWaiting for approval (the code expires in ${Math.round(device.expires_in / 60)} min)...\n`
  )
  let interval = Duration.seconds(device.interval ?? 5)
  while (true) {
    yield* Effect.sleep(interval)
    const answer = yield* Effect.result(Effect.tryPromise({
      try: () => client.genericGrantRequest(config, deviceGrant, { device_code: device.device_code }),
      catch: (cause) => cause
    }))
    if (Result.isSuccess(answer)) {
      const tokens = answer.success
      secrets.push(Redacted.make(tokens.access_token))
      if (tokens.refresh_token !== undefined) secrets.push(Redacted.make(tokens.refresh_token))
      const stored = LoginStore.storedOf(
        { issuer: args.issuer, clientId: args.clientId },
        tokens,
        yield* Clock.currentTimeMillis
      )
      const directory = AdminToken.dataDirectory(args.data, io.env)
      yield* LoginStore.put(directory, args.url, stored)
      io.stderr(
        `Logged in${whoOf(tokens)} for ${args.url}: keys, teams and spend send your access token there ` +
          `(kept in ${LoginStore.pathIn(directory)}${
            stored.refresh_token === undefined ? "" : ", refreshed as it expires"
          })\n`
      )
      return
    }
    const error = LoginStore.issuerErrorOf(answer.failure)
    if (error === "access_denied") {
      return yield* failed(`The login was denied at ${args.issuer}: nothing was stored`)
    }
    // The issuer's word that the code expired, or its lifetime over by this clock while the issuer still waits.
    const pending = error === "authorization_pending" || error === "slow_down"
    if (error === "expired_token" || (pending && (yield* Clock.currentTimeMillis) >= expires)) {
      return yield* failed(`The code ${printable(device.user_code)} expired before it was approved: run login again`)
    }
    if (error === "slow_down") interval = Duration.sum(interval, Duration.seconds(5))
    if (pending) continue
    return yield* LoginStore.atIssuer(
      `The issuer at ${args.issuer} refused the login`,
      () => Promise.reject(answer.failure)
    )
  }
})

/**
 * Runs `login` over `argv`: 0 logged in, 1 denied, expired or the issuer unreachable, 2 bad flags.
 */
export const run = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  runParsed(
    io,
    "login",
    loginUsage,
    Effect.fromResult(parseLogin(argv)),
    (flags, secrets) => Effect.as(Effect.flatMap(resolve(flags), (args) => login(args, io, secrets)), ExitCode.ok)
  )

const logoutFlags = { url: { type: "string" }, data: { type: "string" } } as const

// The stored login `login` revoked at its issuer, if the issuer publishes a revocation endpoint: whether it did.
const revoke = Effect.fnUntraced(function*(login: LoginStore.Stored) {
  const client = yield* LoginStore.loadClient
  const config = yield* LoginStore.discover(client, login.issuer, login.client_id)
  if (config.serverMetadata().revocation_endpoint === undefined) return false
  const token = login.refresh_token ?? login.access_token
  yield* LoginStore.atIssuer(
    `The issuer at ${login.issuer} did not revoke the login`,
    () => client.tokenRevocation(config, token)
  )
  return true
})

/**
 * Runs `logout`: the login for `--url` revoked at its issuer where possible, and removed; 0 when it is gone (or there
 * was none), 2 bad flags.
 */
export const runLogout = (argv: ReadonlyArray<string>, io: Io): Effect.Effect<number> =>
  runParsed(
    io,
    "logout",
    logoutUsage,
    Effect.fromResult(AdminApi.gatewayCommandFlags("logout", argv, logoutFlags)),
    ({ url, values }) =>
      Effect.gen(function*() {
        const directory = AdminToken.dataDirectory(values.data, io.env)
        const login = (yield* LoginStore.readAll(directory))[url]
        if (login === undefined) {
          io.stderr(`Not logged in for ${url}: nothing to do\n`)
          return ExitCode.ok
        }
        // The tokens are forgotten here whatever the issuer answers: a login is never kept for want of a revocation.
        const revoked = yield* revoke(login).pipe(
          Effect.catch((error) =>
            Effect.sync(() => {
              io.stderr(`${error.message} (it lapses at its expiry)\n`)
              return false
            })
          )
        )
        yield* LoginStore.put(directory, url, undefined)
        io.stderr(`Logged out for ${url}${revoked ? ", the login revoked at its issuer" : ""}\n`)
        return ExitCode.ok
      })
  )
