/**
 * docs/store.md's recipe for several gateway instances, run as written (its provider.json and its `serve` command read
 * from the page): one provider.json naming a redis-server and a Postgres database (real ones) and an admin key, each
 * read from the environment, and two `serve` processes started with it beyond loopback, each on a free port. A key
 * made through the admin API of one is accepted by the other, and a request without a key is refused by both, before
 * and after any key exists. Then what the recipe guards against: a gateway sharing Redis refuses to start (or to
 * reload) without a way to have keys; keys made at run time in a SQLite file of one instance's own are refused (409);
 * `gateway.allow_keyless` is what lets such a gateway answer without a key.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import OpenAI from "openai"
import * as Serve from "../../src/cli/serve.js"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, call, chatWithoutKey, configJson, configKey, gatewayOn, providerKey } from "../utils/adminApi.js"
import { awaitFirstLine, envWithoutKeys, startCli, startInProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { postgresServer } from "../utils/postgresServer.js"
import { redisServer } from "../utils/redisServer.js"
import { providerFile } from "../utils/serveCluster.js"

/** A chat through the gateway at `url` with the official client: 200, or the refusal's status. */
const chat = (url: string, key: string) =>
  Effect.promise(() =>
    new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 }).chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 10
    }).then(() => 200, (error: { readonly status?: number }) => error.status ?? 0)
  )

/** A chat with no key at all (no `Authorization` header): its status. */
const keyless = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 10 })
    }).then(async (response) => {
      await response.text()
      return response.status
    })
  )

/** docs/store.md's recipe: its provider.json and its `serve` command's arguments, as the page writes them. */
const recipe = () => {
  const page = fs.readFileSync(path.resolve(import.meta.dirname, "../../docs/store.md"), "utf8")
  const section = page.slice(page.indexOf("## Several gateways: the recipe"))
  const json = /```json\n([\s\S]*?)```/.exec(section)![1]!
  const command = section.split("\n").find((line) => line.startsWith("npx effect-llm-router serve "))!
  return {
    provider: JSON.parse(json) as { readonly openai: ReadonlyArray<Record<string, unknown>> },
    serve: command.replace("npx effect-llm-router ", "").split(" ")
  }
}

const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "scale-out-recipe-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("docs/store.md's recipe: instances sharing Redis and Postgres", () => {
  it.live(
    "a key made on one instance is accepted on the other; a request without a key is refused on both",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const postgres = yield* postgresServer
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        // The recipe's provider.json, its provider pointed at the simulator.
        const { provider, serve } = recipe()
        expect(serve).toEqual(["serve", "--config", "provider.json", "--host", "0.0.0.0", "--port", "4000"])
        const file = yield* providerFile({
          ...provider,
          openai: provider.openai.map((entry) => ({ ...entry, base_url: `${simulator.url}/v1` }))
        })
        const env = {
          ...envWithoutKeys(),
          REDIS_URL: redis.url,
          DATABASE_URL: yield* postgres.database("recipe"),
          GATEWAY_ADMIN_KEY: adminKey,
          OPENAI_API_KEY: providerKey
        }
        const start = Effect.gen(function*() {
          // Each instance on a free port of its own: both run on this machine.
          const args = serve.map((arg) => arg === "provider.json" ? file : arg === "4000" ? "0" : arg)
          const running = yield* startCli(args, {
            env,
            timeoutMs: 170_000
          })
          const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
          expect(url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/)
          yield* eventually(
            "serve's banner",
            Effect.sync(running.stderr),
            (stderr) => stderr.includes("gateway listening")
          )
          expect(running.stderr()).toContain(
            "every request but /health, /ready and the dashboard needs a gateway key (none is configured: make them " +
              "with the admin API)"
          )
          return url.replace("0.0.0.0", "127.0.0.1")
        })
        const [one, other] = yield* Effect.all([start, start], { concurrency: 2 })

        // No key exists yet: neither instance answers without one.
        expect(yield* keyless(one!)).toBe(401)
        expect(yield* keyless(other!)).toBe(401)

        const made = yield* call(one!, "POST", "/admin/keys", { name: "alice" })
        expect(made.status).toBe(201)
        const key = made.body.key!
        expect(yield* chat(one!, key)).toBe(200)
        yield* eventually("the other instance accepts the key", chat(other!, key), (status) => status === 200, {
          every: "50 millis",
          within: "2 seconds"
        })
        expect(yield* keyless(one!)).toBe(401)
        expect(yield* keyless(other!)).toBe(401)
        expect(yield* chat(other!, "elr-not-a-key")).toBe(401)
        // The key is the same on both: listed by either.
        const listed = yield* call(other!, "GET", "/admin/keys")
        expect(listed.body.data?.map((entry) => entry.name)).toEqual(["alice"])
      }),
    180_000
  )
})

