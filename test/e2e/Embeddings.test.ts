/**
 * Embeddings end to end: every adapter's `embed` and `Llm.embed` over
 * loopback against the simulator's `/v1/embeddings`, Gemini's
 * `batchEmbedContents` and Ollama's `/api/embed`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import type { OptionsError } from "../../src/OptionsError.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as Ollama from "../../src/providers/Ollama.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import * as Presets from "../../src/providers/Presets.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Reply from "../../src/simulator/Reply.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { noKeyAssertion } from "../utils/adapterE2e.js"
import { poolInMemory } from "../utils/memoryStores.js"

const KEY = "sk-embed-e2e-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const model = "sim-small"
const assertNoKey = noKeyAssertion(KEY)

const texts = (n: number) => Array.from({ length: n }, (_, i) => `text number ${i}`)

/** The vectors the simulator makes for `inputs`, in order. */
const expected = (inputs: ReadonlyArray<string>, dimensions = Reply.defaultEmbeddingDimensions) =>
  inputs.map((input) => Reply.embedding(model, input, dimensions))

type Client = (
  options?: Record<string, unknown>
) => Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>

const adapters: ReadonlyArray<readonly [name: string, make: (url: string) => Client]> = [
  ["OpenAiChat", (url) => (options) => OpenAiChat.make({ baseUrl: `${url}/v1`, model, ...options })],
  ["Gemini", (url) => (options) => Gemini.make({ baseUrl: url, model, ...options })],
  ["Ollama", (url) => (options) => Ollama.make({ baseUrl: url, model, ...options })]
]

const withSimulator = <A, E>(
  options: Simulator.Options,
  body: (simulator: Simulator.Simulator) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make(options)
    return yield* body(simulator)
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

const fault = (value: string) => ({ headers: { "x-simulator-fault": value } })

/** `Llm` over one adapter and the given keys, with a short retry policy. */
const llmOver = (
  client: Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>,
  keys: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const pool = yield* poolInMemory({ providerId: "embed-e2e", keys })
    const context = yield* Layer.build(
      Llm.layer({ retry: RetryPolicy.make({ maxRetries: 4, baseDelay: "20 millis" }) }).pipe(
        Layer.provide(Layer.mergeAll(
          Layer.effect(ProviderClient.ProviderClient, client),
          Layer.succeed(KeyPool.KeyPool, pool),
          RateLimiter.unlimited
        ))
      )
    )
    return { llm: Context.get(context, Llm.Llm), pool }
  })

