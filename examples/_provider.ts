/**
 * The one piece the examples share: where the model lives.
 *
 * With `OPENAI_API_KEY` and/or `OPENAI_BASE_URL` set, the examples talk to
 * that OpenAI-compatible API (weighted-keys.ts wants several keys,
 * comma-separated; provider-json.ts reads the variable as one key).
 * With neither, they start the library's simulator in-process, so every
 * example runs with nothing set up. Each example still builds its own key
 * pool, rate limiter or retry policy: that is what it is there to show.
 */
import {
  Anthropic,
  Gemini,
  KeyPool,
  Llm,
  Ollama,
  OpenAiChat,
  OpenAiResponses,
  type OptionsError,
  type ProviderClient,
  RateLimiter
} from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/** Made-up keys for the simulator, which accepts any key unless told otherwise. */
export const simulatedKeys: ReadonlyArray<string> = [
  "sk-simulated-example-key-0001",
  "sk-simulated-example-key-0002",
  "sk-simulated-example-key-0003"
]

/** An OpenAI-compatible API: its root URL (`/v1` included), its provider name and its keys. */
export class Endpoint extends Context.Service<Endpoint, {
  readonly baseUrl: string
  readonly provider: string
  readonly keys: ReadonlyArray<Redacted.Redacted<string>>
  readonly simulated: boolean
}>()("examples/Endpoint") {}

// Keys are read as secrets (`Redacted`), so nothing downstream can print them by accident.
const fromEnvironment = Config.all({
  baseUrl: Config.option(Config.String("OPENAI_BASE_URL")),
  keys: Config.Array(Schema.Redacted(Schema.String), "OPENAI_API_KEY").pipe(
    Config.map((keys) => keys.filter((key) => Redacted.value(key) !== "")),
    Config.withDefault([])
  )
})

/**
 * The endpoint from the environment, or a simulator started for this program
 * (closed when the program ends). `simulator` tunes the simulator only.
 */
export const endpoint = (
  simulator: Simulator.Options = {}
): Layer.Layer<Endpoint, Config.ConfigError | Simulator.SimulatorStartError | OptionsError.OptionsError> =>
  Layer.effect(
    Endpoint,
    Effect.gen(function*() {
      const env = yield* fromEnvironment
      if (env.keys.length > 0 || Option.isSome(env.baseUrl)) {
        return {
          baseUrl: Option.getOrElse(env.baseUrl, () => "https://api.openai.com/v1"),
          provider: "openai",
          // A local server without auth (Ollama, vLLM) still wants some bearer token.
          keys: env.keys.length > 0 ? env.keys : [Redacted.make("no-key")],
          simulated: false
        }
      }
      const sim = yield* Simulator.make(simulator)
      yield* Console.error(`No OPENAI_API_KEY or OPENAI_BASE_URL: using the built-in simulator at ${sim.url}`)
      return {
        baseUrl: `${sim.url}/v1`,
        provider: "simulator",
        keys: simulatedKeys.map((key) => Redacted.make(key)),
        simulated: true
      }
    })
  )

/** The Chat Completions client for the endpoint; `options` as `OpenAiChat.layer` takes them. */
export const client = (
  options: Omit<OpenAiChat.Options, "baseUrl" | "provider"> = {}
): Layer.Layer<ProviderClient.ProviderClient, OptionsError.OptionsError, Endpoint | HttpClient.HttpClient> =>
  Layer.unwrap(
    Endpoint.useSync(({ baseUrl, provider }) => OpenAiChat.layer({ ...options, baseUrl, provider }))
  )

/** A key pool over the endpoint's keys, all of equal weight, kept in this process's memory. */
export const keyPool: Layer.Layer<KeyPool.KeyPool, OptionsError.OptionsError, Endpoint> = Layer.effect(
  KeyPool.KeyPool,
  Endpoint.use(({ keys, provider }) => KeyPool.make({ providerId: provider, keys }))
).pipe(Layer.provide(KeyPool.layerStoreMemory))

/** The plainest `Llm` for one model: the endpoint's keys, no rate limit, the default retry policy. */
export const llm = (model: string): Layer.Layer<Llm.Llm, OptionsError.OptionsError, Endpoint | HttpClient.HttpClient> =>
  Llm.layer().pipe(
    Layer.provide(client({ model })),
    Layer.provide(keyPool),
    Layer.provide(RateLimiter.unlimited)
  )

/** An `Llm` over one adapter: one key, no rate limit. */
export const llmOver = (
  client: Layer.Layer<ProviderClient.ProviderClient, OptionsError.OptionsError, HttpClient.HttpClient>
): Layer.Layer<Llm.Llm, OptionsError.OptionsError, HttpClient.HttpClient> =>
  Llm.layer().pipe(
    Layer.provide(client),
    Layer.provide(KeyPool.layer({ providerId: "simulator", keys: ["sk-simulated-adapter-key"] })),
    Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
    Layer.provide(RateLimiter.unlimited)
  )

/**
 * The five adapters over one running simulator, each by its `api` name.
 * OpenAI-style APIs take their root with /v1; Anthropic, Gemini and Ollama the host root.
 */
export const everyAdapter = (
  sim: Simulator.Simulator,
  model: string
): ReadonlyArray<
  readonly [
    name: string,
    client: Layer.Layer<ProviderClient.ProviderClient, OptionsError.OptionsError, HttpClient.HttpClient>
  ]
> => [
  ["chat-completions", OpenAiChat.layer({ baseUrl: `${sim.url}/v1`, model })],
  ["responses", OpenAiResponses.layer({ baseUrl: `${sim.url}/v1`, model })],
  ["anthropic", Anthropic.layer({ baseUrl: sim.url, model })],
  ["gemini", Gemini.layer({ baseUrl: sim.url, model })],
  ["ollama", Ollama.layer({ baseUrl: sim.url, model })]
]
