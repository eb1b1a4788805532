/**
 * Cache breakpoints (`Message.CacheBreakpoint`) as the library sends them, through a recorder in front of the
 * simulator: Anthropic's `cache_control` on each block that has one, nothing to OpenAI's chat (which caches on its
 * own); and the cache reads and writes a reply reports, in its `Usage`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as Llm from "../../src/Llm.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { recorder } from "../utils/cliHarness.js"

const model = "sim-small"
const key = "sk-prompt-caching-e2e-001"

/** The router of one `model` on `api` at `baseUrl`, as `Llm`. */
const routerOver = (api: "anthropic" | "chat-completions", baseUrl: string, headers?: Record<string, string>) =>
  Layer.unwrap(Effect.map(
    ProviderConfig.fromJson({
      sim: [{
        model_name: model,
        api,
        base_url: baseUrl,
        api_keys: [key],
        max_retries: 0,
        ...(headers === undefined ? {} : { headers })
      }]
    }),
    (config) => ProviderConfig.routerLayer(config)
  )).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.orDie)

const hour = { ttl: "1h" } as const

// Long enough for the cache counts the simulator is asked to report.
const question = "What is the weather in Paris today? ".repeat(6)

const request: ChatRequest.Input = {
  model,
  maxTokens: 16,
  messages: [
    { role: "system", content: "You answer weather questions.", cache: hour },
    { role: "user", content: [{ type: "text", text: question, cache: {} }] },
    {
      role: "assistant",
      content: "",
      toolCalls: [{ id: "toolu_01", name: "get_weather", arguments: `{"city":"Paris"}` }],
      cache: {}
    },
    { role: "tool", toolCallId: "toolu_01", content: "Sunny, 21 C", cache: { ttl: "5m" } }
  ],
  tools: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } }, cache: {} }]
}

describe("prompt caching", () => {
  it.live("Anthropic gets cache_control on each block with a breakpoint, with its TTL; OpenAI's chat gets none", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const recorded = yield* recorder(simulator.url)
      yield* Effect.provide(Llm.chat(request), routerOver("anthropic", recorded.baseUrl))
      const sent = recorded.bodies.at(-1)!
      const ephemeral = { type: "ephemeral" }
      expect(sent["system"]).toEqual([
        { type: "text", text: "You answer weather questions.", cache_control: { type: "ephemeral", ttl: "1h" } }
      ])
      expect(sent["tools"]).toMatchObject([{ name: "get_weather", cache_control: ephemeral }])
      expect(sent["messages"]).toEqual([
        { role: "user", content: [{ type: "text", text: question, cache_control: ephemeral }] },
        {
          role: "assistant",
          content: [{
            type: "tool_use",
            id: "toolu_01",
            name: "get_weather",
            input: { city: "Paris" },
            cache_control: ephemeral
          }]
        },
        {
          role: "user",
          content: [{
            type: "tool_result",
            tool_use_id: "toolu_01",
            content: "Sunny, 21 C",
            cache_control: { type: "ephemeral", ttl: "5m" }
          }]
        }
      ])

      yield* Effect.provide(Llm.chat(request), routerOver("chat-completions", recorded.baseUrl))
      expect(JSON.stringify(recorded.bodies.at(-1))).not.toContain("cache")
    }))

  it.live("a reply's usage has the cache reads in cachedPromptTokens and the writes in cacheWriteTokens", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const knobs = { "x-simulator-cached-tokens": "12", "x-simulator-cache-write-tokens": "9" }
      const cached = routerOver("anthropic", simulator.url, knobs)
      const whole = yield* Effect.provide(Llm.chat(request), cached)
      const plain = yield* Effect.provide(Llm.chat(request), routerOver("anthropic", simulator.url))
      expect(whole.usage).toMatchObject({
        promptTokens: plain.usage.promptTokens,
        cachedPromptTokens: 12,
        cacheWriteTokens: 9
      })
      expect(plain.usage.cacheWriteTokens).toBe(0)
    }))
})
