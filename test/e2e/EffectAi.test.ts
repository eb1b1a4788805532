/**
 * `Llm.languageModel` and `Llm.embeddingModel` end to end: `effect/ai`'s own
 * `Chat`, `LanguageModel` and `EmbeddingModel`, with a `Toolkit` of two tools,
 * through a `Router` over loopback to the simulator, on each of the five
 * adapters. The simulator calls the tools it is offered (two calls when told
 * so by `x-simulator-tool-calls`) and, once it has their results, answers
 * `The tool returned <result>`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { AiError, Chat, EmbeddingModel, LanguageModel, Prompt, Tool, Toolkit } from "effect/ai"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import type { OptionsError } from "../../src/OptionsError.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as Ollama from "../../src/providers/Ollama.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import type * as ProviderClient from "../../src/ProviderClient.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Router from "../../src/Router.js"
import * as Simulator from "../../src/simulator/Simulator.js"

const model = "sim-small"

type Client = Layer.Layer<ProviderClient.ProviderClient, OptionsError, HttpClient.HttpClient>

const adapters: ReadonlyArray<readonly [name: string, client: (url: string, headers?: Record<string, string>) => Client]> = [
  ["chat-completions", (url, headers) => OpenAiChat.layer({ baseUrl: `${url}/v1`, model, headers })],
  ["responses", (url, headers) => OpenAiResponses.layer({ baseUrl: `${url}/v1`, model, headers })],
  ["anthropic", (url, headers) => Anthropic.layer({ baseUrl: url, model, headers })],
  ["gemini", (url, headers) => Gemini.layer({ baseUrl: url, model, headers })],
  ["ollama", (url, headers) => Ollama.layer({ baseUrl: url, model, headers })]
]

/** A router with one deployment over `client`, as `Llm`. */
const routerOver = (name: string, client: Client) =>
  Router.layer({
    deployments: [{
      name,
      model,
      llm: Llm.layer({ retry: RetryPolicy.make({ maxRetries: 0 }) }).pipe(
        Layer.provide(client),
        Layer.provide(KeyPool.layer({ providerId: `effect-ai-${name}`, keys: ["sk-effect-ai-e2e-00000001"] })),
        Layer.provide(KeyPool.KeyPoolRegistry.layer),
        Layer.provide(RateLimiter.unlimited)
      )
    }]
  }).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.orDie)

/** The router as `effect/ai`'s models, with the router's `Llm` beside them; `defaults` go on every request. */
const modelsOver = (name: string, client: Client, defaults?: Llm.LanguageModelOptions) =>
  Layer.mergeAll(Llm.languageModel({ model, ...defaults }), Llm.embeddingModel({ model })).pipe(
    Layer.provideMerge(routerOver(name, client))
  )

const GetWeather = Tool.make("GetWeather", {
  description: "The current weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String
})

const GetTime = Tool.make("GetTime", {
  description: "The local time in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ hour: Schema.Int, minute: Schema.Int })
})

const Tools = Toolkit.make(GetWeather, GetTime)

/** The toolkit's handlers, recording every call they get. */
const toolsLayer = (calls: Ref.Ref<Array<string>>) =>
  Tools.toLayer(Tools.of({
    GetWeather: ({ city }) => Effect.as(Ref.update(calls, (all) => [...all, `GetWeather(${city})`]), `sunny in ${city}`),
    GetTime: ({ city }) => Effect.as(Ref.update(calls, (all) => [...all, `GetTime(${city})`]), { hour: 9, minute: 30 })
  }))

const Answer = Schema.Struct({
  title: Schema.String,
  servings: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 })),
  vegetarian: Schema.Boolean,
  steps: Schema.Array(Schema.String)
}).annotate({ identifier: "Recipe" })

