/**
 * One instance's `Store` on a test's redis-server, and a wait until it is
 * connected: each instance gets its own store, so its own Redis connection,
 * as separate processes would.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import { Store } from "effect-llm-router"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { SharedStore } from "../../src/internal/store/sharedStore.js"
import { eventually } from "./eventually.js"
import { pausableProxy, type RedisProxy } from "./redisProxy.js"
import { type RedisServer, redisServer } from "./redisServer.js"
import type { Faults } from "./slowStore.js"
import { serviceOf } from "./sqlDatabases.js"

// Two seconds per command, as the scale-out tests' provider.json sets it: a command outlives its timer when this
// process stalls (a loaded machine, a GC pause) with the reply already in the socket, since timers run before the
// socket is read; a spurious timeout fails a fail-closed call or drops a fail-open one to its local share. A Redis
// that is down fails commands at once whatever this is; the test of a Redis that stops answering sets its own.
export const commandTimeout = Duration.seconds(2)

export const instance = (url: string, options: Partial<Store.Options> = {}) =>
  Store.make({ redis: url, commandTimeout, ...options })

// The store connects in the background: this waits until it answers a command itself. (A limiter's status is not
// proof: a fail-open store's local fallback with one instance holds the whole capacity, so reads as if shared.)
export const untilShared = (store: Store.Store) =>
  // Up to 20 s (within the tests' 30 s): a loaded machine may take seconds to connect, never that long.
  eventually("the store connected (a PING answered)", Effect.result(store.connection.send("PING")), Result.isSuccess, {
    every: "25 millis",
    within: "20 seconds"
  })

/** One instance's store on the server at `url`, connected (`instance`, then `untilShared`). */
export const connected = (url: string, options: Partial<Store.Options> = {}) =>
  Effect.tap(instance(url, options), untilShared)

/** `count` instances on the server at `url`, each with a connected store of its own and what `build` makes on it. */
export const onInstances = <A, E, R>(
  url: string,
  count: number,
  build: (store: Store.Store) => Effect.Effect<A, E, R>
) => Effect.forEach(Array.from({ length: count }), () => Effect.flatMap(connected(url), build))

/** A connected instance that dies when `die` runs: its store's scope closes, so renewals stop and it disconnects. */
export const mortal = (url: string, options: Partial<Store.Options> = {}) =>
  Effect.gen(function*() {
    const doomed = yield* Scope.make()
    const store = yield* Scope.provide(connected(url, options), doomed)
    return { store, die: Scope.close(doomed, Exit.void) }
  })

/**
 * A Redis answering late, for a contract's slow case: the replies to the stores `instance` made on `proxy` held back
 * (`pause`) past their bound, `commandTimeout`, and what a step unanswered within it fails with.
 */
export function slowRedis(proxy: RedisProxy): Omit<Faults, "stop" | "start"> {
  return {
    pause: Effect.sync(proxy.pause),
    resume: Effect.sync(proxy.resume),
    bound: commandTimeout,
    unanswered: {
      address: `127.0.0.1:${proxy.port}`,
      reason: `no reply within ${Duration.toMillis(commandTimeout)} ms`
    }
  }
}

/**
 * A contract's faults of `redis`, whose `stores` reach it through `proxy`: stopped, started again (empty) until each
 * store reads it, and slow (`slowRedis`).
 */
export function redisFaults(redis: RedisServer, proxy: RedisProxy, stores: ReadonlyArray<Store.Store>): Faults {
  return {
    stop: redis.stop,
    start: Effect.andThen(
      redis.start,
      Effect.orDie(Effect.scoped(Effect.forEach(stores, untilShared, { discard: true })))
    ),
    ...slowRedis(proxy)
  }
}

/**
 * Two connected stores (under `options`) on `redis`, each with its own connection through one proxy that can hold
 * Redis' replies back, as two instances of a contract's backend have, and the faults played on them (`redisFaults`).
 */
export const proxiedPair = (redis: RedisServer, options: Partial<Store.Options> = {}) =>
  Effect.gen(function*() {
    const proxy = yield* pausableProxy(redis.port)
    const stores = [
      yield* Effect.orDie(connected(proxy.url, options)),
      yield* Effect.orDie(connected(proxy.url, options))
    ] as const
    return { stores, faults: redisFaults(redis, proxy, stores) }
  })

/** One connected store (under `options`) on `redis` through a proxy of its own, and the faults played on it. */
export const proxiedOne = (redis: RedisServer, options: Partial<Store.Options> = {}) =>
  Effect.gen(function*() {
    const proxy = yield* pausableProxy(redis.port)
    const store = yield* Effect.orDie(connected(proxy.url, options))
    return { store, faults: redisFaults(redis, proxy, [store]) }
  })

/**
 * A contract's backend on a redis-server of its own: two instances, each made by `on` over one of `proxiedPair`'s
 * stores with the call's options and a key no other call shares; time passing for real; the server's faults.
 */
export const redisInstances = <O, S, R>(
  on: (store: Store.Store, options: O, key: string) => Effect.Effect<S, never, R>
) =>
  Effect.gen(function*() {
    const { faults, stores } = yield* proxiedPair(yield* redisServer)
    return {
      instances: (options: O) =>
        Effect.suspend(() => {
          const key = randomUUID()
          return Effect.all([on(stores[0], options, key), on(stores[1], options, key)])
        }),
      elapse: Effect.sleep,
      faults
    }
  })

/**
 * A gateway store's Redis backend for its contract: one redis-server for the test file that calls this (at its top
 * level: started before its tests, stopped after them), and the service of `tag` that `layer` builds on a connected
 * store under a prefix of its own (`<prefix>-<uuid>`) and `options`, each time the effect runs a new one.
 */
export function redisBackend<I, S>(
  prefix: string,
  tag: Context.Key<I, S>,
  layer: Layer.Layer<I, never, SharedStore>,
  options: Partial<Store.Options> = {}
): { readonly name: "Redis"; readonly store: Effect.Effect<S, never, Scope.Scope> } {
  const server = redisServerFor()
  return {
    name: "Redis",
    store: Effect.flatMap(
      server,
      (redis) =>
        Effect.flatMap(
          Effect.orDie(connected(redis.url, { ...options, prefix: `${prefix}-${randomUUID()}` })),
          (store) => serviceOf(tag, Layer.provide(layer, Layer.succeed(SharedStore, store)))
        )
    )
  }
}

/**
 * One redis-server for the test file that calls this (at its top level), started before its tests and stopped after
 * them: the effect gives it, once started.
 */
export function redisServerFor(): Effect.Effect<RedisServer> {
  const serverScope = Effect.runSync(Scope.make())
  let started: RedisServer | undefined
  beforeAll(() =>
    Effect.runPromise(Effect.provideService(redisServer, Scope.Scope, serverScope)).then((server) => {
      started = server
    }), 300_000) // a bound, not a wait: starts are slow beside CI's agent tests
  afterAll(() => Effect.runPromise(Scope.close(serverScope, Exit.void)))
  return Effect.sync(() => started!)
}
