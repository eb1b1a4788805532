/**
 * The gateway's own keys across three `serve` processes on one redis-server
 * and one simulator: a key's rate limit holds across the three as one bucket,
 * and a key's budget is never passed by the real spend of 200 concurrent calls
 * spread over them (each call reserving its worst case first). And one Redis
 * connection per gateway, however many deployments and routers it has.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createClient } from "redis"
import { Agent, request } from "undici"
import * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as Store from "../../src/Store.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { arrivalGrants, overRunBound, overWindowBound } from "../utils/bucketBound.js"
import { eventually } from "../utils/eventually.js"
import { type RedisServer, redisServer } from "../utils/redisServer.js"
import { deliverySlackMillis, providerFile, serve } from "../utils/serveCluster.js"

const providerKey = "sk-scale-out-keys-0001"
const limitedKey = "gw-scale-out-limited-7a1c"
const budgetedKey = "gw-scale-out-budgeted-3e9d"
const bucket = { capacity: 10, refillRate: 40 }
const limit = 0.01
const replyTokens = 800
const maxTokens = 1000

const agent = new Agent({ connections: 128, pipelining: 1 })

interface Answer {
  readonly status: number
  readonly retryAfter: string | undefined
  readonly body: string
}

const post = (url: string, key: string, payload: object): Promise<Answer> =>
  request(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify(payload),
    dispatcher: agent,
    headersTimeout: 60_000,
    bodyTimeout: 60_000
  }).then(async (response) => {
    const retryAfter = response.headers["retry-after"]
    return {
      status: response.statusCode,
      retryAfter: typeof retryAfter === "string" ? retryAfter : undefined,
      body: await response.body.text()
    }
  })

/** `count` requests at once, request `i` to `urls[i % n]` with `payload(i)`. */
const load = (urls: ReadonlyArray<string>, key: string, count: number, payload: (i: number) => object) =>
  Effect.promise(() =>
    Promise.all(Array.from({ length: count }, (_, i) => post(urls[i % urls.length]!, key, payload(i))))
  )

const hello = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] }

/** Three `serve` processes over one provider.json with a store on a fresh redis-server and two gateway keys. */
const cluster = Effect.gen(function*() {
  const redis = yield* redisServer
  const simulator = yield* Simulator.make({ apiKeys: [providerKey], latency: "100 millis", replyTokens })
  const file = yield* providerFile({
    // A stopped redis-server refuses at once; the command timeout only bounds a busy one, and on a loaded machine
    // (CI runs the suite's files side by side, three gateways and a simulator here) a command answered in time can
    // still be read seconds later.
    store: { redis: redis.url, on_unavailable: "fail-closed", instances: 3, command_timeout: 5 },
    sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }],
    gateway: {
      keys: [
        {
          name: "limited",
          key: limitedKey,
          rate_limit_capacity: bucket.capacity,
          rate_limit_refill_rate: bucket.refillRate
        },
        {
          name: "budgeted",
          key: budgetedKey,
          models: ["gpt-4o-mini"],
          budget: { limit, period: "1 day", default_max_tokens: maxTokens }
        }
      ]
    }
  })
  const gateways = yield* Effect.forEach([0, 1, 2], () => serve(file), { concurrency: 3 })
  const urls = gateways.map((gateway) => gateway.url)
  // Each store connects in the background: warm the three until they answer.
  yield* eventually(
    "the three answering",
    load(urls, limitedKey, 3, () => hello),
    (all) => all.every((a) => a.status === 200),
    {
      every: "200 millis"
    }
  )
  return { redis, simulator, urls }
})

/** The clients connected to `redis` (the asking one left out). */
const clients = (redis: RedisServer) =>
  Effect.acquireUseRelease(
    Effect.promise(() => createClient({ url: redis.url }).connect()),
    (client) => Effect.promise(async () => (await client.clientList()).length - 1),
    (client) => Effect.promise(() => client.quit().then(() => undefined, () => undefined))
  )

