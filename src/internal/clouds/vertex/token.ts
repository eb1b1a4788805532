/**
 * Google access tokens for Vertex AI: a credential's token held and shared by every call, renewed before it expires
 * (`accessToken.ts`), and Application Default Credentials through `google-auth-library`, loaded only when a token is
 * first asked of it (the package is an optional peer dependency).
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { credentialName, heldToken } from "../../providers/accessToken.js"
import { causeText } from "../../transport/providerHttp.js"
import type { AuthClient } from "./options.js"

/** The scope of Vertex AI's tokens (Vertex AI's authentication guide). */
export const scope = "https://www.googleapis.com/auth/cloud-platform"

/** What a credential is called in errors: its class's name (`JWT`, `Compute`), or a plain description. */
export const nameOf = (credential: AuthClient): string => credentialName(credential, "the Google credential provided")

/**
 * The bearer token of `credential` for each call, held until shortly before its `expiry_date`; without one, asked for
 * at every call (`google-auth-library`'s clients hold their own). A failure is a detail naming the credential.
 */
export const tokenSource = (
  credential: AuthClient,
  name = nameOf(credential)
): Effect.Effect<Redacted.Redacted<string>, string> =>
  heldToken(
    Effect.tryPromise({
      try: async () => {
        const { token } = await credential.getAccessToken()
        const expiry = credential.credentials?.expiry_date
        return token == null ? undefined : { token, expiresAt: expiry ?? undefined }
      },
      catch: (error) => `${name}: ${causeText(error)}`
    }),
    `${name}: no access token for the scope ${scope}`
  )

// What `google-auth-library` says when every source of Application Default Credentials came up empty.
const noneFound = /could not load the default credentials/i

/**
 * Application Default Credentials for the `cloud-platform` scope: the file `GOOGLE_APPLICATION_CREDENTIALS` names,
 * gcloud's (`gcloud auth application-default login`), or the metadata server of Google Cloud's compute.
 */
export class ApplicationDefaultCredentials implements AuthClient {
  private loaded: Promise<AuthClient> | undefined
  private client: AuthClient | undefined

  get credentials() {
    return this.client?.credentials
  }

  async getAccessToken() {
    const loaded = this.loaded ??= import("google-auth-library").then(
      (library) => new library.GoogleAuth({ scopes: scope }).getClient(),
      (error: unknown) => {
        throw new Error(
          (error as { readonly code?: unknown }).code === "ERR_MODULE_NOT_FOUND"
            ? "the optional peer dependency google-auth-library is not installed; install it " +
              "(npm install google-auth-library)"
            : `google-auth-library could not be loaded (${causeText(error)})`
        )
      }
    )
    try {
      const client = this.client = await loaded
      return await client.getAccessToken()
    } catch (error) {
      // A chain found empty is asked again next time: the machine may be signed in since.
      this.loaded = undefined
      this.client = undefined
      if (!noneFound.test(causeText(error))) throw error
      throw new Error(
        "none found: tried the file GOOGLE_APPLICATION_CREDENTIALS names (" +
          (process.env.GOOGLE_APPLICATION_CREDENTIALS === undefined ? "unset" : "set") +
          "), gcloud's application default credentials (gcloud auth application-default login) and the metadata " +
          "server of Google Cloud (not reached)"
      )
    }
  }
}
