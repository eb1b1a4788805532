/**
 * The dashboard's sessions and the sign-ins under way (docs/identity.md), one algorithm over `SessionStore`: the
 * database (`layerSql`), which every instance shares, so that any instance answers a session's cookie and a sign-out on
 * one is seen by all, under one contract (`test/contract/identitySessions.ts`).
 *
 * A session is kept under its id's SHA-256 digest, never the id the cookie holds, so that the store names no live
 * cookie; the issuer's tokens are sealed with a key only the cookie's id gives, so they are of no use without the
 * cookie. After sign-out the same cookie is refused, and so is the session's access token, by its digest, until its
 * end; at most `maxSessions` of each are kept (past it, the oldest ends). A sign-in under way is kept under its
 * `state`'s digest for `pendingMillis`, and taken once: the callback may reach another instance than the one it began
 * on.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto"
import type { StoreUnavailableError } from "../../../Store.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"
import { digest } from "../access/caller.js"
import type { Tokens } from "./oidc.js"

/** A signed-in person's session. */
export interface Session {
  readonly subject: string
  readonly groups: ReadonlyArray<string>
  /** The tokens the issuer gave: revoked at sign-out, and the access token refused from then on. */
  readonly tokens: Tokens
  /** Clock milliseconds after which it is refused. */
  readonly expiresAt: number
}

/** A session as its store keeps it: its tokens sealed under the session's id (`seal`). */
export interface Kept {
  readonly subject: string
  readonly groups: ReadonlyArray<string>
  readonly sealedTokens: string | undefined
  readonly expiresAt: number
}

/** A sign-in under way, between `/admin/login` and `/admin/callback`. */
export interface Pending {
  readonly codeVerifier: Redacted.Redacted<string>
  readonly nonce: string
  readonly redirectUri: string
  readonly expiresAt: number
}

/**
 * Where sessions and sign-ins under way are kept, each under a digest (`key`). Each operation is one atomic step; a
 * session or sign-in read is returned whatever its end, which the algorithm (`make`) checks.
 */
export interface Store {
  /** `session` kept under `key`; those ended by `now` forgotten, and past `max`, the oldest. */
  readonly open: (key: string, session: Kept, now: number, max: number) => Effect.Effect<void, StoreUnavailableError>
  readonly find: (key: string) => Effect.Effect<Kept | undefined, StoreUnavailableError>
  /** The session of `key` forgotten; what it was, when there was one. */
  readonly close: (key: string) => Effect.Effect<Kept | undefined, StoreUnavailableError>
  /** `pending` kept under `key`; those ended by `now` forgotten, and past `max`, the oldest. */
  readonly begin: (
    key: string,
    pending: Pending,
    now: number,
    max: number
  ) => Effect.Effect<void, StoreUnavailableError>
  /** The sign-in of `key` forgotten; what it was, when there was one (so it is taken once, by one instance). */
  readonly take: (key: string) => Effect.Effect<Pending | undefined, StoreUnavailableError>
  /** The token of `key` signed out until `until`; those ended by `now` forgotten, and past `max`, the oldest. */
  readonly signOut: (key: string, until: number, now: number, max: number) => Effect.Effect<void, StoreUnavailableError>
  /** When the token of `key` stops being signed out, if it is. */
  readonly signedOutUntil: (key: string) => Effect.Effect<number | undefined, StoreUnavailableError>
}

/** The sessions and the sign-ins under way. */
export interface Sessions {
  /** A new session for `session`: its id, for the cookie. */
  readonly open: (session: Session) => Effect.Effect<string, StoreUnavailableError>
  /** The live session of the cookie's `id`. */
  readonly find: (id: string) => Effect.Effect<Session | undefined, StoreUnavailableError>
  /** The session of `id` ended, its access token refused from then on; what it was, when it was live. */
  readonly close: (id: string) => Effect.Effect<Session | undefined, StoreUnavailableError>
  /** Whether `token` is the access token of a session signed out (until its end). */
  readonly signedOut: (token: string) => Effect.Effect<boolean, StoreUnavailableError>
  readonly begin: (state: string, pending: Pending) => Effect.Effect<void, StoreUnavailableError>
  /** The sign-in of `state`, taken (a state is used once), when it is under way. */
  readonly take: (state: string) => Effect.Effect<Pending | undefined, StoreUnavailableError>
}

/** The most sessions kept at once, by default. */
export const defaultMaxSessions = 10_000

const maxPending = 1_000

/** How long a sign-in may take, from `/admin/login` to `/admin/callback`. */
export const pendingMillis = 10 * 60_000

