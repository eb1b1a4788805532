/**
 * LLM-API-BalancedCall's own endpoints on the gateway, over loopback with `fetch` against the simulator:
 * `POST /llm/chat`, `POST /llm/chat/stream`, `GET /llm/system-load`, `GET /llm/system-capacity` in the seed's
 * shapes, and `GET /llm/model-load/<deployment>` only with the configuration's opt-in and an admin key, keys masked.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { answerOf, get } from "../utils/gatewayHarness.js"

const providerKey = "sk-balanced-call-e2e-7f31"
const gatewayKey = "gw-balanced-5c2e8a1d7b3f"
const adminKey = "gw-balanced-admin-9e4a6c0b2d8f"
const limitedKey = "gw-balanced-limited-4b7d1e9c3a60"

class Fixture extends Context.Service<Fixture, {
  /** Opted in to `model-load`; every deployment answers. */
  readonly open: Gateway.Service
  /** Not opted in; its `held` deployment's streams stall after their first chunks. */
  readonly held: Gateway.Service
}>()("test/GatewayBalancedCallFixture") {}

const gateway = { keys: [{ name: "app", key: gatewayKey }], admin_keys: [{ name: "ops", key: adminKey }] }

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      models: [...Simulator.defaultModels, "held", "broken"]
    })
    const capped = (model: string, extra?: Record<string, unknown>) => ({
      model_name: model,
      base_url: `${simulator.url}/v1`,
      api_keys: [{ key: providerKey, weight: 2, max_concurrency: 4 }],
      max_retries: 0,
      ...extra
    })
    const openConfig = yield* ProviderConfig.fromJson({
      sim: [capped("gpt-4o-mini"), capped("gpt-4o")],
      gateway: {
        ...gateway,
        keys: [...gateway.keys, { name: "limited", key: limitedKey, models: ["gpt-4o"] }],
        model_load_details: true
      }
    })
    const heldConfig = yield* ProviderConfig.fromJson({
      slow: [
        capped("held", { headers: { "x-simulator-fault": "stall=3" } }),
        capped("broken", { headers: { "x-simulator-fault": "stream-error=3" } })
      ],
      gateway
    })
    return {
      open: yield* Gateway.make({ config: ProviderConfig.gatewayConfig(openConfig), port: 0 }),
      held: yield* Gateway.make({ config: ProviderConfig.gatewayConfig(heldConfig), port: 0 })
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const post = (service: Gateway.Service, path: string, body: unknown) =>
  Effect.promise(() =>
    fetch(`${service.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${gatewayKey}`, "content-type": "application/json" },
      body: JSON.stringify(body)
    }).then(answerOf)
  )

const hello = { messages: [{ role: "user", content: "Hello, please introduce yourself" }] }

const capacityKeys = ["current", "endpoint", "keys", "max", "type", "weight"]

