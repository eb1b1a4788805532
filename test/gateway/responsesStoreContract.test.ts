/**
 * Every backend of the gateway's `StoredResponses` against one contract (`contract/responsesStore.ts`): in memory
 * (`layerStoreMemory`, on the `Clock`, one store for both instances, as the gateway makes it), and in Redis
 * (`layerStoreRedis`, a real redis-server behind a proxy that can hold its replies back, two instances each with its
 * own connection).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import {
  bytesOf,
  layerStoreMemory,
  type Service,
  StoredResponses,
  type StoreOptions
} from "../../src/internal/gateway/responses/store.js"
import { layerStoreRedis } from "../../src/internal/gateway/responses/storeRedis.js"
import { SharedStore } from "../../src/internal/store/sharedStore.js"
import { responsesStoreContract } from "../contract/responsesStore.js"
import { redisServer } from "../utils/redisServer.js"
import { connected, redisInstances } from "../utils/sharedStore.js"

function built<E, R>(layer: Layer.Layer<StoredResponses, E, R>): Effect.Effect<Service, E, R | Scope.Scope> {
  return Effect.map(Layer.build(layer), (context) => Context.get(context, StoredResponses))
}

responsesStoreContract({
  name: "memory",
  clock: "test",
  server: false,
  connect: Effect.succeed({
    instances: (options) => Effect.map(built(layerStoreMemory(options)), (store) => [store, store] as const),
    elapse: TestClock.adjust,
    faults: undefined
  })
})

responsesStoreContract({
  name: "Redis",
  clock: "live",
  server: true,
  connect: redisInstances((store, options: StoreOptions) =>
    built(Layer.provide(layerStoreRedis(options), Layer.succeed(SharedStore, store)))
  )
})

describe("StoredResponses in Redis: responses kept before the index existed", () => {
  it.live(
    "are taken into the index beside the first write, so a key's bound counts them and drops its oldest, not only at " +
      "their expiry",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const store = yield* Effect.orDie(connected(redis.url))
        const send = (...args: ReadonlyArray<string>) => Effect.orDie(store.connection.send<unknown>(...args))
        const response = (n: number) => ({ body: `{"id":"resp_${n}","pad":"${"x".repeat(1_000)}"}`, conversation: [] })
        // Three of team's responses in hashes as a version without the index left them: written, then the index gone.
        const writer = yield* built(Layer.provide(layerStoreRedis(), Layer.succeed(SharedStore, store)))
        for (const n of [1, 2, 3]) expect(yield* writer.put(`resp_${n}`, "team", response(n))).toBe(true)
        const index = (yield* send("KEYS", `${store.connection.prefix}:responses-index:*`)) as ReadonlyArray<string>
        expect(index.length).toBeGreaterThan(0)
        yield* send("DEL", ...index)
        // A store of this version, whose bound on one key holds three such responses, not four.
        const bytes = bytesOf(response(4))
        const responses = yield* built(
          Layer.provide(
            layerStoreRedis({ maxKeyBytes: 3 * bytes + 10, maxResponseBytes: bytes }),
            Layer.succeed(SharedStore, store)
          )
        )
        // The old ones are taken into the index beside the first write: by the second, the bound counts them.
        for (const n of [4, 5]) expect(yield* responses.put(`resp_${n}`, "team", response(n))).toBe(true)
        const kept = yield* Effect.forEach([1, 2, 3, 4, 5], (n) => responses.get(`resp_${n}`, "team"))
        // The oldest of the old ones dropped to make room.
        expect(kept.map((found) => found !== undefined)).toEqual([false, false, true, true, true])
        const sizes = yield* send("HKEYS", `${store.connection.prefix}:responses-index:sizes`)
        expect([...(sizes as ReadonlyArray<string>)].sort()).toEqual(["resp_3", "resp_4", "resp_5"])
      }),
    30_000
  )
})
