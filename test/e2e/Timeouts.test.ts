import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, Message } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Llm from "../../src/Llm.js"
import type { TimeoutError } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Router from "../../src/Router.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { type Api, apis, baseUrlOf, clients, type Http } from "../utils/everyAdapter.js"

// One model entry of provider.json (retries, when allowed, 10 ms apart).
const entry = (
  simulator: Simulator.Simulator,
  key: string,
  extra?: Record<string, unknown>
) => [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], retry_delay: 0.01, ...extra }]

const request = { messages: [Message.user("hi")] }

// One deployment of `api` with `fault` and `limits` (seconds), over loopback.
const single = (api: Api, fault: string, limits: Record<string, number>, http: Http) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ fault })
    const config = yield* ProviderConfig.fromJson({
      sim: entry(simulator, "sk-timeouts-key-00001", {
        api,
        base_url: baseUrlOf(simulator, api),
        max_retries: 0,
        ...limits
      })
    })
    return ProviderConfig.layer(config, "sim", "gpt-4o-mini").pipe(Layer.provide(http))
  })

const timeoutOf = (error: unknown): TimeoutError => {
  expect((error as { _tag: string })._tag).toBe("TimeoutError")
  return error as TimeoutError
}

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.timed(effect), ([duration, a]) => [a, Duration.toMillis(duration)] as const)

// A router over a primary with `fault` and `limits` (its own policy retrying three
// times) and a healthy fallback `sim-large`, falling back on TimeoutError, restarting
// broken streams; `settled`: every deployment's in-flight count and keys back to zero.
const routed = (fault: string, limits: Record<string, number>, learnedLimits?: Router.LearnedLimitsOptions) =>
  Effect.gen(function*() {
    const primary = yield* Simulator.make({ fault })
    const healthy = yield* Simulator.make({})
    const config = yield* ProviderConfig.fromJson({
      primary: entry(primary, "sk-primary-key-000001", { max_retries: 3, ...limits }),
      healthy: entry(healthy, "sk-healthy-key-000002", { model_name: "sim-large" })
    })
    const context = yield* Layer.build(
      ProviderConfig.routerLayer(config, {
        midStream: "restart",
        fallbacks: { "gpt-4o-mini": [{ to: "sim-large", on: ["TimeoutError"] }] },
        ...(learnedLimits === undefined ? {} : { learnedLimits })
      }).pipe(Layer.provide(NodeHttpClient.layerUndici))
    )
    const router = Context.get(context, Router.Router)
    const settled = Effect.map(
      router.status,
      (status) =>
        Object.values(status.details).every((load) =>
          load.inFlight === 0 && load.keys.every((key) => key.current === 0)
        )
    )
    return { llm: Context.get(context, Llm.Llm), primary, settled }
  })

