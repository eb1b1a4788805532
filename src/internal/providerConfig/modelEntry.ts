/** A model of `provider.json` as written in the file: its keys, prices, adapter and settings. */
import * as Schema from "effect/Schema"
import * as Pricing from "../../Pricing.js"
import * as Presets from "../../providers/Presets.js"
import { Headers, HttpUrl, NonEmpty, NonNegativeInt, oneOf, optional, Positive, PositiveInt } from "./fields.js"

export const KeyEntry = Schema.Union([
  NonEmpty,
  Schema.Struct({
    key: NonEmpty,
    weight: optional(Positive),
    max_concurrency: optional(PositiveInt)
  })
])

/** The price of each kind of token of a tier, as the file writes it (`Pricing.TokenPrices`). */
const TierEntry = Schema.Struct({
  input_per_mtok: Pricing.PerMillion,
  cached_input_per_mtok: optional(Pricing.PerMillion),
  cache_write_per_mtok: optional(Pricing.PerMillion),
  cache_write_1h_per_mtok: optional(Pricing.PerMillion),
  output_per_mtok: Pricing.PerMillion,
  /** Audio in the prompt (`Pricing.TokenPrices.audioInput`). Default: `input_per_mtok`. */
  audio_input_per_mtok: optional(Pricing.PerMillion),
  /** Cached audio in the prompt (`Pricing.TokenPrices.cachedAudioInput`). Default: `cached_input_per_mtok`. */
  cached_audio_input_per_mtok: optional(Pricing.PerMillion),
  /** Audio in the reply (`Pricing.TokenPrices.audioOutput`). Default: `output_per_mtok`. */
  audio_output_per_mtok: optional(Pricing.PerMillion)
})

export const PricingEntry = Schema.Struct({
  ...TierEntry.fields,
  /**
   * The prices of a call whose prompt is longer than `above_tokens` (`Pricing.Price.longContext`): Gemini 2.5 Pro's and
   * Claude Sonnet 4's past 200,000 tokens. Default: none.
   */
  long_context: optional(Schema.Struct({ above_tokens: PositiveInt, ...TierEntry.fields })),
  /**
   * The prices of each service tier a reply may report it was served at (`Pricing.Price.serviceTiers`: `priority`,
   * `flex`, `batch`...), by the tier's name. Default: none (each tier at the prices above).
   */
  service_tiers: optional(Schema.Record(Schema.String, TierEntry)),
  /** The most prompt tokens one image costs on the model (`Pricing.Price.imageTokens`). */
  image_tokens: optional(PositiveInt),
  /** The prompt tokens a second of audio costs (`Pricing.Price.audioTokensPerSecond`). Default: Gemini's, 32. */
  audio_tokens_per_second: optional(PositiveInt),
  /** The prompt tokens a second of video costs (`Pricing.Price.videoTokensPerSecond`). Default: Gemini's, 263. */
  video_tokens_per_second: optional(PositiveInt),
  /** The prompt tokens a PDF's page costs (`Pricing.Price.pdfPageTokens`). Default: Gemini's, 258. */
  pdf_page_tokens: optional(PositiveInt),
  /**
   * US dollars a call of each tool the provider runs itself (`Pricing.Price.hostedToolCalls`), by tool type. Default:
   * `Pricing.defaultHostedToolCalls`.
   */
  hosted_tool_calls: optional(Schema.Record(Schema.String, Pricing.PerMillion))
})

const prefillStyles = ["continue_final_message", "prefix"] as const

/** `prefill`: a boolean, or how a chat-completions server is asked to go on (`OpenAiChat.Options.prefill`). */
export const Prefill = Schema.Unknown.pipe(
  Schema.refine(
    (value: unknown): value is boolean | typeof prefillStyles[number] =>
      typeof value === "boolean" || (prefillStyles as ReadonlyArray<unknown>).includes(value),
    { message: `expected true, false or one of ${prefillStyles.join(", ")}` }
  )
)

export const Api = oneOf([
  "chat-completions",
  "responses",
  "anthropic",
  "gemini",
  "ollama",
  "azure",
  "vertex",
  "bedrock"
])

