/** Vertex AI's adapter settings and the Google credential it asks tokens of, given to users by `Vertex`. */
import type { HttpOptions } from "../../../ProviderClient.js"
import type * as Anthropic from "../../wire/anthropic/options.js"

/**
 * @since 0.3.0
 * @category Models
 */
export interface Options extends
  HttpOptions,
  Pick<
    Anthropic.Options,
    "maxTokens" | "midConversationSystem" | "beta" | "maxEventSize" | "cacheConversations"
  >
{
  /** The Google Cloud project: `my-proj`. */
  readonly project: string
  /** The location of the endpoint: a region (`us-central1`, `us-east5`, `europe-west1`) or `global`. */
  readonly location: string
  /**
   * The endpoint's root, for a private endpoint or a proxy. Default: `https://{location}-aiplatform.googleapis.com`,
   * `https://aiplatform.googleapis.com` for `global`.
   */
  readonly baseUrl?: string | undefined
  /**
   * Who publishes the models, which picks the wire: `"google"` (Gemini's) or `"anthropic"` (Anthropic's Messages on
   * `rawPredict`). Default: `"anthropic"` for models named `claude-…`, else `"google"`, per request.
   */
  readonly publisher?: "google" | "anthropic" | undefined
  /** The provider's name in responses and errors. Default: `"vertex"`. */
  readonly provider?: string | undefined
  /** The model for requests that name none (`gemini-2.5-flash`, `claude-sonnet-4-5@20250929`). Default: none. */
  readonly model?: string | undefined
  /**
   * Where `Batch` runs this client's batches of Google's models as Vertex AI batch prediction jobs, at the batch price:
   * the Cloud Storage prefixes of their input and output files (docs/batch.md, "Vertex AI"). Not with
   * `publisher: "anthropic"`. Default: none, and `Batch` runs the requests as calls.
   *
   * @since 0.3.0
   */
  readonly batch?: BatchOptions | undefined
}

/**
 * Where a Vertex client's batches go (Vertex AI REST reference, `batchPredictionJobs.create`): a JSONL input file under
 * `inputUri`, a job writing its results in a folder of its own under `outputUri`. Cloud Storage's requests carry the
 * client's Google access token, so the credential needs to read and write both buckets.
 *
 * @since 0.3.0
 * @category Models
 */
export interface BatchOptions {
  /** The Cloud Storage prefix each batch's input file is written under, `gs://bucket/prefix/`. */
  readonly inputUri: string
  /** The Cloud Storage prefix Vertex AI writes each batch's results under (a folder per job), `gs://bucket/prefix/`. */
  readonly outputUri: string
  /** Cloud Storage's JSON API root (a private endpoint, the simulator). Default: `https://storage.googleapis.com`. */
  readonly storageEndpoint?: string | undefined
}

/**
 * What gives Google access tokens: the shape of `google-auth-library`'s `AuthClient`, so every client of it is one
 * (`JWT`, `Compute`, `UserRefreshClient`, `Impersonated`, `ExternalAccountClient`, or `new GoogleAuth().getClient()`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface AuthClient {
  getAccessToken(): Promise<{ readonly token?: string | null | undefined }>
  /** The token's expiry (`expiry_date`, Unix milliseconds), read after `getAccessToken`; without it, none is held. */
  readonly credentials?: { readonly expiry_date?: number | null | undefined } | undefined
}
