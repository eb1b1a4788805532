/**
 * Three `serve` processes on one redis-server and one simulator, as a load
 * balancer would spread clients over them: the model's rate limit holds across
 * the three, every request gets an answer or a 429 with `Retry-After`, an
 * instance killed mid-load frees its key leases within the lease TTL, and
 * Redis stopped mid-load and started again leaves them serving and consistent.
 * The budget's three instances are three routers in this process, each on a
 * Redis connection of its own (the gateway takes no budget from provider.json).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { createClient } from "redis"
import { Agent, request } from "undici"
import * as Budget from "../../src/Budget.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { arrivalGrants, overRunBound, overWindowBound } from "../utils/bucketBound.js"
import { eventually } from "../utils/eventually.js"
import { routerLayerInMemory } from "../utils/memoryStores.js"
import { type RedisServer, redisServer } from "../utils/redisServer.js"
import { deliverySlackMillis, providerFile, serve, type Served, storeReturns } from "../utils/serveCluster.js"
import { connected } from "../utils/sharedStore.js"

const keys = ["sk-scale-out-key-0001", "sk-scale-out-key-0002", "sk-scale-out-key-0003"]
const capacity = 20
const refillRate = 100
const leaseTtlSeconds = 2
// Three instances that each kept the whole limit would admit 3 * (capacity + rate * t): in
// one second 360 where the windowed bound, with its delivery slack, allows 220.

// Requests of many clients at once: the connections of each client to each gateway.
const agent = new Agent({ connections: 128, pipelining: 1 })

type Gateway = Served

type Outcome =
  | { readonly _tag: "ok" }
  | { readonly _tag: "limited"; readonly retryAfter: string | undefined }
  | { readonly _tag: "unavailable"; readonly retryAfter: string | undefined }
  | { readonly _tag: "other"; readonly status: number; readonly body: string }
  | { readonly _tag: "refused"; readonly reason: string }

const body = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] })

/** One chat completion through `url`: what came back. */
const chat = (url: string): Promise<Outcome> =>
  request(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    dispatcher: agent,
    headersTimeout: 60_000,
    bodyTimeout: 60_000
  }).then(async (response): Promise<Outcome> => {
    const text = await response.body.text()
    if (response.statusCode === 200) return { _tag: "ok" }
    const retryAfter = response.headers["retry-after"]
    const wait = typeof retryAfter === "string" ? retryAfter : undefined
    if (response.statusCode === 429) return { _tag: "limited", retryAfter: wait }
    if (response.statusCode === 503) return { _tag: "unavailable", retryAfter: wait }
    return { _tag: "other", status: response.statusCode, body: text }
  }, (error: unknown) => ({ _tag: "refused", reason: String(error) }))

/** `count` requests at once, spread over `urls` (request `i` to `urls[i % n]`). */
const load = (urls: ReadonlyArray<string>, count: number) =>
  Effect.promise(() => Promise.all(Array.from({ length: count }, (_, i) => chat(urls[i % urls.length]!))))

/** The key leases alive in Redis now: the members of every lease set not yet expired. */
const liveLeases = (redis: RedisServer) =>
  Effect.acquireUseRelease(
    Effect.promise(() => createClient({ url: redis.url }).connect()),
    (client) =>
      Effect.promise(async () => {
        // Redis' clock, which the leases' expiries are on.
        const [seconds, micros] = (await client.time()).map(Number) as [number, number]
        const now = seconds * 1000 + Math.floor(micros / 1000)
        const sets = (await client.keys("effect-llm-router:leases:*")).filter((key) => !key.endsWith(":state"))
        let live = 0
        for (const set of sets) if ((await client.type(set)) === "zset") live += await client.zCount(set, now, "+inf")
        return live
      }),
    (client) => Effect.promise(() => client.quit().then(() => undefined, () => undefined))
  )

