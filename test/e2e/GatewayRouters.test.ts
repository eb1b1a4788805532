/**
 * The gateway's live figures count the calls sent through the routers of provider.json's `router` section as they
 * count those sent by model name: over loopback with `fetch` against the simulator, `/llm/system-load`,
 * `/llm/system-capacity`, `/metrics` and `/dashboard/data` while streams through a named router are held open, after
 * calls through one, and once a named router's breaker opens.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Gateway from "../../src/Gateway.js"
import * as LlmTest from "../../src/LlmTest.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { get, testAdminKey, testAdmins } from "../utils/gatewayHarness.js"

const providerKey = "sk-gateway-routers-3d8e1a6f"

const hello = { messages: [{ role: "user", content: "Hello, please introduce yourself" }] }

// `held` holds its streams open after three chunks, for longer than the test may run (its deployment's idle timeout,
// 30 s by default, would cut them while a loaded machine opens and reads them); `down` answers 503; each key takes 4
// calls at once.
const serve = Effect.gen(function*() {
  const simulator = yield* Simulator.make({
    apiKeys: [providerKey],
    replyTokens: 8,
    models: [...Simulator.defaultModels, "held", "down"]
  })
  const deployment = (model: string, fault?: string) => ({
    model_name: model,
    base_url: `${simulator.url}/v1`,
    api_keys: [{ key: providerKey, max_concurrency: 4 }],
    max_retries: 0,
    idle_timeout: 600,
    ...(fault === undefined ? {} : { headers: { "x-simulator-fault": fault } })
  })
  const config = yield* ProviderConfig.fromJson({
    sim: [deployment("held", "stall=3"), deployment("gpt-4o-mini"), deployment("down", "status=503;retry-after=none")],
    router: {
      main: { deployments: ["held"] },
      fast: { deployments: ["gpt-4o-mini"], strategy: "priority" },
      flaky: { deployments: ["down"], cooldown: { failures: 3 } }
    }
  })
  return yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, adminKeys: testAdmins })
})

const post = (gateway: Gateway.Service, path: string, body: unknown, signal?: AbortSignal) =>
  Effect.promise(() =>
    fetch(`${gateway.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      ...(signal === undefined ? {} : { signal })
    })
  )

const json = (gateway: Gateway.Service, path: string) =>
  Effect.map(get(gateway, path, testAdminKey), (answer) => JSON.parse(answer.text))

// The in-flight gauge of `deployment` in `/metrics`.
const inFlightGauge = (text: string, deployment: string): number | undefined => {
  const line = text.split("\n").find((line) => line.startsWith(`llm_gateway_in_flight{deployment="${deployment}"}`))
  return line === undefined ? undefined : Number(line.split(" ").at(-1))
}

const breakerGauge = (text: string, deployment: string): number | undefined => {
  const line = text.split("\n").find((line) => line.startsWith(`llm_gateway_breaker_state{deployment="${deployment}"}`))
  return line === undefined ? undefined : Number(line.split(" ").at(-1))
}

const dashboardOf = (gateway: Gateway.Service, deployment: string) =>
  Effect.map(
    json(gateway, "/dashboard/data"),
    (data) => (data.deployments as ReadonlyArray<Record<string, unknown>>).find((entry) => entry.name === deployment)!
  )

// Every figure of one deployment's calls in flight, each endpoint read once.
const figures = (gateway: Gateway.Service, deployment: string) =>
  Effect.gen(function*() {
    const load = (yield* json(gateway, "/llm/system-load")).load_percent as number
    const current = (yield* json(gateway, "/llm/system-capacity")).details[deployment].current as number
    const metric = inFlightGauge((yield* get(gateway, "/metrics", testAdminKey)).text, deployment)
    const dashboard = (yield* dashboardOf(gateway, deployment)).inFlight as number
    return { load, current, metric, dashboard }
  })

// Each reading is four requests: read less often than `eventually`'s default, so that a state that never comes is
// named with what was last read before the test's own timeout cuts it short.
const readings = { every: "50 millis", within: "20 seconds" } as const

describe("Gateway: the figures count calls through provider.json's routers", () => {
  it.live(
    "streams held open through router `main`: system-load, system-capacity, the in-flight gauge and the dashboard " +
      "count them",
    () =>
      Effect.gen(function*() {
        const gateway = yield* serve
        const deployment = "sim/held"
        expect(yield* figures(gateway, deployment)).toEqual({ load: 0, current: 0, metric: 0, dashboard: 0 })
        const client = new AbortController()
        // The responses are kept until the abort: a fetch Response collected unread has its body cancelled by undici,
        // which would end its stream at the gateway.
        const open: Array<Response> = []
        for (let i = 0; i < 3; i++) {
          open.push(yield* post(gateway, "/llm/chat/stream", { ...hello, model: "main" }, client.signal))
        }
        expect(open.map((response) => response.status)).toEqual([200, 200, 200])
        // Each endpoint is its own snapshot: polled until all show the state. Three calls in flight of 12 (three
        // deployments, each capped at 4).
        const held = yield* eventually(
          "three streams through `main` counted everywhere",
          figures(gateway, deployment),
          (now) => now.load === 25 && now.current === 3 && now.metric === 3 && now.dashboard === 3,
          readings
        )
        expect(held).toEqual({ load: 25, current: 3, metric: 3, dashboard: 3 })
        client.abort()
        open.length = 0
        const freed = yield* eventually(
          "the streams freed",
          figures(gateway, deployment),
          (now) => now.load === 0 && now.current === 0 && now.metric === 0 && now.dashboard === 0,
          readings
        )
        expect(freed).toEqual({ load: 0, current: 0, metric: 0, dashboard: 0 })
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "calls through router `fast` are the dashboard's requests of their deployment, as calls by model name are",
    () =>
      Effect.gen(function*() {
        const gateway = yield* serve
        const deployment = "sim/gpt-4o-mini"
        const before = (yield* dashboardOf(gateway, deployment)).requests as number
        for (const model of ["fast", "fast", "fast", "fast", "fast", "gpt-4o-mini", "sim/gpt-4o-mini"]) {
          const response = yield* post(gateway, "/llm/chat", { ...hello, model })
          expect(response.status).toBe(200)
          yield* Effect.promise(() => response.text())
        }
        const after = yield* dashboardOf(gateway, deployment)
        expect((after.requests as number) - before).toBe(7)
        expect(after.failures).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "router `flaky`'s breaker, opened by its failures, is the deployment's breaker gauge and the dashboard's",
    () =>
      Effect.gen(function*() {
        const gateway = yield* serve
        const deployment = "sim/down"
        expect(breakerGauge((yield* get(gateway, "/metrics", testAdminKey)).text, deployment)).toBe(0)
        for (let i = 0; i < 3; i++) {
          const response = yield* post(gateway, "/v1/chat/completions", { ...hello, model: "flaky" })
          expect(response.status).toBe(503)
          yield* Effect.promise(() => response.text())
        }
        expect(breakerGauge((yield* get(gateway, "/metrics", testAdminKey)).text, deployment)).toBe(2)
        const dashboard = yield* dashboardOf(gateway, deployment)
        expect(dashboard).toMatchObject({ breaker: "open", requests: 3, failures: 3 })
        expect((yield* gateway.status).details[deployment]!.cooldown.state).toBe("open")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})

describe("Gateway: served from plain records", () => {
  it.live(
    "a Config written by hand, without a provider.json: its deployments by name, model and group, its named router; " +
      "a named router listing a deployment there is not is an OptionsError",
    () =>
      Effect.gen(function*() {
        const config: Gateway.Config = {
          deployments: () =>
            Effect.succeed([
              { name: "a/m", model: "m", groups: ["g"], llm: LlmTest.layer([LlmTest.reply("from a")]) },
              { name: "b/m", model: "m", llm: LlmTest.layer([LlmTest.reply("from b")]) }
            ]),
          routers: { second: { deployments: ["b/m"], options: { strategy: "priority" } } }
        }
        const gateway = yield* Gateway.make({ config, port: 0 })
        expect(gateway.models).toEqual(["second", "a/m", "b/m", "m", "g"])
        const answer = yield* post(gateway, "/llm/chat", { ...hello, model: "second" })
        expect(yield* Effect.promise(() => answer.json())).toEqual({ result: "from b" })
        const wrong = yield* Effect.flip(Gateway.make({
          config: { ...config, routers: { second: { deployments: ["c/m"], options: {} } } },
          port: 0
        }))
        expect(wrong._tag === "OptionsError" && [wrong.option, wrong.message]).toEqual([
          "config.routers.second.deployments",
          "Gateway: config.routers.second.deployments must be the name of a deployment, got \"c/m\""
        ])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
