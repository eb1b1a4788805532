/**
 * Amazon Bedrock's Converse API (the Amazon Bedrock API reference: `Converse`, `ConverseStream`) as a
 * `ProviderClient`: text, system prompts, images, tools and prompt-cache points, streamed and not, for every model
 * Converse serves (Anthropic Claude, Meta Llama, Amazon Nova, Mistral...), by model id, inference profile id or ARN.
 * A `json_schema` response format (`Llm.generateObject`) is a forced tool whose input is the reply's text, for the
 * models that take a tool choice (Anthropic Claude, Mistral Large...); it cannot be combined with `tools`.
 *
 * - `POST {baseUrl}/model/{modelId}/converse` and `/converse-stream`, the model id URL-encoded; `baseUrl` defaults to
 *   the region's runtime endpoint, `https://bedrock-runtime.{region}.amazonaws.com`. `countTokens` asks
 *   `/model/{modelId}/count-tokens` (`CountTokens`) with the Converse body's messages, system and tools.
 * - Auth (`auth`): by default every request is signed with AWS Signature Version 4 (service `bedrock`) with the
 *   credentials of a shared config `profile` when one is given (`fromIni`), else of the `Credentials` provider in
 *   context (by default AWS's default chain, `fromNodeProviderChain`), held (the secret key and session token
 *   `Redacted`) and asked for again before they expire; the key a call is given is not sent. With
 *   `auth: "api-key"`, the key is a Bedrock API key sent as `Authorization: Bearer`, and nothing is signed. Traces
 *   redact the signature (`authorization`) and the session token (`x-amz-security-token`).
 * - Streams are `application/vnd.amazon.eventstream` frames; an exception frame fails the stream with its typed
 *   error.
 * - A client whose `model` is Anthropic's Claude (`anthropic.claude-...`, or an inference profile or ARN of one) has
 *   `prefill`: Claude goes on from a last assistant message, so a router continues a broken stream there by prefill.
 * - Errors: `ThrottlingException` (429) is a `RateLimitError`, `AccessDeniedException` and
 *   `UnrecognizedClientException` (403) an `AuthError`, `ResourceNotFoundException` or a `ValidationException`
 *   naming the model identifier a `ModelNotFoundError`; credentials that cannot be had an `AuthError` of reason
 *   `credential_unavailable` naming the provider tried.
 *
 * - Batches (`Batch`): with `batch`, each batch is a batch inference job (`CreateModelInvocationJob` on the control
 *   plane, `https://bedrock.{region}.amazonaws.com`), its requests' Converse bodies written as one JSONL file under
 *   `batch.inputUri` and its results read from under `batch.outputUri`, S3's requests signed (service `s3`) with the
 *   same credentials; without it, `Batch` runs a Bedrock client's requests as calls.
 *
 * Signing, the frames and the default chain use AWS's libraries, optional peer dependencies imported when a client is
 * built (`@smithy/signature-v4`, `@smithy/hash-node`, `@smithy/eventstream-codec`) or when credentials are first
 * asked of the default chain (`@aws-sdk/credential-providers`).
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