/** Three gateways over one provider.json whose store is `redis`, and the simulator they call. */
const cluster = (onUnavailable: "fail-open" | "fail-closed") =>
  Effect.gen(function*() {
    const redis = yield* redisServer
    // Each reply takes a while, so calls (and their leases) are in flight when an instance dies.
    const simulator = yield* Simulator.make({ apiKeys: keys, latency: "200 millis", replyTokens: 4 })
    const file = yield* providerFile({
      // A stopped redis-server refuses at once; the command timeout only bounds a busy one, and on a loaded machine
      // (CI runs the suite's files side by side) a command can wait past a few hundred milliseconds.
      store: {
        redis: redis.url,
        on_unavailable: onUnavailable,
        instances: 3,
        lease_ttl: leaseTtlSeconds,
        command_timeout: 2
      },
      sim: [{
        model_name: "gpt-4o-mini",
        base_url: `${simulator.url}/v1`,
        // One key with a cap (a lease in Redis per call, which a killed instance leaves behind), two without (picked
        // over the counts each instance publishes).
        api_keys: [keys[0]!, { key: keys[1]!, max_concurrency: 1_000 }, keys[2]!],
        max_retries: 0,
        rate_limit_capacity: capacity,
        rate_limit_refill_rate: refillRate
      }],
      // The limits are what this file tests, not the gateway's keys: instances sharing a store answer requests
      // without a key only when told to.
      gateway: { allow_keyless: true }
    })
    const gateways = yield* Effect.forEach([0, 1, 2], () => serve(file), { concurrency: 3 })
    return { redis, simulator, gateways }
  })

const answered = (outcomes: ReadonlyArray<Outcome>) => {
  const ok = outcomes.filter((outcome) => outcome._tag === "ok").length
  const limited = outcomes.filter((outcome) => outcome._tag === "limited")
  return { ok, limited }
}

