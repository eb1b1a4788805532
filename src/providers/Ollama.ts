/**
 * Ollama's native chat API (`POST {baseUrl}/api/chat`, Ollama's API docs) as a `ProviderClient`: NDJSON streams,
 * thinking, whole tool calls, and token counts; local Ollama, Ollama cloud or a proxy in front (a key other than
 * `none` goes as `Authorization: Bearer`). Its reference is docs/adapters.md: "Request fields on every wire" for what
 * it sends, and "What each adapter adds" for thinking levels, images, ids and usage.
 *
 * ```ts
 * const Local = Ollama.layer({ model: "llama3.2", numCtx: 8192 })
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Adapter from "../internal/providers/adapter.js"
import * as Wire from "../internal/wire/ollama/codec.js"
import { OllamaStreamParser } from "../internal/wire/ollama/stream.js"
import type { OptionsError } from "../OptionsError.js"
import type { HttpOptions, ProviderClient, Service } from "../ProviderClient.js"

/**
 * @since 0.1.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /**
   * The server's root, without `/api`: `http://localhost:11434`, `https://ollama.com`. Default:
   * `http://localhost:11434`.
   */
  readonly baseUrl?: string | undefined
  /** The provider's name in responses and errors. Default: `"ollama"`. */
  readonly provider?: string | undefined
  /** The model for requests that name none. Default: none (such a request fails with `InvalidRequestError`). */
  readonly model?: string | undefined
  /**
   * How long Ollama keeps the model loaded after the call (`keep_alive`):
   * zero unloads it at once, an infinite duration keeps it loaded.
   * Default: not sent (the server's default, 5 minutes).
   */
  readonly keepAlive?: Duration.Input | undefined
  /**
   * The context window to run the model with (`options.num_ctx`). Set it when
   * prompts are long: Ollama silently truncates a prompt that does not fit its
   * default window (2k to 256k tokens depending on the server and memory)
   * instead of failing. Default: not sent.
   */
  readonly numCtx?: number | undefined
  /**
   * The longest NDJSON line accepted, in characters; a longer one fails the
   * stream with `OutputDecodeError`. Default: 16 MiB.
   */
  readonly maxLineSize?: number | undefined
}

/** Where a local Ollama listens. */
const defaultBaseUrl = "http://localhost:11434"

const bearer = (key: Redacted.Redacted<string>): readonly [string, string] | undefined => {
  const value = Redacted.value(key)
  return value === "" || value === "none" ? undefined : ["authorization", `Bearer ${value}`]
}

const definition = (options: Options): Result.Result<Adapter.Definition, OptionsError> => {
  const numCtx = options.numCtx
  const maxLineSize = options.maxLineSize
  const invalid = Adapter.checkPositive("Ollama", "numCtx", numCtx, true) ??
    Adapter.checkPositive("Ollama", "maxLineSize", maxLineSize) ??
    Adapter.checkPositive("Ollama", "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return Result.fail(invalid)
  const keepAlive = options.keepAlive === undefined ? undefined : Wire.keepAliveOf(Duration.toMillis(options.keepAlive))
  return Result.succeed({
    provider: options.provider ?? "ollama",
    model: options.model,
    baseUrl: options.baseUrl ?? defaultBaseUrl,
    headers: options.headers,
    auth: bearer,
    ...Adapter.limitsOf(options),
    path: () => "/api/chat",
    body: (request, model, stream) => Wire.requestBody(request, { model, stream, keepAlive, numCtx }),
    failureOf: (body) => Wire.isErrorPayload(body) ? body : undefined,
    reply: (body) => {
      const reply = Wire.reply(body)
      // Ollama's replies have no id.
      return Result.succeed({ ...reply, id: "", reasoning: reply.reasoning === "" ? undefined : reply.reasoning })
    },
    stream: (context) => new OllamaStreamParser({ ...context, maxLineSize }),
    embeddings: {
      maxInputs: Wire.maxEmbeddingInputs,
      tokens: false,
      path: () => "/api/embed",
      body: (model, inputs, request) => Wire.embeddingBody(model, inputs, request.dimensions, keepAlive),
      read: Wire.readEmbeddings,
      isError: Wire.isErrorPayload
    }
  })
}

/**
 * Builds the client over the `HttpClient` in the context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Message, Ollama, ProviderClient, UndiciHttpClient } from "effect-llm-router"
 *
 * // One call to a local server, which checks no key.
 * const reply = Effect.gen(function*() {
 *   const client = yield* Ollama.make({ model: "llama3.2", keepAlive: "30 minutes" })
 *   return yield* client.chat({ messages: [Message.user("Hi")] }, ProviderClient.credentials("none"))
 * }).pipe(Effect.provide(UndiciHttpClient.layer()))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Service, OptionsError, HttpClient.HttpClient> =>
  Adapter.make(definition, options)

/**
 * The client as a layer.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { KeyPool, Llm, Ollama, RateLimiter } from "effect-llm-router"
 *
 * // A model loaded with a larger context window than the server's default.
 * const Local = Llm.layer({ model: "qwen3:8b" }).pipe(
 *   Layer.provide(Ollama.layer({ numCtx: 32_768 })),
 *   Layer.provide(KeyPool.layer({ providerId: "ollama", keys: ["none"] })),
 *   Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
 *   Layer.provide(RateLimiter.unlimited)
 * )
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = Adapter.layer(make)

/**
 * The client as a layer, its options read from `Config`.
 *
 * @example
 * ```ts
 * import { Config } from "effect"
 * import { Ollama } from "effect-llm-router"
 *
 * const Client = Ollama.layerConfig({
 *   baseUrl: Config.String("OLLAMA_HOST").pipe(Config.withDefault("http://localhost:11434")),
 *   model: Config.String("OLLAMA_MODEL")
 * })
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layerConfig: (
  options: Config.Wrap<Options>
) => Layer.Layer<ProviderClient, Config.ConfigError | OptionsError, HttpClient.HttpClient> = Adapter.layerConfig(make)
