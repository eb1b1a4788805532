/**
 * The layers a configuration builds: a model entry's `ProviderClient`, and each model's `Llm` over its key pool and
 * rate limiter, the pools of a provider's models shared through one registry.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as KeyPool from "../../KeyPool.js"
import * as Llm from "../../Llm.js"
import { OptionsError } from "../../OptionsError.js"
import { ProviderClient } from "../../ProviderClient.js"
import type { Deployment, ModelConfig, ModelEntry, ProviderConfig, ProviderConfigError } from "../../ProviderConfig.js"
import * as Anthropic from "../../providers/Anthropic.js"
import * as AzureOpenAi from "../../providers/AzureOpenAi.js"
import * as Bedrock from "../../providers/Bedrock.js"
import * as Gemini from "../../providers/Gemini.js"
import * as Ollama from "../../providers/Ollama.js"
import * as OpenAiChat from "../../providers/OpenAiChat.js"
import * as OpenAiResponses from "../../providers/OpenAiResponses.js"
import * as Presets from "../../providers/Presets.js"
import * as Vertex from "../../providers/Vertex.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import * as Store from "../../Store.js"
import * as Memory from "../keyPool/memory.js"
import { normalBaseUrl } from "../transport/baseUrl.js"
import { model, priceOf } from "./lookup.js"

const defaultOpenAiBaseUrl = "https://api.openai.com/v1"

// Both clouds' batch options: each takes its own fields (the file's check allows only those, `read.ts`).
function batchOf(batch: NonNullable<ModelEntry["batch"]>): Bedrock.BatchOptions & Vertex.BatchOptions {
  return {
    // The file's check requires them (`read.ts`); a config built without fails as the adapter's `OptionsError`.
    roleArn: batch.role_arn ?? "",
    inputUri: batch.input_uri ?? "",
    outputUri: batch.output_uri ?? "",
    endpoint: batch.endpoint,
    s3Endpoint: batch.s3_endpoint,
    timeoutHours: batch.timeout_hours,
    storageEndpoint: batch.storage_endpoint
  }
}

/**
 * The `ProviderClient` a model entry's `api` (and `preset`) selects; an adapter's refusal (its `OptionsError`, a
 * missing optional peer dependency's included) names the entry.
 */
export const clientLayer = (
  provider: string,
  entry: ModelEntry
): Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient> =>
  Layer.catchTag(
    adapterLayer(provider, entry),
    "OptionsError",
    (error) =>
      Layer.effect(
        ProviderClient,
        Effect.fail(new OptionsError({ ...error, module: `${error.module} (${provider}/${entry.model_name})` }))
      )
  )

const adapterLayer = (
  provider: string,
  entry: ModelEntry
): Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient> => {
  const common = {
    provider,
    model: entry.model_name,
    ...(entry.base_url !== undefined ? { baseUrl: entry.base_url } : {}),
    ...(entry.timeout !== undefined ? { timeout: entry.timeout * 1000 } : {}),
    ...(entry.headers_timeout !== undefined ? { headersTimeout: entry.headers_timeout * 1000 } : {}),
    ...(entry.first_token_timeout !== undefined ? { firstTokenTimeout: entry.first_token_timeout * 1000 } : {}),
    ...(entry.idle_timeout !== undefined ? { idleTimeout: entry.idle_timeout * 1000 } : {}),
    ...(entry.max_response_bytes !== undefined ? { maxResponseBytes: entry.max_response_bytes } : {}),
    ...(entry.headers !== undefined ? { headers: entry.headers } : {})
  }
  const openAi = { organization: entry.organization, project: entry.project }
  switch (entry.api ?? "chat-completions") {
    case "chat-completions": {
      const options = { ...common, ...openAi, maxTokensField: entry.max_tokens_field, prefill: entry.prefill }
      return entry.preset === undefined
        ? OpenAiChat.layer({ baseUrl: defaultOpenAiBaseUrl, ...options })
        : Presets.layer(entry.preset, options)
    }
    case "responses":
      return OpenAiResponses.layer({ baseUrl: defaultOpenAiBaseUrl, ...common, ...openAi, store: entry.store })
    case "anthropic":
      return Anthropic.layer({ ...common, cacheConversations: entry.cache_conversations })
    case "gemini":
      return Gemini.layer(common)
    case "ollama":
      return Ollama.layer(common)
    case "azure":
      return AzureOpenAi.layer({
        ...common,
        // The file's check requires it (`read.ts`); a config built without one fails as the adapter's `OptionsError`.
        baseUrl: entry.base_url ?? "",
        deployment: entry.deployment,
        apiVersion: entry.api_version,
        maxTokensField: entry.max_tokens_field,
        entraId: entry.api_keys === undefined
      })
    case "vertex":
      return Vertex.layer({
        ...common,
        // The file's check requires both (`read.ts`); a config built without fails as the adapter's `OptionsError`.
        project: entry.project ?? "",
        location: entry.location ?? "",
        publisher: entry.publisher,
        cacheConversations: entry.cache_conversations,
        ...(entry.batch === undefined ? {} : { batch: batchOf(entry.batch) })
      })
    case "bedrock":
      return Bedrock.layer({
        ...common,
        region: entry.region,
        profile: entry.profile,
        cacheConversations: entry.cache_conversations,
        auth: entry.api_keys === undefined ? "sigv4" : "api-key",
        ...(entry.batch === undefined ? {} : { batch: batchOf(entry.batch) })
      })
  }
}

