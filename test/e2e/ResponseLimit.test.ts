import { describe, expect, it } from "@effect/vitest"
import { Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Llm from "../../src/Llm.js"
import type { OutputDecodeError } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { type Api, apis, baseUrlOf, clients, type Http } from "../utils/everyAdapter.js"
import { awaitStats } from "../utils/openAiChatSimulator.js"
import { buildError, expectOptionsError } from "../utils/optionsError.js"

const request = { messages: [Message.user("hi")] }
const limit = 64 * 1024
// Sixteen times the limit: a reader that does not stop at the limit reads on, then waits forever.
const flood = `flood=${16 * limit}`

// A reader that misses the limit waits for a body that never ends: bounded, the test fails instead.
const bounded = 10_000

// One deployment of `api` whose replies are limited to `limit` bytes (provider.json's max_response_bytes).
const limited = (api: Api, http: Http, fault?: string) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make(fault === undefined ? {} : { fault })
    const config = yield* ProviderConfig.fromJson({
      sim: [{
        model_name: "gpt-4o-mini",
        api,
        base_url: baseUrlOf(simulator, api),
        api_keys: ["sk-limit-key-000000001"],
        max_retries: 0,
        max_response_bytes: limit
      }]
    })
    return { simulator, layer: ProviderConfig.layer(config, "sim", "gpt-4o-mini").pipe(Layer.provide(http)) }
  })

const decodeErrorOf = (error: unknown): OutputDecodeError => {
  expect((error as { _tag: string })._tag).toBe("OutputDecodeError")
  return error as OutputDecodeError
}

describe("maxResponseBytes, over loopback", () => {
  describe.each(apis)("%s", (api) => {
    describe.each(clients)("with %s", (_, http) => {
      it.live(
        "a body that grows past the limit fails with OutputDecodeError naming it, and the connection is let go",
        () =>
          Effect.gen(function*() {
            const { layer, simulator } = yield* limited(api, http, flood)
            const error = decodeErrorOf(yield* Effect.flip(Llm.chat(request).pipe(Effect.provide(layer))))
            expect(error.detail).toBe(
              `the response body exceeded maxResponseBytes (${limit} bytes); raise maxResponseBytes if replies this ` +
                `large are expected`
            )
            expect(error.provider).toBe("sim")
            expect(error.message).toContain("sim (gpt-4o-mini)")
            // The body never ends: only a reader that stopped and closed the connection ends the request.
            yield* awaitStats(simulator, (stats) => stats.clientClosed === 1 && stats.inFlight === 0)
          }),
        bounded
      )

      it.live(
        "a stream event that grows past the limit without ending fails the same way, and the connection is let go",
        () =>
          Effect.gen(function*() {
            const { layer, simulator } = yield* limited(api, http, flood)
            const error = decodeErrorOf(
              yield* Effect.flip(Stream.runDrain(Llm.chatStream(request)).pipe(Effect.provide(layer)))
            )
            const what = api === "ollama" ? "a stream line" : "an SSE event"
            expect(error.detail).toBe(
              `${what} exceeded maxResponseBytes (${limit} bytes); raise maxResponseBytes if replies this large are ` +
                `expected`
            )
            expect(error.message).toContain("sim (gpt-4o-mini)")
            yield* awaitStats(simulator, (stats) => stats.clientClosed === 1 && stats.inFlight === 0)
          }),
        bounded
      )

      it.live("replies within the limit are read as before, whole and streamed", () =>
        Effect.gen(function*() {
          const { layer } = yield* limited(api, http)
          const reply = yield* Llm.chat(request).pipe(Effect.provide(layer))
          expect(reply.text.length).toBeGreaterThan(0)
          const chunks = yield* Stream.runCollect(Llm.chatStream(request)).pipe(Effect.provide(layer))
          expect(chunks.at(-1)?._tag).toBe("Finish")
        }))
    })
  })

  it.live("an embeddings reply past the limit fails the same way", () =>
    Effect.gen(function*() {
      const { layer, simulator } = yield* limited("chat-completions", clients[0][1], flood)
      const error = decodeErrorOf(yield* Effect.flip(Llm.embed({ input: ["a", "b"] }).pipe(Effect.provide(layer))))
      expect(error.detail).toContain(`the response body exceeded maxResponseBytes (${limit} bytes)`)
      yield* awaitStats(simulator, (stats) => stats.clientClosed === 1 && stats.inFlight === 0)
    }), bounded)

  it.effect("a maxResponseBytes that is not a positive integer fails the layer with OptionsError naming it", () =>
    Effect.gen(function*() {
      const error = yield* buildError(OpenAiChat.layer({ baseUrl: "http://127.0.0.1:9/v1", maxResponseBytes: 1.5 }))
      expectOptionsError(error, { module: "OpenAiChat", option: "maxResponseBytes", value: "1.5" })
    }))

  it.effect("provider.json: max_response_bytes must be a positive whole number", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", api_keys: ["sk-limit-key-000000001"], max_response_bytes: 0 }]
      }))
      expect(String(error)).toContain("max_response_bytes")
      expect(String(error)).toContain("expected a positive whole number")
    }))
})
