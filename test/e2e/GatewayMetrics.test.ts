import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { testAdminKey, testAdmins } from "../utils/gatewayHarness.js"
import { type Sample, scrape, valueOf } from "../utils/prometheus.js"

const key = "sk-gateway-metrics-key-0001"
const clientKey = "sk-client-side-key-0002"

const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() => f().then(() => undefined, (error: unknown) => error))

const chat = "/v1/chat/completions"
const sim = "sim/gpt-4o-mini"
const down = "down/gpt-4o-mini"

describe("Gateway GET /metrics over loopback", () => {
  it.live(
    "counts requests, errors, tokens and cost; times them; reads in flight, keys and breakers at scrape",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          apiKeys: [key],
          replyTokens: 8,
          models: [...Simulator.defaultModels, "text-embedding-3-small"]
        })
        const healthy = { base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }
        const config = yield* ProviderConfig.fromJson({
          sim: [
            // A bucket that barely refills: each call takes one of its 100 tokens.
            { model_name: "gpt-4o-mini", ...healthy, rate_limit_capacity: 100, rate_limit_refill_rate: 0.001 },
            { model_name: "text-embedding-3-small", ...healthy }
          ],
          down: [{
            model_name: "gpt-4o-mini",
            ...healthy,
            headers: { "x-simulator-fault": "status=503;retry-after=none" }
          }],
          broken: [{ model_name: "gpt-4o-mini", ...healthy, headers: { "x-simulator-fault": "stream-error=3" } }],
          stall: [{ model_name: "gpt-4o-mini", ...healthy, headers: { "x-simulator-fault": "stall=2" } }]
        })
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          adminKeys: testAdmins
        })
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: clientKey, maxRetries: 0 })
        const before = (yield* scrape(gateway.url, testAdminKey)).samples
        const delta = (name: string, labels: Record<string, string> = {}) => (after: ReadonlyArray<Sample>) =>
          valueOf(after, name, labels) - valueOf(before, name, labels)

        const ask = { model: sim, messages: [{ role: "user" as const, content: "Hello there" }] }
        const first = yield* Effect.promise(() => client.chat.completions.create(ask))
        const second = yield* Effect.promise(() => client.chat.completions.create(ask))
        const streamedUsage = yield* Effect.promise(async () => {
          const stream = await client.chat.completions.create({
            ...ask,
            stream: true,
            stream_options: { include_usage: true }
          })
          let usage: OpenAI.CompletionUsage | undefined
          for await (const chunk of stream) usage = chunk.usage ?? usage
          return usage!
        })
        const embedded = yield* Effect.promise(() =>
          client.embeddings.create({ model: "sim/text-embedding-3-small", input: ["one", "two"] })
        )
        // Three provider failures: the deployment's breaker (3 failures by default) opens.
        for (let i = 0; i < 3; i++) {
          const error = yield* rejection(() => client.chat.completions.create({ ...ask, model: down }))
          expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(503)
        }
        // A stream that breaks after it started: 200, then an error event the client raises.
        const broken = yield* rejection(async () => {
          const stream = await client.chat.completions.create({ ...ask, model: "broken/gpt-4o-mini", stream: true })
          for await (const _ of stream) { /* drained */ }
        })
        expect(broken).toBeInstanceOf(OpenAI.APIError)
        const missing = yield* rejection(() => client.chat.completions.create({ ...ask, model: "no-such-model" }))
        expect((missing as InstanceType<typeof OpenAI.NotFoundError>).status).toBe(404)

        // A stream held open upstream: in flight at the deployment and its key while it lasts, then freed.
        const stall = "stall/gpt-4o-mini"
        const gauges = (samples: ReadonlyArray<Sample>) => [
          valueOf(samples, "llm_gateway_in_flight", { deployment: stall }),
          samples.find((sample) => sample.name === "llm_gateway_key_in_flight" && sample.labels["deployment"] === stall)
            ?.value
        ]
        const abort = new AbortController()
        const stalled = yield* Effect.promise(() =>
          client.chat.completions.create({ ...ask, model: stall, stream: true }, { signal: abort.signal })
        )
        yield* Effect.promise(() => stalled[Symbol.asyncIterator]().next())
        expect(gauges((yield* scrape(gateway.url, testAdminKey)).samples)).toEqual([1, 1])
        abort.abort()
        const freed = yield* Effect.gen(function*() {
          for (let i = 0; i < 500; i++) {
            const samples = (yield* scrape(gateway.url, testAdminKey)).samples
            if (gauges(samples)[0] === 0) return gauges(samples)
            yield* Effect.sleep("10 millis")
          }
          return undefined
        })
        expect(freed).toEqual([0, 0])

        const { samples: after, text } = yield* scrape(gateway.url, testAdminKey)
        const requests = (model: string, status: string, route = chat) =>
          delta("llm_gateway_requests_total", { route, model, status })(after)
        expect(requests(sim, "200")).toBe(3)
        expect(requests("sim/text-embedding-3-small", "200", "/v1/embeddings")).toBe(1)
        expect(requests(down, "503")).toBe(3)
        expect(requests("broken/gpt-4o-mini", "200")).toBe(1)
        expect(requests("(unknown)", "404")).toBe(1)
        // The three 503s, and the error event of the broken stream (the provider's own error mid-stream).
        const errors = after.filter((sample) => sample.name === "llm_gateway_errors_total")
        expect(errors.map((sample) => [sample.labels["tag"], sample.value])).toEqual([["ProviderUnavailableError", 4]])

        const usages = [first.usage!, second.usage!, streamedUsage]
        const input = usages.reduce((sum, usage) => sum + usage.prompt_tokens, 0)
        const output = usages.reduce((sum, usage) => sum + usage.completion_tokens, 0)
        expect(output).toBe(24)
        expect(delta("llm_gateway_tokens_total", { model: sim, direction: "input" })(after)).toBe(input)
        expect(delta("llm_gateway_tokens_total", { model: sim, direction: "output" })(after)).toBe(output)
        expect(delta("llm_gateway_tokens_total", { model: "sim/text-embedding-3-small", direction: "input" })(after))
          .toBe(embedded.usage.prompt_tokens)
        // gpt-4o-mini's built-in price: $0.15 and $0.60 per million input and output tokens.
        expect(delta("llm_gateway_cost_usd_total", { model: sim })(after)).toBeCloseTo(
          (input * 0.15 + output * 0.6) / 1e6,
          12
        )

        const durations = (model: string) =>
          delta("llm_gateway_request_duration_seconds_count", { route: chat, model })(after)
        expect(durations(sim)).toBe(3)
        expect(durations(down)).toBe(3)
        expect(durations("broken/gpt-4o-mini")).toBe(1)
        // The stream its client left is timed too, when its request's scope closes.
        expect(durations("stall/gpt-4o-mini")).toBe(1)
        expect(delta("llm_gateway_request_duration_seconds_bucket", { route: chat, model: sim, le: "+Inf" })(after))
          .toBe(3)
        expect(delta("llm_gateway_time_to_first_token_seconds_count", { model: sim })(after)).toBe(1)
        expect(delta("llm_gateway_time_to_first_token_seconds_count", { model: "broken/gpt-4o-mini" })(after)).toBe(1)

        // The gauges: nothing in flight once every answer is out; one series per deployment and per masked key.
        const inFlight = after.filter((sample) => sample.name === "llm_gateway_in_flight")
        expect(inFlight.map((sample) => sample.labels["deployment"]).sort()).toEqual(
          ["broken/gpt-4o-mini", down, "sim/gpt-4o-mini", "sim/text-embedding-3-small", "stall/gpt-4o-mini"]
        )
        expect(inFlight.every((sample) => sample.value === 0)).toBe(true)
        const keys = after.filter((sample) => sample.name === "llm_gateway_key_in_flight")
        expect(keys.length).toBe(5)
        for (const sample of keys) {
          expect(sample.value).toBe(0)
          expect(sample.labels["key"]).toMatch(/^sk-…[0-9a-zA-Z]{4}#[0-9a-f]{4}$/)
        }
        expect(valueOf(after, "llm_gateway_breaker_state", { deployment: down })).toBe(2)
        expect(valueOf(after, "llm_gateway_breaker_state", { deployment: sim })).toBe(0)
        const tokens = valueOf(after, "llm_gateway_limiter_tokens", { deployment: sim })
        expect(tokens).toBeGreaterThanOrEqual(97)
        expect(tokens).toBeLessThan(97.1)
        expect(valueOf(after, "llm_gateway_limiter_waiting", { deployment: sim })).toBe(0)
        // Only a deployment with a rate limit has the limiter's gauges.
        expect(after.filter((sample) => sample.name === "llm_gateway_limiter_tokens").length).toBe(1)

        expect(text).not.toContain(key)
        expect(text).not.toContain(clientKey)
        expect(text).toContain("# TYPE llm_gateway_request_duration_seconds histogram")
        expect(text).toContain("# TYPE llm_gateway_requests_total counter")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "one gateway's metrics are its own: a second gateway in the process starts from zero",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 4 })
        const config = yield* ProviderConfig.fromJson({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }]
        })
        const one = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          adminKeys: testAdmins
        })
        const two = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          adminKeys: testAdmins
        })
        const client = new OpenAI({ baseURL: `${one.url}/v1`, apiKey: clientKey, maxRetries: 0 })
        yield* Effect.promise(() =>
          client.chat.completions.create({ model: sim, messages: [{ role: "user", content: "Hi" }] })
        )
        const labels = { route: chat, model: sim, status: "200" }
        expect(valueOf((yield* scrape(one.url, testAdminKey)).samples, "llm_gateway_requests_total", labels)).toBe(1)
        expect(valueOf((yield* scrape(two.url, testAdminKey)).samples, "llm_gateway_requests_total", labels)).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
