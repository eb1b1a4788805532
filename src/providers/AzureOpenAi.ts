/**
 * Azure OpenAI (Azure OpenAI's REST API reference) as a `ProviderClient`: Chat Completions, streamed and not, with
 * tools, images and structured output as `OpenAiChat` sends them, and embeddings, on a resource's endpoint, with a key
 * or a Microsoft Entra ID token. docs/adapters.md ("Azure OpenAI") is its reference: the paths, the deployment, the
 * credential, the content-filter fields and the errors.
 *
 * @since 0.3.0
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import { definition } from "../internal/clouds/azure/definition.js"
import type { AccessToken, Options, TokenCredential } from "../internal/clouds/azure/options.js"
import { DefaultAzureCredential, tokenSource } from "../internal/clouds/azure/token.js"
import * as Adapter from "../internal/providers/adapter.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient, Service } from "../ProviderClient.js"

// Declared with the cloud's table, which reads them.
export type { AccessToken, Options, TokenCredential }

/**
 * The credential of `entraId` clients (and of `provider.json`'s Azure entries without `api_keys`). Default:
 * `@azure/identity`'s `DefaultAzureCredential` (environment, workload identity, managed identity, Azure CLI...),
 * the package (an optional peer dependency) imported when the first token is asked for; without it, calls fail with
 * `AuthError` saying to install it.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AzureOpenAi } from "effect-llm-router"
 *
 * // A token of a managed identity's (or any `@azure/identity` credential's) in place of the default chain.
 * declare const managedIdentity: AzureOpenAi.TokenCredential
 * const resource = "https://my-resource.openai.azure.com"
 * const Client = AzureOpenAi.layer({ baseUrl: resource, model: "gpt-4.1", entraId: true })
 *   .pipe(Layer.provide(Layer.succeed(AzureOpenAi.Credential, managedIdentity)))
 * ```
 *
 * @since 0.3.0
 * @category Services
 */
export const Credential: Context.Reference<TokenCredential> = Context.Reference<TokenCredential>(
  "effect-llm-router/AzureOpenAi/Credential",
  { defaultValue: () => new DefaultAzureCredential() }
)

/**
 * Builds the client over the `HttpClient` in the context (and, with `entraId`, the `Credential`). It holds no
 * resources but the Entra ID token it shares between calls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { AzureOpenAi, Message, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One call with one key, under no pool, limiter or retry (what `Llm` adds).
 * const reply = Effect.gen(function*() {
 *   const client = yield* AzureOpenAi.make({
 *     baseUrl: "https://my-resource.openai.azure.com",
 *     deployment: "gpt4o-prod",
 *     apiVersion: "2024-10-21",
 *     model: "gpt-4o"
 *   })
 *   return yield* client.chat(
 *     { messages: [Message.user("Hi")] },
 *     ProviderClient.credentials(process.env.AZURE_OPENAI_API_KEY!)
 *   )
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  options.entraId === true
    ? Effect.flatMap(
      Credential,
      (credential) => Adapter.make((given: Options) => definition(given, tokenSource(credential)), options)
    )
    : Adapter.make((given: Options) => definition(given, undefined), options)

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { AzureOpenAi, KeyPool, Llm, RateLimiter, UndiciHttpClient } from "effect-llm-router"
 *
 * // The v1 API with Entra ID: the default credential, a pool of one stand-in key.
 * const Azure = Llm.layer().pipe(
 *   Layer.provide(
 *     AzureOpenAi.layer({ baseUrl: "https://my-resource.openai.azure.com", model: "gpt-4.1", entraId: true })
 *   ),
 *   Layer.provide(KeyPool.layer({ providerId: "azure", keys: ["none"] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide([RateLimiter.unlimited, UndiciHttpClient.layer()])
 * )
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layer: (options: Options) => Layer.Layer<ProviderClient, OptionsError, HttpClient.HttpClient> = Adapter
  .layer(make)

/**
 * The client as a layer, its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { AzureOpenAi } from "effect-llm-router"
 *
 * const Client = AzureOpenAi.layerConfig({
 *   baseUrl: Config.String("AZURE_OPENAI_ENDPOINT"),
 *   deployment: Config.String("AZURE_OPENAI_DEPLOYMENT"),
 *   apiVersion: Config.String("OPENAI_API_VERSION")
 * })
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