describe("what the recipe guards against", () => {
  it.live(
    "serve sharing Redis with neither gateway keys nor a shared database refuses to start, naming allow_keyless; " +
      "with it, serves without a key and says so",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const data = yield* temporaryDirectory
        const file = yield* providerFile({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
          store: { redis: redis.url }
        })
        const running = yield* startInProcess((io) =>
          Serve.run(["--config", file, "--port", "0", "--data", path.join(data, "one")], io)
        )
        const exit = yield* Fiber.join(running.exited)
        expect(exit.code).toBe(2)
        expect(running.stdout()).toBe("")
        expect(running.stderr()).toContain("store must be absent without gateway keys")
        expect(running.stderr()).toContain("SQLite file of this instance's own")
        expect(running.stderr()).toContain("gateway.allow_keyless")

        // Told to, the same serve starts, says so, and answers without a key.
        const allowed = yield* providerFile({
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
          store: { redis: redis.url },
          gateway: { allow_keyless: true }
        })
        const serving = yield* startInProcess((io) =>
          Serve.run(["--config", allowed, "--port", "0", "--data", path.join(data, "two")], io)
        )
        const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
        yield* eventually("serve's banner", Effect.sync(serving.stderr), (stderr) => stderr.includes("listening"))
        expect(serving.stderr()).toContain(
          "on 127.0.0.1: no gateway keys, and gateway.allow_keyless serves every request without one."
        )
        yield* eventually("an answer without a key", keyless(url), (status) => status === 200)
      }),
    60_000
  )

  it.live(
    "with Redis and a SQLite file of its own, keys and teams made at run time are refused (409); a key made there " +
      "before keeps working on that instance alone, and a request without a key is refused",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const database = { sqlite: path.join(yield* temporaryDirectory, "gateway.db") }
        const adminOnly = { gateway: { admin_keys: [{ name: "ops", key: adminKey }] } }
        // Made while the instance stood alone, with no store.
        const earlier = yield* Effect.scoped(Effect.gen(function*() {
          const alone = yield* gatewayOn(simulator, database, adminOnly)
          const made = yield* call(alone.url, "POST", "/admin/keys", { name: "earlier" })
          expect(made.status).toBe(201)
          return made.body
        }))

        const gateway = yield* gatewayOn(simulator, database, {
          ...adminOnly,
          store: { redis: redis.url, command_timeout: 2 }
        })
        expect(gateway.keysRequired).toBe(true)
        // Once it has reached Redis (it connects in the background), where the key's limits are.
        yield* eventually("the earlier key answered", chat(gateway.url, earlier.key!), (status) => status === 200)
        expect((yield* chatWithoutKey(gateway)).status).toBe(401)
        for (
          const [method, route, body] of [
            ["POST", "/admin/keys", { name: "later" }],
            ["POST", "/admin/teams", { name: "research" }],
            ["POST", `/admin/keys/${earlier.id!}/rotate`, {}]
          ] as const
        ) {
          const refused = yield* call(gateway.url, method, route, body)
          expect({ route, status: refused.status, code: refused.body.error?.code }).toEqual({
            route,
            status: 409,
            code: "shared_database_required"
          })
          expect(refused.body.error?.message).toContain("Postgres")
        }
        // Nothing was made: the earlier key is the only one, and it can still be revoked.
        const listed = yield* call(gateway.url, "GET", "/admin/keys")
        expect(listed.body.data?.filter((entry) => !entry.read_only).map((entry) => entry.name)).toEqual(["earlier"])
        expect((yield* call(gateway.url, "DELETE", `/admin/keys/${earlier.id!}`)).status).toBe(200)
        expect(yield* chat(gateway.url, earlier.key!)).toBe(401)
      }),
    60_000
  )

  it.live(
    "gateway.allow_keyless: a gateway sharing Redis, or listening beyond loopback, without keys answers without one",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const keylessConfig = { gateway: { allow_keyless: true } }
        const shared = yield* gatewayOn(simulator, undefined, { ...keylessConfig, store: { redis: redis.url } })
        expect(shared.keysRequired).toBe(false)
        yield* eventually("an answer without a key", keyless(shared.url), (status) => status === 200)

        const refusedStart = yield* Effect.flip(
          gatewayOn(simulator, undefined, { gateway: {}, store: { redis: redis.url } })
        )
        expect(refusedStart._tag).toBe("OptionsError")
        expect(refusedStart.message).toContain("gateway.allow_keyless")

        const beyond = yield* gatewayOn(simulator, { sqlite: path.join(yield* temporaryDirectory, "gateway.db") }, {
          ...keylessConfig
        }, "0.0.0.0")
        expect(beyond.keysRequired).toBe(false)
        expect(yield* keyless(beyond.url.replace("0.0.0.0", "127.0.0.1"))).toBe(200)
        const closed = yield* Effect.flip(
          gatewayOn(
            simulator,
            { sqlite: path.join(yield* temporaryDirectory, "gateway.db") },
            { gateway: {} },
            "0.0.0.0"
          )
        )
        expect(closed._tag === "OptionsError" && closed.option).toBe("host")
      }),
    60_000
  )

  it.live(
    "a reload that would leave a gateway sharing Redis without any key is refused; the running configuration serves on",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const store = { redis: redis.url, command_timeout: 2 }
        const admin = [{ name: "ops", key: adminKey }]
        const file = (gateway: object) =>
          Effect.map(
            ProviderConfig.fromJson(configJson(simulator, { store, gateway })),
            ProviderConfig.gatewayConfig
          )
        const withKey = yield* file({ keys: [{ name: "fixed", key: configKey }], admin_keys: admin })
        let next = withKey
        const http = yield* Layer.build(UndiciHttpClient.layer())
        const gateway = yield* Effect.provideContext(
          Gateway.make({
            config: withKey,
            source: Effect.sync(() => next),
            port: 0,
            database: { sqlite: path.join(yield* temporaryDirectory, "gateway.db") }
          }),
          http
        )
        yield* eventually("the key answered", chat(gateway.url, configKey), (status) => status === 200)
        next = yield* file({ admin_keys: admin })
        const refused = yield* Effect.flip(gateway.reload)
        expect(refused._tag).toBe("OptionsError")
        expect(refused.message).toContain("Gateway: store must be absent without gateway keys")
        expect(refused.message).toContain("gateway.allow_keyless")
        expect(yield* chat(gateway.url, configKey)).toBe(200)
        expect(yield* keyless(gateway.url)).toBe(401)
        // Told to, the same file without keys is served, and answers without a key.
        next = yield* file({ admin_keys: admin, allow_keyless: true })
        yield* gateway.reload
        expect(gateway.keysRequired).toBe(false)
        expect(yield* keyless(gateway.url)).toBe(200)
      }),
    60_000
  )
})
