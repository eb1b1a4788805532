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
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { type Api, apis, baseUrlOf } from "../utils/everyAdapter.js"
import { pdf, wav } from "../utils/media.js"
import { registryInMemory } from "../utils/memoryStores.js"
import { recordingTracer } from "../utils/recordingTracer.js"

const model = "sim-small"

/** The router of a provider.json with one model on `api` of the simulator, as `Llm`. */
const routerOver = (simulator: Simulator.Simulator, api: Api, headers?: Record<string, string>) =>
  Layer.unwrap(Effect.map(
    ProviderConfig.fromJson({
      sim: [{
        model_name: model,
        api,
        base_url: baseUrlOf(simulator, api),
        api_keys: ["sk-effect-ai-e2e-00000001"],
        max_retries: 0,
        ...(headers !== undefined ? { headers } : {})
      }]
    }),
    (config) => ProviderConfig.routerLayer(config)
  )).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.orDie)

/** The router as `effect/ai`'s models, with the router's `Llm` beside them; `defaults` go on every request. */
const modelsOver = (
  simulator: Simulator.Simulator,
  api: Api,
  options: { readonly headers?: Record<string, string>; readonly defaults?: Llm.LanguageModelOptions } = {}
) =>
  Layer.mergeAll(Llm.languageModel({ model, ...options.defaults }), Llm.embeddingModel({ model })).pipe(
    Layer.provideMerge(routerOver(simulator, api, options.headers))
  )

const Forecast = Tool.make("Forecast", {
  description: "The forecast for a city, one line a day",
  parameters: Schema.Struct({ city: Schema.String, days: Schema.Int }),
  success: Schema.Array(Schema.String)
})

const LocalTime = Tool.make("LocalTime", {
  description: "The local time in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ hour: Schema.Int, minute: Schema.Int })
})

const Tools = Toolkit.make(Forecast, LocalTime)

/**
 * How a request asks the simulated model for the toolkit's tools (it calls one only when asked): the `required` tool
 * choice, which makes it call the tools in turn; Ollama's API has none, so its prompt names `Forecast`, which both of
 * its calls use. The names of the calls that follow, and the results they get.
 */
const askedFor = (api: Api) =>
  api === "ollama"
    ? { choice: {}, named: " Use Forecast.", calls: ["Forecast", "Forecast"] }
    : { choice: { toolChoice: "required" as const }, named: "", calls: ["Forecast", "LocalTime"] }

const resultOf = (name: string) => name === "Forecast" ? [expect.stringMatching(/^sunny in /)] : { hour: 9, minute: 30 }

/**
 * The models over `api` of a simulator that makes two tool calls a reply,
 * and the toolkit's handlers, which record each call in `calls`.
 */
const withTools = (simulator: Simulator.Simulator, api: Api, calls: Ref.Ref<Array<string>>) =>
  Layer.merge(
    modelsOver(simulator, api, { headers: { "x-simulator-tool-calls": "2" } }),
    Tools.toLayer(Tools.of({
      Forecast: ({ city }) =>
        Effect.as(Ref.update(calls, (all) => [...all, `Forecast(${city})`]), [`sunny in ${city}`]),
      LocalTime: ({ city }) =>
        Effect.as(Ref.update(calls, (all) => [...all, `LocalTime(${city})`]), { hour: 9, minute: 30 })
    }))
  )

const Answer = Schema.Struct({
  title: Schema.String,
  servings: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 })),
  vegetarian: Schema.Boolean,
  steps: Schema.Array(Schema.String)
}).annotate({ identifier: "Recipe" })

/** `use` run with the toolkit over `api` of a fresh simulator, and the tool calls its handlers got. */
const withToolkit = <A, E>(
  api: Api,
  use: (toolkit: Toolkit.WithHandler<typeof Tools.tools>) => Effect.Effect<A, E, LanguageModel.LanguageModel>
) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ replyTokens: 8 })
    const calls = yield* Ref.make<Array<string>>([])
    const result = yield* Effect.gen(function*() {
      return yield* use(yield* Tools)
    }).pipe(Effect.provide(withTools(simulator, api, calls)))
    return { result, calls: yield* Ref.get(calls) }
  })