/**
 * The registry and the memory lease store a file's models share, their pools' state kept in this process when the
 * file names no `store`.
 */
type Keys = Layer.Layer<KeyPool.KeyPoolRegistry | KeyPool.LeaseStore>

/**
 * The model's key pool, under the provider's name and its endpoint: its `api` and the root its client sends to
 * (`ProviderClient.baseUrl`, normalised), so only entries that name one server share keys, in memory and in the
 * store alike (docs/configuration.md, "Keys belong to their endpoint").
 */
const keyPool = (
  settings: ModelConfig,
  keys: Keys,
  store: Store.Store | undefined
): Layer.Layer<KeyPool.KeyPool, OptionsError, ProviderClient> =>
  Layer.unwrap(Effect.map(ProviderClient, (client) => {
    const baseUrl = client.baseUrl === undefined ? "" : normalBaseUrl(client.baseUrl)
    // An Azure entry without keys signs in with Entra ID: its stand-in key is no key of the endpoint's others.
    const api = settings.entry.api === "azure" && settings.entry.api_keys === undefined
      ? "azure-entra-id"
      : settings.entry.api === "bedrock" && settings.entry.api_keys === undefined
      ? "bedrock-sigv4"
      : settings.entry.api ?? "chat-completions"
    const endpoint = `${api} ${baseUrl}`
    const pool = KeyPool.layer({ providerId: settings.provider, endpoint, keys: settings.keys, key: settings.provider })
    return store === undefined ? pool : Layer.provide(pool, KeyPool.layerStoreRedis(store))
  })).pipe(Layer.provide(keys))

// The model's key pool and limiter, in memory or in the file's `store`: the pool under the provider's name and
// endpoint (models of one endpoint share keys), the limiter under the model's.
const limits = (
  settings: ModelConfig,
  keys: Keys,
  store: Store.Store | undefined
): Layer.Layer<KeyPool.KeyPool | RateLimiter.RateLimiter, OptionsError, ProviderClient> => {
  const { entry, provider } = settings
  const limited = RateLimiter.layer({
    // A bucket of one second's refill when only one side is given.
    capacity: entry.rate_limit_capacity ?? entry.rate_limit_refill_rate ?? Number.MAX_SAFE_INTEGER,
    refillRate: entry.rate_limit_refill_rate ?? entry.rate_limit_capacity ?? Number.MAX_SAFE_INTEGER,
    maxConcurrency: entry.max_concurrency,
    tokensPerMinute: entry.tokens_per_minute,
    key: `${provider}/${entry.model_name}`
  })
  const limiter = entry.rate_limit_capacity === undefined && entry.rate_limit_refill_rate === undefined &&
      entry.max_concurrency === undefined && entry.tokens_per_minute === undefined
    ? RateLimiter.unlimited
    : Layer.provide(
      limited,
      // Without the file's `store`, the model's limits are this process's alone, in a memory store of its own.
      store === undefined ? Layer.fresh(RateLimiter.layerStoreMemory) : RateLimiter.layerStoreRedis(store)
    )
  return Layer.mergeAll(keyPool(settings, keys, store), limiter)
}

