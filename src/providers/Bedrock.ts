/**
 * Amazon Bedrock's Converse API (the Amazon Bedrock API reference: `Converse`, `ConverseStream`) as a
 * `ProviderClient`, for every model Converse serves, by model id, inference profile id or ARN, each request signed
 * with SigV4 or sent a Bedrock API key. docs/adapters.md ("Amazon Bedrock") is its reference: the routes, structured
 * output, token counts, credentials, errors and prefill; its batch inference jobs are in docs/batch.md ("Bedrock").
 *
 * @since 0.3.0
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Invalid from "../internal/optionsError.js"
import * as Adapter from "../internal/providers/adapter.js"
import * as Aws from "../internal/wire/bedrock/aws.js"
import { definition } from "../internal/wire/bedrock/client.js"
import type { AwsCredentials, BatchOptions, CredentialProvider, Options } from "../internal/wire/bedrock/options.js"
import type { OptionsError } from "../OptionsError.js"
import type { ProviderClient, Service } from "../ProviderClient.js"

// Declared with the dialect, whose client table reads them.
export type { AwsCredentials, BatchOptions, CredentialProvider, Options }

/**
 * The credentials SigV4 clients sign with (and `provider.json`'s Bedrock entries without `api_keys`). Default: AWS's
 * default chain, `@aws-sdk/credential-providers`' `fromNodeProviderChain()` (environment, SSO, shared config and
 * credentials files, web identity, process, container and instance metadata), the package (an optional peer
 * dependency) imported when credentials are first asked for.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Bedrock } from "effect-llm-router"
 *
 * // Fixed credentials (in tests, or from a secret store) in place of the default chain.
 * const Client = Bedrock.layer({ region: "us-east-1", model: "amazon.nova-micro-v1:0" }).pipe(
 *   Layer.provide(Layer.succeed(Bedrock.Credentials, async () => ({
 *     accessKeyId: "AKIDEXAMPLE",
 *     secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
 *   })))
 * )
 * ```
 *
 * @since 0.3.0
 * @category Services
 */
export const Credentials: Context.Reference<CredentialProvider> = Context.Reference<CredentialProvider>(
  "effect-llm-router/Bedrock/Credentials",
  { defaultValue: Aws.defaultCredentialChain }
)

/** What a provider is called in errors: the default chain by its name, another by its function's name. */
const nameOf = (provider: CredentialProvider): string =>
  Aws.isDefaultChain(provider)
    ? Aws.defaultChainName
    : provider.name !== ""
    ? `the AWS credential provider ${provider.name}`
    : "the AWS credential provider given"

/**
 * Builds the client over the `HttpClient` in the context (and, with SigV4, the `Credentials`), importing AWS's
 * libraries; it holds no resources but the credentials it shares between calls.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Bedrock, Message, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One call, signed with the default credential chain, under no pool, limiter or retry (what `Llm` adds).
 * const reply = Effect.gen(function*() {
 *   const client = yield* Bedrock.make({ region: "us-east-1", model: "anthropic.claude-3-5-haiku-20241022-v1:0" })
 *   return yield* client.chat({ messages: [Message.user("Hi")] }, ProviderClient.credentials("none"))
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.3.0
 * @category Constructors
 */
export const make = (options: Options): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const aws = yield* Effect.mapError(
      Aws.load,
      (detail) =>
        detail === Aws.notInstalledDetail
          ? Invalid.make(
            "Bedrock",
            `optional peer dependencies ${Aws.peerPackages}`,
            "missing",
            `installed (npm install ${Aws.peerPackages})`
          )
          : Invalid.make("Bedrock", "auth", options.auth ?? "sigv4", detail)
    )
    if (options.auth === "api-key") {
      if (options.profile !== undefined) {
        return yield* Invalid.make("Bedrock", "profile", options.profile, "no profile with auth: \"api-key\"")
      }
      return yield* Adapter.make((given: Options) => definition(given, aws, undefined), options)
    }
    if (options.profile !== undefined && (typeof options.profile !== "string" || options.profile === "")) {
      return yield* Invalid.make("Bedrock", "profile", options.profile, "a profile name of the shared config files")
    }
    const source = options.profile === undefined
      ? Effect.map(Credentials, (provider) => Aws.credentialSource(provider, nameOf(provider)))
      : Effect.succeed(Aws.credentialSource(Aws.profileCredentials(options.profile), Aws.profileName(options.profile)))
    const credentials = yield* source
    const region = options.region ?? "us-east-1"
    const sign = Aws.sign(aws, credentials, region)
    const signS3 = Aws.sign(aws, credentials, region, "s3")
    return yield* Adapter.make((given: Options) => definition(given, aws, sign, credentials, signS3), options)
  })

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Bedrock, KeyPool, Llm, RateLimiter, UndiciHttpClient } from "effect-llm-router"
 *
 * // SigV4 with the default credential chain: a pool of one stand-in key.
 * const Claude = Llm.layer().pipe(
 *   Layer.provide(Bedrock.layer({ region: "us-east-1", model: "anthropic.claude-3-5-haiku-20241022-v1:0" })),
 *   Layer.provide(KeyPool.layer({ providerId: "bedrock", keys: ["none"] })),
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
 * import { Bedrock } from "effect-llm-router"
 *
 * const Client = Bedrock.layerConfig({
 *   region: Config.String("AWS_REGION"),
 *   model: Config.String("BEDROCK_MODEL_ID")
 * })
 * ```
 *
 * @since 0.3.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
