/**
 * provider.json keys' budgets on gateways with a Redis store and a SQLite file each, called with the official `openai`
 * client over loopback: the budgets are counted in Redis and recorded in each instance's file, so when redis-server
 * restarts empty the spend comes back (each instance's part at its next call or read of the budget), and a call past
 * the budget is refused as before the restart, by the same gateway and by a gateway started again on the same file.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Gateway from "../../src/Gateway.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { adminKey, call, cappedKey, chat, gatewayOn, providerKey } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { type RedisServer, redisServer } from "../utils/redisServer.js"

const temporary = Effect.acquireRelease(
  Effect.sync(() => join(mkdtempSync(join(tmpdir(), "budget-rebuild-")), "gateway.db")),
  (file) => Effect.sync(() => rmSync(join(file, ".."), { recursive: true, force: true }))
)

/** provider.json's `store` section on `redis`: a budget is refused (503) while Redis is away, never counted apart. */
const storeOn = (redis: RedisServer) => ({
  store: { redis: redis.url, on_unavailable: "fail-closed", command_timeout: 2 }
})

/** Key `name`'s spend as the admin API reads it, once the gateway's store answers (no spend while it does not). */
const spendOf = (gateway: Gateway.Service, name: string) =>
  Effect.map(
    eventually(
      `the store of the gateway at ${gateway.url} answered`,
      call(gateway.url, "GET", `/admin/keys/config:${name}`),
      (answer) => answer.status === 200 && answer.body.spend != null,
      { every: "50 millis", within: "20 seconds" }
    ),
    (answer) => answer.body.spend!
  )

/** redis-server killed and started again, empty. */
const restart = (redis: RedisServer) => Effect.andThen(redis.stop, redis.start)

describe("provider.json keys' budgets in Redis, recorded in each instance's SQLite file", () => {
  it.live(
    "come back when Redis restarts empty: the same spend, and the call past the budget refused",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
        const file = yield* temporary
        const before = yield* Effect.scoped(Effect.gen(function*() {
          const gateway = yield* gatewayOn(simulator, { sqlite: file }, storeOn(redis))
          yield* spendOf(gateway, "capped")
          let answered = 0
          while ((yield* chat(gateway, cappedKey, 1)).status === 200) answered++
          assert.isAtLeast(answered, 1)
          const spent = (yield* spendOf(gateway, "capped")).spent
          assert.isAbove(spent, 0)

          yield* restart(redis)
          assert.strictEqual((yield* spendOf(gateway, "capped")).spent, spent)
          const refused = yield* chat(gateway, cappedKey, 1)
          assert.strictEqual(refused.status, 429)
          assert.include(String(refused.error?.message), "budget")
          return spent
        }))

        // Both gone at once: a gateway started again on the file rebuilds the spend it recorded.
        yield* restart(redis)
        const gateway = yield* gatewayOn(simulator, { sqlite: file }, storeOn(redis))
        assert.strictEqual((yield* spendOf(gateway, "capped")).spent, before)
        assert.strictEqual((yield* chat(gateway, cappedKey, 1)).status, 429)
      }),
    90_000
  )

  it.live("on two instances: after each has made a call, their combined spend is back", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
      const teamKey = "gw-budget-rebuild-team-5c2a"
      const extra = {
        ...storeOn(redis),
        gateway: {
          keys: [{ name: "team", key: teamKey, models: ["gpt-4o-mini"], budget: { limit: 1, period: "month" } }],
          admin_keys: [{ name: "ops", key: adminKey }]
        }
      }
      const one = yield* gatewayOn(simulator, { sqlite: yield* temporary }, extra)
      const other = yield* gatewayOn(simulator, { sqlite: yield* temporary }, extra)
      yield* spendOf(one, "team")
      yield* spendOf(other, "team")
      // A call answered by `gateway` once its store answers: what it cost.
      const answered = (gateway: Gateway.Service) =>
        Effect.map(
          eventually("a call answered", chat(gateway, teamKey), (answer) => answer.status === 200, {
            every: "50 millis",
            within: "20 seconds"
          }),
          (answer) => answer.cost
        )
      const ones = (yield* answered(one)) + (yield* answered(one))
      const others = yield* answered(other)
      assert.closeTo((yield* spendOf(one, "team")).spent, ones + others, 1e-9)

      yield* restart(redis)
      const oneAfter = yield* answered(one)
      // The other instance's part is not back until it uses the budget.
      assert.closeTo((yield* spendOf(one, "team")).spent, ones + oneAfter, 1e-9)
      const otherAfter = yield* answered(other)
      const combined = ones + others + oneAfter + otherAfter
      assert.closeTo((yield* spendOf(one, "team")).spent, combined, 1e-9)
      assert.closeTo((yield* spendOf(other, "team")).spent, combined, 1e-9)
    }), 90_000)
})
