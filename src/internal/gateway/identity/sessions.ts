/**
 * The dashboard's sessions and the sign-ins under way, held in the gateway's memory for its life (across reloads, not
 * restarts, and per instance: docs/identity.md). A session is found by its id's SHA-256 digest, never by the id the
 * cookie holds, so a memory dump names no live cookie; it lasts its bounded life and ends at sign-out, after which the
 * same cookie is refused. At most `maxSessions` are held: past it, the oldest ends. A sign-in under way (the PKCE
 * verifier, the nonce, the page to return to) is held by its `state` for ten minutes at most, a thousand at once.
 */
import type * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { digest } from "../keys/auth.js"

/** A signed-in person's session. */
export interface Session {
  readonly subject: string
  readonly groups: ReadonlyArray<string>
  /** The ID token the issuer gave, sent back as `id_token_hint` at sign-out. */
  readonly idToken: Redacted.Redacted<string> | undefined
  /** Clock milliseconds after which it is refused. */
  readonly expiresAt: number
}

/** A sign-in under way, between `/admin/login` and `/admin/callback`. */
export interface Pending {
  readonly codeVerifier: Redacted.Redacted<string>
  readonly nonce: string
  readonly redirectUri: string
  readonly expiresAt: number
}

/** The sessions and the sign-ins under way. */
export interface Sessions {
  /** A new session for `session`: its id, for the cookie. */
  readonly open: (session: Session) => string
  /** The live session of the cookie's `id`. */
  readonly find: (id: string) => Session | undefined
  /** The session of `id` ended; what it was, when it was live. */
  readonly close: (id: string) => Session | undefined
  readonly begin: (state: string, pending: Pending) => void
  /** The sign-in of `state`, taken (a state is used once), when it is under way. */
  readonly take: (state: string) => Pending | undefined
}

/** The most sessions held at once, by default. */
export const defaultMaxSessions = 10_000

const maxPending = 1_000

/** How long a sign-in may take, from `/admin/login` to `/admin/callback`. */
export const pendingMillis = 10 * 60_000

const keyOf = (id: string) => digest(id).toString("hex")

// The entries of `map` whose time is past, dropped; then the oldest while more than `max` are held.
function prune<A extends { readonly expiresAt: number }>(map: Map<string, A>, now: number, max: number) {
  for (const [key, entry] of map) if (entry.expiresAt <= now) map.delete(key)
  for (const key of map.keys()) {
    if (map.size <= max) break
    map.delete(key)
  }
}

/** Sessions in memory, on the gateway's clock (`now`), at most `maxSessions` of them. */
export function memory(now: () => number, maxSessions: number = defaultMaxSessions): Sessions {
  const sessions = new Map<string, Session>()
  const pending = new Map<string, Pending>()
  return {
    open: (session) => {
      const id = randomBytes(32).toString("base64url")
      sessions.set(keyOf(id), session)
      prune(sessions, now(), maxSessions)
      return id
    },
    find: (id) => {
      const session = sessions.get(keyOf(id))
      if (session === undefined || session.expiresAt > now()) return session
      sessions.delete(keyOf(id))
      return undefined
    },
    close: (id) => {
      const session = sessions.get(keyOf(id))
      sessions.delete(keyOf(id))
      return session
    },
    begin: (state, entry) => {
      pending.set(state, entry)
      prune(pending, now(), maxPending)
    },
    take: (state) => {
      const entry = pending.get(state)
      pending.delete(state)
      return entry === undefined || entry.expiresAt <= now() ? undefined : entry
    }
  }
}