export const ModelEntry = Schema.Struct({
  model_name: NonEmpty,
  /**
   * Optional only where no key is needed (`api: "ollama"`, the `ollama` and `vllm` presets) or another credential
   * serves (`api: "azure"`: Microsoft Entra ID; `api: "vertex"`, which takes none: Application Default Credentials;
   * `api: "bedrock"`: SigV4 with AWS's credential chain).
   */
  api_keys: optional(Schema.Array(KeyEntry).check(Schema.isMinLength(1, { message: "expected at least one key" }))),
  /** Default: the preset's, or the adapter's (`https://api.openai.com/v1` for the OpenAI-style APIs). */
  base_url: optional(HttpUrl),
  /** The adapter. Default: `chat-completions`. */
  api: optional(Api),
  /** A `Presets` name; only with `chat-completions`. */
  preset: optional(oneOf(Presets.names)),
  /** Extra headers on every request. */
  headers: optional(Headers),
  /** Retries of a call, and apart from them moves to another key (`RetryPolicy` `maxRetries` and `maxKeyRotations`). */
  max_retries: optional(NonNegativeInt),
  /** Seconds before the first retry; later ones back off exponentially. */
  retry_delay: optional(Positive),
  rate_limit_capacity: optional(Positive),
  rate_limit_refill_rate: optional(Positive),
  max_concurrency: optional(PositiveInt),
  tokens_per_minute: optional(Positive),
  /** Seconds a call may take. */
  timeout: optional(Positive),
  /** Seconds to wait for the response headers (`HttpOptions.headersTimeout`). Default 30. */
  headers_timeout: optional(Positive),
  /** Seconds a stream may wait for its first token (`HttpOptions.firstTokenTimeout`). Default 120. */
  first_token_timeout: optional(Positive),
  /** Seconds a stream may send nothing (`HttpOptions.idleTimeout`). Default 30. */
  idle_timeout: optional(Positive),
  /** The largest reply read, in bytes (`HttpOptions.maxResponseBytes`). Default 64 MiB. */
  max_response_bytes: optional(PositiveInt),
  /** With `api: "azure"`: the deployment requests go to (`AzureOpenAi.Options.deployment`). Default: `model_name`. */
  deployment: optional(NonEmpty),
  /**
   * With `api: "azure"`: the API version of the deployment's path (`AzureOpenAi.Options.apiVersion`). Default: none,
   * the v1 API.
   */
  api_version: optional(NonEmpty),
  /** With `api: "bedrock"`: the AWS region (`Bedrock.Options.region`); needed unless `base_url` is given. */
  region: optional(NonEmpty),
  /**
   * With `api: "bedrock"` and no `api_keys`: the AWS shared config profile that signs (`Bedrock.Options.profile`).
   * Default: AWS's default credential chain.
   */
  profile: optional(NonEmpty),
  /**
   * Where the deployment's batches go as its cloud's batch jobs; the adapter checks the fields' shapes. Default: none,
   * its batches run as calls.
   * - With `api: "bedrock"` and no `api_keys`: batch inference jobs (`Bedrock.Options.batch`), `role_arn` and the S3
   *   prefixes required, `endpoint`, `s3_endpoint` and `timeout_hours` optional.
   * - With `api: "vertex"`: batch prediction jobs (`Vertex.Options.batch`), the Cloud Storage prefixes required,
   *   `storage_endpoint` optional.
   */
  batch: optional(Schema.Struct({
    // Which fields are required depends on the api: checked with it (`read.ts`), every one missing named at once.
    role_arn: optional(NonEmpty),
    input_uri: optional(NonEmpty),
    output_uri: optional(NonEmpty),
    endpoint: optional(HttpUrl),
    s3_endpoint: optional(HttpUrl),
    timeout_hours: optional(PositiveInt),
    storage_endpoint: optional(HttpUrl)
  })),
  organization: optional(NonEmpty),
  /** OpenAI's project (`OpenAI-Project`); with `api: "vertex"`, the Google Cloud project (`Vertex.Options.project`). */
  project: optional(NonEmpty),
  /** With `api: "vertex"`: the location, a region or `global` (`Vertex.Options.location`). */
  location: optional(NonEmpty),
  /** With `api: "vertex"`: who publishes the model (`Vertex.Options.publisher`). Default: by the model's name. */
  publisher: optional(Schema.Literals(["google", "anthropic"])),
  max_tokens_field: optional(Schema.Literals(["max_completion_tokens", "max_tokens"])),
  /**
   * With `api: "responses"`: whether OpenAI keeps each response (`OpenAiResponses.Options.store`), so a follow-up the
   * same key sends goes as `previous_response_id` plus the new input (the gateway's `/v1/responses`). Default false.
   */
  store: optional(Schema.Boolean),
  /**
   * With a Claude model (`anthropic`, `bedrock`, or `vertex` with Anthropic's publisher): cache every conversation,
   * giving a request without a breakpoint one on its last block, as clients of APIs that cache long prompts on their
   * own (Gemini, OpenAI) expect (`Anthropic.Options.cacheConversations`). A cache write costs more than a prompt token.
   * Default false.
   */
  cache_conversations: optional(Schema.Boolean),
  /** Overrides the built-in price of the model. */
  pricing: optional(PricingEntry),
  /** `Router`: the deployment's share of weighted picks (LLM-API-BalancedCall's `model_weight`). Default 1. */
  weight: optional(Positive),
  /** `Router`: group names that address this model (`"fast"`, `"smart"`). */
  groups: optional(Schema.Array(NonEmpty)),
  /**
   * The context window in tokens (`Router` falls back to a larger one on `ContextLengthError`); also the most a call
   * is billed for, which a budget reserves for a part of unknowable size and for hosted tool results
   * (`Pricing.Price.contextWindow`).
   */
  context_window: optional(PositiveInt),
  /**
   * What a budgeted key's request with a part by URL of unknowable size (one a Gemini deployment fetches) gets:
   * `"reserve"` the context window, or `"refuse"` (400) before the call. Default `"reserve"` (`"refuse"` without a
   * context window).
   */
  media_by_url: optional(Schema.Literals(["reserve", "refuse"])),
  /**
   * Whether the model continues a last assistant message (prefill), which a `Router`'s `mid_stream: "continue"` uses;
   * with `chat-completions`, how the server is asked: `true`, `"continue_final_message"` (vLLM) or `"prefix"` (DeepSeek
   * beta) (`OpenAiChat.Options.prefill`). Default: true for `anthropic`, the preset's (`vllm`), else false.
   */
  prefill: optional(Prefill),
  /** Names of the file's `guardrails` section that a call which may reach this model runs. */
  guardrails: optional(Schema.Array(NonEmpty))
})
