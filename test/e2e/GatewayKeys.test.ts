import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { jsonLines, requestLogLines } from "../utils/requestLines.js"

const providerKey = "sk-provider-keys-e2e-0001"
// Read through `env:` by the file's `gateway` section.
const fullKey = "gw-full-3f1c9a7e5b2d4e6f"
process.env["GATEWAY_KEYS_E2E_FULL"] = fullKey
const miniKey = "gw-mini-8a2b4c6d0e1f3a5b"
const tightKey = "gw-tight-1b3d5f7a9c0e2d4f"
const brokeKey = "gw-broke-6e4c2a0f8d6b4a2c"
const adminKey = "gw-admin-9d7b5f3e1c0a8e6d"
const streamerKey = "gw-streamer-2c4e6a8b0d1f3e5a"
const gatewayKeys = [fullKey, miniKey, tightKey, brokeKey, adminKey, streamerKey]

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly lines: ReadonlyArray<string>
}>()("test/GatewayKeysFixture") {}

const simulatorOptions = { apiKeys: [providerKey], replyTokens: 8, models: [...Simulator.defaultModels, "quiet"] }

const configJson = (simulator: Simulator.Simulator) => ({
  sim: [
    { model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 },
    { model_name: "gpt-4o", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }
  ],
  // Answers nothing, ever: a client gives up on it.
  silent: [{
    model_name: "quiet",
    base_url: `${simulator.url}/v1`,
    api_keys: [providerKey],
    max_retries: 0,
    headers: { "x-simulator-fault": "silent=forever" }
  }],
  gateway: {
    keys: [{ name: "full", key: "env:GATEWAY_KEYS_E2E_FULL" }],
    admin_keys: [{ name: "ops", key: adminKey }]
  }
})

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make(simulatorOptions)
    const config = yield* ProviderConfig.fromJson(configJson(simulator))
    const lines: Array<string> = []
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      logRequests: true,
      keys: [
        { name: "mini-only", key: Redacted.make(miniKey), models: ["gpt-4o-mini"] },
        { name: "tight", key: Redacted.make(tightKey), rateLimit: { capacity: 2, refillRate: 0.01 } },
        // $0.0001: a call of "Hello" to gpt-4o-mini (at most 12 prompt tokens: 5 bytes, 4 for the message, 3 for the
        // reply's priming; at $0.15 and $0.60 a million) fits with 100 max_tokens ($0.0000618), not with the default
        // 4,096 ($0.0024594).
        {
          name: "broke",
          key: Redacted.make(brokeKey),
          models: ["gpt-4o-mini"],
          budget: { limit: 0.0001, period: "1 day" }
        },
        {
          name: "streamer",
          key: Redacted.make(streamerKey),
          models: ["gpt-4o-mini"],
          budget: { limit: 0.0001, period: "month", defaultMaxTokens: 3 }
        }
      ]
    }).pipe(Effect.provide(jsonLines(lines)))
    return { gateway, lines }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

// The error a promise rejects with; a promise that resolves fails the test.
const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      () => Promise.reject(new Error("expected the call to be refused")),
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
    )
  )

const client = (gateway: Gateway.Service, apiKey: string) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })

const ask = (model: string) => ({ model, messages: [{ role: "user" as const, content: "Hello" }] })

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway keys, over loopback with the official openai client",
  (it) => {
    it.effect("the right key answers, as a Bearer token or as x-api-key", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const reply = yield* promise(() => client(gateway, fullKey).chat.completions.create(ask("gpt-4o")))
        expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0)
        const viaHeader = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-api-key": miniKey },
            body: JSON.stringify(ask("gpt-4o-mini"))
          })
        )
        expect(viaHeader.status).toBe(200)
      }))

    it.effect(
      "no key or a wrong one is 401 invalid_api_key (AuthenticationError, in Anthropic's shape on " +
        "/v1/messages); /health and /ready need none",
      () =>
        Effect.gen(function*() {
          const { gateway } = yield* Fixture
          const wrong = yield* rejection(() =>
            client(gateway, "gw-not-a-key-0000").chat.completions.create(ask("gpt-4o"))
          )
          expect(wrong).toBeInstanceOf(OpenAI.AuthenticationError)
          expect(wrong.code).toBe("invalid_api_key")
          expect(wrong.message).not.toContain("gw-not-a-key")
          // A provider's key is not a gateway key.
          const provider = yield* rejection(() => client(gateway, providerKey).models.list())
          expect(provider).toBeInstanceOf(OpenAI.AuthenticationError)
          const wrongHeader = yield* promise(() =>
            fetch(`${gateway.url}/v1/models`, { headers: { "x-api-key": "gw-nope-1111" } })
          )
          expect(wrongHeader.status).toBe(401)
          const none = yield* promise(() => fetch(`${gateway.url}/v1/models`))
          expect(none.status).toBe(401)
          expect(((yield* promise(() => none.json())) as { error: { code: string } }).error.code).toBe(
            "invalid_api_key"
          )
          expect(none.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/)
          // On Anthropic's route, in Anthropic's error shape.
          const anthropic = yield* promise(() =>
            fetch(`${gateway.url}/v1/messages`, {
              method: "POST",
              headers: { "content-type": "application/json", "x-api-key": "gw-nope-2222" },
              body: JSON.stringify({ model: "gpt-4o", max_tokens: 16, messages: [{ role: "user", content: "Hello" }] })
            })
          )
          expect(anthropic.status).toBe(401)
          expect(yield* promise(() => anthropic.json())).toMatchObject({
            type: "error",
            error: { type: "authentication_error" }
          })
          expect((yield* promise(() => fetch(`${gateway.url}/health`))).status).toBe(200)
          expect((yield* promise(() => fetch(`${gateway.url}/ready`))).status).toBe(200)
        })
    )

    it.effect("a model the key may not use is 403 model_not_allowed (PermissionDeniedError), naming the model", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const error = yield* rejection(() => client(gateway, miniKey).chat.completions.create(ask("gpt-4o")))
        expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError)
        expect(error.code).toBe("model_not_allowed")
        expect(error.message).toContain("gpt-4o")
        expect(error.message).not.toContain(miniKey)
        expect(error.message).not.toContain("mini-only")
        const streamed = yield* rejection(() =>
          client(gateway, miniKey).chat.completions.create({ ...ask("sim/gpt-4o"), stream: true })
        )
        expect(streamed).toBeInstanceOf(OpenAI.PermissionDeniedError)
      }))

    it.effect("/v1/models lists only the key's models", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const mini = yield* promise(() => client(gateway, miniKey).models.list())
        expect(mini.data.map((model) => model.id)).toEqual(["gpt-4o-mini"])
        const hidden = yield* rejection(() => client(gateway, miniKey).models.retrieve("gpt-4o"))
        expect(hidden).toBeInstanceOf(OpenAI.NotFoundError)
        const full = yield* promise(() => client(gateway, fullKey).models.list())
        expect(full.data.map((model) => model.id)).toEqual(gateway.models)
      }))

    it.effect("the key's own rate limit is 429 with Retry-After (RateLimitError)", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const tight = client(gateway, tightKey)
        yield* promise(() => tight.chat.completions.create(ask("gpt-4o-mini")))
        yield* promise(() => tight.chat.completions.create(ask("gpt-4o-mini")))
        const error = yield* rejection(() => tight.chat.completions.create(ask("gpt-4o-mini")))
        expect(error).toBeInstanceOf(OpenAI.RateLimitError)
        expect(error.code).toBe("rate_limit_exceeded")
        // One token at 0.01 a second: about 100 seconds.
        expect(Number(error.headers?.get("retry-after"))).toBeGreaterThanOrEqual(90)
        // Another key is not held back by it.
        yield* promise(() => client(gateway, fullKey).chat.completions.create(ask("gpt-4o-mini")))
      }))

    it.effect(
      "a budget admits a call whose worst case fits what is left, its reply bound lowered to fit (and said so); a " +
        "call whose least reply does not fit is refused, 429 insufficient_quota, before anything is sent",
      () =>
        Effect.gen(function*() {
          const { gateway } = yield* Fixture
          const broke = client(gateway, brokeKey)
          const fits = yield* promise(() =>
            broke.chat.completions.create({ ...ask("gpt-4o-mini"), max_tokens: 100 }).withResponse()
          )
          expect(fits.response.headers.get("x-llm-max-tokens-lowered")).toBeNull()
          // Without max_tokens it would be sent with 4,096, whose cost ($0.0024594) the budget cannot cover: it is
          // sent with what the rest pays for.
          const lowered = yield* promise(() => broke.chat.completions.create(ask("gpt-4o-mini")).withResponse())
          const header = lowered.response.headers.get("x-llm-max-tokens-lowered")
          expect(header).toMatch(/^\d+; asked=4096; budget_left=0\.0000\d+$/)
          expect(Number(header!.split(";")[0])).toBeLessThan(4096)
          expect(Number(header!.split(";")[0])).toBeGreaterThan(100)
          // 1,000 bytes of prompt are $0.00015 at most: not even a reply of a token fits.
          const long = { model: "gpt-4o-mini", messages: [{ role: "user" as const, content: "x".repeat(1_000) }] }
          const error = yield* rejection(() => broke.chat.completions.create(long))
          expect(error).toBeInstanceOf(OpenAI.RateLimitError)
          expect(error.status).toBe(429)
          expect(error.code).toBe("insufficient_quota")
          expect(error.message).toContain("the smallest call of this request may cost up to $0.000151")
          expect(Number(error.headers?.get("retry-after"))).toBeGreaterThan(0)
          const streamed = yield* rejection(() => broke.chat.completions.create({ ...long, stream: true }))
          expect(streamed.code).toBe("insufficient_quota")
          yield* promise(() => broke.chat.completions.create({ ...ask("gpt-4o-mini"), max_tokens: 100 }))
        })
    )

    it.effect(
      "a budgeted request without max_tokens is sent with the key's default; a stream's real cost is charged " +
        "when it ends",
      () =>
        Effect.gen(function*() {
          const { gateway, lines } = yield* Fixture
          const streamer = client(gateway, streamerKey)
          const { data, response } = yield* promise(() =>
            streamer.chat.completions.create({
              ...ask("gpt-4o-mini"),
              stream: true,
              stream_options: { include_usage: true }
            })
              .withResponse()
          )
          const usage = yield* promise(async () => {
            let last: OpenAI.CompletionUsage | undefined | null
            for await (const chunk of data) last = chunk.usage ?? last
            return last
          })
          // The simulator would answer 8 tokens: it was asked for 3 (`defaultMaxTokens`).
          expect(usage?.completion_tokens).toBe(3)
          // The charge and the stream's log line come together, when the request's scope closes.
          const id = response.headers.get("x-request-id")
          yield* eventually(
            "the stream's log line",
            Effect.sync(() => requestLogLines(lines).find((line) => line.annotations["request_id"] === id)),
            (line) => line !== undefined
          )
          // Its real cost ($0.0000021: 2 prompt and 3 reply tokens) is charged, so a call of $0.0000987 (163
          // max_tokens) no longer fits the $0.0001 and is sent with fewer; with nothing charged it would fit.
          const lowered = yield* promise(() =>
            streamer.chat.completions.create({ ...ask("gpt-4o-mini"), max_tokens: 163 }).withResponse()
          )
          expect(lowered.response.headers.get("x-llm-max-tokens-lowered")).toMatch(/^1[56]\d; asked=163; /)
          const asked = yield* promise(() =>
            streamer.chat.completions.create({ ...ask("gpt-4o-mini"), max_tokens: 150 }).withResponse()
          )
          expect(asked.response.headers.get("x-llm-max-tokens-lowered")).toBeNull()
        })
    )

    it.effect("the gateway keeps names and SHA-256 digests, never a key; isAdmin checks the admin keys", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const sha256 = (key: string) => createHash("sha256").update(key).digest("hex")
        expect(gateway.keys).toEqual([
          { name: "full", sha256: sha256(fullKey), admin: false, models: undefined },
          { name: "mini-only", sha256: sha256(miniKey), admin: false, models: ["gpt-4o-mini"] },
          {
            name: "tight",
            sha256: sha256(tightKey),
            admin: false,
            models: undefined,
            rateLimit: { capacity: 2, refillRate: 0.01 }
          },
          {
            name: "broke",
            sha256: sha256(brokeKey),
            admin: false,
            models: ["gpt-4o-mini"],
            budget: { limit: 0.0001, period: "1 day" }
          },
          {
            name: "streamer",
            sha256: sha256(streamerKey),
            admin: false,
            models: ["gpt-4o-mini"],
            budget: { limit: 0.0001, period: "month", defaultMaxTokens: 3 }
          },
          { name: "ops", sha256: sha256(adminKey), admin: true, models: undefined }
        ])
        const shown = JSON.stringify(gateway.keys)
        for (const key of gatewayKeys) expect(shown).not.toContain(key)
        expect(gateway.isAdmin(Redacted.make(adminKey))).toBe(true)
        expect(gateway.isAdmin(Redacted.make(fullKey))).toBe(false)
        expect(gateway.isAdmin(Redacted.make(`${adminKey}x`))).toBe(false)
        // An admin key is not a gateway key.
        const admin = yield* rejection(() => client(gateway, adminKey).models.list())
        expect(admin).toBeInstanceOf(OpenAI.AuthenticationError)
      }))

    it.effect("one JSON log line per request, with its x-request-id, key name, model and deployment, and no key", () =>
      Effect.gen(function*() {
        const { gateway, lines } = yield* Fixture
        const { response } = yield* promise(() =>
          client(gateway, fullKey).chat.completions.create(ask("gpt-4o-mini")).withResponse()
        )
        const id = response.headers.get("x-request-id")
        const stream = yield* promise(() =>
          client(gateway, fullKey).chat.completions.create({ ...ask("gpt-4o"), stream: true }).withResponse()
        )
        yield* promise(async () => {
          for await (const _ of stream.data) void _
        })
        const streamId = stream.response.headers.get("x-request-id")
        yield* promise(() =>
          fetch(`${gateway.url}/v1/models`, { headers: { authorization: "Bearer gw-wrong-key-5555" } })
        )
        // The stream's line is written when its scope closes, just after its last byte (polled up to 30 s).
        const logged = yield* eventually(
          "the stream's log line",
          Effect.sync(() => requestLogLines(lines).find((line) => line.annotations["request_id"] === streamId)),
          (line) => line !== undefined
        )
        const parsed = requestLogLines(lines)
        const plain = parsed.find((line) => line.annotations["request_id"] === id)!
        expect(plain.annotations).toMatchObject({
          method: "POST",
          path: "/v1/chat/completions",
          status: 200,
          key_name: "full",
          model: "gpt-4o-mini",
          deployment: "sim/gpt-4o-mini",
          completion_tokens: 8
        })
        expect(plain.annotations["latency_ms"]).toBeTypeOf("number")
        expect(plain.annotations["cost"]).toBeGreaterThan(0)
        expect(logged!.annotations).toMatchObject({
          status: 200,
          key_name: "full",
          model: "gpt-4o",
          deployment: "sim/gpt-4o"
        })
        expect(logged!.annotations["first_token_ms"]).toBeTypeOf("number")
        expect(
          parsed.some((line) => line.annotations["status"] === 401 && line.annotations["error"] === "invalid_api_key")
        )
          .toBe(true)
        expect(parsed.some((line) => line.annotations["error"] === "model_not_allowed")).toBe(true)
        // A client that goes away before its answer still gets its line.
        const controller = new AbortController()
        const abandoned = client(gateway, fullKey).chat.completions.create(ask("quiet"), { signal: controller.signal })
        // Gone once its call is in flight at the gateway (the upstream never answers), however long it took to get
        // there.
        yield* eventually(
          "the abandoned call in flight at the gateway",
          Effect.map(gateway.status, (status) => status.details["silent/quiet"]!.inFlight),
          (inFlight) => inFlight === 1
        )
        controller.abort()
        yield* Effect.promise(() => abandoned.catch(() => undefined))
        const gone = yield* eventually(
          "the abandoned call's log line",
          Effect.sync(() => requestLogLines(lines).find((line) => line.annotations["model"] === "quiet")),
          (line) => line !== undefined
        )
        expect(gone!.annotations).toMatchObject({ status: 499, error: "ClientClosed", key_name: "full" })
        for (const line of lines) {
          for (const key of [...gatewayKeys, providerKey, "gw-wrong-key-5555", "gw-not-a-key-0000"]) {
            expect(line).not.toContain(key)
          }
        }
      }))
  }
)