describe("effect/ai over the router", () => {
  for (const api of apis) {
    describe(api, () => {
      it.live("Chat with a Toolkit of two tools runs the tool loop to a text answer", () =>
        Effect.gen(function*() {
          const { result: answer, calls } = yield* withToolkit(api, (toolkit) =>
            Effect.gen(function*() {
              const chat = yield* Chat.fromPrompt([
                { role: "system", content: "Use the tools." },
                { role: "user", content: `What is the weather and the time in Paris?${askedFor(api).named}` }
              ])
              const turns: Array<LanguageModel.GenerateTextResponse<typeof Tools.tools, "opaque">> = []
              for (let turn = 0; turn < 4; turn++) {
                const response = yield* chat.generateText({
                  prompt: [],
                  toolkit,
                  ...(turn === 0 ? askedFor(api).choice : {})
                })
                turns.push(response)
                if (response.toolCalls.length === 0) break
              }
              return { turns, history: yield* Ref.get(chat.history) }
            }))
          const [first, second] = answer.turns
          expect(answer.turns).toHaveLength(2)
          const asked = askedFor(api).calls
          expect(first!.toolCalls.map((call) => call.name)).toEqual(asked)
          expect(first!.finishReason).toBe("tool-calls")
          expect(first!.toolResults.map((result) => result.result)).toEqual(asked.map(resultOf))
          expect(calls).toEqual(asked.map((name) => expect.stringMatching(new RegExp(`^${name}\\(`))))
          expect(second!.text).toMatch(/^The tool returned /)
          expect(second!.finishReason).toBe("stop")
          expect(second!.toolCalls).toEqual([])
          expect(second!.usage.outputTokens.total).toBeGreaterThan(0)
          // system, user, assistant (two calls), tool (two results), assistant (the answer)
          expect(answer.history.content.map((message) => message.role)).toEqual([
            "system",
            "user",
            "assistant",
            "tool",
            "assistant"
          ])
        }))

      it.live("streamText collects to the same text, reasoning and usage as Llm.chat", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ replyTokens: 24, reasoningTokens: 4 })
          const prompt = "Tell me about streams."
          const { chat, parts } = yield* Effect.gen(function*() {
            const chat = yield* Llm.chat({ model, messages: [Message.user(prompt)], reasoningEffort: "low" })
            const parts = yield* LanguageModel.streamText({ prompt }).pipe(Stream.runCollect)
            return { chat, parts }
          }).pipe(Effect.provide(modelsOver(simulator, api, { defaults: { reasoningEffort: "low" } })))
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
          const { result: parts, calls } = yield* withToolkit(api, (toolkit) =>
            LanguageModel.streamText({
              prompt: `Weather and time in Oslo?${askedFor(api).named}`,
              toolkit,
              ...askedFor(api).choice
            }).pipe(Stream.runCollect))
          const toolCalls = parts.filter((part) => part.type === "tool-call")
          const asked = askedFor(api).calls
          expect(toolCalls.map((part) => part.name)).toEqual(asked)
          for (const call of toolCalls) expect(call.params).toMatchObject({ city: expect.any(String) })
          // The arguments came in pieces that add up to the call's parameters.
          for (const call of toolCalls) {
            const pieces = parts.filter((part) => part.type === "tool-params-delta" && part.id === call.id)
            expect(JSON.parse(pieces.map((part) => part.type === "tool-params-delta" ? part.delta : "").join("")))
              .toEqual(call.params)
          }
          expect(parts.filter((part) => part.type === "tool-result").map((part) => part.name)).toEqual(asked)
          expect(parts.find((part) => part.type === "finish")?.reason).toBe("tool-calls")
          expect(calls).toHaveLength(2)
        }))

      it.live("generateObject decodes a schema's value from the reply", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make()
          const response = yield* LanguageModel.generateObject({ prompt: "A pancake recipe", schema: Answer }).pipe(
            Effect.provide(modelsOver(simulator, api))
          )
          expect(response.value.servings).toBeGreaterThanOrEqual(1)
          expect(response.value.servings).toBeLessThanOrEqual(12)
          expect(Schema.decodeUnknownSync(Answer)(JSON.parse(response.text))).toEqual(response.value)
          expect(response.finishReason).toBe("stop")
        }))
    })
  }

  it.live(
    "effect/ai's spans carry the GenAI attributes of the reply, whole and streamed, with Llm's own spans " +
      "beside them",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ replyTokens: 10 })
        const { spans, tracer } = recordingTracer()
        const whole = yield* LanguageModel.generateText({ prompt: "Hi" }).pipe(
          Effect.provide(modelsOver(simulator, "gemini", { defaults: { temperature: 0.5 } })),
          Effect.withTracer(tracer)
        )
        yield* Stream.runDrain(LanguageModel.streamText({ prompt: "Hi" })).pipe(
          Effect.provide(modelsOver(simulator, "gemini")),
          Effect.withTracer(tracer)
        )
        const generated = spans.find((span) => span.name === "LanguageModel.generateText")!
        expect(Object.fromEntries(generated.attributes)).toMatchObject({
          "gen_ai.provider.name": "sim",
          "gen_ai.operation.name": "chat",
          "gen_ai.request.model": model,
          "gen_ai.request.temperature": 0.5,
          "gen_ai.response.model": model,
          "gen_ai.response.finish_reasons": ["stop"],
          "gen_ai.usage.input_tokens": whole.usage.inputTokens.total,
          "gen_ai.usage.output_tokens": 10
        })
        const streamed = spans.find((span) => span.name === "LanguageModel.streamText")!
        expect(Object.fromEntries(streamed.attributes)).toMatchObject({
          "gen_ai.provider.name": "sim",
          "gen_ai.response.finish_reasons": ["stop"],
          "gen_ai.usage.output_tokens": 10
        })
        expect(spans.map((span) => span.name)).toEqual(
          expect.arrayContaining([`chat ${model}`, "Router.attempt", "Llm.attempt"])
        )
      })
  )

  it.live("a schema the reply breaks fails with StructuredOutputError carrying the text", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const error = yield* Effect.flip(
        LanguageModel.generateObject({ prompt: "A pancake recipe", schema: Answer }).pipe(
          Effect.provide(
            modelsOver(simulator, "chat-completions", { headers: { [Simulator.faultHeader]: "output=nonconforming" } })
          )
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
      const layer = modelsOver(simulator, "anthropic", {
        headers: { [Simulator.faultHeader]: "status=429;retry-after=30" }
      })
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
        Effect.catchReason(
          "AiError",
          "RateLimitError",
          (reason) => Effect.succeed(`wait ${Duration.toSeconds(reason.retryAfter!)} s`)
        ),
        Effect.provide(layer)
      )
      expect(caught).toBe("wait 30 s")
      const streamed = yield* Effect.flip(
        Stream.runDrain(LanguageModel.streamText({ prompt: "Hi" })).pipe(Effect.provide(layer))
      )
      expect(streamed.reason._tag).toBe("RateLimitError")
      expect(streamed.method).toBe("chatStream")
    }))

  it.live("a bad key is AuthenticationError, an unknown model InvalidRequestError on `model`", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: ["sk-some-other-key-0000001"] })
      const auth = yield* Effect.flip(
        LanguageModel.generateText({ prompt: "Hi" }).pipe(Effect.provide(modelsOver(simulator, "chat-completions")))
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
              Layer.provide(registryInMemory),
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
      }).pipe(Effect.provide(modelsOver(simulator, "chat-completions")))
      expect(many.embeddings.map((embedding) => embedding.vector)).toEqual(direct.embeddings)
      expect(many.embeddings[0]!.vector).toEqual(many.embeddings[2]!.vector)
      expect(one.vector).toEqual(direct.embeddings[1])
      expect(many.usage.inputTokens).toBe(direct.usage.promptTokens)
    }))

  it.live("a PDF or audio file in a prompt reaches a deployment that reads it; one that does not refuses it by path", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const prompt = Prompt.make([{
        role: "user",
        content: [
          { type: "text", text: "Summarize these." },
          { type: "file", mediaType: "application/pdf", data: pdf(2) },
          { type: "file", mediaType: "audio/wav", data: wav(1) }
        ]
      }])
      const read = yield* LanguageModel.generateText({ prompt }).pipe(
        Effect.provide(modelsOver(simulator, "gemini"))
      )
      expect(read.text.length).toBeGreaterThan(0)
      expect(yield* simulator.requestCount).toBe(1)
      // Anthropic reads the PDF as a document block.
      const document = Prompt.make([{
        role: "user",
        content: [{ type: "file", mediaType: "application/pdf", data: pdf(1) }]
      }])
      const anthropic = yield* LanguageModel.generateText({ prompt: document }).pipe(
        Effect.provide(modelsOver(simulator, "anthropic"))
      )
      expect(anthropic.text.length).toBeGreaterThan(0)
      expect(yield* simulator.requestCount).toBe(2)
      const refused = yield* Effect.flip(
        LanguageModel.generateText({ prompt }).pipe(Effect.provide(modelsOver(simulator, "chat-completions")))
      )
      expect(refused.reason._tag).toBe("InvalidRequestError")
      // Chat Completions reads the PDF as a `file` part, not the audio.
      expect(refused.reason.message).toContain("messages[0].content[2] is audio (audio/wav)")
      expect(yield* simulator.requestCount).toBe(2)
    }))

  it.live("a file of a type no dialect carries fails before any call, naming its type", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make()
      const error = yield* Effect.flip(
        LanguageModel.generateText({
          prompt: Prompt.make([{
            role: "user",
            content: [{ type: "file", mediaType: "application/zip", data: "UEsDBA==" }]
          }])
        }).pipe(Effect.provide(modelsOver(simulator, "gemini")))
      )
      expect(error.reason._tag).toBe("InvalidUserInputError")
      expect(error.reason.message).toContain("application/zip")
      expect(yield* simulator.requestCount).toBe(0)
    }))
})
