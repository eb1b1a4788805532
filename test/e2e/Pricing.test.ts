import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Llm from "../../src/Llm.js"
import type { OptionsError } from "../../src/OptionsError.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const key = "sk-sim-pricing-000000000001"
const apis = ["chat-completions", "responses", "anthropic", "gemini", "ollama"] as const
const pricing = { input_per_mtok: 2, cached_input_per_mtok: 0.5, output_per_mtok: 8 }
const price = Pricing.fromPerMtok(pricing)

const withLlm = (layer: Layer.Layer<Llm.Llm, OptionsError, never>) => <A, E>(effect: Effect.Effect<A, E, Llm.Llm>) =>
  Effect.provide(effect, layer)

describe("cost over loopback", () => {
  it.live("every api: cost on the response, and the streamed reply collects to the same cost and usage", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 7, reasoningTokens: 5 })
      const rootOf = (api: string) =>
        api === "chat-completions" || api === "responses" ? `${simulator.url}/v1` : simulator.url
      const config = yield* ProviderConfig.fromJson(Object.fromEntries(apis.map((api) => [
        `p-${api}`,
        [{
          model_name: "sim-small",
          api,
          api_keys: [key],
          base_url: rootOf(api),
          headers: { "x-simulator-cached-tokens": "4" },
          pricing
        }]
      ])))
      const models = yield* ProviderConfig.layers(config)
      const request = { messages: [Message.user("What does a cost look like?")], reasoningEffort: "low" as const }
      for (const api of apis) {
        const provide = withLlm(models[`p-${api}`]!["sim-small"]!.pipe(Layer.provide(UndiciHttpClient.layer())))
        const reply = yield* Llm.chat(request).pipe(provide)
        const streamed = yield* ChatChunk.collect(Llm.chatStream(request)).pipe(provide)
        // Ollama's wire has no cached count (its simulator leaves cached tokens out of the prompt).
        expect(reply.usage.cachedPromptTokens, api).toBe(api === "ollama" ? 0 : 4)
        expect(reply.usage.completionTokens, api).toBeGreaterThan(0)
        expect(reply.cost, api).toBe(Pricing.cost(price, reply.usage))
        expect(reply.cost, api).toBeGreaterThan(0)
        expect(streamed.usage, api).toStrictEqual(reply.usage)
        expect(streamed.cost, api).toBe(reply.cost)
      }
    }))

  it.live("with no pricing entry the built-in price applies; an unknown model carries no cost", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [key] })
      const config = yield* ProviderConfig.fromJson({
        sim: [
          { model_name: "gpt-4o-mini", api_keys: [key], base_url: `${simulator.url}/v1` },
          { model_name: "sim-small", api_keys: [key], base_url: `${simulator.url}/v1` }
        ]
      })
      const models = yield* ProviderConfig.layers(config)
      const request = { messages: [Message.user("Hello")] }
      const known = withLlm(models.sim!["gpt-4o-mini"]!.pipe(Layer.provide(UndiciHttpClient.layer())))
      const reply = yield* Llm.chat(request).pipe(known)
      expect(reply.cost).toBe(Pricing.cost(Pricing.builtIn["gpt-4o-mini"], reply.usage))
      expect((yield* ChatChunk.collect(Llm.chatStream(request)).pipe(known)).cost).toBe(reply.cost)

      const unknown = withLlm(models.sim!["sim-small"]!.pipe(Layer.provide(UndiciHttpClient.layer())))
      const unpriced = yield* Llm.chat(request).pipe(unknown)
      expect(unpriced.cost).toBeUndefined()
      expect("cost" in unpriced).toBe(false)
      expect((yield* ChatChunk.collect(Llm.chatStream(request)).pipe(unknown)).cost).toBeUndefined()
    }))
})