describe("Gateway keys and the listening address", () => {
  const config = Effect.flatMap(
    Simulator.make({ apiKeys: [providerKey] }),
    (simulator) => ProviderConfig.fromJson({ sim: configJson(simulator).sim })
  )

  it.live("with keys the gateway may listen beyond loopback; without, it refuses", () =>
    Effect.gen(function*() {
      const plain = yield* config
      const lines: Array<string> = []
      const refused = yield* Effect.flip(
        Gateway.make({ config: ProviderConfig.gatewayConfig(plain), host: "0.0.0.0", port: 0 })
      )
      expect(refused._tag).toBe("OptionsError")
      expect(refused.message).toContain("host")
      const open = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(plain),
        host: "0.0.0.0",
        port: 0,
        keys: [{ name: "k", key: Redacted.make(miniKey) }]
      }).pipe(Effect.provide(jsonLines(lines)))
      expect(open.host).toBe("0.0.0.0")
      const response = yield* promise(() =>
        fetch(`http://127.0.0.1:${open.port}/v1/models`, { headers: { authorization: `Bearer ${miniKey}` } })
      )
      expect(response.status).toBe(200)
      // Without `logRequests`, nothing is logged per request.
      expect(requestLogLines(lines)).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live(
    "a logger that throws at a streamed request's end leaves nothing held: the stream is closed all the " +
      "same",
    () =>
      Effect.gen(function*() {
        const plain = yield* config
        const throwing = Logger.make((options) => {
          const message = Array.isArray(options.message) ? options.message.join(" ") : String(options.message)
          if (message.includes("request")) throw new Error("the logger broke")
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(plain), port: 0, logRequests: true })
          .pipe(
            Effect.provide(Logger.layer([throwing]))
          )
        const text = yield* promise(() =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "Hello" }] })
          }).then((response) => response.text())
        )
        expect(text).toContain("data: [DONE]")
        // The deployment's in-flight count goes back to none once the request's scope closed its stream.
        yield* eventually(
          "the streamed call no longer in flight",
          Effect.map(gateway.status, (status) => status.details["sim/gpt-4o-mini"]!.inFlight),
          (inFlight) => inFlight === 0
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
  )

  it.live("a key naming a model the configuration lacks, or two keys alike, fail to start", () =>
    Effect.gen(function*() {
      const plain = yield* config
      const unknown = yield* Effect.flip(
        Gateway.make({
          config: ProviderConfig.gatewayConfig(plain),
          port: 0,
          keys: [{ name: "k", key: Redacted.make(miniKey), models: ["gpt-5"] }]
        })
      )
      expect(unknown.message).toContain("keys[0].models[0]")
      const twice = yield* Effect.flip(Gateway.make({
        config: ProviderConfig.gatewayConfig(plain),
        port: 0,
        keys: [{ name: "a", key: Redacted.make(miniKey) }, { name: "b", key: Redacted.make(miniKey) }]
      }))
      expect(twice.message).toContain("keys[1].key")
      expect(twice.message).not.toContain(miniKey)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live(
    "a budget on a name some deployment of which has no price, or a default_max_tokens that is not a positive " +
      "integer, fails to start",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make(simulatorOptions)
        const plain = yield* ProviderConfig.fromJson({
          sim: [{
            model_name: "gpt-4o-mini",
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            groups: ["any"]
          }],
          own: [{
            model_name: "house-model",
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            groups: ["any"]
          }]
        })
        const budget = { limit: 1, period: "1 day" as const }
        const unpriced = (models: ReadonlyArray<string> | undefined) =>
          Effect.flip(
            Gateway.make({
              config: ProviderConfig.gatewayConfig(plain),
              port: 0,
              keys: [{ name: "k", key: Redacted.make(miniKey), models, budget }]
            })
          )
        // "any" reaches house-model, which has no price; so does a key without `models`.
        expect((yield* unpriced(["gpt-4o-mini", "any"])).message).toContain(
          `keys[0].budget must be on priced models only`
        )
        expect((yield* unpriced(["any"])).message).toContain(`got "any"`)
        expect((yield* unpriced(undefined))._tag).toBe("OptionsError")
        const zero = yield* Effect.flip(Gateway.make({
          config: ProviderConfig.gatewayConfig(plain),
          port: 0,
          keys: [{
            name: "k",
            key: Redacted.make(miniKey),
            models: ["gpt-4o-mini"],
            budget: { ...budget, defaultMaxTokens: 0 }
          }]
        }))
        expect(zero.message).toContain("keys[0].budget.defaultMaxTokens")
        // Priced names only: it starts.
        yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(plain),
          port: 0,
          keys: [{ name: "k", key: Redacted.make(miniKey), models: ["gpt-4o-mini"], budget }]
        })
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
  )

  it.live(
    "embeddings are charged to a key's budget: their inputs' worst case reserved first, then the reported " +
      "usage's cost",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          ...simulatorOptions,
          models: [...Simulator.defaultModels, "text-embedding-3-small"]
        })
        // $1,000 a million input tokens: a token is a tenth of a cent, and the key's $0.05 is 50 tokens.
        const config = yield* ProviderConfig.fromJson({
          sim: [{
            model_name: "text-embedding-3-small",
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            max_retries: 0,
            pricing: { input_per_mtok: 1000, output_per_mtok: 0 }
          }]
        })
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          keys: [{ name: "embedder", key: Redacted.make(miniKey), budget: { limit: 0.05, period: "1 day" } }]
        })
        const embedder = client(gateway, miniKey)
        const model = "text-embedding-3-small"
        const before = yield* simulator.stats
        // 60 bytes may be 60 tokens ($0.06): refused before anything is sent.
        const whole = yield* rejection(() => embedder.embeddings.create({ model, input: ["x".repeat(60)] }))
        expect(whole.status).toBe(429)
        expect(whole.code).toBe("insufficient_quota")
        expect(whole.message).toContain("may cost up to $0.06")
        expect((yield* simulator.stats).requests).toBe(before.requests)
        // Two calls of at most 21 tokens each fit; each is charged the tokens the provider reports.
        let tokens = 0
        for (let i = 0; i < 2; i++) {
          const reply = yield* promise(() =>
            embedder.embeddings.create({ model, input: ["alpha beta", "gamma delta"] })
          )
          expect(reply.data).toHaveLength(2)
          tokens += reply.usage.prompt_tokens
        }
        expect(tokens).toBeGreaterThan(0)
        // At most 45 tokens: it would fit an untouched budget, not what is left of it.
        const left = yield* rejection(() => embedder.embeddings.create({ model, input: "y".repeat(45) }))
        expect(left.code).toBe("insufficient_quota")
        expect(left.message).toContain(`has $${Number((0.05 - tokens / 1000).toPrecision(6))} of $0.05 left`)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer()))
  )
})
