/**
 * The Responses adapter's settings, which its client table reads and the public `OpenAiResponses` module gives users.
 */
import type { HttpOptions } from "../../../ProviderClient.js"
import type * as OpenAiChat from "../openAiChat/options.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options
  extends
    HttpOptions,
    Pick<OpenAiChat.Options, "provider" | "model" | "organization" | "project" | "embeddingEncoding" | "maxEventSize">
{
  /** The API root, `/v1` included: `https://api.openai.com/v1`. The adapter adds `/responses`. */
  readonly baseUrl: string
  /**
   * Whether OpenAI keeps the response (`store`). With `false`, every call sends the whole history, and reasoning
   * travels encrypted in `providerMetadata`. With `true`, a request naming a kept reply as its `previousResponse` goes
   * as `previous_response_id` plus the new messages when made with the same key. `providerOptions` can still set
   * `previous_response_id` for a caller that manages state. Default: `false`.
   */
  readonly store?: boolean | undefined
}