// The key that seals a session's tokens: from the session's id (which only the cookie holds), apart from its digest.
const sealingKey = (id: string) => createHmac("sha256", id).update("effect-llm-router session tokens").digest()

/** `text` sealed (AES-256-GCM) under the session of `id`: its nonce, tag and ciphertext, base64url. */
export function seal(id: string, text: Redacted.Redacted<string>): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", sealingKey(id), iv)
  const sealed = Buffer.concat([cipher.update(Redacted.value(text), "utf8"), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64url")
}

/** The text `sealed` under the session of `id`; undefined when it does not open (another session's, or edited). */
export function unseal(id: string, sealed: string): Redacted.Redacted<string> | undefined {
  const bytes = Buffer.from(sealed, "base64url")
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealingKey(id), bytes.subarray(0, 12))
    decipher.setAuthTag(bytes.subarray(12, 28))
    return Redacted.make(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString("utf8"))
  } catch {
    return undefined
  }
}

const noTokens: Tokens = { access: undefined, accessUntil: undefined, refresh: undefined }

// `tokens` as the JSON text sealed.
function tokensText(tokens: Tokens): Redacted.Redacted<string> {
  return Redacted.make(JSON.stringify({
    access: tokens.access === undefined ? null : Redacted.value(tokens.access),
    accessUntil: tokens.accessUntil ?? null,
    refresh: tokens.refresh === undefined ? null : Redacted.value(tokens.refresh)
  }))
}

// The tokens `sealed` under the session of `id`; none when they do not open.
function tokensOf(id: string, sealed: string | undefined): Tokens {
  const text = sealed === undefined ? undefined : unseal(id, sealed)
  if (text === undefined) return noTokens
  const parsed = JSON.parse(Redacted.value(text)) as {
    readonly access: string | null
    readonly accessUntil: number | null
    readonly refresh: string | null
  }
  return {
    access: parsed.access === null ? undefined : Redacted.make(parsed.access),
    accessUntil: parsed.accessUntil ?? undefined,
    refresh: parsed.refresh === null ? undefined : Redacted.make(parsed.refresh)
  }
}

// The session `kept` under `id`, with its tokens unsealed.
function sessionOf(id: string, kept: Kept): Session {
  return {
    subject: kept.subject,
    groups: kept.groups,
    tokens: tokensOf(id, kept.sealedTokens),
    expiresAt: kept.expiresAt
  }
}

/** The sessions kept in `store`, on the gateway's clock (`now`), at most `maxSessions` of them. */
export function make(store: Store, now: () => number, maxSessions: number = defaultMaxSessions): Sessions {
  return {
    open: (session) => {
      const id = randomBytes(32).toString("base64url")
      const kept: Kept = {
        subject: session.subject,
        groups: session.groups,
        sealedTokens: seal(id, tokensText(session.tokens)),
        expiresAt: session.expiresAt
      }
      return Effect.as(store.open(digest(id), kept, now(), maxSessions), id)
    },
    find: (id) =>
      Effect.map(
        store.find(digest(id)),
        (kept) => kept === undefined || kept.expiresAt <= now() ? undefined : sessionOf(id, kept)
      ),
    close: Effect.fnUntraced(function*(id) {
      const kept = yield* store.close(digest(id))
      if (kept === undefined || kept.expiresAt <= now()) return undefined
      const session = sessionOf(id, kept)
      const access = session.tokens.access
      if (access !== undefined) {
        const until = session.tokens.accessUntil ?? session.expiresAt
        yield* store.signOut(digest(Redacted.value(access)), until, now(), maxSessions)
      }
      return session
    }),
    signedOut: (token) =>
      Effect.map(store.signedOutUntil(digest(token)), (until) => until !== undefined && until > now()),
    begin: (state, pending) => store.begin(digest(state), pending, now(), maxPending),
    take: (state) =>
      Effect.map(
        store.take(digest(state)),
        (pending) => pending === undefined || pending.expiresAt <= now() ? undefined : pending
      )
  }
}

// Named as its columns: a failure inside the JSON of `groups_json` is named by the key it decodes to.
const KeptRow = tableRow("admin_sessions", {
  subject: Schema.String,
  groups_json: Schema.fromJsonString(Schema.Array(Schema.String)),
  tokens_sealed: Schema.NullOr(Schema.String),
  expires_at: Numeric
})

const PendingRow = tableRow("admin_sign_ins", {
  codeVerifier: Schema.RedactedFromValue(Schema.String),
  nonce: Schema.String,
  redirectUri: Schema.String,
  expiresAt: Numeric
}).pipe(Schema.encodeKeys({ codeVerifier: "code_verifier", redirectUri: "redirect_uri", expiresAt: "expires_at" }))

