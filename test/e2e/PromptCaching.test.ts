/**
 * Cache breakpoints (`Message.CacheBreakpoint`) as the library sends them, through a recorder in front of the
 * simulator: Anthropic's `cache_control` on each block that has one, nothing to OpenAI's chat (which caches on its
 * own); and the cache reads and writes a reply reports, in its `Usage`.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Budget from "../../src/Budget.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { Usage } from "../../src/ChatResponse.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { recorder } from "../utils/cliHarness.js"
import { budgetLayerInMemory } from "../utils/memoryStores.js"

const model = "sim-small"
const key = "sk-prompt-caching-e2e-001"

type Api = "anthropic" | "chat-completions" | "responses" | "gemini"

/** The router of one `model` on `api` at `baseUrl`, as `Llm`; `extra` fields of its provider.json entry. */
const routerOver = (api: Api, baseUrl: string, headers?: Record<string, string>, extra?: Record<string, unknown>) =>
  Layer.unwrap(Effect.map(
    ProviderConfig.fromJson({
      sim: [{
        model_name: model,
        api,
        base_url: baseUrl,
        api_keys: [key],
        max_retries: 0,
        ...(headers === undefined ? {} : { headers }),
        ...extra
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
  it.live("Anthropic gets cache_control on the last four blocks with a breakpoint, with their TTL; OpenAI none", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const recorded = yield* recorder(simulator.url)
      yield* Effect.provide(Llm.chat(request), routerOver("anthropic", recorded.baseUrl))
      const sent = recorded.bodies.at(-1)!
      const ephemeral = { type: "ephemeral" }
      expect(sent["system"]).toEqual([
        { type: "text", text: "You answer weather questions.", cache_control: { type: "ephemeral", ttl: "1h" } }
      ])
      // Five breakpoints, of which Anthropic takes four: the first in the prompt's order, the tool's, is not sent.
      expect(sent["tools"]).toMatchObject([{ name: "get_weather" }])
      expect(sent["tools"]).not.toMatchObject([{ cache_control: ephemeral }])
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

  it.live("promptCacheKey goes to OpenAI's chat and Responses as prompt_cache_key, not to other APIs or presets", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const recorded = yield* recorder(simulator.url)
      const keyed = { model, maxTokens: 16, promptCacheKey: "repo-42", messages: [{ role: "user", content: "Hi" }] }
      const sentTo = (api: Api, extra?: Record<string, unknown>) =>
        Effect.gen(function*() {
          // The recorder's base URL ends in `/v1`, which the Gemini API's paths do not start with.
          const baseUrl = api === "gemini" ? recorded.baseUrl.slice(0, -"/v1".length) : recorded.baseUrl
          const before = recorded.bodies.length
          // The recorder passes no `x-goog-api-key` on: a Gemini call is refused, after its body was recorded.
          yield* Effect.exit(
            Llm.chat(keyed as ChatRequest.Input).pipe(Effect.provide(routerOver(api, baseUrl, undefined, extra)))
          )
          expect(recorded.bodies.length).toBe(before + 1)
          return recorded.bodies.at(-1)!["prompt_cache_key"]
        })
      expect(yield* sentTo("chat-completions")).toBe("repo-42")
      expect(yield* sentTo("responses")).toBe("repo-42")
      expect(yield* sentTo("anthropic")).toBeUndefined()
      expect(yield* sentTo("gemini")).toBeUndefined()
      expect(yield* sentTo("chat-completions", { preset: "deepseek" })).toBeUndefined()
    }))

  it.live(
    "the simulator's cache: a breakpoint's prefix is written by lifetime, then read by the next turn, whose " +
      "breakpoint moved on; each reply priced with the write premium and the read discount",
    () =>
      Effect.gen(function*() {
        const claude = "claude-sonnet-4-5"
        const simulator = yield* Simulator.make({ apiKeys: [key], models: [claude] })
        const layer = Layer.unwrap(Effect.map(
          ProviderConfig.fromJson({
            sim: [{ model_name: claude, api: "anthropic", base_url: simulator.url, api_keys: [key], max_retries: 0 }]
          }),
          (config) => ProviderConfig.routerLayer(config)
        )).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.orDie)
        // 400 characters: 100 tokens as the simulator counts; the question 10 more.
        const rules: ChatRequest.Input["messages"][number] = { role: "system", content: "r".repeat(400), cache: hour }
        const ask = (text: string, cache?: {}) => ({
          role: "user" as const,
          content: [{ type: "text" as const, text, ...(cache === undefined ? {} : { cache }) }]
        })
        const first = yield* Effect.provide(
          Llm.chat({ model: claude, maxTokens: 16, messages: [rules, ask("q".repeat(40), {})] }),
          layer
        )
        expect(first.usage).toMatchObject({
          promptTokens: 110,
          cachedPromptTokens: 0,
          cacheWriteTokens: 110,
          cacheWrite1hTokens: 100
        })
        const price = Pricing.lookup(claude)!
        expect(first.cost).toBeCloseTo((100 * 6 + 10 * 3.75 + first.usage.completionTokens * 15) / 1e6, 15)

        const second = yield* Effect.provide(
          Llm.chat({
            model: claude,
            maxTokens: 16,
            messages: [
              rules,
              ask("q".repeat(40)),
              { role: "assistant", content: "a".repeat(40) },
              ask("w".repeat(40), {})
            ]
          }),
          layer
        )
        // The first turn's prefix (system and question) is read where the breakpoint was; the rest is written.
        expect(second.usage).toMatchObject({
          promptTokens: 130,
          cachedPromptTokens: 110,
          cacheWriteTokens: 20,
          cacheWrite1hTokens: 0
        })
        expect(second.cost).toBeCloseTo(Pricing.cost(price, second.usage)!, 15)
        expect(second.cost).toBeCloseTo((110 * 0.3 + 20 * 3.75 + second.usage.completionTokens * 15) / 1e6, 15)
      })
  )

  it.live("a guarded Llm's budget is charged each reply's cost, cache writes and reads priced apart", () =>
    Effect.gen(function*() {
      const claude = "claude-sonnet-4-5"
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [claude] })
      const config = yield* ProviderConfig.fromJson({
        sim: [{ model_name: claude, api: "anthropic", base_url: simulator.url, api_keys: [key], max_retries: 0 }]
      })
      const budget = budgetLayerInMemory({ limits: [{ scope: "overall", limit: 1, period: "1 day" }] })
      const llm = ProviderConfig.layer(config, "sim", claude).pipe(
        Layer.provide(NodeHttpClient.layerUndici),
        Layer.orDie
      )
      // Budget is the same instance the guard uses: layers are shared by reference within one provide.
      const guarded = Budget.guard({ price: Pricing.lookup(claude) }).pipe(Layer.provide(Layer.merge(llm, budget)))
      const ask = {
        model: claude,
        maxTokens: 16,
        messages: [{ role: "system" as const, content: "r".repeat(400), cache: hour }, Message.user("q".repeat(40))]
      }
      const { read, status, written } = yield* Effect.gen(function*() {
        const written = yield* Llm.chat(ask)
        const read = yield* Llm.chat(ask)
        const [status] = yield* Effect.flatMap(Budget.Budget, (budget) => budget.status)
        return { read, status: status!, written }
      }).pipe(Effect.provide(Layer.mergeAll(budget, guarded)))
      expect([written.usage.cacheWrite1hTokens, read.usage.cachedPromptTokens]).toEqual([100, 100])
      expect(status.reserved).toBe(0)
      expect(status.spent).toBeCloseTo(written.cost! + read.cost!, 15)
      // The write costs twice the input price and the read a tenth of it.
      expect(written.cost! - read.cost!).toBeCloseTo(100 * (6 - 0.3) / 1e6, 15)
    }))

  it.live("the simulator's cache under a prompt_cache_key: a repeated prefix is read, another key's is not", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const system = { role: "system" as const, content: "s".repeat(800) }
      const ask = (question: string, promptCacheKey: string) =>
        Effect.provide(
          Llm.chat({ model, maxTokens: 16, promptCacheKey, messages: [system, { role: "user", content: question }] }),
          routerOver("chat-completions", `${simulator.url}/v1`)
        )
      expect((yield* ask("first question", "alpha")).usage.cachedPromptTokens).toBe(0)
      expect((yield* ask("second question", "alpha")).usage.cachedPromptTokens).toBe(200)
      expect((yield* ask("second question", "beta")).usage.cachedPromptTokens).toBe(0)
    }))

  it.live("a promptCacheKey without breakpoints caches the conversation at Anthropic: the next turn reads it", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const recorded = yield* recorder(simulator.url)
      const first = [{ role: "system" as const, content: "s".repeat(800) }, { role: "user" as const, content: "Hi" }]
      const ask = (messages: ReadonlyArray<Message.Message>) =>
        Effect.provide(
          Llm.chat({ model, maxTokens: 16, promptCacheKey: "conversation-7", messages }),
          routerOver("anthropic", recorded.baseUrl.slice(0, -"/v1".length))
        )
      const written = yield* ask(first)
      expect(JSON.stringify(recorded.bodies.at(-1)!["messages"])).toContain(`"cache_control":{"type":"ephemeral"}`)
      const read = yield* ask([...first, { role: "assistant", content: written.text }, {
        role: "user",
        content: "And?"
      }])
      expect(written.usage.cacheWriteTokens).toBeGreaterThan(0)
      expect(read.usage.cachedPromptTokens).toBe(written.usage.cacheWriteTokens)
      // A request with a breakpoint of its own keeps it alone.
      yield* ask([{ role: "system", content: "s".repeat(800), cache: { ttl: "1h" } }, { role: "user", content: "Hi" }])
      expect(JSON.stringify(recorded.bodies.at(-1)!["messages"])).not.toContain("cache_control")
    }))

  it.live("the simulator's billed usage: each reply's as the client read it, none for a reply sent without usage", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
      const ask = (headers?: Record<string, string>) =>
        Effect.provide(Llm.chat(request), routerOver("anthropic", simulator.url, headers))
      const written = yield* ask()
      const read = yield* ask()
      yield* ask({ [Simulator.faultHeader]: "usage=none" })
      const billed = yield* simulator.billed
      const counts = (
        usage: Usage
      ) => [usage.promptTokens, usage.cachedPromptTokens, usage.cacheWriteTokens ?? 0, usage.cacheWrite1hTokens ?? 0]
      expect(billed.map(counts)).toEqual([written.usage, read.usage].map(counts))
      // The first wrote the prompt (its system for an hour), the second read what the first wrote.
      expect(billed[0]!.cacheWrite1hTokens).toBeGreaterThan(0)
      expect(billed[1]!.cachedPromptTokens).toBe(billed[0]!.cacheWriteTokens)
    }))
})
