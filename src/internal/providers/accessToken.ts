/**
 * A cloud's bearer token held between calls (Microsoft Entra ID's for Azure OpenAI, Google's for Vertex AI), over the
 * one renewal of held credentials (`renewing.ts`); and what a credential is called in errors.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { refreshAtOf, renewable } from "./renewing.js"
import type { Renewable } from "./renewing.js"

/** A token as a credential gives it. */
export interface Issued {
  readonly token: string
  /** When it expires, in Unix milliseconds; undefined: unknown, the token is not held (asked for on every call). */
  readonly expiresAt: number | undefined
  /** When the credential advises asking for a new one, in Unix milliseconds. */
  readonly refreshAt?: number | undefined
}

/**
 * The bearer token `ask` gives, held while fresh (`renewing.ts`); `ask` gives `undefined` for no token (`noToken` is
 * then the failure). A held token that has not expired still serves when asking for its successor fails.
 */
export const heldToken = (
  ask: Effect.Effect<Issued | undefined, string>,
  noToken: string
): Effect.Effect<Redacted.Redacted<string>, string> => renewableToken(ask, noToken).current

/** `heldToken`, with the way to drop a token its server refused (`Renewable.expire`), so the next call asks again. */
export const renewableToken = (
  ask: Effect.Effect<Issued | undefined, string>,
  noToken: string
): Renewable<Redacted.Redacted<string>> =>
  renewable((now) =>
    Effect.flatMap(ask, (issued) => {
      if (issued === undefined || issued.token === "") return Effect.fail(noToken)
      const expiresAt = issued.expiresAt ?? now
      return Effect.succeed({
        value: Redacted.make(issued.token),
        expiresAt,
        refreshAt: issued.expiresAt === undefined ? now : issued.refreshAt ?? refreshAtOf(expiresAt, now)
      })
    })
  )

/** What a credential is called in errors: its class's name (`ManagedIdentityCredential`, `JWT`), else `fallback`. */
export const credentialName = (credential: object, fallback: string): string => {
  const name: unknown = (credential as { readonly constructor?: { readonly name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" && name !== "Object" ? name : fallback
}