const SignedOutRow = tableRow("admin_signed_out_tokens", { expires_at: Numeric })

const keptOf = (row: typeof KeptRow.Type | undefined): Kept | undefined =>
  row === undefined
    ? undefined
    : {
      subject: row.subject,
      groups: row.groups_json,
      sealedTokens: row.tokens_sealed ?? undefined,
      expiresAt: row.expires_at
    }

export class SessionStore
  extends Context.Service<SessionStore, Store>()("effect-llm-router/gateway/identity/SessionStore")
{}

/** Sessions in the gateway's database (`admin_sessions`, `admin_sign_ins`), which every instance on it shares. */
export const layerSql: Layer.Layer<SessionStore, never, Sql.Database> = Layer.effect(
  SessionStore,
  Effect.map(Sql.steps, ({ sql, step, transaction }): Store => {
    type Table = "admin_sessions" | "admin_sign_ins" | "admin_signed_out_tokens"
    // `insert` of `key` into `table`, then its rows ended by `now` deleted, and past `max` the others ending first
    // (those ending at one moment in their digests' order), `key` kept: one transaction.
    const added = (
      table: Table,
      what: string,
      key: string,
      insert: Effect.Effect<unknown, SqlError>,
      now: number,
      max: number
    ) =>
      transaction(
        what,
        Effect.andThen(
          insert,
          sql`DELETE FROM ${sql(table)} WHERE expires_at <= ${now} OR digest IN (SELECT digest FROM (
            SELECT digest, ROW_NUMBER() OVER (ORDER BY expires_at DESC, digest DESC) AS place
            FROM ${sql(table)} WHERE digest <> ${key}) AS ranked WHERE place >= ${max})`
        )
      )
    // The row of `key` in `table` deleted in one statement (so one taker has it): what it held.
    const removed = <A>(table: Table, what: string, key: string, row: Schema.Decoder<A>) =>
      step(
        what,
        Effect.map(Sql.rows(row, sql`DELETE FROM ${sql(table)} WHERE digest = ${key} RETURNING *`), ([found]) => found)
      )
    return {
      open: (key, session, now, max) =>
        added(
          "admin_sessions",
          "opening a dashboard session",
          key,
          sql`INSERT INTO admin_sessions (digest, subject, groups_json, tokens_sealed, expires_at)
          VALUES (${key}, ${session.subject}, ${JSON.stringify(session.groups)}, ${session.sealedTokens ?? null},
            ${session.expiresAt})`,
          now,
          max
        ),
      find: (key) =>
        step(
          "reading a dashboard session",
          Effect.map(Sql.rows(KeptRow, sql`SELECT * FROM admin_sessions WHERE digest = ${key}`), ([row]) => keptOf(row))
        ),
      close: (key) => Effect.map(removed("admin_sessions", "ending a dashboard session", key, KeptRow), keptOf),
      begin: (key, pending, now, max) =>
        added(
          "admin_sign_ins",
          "beginning a sign-in",
          key,
          sql`INSERT INTO admin_sign_ins (digest, code_verifier, nonce, redirect_uri, expires_at)
          VALUES (${key}, ${Redacted.value(pending.codeVerifier)}, ${pending.nonce}, ${pending.redirectUri},
            ${pending.expiresAt})`,
          now,
          max
        ),
      take: (key) => removed("admin_sign_ins", "taking a sign-in", key, PendingRow),
      signOut: (key, until, now, max) =>
        added(
          "admin_signed_out_tokens",
          "signing out a session's token",
          key,
          sql`INSERT INTO admin_signed_out_tokens (digest, expires_at) VALUES (${key}, ${until})
          ON CONFLICT (digest) DO UPDATE SET expires_at = ${until}`,
          now,
          max
        ),
      signedOutUntil: (key) =>
        step(
          "reading a signed-out token",
          Effect.map(
            Sql.rows(SignedOutRow, sql`SELECT expires_at FROM admin_signed_out_tokens WHERE digest = ${key}`),
            ([row]) => row?.expires_at
          )
        )
    }
  })
)

/** The sessions kept in the `SessionStore` provided, on the `Clock`, at most `defaultMaxSessions` of them. */
export const sessions: Effect.Effect<Sessions, never, SessionStore> = Effect.map(
  Effect.all([SessionStore, Clock.Clock]),
  ([store, clock]) => make(store, () => clock.currentTimeMillisUnsafe())
)
