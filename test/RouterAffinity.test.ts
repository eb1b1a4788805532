import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as ChatChunk from "../src/ChatChunk.js"
import type { Input as ChatRequest } from "../src/ChatRequest.js"
import type { ChatResponse } from "../src/ChatResponse.js"
import * as StoresMemory from "../src/internal/router/stores/memory.js"
import * as KeyPool from "../src/KeyPool.js"
import * as Llm from "../src/Llm.js"
import * as LlmError from "../src/LlmError.js"
import * as LlmTest from "../src/LlmTest.js"
import * as Message from "../src/Message.js"
import type { OptionsError } from "../src/OptionsError.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import * as Router from "../src/Router.js"
import { effectProp } from "./utils/effectProp.js"
import { eventually } from "./utils/eventually.js"
import { registryInMemory } from "./utils/memoryStores.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { redisServer } from "./utils/redisServer.js"
import { connected } from "./utils/sharedStore.js"

/** Which deployment and key answered each call, and what the next call to a deployment gets. */
interface World {
  readonly served: Array<{ readonly deployment: string; readonly key: string }>
  /** Deployments whose calls fail with a 503 while listed. */
  readonly down: Set<string>
  /** A key's masked id: its calls fail with a 429 asking to wait a minute, once. */
  readonly limitOnce: Set<string>
}

const makeWorld = (): World => ({ served: [], down: new Set(), limitOnce: new Set() })

const keysOf = (name: string) => [1, 2, 3].map((i) => `sk-test-key-${name}-00000${i}`)

/** An `Llm` over three keys of a provider that records the deployment and key of each call, failing as `world` says. */
const deployment = (world: World, name: string): Router.Deployment<OptionsError> => ({
  name,
  model: `${name}-model`,
  llm: Llm.layer({ retry: RetryPolicy.make({ maxRetries: 0 }) }).pipe(
    Layer.provide(Layer.mergeAll(
      Layer.succeed(
        ProviderClient.ProviderClient,
        ProviderClient.ProviderClient.of({
          provider: name,
          chat: (_request, credentials) => answer(world, name, credentials),
          chatStream: (_request, credentials) =>
            Stream.unwrap(
              Effect.map(
                answer(world, name, credentials),
                (reply) => Stream.fromIterable(ChatChunk.fromResponse(reply))
              )
            ),
          embed: () => Effect.die("not embedded"),
          maxEmbeddingInputs: 1
        })
      ),
      KeyPool.layer({ providerId: name, keys: keysOf(name) }).pipe(Layer.provide(registryInMemory)),
      RateLimiter.unlimited
    ))
  )
})

/** What the provider `name` answers with `credentials`, as `world` says, noted in `world.served`. */
const answer = (world: World, name: string, credentials: ProviderClient.Credentials) =>
  Effect.suspend((): Effect.Effect<ChatResponse, LlmError.LlmError> => {
    if (world.down.has(name)) {
      return Effect.fail(
        new LlmError.ProviderUnavailableError({ provider: name, model: `${name}-model`, status: 503 })
      )
    }
    if (world.limitOnce.delete(credentials.keyId)) {
      return Effect.fail(
        new LlmError.RateLimitError({ provider: name, model: `${name}-model`, status: 429 })
      )
    }
    world.served.push({ deployment: name, key: credentials.keyId })
    return Effect.succeed(LlmTest.reply(name))
  })

const ask = (session?: string): ChatRequest => ({
  messages: [Message.user("hi")],
  ...(session === undefined ? {} : { session })
})

const routerOver = (world: World, options: Partial<Router.Options<Router.Deployment<OptionsError>>> = {}) =>
  Router.make({
    deployments: ["a", "b", "c"].map((name) => deployment(world, name)),
    // Breakers that never open: what moves a session here is a failed call, not a cooling deployment.
    cooldown: { failures: 1_000 },
    affinity: { ttl: "5 minutes" },
    ...options
  })

const last = (world: World) => world.served[world.served.length - 1]!