describe("Scale-out: the gateway's own keys across three gateway processes on one redis-server", () => {
  it.live(
    "a key's rate limit holds across the three: the simulator never sees more of its calls than capacity + " +
      "refill_rate * t in any window; the others are 429 with Retry-After; Redis gone, fail-closed, 503 " +
      "store_unavailable",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { redis, simulator, urls } = yield* cluster
        yield* Effect.sleep("1 second")
        const before = (yield* simulator.arrivals).length
        const startedAt = Date.now()
        const answers = yield* load(urls, limitedKey, 600, () => hello)
        const ok = answers.filter((answer) => answer.status === 200).length
        const limited = answers.filter((answer) => answer.status === 429)
        expect(answers.filter((answer) => answer.status !== 200 && answer.status !== 429)).toEqual([])
        expect(limited.length).toBeGreaterThan(0)
        expect(limited.every((answer) => Number(answer.retryAfter) >= 1 && answer.body.includes("rate_limit_exceeded")))
          .toBe(true)
        const arrivals = (yield* simulator.arrivals).slice(before)
        expect(arrivals.length).toBe(ok)
        expect(ok).toBeGreaterThan(bucket.capacity)
        // Three buckets of the whole limit each would let through about three times this.
        expect(overRunBound(arrivalGrants(arrivals), bucket, startedAt)).toBeUndefined()
        expect(overWindowBound(arrivalGrants(arrivals), bucket, deliverySlackMillis)).toBeUndefined()

        yield* redis.stop
        const away = yield* load(urls, limitedKey, 6, () => hello)
        for (const answer of away) {
          expect(answer.status).toBe(503)
          expect(answer.retryAfter).toBe("1")
          expect(JSON.parse(answer.body).error.code).toBe("store_unavailable")
        }
      })),
    120_000
  )

  it.live(
    "a key's budget of N dollars under 200 concurrent calls over the three: the real spend (the replies' usage at " +
      "the model's price) never passes N, and the calls past it are 429 insufficient_quota; Redis gone, fail-closed, " +
      "503 store_unavailable",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { redis, urls } = yield* cluster
        const price = Pricing.lookup("gpt-4o-mini")!
        // Half ask for max_tokens, half are sent with the key's default_max_tokens: both reserve the same.
        const answers = yield* load(urls, budgetedKey, 200, (i) =>
          i % 2 === 0 ? { ...hello, max_tokens: maxTokens } : hello)
        let spent = 0
        let answered = 0
        for (const answer of answers) {
          if (answer.status === 200) {
            answered++
            const { usage } = JSON.parse(answer.body) as { usage: { prompt_tokens: number; completion_tokens: number } }
            expect(usage.completion_tokens).toBeLessThanOrEqual(maxTokens)
            spent += Pricing.cost(price, {
              promptTokens: usage.prompt_tokens,
              completionTokens: usage.completion_tokens,
              cachedPromptTokens: 0
            })!
          } else {
            expect(answer.status).toBe(429)
            expect(JSON.parse(answer.body).error.code).toBe("insufficient_quota")
            expect(Number(answer.retryAfter)).toBeGreaterThan(0)
          }
        }
        // A call reserves $0.0006 and costs about $0.00048: some sixteen fit in $0.01 at once; three budgets of
        // the whole $0.01 each would let some fifty through, $0.024.
        expect(answered).toBeGreaterThan(5)
        expect(spent).toBeLessThanOrEqual(limit + 1e-12)
        // Once those calls are over, their real costs are charged, not their reservations: what is left is the limit
        // less the real spend, so a call is answered, or (the calls fitted to what was left having spent nearly all)
        // refused naming exactly that.
        const [later] = yield* load(urls, budgetedKey, 1, () => ({ ...hello, max_tokens: 10 }))
        if (later!.status !== 200) {
          expect(later!.status).toBe(429)
          const left = /has \$([0-9.e-]+) of \$[0-9.]+ left/.exec(JSON.parse(later!.body).error.message)
          expect(Number(left?.[1])).toBeCloseTo(limit - spent, 6)
        }

        // Redis gone, failing closed: the budget cannot be checked, so nothing is spent: 503 with Retry-After.
        yield* redis.stop
        const away = yield* load(urls, budgetedKey, 3, () => ({ ...hello, max_tokens: 10 }))
        expect(away.map((answer) => [answer.status, answer.retryAfter, JSON.parse(answer.body).error.code])).toEqual(
          Array.from({ length: 3 }, () => [503, "1", "store_unavailable"])
        )
      })),
    120_000
  )

  it.live(
    "one Redis connection per gateway (none of its own when given a connected store), " +
      "and per ProviderConfig.routerLayer, " +
      "however many deployments, routers and keys share through it",
    () =>
      Effect.scoped(
        Effect.gen(function*() {
          const redis = yield* redisServer
          const simulator = yield* Simulator.make({
            apiKeys: [providerKey],
            models: [...Simulator.defaultModels, "gpt-4.1-mini"]
          })
          const model = (name: string) => ({
            model_name: name,
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            rate_limit_capacity: 10,
            rate_limit_refill_rate: 10
          })
          const config = yield* ProviderConfig.fromJson({
            store: { redis: redis.url },
            sim: [model("gpt-4o-mini"), model("gpt-4o")],
            other: [model("gpt-4.1-mini")],
            router: {
              main: { deployments: ["sim/gpt-4o-mini", "other/gpt-4.1-mini"] },
              big: { deployments: ["sim/gpt-4o"] }
            }
          })
          const connected = (expected: number) =>
            eventually(`${expected} clients connected to Redis`, clients(redis), (count) => count >= expected, {
              every: "50 millis"
            })
          const gateway = yield* Gateway.make({
            config: ProviderConfig.gatewayConfig(config),
            port: 0,
            keys: [
              { name: "a", key: Redacted.make(limitedKey), rateLimit: { capacity: 5, refillRate: 1 } },
              { name: "b", key: Redacted.make(budgetedKey), budget: { limit: 1, period: "1 day" } }
            ]
          })
          yield* connected(1)
          // A call through each key and router: everything has run a command by now.
          for (
            const [key, name] of [[limitedKey, "main"], [budgetedKey, "big"], [limitedKey, "gpt-4o-mini"]] as const
          ) {
            expect((yield* Effect.promise(() => post(gateway.url, key, { ...hello, model: name }))).status).toBe(200)
          }
          yield* Effect.sleep("300 millis")
          expect(yield* clients(redis)).toBe(1)

          yield* Layer.build(ProviderConfig.routerLayer(config))
          yield* connected(2)
          yield* Effect.sleep("300 millis")
          expect(yield* clients(redis)).toBe(2)

          // A program's own connected store, given to a gateway (`Options.store`), is the gateway's only one.
          const store = yield* Store.make({ redis: redis.url })
          yield* connected(3)
          const embedded = yield* Gateway.make({
            config: ProviderConfig.gatewayConfig(config),
            port: 0,
            store,
            keys: [{ name: "c", key: Redacted.make(budgetedKey), rateLimit: { capacity: 5, refillRate: 1 } }]
          })
          expect((yield* Effect.promise(() => post(embedded.url, budgetedKey, hello))).status).toBe(200)
          yield* Effect.sleep("300 millis")
          expect(yield* clients(redis)).toBe(3)
        }).pipe(Effect.provide(UndiciHttpClient.layer()))
      ),
    60_000
  )
})
