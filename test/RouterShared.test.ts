import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, type ChatRequest as Request, Llm, LlmError, Message, Router, type Store } from "effect-llm-router"
import { LlmTest } from "effect-llm-router/testing"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/testing/TestClock"
import { eventually } from "./utils/eventually.js"
import { redisServer } from "./utils/redisServer.js"
import { connected } from "./utils/sharedStore.js"

const ask: Request.Input = { messages: [Message.user("hi")] }

const unavailable = new LlmError.ProviderUnavailableError({ provider: "flaky", model: "flaky-model", status: 503 })

/** What the flaky deployment does, as every instance's copy of it sees it. */
interface Flaky {
  healthy: boolean
  /** When set, what a call to the flaky deployment gets, whatever `healthy` says. */
  answer: LlmTest.Answer | undefined
  /** While set, a call to the flaky deployment waits for it before answering. */
  gate: Deferred.Deferred<void> | undefined
  readonly calls: Array<string>
}

/** One instance's router: "flaky" first (`priority`), then "steady", the breakers in the store. */
const router = (instanceName: string, store: Store.Store, flaky: Flaky) =>
  Effect.map(
    Layer.build(
      Router.layer({
        strategy: "priority",
        // A period of 2 s: the steps a test takes while a breaker is open come well within it on a loaded machine.
        cooldown: { failures: 2, window: "1 minute", period: "2 seconds" },
        retryOn: ["ProviderUnavailableError", "RateLimitError"],
        key: "shared-breakers",
        deployments: [
          {
            name: "flaky",
            model: "flaky-model",
            llm: LlmTest.fromHandler(() =>
              Effect.suspend(() => {
                flaky.calls.push(instanceName)
                const answer = flaky.answer ?? (flaky.healthy ? LlmTest.reply("flaky") : unavailable)
                return flaky.gate === undefined ? Effect.succeed(answer) : Effect.as(Deferred.await(flaky.gate), answer)
              })
            )
          },
          {
            name: "steady",
            model: "steady-model",
            llm: LlmTest.fromHandler(() => Effect.succeed(LlmTest.reply("steady")))
          }
        ]
      }).pipe(Layer.provide(Router.layerStoreRedis(store)))
    ),
    (context) => ({
      chat: Effect.map(Effect.provide(Llm.chat(ask), context), (reply) => reply.text),
      breaker: Effect.map(Effect.provide(Router.status, context), (status) => status.details["flaky"]!.cooldown),
      limitedUntil: Effect.map(
        Effect.provide(Router.status, context),
        (status) => status.details["flaky"]!.limitedUntil
      )
    })
  )

/** A redis-server and two instances' routers on it, each on its own Redis connection, over one flaky deployment. */
const twoInstances = (healthy: boolean, store: Partial<Store.Options> = {}) =>
  Effect.gen(function*() {
    const redis = yield* redisServer
    const stores = yield* Effect.forEach([0, 1], () => connected(redis.url, store))
    const flaky: Flaky = { healthy, answer: undefined, gate: undefined, calls: [] }
    return { flaky, a: yield* router("a", stores[0]!, flaky), b: yield* router("b", stores[1]!, flaky) }
  })

/** How the tests wait for a state another instance wrote: a refresh reads the store every 250 ms. */
const refresh = { every: "50 millis", within: "20 seconds" } as const