describe("Scale-out: three gateway processes on one redis-server", () => {
  it.live(
    "3,000 concurrent requests over three gateways: the simulator never sees more than the bound in any window; " +
      "every request is answered or 429 with Retry-After; a killed instance's leases expire within the TTL",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { gateways, redis, simulator } = yield* cluster("fail-closed")
        const urls = gateways.map((g) => g.url)
        // Warm the three (their stores connect in the background).
        yield* load(urls, 3)
        const before = (yield* simulator.arrivals).length

        const startedAt = Date.now()
        const outcomes = yield* load(urls, 3000)
        const { limited, ok } = answered(outcomes)
        expect(outcomes.filter((outcome) => outcome._tag === "other" || outcome._tag === "refused")).toEqual([])
        expect(ok + limited.length).toBe(3000)
        expect(limited.every((outcome) => outcome.retryAfter !== undefined && Number(outcome.retryAfter) >= 1)).toBe(
          true
        )
        expect(ok).toBeGreaterThan(capacity)
        const arrivals = (yield* simulator.arrivals).slice(before)
        expect(arrivals.length).toBe(ok)
        expect(overRunBound(arrivalGrants(arrivals), { capacity, refillRate }, startedAt)).toBeUndefined()
        expect(overWindowBound(arrivalGrants(arrivals), { capacity, refillRate }, deliverySlackMillis)).toBeUndefined()

        // SIGKILL one instance mid-load: its leases stay until their TTL, then the others count none of them.
        const [dead, ...living] = gateways as [Gateway, Gateway, Gateway]
        const toLiving = Effect.forkChild(load(living.map((g) => g.url), 600))
        const toDead = yield* Effect.forkChild(load([dead.url], 60))
        const onLiving = yield* toLiving
        yield* Effect.sleep("300 millis")
        dead.child.kill("SIGKILL")
        yield* Fiber.join(dead.exited)
        yield* Fiber.join(toDead)
        const afterKill = yield* Fiber.join(onLiving)
        // The living instances took their load: every request answered.
        expect(afterKill.filter((outcome) => outcome._tag === "other" || outcome._tag === "refused")).toEqual([])
        expect(answered(afterKill).ok).toBeGreaterThan(0)
        // Their own calls are over, so what is left is the dead instance's: gone within the TTL.
        yield* eventually("every lease expired (live leases)", liveLeases(redis), (live) => live === 0, {
          every: "100 millis",
          within: `${leaseTtlSeconds + 3} seconds`
        })
        expect(answered(yield* load(living.map((g) => g.url), 10)).ok).toBeGreaterThan(0)
      })),
    170_000
  )

  it.live.each(["fail-closed", "fail-open"] as const)(
    "Redis stopped mid-load under %s: every request is answered while it is away (fail-closed: a 503 with " +
      "Retry-After; fail-open: served within each instance's share); started again, the three share the limit again",
    (onUnavailable) =>
      Effect.scoped(Effect.gen(function*() {
        const { gateways, redis, simulator } = yield* cluster(onUnavailable)
        const urls = gateways.map((g) => g.url)
        yield* load(urls, 3)
        const during = yield* Effect.forkChild(load(urls, 900))
        yield* Effect.sleep("500 millis")
        const returnsBefore = gateways.map(storeReturns)
        yield* redis.stop
        const whileDown = yield* load(urls, 30)
        if (onUnavailable === "fail-closed") {
          // Refused with a wait: 503, the store away (its limits cannot be checked); no breaker opens on it.
          expect(whileDown.filter((outcome) => outcome._tag !== "unavailable")).toEqual([])
          expect(whileDown.every((outcome) => outcome._tag === "unavailable" && outcome.retryAfter !== undefined)).toBe(
            true
          )
        } else {
          // Each instance serves from its third of the limit, in memory.
          expect(whileDown.filter((outcome) => outcome._tag === "other" || outcome._tag === "refused")).toEqual([])
          expect(answered(whileDown).ok).toBeGreaterThan(0)
        }
        const outcomes = yield* Fiber.join(during)
        expect(outcomes.filter((outcome) => outcome._tag === "other" || outcome._tag === "refused")).toEqual([])

        yield* redis.start
        // Back: the three serve again, and the bound holds across them once more.
        yield* eventually("the three serving again", load(urls, 3), (all) =>
          all.every((outcome) =>
            outcome._tag === "ok"
          ), {
          every: "200 millis"
        })
        // Under fail-open those calls may have been served from the local shares: each store
        // rejoins at its next connection attempt, and until all three have, local shares and the
        // shared bucket (full again: Redis restarted empty) add up. Each says so in its log.
        yield* eventually(
          "every store rejoined (one back per instance)",
          Effect.sync(() =>
            gateways.map((gateway, i) => storeReturns(gateway) > returnsBefore[i]!)
          ),
          (back) => back.every(Boolean),
          { every: "100 millis" }
        )
        const before = (yield* simulator.arrivals).length
        const startedAt = Date.now()
        const after = yield* load(urls, 900)
        expect(after.filter((outcome) => outcome._tag === "other" || outcome._tag === "refused")).toEqual([])
        const arrivals = arrivalGrants((yield* simulator.arrivals).slice(before))
        expect(overRunBound(arrivals, { capacity, refillRate }, startedAt)).toBeUndefined()
        expect(overWindowBound(arrivals, { capacity, refillRate }, deliverySlackMillis)).toBeUndefined()
        yield* eventually("every lease expired (live leases)", liveLeases(redis), (live) => live === 0, {
          every: "100 millis",
          within: `${leaseTtlSeconds + 3} seconds`
        })
      })),
    170_000
  )

  it.live(
    "a budget of N dollars under 200 concurrent calls across three instances: the spend the simulator's token counts " +
      "price never passes N",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const redis = yield* redisServer
        // Replies near `maxTokens`, so a call costs close to what it reserves.
        const simulator = yield* Simulator.make({ apiKeys: keys, replyTokens: 800, latency: "20 millis" })
        const limit = 0.01
        const config = yield* ProviderConfig.fromJson({
          store: { redis: redis.url, command_timeout: 2 },
          sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: keys, max_retries: 0 }]
        })
        const instances = yield* Effect.forEach([0, 1, 2], () =>
          Effect.gen(function*() {
            const budget = yield* Budget.make({
              limits: [{ scope: Budget.overall, limit, period: "1 hour" }],
              key: "scale-out-spend"
            }).pipe(Effect.provide(Budget.layerStoreRedis(yield* connected(redis.url))))
            const options = yield* ProviderConfig.routerOptions(config, { budget })
            const context = yield* Layer.build(
              routerLayerInMemory(options).pipe(Layer.provide(UndiciHttpClient.layer()))
            )
            return { budget, context }
          }))
        // The routers' own breakers connect in the background; the budget's stores are connected.
        const outcomes = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => instances[i % 3]!),
          ({ context }) =>
            Effect.result(
              Effect.provide(
                Llm.chat({ model: "gpt-4o-mini", maxTokens: 1000, messages: [Message.user("Hello")] }),
                context
              )
            ),
          { concurrency: "unbounded" }
        )
        let spent = 0
        let answered = 0
        for (const outcome of outcomes) {
          if (outcome._tag === "Success") {
            answered++
            spent += outcome.success.cost!
          } else {
            expect(outcome.failure._tag).toBe("BudgetExceededError")
          }
        }
        // A call reserves 0.0006 (1,000 tokens at the output price) and costs about 0.0005: the
        // limit admits some sixteen at once; three budgets each with the whole limit, some fifty.
        expect(answered).toBeGreaterThan(5)
        expect(answered).toBeLessThan(200)
        expect(spent).toBeLessThanOrEqual(limit + 1e-12)
        const [status] = yield* instances[0]!.budget.status
        expect(status!.spent).toBeCloseTo(spent, 9)
        expect(status!.spent).toBeLessThanOrEqual(limit + 1e-12)
      })),
    60_000
  )
})