layer(fixture)("Gateway: LLM-API-BalancedCall's endpoints", (it) => {
  it.effect("POST /llm/chat answers { result } without a model (balanced over every deployment) and with one", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      for (const body of [hello, { ...hello, model: "gpt-4o" }, { ...hello, tools: [] }]) {
        const answer = yield* post(open, "/llm/chat", body)
        expect(answer.status).toBe(200)
        const json = JSON.parse(answer.text)
        expect(Object.keys(json)).toEqual(["result"])
        expect(typeof json.result).toBe("string")
        expect(json.result.length).toBeGreaterThan(0)
      }
    }))

  it.effect("POST /llm/chat refuses a bad body naming the field, and an unknown model, before any call", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const bad = yield* post(open, "/llm/chat", { messages: [{ role: "wizard", content: "hi" }] })
      expect(bad.status).toBe(400)
      expect(JSON.parse(bad.text).error.param).toBe("messages[0].role")
      const unknown = yield* post(open, "/llm/chat", { ...hello, model: "no-such-model" })
      expect(unknown.status).toBe(404)
      expect(JSON.parse(unknown.text).error.code).toBe("model_not_found")
    }))

  it.effect("POST /llm/chat/stream answers the reply's text as it comes, the same text as /llm/chat", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const streamed = yield* post(open, "/llm/chat/stream", { ...hello, model: "gpt-4o-mini" })
      const whole = yield* post(open, "/llm/chat", { ...hello, model: "gpt-4o-mini" })
      expect(streamed.status).toBe(200)
      expect(streamed.contentType).toBe("text/plain; charset=utf-8")
      expect(streamed.text).not.toContain("data:")
      expect(streamed.text).not.toContain("[error]")
      expect(streamed.text).toBe(JSON.parse(whole.text).result)
    }))

  it.effect("POST /llm/chat/stream that fails mid-way ends with an [error] line, never a clean end", () =>
    Effect.gen(function*() {
      const { held } = yield* Fixture
      const answer = yield* post(held, "/llm/chat/stream", { ...hello, model: "broken" })
      expect(answer.status).toBe(200)
      const last = answer.text.trimEnd().split("\n").at(-1)!
      expect(last.startsWith("[error] ")).toBe(true)
      expect(JSON.parse(last.slice("[error] ".length)).error.message).toBeTypeOf("string")
      expect(answer.text).not.toContain(providerKey)
    }))

  it.effect("GET /llm/system-load and /llm/system-capacity have the seed's shapes, keys masked", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const load = yield* get(open, "/llm/system-load", gatewayKey)
      expect(load.status).toBe(200)
      expect(Object.keys(JSON.parse(load.text))).toEqual(["load_percent"])
      expect(typeof JSON.parse(load.text).load_percent).toBe("number")
      const capacity = yield* get(open, "/llm/system-capacity", gatewayKey)
      expect(capacity.status).toBe(200)
      const json = JSON.parse(capacity.text)
      expect(Object.keys(json)).toEqual(["total_max", "details"])
      // Two deployments, each one key capped at 4 calls in flight.
      expect(json.total_max).toEqual({ concurrency: 8, qps: 0 })
      expect(Object.keys(json.details).sort()).toEqual(["sim/gpt-4o", "sim/gpt-4o-mini"])
      for (const detail of Object.values<Record<string, unknown>>(json.details)) {
        expect(Object.keys(detail).sort()).toEqual(capacityKeys)
        expect(detail).toMatchObject({ type: "concurrency", current: 0, max: 4, weight: 1 })
        // Beyond the seed's fields: where the deployment's calls, and so its keys, go.
        expect(detail.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/)
        const keys = detail.keys as ReadonlyArray<Record<string, unknown>>
        expect(keys).toHaveLength(1)
        expect(Object.keys(keys[0]!)).toEqual(["key", "weight", "current"])
        expect(keys[0]).toMatchObject({ weight: 2, current: 0 })
        expect(keys[0]!.key).toMatch(/^sk-…/)
      }
      expect(capacity.text).not.toContain(providerKey)
      // The endpoints take a gateway key like every other when the gateway has keys.
      expect((yield* get(open, "/llm/system-load")).status).toBe(401)
    }))

  it.effect("to a key limited to some models, system-capacity shows only their deployments, without keys or endpoints", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const capacity = yield* get(open, "/llm/system-capacity", limitedKey)
      expect(capacity.status).toBe(200)
      expect(capacity.text).not.toContain("sk-")
      expect(capacity.text).not.toContain("127.0.0.1")
      const json = JSON.parse(capacity.text)
      expect(Object.keys(json.details)).toEqual(["sim/gpt-4o"])
      expect(json.details["sim/gpt-4o"]).toMatchObject({ keys: [], endpoint: null, max: 4 })
      // The totals are over its deployments alone.
      expect(json.total_max).toEqual({ concurrency: 4, qps: 0 })
      const load = yield* get(open, "/llm/system-load", limitedKey)
      expect(JSON.parse(load.text)).toEqual({ load_percent: 0 })
    }))

  it.effect("system-load and system-capacity count a stream held open, and return to zero once its client leaves", () =>
    Effect.gen(function*() {
      const { held } = yield* Fixture
      const deployment = "slow/held"
      const numbers = Effect.gen(function*() {
        const load = JSON.parse((yield* get(held, "/llm/system-load", gatewayKey)).text).load_percent as number
        const detail = JSON.parse((yield* get(held, "/llm/system-capacity", gatewayKey)).text).details[deployment]
        return { load, current: detail.current as number, key: detail.keys[0].current as number }
      })
      expect(yield* numbers).toEqual({ load: 0, current: 0, key: 0 })
      const client = new AbortController()
      const response = yield* Effect.promise(() =>
        fetch(`${held.url}/llm/chat/stream`, {
          method: "POST",
          headers: { authorization: `Bearer ${gatewayKey}`, "content-type": "application/json" },
          body: JSON.stringify({ ...hello, model: "held" }),
          signal: client.signal
        })
      )
      expect(response.status).toBe(200)
      // Its body read from (locked): a fetch Response collected unread has its body cancelled by undici, which would
      // end the stream at the gateway.
      const reader = response.body!.getReader()
      expect((yield* Effect.promise(() => reader.read())).done).toBe(false)
      // Each endpoint is its own snapshot: polled until both show the state.
      const reaches = (load: number, current: number) =>
        eventually(
          `a load of ${load}% with ${current} in flight`,
          numbers,
          (now) => now.load === load && now.current === current && now.key === current
        )
      // One call in flight of 8 (two deployments, each capped at 4).
      expect(yield* reaches(12.5, 1)).toEqual({ load: 12.5, current: 1, key: 1 })
      client.abort()
      expect(yield* reaches(0, 0)).toEqual({ load: 0, current: 0, key: 0 })
    }))

  it.effect("GET /llm/model-load is 404 while the configuration does not opt in, even to an admin key", () =>
    Effect.gen(function*() {
      const { held } = yield* Fixture
      const answer = yield* get(held, `/llm/model-load/${encodeURIComponent("slow/held")}`, adminKey)
      expect(answer.status).toBe(404)
      expect(JSON.parse(answer.text).error.code).toBe("model_load_disabled")
      expect(answer.text).not.toContain(providerKey)
    }))

  it.effect("GET /llm/model-load, opted in, refuses a caller without an admin key (401, 403)", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      const path = "/llm/model-load/sim/gpt-4o-mini"
      const none = yield* get(open, path)
      expect(none.status).toBe(401)
      const wrong = yield* get(open, path, "gw-not-a-key")
      expect(wrong.status).toBe(403)
      const notAdmin = yield* get(open, path, gatewayKey)
      expect(notAdmin.status).toBe(403)
      expect(JSON.parse(notAdmin.text).error.code).toBe("admin_key_required")
      for (const answer of [none, wrong, notAdmin]) expect(answer.text).not.toContain(providerKey)
    }))

  it.effect("GET /llm/model-load, opted in, with an admin key: the seed's shape, keys masked only", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      for (
        const path of ["/llm/model-load/sim/gpt-4o-mini", `/llm/model-load/${encodeURIComponent("sim/gpt-4o-mini")}`]
      ) {
        const answer = yield* get(open, path, adminKey)
        expect(answer.status).toBe(200)
        expect(answer.text).not.toContain(providerKey)
        const json = JSON.parse(answer.text)
        expect(Object.keys(json).sort()).toEqual(capacityKeys)
        expect(json).toMatchObject({ type: "concurrency", current: 0, max: 4, weight: 1 })
        expect(json.keys).toHaveLength(1)
        expect(json.keys[0]).toMatchObject({ weight: 2, current: 0, max: 4, cooling_until: null, disabled: null })
        expect(json.keys[0].key).toMatch(/^sk-…/)
      }
      const missing = yield* get(open, "/llm/model-load/sim/no-such", adminKey)
      expect(missing.status).toBe(404)
      expect(JSON.parse(missing.text).error.message).toContain("sim/gpt-4o-mini")
    }))

  it.effect("GET /llm/model-load of a name over 256 bytes is 400 model_too_long naming the bound, never echoed", () =>
    Effect.gen(function*() {
      const { open } = yield* Fixture
      // 257 bytes is refused, 256 is looked up (and not found).
      for (const [name, status] of [["m".repeat(257), 400], ["m".repeat(256), 404], ["é".repeat(129), 400]] as const) {
        const answer = yield* get(open, `/llm/model-load/${encodeURIComponent(name)}`, adminKey)
        expect(answer.status, name).toBe(status)
        if (status === 400) {
          const error = JSON.parse(answer.text).error
          expect(error.code).toBe("model_too_long")
          expect(error.message).toContain(`is ${Buffer.byteLength(name)} bytes long`)
          expect(error.message).toContain("at most 256 bytes")
          expect(answer.text).not.toContain(name)
        }
      }
      // A name that fills most of a request line is not repeated either.
      const huge = "x".repeat(12_000)
      const answer = yield* get(open, `/llm/model-load/${huge}`, adminKey)
      expect(answer.status).toBe(400)
      expect(answer.text.length).toBeLessThan(1_000)
    }))
})

describe("Gateway.Options.modelLoadDetails", () => {
  it.effect("the gateway section's model_load_details must be a boolean, named by path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", api_keys: [providerKey] }],
        gateway: { ...gateway, model_load_details: "yes" }
      }))
      expect(error.message).toContain("gateway.model_load_details")
    }))

  it.effect("overrides the configuration's opt-in", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const config = yield* ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
        gateway: { ...gateway, model_load_details: true }
      })
      const off = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        modelLoadDetails: false
      })
      expect((yield* get(off, "/llm/model-load/sim/gpt-4o-mini", adminKey)).status).toBe(404)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})