describe("Router: breakers shared through a real redis-server", () => {
  it.live(
    "a breaker one instance opens is open on the other; once the period is over only one instance probes",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { a, b, flaky } = yield* twoInstances(false)

        // One failure on each instance: two within the window, across them, open the breaker.
        expect(yield* a.chat).toBe("steady")
        expect((yield* a.breaker).state).toBe("closed")
        expect(yield* b.chat).toBe("steady")
        expect((yield* b.breaker).state).toBe("open")
        expect(flaky.calls).toEqual(["a", "b"])
        // a learns it from the store without a call of its own, and skips the deployment.
        yield* eventually("a's breaker open", a.breaker, (breaker) => breaker.state === "open", refresh)
        expect(yield* a.chat).toBe("steady")
        expect(flaky.calls).toEqual(["a", "b"])

        // The period over, both instances' calls would probe: Redis grants the probe to one.
        yield* Effect.sleep("2100 millis")
        flaky.healthy = true
        const gate = yield* Deferred.make<void>()
        flaky.gate = gate
        const calls = yield* Effect.forEach([a, b], (instance) => Effect.forkChild(instance.chat))
        yield* eventually(
          "the probe at the flaky deployment",
          Effect.sync(() => flaky.calls.length),
          (count) => count === 3,
          refresh
        )
        // The other call went to the steady deployment while the probe is out.
        yield* eventually(
          "one of the two calls done",
          Effect.sync(() => calls.filter((fiber) => fiber.pollUnsafe() !== undefined).length),
          (done) => done === 1,
          refresh
        )
        flaky.gate = undefined
        yield* Deferred.succeed(gate, undefined)
        const texts = yield* Effect.forEach(calls, Fiber.join)
        expect([...texts].sort()).toEqual(["flaky", "steady"])
        expect(flaky.calls).toHaveLength(3)
        // The probe's success closed it for both.
        yield* eventually(
          "both breakers closed",
          Effect.zip(a.breaker, b.breaker),
          ([x, y]) => x.state === "closed" && y.state === "closed",
          refresh
        )
        expect([yield* a.chat, yield* b.chat]).toEqual(["flaky", "flaky"])
      })),
    60_000
  )

  it.live(
    "a failed probe opens it again for every instance; a probe's holder that never answers frees it within the lease " +
      "TTL",
    () =>
      Effect.scoped(Effect.gen(function*() {
        // A probe's lease of 3 s: b's call while a's probe hangs comes well within it.
        const { a, b, flaky } = yield* twoInstances(false, { leaseTtl: "3 seconds" })
        expect([yield* a.chat, yield* a.chat]).toEqual(["steady", "steady"])
        yield* eventually("b's breaker open", b.breaker, (breaker) => breaker.state === "open", refresh)

        // b probes after the period and fails: open again, on a too.
        yield* Effect.sleep("2100 millis")
        expect(yield* b.chat).toBe("steady")
        expect(flaky.calls).toEqual(["a", "a", "b"])
        yield* eventually("a's breaker open again", a.breaker, (breaker) =>
          breaker.state === "open" && breaker.until !== null, refresh)

        // a's probe hangs (an instance that died while probing): b may not probe until its lease is over.
        yield* Effect.sleep("2100 millis")
        const gate = yield* Deferred.make<void>()
        flaky.gate = gate
        const hung = yield* Effect.forkChild(a.chat)
        yield* eventually(
          "a's probe at the flaky deployment",
          Effect.sync(() =>
            flaky.calls.length
          ),
          (count) =>
            count === 4,
          refresh
        )
        flaky.gate = undefined
        expect(yield* b.chat).toBe("steady")
        expect(flaky.calls).toHaveLength(4)
        // The lease over, b's mirror learns at a refresh that no probe is out (polled: the refresh is every 250 ms).
        yield* Effect.sleep("3 seconds")
        yield* eventually("b's breaker with no probe out", b.breaker, (breaker) => !breaker.probing, refresh)
        flaky.healthy = true
        expect(yield* b.chat).toBe("flaky")
        expect(flaky.calls).toEqual(["a", "a", "b", "a", "b"])
        yield* Fiber.interrupt(hung)
      })),
    60_000
  )

  it.live(
    "a Retry-After one instance got holds the deployment back on the other, without a failure counted there",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const { a, b, flaky } = yield* twoInstances(true)
        flaky.answer = new LlmError.RateLimitError({
          provider: "flaky",
          model: "flaky-model",
          retryAfter: Duration.seconds(30)
        })
        expect(yield* a.chat).toBe("steady")
        flaky.answer = undefined
        yield* eventually("the deployment held back on b", b.limitedUntil, (until) => until !== null, refresh)
        expect(yield* b.chat).toBe("steady")
        expect(flaky.calls).toEqual(["a"])
        expect((yield* b.breaker).state).toBe("closed")
      })),
    60_000
  )
})

