/**
 * Who makes an admin request: a person signed on through the gateway's identity provider (by an access token, or the
 * dashboard's session), with the roles their groups and grants give them; or a shared secret, an admin key of
 * provider.json or `serve`'s admin token, which is `admin` (the break-glass path: each use is logged by the key's
 * name). `principalOf` resolves it once per admin request (`serving/adminCheck.ts`); what an action is recorded
 * under is its `name`.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { StoreUnavailableError } from "../../../Store.js"
import type { Principal } from "../access/adminCheck.js"
import * as Auth from "../access/authentication.js"
import { rolesOfGroups } from "../access/roles.js"
import * as Errors from "../errorAnswer.js"
import type { Grants } from "./grants.js"
import type { Oidc } from "./oidc.js"
import type { Sessions } from "./sessions.js"

/** What resolving a principal reads: the keys, and, when sign-on is configured, its issuer, sessions and grants. */
export interface Sources {
  readonly auth: Auth.Auth
  readonly oidc: Oidc | undefined
  readonly sessions: Sessions
  readonly grants: Grants
}

export const sessionCookie = "elr_session"

/** The value of cookie `name` among a request's `cookie` header, when it has one. */
export function cookieOf(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined
  for (const part of header.split(";")) {
    const at = part.indexOf("=")
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim()
  }
  return undefined
}

const adminMissing = (oidc: boolean) =>
  Errors.answer(
    401,
    oidc
      ? "This is an admin endpoint: sign in (the dashboard's /admin/login), or send the identity provider's access " +
        "token or an admin key as `Authorization: Bearer ...`."
      : "You didn't provide an API key. This is an admin endpoint: send an admin key as `Authorization: Bearer " +
        "YOUR_ADMIN_KEY`.",
    "invalid_request_error",
    null,
    oidc ? "sign_in_required" : "invalid_api_key"
  )

const adminRequired = (oidc: boolean) =>
  Errors.answer(
    403,
    "This is an admin endpoint: it takes an admin key (provider.json's `gateway.admin_keys`)" +
      (oidc ? " or the identity provider's access token" : "") + ", as `Authorization: Bearer <key>`.",
    "invalid_request_error",
    null,
    "admin_key_required"
  )

const noAdminKeys = Errors.answer(
  403,
  "This is an admin endpoint and this gateway has no admin key, so it is closed: add `admin_keys` to provider.json's " +
    "`gateway` section (or `Gateway.Options.adminKeys`) and send one as `Authorization: Bearer <key>`, or configure " +
    "sign-on (`gateway.oidc`, docs/identity.md). `serve` without admin keys makes one at its first start: the " +
    "`admin-token` file of its data directory.",
  "invalid_request_error",
  null,
  "admin_key_required"
)

const sessionEnded = Errors.answer(
  401,
  "Your session has ended (signed out, expired, or kept by a gateway without a database that restarted): sign " +
    "in again at /admin/login.",
  "invalid_request_error",
  null,
  "session_expired"
)

/** The answer to a request whose sessions or grants the database could not read. */
export const unavailable = (error: StoreUnavailableError): Errors.ErrorAnswer =>
  Errors.databaseUnavailable(error.reason)

/** A person's roles: those their groups map to, and those granted to them (none without a database). */
function personRoles(sources: Sources, oidc: Oidc, subject: string, groups: ReadonlyArray<string>) {
  const mapped = rolesOfGroups(groups, oidc.settings.roles)
  return Effect.map(
    Effect.mapError(sources.grants.rolesOf(subject), unavailable),
    (granted) => [...new Set([...mapped, ...granted])]
  )
}

/**
 * The principal of an admin request's `headers`, or the answer refusing it: an admin key (logged as the break-glass
 * path it is), else a signed access token of the configured issuer, else the dashboard's session cookie.
 */
export const principalOf = Effect.fnUntraced(function*(
  sources: Sources,
  headers: Readonly<Record<string, string | undefined>>
) {
  const { auth, oidc } = sources
  if (!auth.keys.some((key) => key.admin) && oidc === undefined) return yield* Effect.fail(noAdminKeys)
  const presented = Auth.presented(headers)
  if (presented !== undefined) {
    const admin = auth.adminNamed(Redacted.make(presented))
    if (admin !== undefined) {
      yield* Effect.logInfo(
        `Gateway: the admin key \`${admin}\` was used: a shared secret holding every permission (break-glass), not a ` +
          "person"
      ).pipe(Effect.annotateLogs({ admin_key: admin }))
      return { name: admin, kind: "key", via: "admin-key", roles: ["admin"] } satisfies Principal
    }
    if (oidc === undefined || !Auth.isJwtShaped(presented)) return yield* Effect.fail(adminRequired(oidc !== undefined))
    const person = yield* oidc.verify(presented)
    const roles = yield* personRoles(sources, oidc, person.subject, person.groups)
    return { name: person.subject, kind: "person", via: "token", roles } satisfies Principal
  }
  const id = oidc === undefined ? undefined : cookieOf(headers["cookie"], sessionCookie)
  if (oidc === undefined || id === undefined) return yield* Effect.fail(adminMissing(oidc !== undefined))
  const session = yield* Effect.mapError(sources.sessions.find(id), unavailable)
  if (session === undefined) return yield* Effect.fail(sessionEnded)
  const roles = yield* personRoles(sources, oidc, session.subject, session.groups)
  return { name: session.subject, kind: "person", via: "session", roles } satisfies Principal
})
