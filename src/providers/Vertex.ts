/**
 * Google Cloud's Vertex AI (Vertex AI's REST reference) as a `ProviderClient`: Google's models (Gemini) and Anthropic's
 * models (Claude) on a project's location, each in its own publisher's wire (`Gemini`'s and `Anthropic`'s mappings,
 * which this shares), with a Google access token. docs/adapters.md ("Google Vertex AI") is its reference: the paths,
 * credentials, errors and what is not served; its batch prediction jobs are in docs/batch.md ("Vertex AI").
 *
 * @since 0.3.0
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import { definition } from "../internal/clouds/vertex/definition.js"
import type { AuthClient, BatchOptions, Options } from "../internal/clouds/vertex/options.js"
import { ApplicationDefaultCredentials, tokenSource } from "../internal/clouds/vertex/token.js"
import * as Adapter from "../internal/providers/adapter.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient, Service } from "../ProviderClient.js"

// Declared with the cloud's table, which reads them.
export type { AuthClient, BatchOptions, Options }

/**
 * The credential of Vertex clients (and of `provider.json`'s Vertex entries). Default: Application Default
 * Credentials, `google-auth-library`'s `GoogleAuth` for the scope `https://www.googleapis.com/auth/cloud-platform`
 * (the file `GOOGLE_APPLICATION_CREDENTIALS` names, gcloud's `application-default login`, the metadata server), the
 * package (an optional peer dependency) imported when the first token is asked for; without it, calls fail with
 * `AuthError` saying to install it.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Vertex } from "effect-llm-router"
 *
 * // A service account's client (any google-auth-library AuthClient) in place of Application Default Credentials.
 * declare const serviceAccount: Vertex.AuthClient
 * const Client = Vertex.layer({ project: "my-proj", location: "us-central1", model: "gemini-2.5-flash" })
 *   .pipe(Layer.provide(Layer.succeed(Vertex.Credential, serviceAccount)))
 * ```
 *
 * @since 0.3.0
 * @category Services
 */
export const Credential: Context.Reference<AuthClient> = Context.Reference<AuthClient>(
  "effect-llm-router/Vertex/Credential",
  { defaultValue: () => new ApplicationDefaultCredentials() }
)

/**
 * Builds the client over the `HttpClient` and the `Credential` in the context. It holds no resources but the access
 * token it shares between calls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, ProviderClient, UndiciHttpClient, Vertex } from "effect-llm-router"
 *
 * // One call, under no pool, limiter or retry (what `Llm` adds); the token is the credential's, not the key's.
 * const reply = Effect.gen(function*() {
 *   const client = yield* Vertex.make({
 *     project: "my-proj",
 *     location: "us-east5",
 *     model: "claude-sonnet-4-5@20250929"
 *   })
 *   return yield* client.chat({ messages: [Message.user("Hi")] }, ProviderClient.credentials("none"))
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  Effect.flatMap(
    Credential,
    (credential) => Adapter.make((given: Options) => definition(given, tokenSource(credential)), options)
  )

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, RateLimiter, UndiciHttpClient, Vertex } from "effect-llm-router"
 *
 * // Application Default Credentials, a pool of one stand-in key.
 * const Flash = Llm.layer({ model: "gemini-2.5-flash" }).pipe(
 *   Layer.provide(Vertex.layer({ project: "my-proj", location: "global" })),
 *   Layer.provide(KeyPool.layer({ providerId: "vertex", keys: ["none"] })),
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
 * import { Vertex } from "effect-llm-router"
 *
 * const Client = Vertex.layerConfig({
 *   project: Config.String("GOOGLE_CLOUD_PROJECT"),
 *   location: Config.String("GOOGLE_CLOUD_LOCATION").pipe(Config.withDefault("global"))
 * })
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