describe("Router: breakers shared through Router.layerStoreMemory", () => {
  it.effect("two routers naming one key of one memory store share a deployment's breaker; another key does not", () =>
    Effect.gen(function*() {
      const flaky: Flaky = { healthy: false, answer: undefined, gate: undefined, calls: [] }
      const stores = yield* Layer.build(Router.layerStoreMemory)
      const options = (key: string) => ({
        strategy: "priority" as const,
        key,
        cooldown: { failures: 3, window: "1 minute", period: "2 seconds" } as const,
        retryOn: ["ProviderUnavailableError" as const],
        deployments: [
          {
            name: "flaky",
            model: "flaky-model",
            llm: LlmTest.fromHandler(() => Effect.sync(() => (flaky.calls.push("x"), unavailable)))
          },
          { name: "steady", model: "steady-model", llm: LlmTest.fromHandler(() => Effect.succeed(LlmTest.reply("s"))) }
        ]
      })
      const [one, two, apart] = yield* Effect.forEach(
        ["main", "main", "other"],
        (key) => Effect.provide(Router.make(options(key)), stores)
      )
      yield* one!.chat(ask)
      yield* two!.chat(ask)
      yield* one!.chat(ask)
      // Three failures across the two routers open the one breaker: the first router's second failure opens it.
      expect((yield* one!.status).details["flaky"]!.cooldown.state).toBe("open")
      // No other process writes a memory store, so none polls it: the second router reads the open breaker at its
      // next step with the store (here its call's failure), not before.
      yield* TestClock.adjust("250 millis")
      expect((yield* two!.status).details["flaky"]!.cooldown).toMatchObject({ state: "closed", recentFailures: 2 })
      yield* two!.chat(ask)
      expect((yield* two!.status).details["flaky"]!.cooldown.state).toBe("open")
      expect(yield* Effect.map(two!.chat(ask), (reply) => reply.text)).toBe("s")
      expect(flaky.calls).toHaveLength(4)
      // A router on another key keeps its own breaker, closed.
      yield* apart!.chat(ask)
      expect(flaky.calls).toHaveLength(5)
      expect((yield* apart!.status).details["flaky"]!.cooldown.state).toBe("closed")
    }).pipe(Effect.scoped))

  it.effect(
    "a hold a stream's last chunk sets (its rate-limit headers: no tokens left) is the other router's too, from its " +
      "next step with the store",
    () =>
      Effect.gen(function*() {
        const stores = yield* Layer.build(Router.layerStoreMemory)
        let limitedCalls = 0
        // The first call's tokens come back in 30 seconds, the second's in 5.
        const spent = (reset: Duration.Duration) =>
          ChatChunk.fromResponse({ ...LlmTest.reply("limited"), rateLimit: { remainingTokens: 0, resetTokens: reset } })
        const options = {
          strategy: "priority" as const,
          key: "main",
          deployments: [
            {
              name: "limited",
              model: "limited-model",
              llm: LlmTest.fromHandler(() =>
                Effect.sync(() => ({ chunks: spent(Duration.seconds(limitedCalls++ === 0 ? 30 : 5)) }))
              )
            },
            {
              name: "steady",
              model: "steady-model",
              llm: LlmTest.fromHandler(() => Effect.succeed(LlmTest.reply("steady")))
            }
          ]
        }
        const [one, two] = yield* Effect.forEach([0, 1], () => Effect.provide(Router.make(options), stores))
        const streamed = (router: Router.Service) =>
          Effect.map(ChatChunk.collect(router.chatStream(ask)), (reply) => reply.text)
        expect(yield* streamed(one!)).toBe("limited")
        expect((yield* one!.status).details["limited"]!.limitedUntil).not.toBeNull()
        // No other process writes a memory store, so none polls it: the second router has not read the hold yet.
        yield* TestClock.adjust("10 seconds")
        expect((yield* two!.status).details["limited"]!.limitedUntil).toBeNull()
        // Its own stream's hold (5 seconds) is a step with the store, which answers the later of the two: the first's.
        expect(yield* streamed(two!)).toBe("limited")
        const held = (yield* two!.status).details["limited"]!.limitedUntil
        expect(held).toBeGreaterThan(Duration.toMillis("29 seconds"))
        expect(yield* streamed(two!)).toBe("steady")
        expect(limitedCalls).toBe(2)
      }).pipe(Effect.scoped)
  )
})
