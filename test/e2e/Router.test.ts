import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, ChatResponse, Message } from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as Llm from "../../src/Llm.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Router from "../../src/Router.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { routerLayerInMemory } from "../utils/memoryStores.js"

const entry = (simulator: Simulator.Simulator, key: string, extra?: Record<string, unknown>) => [{
  model_name: "gpt-4o-mini",
  base_url: `${simulator.url}/v1`,
  api_keys: [key],
  // The router falls over at once rather than letting a deployment retry.
  max_retries: 0,
  ...extra
}]

describe("Router over loopback", () => {
  it.live("three simulators (slow, failing with 503, rate-limited): a thousand calls all succeed", () =>
    Effect.gen(function*() {
      // Slow by far more than a loaded machine adds to the others' replies: the router keeps a moving mean of each
      // one's latency, so with a margin of only 100 ms one slow spell of the limited one's sent it hundreds of calls.
      const slow = yield* Simulator.make({ latency: "300 millis" })
      const failing = yield* Simulator.make({ fault: "status=503" })
      // 700 a minute on a clock that stands still (a TestClock nobody adjusts): its bucket never refills, so it runs
      // out at the 701st request however long the thousand calls take (on a loaded machine they took long enough for
      // the refill to keep it from ever running out).
      const limited = yield* Effect.provideService(
        Simulator.make({ requestsPerMinute: 700 }),
        Clock.Clock,
        yield* TestClock.make()
      )
      const config = yield* ProviderConfig.fromJson({
        slow: entry(slow, "sk-slow-key-000000001"),
        failing: entry(failing, "sk-failing-key-000002"),
        limited: entry(limited, "sk-limited-key-000003", { max_concurrency: 32 })
      })
      const context = yield* Layer.build(
        ProviderConfig.routerLayer(config, { strategy: "lowest-latency" }).pipe(
          Layer.provide(NodeHttpClient.layerUndici)
        )
      )
      const llm = Context.get(context, Llm.Llm)
      const router = Context.get(context, Router.Router)

      const responses = yield* Effect.all(
        Array.from(
          { length: 1000 },
          (_, i) => llm.chat({ model: "gpt-4o-mini", messages: [Message.user(`question ${i}`)] })
        ),
        { concurrency: 8 }
      )
      expect(responses.every((response) => response.text.length > 0)).toBe(true)

      const status = yield* router.status
      const details = status.details
      // The failing simulator was tried until its breaker opened, then skipped.
      expect(details["failing/gpt-4o-mini"]!.cooldown.state).toBe("open")
      expect(details["failing/gpt-4o-mini"]!.requests).toBeLessThanOrEqual(12)
      // The rate-limited one served until its headers said nothing remained, then was held back.
      expect(details["limited/gpt-4o-mini"]!.requests).toBeGreaterThanOrEqual(700)
      expect(details["limited/gpt-4o-mini"]!.rateLimited).toBeGreaterThan(0)
      // The slow one got little of the traffic: what the limited one could not take. Its mean latency is at least the
      // 300 ms every reply of it waits (how far above the limited one's is the machine's load, not the router's).
      expect(details["slow/gpt-4o-mini"]!.requests).toBeLessThan(details["limited/gpt-4o-mini"]!.requests / 2)
      expect(details["slow/gpt-4o-mini"]!.latencyMillis!).toBeGreaterThanOrEqual(300)

      // The status has the seed's shape, keys masked.
      expect(details["limited/gpt-4o-mini"]!.type).toBe("concurrency")
      expect(details["limited/gpt-4o-mini"]!.max).toBe(32)
      expect(details["slow/gpt-4o-mini"]!.keys).toEqual([
        {
          key: expect.stringMatching(/^sk-…0001#[0-9a-f]{4}$/),
          weight: 1,
          current: 0,
          max: null,
          coolingUntil: null,
          disabled: null
        }
      ])
      expect(status.totalMax).toEqual({ concurrency: 32, qps: 0 })
      expect(status.loadPercent).toBe(0)
      expect(JSON.stringify(status)).not.toContain("sk-slow-key")
      // camelCase at every depth, as every other value of the library (deployment names aside).
      const fieldsOf = (value: unknown): Array<string> =>
        typeof value !== "object" || value === null
          ? []
          : Object.entries(value).flatMap((
            [field, inner]
          ) => [...(Array.isArray(value) ? [] : [field]), ...fieldsOf(inner)])
      const fields = fieldsOf({ ...status, details: Object.values(details) })
      expect(fields).toContain("rateLimit")
      expect(fields).toContain("coolingUntil")
      expect(fields.filter((field) => !/^[a-z][a-zA-Z]*$/.test(field))).toEqual([])
      expect(Object.values(details).every((load) => load.inFlight === 0)).toBe(true)
    }))

  it.live(
    "a named router of provider.json takes its fallback when the first deployment faults (x-simulator-fault " +
      "via headers)",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({})
        const config = yield* ProviderConfig.fromJson({
          primary: entry(simulator, "sk-primary-key-000001", { headers: { [Simulator.faultHeader]: "status=503" } }),
          backup: entry(simulator, "sk-backup-key-0000002", { model_name: "sim-large" }),
          router: {
            main: {
              deployments: ["primary/gpt-4o-mini", "sim-large"],
              strategy: "priority",
              retry_on: [],
              fallbacks: { "primary/gpt-4o-mini": [{ to: "backup/sim-large", on: ["ProviderUnavailableError"] }] },
              model: "primary/gpt-4o-mini",
              deadline: 20
            }
          }
        })
        const layer = Layer.unwrap(Effect.map(ProviderConfig.namedRouterOptions(config, "main"), routerLayerInMemory))
          .pipe(
            Layer.provide(NodeHttpClient.layerUndici)
          )
        const { reply, status } = yield* Effect.gen(function*() {
          const reply = yield* ChatChunk.collect(Llm.chatStream({ messages: [Message.user("hi")] }))
          return { reply, status: yield* Router.status }
        }).pipe(Effect.provide(layer))
        expect(reply.model).toBe("sim-large")
        expect(reply.text.length).toBeGreaterThan(0)
        expect(Object.keys(status.details)).toEqual(["primary/gpt-4o-mini", "backup/sim-large"])
        expect(status.details["primary/gpt-4o-mini"]!.failures).toBe(1)
        expect(status.details["backup/sim-large"]!.requests).toBe(1)
        expect(status.details["primary/gpt-4o-mini"]!.inFlight + status.details["backup/sim-large"]!.inFlight).toBe(0)
      })
  )

  it.live("a stream falls back from a 503 to a healthy deployment before its first chunk", () =>
    Effect.gen(function*() {
      const failing = yield* Simulator.make({ fault: "status=503" })
      const healthy = yield* Simulator.make({})
      const config = yield* ProviderConfig.fromJson({
        failing: entry(failing, "sk-failing-key-000002", { groups: ["primary"] }),
        healthy: entry(healthy, "sk-healthy-key-000004", { model_name: "sim-large", context_window: 128_000 })
      })
      const layer = ProviderConfig.routerLayer(config, {
        fallbacks: { primary: [{ to: "sim-large", on: ["ProviderUnavailableError"] }] }
      }).pipe(Layer.provide(NodeHttpClient.layerUndici))
      const response = yield* ChatChunk.collect(Llm.chatStream({ model: "primary", messages: [Message.user("hi")] }))
        .pipe(
          Effect.provide(layer)
        )
      expect(response.model).toBe("sim-large")
      expect(response.text.length).toBeGreaterThan(0)
    }))

  it.live(
    "a routed stream over Llm deployments: a reset after the first chunk restarts it on the fallback; an " +
      "interrupted consumer frees the deployment and its key",
    () =>
      Effect.gen(function*() {
        const resetting = yield* Simulator.make({ fault: "reset=3" })
        const stalling = yield* Simulator.make({ fault: "stall=2" })
        const healthy = yield* Simulator.make({})
        const config = yield* ProviderConfig.fromJson({
          resetting: entry(resetting, "sk-resetting-key-0001", { groups: ["resets"] }),
          stalling: entry(stalling, "sk-stalling-key-00002", { groups: ["stalls"] }),
          healthy: entry(healthy, "sk-healthy-key-000005", { model_name: "sim-large" })
        })
        const context = yield* Layer.build(
          ProviderConfig.routerLayer(config, {
            fallbacks: { resets: [{ to: "sim-large", on: ["TransportError"] }] },
            cooldown: { failures: 1, on: ["TransportError"] }
          }).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
        const llm = Context.get(context, Llm.Llm)
        const router = Context.get(context, Router.Router)

        const chunks: Array<ChatChunk.ChatChunk> = []
        const answer = yield* ChatChunk.collect(
          Stream.tap(
            llm.chatStream({ model: "resets", messages: [Message.user("hi")] }),
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
          from: "resetting/gpt-4o-mini",
          error: "TransportError"
        })
        const after = chunks.slice(restartAt + 1)
        expect(answer.text).not.toBe("")
        expect(answer.text).toBe(after.map((chunk) => chunk._tag === "TextDelta" ? chunk.text : "").join(""))
        expect(after.at(-1)!._tag).toBe("Finish")
        let details = (yield* router.status).details
        // The broken deployment counted towards its cooldown (one failure opens it here) and was let go.
        expect(details["resetting/gpt-4o-mini"]!.cooldown.state).toBe("open")
        expect(details["resetting/gpt-4o-mini"]!.failures).toBe(1)
        expect(details["healthy/sim-large"]!.requests).toBe(1)
        expect(
          Object.values(details).every((load) => load.inFlight === 0 && load.keys.every((key) => key.current === 0))
        )
          .toBe(true)

        const first = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          Stream.runForEach(
            llm.chatStream({ model: "stalls", messages: [Message.user("hi")] }),
            () => Deferred.succeed(first, undefined)
          )
        )
        yield* Deferred.await(first)
        details = (yield* router.status).details
        expect(details["stalling/gpt-4o-mini"]!.inFlight).toBe(1)
        expect(details["stalling/gpt-4o-mini"]!.keys[0]!.current).toBe(1)
        yield* Fiber.interrupt(fiber)
        details = (yield* router.status).details
        expect(Object.values(details).every((load) => load.inFlight === 0)).toBe(true)
        expect(details["stalling/gpt-4o-mini"]!.keys[0]!.current).toBe(0)
      })
  )

  it.live("the simulator's rate-limit headers reach ChatResponse.rateLimit", () =>
    Effect.gen(function*() {
      const limited = yield* Simulator.make({ requestsPerMinute: 2 })
      const config = yield* ProviderConfig.fromJson({ limited: entry(limited, "sk-limited-key-000003") })
      const layer = ProviderConfig.layer(config, "limited", "gpt-4o-mini").pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
      const [first, second] = yield* Effect.all([
        Llm.chat({ messages: [Message.user("one")] }),
        Llm.chat({ messages: [Message.user("two")] })
      ]).pipe(Effect.provide(layer))
      expect(first.rateLimit?.remainingRequests).toBe(1)
      expect(second.rateLimit?.remainingRequests).toBe(0)
      expect(second.rateLimit?.limitRequests).toBe(2)
      expect(second.rateLimit?.resetRequests).toBeDefined()
    }))

  it.live("a streamed reply's rate-limit headers arrive on its Finish chunk", () =>
    Effect.gen(function*() {
      const limited = yield* Simulator.make({ requestsPerMinute: 2 })
      const config = yield* ProviderConfig.fromJson({ limited: entry(limited, "sk-limited-key-000004") })
      const layer = ProviderConfig.layer(config, "limited", "gpt-4o-mini").pipe(
        Layer.provide(NodeHttpClient.layerUndici)
      )
      const collect = (text: string) => ChatChunk.collect(Llm.chatStream({ messages: [Message.user(text)] }))
      const [first, second] = yield* Effect.all([collect("one"), collect("two")]).pipe(Effect.provide(layer))
      expect(first.rateLimit?.remainingRequests).toBe(1)
      expect(second.rateLimit?.remainingRequests).toBe(0)
      expect(second.rateLimit?.limitRequests).toBe(2)
    }))

  it.live(
    "a malformed event in a routed stream is skipped and counted: on the Finish chunk, the collected reply and " +
      "the deployment's status",
    () =>
      Effect.gen(function*() {
        // The flaky simulator sends one event that is not JSON after the second chunk of every stream.
        const flaky = yield* Simulator.make({ fault: "malformed=2", replyTokens: 12 })
        const steady = yield* Simulator.make({ replyTokens: 12 })
        const config = yield* ProviderConfig.fromJson({
          flaky: entry(flaky, "sk-flaky-key-0000001"),
          steady: entry(steady, "sk-steady-key-000002")
        })
        const context = yield* Layer.build(
          ProviderConfig.routerLayer(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
        )
        const llm = Context.get(context, Llm.Llm)
        const router = Context.get(context, Router.Router)
        const ask = (model: string) => ({ model, messages: [Message.user("hi")] })

        const chunks = yield* Stream.runCollect(llm.chatStream(ask("flaky/gpt-4o-mini")))
        const finish = chunks.find((chunk) => chunk._tag === "Finish")
        expect(finish?._tag === "Finish" && finish.skippedEvents).toBe(1)
        const reply = yield* ChatChunk.collect(llm.chatStream(ask("flaky/gpt-4o-mini")))
        expect(reply.skippedEvents).toBe(1)
        expect(reply.finishReason).toBe("stop")
        // The reply is whole: the same text as the steady simulator's (both answer by the same seed).
        const healthy = yield* ChatChunk.collect(llm.chatStream(ask("steady/gpt-4o-mini")))
        expect(reply.text).toBe(healthy.text)
        expect(healthy.skippedEvents).toBeUndefined()
        // The reply still encodes as a ChatResponse.
        const encoded = Schema.encodeSync(Schema.toCodecJson(ChatResponse.ChatResponse))(reply)
        expect(encoded).toMatchObject({ skippedEvents: 1 })

        const { details } = yield* router.status
        expect(details["flaky/gpt-4o-mini"]!.skippedEvents).toBe(2)
        expect(details["steady/gpt-4o-mini"]!.skippedEvents).toBe(0)
        expect(Object.values(details).every((load) => load.inFlight === 0)).toBe(true)
      })
  )
})

