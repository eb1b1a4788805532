/**
 * Google's model routes on the gateway (`GET /v1beta/models`, `GET /v1beta/models/{model}`), over loopback with the
 * official `@google/genai` client's `models.list` and `models.get`.
 */
import { expect, layer } from "@effect/vitest"
import { ApiError, GoogleGenAI, type Model } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { get, rejection } from "../utils/gatewayHarness.js"

const providerKey = "sk-gateway-gemini-models-p1"
const fullKey = "sk-gateway-gemini-models-full"
const limitedKey = "sk-gateway-gemini-models-lim"

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  /** `@google/genai` on `v1beta` with a key that may call every name. */
  readonly full: GoogleGenAI
  /** The same with a key limited to one deployment. */
  readonly limited: GoogleGenAI
}>()("test/GatewayGeminiModelsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      models: [...Simulator.defaultModels, "gemini-sim"]
    })
    const deployment = (model: string, api: string, baseUrl: string, groups?: Array<string>) => [{
      model_name: model,
      api,
      base_url: baseUrl,
      api_keys: [providerKey],
      max_retries: 0,
      ...(groups !== undefined ? { groups } : {})
    }]
    const config = yield* ProviderConfig.fromJson({
      sim: deployment("gpt-4o-mini", "chat-completions", `${simulator.url}/v1`, ["fast"]),
      google: deployment("gemini-sim", "gemini", simulator.url, ["fast"])
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      keys: [
        { name: "full", key: Redacted.make(fullKey) },
        { name: "limited", key: Redacted.make(limitedKey), models: ["google/gemini-sim"] }
      ]
    })
    const client = (apiKey: string) =>
      new GoogleGenAI({
        apiKey,
        apiVersion: "v1beta",
        httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
      })
    return { gateway, full: client(fullKey), limited: client(limitedKey) }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

// Every model of `models.list`, page after page.
const listed = (client: GoogleGenAI, pageSize?: number) =>
  promise(async () => {
    const out: Array<Model> = []
    const pager = await client.models.list(pageSize === undefined ? {} : { config: { pageSize } })
    for await (const model of pager) out.push(model)
    return out
  })

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway GET /v1beta/models with @google/genai",
  (it) => {
    it.effect("models.list: every name GET /v1/models lists, as models/<name>, across pages", () =>
      Effect.gen(function*() {
        const { full, gateway } = yield* Fixture
        const names = gateway.models.map((id) => `models/${id}`)
        expect(names).toEqual(
          expect.arrayContaining([
            "models/sim/gpt-4o-mini",
            "models/google/gemini-sim",
            "models/gemini-sim",
            "models/fast"
          ])
        )
        expect((yield* listed(full)).map((model) => model.name)).toEqual(names)
        // Two a page: the client follows the pages' tokens to the end.
        const paged = yield* listed(full, 2)
        expect(paged.map((model) => model.name)).toEqual(names)
        const one = paged.find((model) => model.name === "models/google/gemini-sim")!
        expect(one.displayName).toBe("google/gemini-sim")
        expect(one.supportedActions).toEqual(["generateContent", "streamGenerateContent", "countTokens"])
      }))

    it.effect("models.get: one model, by its name with or without models/; an unknown one is 404", () =>
      Effect.gen(function*() {
        const { full } = yield* Fixture
        const model = yield* promise(() => full.models.get({ model: "sim/gpt-4o-mini" }))
        expect(model.name).toBe("models/sim/gpt-4o-mini")
        expect((yield* promise(() => full.models.get({ model: "models/fast" }))).name).toBe("models/fast")
        const unknown = yield* rejection(() => full.models.get({ model: "nope" }))
        expect(unknown).toBeInstanceOf(ApiError)
        expect((unknown as ApiError).status).toBe(404)
        expect((unknown as ApiError).message).toContain("nope")
      }))

    it.effect("a key limited to some names lists and gets those only", () =>
      Effect.gen(function*() {
        const { limited } = yield* Fixture
        expect((yield* listed(limited)).map((model) => model.name)).toEqual(["models/google/gemini-sim"])
        const hidden = yield* rejection(() => limited.models.get({ model: "sim/gpt-4o-mini" }))
        expect((hidden as ApiError).status).toBe(404)
      }))

    it.effect("without a key, 401 in Google's error shape; a bad page token, 400", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const anonymous = yield* get(gateway, "/v1beta/models")
        expect(anonymous.status).toBe(401)
        expect(JSON.parse(anonymous.text)).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } })
        const bad = yield* get(gateway, "/v1beta/models?pageToken=later", fullKey)
        expect(bad.status).toBe(400)
        expect(JSON.parse(bad.text)).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } })
      }))
  }
)
