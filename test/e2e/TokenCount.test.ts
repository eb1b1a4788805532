/**
 * `Llm.countTokens` over the router of a provider.json, for every adapter against the simulator: the provider's
 * count where it has an endpoint for it (Anthropic's `count_tokens`, Gemini's `countTokens`, the Responses API's
 * `input_tokens`), else a local estimate, marked so.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { type Api, apis, baseUrlOf } from "../utils/everyAdapter.js"

const model = "sim-small"
const key = "sk-token-count-e2e-00001"

/** The router of a provider.json with one model on `api` of `simulator`, as `Llm`. */
const routerOver = (simulator: Simulator.Simulator, api: Api, headers?: Record<string, string>) =>
  Layer.unwrap(Effect.map(
    ProviderConfig.fromJson({
      sim: [{
        model_name: model,
        api,
        base_url: baseUrlOf(simulator, api),
        api_keys: [key],
        max_retries: 0,
        ...(headers === undefined ? {} : { headers })
      }]
    }),
    (config) => ProviderConfig.routerLayer(config)
  )).pipe(Layer.provide(NodeHttpClient.layerUndici), Layer.orDie)

const prompt = {
  model,
  messages: [
    Message.system("You review Go code."),
    Message.user("Is this idiomatic? ".repeat(40))
  ]
}

// The APIs with a counting endpoint.
const counts = (api: Api): boolean => api === "anthropic" || api === "gemini" || api === "responses"

describe("Llm.countTokens", () => {
  for (const api of apis) {
    it.live(`${api}: ${counts(api) ? "the provider's count" : "a local estimate"}, without a reply`, () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
        const llm = routerOver(simulator, api)
        const before = (yield* simulator.stats).requests
        const counted = yield* Effect.provide(Llm.countTokens(prompt), llm)
        const called = (yield* simulator.stats).requests - before
        const reply = yield* Effect.provide(Llm.chat({ ...prompt, maxTokens: 16 }), llm)
        expect(counted.estimated).toBe(!counts(api))
        expect(called).toBe(counts(api) ? 1 : 0)
        if (counts(api)) expect(counted.inputTokens).toBe(reply.usage.promptTokens)
        else expect(counted.inputTokens).toBeGreaterThan(100)
      }))
  }

  for (const api of apis.filter(counts)) {
    it.live(`${api}: a provider's refusal of the count is its typed error, with no number`, () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [key], models: [model] })
        const llm = routerOver(simulator, api, { "x-simulator-fault": "status=401" })
        const error = yield* Effect.flip(Effect.provide(Llm.countTokens(prompt), llm))
        expect(error._tag).toBe("AuthError")
      }))
  }
})
