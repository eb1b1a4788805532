/**
 * Microsoft Entra ID tokens for Azure OpenAI: one token of a credential held and shared by every call, asked for
 * again before it expires, and the default credential, `@azure/identity`'s `DefaultAzureCredential`, loaded only when
 * a token is first asked of it (the package is an optional peer dependency).
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type { AccessToken, TokenCredential } from "../../../providers/AzureOpenAi.js"
import { causeText } from "../../transport/providerHttp.js"
import { refreshAtOf, renewing } from "../renewing.js"

/** The scope of Azure OpenAI's tokens (Azure OpenAI's REST API reference, "Microsoft Entra ID authentication"). */
export const scope = "https://cognitiveservices.azure.com/.default"

/**
 * When a token got at `now` is asked for again: when the credential says (`refreshAfterTimestamp`), else as
 * `refreshAtOf` says.
 */
const refreshAt = (token: AccessToken, now: number): number =>
  token.refreshAfterTimestamp ?? refreshAtOf(token.expiresOnTimestamp, now)

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
  const ask = Effect.tryPromise({
    try: (signal) => credential.getToken([scope], { abortSignal: signal }),
    catch: (error) => `${name}: ${causeText(error)}`
  })
  return renewing((now) =>
    Effect.flatMap(ask, (token) =>
      token === null || token.token === ""
        ? Effect.fail(`${name}: no token for the scope ${scope}`)
        : Effect.succeed({
          value: Redacted.make(token.token),
          expiresAt: token.expiresOnTimestamp,
          refreshAt: refreshAt(token, now)
        }))
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
