/**
 * One instance's `Store` on a test's redis-server, and a wait until it is
 * connected: each instance gets its own store, so its own Redis connection,
 * as separate processes would.
 */
import * as Effect from "effect/Effect"
import { RateLimiter, Store } from "effect-llm-router"

export const instance = (url: string, options: Partial<Store.Options> = {}) =>
  Store.make({ redis: url, commandTimeout: "300 millis", ...options })

// The store connects in the background: this waits until a limiter on it reads Redis (a local
// fallback of a fail-open store with two instances or more holds at most half the capacity).
export const untilShared = (store: Store.Store) =>
  Effect.gen(function*() {
    const probe = yield* RateLimiter.make({ capacity: 1_000, refillRate: 1_000, shared: { store, key: "probe" } })
    for (let i = 0; i < 200; i++) {
      if ((yield* probe.status).available > 600) return
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error("the store never connected"))
  })
