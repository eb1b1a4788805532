/**
 * The logins `login` keeps (docs/identity.md, "From the command line"): per gateway, the access and refresh tokens an
 * OpenID Connect issuer gave through the device authorization grant (RFC 8628), in `logins.json` of the CLI's data
 * directory (mode 0600, as the admin token). Admin commands send the access token, refreshed once expired; tokens are
 * never printed. `openid-client`, an optional peer, is loaded only to make, refresh or revoke a login.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as FsPromises from "node:fs/promises"
import * as Path from "node:path"
import type * as OpenIdClient from "openid-client"
import * as AdminToken from "./adminToken.js"
import { programName } from "./usage.js"

/**
 * The file's name in the data directory.
 */
export const fileName = "logins.json"

/**
 * The install command `login` needs, named when `openid-client` is missing.
 */
export const installCommand = "npm install openid-client"

/**
 * A login could not be made, refreshed, read or ended: `reason` says why and what to do.
 */
export class LoginError extends Schema.TaggedError<LoginError>()("LoginError", {
  reason: Schema.String
}) {
  override get message() {
    return this.reason
  }
}

/** One gateway's login as the file keeps it: times in milliseconds since the epoch. */
const Stored = Schema.Struct({
  issuer: Schema.String,
  client_id: Schema.String,
  access_token: Schema.String,
  refresh_token: Schema.optionalKey(Schema.String),
  expires_at: Schema.Number
})

export type Stored = typeof Stored.Type

const Logins = Schema.Struct({ logins: Schema.Record(Schema.String, Stored) })

export const pathIn = (directory: string): string => Path.join(directory, fileName)

/** `openid-client`, loaded, or the error naming its install command. */
export const loadClient: Effect.Effect<typeof OpenIdClient, LoginError> = Effect.tryPromise({
  try: () => import("openid-client"),
  catch: () =>
    new LoginError({ reason: `login needs the optional package openid-client installed (${installCommand})` })
})

const reasonOf = (cause: unknown): string => {
  const error = cause as { readonly error?: unknown; readonly error_description?: unknown; readonly message?: unknown }
  if (typeof error.error === "string") {
    return typeof error.error_description === "string" ? `${error.error}: ${error.error_description}` : error.error
  }
  return typeof error.message === "string" ? error.message : String(cause)
}

/** The issuer's discovery document, for the public client `clientId`; plain `http:` is taken only on loopback. */
export const discover = (client: typeof OpenIdClient, issuer: string, clientId: string) =>
  Effect.tryPromise({
    try: () => {
      const url = new URL(issuer)
      return client.discovery(
        url,
        clientId,
        undefined,
        client.None(),
        url.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)
          ? { execute: [client.allowInsecureRequests] }
          : undefined
      )
    },
    catch: (cause) => new LoginError({ reason: `The issuer at ${issuer} could not be read: ${reasonOf(cause)}` })
  })

/** `call` to the issuer, its failure a `LoginError` saying `what` failed and the issuer's error. */
export const atIssuer = <A>(what: string, call: () => Promise<A>) =>
  Effect.tryPromise({ try: call, catch: (cause) => new LoginError({ reason: `${what}: ${reasonOf(cause)}` }) })

/** The issuer's error code of a failed call (`authorization_pending`, `access_denied`...), if it gave one. */
export const issuerErrorOf = (cause: unknown): string | undefined => {
  const error = (cause as { readonly error?: unknown }).error
  return typeof error === "string" ? error : undefined
}

/** The login of a token endpoint's answer `tokens` got at `now`, keeping `previous`' refresh token if none came. */
export const storedOf = (
  from: { readonly issuer: string; readonly clientId: string },
  tokens: OpenIdClient.TokenEndpointResponse,
  now: number,
  previous?: string
): Stored => {
  const refresh = tokens.refresh_token ?? previous
  return {
    issuer: from.issuer,
    client_id: from.clientId,
    access_token: tokens.access_token,
    ...(refresh === undefined ? {} : { refresh_token: refresh }),
    // An answer without `expires_in` is taken as good for a minute, then refreshed.
    expires_at: now + (tokens.expires_in ?? 60) * 1000
  }
}

const corrupt = (path: string, why: string) =>
  new LoginError({ reason: `The logins at ${path} could not be read (${why}): delete the file and run login again` })

/** Every stored login in `directory`, by gateway URL (none when the file is not there). */
export const readAll = Effect.fnUntraced(function*(directory: string) {
  const path = pathIn(directory)
  const text = yield* Effect.mapError(
    AdminToken.readPrivate(path),
    (error) => new LoginError({ reason: `The logins at ${path} could not be read: ${error.reason}` })
  )
  if (text === undefined) return {}
  const decoded = yield* Effect.mapError(
    Schema.decodeUnknownEffect(Schema.fromJsonString(Logins))(text),
    () => corrupt(path, "not the logins of this version")
  )
  return decoded.logins
})

/**
 * `logins` written whole to a file of its own (mode 0600, directory 0700) and moved over the old, so a reader never
 * sees half of it.
 */
export const writeAll = (directory: string, logins: Readonly<Record<string, Stored>>) =>
  Effect.tryPromise({
    try: async () => {
      await FsPromises.mkdir(directory, { recursive: true, mode: 0o700 })
      const path = pathIn(directory)
      const next = `${path}.${process.pid}.tmp`
      await FsPromises.writeFile(next, `${JSON.stringify({ logins })}\n`, { flag: "w", mode: 0o600 })
      await FsPromises.chmod(next, 0o600)
      await FsPromises.rename(next, path)
    },
    catch: (cause) => corrupt(pathIn(directory), `it could not be written: ${reasonOf(cause)}`)
  })

/** `url`'s login in `directory` replaced by `login` (or removed, when `undefined`). */
export const put = Effect.fnUntraced(function*(directory: string, url: string, login: Stored | undefined) {
  const { [url]: _previous, ...others } = yield* readAll(directory)
  yield* writeAll(directory, login === undefined ? others : { ...others, [url]: login })
})

// An access token is refreshed this long before its stated expiry, so it does not lapse on the way.
const margin = 30_000

/**
 * The access token of the stored login for `url`, if any, refreshed first once expired; an expired login without a
 * refresh token, or one the issuer no longer refreshes, is a `LoginError` saying to run `login` again.
 */
export const accessToken = Effect.fnUntraced(function*(directory: string, url: string) {
  const login = (yield* readAll(directory))[url]
  if (login === undefined) return undefined
  const now = yield* Clock.currentTimeMillis
  if (now < login.expires_at - margin) return Redacted.make(login.access_token)
  const again = `run ${programName} login --url ${url} again`
  if (login.refresh_token === undefined) {
    return yield* new LoginError({ reason: `The login for ${url} has expired and cannot be refreshed: ${again}` })
  }
  const refreshToken = login.refresh_token
  const client = yield* loadClient
  const config = yield* discover(client, login.issuer, login.client_id)
  const tokens = yield* Effect.tryPromise({
    try: () => client.refreshTokenGrant(config, refreshToken),
    catch: (cause) =>
      new LoginError({ reason: `The login for ${url} could not be refreshed (${reasonOf(cause)}): ${again}` })
  })
  const refreshed = storedOf(
    { issuer: login.issuer, clientId: login.client_id },
    tokens,
    yield* Clock.currentTimeMillis,
    refreshToken
  )
  yield* put(directory, url, refreshed)
  return Redacted.make(refreshed.access_token)
})