describe("Router affinity", () => {
  it.effect("a session's calls go to one deployment and one key for the TTL after its last answer, then anywhere", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const router = yield* routerOver(world)
      yield* router.chat(ask("s1"))
      const first = last(world)
      for (let i = 0; i < 12; i++) {
        yield* TestClock.adjust("4 minutes")
        yield* router.chat(ask("s1"))
      }
      expect(world.served.every((served) => served.deployment === first.deployment && served.key === first.key))
        .toBe(true)
      expect((yield* router.status).details[first.deployment]!.pinnedSessions).toBe(1)
      // A call without a session, or of another one, is picked as always: the keys of the deployment rotate.
      world.served.length = 0
      for (let i = 0; i < 30; i++) yield* router.chat(ask())
      expect(new Set(world.served.map((served) => `${served.deployment} ${served.key}`)).size).toBeGreaterThan(3)
      // Past the TTL, the pin is gone.
      yield* TestClock.adjust("5 minutes")
      expect((yield* router.status).details[first.deployment]!.pinnedSessions).toBe(0)
      world.served.length = 0
      for (let i = 0; i < 30; i++) yield* router.chat(ask(`session-${i}`))
      expect(new Set(world.served.map((served) => served.deployment)).size).toBe(3)
      const pinned = (yield* router.status).details
      expect(pinned["a"]!.pinnedSessions! + pinned["b"]!.pinnedSessions! + pinned["c"]!.pinnedSessions!).toBe(30)
    }).pipe(Effect.scoped, Effect.provide(Router.layerStoreMemory)))

  it.effect("a pinned key that is rate-limited gives way to another of the deployment, and the session follows it", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const router = yield* routerOver(world)
      yield* router.chat(ask("s1"))
      const first = last(world)
      world.limitOnce.add(first.key)
      yield* router.chat(ask("s1"))
      const second = last(world)
      expect(second.deployment).toBe(first.deployment)
      expect(second.key).not.toBe(first.key)
      for (let i = 0; i < 5; i++) yield* router.chat(ask("s1"))
      expect(world.served.slice(1).every((served) => served.key === second.key)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Router.layerStoreMemory)))

  it.effect("a session's streams stick to its deployment and key as its calls do", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const router = yield* routerOver(world)
      // Streams and whole calls of one session, taking turns.
      for (let i = 0; i < 8; i++) {
        const reply = i % 2 === 0
          ? yield* ChatChunk.collect(router.chatStream(ask("s1")))
          : yield* router.chat(ask("s1"))
        expect(reply.text).toBe(world.served[0]!.deployment)
      }
      expect(new Set(world.served.map((served) => `${served.deployment} ${served.key}`)).size).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(Router.layerStoreMemory)))

  it.effect("without affinity (the default) a session is picked as any call", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const router = yield* Router.make({ deployments: ["a", "b", "c"].map((name) => deployment(world, name)) })
      for (let i = 0; i < 30; i++) yield* router.chat(ask("s1"))
      expect(new Set(world.served.map((served) => served.deployment)).size).toBe(3)
      expect((yield* router.status).details["a"]!.pinnedSessions).toBeNull()
    }).pipe(Effect.scoped, Effect.provide(Router.layerStoreMemory)))

  it.effect("in memory, at most maxSessions sessions are kept: the least recently answered goes first", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const router = yield* routerOver(world, { affinity: { maxSessions: 2 } })
      for (const session of ["s1", "s2", "s3"]) yield* router.chat(ask(session))
      const details = (yield* router.status).details
      expect(details["a"]!.pinnedSessions! + details["b"]!.pinnedSessions! + details["c"]!.pinnedSessions!).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(Router.layerStoreMemory)))

  it.effect("a pin of a 1 MB session keeps only its SHA-256 digest, and finds it again", () =>
    Effect.gen(function*() {
      const pins = StoresMemory.pins(60_000, 2)
      const huge = "s".repeat(1024 * 1024)
      const pin = { deployment: "a", key: "sk-…0001" }
      yield* pins.pin(huge, pin)
      expect(pins.keys()).toEqual([createHash("sha256").update(huge).digest("base64url")])
      expect(yield* pins.lookup(huge)).toEqual(pin)
      expect(yield* pins.lookup(`${huge}x`)).toBeUndefined()
      // Bounded in count, as before: the least recently answered goes first.
      for (const session of ["t", "u"]) yield* pins.pin(huge + session, pin)
      expect(pins.keys()).toHaveLength(2)
      expect(yield* pins.lookup(huge)).toBeUndefined()
      yield* TestClock.adjust("61 seconds")
      expect(yield* pins.lookup(`${huge}u`)).toBeUndefined()
    }))

  it.effect("bad affinity options fail with OptionsError naming them", () =>
    Effect.gen(function*() {
      const world = makeWorld()
      const ttl = yield* Effect.flip(routerOver(world, { affinity: { ttl: "0 millis" } }))
      expectOptionsError(ttl, { module: "Router", option: "affinity.ttl", expected: "a positive, finite duration" })
      const max = yield* Effect.flip(routerOver(world, { affinity: { maxSessions: 1.5 } }))
      expectOptionsError(max, { module: "Router", option: "affinity.maxSessions", expected: "a positive integer" })
    }).pipe(Effect.scoped, Effect.provide(Router.layerStoreMemory)))

  // Each step: the deployments down for one call of the session. The call's first attempt goes to the deployment and
  // key of the session's last answer; it moves only when that deployment fails, and then stays where it was answered.
  effectProp(
    "a session sticks to its deployment and key while they answer, and moves only when its deployment fails",
    fc.array(fc.subarray(["a", "b", "c"]), { minLength: 1, maxLength: 12 }),
    (steps) =>
      Effect.gen(function*() {
        const world = makeWorld()
        const router = yield* routerOver(world, { retryOn: ["ProviderUnavailableError"] })
        let pin: { readonly deployment: string; readonly key: string } | undefined
        for (const down of steps) {
          world.down.clear()
          for (const name of down) world.down.add(name)
          const before = world.served.length
          const exit = yield* Effect.exit(router.chat(ask("s")))
          if (down.length === 3) {
            expect(exit._tag).toBe("Failure")
            continue
          }
          expect(exit._tag).toBe("Success")
          expect(world.served.length).toBe(before + 1)
          const answered = last(world)
          if (pin !== undefined && !down.includes(pin.deployment)) expect(answered).toEqual(pin)
          if (pin !== undefined && down.includes(pin.deployment)) expect(answered.deployment).not.toBe(pin.deployment)
          pin = answered
        }
      }).pipe(Effect.provide(Router.layerStoreMemory)),
    50
  )
})

