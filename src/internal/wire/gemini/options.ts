/** The Gemini adapter's settings, which its client table reads and the public `Gemini` module gives users. */
import type { HttpOptions } from "../../../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /**
   * The host root; the adapter adds `/{apiVersion}/models/{model}:…`. Default:
   * `https://generativelanguage.googleapis.com`.
   */
  readonly baseUrl?: string | undefined
  /** The API version in the path. Default: `"v1beta"` (function call ids and thinking need it). */
  readonly apiVersion?: string | undefined
  /** The provider's name in responses and errors. Default: `"gemini"`. */
  readonly provider?: string | undefined
  /**
   * The model for requests that name none: a bare id (`gemini-2.5-flash`), or a resource name (`models/…`,
   * `tunedModels/…`). Default: none (such a request fails with `InvalidRequestError`).
   */
  readonly model?: string | undefined
  /**
   * The largest SSE event accepted, in characters; a larger one fails the stream with `OutputDecodeError`. Default: 16
   * MiB (`Sse.defaultMaxEventSize`).
   */
  readonly maxEventSize?: number | undefined
}
