/**
 * Microsoft Entra ID tokens for Azure OpenAI: a credential's token held and shared by every call (`accessToken.ts`),
 * and `@azure/identity`'s `DefaultAzureCredential`, loaded only when a token is first asked of it (the package is an
 * optional peer dependency).
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { credentialName, heldToken } from "../../providers/accessToken.js"
import { causeText } from "../../transport/providerHttp.js"
import type { TokenCredential } from "./options.js"

/** The scope of Azure OpenAI's tokens (Azure OpenAI's REST API reference, "Microsoft Entra ID authentication"). */
export const scope = "https://cognitiveservices.azure.com/.default"

/** What a credential is called in errors: its class's name (`ManagedIdentityCredential`), or a plain description. */
export const nameOf = (credential: TokenCredential): string =>
  credentialName(credential, "the Entra ID credential provided")

/**
 * The bearer token of `credential`, asked for again when the credential advises (`refreshAfterTimestamp`) or before it
 * expires. A failure is a detail naming the credential.
 */
export const tokenSource = (
  credential: TokenCredential,
  name = nameOf(credential)
): Effect.Effect<Redacted.Redacted<string>, string> =>
  heldToken(
    Effect.tryPromise({
      try: async (signal) => {
        const token = await credential.getToken([scope], { abortSignal: signal })
        return token === null
          ? undefined
          : { token: token.token, expiresAt: token.expiresOnTimestamp, refreshAt: token.refreshAfterTimestamp }
      },
      catch: (error) => `${name}: ${causeText(error)}`
    }),
    `${name}: no token for the scope ${scope}`
  )

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