describe("embeddings over the simulator", () => {
  for (const [name, make] of adapters) {
    describe(name, () => {
      it.live("one text and several: vectors in input order, model, provider, key id", () =>
        withSimulator({}, (simulator) =>
          Effect.gen(function*() {
            const client = yield* make(simulator.url)()
            const one = yield* client.embed({ input: "hello" }, credentials)
            expect(one.embeddings).toEqual(expected(["hello"]))
            expect(one).toMatchObject({ model, keyId: credentials.keyId })
            const many = yield* client.embed({ input: ["a", "bb", "a"] }, credentials)
            expect(many.embeddings).toEqual(expected(["a", "bb", "a"]))
            expect(many.embeddings[0]).toEqual(many.embeddings[2])
          })))

      it.live("dimensions sets the vector length", () =>
        withSimulator({}, (simulator) =>
          Effect.gen(function*() {
            const client = yield* make(simulator.url)()
            const result = yield* client.embed({ input: ["x", "y"], dimensions: 5 }, credentials)
            expect(result.embeddings).toEqual(expected(["x", "y"], 5))
          })))

      it.live("Llm.embed splits a list past the provider's limit and keeps the order", () =>
        withSimulator({}, (simulator) =>
          Effect.gen(function*() {
            const client = yield* make(simulator.url)()
            const inputs = texts(client.maxEmbeddingInputs + 7)
            const { llm } = yield* llmOver(make(simulator.url)(), [KEY])
            const before = yield* simulator.requestCount
            const result = yield* llm.embed({ input: inputs })
            expect(yield* simulator.requestCount).toBe(before + 2)
            expect(result.embeddings).toEqual(expected(inputs))
            expect(result.usage.totalTokens).toBe(result.usage.promptTokens)
            expect(result.usage.promptTokens).toBeGreaterThan(0)
          })))

      it.live("a batch past the limit sent straight to the adapter fails before any HTTP", () =>
        withSimulator({}, (simulator) =>
          Effect.gen(function*() {
            const client = yield* make(simulator.url)()
            const error = yield* Effect.flip(client.embed({ input: texts(client.maxEmbeddingInputs + 1) }, credentials))
            expect(error).toMatchObject({ _tag: "InvalidRequestError", param: "input" })
            expect(yield* simulator.requestCount).toBe(0)
          })))

      it.live("errors map as for chat: bad key, unknown model, 429, 5xx, a malformed body, a context overflow", () =>
        withSimulator({ apiKeys: [KEY], contextWindow: 10 }, (simulator) =>
          Effect.gen(function*() {
            const client = yield* make(simulator.url)()
            const auth = yield* Effect.flip(
              client.embed({ input: "hi" }, ProviderClient.credentials("sk-wrong-key-000000000"))
            )
            expect(auth._tag).toBe("AuthError")
            const missing = yield* Effect.flip(client.embed({ input: "hi", model: "no-such-model" }, credentials))
            expect(missing).toMatchObject({ _tag: "ModelNotFoundError", status: 404 })
            const limited = yield* Effect.flip(
              (yield* make(simulator.url)(fault("status=429"))).embed({ input: "hi" }, credentials)
            )
            expect(limited).toMatchObject({ _tag: "RateLimitError", status: 429 })
            const down = yield* Effect.flip(
              (yield* make(simulator.url)(fault("status=503"))).embed({ input: "hi" }, credentials)
            )
            expect(down).toMatchObject({ _tag: "ProviderUnavailableError", status: 503 })
            const malformed = yield* Effect.flip(
              (yield* make(simulator.url)(fault("malformed=0"))).embed({ input: "hi" }, credentials)
            )
            expect(malformed._tag).toBe("OutputDecodeError")
            const long = yield* Effect.flip(client.embed({ input: ["ok", "x".repeat(100)] }, credentials))
            expect(long._tag).toBe("ContextLengthError")
            for (const error of [auth, missing, limited, down, malformed, long]) assertNoKey(error)
          })))

      it.live("an empty list or an empty text fails with InvalidRequestError, without HTTP", () =>
        withSimulator({}, (simulator) =>
          Effect.gen(function*() {
            const client = yield* make(simulator.url)()
            expect(yield* Effect.flip(client.embed({ input: [] }, credentials))).toMatchObject({
              _tag: "InvalidRequestError",
              param: "input"
            })
            expect(yield* Effect.flip(client.embed({ input: "" }, credentials))).toMatchObject({
              _tag: "InvalidRequestError",
              param: "input"
            })
            expect(yield* simulator.requestCount).toBe(0)
          })))

      it.live("Llm.embed rotates away from a key the server rate-limits", () =>
        withSimulator({ requestsPerMinute: 3 }, (simulator) =>
          Effect.gen(function*() {
            const limitedKey = "sk-embed-limited-000000001"
            const client = yield* make(simulator.url)()
            // Uses up the first key's three requests a minute.
            for (let i = 0; i < 4; i++) {
              yield* Effect.result(client.embed({ input: "warm" }, ProviderClient.credentials(limitedKey)))
            }
            const { llm, pool } = yield* llmOver(make(simulator.url)(), [limitedKey, KEY])
            const inputs = texts(client.maxEmbeddingInputs + 1)
            const result = yield* llm.embed({ input: inputs })
            expect(result.embeddings).toEqual(expected(inputs))
            const status = yield* pool.status
            const limited = status.find((key) => key.keyId === ProviderClient.credentials(limitedKey).keyId)!
            expect(limited.failures).toBeGreaterThan(0)
            expect(limited.coolingUntil).toBeDefined()
          })))
    })
  }

  describe("OpenAI encodings", () => {
    it.live("base64 (the default) and float give the same float32 vectors", () =>
      withSimulator({}, (simulator) =>
        Effect.gen(function*() {
          const inputs = ["alpha", "beta", "gamma"]
          const base64 = yield* (yield* OpenAiChat.make({ baseUrl: `${simulator.url}/v1`, model })).embed({
            input: inputs
          }, credentials)
          const float =
            yield* (yield* OpenAiChat.make({ baseUrl: `${simulator.url}/v1`, model, embeddingEncoding: "float" }))
              .embed({ input: inputs }, credentials)
          expect(base64.embeddings).toEqual(expected(inputs))
          expect(float.embeddings).toEqual(base64.embeddings)
          expect(base64.usage).toEqual(float.usage)
          expect(base64.usage).toMatchObject({ estimated: false })
          expect(base64.usage.promptTokens).toBe(inputs.reduce((n, text) => n + Reply.countTokens(text.length), 0))
        })))

    it.live("OpenAiResponses and the presets embed through the same /embeddings", () =>
      withSimulator({}, (simulator) =>
        Effect.gen(function*() {
          const responses = yield* OpenAiResponses.make({ baseUrl: `${simulator.url}/v1`, model })
          expect((yield* responses.embed({ input: ["r1", "r2"] }, credentials)).embeddings).toEqual(
            expected(["r1", "r2"])
          )
          expect(responses.maxEmbeddingInputs).toBe(2048)
          const together = Context.get(
            yield* Layer.build(Presets.layer("together", { baseUrl: `${simulator.url}/v1`, model })),
            ProviderClient.ProviderClient
          )
          const result = yield* together.embed({ input: "t" }, credentials)
          expect(result).toMatchObject({ provider: "together", embeddings: expected(["t"]) })
        })))
  })

  describe("Gemini", () => {
    it.live("reports no usage, so Llm.embed estimates it", () =>
      withSimulator({}, (simulator) =>
        Effect.gen(function*() {
          const client = yield* Gemini.make({ baseUrl: simulator.url, model })
          const direct = yield* client.embed({ input: "hello there" }, credentials)
          expect(direct.usage).toEqual({ promptTokens: 0, totalTokens: 0, estimated: false })
          const { llm } = yield* llmOver(Gemini.make({ baseUrl: simulator.url, model }), [KEY])
          const result = yield* llm.embed({ input: ["hello there", "general kenobi"] })
          expect(result.usage.estimated).toBe(true)
          expect(result.usage.promptTokens).toBeGreaterThan(0)
          expect(result.provider).toBe("gemini")
        })))

    it.live("the simulator's :embedContent answers one embedding; :batchEmbedContents refuses more than 100", () =>
      withSimulator({}, (simulator) =>
        Effect.gen(function*() {
          const post = (method: string, body: unknown) =>
            Effect.promise(async () => {
              const response = await fetch(`${simulator.url}/v1beta/models/${model}:${method}`, {
                method: "POST",
                headers: { "content-type": "application/json", "x-goog-api-key": KEY },
                body: JSON.stringify(body)
              })
              return { status: response.status, body: await response.json() as Record<string, unknown> }
            })
          const single = yield* post("embedContent", { content: { parts: [{ text: "one" }] }, outputDimensionality: 4 })
          expect(single).toEqual({ status: 200, body: { embedding: { values: Reply.embedding(model, "one", 4) } } })
          const requests = texts(101).map((text) => ({ model: `models/${model}`, content: { parts: [{ text }] } }))
          const tooMany = yield* post("batchEmbedContents", { requests })
          expect(tooMany.status).toBe(400)
          expect(JSON.stringify(tooMany.body)).toContain("at most 100 requests")
        })))

    it.live("an invalid key (400 API_KEY_INVALID) is an AuthError", () =>
      withSimulator({ apiKeys: [KEY] }, (simulator) =>
        Effect.gen(function*() {
          const client = yield* Gemini.make({ baseUrl: simulator.url, model })
          const error = yield* Effect.flip(
            client.embed({ input: "hi" }, ProviderClient.credentials("AIza-wrong-key-0000000"))
          )
          expect(error).toMatchObject({ _tag: "AuthError", status: 400 })
        })))
  })

  describe("Anthropic", () => {
    it.live("has no embeddings API: a typed InvalidRequestError, and no HTTP", () =>
      withSimulator({}, (simulator) =>
        Effect.gen(function*() {
          const client = yield* Anthropic.make({ baseUrl: simulator.url, model })
          const error = yield* Effect.flip(client.embed({ input: "hi" }, credentials))
          expect(error).toMatchObject({ _tag: "InvalidRequestError", provider: "anthropic", model })
          expect(error.message).toContain("Anthropic has no embeddings API")
          const { llm } = yield* llmOver(Anthropic.make({ baseUrl: simulator.url, model }), [KEY])
          const viaLlm = yield* Effect.flip(llm.embed({ input: ["a", "b"] }))
          expect(viaLlm._tag).toBe("InvalidRequestError")
          expect(yield* simulator.requestCount).toBe(0)
        })))
  })
})
