/**
 * A cloud's bearer token held between calls (Microsoft Entra ID's for Azure OpenAI, Google's for Vertex AI): one token
 * shared by every call while it is fresh, asked for again before it expires by one call while the others wait, its
 * time read from the Effect `Clock`.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Semaphore from "effect/Semaphore"

/** A token as a credential gives it. */
export interface Issued {
  readonly token: string
  /** When it expires, in Unix milliseconds; undefined: unknown, the token is not held (asked for on every call). */
  readonly expiresAt: number | undefined
  /** When the credential advises asking for a new one, in Unix milliseconds. */
  readonly refreshAt?: number | undefined
}

// How long before its expiry a token is replaced, at most: Azure's and Google's own clients refresh within 5 minutes.
const refreshMarginMillis = 5 * 60 * 1000

interface Held {
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: number
  readonly refreshAt: number
}

/**
 * When a token got at `now` is asked for again: when the credential says, else 5 minutes before it expires, or halfway
 * to its expiry for a token that lives less than twice that.
 */
const refreshAt = (issued: Issued, expiresAt: number, now: number): number =>
  issued.refreshAt ?? Math.max(expiresAt - refreshMarginMillis, now + (expiresAt - now) / 2)

/**
 * The bearer token `ask` gives, for each call: the one held while it is fresh, else a new one. `ask` fails with a
 * detail naming the credential, or gives `undefined` for no token (`noToken` is then the failure); a held token that
 * has not expired yet still serves when asking for its successor fails.
 */
export const heldToken = (
  ask: Effect.Effect<Issued | undefined, string>,
  noToken: string
): Effect.Effect<Redacted.Redacted<string>, string> => {
  let held: Held | undefined
  const lock = Semaphore.makeUnsafe(1)
  const renew = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    // Another call renewed it while this one waited.
    if (held !== undefined && now < held.refreshAt) return Effect.succeed(held.token)
    return ask.pipe(
      Effect.flatMap((issued) => {
        if (issued === undefined || issued.token === "") return Effect.fail(noToken)
        const token = Redacted.make(issued.token)
        const expiresAt = issued.expiresAt
        if (expiresAt !== undefined) held = { token, expiresAt, refreshAt: refreshAt(issued, expiresAt, now) }
        return Effect.succeed(token)
      }),
      Effect.catch((detail) =>
        held !== undefined && now < held.expiresAt ? Effect.succeed(held.token) : Effect.fail(detail)
      )
    )
  })
  return Effect.clockWith((clock) =>
    held !== undefined && clock.currentTimeMillisUnsafe() < held.refreshAt
      ? Effect.succeed(held.token)
      : lock.withPermit(renew)
  )
}

/** What a credential is called in errors: its class's name (`ManagedIdentityCredential`, `JWT`), else `fallback`. */
export const credentialName = (credential: object, fallback: string): string => {
  const name: unknown = (credential as { readonly constructor?: { readonly name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" && name !== "Object" ? name : fallback
}