describe("effect/ai over the router", () => {
  for (const [name, client] of adapters) {
    describe(name, () => {
      it.live("Chat with a Toolkit of two tools runs the tool loop to a text answer", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ replyTokens: 8 })
          const calls = yield* Ref.make<Array<string>>([])
          const answer = yield* Effect.gen(function*() {
            const toolkit = yield* Tools
            const chat = yield* Chat.fromPrompt([
              { role: "system", content: "Use the tools." },
              { role: "user", content: "What is the weather and the time in Paris?" }
            ])
            const turns: Array<LanguageModel.GenerateTextResponse<typeof Tools.tools, "opaque">> = []
            for (let turn = 0; turn < 4; turn++) {
              const response = yield* chat.generateText({ prompt: [], toolkit })
              turns.push(response)
              if (response.toolCalls.length === 0) break
            }
            return { turns, history: yield* Ref.get(chat.history) }
          }).pipe(
            Effect.provide(Layer.merge(modelsOver(name, client(simulator.url, { "x-simulator-tool-calls": "2" })), toolsLayer(calls)))
          )
          const [first, second] = answer.turns
          expect(answer.turns).toHaveLength(2)
          expect(first!.toolCalls.map((call) => call.name)).toEqual(["GetWeather", "GetTime"])
          expect(first!.finishReason).toBe("tool-calls")
          expect(first!.toolResults.map((result) => result.result)).toEqual([
            expect.stringMatching(/^sunny in /),
            { hour: 9, minute: 30 }
          ])
          expect(yield* Ref.get(calls)).toEqual([
            expect.stringMatching(/^GetWeather\(/),
            expect.stringMatching(/^GetTime\(/)
          ])
          expect(second!.text).toMatch(/^The tool returned /)
          expect(second!.finishReason).toBe("stop")
          expect(second!.toolCalls).toEqual([])
          expect(second!.usage.outputTokens.total).toBeGreaterThan(0)
          // system, user, assistant (two calls), tool (two results), assistant (the answer)
          expect(answer.history.content.map((message) => message.role)).toEqual(["system", "user", "assistant", "tool", "assistant"])
        }))

      it.live("streamText collects to the same text, reasoning and usage as Llm.chat", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ replyTokens: 24, reasoningTokens: 4 })
          const prompt = "Tell me about streams."
          const { chat, parts } = yield* Effect.gen(function*() {
            const chat = yield* Llm.chat({ model, messages: [Message.user(prompt)], reasoningEffort: "low" })
            const parts = yield* LanguageModel.streamText({ prompt }).pipe(Stream.runCollect)
            return { chat, parts }
          }).pipe(Effect.provide(modelsOver(name, client(simulator.url), { reasoningEffort: "low" })))
          const deltas = parts.filter((part) => part.type === "text-delta")
          expect(deltas.length).toBeGreaterThan(1)
          expect(deltas.map((part) => part.delta).join("")).toBe(chat.text)
          expect(parts.filter((part) => part.type === "text-start")).toHaveLength(1)
          expect(parts.filter((part) => part.type === "text-end")).toHaveLength(1)
          const reasoning = parts.filter((part) => part.type === "reasoning-delta").map((part) => part.delta).join("")
          expect(reasoning).toBe(chat.reasoning ?? "")
          expect(reasoning.length).toBeGreaterThan(0)
          const finish = parts.find((part) => part.type === "finish")
          expect(finish?.reason).toBe("stop")
          expect(finish?.usage.outputTokens.total).toBe(chat.usage.completionTokens)
          expect(finish?.usage.inputTokens.total).toBe(chat.usage.promptTokens)
          expect(parts.at(-1)?.type).toBe("finish")
        }))

      it.live("streamText with the toolkit streams both tool calls and their results", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ replyTokens: 8 })
          const calls = yield* Ref.make<Array<string>>([])
          const parts = yield* Effect.gen(function*() {
            const toolkit = yield* Tools
            return yield* LanguageModel.streamText({ prompt: "Weather and time in Oslo?", toolkit }).pipe(Stream.runCollect)
          }).pipe(
            Effect.provide(Layer.merge(modelsOver(name, client(simulator.url, { "x-simulator-tool-calls": "2" })), toolsLayer(calls)))
          )
          const toolCalls = parts.filter((part) => part.type === "tool-call")
          expect(toolCalls.map((part) => part.name)).toEqual(["GetWeather", "GetTime"])
          for (const call of toolCalls) expect(call.params).toEqual({ city: expect.any(String) })
          // The arguments came in pieces that add up to the call's parameters.
          for (const call of toolCalls) {
            const pieces = parts.filter((part) => part.type === "tool-params-delta" && part.id === call.id)
            expect(JSON.parse(pieces.map((part) => part.type === "tool-params-delta" ? part.delta : "").join(""))).toEqual(call.params)
          }
          expect(parts.filter((part) => part.type === "tool-result").map((part) => part.name)).toEqual(["GetWeather", "GetTime"])
          expect(parts.find((part) => part.type === "finish")?.reason).toBe("tool-calls")
          expect(yield* Ref.get(calls)).toHaveLength(2)
        }))

      it.live("generateObject decodes a schema's value from the reply", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make()
          const response = yield* LanguageModel.generateObject({ prompt: "A pancake recipe", schema: Answer }).pipe(
            Effect.provide(modelsOver(name, client(simulator.url)))
          )
          expect(response.value.servings).toBeGreaterThanOrEqual(1)
          expect(response.value.servings).toBeLessThanOrEqual(12)
          expect(Schema.decodeUnknownSync(Answer)(JSON.parse(response.text))).toEqual(response.value)
          expect(response.finishReason).toBe("stop")
        }))
    })
  }

  it.live("a schema the reply breaks fails with StructuredOutputError carrying the text", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const error = yield* Effect.flip(
        LanguageModel.generateObject({ prompt: "A pancake recipe", schema: Answer }).pipe(
          Effect.provide(modelsOver("chat-completions", adapters[0]![1](simulator.url, { "x-simulator-fault": "output=nonconforming" })))
        )
      )
      const reason = error.reason
      expect(reason._tag).toBe("StructuredOutputError")
      if (reason._tag !== "StructuredOutputError") return
      expect(JSON.parse(reason.responseText)).toMatchObject({ title: expect.anything() })
    }))

  it.live("a 429 from the provider is AiError's RateLimitError with its retryAfter, for catchReason", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const layer = modelsOver("anthropic", adapters[2]![1](simulator.url, { "x-simulator-fault": "status=429;retry-after=30" }))
      const error = yield* Effect.flip(LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(layer)))
      expect(error).toBeInstanceOf(AiError.AiError)
      expect(error.module).toBe("Llm")
      expect(error.method).toBe("chat")
      const reason = error.reason
      expect(reason._tag).toBe("RateLimitError")
      if (reason._tag !== "RateLimitError") return
      expect(error.retryAfter).toEqual(Duration.seconds(30))
      expect(reason.metadata["effect-llm-router"]).toMatchObject({ error: "RateLimitError", status: 429 })
      const caught = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
        Effect.map(() => "answered"),
        Effect.catchReason("AiError", "RateLimitError", (reason) => Effect.succeed(`wait ${Duration.toSeconds(reason.retryAfter!)} s`)),
        Effect.provide(layer)
      )
      expect(caught).toBe("wait 30 s")
      const streamed = yield* Effect.flip(Stream.runDrain(LanguageModel.streamText({ prompt: "Hi" })).pipe(Effect.provide(layer)))
      expect(streamed.reason._tag).toBe("RateLimitError")
      expect(streamed.method).toBe("chatStream")
    }))

  it.live("a bad key is AuthenticationError, an unknown model InvalidRequestError on `model`", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: ["sk-some-other-key-0000001"] })
      const auth = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(modelsOver("chat-completions", adapters[0]![1](simulator.url))))
      )
      expect(auth.reason).toMatchObject({ _tag: "AuthenticationError", kind: "InvalidKey" })
      const open = yield* Simulator.make()
      const unknown = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "Hi" }).pipe(
          Effect.provide(Llm.languageModel({ model: "no-such-model" })),
          Effect.provide(
            Llm.layer({ retry: RetryPolicy.make({ maxRetries: 0 }) }).pipe(
              Layer.provide(OpenAiChat.layer({ baseUrl: `${open.url}/v1` })),
              Layer.provide(KeyPool.layer({ providerId: "effect-ai-model", keys: ["sk-effect-ai-e2e-00000002"] })),
              Layer.provide(KeyPool.KeyPoolRegistry.layer),
              Layer.provide(RateLimiter.unlimited),
              Layer.provide(NodeHttpClient.layerUndici),
              Layer.orDie
            )
          )
        )
      )
      expect(unknown.reason).toMatchObject({ _tag: "InvalidRequestError", parameter: "model" })
    }))

  it.live("EmbeddingModel embeds through Llm.embed, in input order", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const texts = ["first text", "second text", "first text"]
      const { many, one, direct } = yield* Effect.gen(function*() {
        const embeddings = yield* EmbeddingModel.EmbeddingModel
        const many = yield* embeddings.embedMany(texts)
        const one = yield* embeddings.embed("second text")
        const direct = yield* Llm.embed({ model, input: texts })
        return { many, one, direct }
      }).pipe(Effect.provide(modelsOver("chat-completions", adapters[0]![1](simulator.url))))
      expect(many.embeddings.map((embedding) => embedding.vector)).toEqual(direct.embeddings)
      expect(many.embeddings[0]!.vector).toEqual(many.embeddings[2]!.vector)
      expect(one.vector).toEqual(direct.embeddings[1])
      expect(many.usage.inputTokens).toBe(direct.usage.promptTokens)
    }))

  it.live("a prompt part our messages cannot carry fails before any call, saying what", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const error = yield* Effect.flip(
        LanguageModel.generateText({
          prompt: Prompt.make([{
            role: "user",
            content: [{ type: "file", mediaType: "application/pdf", data: "JVBERi0x" }]
          }])
        }).pipe(Effect.provide(modelsOver("chat-completions", adapters[0]![1](simulator.url))))
      )
      expect(error.reason._tag).toBe("InvalidUserInputError")
      expect(error.reason.message).toContain("application/pdf")
      expect(yield* simulator.requestCount).toBe(0)
    }))
})