/** A model's `Llm` options from its entry: its model name, price and retries (what `Batch` is built with too). */
export const llmOptions = (settings: ModelConfig): Llm.Options => {
  const { entry } = settings
  const price = priceOf(settings)
  return {
    model: entry.model_name,
    ...(price !== undefined ? { price } : {}),
    retry: RetryPolicy.make({
      // The file has one count, as SimpleLLMFunc's: it bounds the key rotations too.
      ...(entry.max_retries !== undefined ? { maxRetries: entry.max_retries, maxKeyRotations: entry.max_retries } : {}),
      ...(entry.retry_delay !== undefined ? { baseDelay: entry.retry_delay * 1000 } : {})
    })
  }
}

/** What a model's `Llm` (or its `Batch`) is built over: its client, key pool and limiter. */
export const modelParts = (
  settings: ModelConfig,
  keys: Keys,
  store: Store.Options | Store.Store | undefined
): Layer.Layer<KeyPool.KeyPool | RateLimiter.RateLimiter | ProviderClient, OptionsError, HttpClient.HttpClient> =>
  (store === undefined || !("redis" in store)
    ? limits(settings, keys, store)
    : Layer.unwrap(Effect.map(Store.make(store), (connected) => limits(settings, keys, connected)))).pipe(
      Layer.provideMerge(clientLayer(settings.provider, settings.entry))
    )

const llmLayer = (
  settings: ModelConfig,
  keys: Keys,
  store: Store.Options | Store.Store | undefined
): Layer.Layer<
  Llm.Llm | KeyPool.KeyPool | RateLimiter.RateLimiter | ProviderClient,
  OptionsError,
  HttpClient.HttpClient
> =>
  // The parts kept in the output: a router reads what its embeddings take (`embeddingInput`).
  Llm.layer(llmOptions(settings)).pipe(Layer.provideMerge(modelParts(settings, keys, store)))

/** The `Llm` of one model, over a key pool of its own. */
export const layer = (
  config: ProviderConfig,
  provider: string,
  modelName: string
): Layer.Layer<Llm.Llm, ProviderConfigError | OptionsError, HttpClient.HttpClient> =>
  Layer.unwrap(
    Effect.map(model(config, provider, modelName), (settings) =>
      llmLayer(settings, Layer.merge(KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory), config.store))
  )

/** Every model's `Llm` layer, by provider and model name, sharing one key-pool registry. */
export const layers = (
  config: ProviderConfig
): Effect.Effect<
  Readonly<Record<string, Readonly<Record<string, Layer.Layer<Llm.Llm, OptionsError, HttpClient.HttpClient>>>>>
> =>
  Effect.map(deployments(config), (all) => {
    const out: Record<string, Record<string, Layer.Layer<Llm.Llm, OptionsError, HttpClient.HttpClient>>> = {}
    for (const provider of Object.keys(config.providers)) out[provider] = {}
    for (const { layer, settings } of all) out[settings.provider]![settings.entry.model_name] = layer
    return out
  })

/**
 * Every model of a configuration, in file order, with layers sharing one key-pool registry and memory lease store,
 * and one connected `store` when given (else each layer connects to the config's own).
 */
export const deployments = (
  config: ProviderConfig,
  options?: { readonly store?: Store.Store | undefined }
): Effect.Effect<ReadonlyArray<Deployment>> =>
  Effect.map(KeyPool.makeRegistry, (registry) => {
    const shared: Keys = Layer.succeedContext(
      // Its pools lease every key, so it publishes no loads and the scope it would publish them in is never used.
      Context.make(KeyPool.KeyPoolRegistry, registry).pipe(
        Context.add(KeyPool.LeaseStore, Memory.leaseStore(Scope.makeUnsafe()))
      )
    )
    const store = options?.store ?? config.store
    return Object.values(config.providers).flatMap((models) =>
      Object.values(models).map((settings) => ({ settings, layer: llmLayer(settings, shared, store) }))
    )
  })
