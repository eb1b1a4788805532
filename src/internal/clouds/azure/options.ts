/** Azure OpenAI's adapter settings and the Entra ID credential it asks tokens of, given to users by `AzureOpenAi`. */
import type { HttpOptions } from "../../../ProviderClient.js"
import type * as OpenAiChat from "../../wire/openAiChat/options.js"

/**
 * @since 0.3.0
 * @category Models
 */
export interface Options
  extends
    HttpOptions,
    Pick<OpenAiChat.Options, "model" | "maxTokensField" | "includeUsage" | "maxEventSize" | "embeddingEncoding">
{
  /** The resource's endpoint, without `/openai`: `https://my-resource.openai.azure.com`. */
  readonly baseUrl: string
  /** The provider's name in responses and errors. Default: `"azure"`. */
  readonly provider?: string | undefined
  /**
   * The deployment every request goes to, and the model of requests that name none when `model` is not set. Default:
   * the request's model (or `model`).
   */
  readonly deployment?: string | undefined
  /**
   * The API version of the deployment's path (`2024-10-21`), sent as `api-version`. Default: none, the v1 API
   * (`/openai/v1/...`), which takes no version.
   */
  readonly apiVersion?: string | undefined
  /**
   * Authenticate with Microsoft Entra ID instead of keys: a token of the `Credential` in context as `Authorization:
   * Bearer`, the call's key not sent (a pool of one stand-in key, `"none"`, serves). No token fails the call with
   * `AuthError` `credential_unavailable`, held against no key, so the next call asks the credential again. Default:
   * `false`, the key is sent as `api-key`.
   */
  readonly entraId?: boolean | undefined
  /**
   * Whether the deployment is a global batch deployment, which `Batch` submits a list of requests to through the
   * resource's Batch API (its files and batches, the v1 API's or the dated ones of `apiVersion`) at its batch price;
   * without it `Batch` runs them as calls. Default: `false`.
   *
   * @since 0.3.0
   */
  readonly batches?: boolean | undefined
}

/**
 * An access token as Microsoft Entra ID credentials give it (`@azure/core-auth`'s `AccessToken`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface AccessToken {
  readonly token: string
  /** When it expires, in Unix milliseconds. */
  readonly expiresOnTimestamp: number
  /** When the credential advises asking for a new one, in Unix milliseconds. */
  readonly refreshAfterTimestamp?: number | undefined
}

/**
 * What gives Entra ID tokens: the shape of `@azure/core-auth`'s `TokenCredential`, so every `@azure/identity`
 * credential is one (`ManagedIdentityCredential`, `AzureCliCredential`, `ClientSecretCredential`...).
 *
 * @since 0.3.0
 * @category Models
 */
export interface TokenCredential {
  getToken(
    scopes: string | Array<string>,
    options?: { readonly abortSignal?: AbortSignal }
  ): Promise<AccessToken | null>
}