describe("timeouts with phases, over loopback", () => {
  describe.each(apis)("%s", (api) => {
    describe.each(clients)("with %s", (_, http) => {
      it.live("no headers within headersTimeout: TimeoutError of phase headers, for chat and chatStream", () =>
        Effect.gen(function*() {
          const layer = yield* single(api, "silent=forever", { headers_timeout: 0.2 }, http)
          const [chat, ms] = yield* elapsed(Effect.flip(Llm.chat(request).pipe(Effect.provide(layer))))
          const error = timeoutOf(chat)
          expect(error.phase).toBe("headers")
          expect(error.message).toContain("sent no response headers")
          // Not before its 200 ms (the phase and the silent upstream show it fired, however late).
          expect(ms).toBeGreaterThanOrEqual(150)
          const stream = yield* Effect.flip(ChatChunk.collect(Llm.chatStream(request)).pipe(Effect.provide(layer)))
          expect(timeoutOf(stream).phase).toBe("headers")
        }))

      it.live("no first token within firstTokenTimeout: TimeoutError of phase firstToken", () =>
        Effect.gen(function*() {
          const layer = yield* single(api, "first-token=5000", { first_token_timeout: 0.2 }, http)
          const [error, ms] = yield* elapsed(
            Effect.flip(ChatChunk.collect(Llm.chatStream(request)).pipe(Effect.provide(layer)))
          )
          expect(timeoutOf(error).phase).toBe("firstToken")
          expect(timeoutOf(error).message).toContain("sent no first token")
          // Not before its 200 ms; the phase shows it fired before the first token (5 s away).
          expect(ms).toBeGreaterThanOrEqual(150)
        }))

      it.live("a stream that stalls for idleTimeout: TimeoutError of phase idle, after its first chunks", () =>
        Effect.gen(function*() {
          // Eight events: past those that open a Responses or Anthropic stream without text.
          const layer = yield* single(api, "stall=8", { idle_timeout: 0.2 }, http)
          const seen: Array<ChatChunk.ChatChunk> = []
          const [error, ms] = yield* elapsed(Effect.flip(
            Stream.runForEach(Llm.chatStream(request), (chunk) => Effect.sync(() => seen.push(chunk))).pipe(
              Effect.provide(layer)
            )
          ))
          expect(timeoutOf(error).phase).toBe("idle")
          expect(timeoutOf(error).message).toContain("stalled")
          expect(seen.length).toBeGreaterThan(0)
          // Not before its 200 ms; the stall never ends, so only the idle timeout ended the stream.
          expect(ms).toBeGreaterThanOrEqual(150)
        }))
    })
  })

  describe.each(apis.filter((api) => api !== "gemini"))("%s, a body held open after the reply's end event", (api) => {
    describe.each(clients)("with %s", (_, http) => {
      it.live("the stream ends with the whole reply at idleTimeout, no error", () =>
        Effect.gen(function*() {
          const layer = yield* single(api, "stall=end", { idle_timeout: 0.2 }, http)
          const reply = yield* ChatChunk.collect(Llm.chatStream(request)).pipe(Effect.provide(layer))
          expect(reply.finishReason).toBe("stop")
          expect(reply.text).not.toBe("")
        }))
    })
  })

  it.live("a stream that keeps sending is not idle, however long it takes", () =>
    Effect.gen(function*() {
      // 20 ms between tokens against a 200 ms idle limit, for 600 ms in all.
      const simulator = yield* Simulator.make({ tokensPerSecond: 50, replyTokens: 30 })
      const config = yield* ProviderConfig.fromJson({
        sim: entry(simulator, "sk-timeouts-key-00002", { idle_timeout: 0.2 })
      })
      const layer = ProviderConfig.layer(config, "sim", "gpt-4o-mini").pipe(Layer.provide(NodeHttpClient.layerUndici))
      const [answer, ms] = yield* elapsed(ChatChunk.collect(Llm.chatStream(request)).pipe(Effect.provide(layer)))
      expect(answer.text.length).toBeGreaterThan(0)
      expect(ms).toBeGreaterThan(400)
    }))

  it.live("through a Router: a silent primary is tried once and the fallback answers", () =>
    Effect.gen(function*() {
      // The primary's own policy would retry three times.
      const { llm, primary, settled } = yield* routed("silent=forever", { headers_timeout: 0.3 })
      const response = yield* llm.chat({ model: "gpt-4o-mini", ...request })
      expect(response.model).toBe("sim-large")
      // Tried once: the fallback came at once, not after the primary's own retries.
      expect(yield* primary.requestCount).toBe(1)
      expect(yield* settled).toBe(true)
    }))

  it.live(
    "through a Router: a fresh deployment whose first token is late (nothing learned of it yet) is left for the " +
      "fallback at the initial first-token limit; with none, it is waited for",
    () =>
      Effect.gen(function*() {
        // The default initial limit is 15 seconds (`learnedLimits.test.ts`); here 300 ms against a token at 2 s.
        const late = "first-token=2000"
        const { llm, primary, settled } = yield* routed(late, {}, { initialFirstToken: "300 millis" })
        const [answer, millis] = yield* elapsed(ChatChunk.collect(llm.chatStream({ model: "gpt-4o-mini", ...request })))
        expect(answer.model).toBe("sim-large")
        expect(millis).toBeLessThan(1_500)
        expect(yield* primary.requestCount).toBe(1)
        expect(yield* settled).toBe(true)
        const patient = yield* routed(late, {}, { initialFirstToken: false })
        const waited = yield* ChatChunk.collect(patient.llm.chatStream({ model: "gpt-4o-mini", ...request }))
        expect(waited.model).toBe("gpt-4o-mini")
      })
  )

  it.live(
    "through a Router: a stalled stream fails its attempt with TimeoutError(idle) and restarts on the " +
      "fallback",
    () =>
      Effect.gen(function*() {
        const { llm, primary, settled } = yield* routed("stall=2", { idle_timeout: 0.3 })
        const chunks: Array<ChatChunk.ChatChunk> = []
        const answer = yield* ChatChunk.collect(
          Stream.tap(
            llm.chatStream({ model: "gpt-4o-mini", ...request }),
            (chunk) => Effect.sync(() => chunks.push(chunk))
          )
        )
        const restartAt = chunks.findIndex((chunk) => chunk._tag === "Restart")
        expect(restartAt).toBeGreaterThan(0)
        expect(chunks[restartAt]).toEqual({
          _tag: "Restart",
          attempt: 2,
          deployment: "healthy/sim-large",
          model: "sim-large",
          from: "primary/gpt-4o-mini",
          error: "TimeoutError"
        })
        expect(answer.model).toBe("sim-large")
        expect(answer.text.length).toBeGreaterThan(0)
        expect(yield* primary.requestCount).toBe(1)
        expect(yield* settled).toBe(true)
      })
  )
})