describe("Router.embed over loopback: only to deployments whose client takes the input", () => {
  const key = "sk-router-embed-key-0001"
  const model = "text-embedding-3-small"
  // One embedding model served four ways, all in the group `vectors`; the other groups hold one or two of them.
  const routerOf = Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], models: [...Simulator.defaultModels, model] })
    const served = (api: string, base: string, groups: ReadonlyArray<string>) => [{
      model_name: model,
      api,
      base_url: base,
      api_keys: [key],
      max_retries: 0,
      groups: ["vectors", ...groups]
    }]
    const config = yield* ProviderConfig.fromJson({
      openai: served("chat-completions", `${simulator.url}/v1`, ["mixed"]),
      claude: served("anthropic", simulator.url, ["mixed", "claude-only"]),
      google: served("gemini", simulator.url, ["text-only"]),
      local: served("ollama", simulator.url, ["text-only"])
    })
    const context = yield* Layer.build(
      ProviderConfig.routerLayer(config).pipe(Layer.provide(NodeHttpClient.layerUndici))
    )
    return { llm: Context.get(context, Llm.Llm), router: Context.get(context, Router.Router) }
  })

  it.live("a group of an OpenAI-style and an Anthropic deployment: every call embeds, on the OpenAI-style one", () =>
    Effect.gen(function*() {
      const { llm, router } = yield* routerOf
      for (let i = 0; i < 8; i++) {
        const response = yield* llm.embed({ model: "mixed", input: [`text ${i}`, "more"] })
        expect(response.embeddings).toHaveLength(2)
        expect(response.provider).toBe("openai")
      }
      const { details } = yield* router.status
      expect(details[`claude/${model}`]!.requests).toBe(0)
      expect(details[`openai/${model}`]!.requests).toBe(8)
    }).pipe(Effect.scoped))

  it.live(
    "an address with no deployment that can embed fails with InvalidRequestError naming why, before any " +
      "call",
    () =>
      Effect.gen(function*() {
        const { llm, router } = yield* routerOf
        const error = yield* Effect.flip(llm.embed({ model: "claude-only", input: "hello" }))
        expect(error._tag).toBe("InvalidRequestError")
        expect(error).toMatchObject({ provider: "router", model: "claude-only", param: "model" })
        expect(error.message).toContain(`claude/${model} (no embeddings API)`)
        expect((yield* router.status).details[`claude/${model}`]!.requests).toBe(0)
      }).pipe(Effect.scoped)
  )

  it.live(
    "token ids go only to a deployment that takes them; an address of text-only ones refuses them (param " +
      "input)",
    () =>
      Effect.gen(function*() {
        const { llm } = yield* routerOf
        for (const input of [[1, 2, 3], [[1, 2], [3]]]) {
          for (let i = 0; i < 4; i++) {
            const response = yield* llm.embed({ model: "vectors", input })
            expect(response.provider).toBe("openai")
            expect(response.embeddings).toHaveLength(typeof input[0] === "number" ? 1 : 2)
          }
        }
        const error = yield* Effect.flip(llm.embed({ model: "text-only", input: [[1, 2], [3]] }))
        expect(error).toMatchObject({ _tag: "InvalidRequestError", param: "input" })
        expect(error.message).toContain("token ids")
        expect(error.message).toContain(`google/${model} (text only)`)
        // Texts go to any of them.
        expect((yield* llm.embed({ model: "text-only", input: "hello" })).embeddings).toHaveLength(1)
      }).pipe(Effect.scoped)
  )
})
