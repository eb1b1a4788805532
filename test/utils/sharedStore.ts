/**
 * One instance's `Store` on a test's redis-server, and a wait until it is
 * connected: each instance gets its own store, so its own Redis connection,
 * as separate processes would.
 */
import * as Effect from "effect/Effect"
import { RateLimiter, Store } from "effect-llm-router"

// Two seconds per command, as the scale-out tests' provider.json sets it: a command outlives its timer when this
// process stalls (a loaded machine, a GC pause) with the reply already in the socket, since timers run before the
// socket is read; a spurious timeout fails a fail-closed call or drops a fail-open one to its local share. A Redis
// that is down fails commands at once whatever this is; the test of a Redis that stops answering sets its own.
export const instance = (url: string, options: Partial<Store.Options> = {}) =>
  Store.make({ redis: url, commandTimeout: "2 seconds", ...options })

// The store connects in the background: this waits until a limiter on it reads Redis (a local
// fallback of a fail-open store with two instances or more holds at most half the capacity).
export const untilShared = (store: Store.Store) =>
  Effect.gen(function*() {
    const probe = yield* RateLimiter.make({ capacity: 1_000, refillRate: 1_000, shared: { store, key: "probe" } })
    // Up to 20 s (within the tests' 30 s): a loaded machine may take seconds to connect, never that long.
    for (let i = 0; i < 800; i++) {
      if ((yield* probe.status).available > 600) return
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error("the store never connected"))
  })
