/**
 * Microsoft Entra ID tokens for Azure OpenAI: one token of a credential held and shared by every call, asked for
 * again before it expires, and the default credential, `@azure/identity`'s `DefaultAzureCredential`, loaded only when
 * a token is first asked of it (the package is an optional peer dependency).
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Semaphore from "effect/Semaphore"
import type { AccessToken, TokenCredential } from "../../../providers/AzureOpenAi.js"
import { causeText } from "../../transport/providerHttp.js"

/** The scope of Azure OpenAI's tokens (Azure OpenAI's REST API reference, "Microsoft Entra ID authentication"). */
export const scope = "https://cognitiveservices.azure.com/.default"

// How long before its expiry a token is replaced, at most: Azure's own clients refresh within 5 minutes of it.
const refreshMarginMillis = 5 * 60 * 1000

interface Held {
  readonly token: Redacted.Redacted<string>
  readonly expiresAt: number
  readonly refreshAt: number
}

/**
 * When a token got at `now` is asked for again: when the credential says (`refreshAfterTimestamp`), else 5 minutes
 * before it expires, or halfway to its expiry for a token that lives less than twice that.
 */
const refreshAt = (token: AccessToken, now: number): number =>
  token.refreshAfterTimestamp ??
    Math.max(token.expiresOnTimestamp - refreshMarginMillis, now + (token.expiresOnTimestamp - now) / 2)

/** What a credential is called in errors: its class's name (`ManagedIdentityCredential`), or a plain description. */
export const nameOf = (credential: TokenCredential): string => {
  const name: unknown = (credential as { readonly constructor?: { readonly name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" && name !== "Object" ? name : "the Entra ID credential provided"
}

/**
 * The bearer token of `credential` for each call: the one held while it is fresh, else a new one, asked for by one
 * call while the others wait for it. A failure is a detail naming the credential (`name`); a held token that has not
 * expired yet still serves when asking for its successor fails.
 */
export const tokenSource = (
  credential: TokenCredential,
  name: string
): Effect.Effect<Redacted.Redacted<string>, string> => {
  let held: Held | undefined
  const lock = Semaphore.makeUnsafe(1)
  const ask = Effect.tryPromise({
    try: (signal) => credential.getToken([scope], { abortSignal: signal }),
    catch: (error) => `${name}: ${causeText(error)}`
  })
  const renew = Effect.flatMap(Clock.currentTimeMillis, (now) => {
    // Another call renewed it while this one waited.
    if (held !== undefined && now < held.refreshAt) return Effect.succeed(held.token)
    return ask.pipe(
      Effect.flatMap((token) =>
        token === null || token.token === ""
          ? Effect.fail(`${name}: no token for the scope ${scope}`)
          : Effect.sync(() => {
            held = {
              token: Redacted.make(token.token),
              expiresAt: token.expiresOnTimestamp,
              refreshAt: refreshAt(token, now)
            }
            return held.token
          })
      ),
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

/** `@azure/identity`'s `DefaultAzureCredential`, the package imported when the first token is asked for. */
export class DefaultAzureCredential implements TokenCredential {
  private loaded: Promise<TokenCredential> | undefined

  getToken(scopes: string | Array<string>, options?: { readonly abortSignal?: AbortSignal }) {
    const loaded = this.loaded ??= import("@azure/identity").then(
      (identity) => new identity.DefaultAzureCredential(),
      (error: unknown) => {
        this.loaded = undefined
        throw new Error(
          (error as { readonly code?: unknown }).code === "ERR_MODULE_NOT_FOUND"
            ? "the optional peer dependency @azure/identity is not installed; install it " +
              "(npm install @azure/identity), or give the deployment API keys"
            : `@azure/identity could not be loaded (${causeText(error)})`
        )
      }
    )
    return loaded.then((credential) => credential.getToken(scopes, options))
  }
}
