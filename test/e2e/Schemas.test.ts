/**
 * What `Llm.chat`, `Llm.chatStream` and `Llm.embed` return is what their schemas describe: for
 * every adapter over loopback against the simulator, `Schema.encodeSync` takes the values as they
 * come, and decoding the encoded form (or its JSON) gives them back equal.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as ChatResponse from "../../src/ChatResponse.js"
import * as Embedding from "../../src/Embedding.js"
import * as Message from "../../src/Message.js"
import type { OptionsError } from "../../src/OptionsError.js"
import type * as ProviderClient from "../../src/ProviderClient.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as Ollama from "../../src/providers/Ollama.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { llmOver, weatherAndTimeTools } from "../utils/adapterE2e.js"
import { poolInMemory } from "../utils/memoryStores.js"
import { expectRoundTrip } from "../utils/schemaRoundTrip.js"

const KEY = "sk-schemas-e2e-0123456789abcdef"
const MODEL = "sim-small"

type ProviderLayer = Layer.Layer<ProviderClient.ProviderClient, OptionsError, HttpClient.HttpClient>

/** Each adapter's layer, pointed at the simulator; headers ask for tool calls and cached tokens. */
const adapters: ReadonlyArray<
  readonly [name: string, layer: (url: string, headers: Record<string, string>) => ProviderLayer, embeds: boolean]
> = [
  ["OpenAiChat", (url, headers) => OpenAiChat.layer({ baseUrl: `${url}/v1`, model: MODEL, headers }), true],
  ["OpenAiResponses", (url, headers) => OpenAiResponses.layer({ baseUrl: `${url}/v1`, model: MODEL, headers }), true],
  ["Anthropic", (url, headers) => Anthropic.layer({ baseUrl: url, model: MODEL, headers }), false],
  ["Gemini", (url, headers) => Gemini.layer({ baseUrl: url, model: MODEL, headers }), true],
  // Ollama's API has no tool choice: its model calls the tools offered on every turn (`output=loop`).
  [
    "Ollama",
    (url, headers) =>
      Ollama.layer({ baseUrl: url, model: MODEL, headers: { ...headers, [Simulator.faultHeader]: "output=loop" } }),
    true
  ]
]

const headers = { "x-simulator-tool-calls": "2", "x-simulator-cached-tokens": "3" }

const question: ChatRequest.Input = { messages: [Message.user("What is the weather in Paris, and the time?")] }
const toolQuestion: ChatRequest.Input = { ...question, tools: weatherAndTimeTools, toolChoice: "required" }

const stackFor = (layer: ProviderLayer) =>
  Effect.flatMap(poolInMemory({ providerId: "schemas-e2e", keys: [KEY] }), (pool) => llmOver(layer, pool))

describe("domain values encode with their schemas", () => {
  for (const [name, layer, embeds] of adapters) {
    describe(name, () => {
      it.live("Llm.chat: a text reply and a tool-call reply, usage included", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ models: [MODEL], replyTokens: 8, reasoningTokens: 2 })
          const llm = yield* stackFor(layer(simulator.url, headers))
          const text = yield* llm.chat(question)
          expect(text.text.length).toBeGreaterThan(0)
          expect(text.usage.completionTokens).toBeGreaterThan(0)
          const encoded = expectRoundTrip(ChatResponse.ChatResponse, text)
          expect(encoded).toMatchObject({ provider: text.provider, usage: { promptTokens: text.usage.promptTokens } })

          const tools = yield* llm.chat(toolQuestion)
          expect(tools.finishReason).toBe("tool_calls")
          expect(tools.toolCalls.length).toBe(2)
          expectRoundTrip(ChatResponse.ChatResponse, tools)
          expectRoundTrip(Message.Message, Message.fromResponse(tools))
        }))

      it.live("Llm.chatStream: every chunk, text and tool calls, and what they collect to", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ models: [MODEL], replyTokens: 8, reasoningTokens: 2 })
          const llm = yield* stackFor(layer(simulator.url, headers))
          for (const request of [question, toolQuestion]) {
            const chunks = yield* Stream.runCollect(llm.chatStream(request))
            expect(chunks.map((chunk) => chunk._tag)).toContain("Usage")
            expect(chunks[chunks.length - 1]?._tag).toBe("Finish")
            for (const chunk of chunks) expectRoundTrip(ChatChunk.ChatChunk, chunk)
            expectRoundTrip(ChatResponse.ChatResponse, yield* ChatChunk.collect(Stream.fromIterable(chunks)))
          }
        }))

      if (embeds) {
        it.live("Llm.embed: the vectors and their usage", () =>
          Effect.gen(function*() {
            const simulator = yield* Simulator.make({ models: [MODEL] })
            const llm = yield* stackFor(layer(simulator.url, {}))
            const result = yield* llm.embed({ input: ["one", "two"] })
            expect(result.embeddings.length).toBe(2)
            expectRoundTrip(Embedding.EmbeddingResponse, result)
          }))
      }
    })
  }
})