describe("Router affinity through a real redis-server", () => {
  it.live("a shared key pool hands out a named key when it is usable, counting every instance's leases", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const [one, two] = yield* Effect.forEach(
        [0, 1],
        () =>
          Effect.flatMap(connected(redis.url), (store) =>
            KeyPool.make({
              providerId: "named",
              keys: [{ key: keysOf("named")[0]!, maxConcurrency: 1 }, keysOf("named")[1]!],
              key: "named"
            }).pipe(Effect.provide(KeyPool.layerStoreRedis(store))))
      )
      const [idA, idB] = (yield* one!.status).map((key) => key.keyId)
      const held = (yield* one!.tryTakeKey(idA!))!
      expect(held.credentials.keyId).toBe(idA)
      // At its cap, held by the other instance: no.
      expect(yield* two!.tryTakeKey(idA!)).toBeUndefined()
      const b = (yield* two!.tryTakeKey(idB!))!
      expect(b.credentials.keyId).toBe(idB)
      expect((yield* two!.status).map((key) => key.inFlight)).toEqual([1, 1])
      yield* one!.release(held)
      yield* two!.report(
        b,
        new LlmError.RateLimitError({ provider: "named", model: "m", retryAfter: Duration.minutes(1) })
      )
      yield* two!.release(b)
      // Cooling for every instance (an uncapped key's, once the other publishes next): no.
      yield* eventually(
        "the cooldown reaching the other instance",
        Effect.flatMap(
          one!.tryTakeKey(idB!),
          (lease) => lease === undefined ? Effect.succeed(true) : Effect.as(one!.release(lease), false)
        ),
        (refused) => refused,
        { every: "20 millis", within: "5 seconds" }
      )
      const again = (yield* two!.tryTakeKey(idA!))!
      expect(again.credentials.keyId).toBe(idA)
      yield* two!.release(again)
    }).pipe(Effect.scoped))

  it.live("two routers on one store send a session to the same deployment and key, and count it once", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const world = makeWorld()
      const [one, two] = yield* Effect.forEach(
        [0, 1],
        () =>
          Effect.flatMap(
            connected(redis.url),
            (store) => routerOver(world, { key: "affinity-test" }).pipe(Effect.provide(Router.layerStoreRedis(store)))
          )
      )
      yield* one!.chat(ask("shared-session"))
      const first = last(world)
      for (let i = 0; i < 6; i++) yield* (i % 2 === 0 ? two! : one!).chat(ask("shared-session"))
      expect(world.served.every((served) => served.deployment === first.deployment && served.key === first.key))
        .toBe(true)
      expect((yield* two!.status).details[first.deployment]!.pinnedSessions).toBe(1)
      // The deployment fails on one router: the session moves for both.
      world.down.add(first.deployment)
      yield* two!.chat(ask("shared-session"))
      const moved = last(world)
      expect(moved.deployment).not.toBe(first.deployment)
      world.down.clear()
      yield* one!.chat(ask("shared-session"))
      expect(last(world)).toEqual(moved)
      expect((yield* one!.status).details[first.deployment]!.pinnedSessions).toBe(0)
      expect((yield* one!.status).details[moved.deployment]!.pinnedSessions).toBe(1)
    }).pipe(Effect.scoped))
})
