import { describe, expect, it } from "@effect/vitest"
import { ChatChunk, LlmError, Message } from "effect-llm-router"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionPlan from "effect/ExecutionPlan"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Budget from "../src/Budget.js"
import type { Input as ChatRequest } from "../src/ChatRequest.js"
import type { ChatResponse, RateLimitSnapshot } from "../src/ChatResponse.js"
import * as KeyPool from "../src/KeyPool.js"
import * as Llm from "../src/Llm.js"
import * as LlmTest from "../src/LlmTest.js"
import type { OptionsError } from "../src/OptionsError.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as RateLimiter from "../src/RateLimiter.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import * as Router from "../src/Router.js"
import * as UsageLedger from "../src/UsageLedger.js"
import { effectProp } from "./utils/effectProp.js"
import { fakeHttpClient, jsonResponse } from "./utils/fakeHttpClient.js"
import {
  budgetInMemory,
  limiterInMemory,
  poolInMemory,
  registryInMemory,
  routerLayerInMemory
} from "./utils/memoryStores.js"
import { completion, usage } from "./utils/openAiChatWire.js"
import { recordingTracer } from "./utils/recordingTracer.js"

const ask = (model?: string): ChatRequest => ({
  messages: [Message.user("hi")],
  ...(model !== undefined ? { model } : {})
})

/** Calls seen per deployment, and the models they were sent with. */
const makeLog = () => {
  const calls = new Map<string, number>()
  const models: Array<string> = []
  return {
    calls,
    models,
    count: (name: string) => calls.get(name) ?? 0,
    seen: (name: string, request: ChatRequest) => {
      calls.set(name, (calls.get(name) ?? 0) + 1)
      models.push(request.model ?? "")
    }
  }
}

type Log = ReturnType<typeof makeLog>

/** A deployment that answers its own name after `delay`, or what `answer` says. */
const deployment = (
  log: Log,
  name: string,
  options?: {
    readonly answer?: () => LlmTest.Answer
    readonly delay?: () => Duration.Input
    readonly weight?: number
    readonly groups?: ReadonlyArray<string>
    readonly contextWindow?: number
    readonly model?: string
  }
): Router.Deployment<never, never> => ({
  name,
  model: options?.model ?? `${name}-model`,
  llm: LlmTest.fromHandler((request) => {
    log.seen(name, request)
    const answer = options?.answer?.() ?? LlmTest.reply(name)
    return options?.delay === undefined ? Effect.succeed(answer) : Effect.as(Effect.sleep(options.delay()), answer)
  }),
  ...(options?.weight !== undefined ? { weight: options.weight } : {}),
  ...(options?.groups !== undefined ? { groups: options.groups } : {}),
  ...(options?.contextWindow !== undefined ? { contextWindow: options.contextWindow } : {})
})

// Keys of a router's stores, the default's among them, so that two draws often name one.
const keyArbitrary = fc.constantFrom("router", "main", "other")

const seeded = <A, E, R>(effect: Effect.Effect<A, E, R>) => Random.withSeed(effect, "router-test")

/**
 * An `Llm` an application writes over the one it is given: the inner one spread (so its own members,
 * the deadline's among them, stay), with the members `wrap` returns in their place.
 */
const decorating = (wrap: (inner: Llm.Service) => Partial<Llm.Service>) =>
  Layer.effect(Llm.Llm, Effect.map(Llm.Llm, (inner) => Llm.Llm.of({ ...inner, ...wrap(inner) })))

const unavailable = (name: string) =>
  new LlmError.ProviderUnavailableError({ provider: name, model: `${name}-model`, status: 503 })

/** An `Llm` with the default options (its retry policy the default one) over `pool` and a provider whose `chat` is `chat`. */
const over = (id: string, pool: KeyPool.Service, chat: () => Effect.Effect<ChatResponse, LlmError.LlmError>) =>
  Llm.layer().pipe(Layer.provide(Layer.mergeAll(
    Layer.succeed(
      ProviderClient.ProviderClient,
      ProviderClient.ProviderClient.of({
        provider: id,
        chat,
        chatStream: () => Stream.never,
        embed: () => Effect.die("not embedded"),
        maxEmbeddingInputs: 1
      })
    ),
    Layer.succeed(KeyPool.KeyPool, pool),
    RateLimiter.unlimited
  )))

const run = <A, E>(
  options: Router.Options<Router.Deployment<OptionsError, never>>,
  body: Effect.Effect<A, E, Llm.Llm | Router.Router>
) =>
  seeded(
    Effect.scoped(Effect.flatMap(Layer.build(routerLayerInMemory(options)), (context) => Effect.provide(body, context)))
  )

describe("Router", () => {
  it.effect("weighted: 10,000 picks split as the weights within 2 percentage points", () => {
    const log = makeLog()
    return run(
      {
        deployments: [
          deployment(log, "a", { weight: 5 }),
          deployment(log, "b", { weight: 3 }),
          deployment(log, "c", { weight: 2 })
        ]
      },
      Effect.gen(function*() {
        for (let i = 0; i < 10_000; i++) yield* Llm.chat(ask())
        expect(Math.abs(log.count("a") / 10_000 - 0.5)).toBeLessThan(0.02)
        expect(Math.abs(log.count("b") / 10_000 - 0.3)).toBeLessThan(0.02)
        expect(Math.abs(log.count("c") / 10_000 - 0.2)).toBeLessThan(0.02)
      })
    )
  })

  it.effect("with Effect's default Random (drawn as Math.random), picks follow the weights too", () => {
    const log = makeLog()
    const options = {
      deployments: [
        deployment(log, "a", { weight: 5 }),
        deployment(log, "b", { weight: 3 }),
        deployment(log, "c", { weight: 2 })
      ]
    }
    return Effect.scoped(Effect.gen(function*() {
      const router = Context.get(yield* Layer.build(routerLayerInMemory(options)), Llm.Llm)
      for (let i = 0; i < 10_000; i++) yield* router.chat(ask())
      // Six standard deviations: a wrong draw fails this, chance does not.
      expect(Math.abs(log.count("a") / 10_000 - 0.5)).toBeLessThan(0.03)
      expect(Math.abs(log.count("b") / 10_000 - 0.3)).toBeLessThan(0.03)
      expect(Math.abs(log.count("c") / 10_000 - 0.2)).toBeLessThan(0.03)
    }))
  })

  it.effect("a seeded Random reproduces the same picks", () => {
    const picks = () => {
      const log = makeLog()
      return Effect.map(
        run(
          { deployments: [deployment(log, "a"), deployment(log, "b")] },
          Effect.forEach(Array.from({ length: 50 }), () => Effect.map(Llm.chat(ask()), (response) => response.text))
        ),
        (texts) => texts.join(",")
      )
    }
    return Effect.gen(function*() {
      const first = yield* picks()
      expect(yield* picks()).toBe(first)
      expect(first).toContain("a")
      expect(first).toContain("b")
    })
  })

  it.effect("groups and model names address their deployments; the chosen one is called with its own model", () => {
    const log = makeLog()
    return run(
      {
        deployments: [
          deployment(log, "mini", { groups: ["fast"], model: "gpt-4o-mini" }),
          deployment(log, "big", { groups: ["smart"], model: "gpt-4o" })
        ]
      },
      Effect.gen(function*() {
        expect((yield* Llm.chat(ask("fast"))).text).toBe("mini")
        expect((yield* Llm.chat(ask("smart"))).text).toBe("big")
        expect((yield* Llm.chat(ask("gpt-4o"))).text).toBe("big")
        expect((yield* Llm.chat(ask("big"))).text).toBe("big")
        expect(log.models).toEqual(["gpt-4o-mini", "gpt-4o", "gpt-4o", "gpt-4o"])
        const error = yield* Effect.flip(Llm.chat(ask("nope")))
        expect(error._tag).toBe("ModelNotFoundError")
        expect(error.model).toBe("nope")
        expect(error.message).toContain("known: mini, fast, gpt-4o-mini, big, smart, gpt-4o")
      })
    )
  })

  it.effect("least busy: a call goes to the deployment with the fewest calls in flight", () => {
    const log = makeLog()
    return run(
      {
        strategy: "least-busy",
        deployments: [
          deployment(log, "a", { delay: () => "1 minute" }),
          deployment(log, "b", { delay: () => "1 minute" })
        ]
      },
      Effect.gen(function*() {
        const started = (n: number) =>
          Effect.repeat(Effect.yieldNow, { until: () => log.count("a") + log.count("b") >= n })
        const first = yield* Effect.forkChild(Llm.chat(ask()))
        yield* started(1)
        const second = yield* Effect.forkChild(Llm.chat(ask()))
        yield* started(2)
        const status = yield* Router.status
        expect(status.details["a"]!.inFlight).toBe(1)
        expect(status.details["b"]!.inFlight).toBe(1)
        yield* TestClock.adjust("1 minute")
        const texts = [(yield* Fiber.join(first)).text, (yield* Fiber.join(second)).text].sort()
        expect(texts).toEqual(["a", "b"])
        expect((yield* Router.status).details["a"]!.inFlight).toBe(0)
      })
    )
  })

  it.effect("lowest latency: the slow deployment gets little traffic, and is tried again once it recovers", () => {
    const log = makeLog()
    let slow: Duration.Input = "2 seconds"
    const chat = Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Llm.chat(ask()))
      yield* TestClock.adjust("5 seconds")
      return yield* Fiber.join(fiber)
    })
    return run(
      {
        strategy: "lowest-latency",
        exploration: 0.1,
        deployments: [
          deployment(log, "slow", { delay: () => slow }),
          deployment(log, "fast", { delay: () => "100 millis" })
        ]
      },
      Effect.gen(function*() {
        for (let i = 0; i < 200; i++) yield* chat
        expect(log.count("slow")).toBeLessThan(20)
        expect(log.count("fast")).toBeGreaterThan(180)
        expect((yield* Router.status).details["fast"]!.latencyMillis).toBe(100)
        // Explored picks measure the recovered deployment until its mean is the lowest.
        slow = "10 millis"
        log.calls.clear()
        for (let i = 0; i < 500; i++) yield* chat
        expect(log.count("slow")).toBeGreaterThan(100)
        log.calls.clear()
        for (let i = 0; i < 100; i++) yield* chat
        expect(log.count("slow")).toBeGreaterThan(85)
      })
    )
  })

  it.effect("priority: the first listed usable deployment", () => {
    const log = makeLog()
    return run(
      { strategy: "priority", deployments: [deployment(log, "first"), deployment(log, "second")] },
      Effect.gen(function*() {
        for (let i = 0; i < 20; i++) expect((yield* Llm.chat(ask())).text).toBe("first")
      })
    )
  })

  it.effect("lowest cost: the cheapest deployment for the request's estimated tokens", () => {
    const log = makeLog()
    const readsMuch = { input: 0.1, output: 10 }
    const writesMuch = { input: 5, output: 0.5 }
    return run(
      {
        strategy: "lowest-cost",
        deployments: [
          { ...deployment(log, "unpriced", { model: "unknown-model" }) },
          { ...deployment(log, "cheap-input"), price: readsMuch },
          { ...deployment(log, "cheap-output"), price: writesMuch }
        ]
      },
      Effect.gen(function*() {
        const longPrompt = { messages: [Message.user("x".repeat(4_000))], maxTokens: 1 }
        const longReply = { messages: [Message.user("hi")], maxTokens: 4_000 }
        for (let i = 0; i < 5; i++) {
          expect((yield* Llm.chat(longPrompt)).text).toBe("cheap-input")
          expect((yield* Llm.chat(longReply)).text).toBe("cheap-output")
        }
        expect(log.count("unpriced")).toBe(0)
      })
    )
  })

  it.effect(
    "budgets: a deployment over its limit is passed over before sending; over the overall limit the call " +
      "fails",
    () => {
      const log = makeLog()
      // 0.06 dollar a token: "hi" with maxTokens 1 costs at most 10 tokens (2 bytes, 4 for the message's markers, 3 for
      // the reply's priming, 1 reply token), 0.6 dollars.
      const price = { input: 60_000, output: 60_000 }
      const request = { messages: [Message.user("hi")], maxTokens: 1 }
      return Effect.gen(function*() {
        const budget = yield* budgetInMemory({
          limits: [{ scope: "a", limit: 1, period: "1 day" }, { scope: Budget.overall, limit: 1.5, period: "1 day" }]
        })
        yield* run(
          {
            strategy: "priority",
            budget,
            deployments: [{ ...deployment(log, "a"), price }, { ...deployment(log, "b"), price }]
          },
          Effect.gen(function*() {
            expect((yield* Llm.chat(request)).text).toBe("a")
            expect((yield* Llm.chat(request)).text).toBe("b")
            expect(log.count("a")).toBe(1)
            const error = yield* Effect.flip(Llm.chat(request))
            expect(error._tag).toBe("BudgetExceededError")
            expect(error._tag === "BudgetExceededError" && error.scope).toBe(Budget.overall)
            expect(error.attempts?.map((attempt) => [attempt.deployment, attempt.error])).toEqual([
              ["a", "BudgetExceededError"],
              ["b", "BudgetExceededError"]
            ])
            expect(log.count("a") + log.count("b")).toBe(2)
            const budgets = (yield* Router.status).details["a"]!.budgets
            expect(budgets.map((limit) => [limit.scope, Math.round(limit.spent * 10) / 10])).toEqual([["a", 0.6], [
              "overall",
              1.2
            ]])
          })
        )
      })
    }
  )

  it.effect(
    "budgets: a routed stream that fails before its first chunk is charged nothing, as a failed chat " +
      "is",
    () => {
      const log = makeLog()
      // 0.1 dollar a token: "hi" with maxTokens 1 costs at most 10 tokens, 1 dollar.
      const price = { input: 100_000, output: 100_000 }
      const request = { messages: [Message.user("hi")], maxTokens: 1 }
      return Effect.gen(function*() {
        const budget = yield* budgetInMemory({ limits: [{ scope: Budget.overall, limit: 10, period: "1 day" }] })
        yield* run(
          { budget, deployments: [{ ...deployment(log, "a", { answer: () => unavailable("a") }), price }] },
          Effect.gen(function*() {
            expect((yield* Effect.flip(Llm.chat(request)))._tag).toBe("ProviderUnavailableError")
            expect((yield* Effect.flip(Stream.runDrain(Llm.chatStream(request))))._tag).toBe("ProviderUnavailableError")
            expect(log.count("a")).toBe(2)
            const [overall] = (yield* Router.status).details["a"]!.budgets
            expect(overall).toMatchObject({ scope: Budget.overall, spent: 0, reserved: 0 })
          })
        )
      })
    }
  )

  it.effect("status counts the malformed events each deployment's replies skipped, chat and stream alike", () => {
    const log = makeLog()
    return run(
      {
        strategy: "priority",
        deployments: [
          deployment(log, "a", { answer: () => ({ ...LlmTest.reply("a"), skippedEvents: 2 }) }),
          deployment(log, "b")
        ]
      },
      Effect.gen(function*() {
        expect((yield* Llm.chat(ask())).skippedEvents).toBe(2)
        const chunks = yield* Stream.runCollect(Llm.chatStream(ask()))
        expect(chunks.find((chunk) => chunk._tag === "Finish")).toMatchObject({ skippedEvents: 2 })
        expect((yield* Llm.chat(ask("b"))).skippedEvents).toBeUndefined()
        const { details } = yield* Router.status
        expect(details["a"]!.skippedEvents).toBe(4)
        expect(details["b"]!.skippedEvents).toBe(0)
      })
    )
  })

  it.effect("a ledger records each call's cost under its deployment, and status shows the spend", () => {
    const log = makeLog()
    return Effect.gen(function*() {
      const ledger = yield* UsageLedger.make
      yield* run(
        {
          strategy: "priority",
          ledger,
          deployments: [
            deployment(log, "a", { answer: () => ({ ...LlmTest.reply("a"), cost: 0.25 }) }),
            deployment(log, "b")
          ]
        },
        Effect.gen(function*() {
          yield* Llm.chat(ask())
          yield* ChatChunk.collect(Llm.chatStream(ask()))
          expect((yield* Router.status).details["a"]!.spend).toBe(0.5)
          expect((yield* Router.status).details["b"]!.spend).toBe(0)
          expect((yield* ledger.totals).byDeployment["a"]!.requests).toBe(2)
        })
      )
    })
  })

  const triggers = [
    new LlmError.ContentFilterError({ provider: "p", model: "m" }),
    new LlmError.RateLimitError({ provider: "p", model: "m", status: 429 }),
    unavailable("p"),
    new LlmError.ModelNotFoundError({ provider: "p", model: "m", status: 404 })
  ]
  for (const trigger of triggers) {
    it.effect(`falls back on ${trigger._tag}`, () => {
      const log = makeLog()
      return run(
        {
          deployments: [deployment(log, "primary", { answer: () => trigger }), deployment(log, "backup")],
          fallbacks: { primary: [{ to: "backup", on: [trigger._tag] }] }
        },
        Effect.gen(function*() {
          expect((yield* Llm.chat(ask("primary"))).text).toBe("backup")
          expect(log.count("primary")).toBe(1)
        })
      )
    })
  }

  it.effect("ContextLengthError falls back to a deployment with a larger context window only", () => {
    const log = makeLog()
    return run(
      {
        deployments: [
          deployment(log, "small", {
            contextWindow: 8_000,
            answer: () => new LlmError.ContextLengthError({ provider: "p", model: "m", status: 400 })
          }),
          deployment(log, "same", { contextWindow: 8_000, groups: ["long"] }),
          deployment(log, "large", { contextWindow: 200_000, groups: ["long"] })
        ],
        fallbacks: { small: [{ to: "long", on: ["ContextLengthError"] }] }
      },
      Effect.gen(function*() {
        for (let i = 0; i < 10; i++) expect((yield* Llm.chat(ask("small"))).text).toBe("large")
        expect(log.count("same")).toBe(0)
      })
    )
  })

  it.effect(
    "a group's fallbacks apply to its members; an error no fallback takes ends the call with its " +
      "attempts",
    () => {
      const log = makeLog()
      return run(
        {
          deployments: [
            deployment(log, "a", { groups: ["g"], answer: () => unavailable("a") }),
            deployment(log, "b", { groups: ["g"], answer: () => unavailable("b") }),
            deployment(log, "c", {
              answer: () => new LlmError.InvalidRequestError({ provider: "c", model: "c-model", status: 400 })
            })
          ],
          fallbacks: { g: [{ to: "c", on: ["ProviderUnavailableError"] }] }
        },
        Effect.gen(function*() {
          const error = yield* Effect.flip(Llm.chat(ask("g")))
          expect(error._tag).toBe("InvalidRequestError")
          expect(error.provider).toBe("c")
          expect(error.attempts?.map((attempt) => [attempt.deployment, attempt.error]).sort()).toEqual([
            ["a", "ProviderUnavailableError"],
            ["b", "ProviderUnavailableError"],
            ["c", "InvalidRequestError"]
          ])
          expect(error.attempts?.[2]?.deployment).toBe("c")
          expect(error.message).toContain("Tried: ")
        })
      )
    }
  )

  it.effect("the final error lists each attempt's deployment, tag and message, with a timeout's phase", () => {
    const log = makeLog()
    const silent = new LlmError.TimeoutError({
      provider: "a",
      model: "a-model",
      timeout: Duration.seconds(30),
      phase: "headers"
    })
    const stalled = new LlmError.TimeoutError({
      provider: "b",
      model: "b-model",
      timeout: Duration.seconds(5),
      phase: "idle"
    })
    return run(
      {
        strategy: "priority",
        deployments: [
          deployment(log, "a", { answer: () => silent, model: "m" }),
          deployment(log, "b", { answer: () => stalled, model: "m" }),
          deployment(log, "c", { answer: () => unavailable("c"), model: "m" })
        ]
      },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Llm.chat(ask("m")))
        expect(error.attempts).toEqual([
          { deployment: "a", error: "TimeoutError", message: silent.message, phase: "headers" },
          { deployment: "b", error: "TimeoutError", message: stalled.message, phase: "idle" },
          { deployment: "c", error: "ProviderUnavailableError", message: unavailable("c").message }
        ])
        expect(error.message).toContain(
          "Tried: a (TimeoutError, phase headers), b (TimeoutError, phase idle), c (ProviderUnavailableError)."
        )
        // The list is part of the error's schema: it encodes and decodes back.
        const codec = Schema.toCodecJson(LlmError.LlmError)
        const decoded = Schema.decodeUnknownSync(codec)(Schema.encodeSync(codec)(error))
        expect(decoded.attempts).toEqual(error.attempts)
      })
    )
  })

  it.effect(
    "a shared store away (NoCapacityError storeUnavailable) opens no breaker: it says nothing of the " +
      "deployment",
    () => {
      const log = makeLog()
      const away = new LlmError.NoCapacityError({ provider: "a", model: "m", storeUnavailable: true })
      return run(
        { deployments: [deployment(log, "a", { answer: () => away })], cooldown: { failures: 1 } },
        Effect.gen(function*() {
          for (let i = 0; i < 3; i++) {
            expect(yield* Effect.flip(Llm.chat(ask()))).toMatchObject({ storeUnavailable: true })
          }
          expect(log.count("a")).toBe(3)
          expect((yield* Router.status).details["a"]!.cooldown.state).toBe("closed")
        })
      )
    }
  )

  it.effect("an OutputDecodeError (a garbled reply) tries the next deployment by default", () => {
    const log = makeLog()
    const garbled = new LlmError.OutputDecodeError({
      provider: "a",
      model: "a-model",
      raw: "{\"choices\": [",
      detail: "not JSON"
    })
    return run(
      { strategy: "priority", deployments: [deployment(log, "a", { answer: () => garbled }), deployment(log, "b")] },
      Effect.gen(function*() {
        expect((yield* Llm.chat(ask())).text).toBe("b")
        expect(log.count("a")).toBe(1)
      })
    )
  })

  it.effect("an error that no fallback names is not retried elsewhere", () => {
    const log = makeLog()
    return run(
      {
        deployments: [
          deployment(log, "a", { answer: () => new LlmError.ContentFilterError({ provider: "a", model: "a-model" }) }),
          deployment(log, "b")
        ],
        fallbacks: { a: [{ to: "b", on: ["RateLimitError"] }] }
      },
      Effect.gen(function*() {
        const error = yield* Effect.flip(Llm.chat(ask("a")))
        expect(error._tag).toBe("ContentFilterError")
        expect(error.attempts).toEqual([{
          deployment: "a",
          error: "ContentFilterError",
          message: error.attempts![0]!.message
        }])
        expect(log.count("b")).toBe(0)
      })
    )
  })

  const textDelta: ChatChunk.ChatChunk = { _tag: "TextDelta", text: "par" }
  // The chunk a router's stream opens with when its first attempt, at `deployment`, answers.
  const startAt = (deployment: string, model = "m"): ChatChunk.Start => ({
    _tag: "Start",
    attempt: 1,
    deployment,
    model
  })
  const midStreamFailure = (log: Log): Router.Deployment<never, never> => ({
    name: "primary",
    model: "m",
    llm: Layer.succeed(
      Llm.Llm,
      Llm.Llm.of({
        chat: () => Effect.fail(unavailable("primary")),
        chatStream: () => {
          log.seen("primary", ask())
          return Stream.concat(Stream.make(textDelta), Stream.fail(unavailable("primary")))
        },
        embed: () => Effect.die("not embedded"),
        countTokens: () => Effect.die("not counted")
      })
    )
  })

  it.effect("a stream opens with a Start chunk naming the deployment and model that answer, before any of the reply", () => {
    const log = makeLog()
    return run(
      { deployments: [deployment(log, "primary", { model: "primary-model" })] },
      Effect.gen(function*() {
        const chunks = yield* Stream.runCollect(Llm.chatStream(ask("primary")))
        expect(chunks[0]).toEqual({ _tag: "Start", attempt: 1, deployment: "primary", model: "primary-model" })
        expect(chunks.slice(1).map((chunk) => chunk._tag)).toEqual(["TextDelta", "Usage", "Finish"])
        const response = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        expect(response.text).toBe("primary")
      })
    )
  })

  it.effect("a stream falls back before its first chunk, and its Start chunk names the answerer and the failure", () => {
    const log = makeLog()
    return run(
      {
        deployments: [deployment(log, "primary", { answer: () => unavailable("primary") }), deployment(log, "backup")],
        fallbacks: { primary: [{ to: "backup", on: ["ProviderUnavailableError"] }] }
      },
      Effect.gen(function*() {
        const chunks = yield* Stream.runCollect(Llm.chatStream(ask("primary")))
        expect(chunks[0]).toEqual({
          _tag: "Start",
          attempt: 2,
          deployment: "backup",
          model: "backup-model",
          from: "primary",
          error: "ProviderUnavailableError"
        })
        expect(chunks.filter((chunk) => chunk._tag === "Start")).toHaveLength(1)
        const response = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        expect(response.text).toBe("backup")
        expect((yield* Router.status).details["backup"]!.inFlight).toBe(0)
      })
    )
  })

  it.effect("midStream \"fail\": a failure after the first chunk fails the stream", () => {
    const log = makeLog()
    return run(
      {
        midStream: "fail",
        deployments: [midStreamFailure(log), deployment(log, "backup")],
        fallbacks: { primary: [{ to: "backup", on: ["ProviderUnavailableError"] }] }
      },
      Effect.gen(function*() {
        const received: Array<ChatChunk.ChatChunk> = []
        const exit = yield* Effect.exit(Stream.runForEach(Llm.chatStream(ask("primary")), (chunk) =>
          Effect.sync(() => {
            received.push(chunk)
          })))
        expect(received).toEqual([startAt("primary"), textDelta])
        expect(Exit.isFailure(exit)).toBe(true)
        const error = yield* Effect.flip(exit)
        expect(error._tag).toBe("ProviderUnavailableError")
        expect(log.count("backup")).toBe(0)
        expect((yield* Router.status).details["primary"]!.inFlight).toBe(0)
      })
    )
  })

  // Mid-stream restarts: "primary" (an Llm over one key) sends `partial` and
  // breaks with `broken`; "backup" (an Llm over one key) answers whole, after
  // `backupDelay` before its first chunk.
  const backupAnswer = LlmTest.reply("the whole answer", {
    usage: { promptTokens: 3, completionTokens: 4, totalTokens: 7 }
  })
  const restarting = (
    broken: LlmError.LlmError,
    options?: { readonly midStream?: "restart" | "fail"; readonly backupDelay?: Duration.Input }
  ) => {
    const opened = { primary: 0, backup: 0 }
    const partial: ReadonlyArray<ChatChunk.ChatChunk> = [
      { _tag: "TextDelta", text: "a partial " },
      { _tag: "TextDelta", text: "answer" },
      { _tag: "Usage", usage: { ...backupAnswer.usage, completionTokens: 100, totalTokens: 103 } }
    ]
    const router = routerLayerInMemory({
      ...(options?.midStream !== undefined ? { midStream: options.midStream } : {}),
      deployments: [
        {
          name: "primary",
          model: "m",
          llm: llmOver("primary", () => Effect.die("not chatted"), undefined, () => {
            opened.primary++
            return Stream.concat(Stream.fromIterable(partial), Stream.fail(broken))
          })
        },
        {
          name: "backup",
          model: "m",
          llm: llmOver("backup", () => Effect.die("not chatted"), undefined, () => {
            opened.backup++
            const answer = Stream.fromIterable(ChatChunk.fromResponse(backupAnswer))
            return options?.backupDelay === undefined
              ? answer
              : Stream.concat(
                Stream.fromEffect(Effect.as(Effect.sleep(options.backupDelay), backupAnswer.text)).pipe(Stream.drain),
                answer
              )
          })
        }
      ],
      fallbacks: { primary: [{ to: "backup", on: [broken._tag] }] }
    })
    return { opened, partial, router }
  }

  it.effect(
    "traced, a restarted stream: its call span, the broken attempt's span ended with its error, the " +
      "restart's, until the stream ends",
    () => {
      const broken = new LlmError.TransportError({ provider: "primary", model: "m", detail: "connection reset" })
      const { router } = restarting(broken)
      return Effect.gen(function*() {
        const { spans, tracer } = recordingTracer()
        const reply = yield* ChatChunk.collect(Llm.chatStream(ask("primary"))).pipe(Effect.withTracer(tracer))
        expect(reply.text).toBe("the whole answer")
        const call = spans.find((span) => span.name === "chat primary")!
        expect(Object.fromEntries(call.attributes)).toMatchObject({
          "gen_ai.operation.name": "chat",
          "gen_ai.request.model": "primary",
          "gen_ai.usage.input_tokens": 3,
          "gen_ai.usage.output_tokens": 4,
          "llm_router.deployment": "backup",
          "llm_router.attempts": 2
        })
        const attempts = spans.filter((span) => span.name === "Router.attempt")
        expect(
          attempts.map((
            span
          ) => [span.parent, span.attributes.get("llm_router.deployment"), span.attributes.get("error.type")])
        )
          .toEqual([[call.spanId, "primary", "TransportError"], [call.spanId, "backup", undefined]])
        // The deployments' Llms make no call span of their own: their attempts are under the router's.
        expect(spans.filter((span) => span.name.startsWith("chat ")).map((span) => span.name)).toEqual(["chat primary"])
        const inner = spans.filter((span) => span.name === "Llm.attempt")
        expect(inner.map((span) => span.parent)).toEqual(attempts.map((span) => span.spanId))
        expect(spans.every((span) => span.ended)).toBe(true)
      }).pipe(Effect.provide(router), seeded)
    }
  )

  /** Nothing in flight, no key taken, in any deployment. */
  const allFree = Effect.map(
    Router.status,
    (status) =>
      Object.values(status.details).every((load) => load.inFlight === 0 && load.keys.every((key) => key.current === 0))
  )

  for (
    const broken of [
      new LlmError.StreamTruncatedError({
        provider: "primary",
        model: "m",
        detail: "the stream ended without its terminal event"
      }),
      new LlmError.TransportError({ provider: "primary", model: "m", detail: "connection reset" })
    ]
  ) {
    it.effect(
      `a stream that breaks after its first chunks (${broken._tag}) restarts on the fallback: the consumer ` +
        `sees the chunks, a Restart, the whole answer`,
      () => {
        const { opened, partial, router } = restarting(broken)
        return Effect.gen(function*() {
          const received: Array<ChatChunk.ChatChunk> = []
          let freedAtRestart = false
          yield* Stream.runForEach(Llm.chatStream(ask("primary")), (chunk) =>
            Effect.gen(function*() {
              received.push(chunk)
              // The broken attempt's deployment and key are let go before the next one is opened.
              if (chunk._tag === "Restart") {
                const primary = (yield* Router.status).details["primary"]!
                freedAtRestart = primary.inFlight === 0 && primary.keys[0]!.current === 0
              }
            }))
          const restart: ChatChunk.Restart = {
            _tag: "Restart",
            attempt: 2,
            deployment: "backup",
            model: "m",
            from: "primary",
            error: broken._tag
          }
          expect(received.slice(0, partial.length + 2)).toEqual([startAt("primary"), ...partial, restart])
          expect(received.slice(partial.length + 2).map((chunk) => chunk._tag)).toEqual([
            "TextDelta",
            "Usage",
            "Finish"
          ])
          expect(freedAtRestart).toBe(true)
          expect(opened).toEqual({ primary: 1, backup: 1 })
          // collect keeps only the last attempt: the fallback's text and usage, not the broken attempt's.
          const collected = yield* ChatChunk.collect(Stream.fromIterable(received))
          expect(collected.text).toBe("the whole answer")
          expect(collected.usage).toEqual(backupAnswer.usage)
          expect((yield* ChatChunk.collect(Llm.chatStream(ask("primary")))).text).toBe("the whole answer")
          const details = (yield* Router.status).details
          expect(details["primary"]!.failures).toBe(2)
          expect(yield* allFree).toBe(true)
        }).pipe(Effect.provide(router), seeded)
      }
    )
  }

  it.effect("midStream \"fail\" over Llm deployments: the stream fails as the primary broke, and frees its key", () => {
    const broken = new LlmError.TransportError({ provider: "primary", model: "m", detail: "connection reset" })
    const { opened, router } = restarting(broken, { midStream: "fail" })
    return Effect.gen(function*() {
      const error = yield* Effect.flip(ChatChunk.collect(Llm.chatStream(ask("primary"))))
      expect(error).toEqual(broken)
      expect(opened).toEqual({ primary: 1, backup: 0 })
      expect(yield* allFree).toBe(true)
    }).pipe(Effect.provide(router), seeded)
  })

  it.effect("a restart with nowhere to go fails the stream with the error and its attempts", () => {
    const log = makeLog()
    return run(
      { deployments: [midStreamFailure(log)] },
      Effect.gen(function*() {
        const received: Array<ChatChunk.ChatChunk> = []
        const error = yield* Effect.flip(Stream.runForEach(Llm.chatStream(ask()), (chunk) =>
          Effect.sync(() => {
            received.push(chunk)
          })))
        expect(received).toEqual([startAt("primary"), textDelta])
        expect(error._tag).toBe("ProviderUnavailableError")
        expect(error.attempts).toEqual([{
          deployment: "primary",
          error: "ProviderUnavailableError",
          message: unavailable("primary").message
        }])
        expect((yield* Router.status).details["primary"]!.inFlight).toBe(0)
      })
    )
  })

  it.effect("interrupting a stream while its restart opens frees both deployments and their keys", () => {
    const broken = new LlmError.TransportError({ provider: "primary", model: "m", detail: "connection reset" })
    const { opened, router } = restarting(broken, { backupDelay: "10 seconds" })
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Stream.runDrain(Llm.chatStream(ask("primary"))))
      yield* Effect.repeat(Effect.yieldNow, { until: () => opened.backup === 1 })
      const during = (yield* Router.status).details
      expect(during["primary"]!.inFlight).toBe(0)
      expect(during["backup"]!.inFlight).toBe(1)
      expect(during["backup"]!.keys[0]!.current).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(yield* allFree).toBe(true)
    }).pipe(Effect.provide(router), seeded)
  })

  it.effect(
    "a router inside a router streams: the inner one falls back before the first chunk, a later failure " +
      "fails the stream, and both free their deployments",
    () => {
      const log = makeLog()
      const inner = routerLayerInMemory({
        deployments: [deployment(log, "primary", { answer: () => unavailable("primary") }), deployment(log, "backup")],
        fallbacks: { primary: [{ to: "backup", on: ["ProviderUnavailableError"] }] }
      })
      const failing = routerLayerInMemory({ deployments: [midStreamFailure(log)] })
      return run(
        {
          deployments: [
            { name: "nested", model: "primary", llm: inner, groups: ["ok"] },
            { name: "failing", model: "primary", llm: failing, groups: ["broken"] }
          ]
        },
        Effect.gen(function*() {
          const response = yield* ChatChunk.collect(Llm.chatStream(ask("ok")))
          expect(response.text).toBe("backup")
          const received: Array<ChatChunk.ChatChunk> = []
          const error = yield* Effect.flip(
            Stream.runForEach(Llm.chatStream(ask("broken")), (chunk) =>
              Effect.sync(() => {
                received.push(chunk)
              }))
          )
          // Each router opens the stream with its own answering deployment: the outer one's, then the inner one's.
          expect(received).toEqual([startAt("failing", "primary"), startAt("primary"), textDelta])
          expect(error._tag).toBe("ProviderUnavailableError")
          const details = (yield* Router.status).details
          expect(details["nested"]!.inFlight + details["failing"]!.inFlight).toBe(0)
          expect(details["failing"]!.failures).toBe(1)
        })
      )
    }
  )

  it.effect(
    "cooldown: opens after N failures in the window, half-opens after the period, closes on a good " +
      "probe",
    () => {
      const log = makeLog()
      let healthy = false
      return run(
        {
          strategy: "priority",
          cooldown: { failures: 2, window: "1 minute", period: "30 seconds" },
          deployments: [
            deployment(log, "flaky", { answer: () => healthy ? LlmTest.reply("flaky") : unavailable("flaky") }),
            deployment(log, "steady")
          ]
        },
        Effect.gen(function*() {
          expect((yield* Llm.chat(ask())).text).toBe("steady")
          expect((yield* Router.status).details["flaky"]!.cooldown.state).toBe("closed")
          expect((yield* Llm.chat(ask())).text).toBe("steady")
          const open = (yield* Router.status).details["flaky"]!.cooldown
          expect(open.state).toBe("open")
          expect(open.until).toBe(30_000)
          expect((yield* Llm.chat(ask())).text).toBe("steady")
          expect(log.count("flaky")).toBe(2)
          yield* TestClock.adjust("30 seconds")
          expect((yield* Router.status).details["flaky"]!.cooldown.state).toBe("half-open")
          // A failed probe opens it again for another period.
          expect((yield* Llm.chat(ask())).text).toBe("steady")
          expect(log.count("flaky")).toBe(3)
          expect((yield* Router.status).details["flaky"]!.cooldown).toEqual({
            state: "open",
            until: 60_000,
            probing: false,
            recentFailures: 0
          })
          yield* TestClock.adjust("30 seconds")
          healthy = true
          expect((yield* Llm.chat(ask())).text).toBe("flaky")
          expect((yield* Router.status).details["flaky"]!.cooldown.state).toBe("closed")
        })
      )
    }
  )

  it.effect("cooldown: failures older than the window do not count", () => {
    const log = makeLog()
    return run(
      {
        strategy: "priority",
        cooldown: { failures: 2, window: "1 minute" },
        deployments: [deployment(log, "flaky", { answer: () => unavailable("flaky") }), deployment(log, "steady")]
      },
      Effect.gen(function*() {
        yield* Llm.chat(ask())
        yield* TestClock.adjust("61 seconds")
        yield* Llm.chat(ask())
        expect((yield* Router.status).details["flaky"]!.cooldown).toEqual({
          state: "closed",
          until: null,
          probing: false,
          recentFailures: 1
        })
      })
    )
  })

  it.effect("half-open: one probe at a time, and status shows it out", () => {
    const log = makeLog()
    let healthy = false
    return run(
      {
        strategy: "priority",
        cooldown: { failures: 1, period: "10 seconds" },
        deployments: [
          deployment(log, "flaky", {
            answer: () => healthy ? LlmTest.reply("flaky") : unavailable("flaky"),
            delay: () => "1 second"
          }),
          deployment(log, "steady")
        ]
      },
      Effect.gen(function*() {
        const first = yield* Effect.forkChild(Llm.chat(ask()))
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(first)).text).toBe("steady")
        yield* TestClock.adjust("10 seconds")
        healthy = true
        const probe = yield* Effect.forkChild(Llm.chat(ask()))
        yield* Effect.repeat(Effect.yieldNow, { until: () => log.count("flaky") === 2 })
        expect((yield* Router.status).details["flaky"]!.cooldown).toEqual({
          state: "half-open",
          until: null,
          probing: true,
          recentFailures: 0
        })
        expect((yield* Llm.chat(ask())).text).toBe("steady")
        yield* TestClock.adjust("1 second")
        expect((yield* Fiber.join(probe)).text).toBe("flaky")
        expect((yield* Router.status).details["flaky"]!.cooldown).toEqual({
          state: "closed",
          until: null,
          probing: false,
          recentFailures: 0
        })
      })
    )
  })

  for (
    const [kind, call] of [
      ["chat", Llm.chat(ask())],
      ["stream", ChatChunk.collect(Llm.chatStream(ask()))]
    ] as const
  ) {
    it.effect(
      `half-open: the probe is one attempt of the deployment's Llm (${kind}), so traffic is back on a ` +
        `recovered primary within one cooldown`,
      () => {
        // The primary's provider fails every request for its first 60 seconds; its
        // Llm retries three times. A request every 4 seconds.
        const requests: Array<number> = []
        const recovery = 60_000
        const answer = Effect.flatMap(Clock.currentTimeMillis, (now) => {
          requests.push(now)
          return now < recovery ? Effect.fail(unavailable("primary")) : Effect.succeed(LlmTest.reply("primary"))
        })
        const primary = llmOver(
          "primary",
          () => answer,
          { retry: RetryPolicy.make({ maxRetries: 3, baseDelay: "100 millis", jitter: false }) },
          () => Stream.unwrap(Effect.map(answer, (reply) => Stream.fromIterable(ChatChunk.fromResponse(reply))))
        )
        const log = makeLog()
        const router = routerLayerInMemory({
          strategy: "priority",
          cooldown: { failures: 3, window: "1 minute", period: "30 seconds" },
          deployments: [{ name: "primary", model: "m", llm: primary }, deployment(log, "fallback")]
        })
        return Effect.gen(function*() {
          const served: Array<{ readonly at: number; readonly by: string }> = []
          const cooldowns: Array<Router.DeploymentLoad["cooldown"]> = []
          const requestsAt = (from: number, to: number) => requests.filter((at) => at >= from && at < to).length
          for (let at = 0; at <= 100_000; at += 4_000) {
            cooldowns.push((yield* Router.status).details["primary"]!.cooldown)
            const fiber = yield* Effect.forkChild(call)
            yield* TestClock.adjust("4 seconds")
            served.push({ at, by: (yield* Fiber.join(fiber)).text })
          }
          // Calls at 0, 4 and 8 seconds: four requests each (the Llm's retries), then the fallback; the third opens the
          // breaker.
          expect(served.slice(0, 3).map((call) => call.by)).toEqual(["fallback", "fallback", "fallback"])
          expect(requestsAt(0, 12_000)).toBe(12)
          expect(cooldowns[3]).toEqual({ state: "open", until: 8_700 + 30_000, probing: false, recentFailures: 0 })
          // The probe at 40 seconds sends one request, fails, and opens the breaker for another period.
          expect(cooldowns[10]).toEqual({ state: "half-open", until: null, probing: false, recentFailures: 0 })
          expect(requestsAt(12_000, 44_000)).toBe(1)
          expect(cooldowns[11]).toEqual({ state: "open", until: 40_000 + 30_000, probing: false, recentFailures: 0 })
          // The primary recovered at 60 seconds; the probe at 72 sends one request, which succeeds, and traffic is
          // back.
          const back = served.find((call) => call.by === "primary")!
          expect(back.at).toBe(72_000)
          expect(back.at - recovery).toBeLessThanOrEqual(30_000)
          expect(requestsAt(44_000, 76_000)).toBe(1)
          expect(served.filter((call) => call.at >= back.at).every((call) => call.by === "primary")).toBe(true)
          expect(cooldowns[19]).toEqual({ state: "closed", until: null, probing: false, recentFailures: 0 })
          expect(log.count("fallback")).toBe(18)
          const details = (yield* Router.status).details
          expect(details["primary"]!.inFlight + details["fallback"]!.inFlight).toBe(0)
        }).pipe(Effect.provide(router), seeded)
      }
    )
  }

  // "limited" (first by priority) answers with `rateLimit`; `call` goes to it,
  // then to "other" while it is held back until `heldUntil`, then to it again.
  const holdsBack = (
    rateLimit: RateLimitSnapshot,
    heldUntil: number,
    call: (request: ChatRequest) => Effect.Effect<{ readonly text: string }, LlmError.LlmError, Llm.Llm>
  ) => {
    const log = makeLog()
    return run(
      {
        strategy: "priority",
        deployments: [
          deployment(log, "limited", { answer: () => ({ ...LlmTest.reply("limited"), rateLimit }) }),
          deployment(log, "other")
        ]
      },
      Effect.gen(function*() {
        expect((yield* call(ask())).text).toBe("limited")
        expect((yield* Router.status).details["limited"]!.limitedUntil).toBe(heldUntil)
        expect((yield* Router.status).details["limited"]!.rateLimited).toBe(1)
        expect((yield* call(ask())).text).toBe("other")
        yield* TestClock.adjust(Duration.millis(heldUntil))
        expect((yield* call(ask())).text).toBe("limited")
      })
    )
  }

  it.effect("adaptive limits: no remaining requests holds a deployment back until the reset", () =>
    holdsBack({ remainingRequests: 0, resetRequests: Duration.seconds(10) }, 10_000, Llm.chat))

  it.effect("adaptive limits: a streamed reply's headers (on its Finish chunk) hold a deployment back too", () =>
    holdsBack(
      { remainingRequests: 0, resetRequests: Duration.seconds(10) },
      10_000,
      (request) => ChatChunk.collect(Llm.chatStream(request))
    ))

  it.effect("adaptive limits: with the limit known, the hold lasts until one request refills", () =>
    holdsBack({ limitRequests: 60, remainingRequests: 0, resetRequests: Duration.seconds(60) }, 1_000, Llm.chat))

  it.effect("adaptive limits: a RateLimitError's retryAfter holds the deployment back", () => {
    const log = makeLog()
    let limited = true
    return run(
      {
        strategy: "priority",
        deployments: [
          deployment(log, "a", {
            answer: () =>
              limited
                ? new LlmError.RateLimitError({ provider: "a", model: "m", retryAfter: Duration.seconds(5) })
                : LlmTest.reply("a")
          }),
          deployment(log, "b")
        ]
      },
      Effect.gen(function*() {
        expect((yield* Llm.chat(ask())).text).toBe("b")
        limited = false
        expect((yield* Llm.chat(ask())).text).toBe("b")
        yield* TestClock.adjust("5 seconds")
        expect((yield* Llm.chat(ask())).text).toBe("a")
      })
    )
  })

  it.effect("a day-long retryAfter or reset holds a deployment back for maxHold only (5 minutes by default)", () =>
    Effect.gen(function*() {
      const day = Duration.days(1)
      const heldUntil = (
        options: Partial<Router.Options<Router.Deployment<OptionsError, never>>>,
        answer: () => LlmTest.Answer
      ) => {
        const log = makeLog()
        return run(
          { strategy: "priority", deployments: [deployment(log, "a", { answer }), deployment(log, "b")], ...options },
          Effect.gen(function*() {
            expect((yield* Llm.chat(ask())).text).toMatch(/^[ab]$/)
            return (yield* Router.status).details["a"]!.limitedUntil
          })
        )
      }
      const limited = () => new LlmError.RateLimitError({ provider: "a", model: "m", retryAfter: day })
      expect(yield* heldUntil({}, limited)).toBe(300_000)
      expect(yield* heldUntil({ maxHold: "1 minute" }, limited)).toBe(60_000)
      const spent = () => ({ ...LlmTest.reply("a"), rateLimit: { remainingTokens: 0, resetTokens: day } })
      expect(yield* heldUntil({}, spent)).toBe(300_000)
    }))

  it.effect(
    "every deployment held back past maxRateLimitWait: NoCapacityError at once, with the earliest time one " +
      "frees",
    () => {
      const log = makeLog()
      return run(
        {
          deployments: [
            deployment(log, "a", {
              answer: () => new LlmError.RateLimitError({ provider: "a", model: "m", retryAfter: Duration.seconds(10) })
            })
          ]
        },
        Effect.gen(function*() {
          expect((yield* Effect.flip(Llm.chat(ask())))._tag).toBe("RateLimitError")
          const error = yield* Effect.flip(Llm.chat(ask()))
          expect(error._tag).toBe("NoCapacityError")
          expect(error._tag === "NoCapacityError" && error.availableAt).toBe(10_000)
          expect(log.count("a")).toBe(1)
        })
      )
    }
  )

  it.effect(
    "every deployment held back within maxRateLimitWait: the call waits for the first to free, then is " +
      "answered",
    () => {
      const log = makeLog()
      let limited = true
      return run(
        {
          strategy: "priority",
          maxRateLimitWait: "3 seconds",
          deployments: [
            deployment(log, "a", {
              answer: () =>
                limited
                  ? new LlmError.RateLimitError({ provider: "a", model: "m", retryAfter: Duration.seconds(2) })
                  : LlmTest.reply("a")
            }),
            deployment(log, "b", {
              answer: () => new LlmError.RateLimitError({ provider: "b", model: "m", retryAfter: Duration.seconds(4) })
            })
          ]
        },
        Effect.gen(function*() {
          // Both rate-limited: a held back until 2 s, b until 4 s.
          expect((yield* Effect.flip(Llm.chat(ask())))._tag).toBe("RateLimitError")
          limited = false
          const waiting = yield* Effect.forkChild(Llm.chat(ask()))
          yield* TestClock.adjust("1999 millis")
          expect(waiting.pollUnsafe()).toBeUndefined()
          yield* TestClock.adjust("1 millis")
          expect((yield* Fiber.join(waiting)).text).toBe("a")
          expect(log.count("a")).toBe(2)
          expect(log.count("b")).toBe(1)
        })
      )
    }
  )

  it.effect("the deadline bounds the whole call, fallbacks included", () => {
    const log = makeLog()
    return run(
      {
        deadline: "15 seconds",
        deployments: [
          deployment(log, "a", { delay: () => "10 seconds", answer: () => unavailable("a") }),
          deployment(log, "b", { delay: () => "10 seconds" })
        ],
        fallbacks: { a: [{ to: "b", on: ["ProviderUnavailableError"] }] }
      },
      Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.flip(Llm.chat(ask("a"))))
        yield* TestClock.adjust("20 seconds")
        const error = yield* Fiber.join(fiber)
        expect(error._tag).toBe("TimeoutError")
        // The fallback's attempt, cut by the deadline, is listed as such.
        expect(error.attempts?.map(({ deployment, error, phase }) => ({ deployment, error, phase }))).toEqual([
          { deployment: "a", error: "ProviderUnavailableError", phase: undefined },
          { deployment: "b", error: "TimeoutError", phase: "deadline" }
        ])
        expect(error.attempts?.[0]?.message).toBe(unavailable("a").message)
        expect(log.count("b")).toBe(1)
        expect((yield* Router.status).details["b"]!.inFlight).toBe(0)
      })
    )
  })

  // An `Llm` with an hour's deadline over a provider that fails every call
  // after 10 seconds, retrying up to 10 times; `count` runs once per provider call.
  /** An `Llm` over one key of a provider whose `chat` is `chat`; its `KeyPool` shows in the router's status. */
  const llmOver = (
    id: string,
    chat: (request: ChatRequest) => Effect.Effect<ChatResponse, LlmError.LlmError>,
    options?: Llm.Options,
    chatStream: () => Stream.Stream<ChatChunk.ChatChunk, LlmError.LlmError> = () => Stream.never
  ) =>
    Llm.layer(options).pipe(
      Layer.provideMerge(Layer.mergeAll(
        Layer.succeed(
          ProviderClient.ProviderClient,
          ProviderClient.ProviderClient.of({
            provider: id,
            chat,
            chatStream,
            embed: () => Effect.die("not embedded"),
            maxEmbeddingInputs: 1
          })
        ),
        KeyPool.layer({ providerId: id, keys: [`sk-test-key-${id}-000001`] }).pipe(
          Layer.provide(registryInMemory)
        ),
        RateLimiter.unlimited
      ))
    )

  // `told`: the timeout of each request it was sent, in milliseconds (an hour unless a deadline cut it).
  const slowLlm = (id: string, count: () => void, told: Array<number> = []) =>
    llmOver(
      id,
      (request) => {
        told.push(
          request.timeout === undefined ? Infinity : Duration.toMillis(Duration.fromInputUnsafe(request.timeout))
        )
        return Effect.andThen(Effect.sleep("10 seconds"), Effect.fail(unavailable("slow"))).pipe(
          Effect.ensuring(Effect.sync(count))
        )
      },
      { deadline: "1 hour", retry: RetryPolicy.make({ maxRetries: 10, baseDelay: "100 millis" }) }
    )

  /** Two tries told what was left of a 15-second deadline: all of it, then what the first and its backoff left. */
  const toldTheDeadline = (told: ReadonlyArray<number>) => {
    expect(told.length).toBe(2)
    expect(told[0]).toBe(15_000)
    expect(told[1]).toBeGreaterThan(4_000)
    expect(told[1]).toBeLessThanOrEqual(5_000)
  }

  /** A request that allows an hour: the `Llm` cuts its timeout to what is left of a router's deadline. */
  const askForAnHour = (): ChatRequest => ({ ...ask(), timeout: Duration.hours(1) })

  it.effect("the deadline reaches Llm deployments and bounds their own retries", () => {
    let calls = 0
    const told: Array<number> = []
    const llm = (id: string) => slowLlm(id, () => calls++, told)
    const router = routerLayerInMemory({
      deadline: "15 seconds",
      deployments: [{ name: "a", model: "m", llm: llm("a") }, { name: "b", model: "m", llm: llm("b") }]
    })
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.flip(Llm.chat(askForAnHour())))
      yield* TestClock.adjust("30 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("TimeoutError")
      expect(error.provider).toBe("router")
      // The deployment retried after 10 seconds; the deadline cut its second try at 15.
      expect(calls).toBe(2)
      // Each try was sent with what was left of the router's deadline, not the request's hour.
      toldTheDeadline(told)
      expect(error.attempts?.map((attempt) => attempt.error)).toEqual(["TimeoutError"])
      expect((yield* Router.status).details["a"]!.inFlight + (yield* Router.status).details["b"]!.inFlight).toBe(0)
    }).pipe(Effect.provide(router), seeded)
  })

  /** A chat that must be over, with a `TimeoutError`, after 30 seconds of test time; its error. */
  const timesOutWithin30Seconds = Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.flip(Llm.chat(askForAnHour())))
    yield* TestClock.adjust("30 seconds")
    const done = fiber.pollUnsafe()
    if (done === undefined) yield* Fiber.interrupt(fiber)
    expect(done).toBeDefined()
    const error = yield* Fiber.join(fiber)
    expect(error._tag).toBe("TimeoutError")
    return error
  })

  it.effect("the deadline reaches the Llm through a budget, a ledger and a router inside a router", () => {
    let calls = 0
    const told: Array<number> = []
    const llm = slowLlm("inner", () => calls++, told)
    return Effect.gen(function*() {
      const budget = yield* budgetInMemory({ limits: [{ scope: Budget.overall, limit: 100, period: "1 day" }] })
      const ledger = yield* UsageLedger.make
      const inner = routerLayerInMemory({
        deadline: "1 hour",
        budget,
        ledger,
        deployments: [{ name: "inner", model: "m", llm }]
      })
      const outer = routerLayerInMemory({
        deadline: "15 seconds",
        deployments: [{ name: "outer", model: "m", llm: inner }]
      })
      // Done within 30 seconds: a deadline lost on the way would leave the Llm retrying for an hour.
      yield* timesOutWithin30Seconds.pipe(Effect.provide(outer))
      // The Llm retried after 10 seconds; the outer router's deadline cut its second try at 15.
      expect(calls).toBe(2)
      // Each try was sent with what was left of the outer router's deadline.
      toldTheDeadline(told)
    }).pipe(seeded)
  })

  it.effect("the deadline bounds a decorator that spreads an Llm and adds a wait of its own", () => {
    let calls = 0
    let waited = 0
    // It spreads the `Llm` it wraps (an `Llm.make` one) and waits an hour before each call.
    const decorator = decorating((inner) => ({
      chat: (request) =>
        Effect.andThen(
          Effect.ensuring(Effect.sleep("1 hour"), Effect.sync(() => waited++)),
          inner.chat(request)
        )
    })).pipe(Layer.provide(slowLlm("inner", () => calls++)))
    const router = routerLayerInMemory({
      deadline: "15 seconds",
      deployments: [{ name: "waiting", model: "m", llm: decorator }]
    })
    return Effect.gen(function*() {
      const error = yield* timesOutWithin30Seconds
      expect(error.provider).toBe("router")
      // The router's deadline ended the decorator's wait: the Llm below it was never called.
      expect(waited).toBe(1)
      expect(calls).toBe(0)
      expect(error.attempts?.map(({ deployment, error, phase }) => ({ deployment, error, phase }))).toEqual([
        { deployment: "waiting", error: "TimeoutError", phase: "deadline" }
      ])
      expect((yield* Router.status).details["waiting"]!.inFlight).toBe(0)
    }).pipe(Effect.provide(router), seeded)
  })

  it.effect("the deadline reaches the Llm through a decorator an application writes", () => {
    let calls = 0
    let decorated = 0
    const told: Array<number> = []
    // The decorator spreads the `Llm` it wraps and knows nothing of the router: the deadline passes through it.
    const decorator = decorating((inner) => ({
      chat: (request) => Effect.ensuring(inner.chat(request), Effect.sync(() => decorated++))
    })).pipe(Layer.provide(slowLlm("inner", () => calls++, told)))
    const router = routerLayerInMemory({
      deadline: "15 seconds",
      deployments: [{ name: "decorated", model: "m", llm: decorator }]
    })
    return Effect.gen(function*() {
      const error = yield* timesOutWithin30Seconds
      // The attempt the deadline ended is listed.
      expect(error.attempts?.map((attempt) => attempt.error)).toEqual(["TimeoutError"])
      expect(calls).toBe(2)
      toldTheDeadline(told)
      expect(decorated).toBe(1)
      expect((yield* Router.status).details["decorated"]!.inFlight).toBe(0)
    }).pipe(Effect.provide(router), seeded)
  })

  it.live(
    "a decorator an application writes gets the stream path too: the router reads its stream, falls back " +
      "before the first chunk, and an interrupted consumer frees the wrapped Llm's key",
    () =>
      Effect.scoped(Effect.gen(function*() {
        let streams = 0
        let aborted = 0
        let tapped = 0
        // The first stream fails before any chunk; the second sends one chunk and then waits.
        const provider = ProviderClient.ProviderClient.of({
          provider: "wrapped",
          chat: () => Effect.die("not chatted"),
          chatStream: () =>
            Stream.suspend(() =>
              ++streams === 1
                ? Stream.fail(unavailable("wrapped"))
                : Stream.concat(Stream.make(textDelta), Stream.never).pipe(
                  Stream.ensuring(Effect.sync(() => aborted++))
                )
            ),
          embed: () => Effect.die("not embedded"),
          maxEmbeddingInputs: 1
        })
        const pool = yield* poolInMemory({ providerId: "wrapped", keys: ["sk-test-key-wrapped-000001"] })
        const limiter = yield* limiterInMemory({ capacity: 100, refillRate: 100, maxConcurrency: 10 })
        const wrapped = Llm.layer({ retry: RetryPolicy.make({ maxRetries: 0 }) }).pipe(
          Layer.provide(Layer.mergeAll(
            Layer.succeed(ProviderClient.ProviderClient, provider),
            Layer.succeed(KeyPool.KeyPool, pool),
            Layer.succeed(RateLimiter.RateLimiter, limiter)
          ))
        )
        const decorator = decorating((inner) => ({
          chatStream: (request) => Stream.tap(inner.chatStream(request), () => Effect.sync(() => tapped++))
        })).pipe(Layer.provide(wrapped))
        const log = makeLog()
        const router = Context.get(
          yield* Layer.build(routerLayerInMemory({
            deployments: [
              { name: "decorated", model: "m", llm: decorator, groups: ["g"] },
              deployment(log, "backup", { groups: ["g"] })
            ],
            strategy: "priority"
          })),
          Router.Router
        )
        const response = yield* ChatChunk.collect(router.chatStream(ask("g")))
        expect(response.text).toBe("backup")
        expect(streams).toBe(1)
        expect((yield* router.status).details["decorated"]!.failures).toBe(1)

        const first = yield* Deferred.make<void>()
        const fiber = yield* Effect.forkChild(
          Stream.runForEach(router.chatStream(ask("decorated")), () => Deferred.succeed(first, undefined))
        )
        yield* Deferred.await(first)
        expect(tapped).toBe(1)
        expect((yield* router.status).details["decorated"]!.inFlight).toBe(1)
        expect((yield* pool.status)[0]!.inFlight).toBe(1)
        expect((yield* limiter.status).inFlight).toBe(1)
        yield* interruptAtOnce(fiber)
        expect(aborted).toBe(1)
        expect((yield* router.status).details["decorated"]!.inFlight).toBe(0)
        expect((yield* pool.status)[0]!.inFlight).toBe(0)
        expect((yield* limiter.status).inFlight).toBe(0)
      }))
  )

  /** A router built from `innerOptions`, and a router over it as its one deployment `outer`. */
  const nestedRouters = (innerOptions: Router.Options<Router.Deployment<OptionsError, never>>) =>
    Effect.gen(function*() {
      const inner = Context.get(yield* Layer.build(routerLayerInMemory(innerOptions)), Router.Router)
      const outer = Context.get(
        yield* Layer.build(
          routerLayerInMemory({ deployments: [{ name: "outer", model: "m", llm: Layer.succeed(Llm.Llm, inner) }] })
        ),
        Router.Router
      )
      return { inner, outer }
    })

  /** Interrupts `fiber`, failing the test if that waits for the call to end. */
  const interruptAtOnce = <A, E>(fiber: Fiber.Fiber<A, E>) =>
    Fiber.interrupt(fiber).pipe(
      Effect.timeoutOrElse({
        duration: "5 seconds",
        orElse: () => Effect.fail(new Error("the interruption waited for the call"))
      })
    )

  // An `Llm` deployment's provider call and backoff run as the caller does,
  // through a budget, a ledger and two routers; one of them running its part
  // uninterruptibly would make `Fiber.interrupt` below wait for the call.
  const interruptedThroughDecorators = (
    chat: (reached: Effect.Effect<boolean>) => Effect.Effect<never, LlmError.LlmError>
  ) =>
    Effect.scoped(Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const llm = llmOver("held", () => chat(Deferred.succeed(reached, undefined)), {
        retry: RetryPolicy.make({ maxRetries: 10, baseDelay: "1 hour", maxDelay: "1 hour" })
      })
      const budget = yield* budgetInMemory({ limits: [{ scope: Budget.overall, limit: 100, period: "1 day" }] })
      const ledger = yield* UsageLedger.make
      const { inner, outer } = yield* nestedRouters({
        budget,
        ledger,
        deployments: [{ name: "inner", model: "m", llm }]
      })
      const fiber = yield* Effect.forkChild(outer.chat(ask()))
      yield* Deferred.await(reached)
      // Time to reach the backoff, when the provider failed.
      yield* Effect.sleep("20 millis")
      yield* interruptAtOnce(fiber)
      const innerLoad = (yield* inner.status).details["inner"]!
      expect(innerLoad.inFlight).toBe(0)
      expect(innerLoad.keys[0]!.current).toBe(0)
      expect(innerLoad.cooldown.recentFailures).toBe(0)
      expect((yield* outer.status).details["outer"]!.inFlight).toBe(0)
    }))

  it.live(
    "an interrupted call stops at once in an Llm deployment's provider call, through a budget, a ledger and a " +
      "router inside a router",
    () => interruptedThroughDecorators((reached) => Effect.andThen(reached, Effect.never))
  )

  it.live(
    "an interrupted call stops at once in an Llm deployment's backoff, through a budget, a ledger and a router " +
      "inside a router",
    () => interruptedThroughDecorators((reached) => Effect.andThen(reached, Effect.fail(unavailable("held"))))
  )

  it.live(
    "an interrupted call stops at once in a router inside a router whose deployment does not keep the " +
      "deadline",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const reached = yield* Deferred.make<void>()
        const { inner, outer } = yield* nestedRouters({
          deployments: [{
            name: "inner",
            model: "m",
            llm: LlmTest.fromHandler(() => Effect.andThen(Deferred.succeed(reached, undefined), Effect.never))
          }]
        })
        const fiber = yield* Effect.forkChild(outer.chat(ask()))
        yield* Deferred.await(reached)
        yield* interruptAtOnce(fiber)
        expect((yield* inner.status).details["inner"]!.inFlight).toBe(0)
        expect((yield* outer.status).details["outer"]!.inFlight).toBe(0)
      }))
  )

  it.live("a call its caller runs uninterruptibly is not cut short by an interruption", () =>
    Effect.gen(function*() {
      const reached = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const whole: ChatResponse = {
        id: "r",
        model: "m",
        provider: "whole",
        text: "whole",
        toolCalls: [],
        finishReason: "stop",
        usage: {
          promptTokens: 1,
          completionTokens: 1,
          totalTokens: 2,
          cachedPromptTokens: 0,
          reasoningTokens: 0,
          estimated: false
        },
        latency: Duration.zero
      }
      const llm = llmOver("whole", () =>
        Effect.as(Effect.andThen(Deferred.succeed(reached, undefined), Deferred.await(release)), whole))
      let answered = ""
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.forkChild(Effect.uninterruptible(Effect.map(Llm.chat(ask()), (response) => {
          answered = response.text
        })))
        yield* Deferred.await(reached)
        const interrupting = yield* Effect.forkChild(Fiber.interrupt(fiber))
        yield* Effect.sleep("20 millis")
        expect(interrupting.pollUnsafe()).toBeUndefined()
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(interrupting)
        expect(answered).toBe("whole")
      }).pipe(Effect.provide(routerLayerInMemory({ deployments: [{ name: "whole", model: "m", llm }] })))
    }))

  // Hedging: "slow" (first by priority) answers after `slow`, "quick" after `quick`; both Llms over one key.
  const hedging = (
    slow: Duration.Input,
    quick: Duration.Input,
    options?: { readonly slowFails?: boolean; readonly quickFails?: boolean }
  ) => {
    const started: Array<{ readonly name: string; readonly at: number }> = []
    const answering = (name: string, delay: Duration.Input, fails: boolean | undefined) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        started.push({ name, at })
        return Effect.andThen(
          Effect.sleep(delay),
          fails === true ? Effect.fail(unavailable(name)) : Effect.succeed(LlmTest.reply(name))
        )
      })
    const llm = (name: string, delay: Duration.Input, fails: boolean | undefined) =>
      llmOver(
        name,
        () => answering(name, delay, fails),
        { retry: RetryPolicy.none },
        () =>
          Stream.unwrap(
            Effect.map(answering(name, delay, fails), (reply) => Stream.fromIterable(ChatChunk.fromResponse(reply)))
          )
      )
    const router = routerLayerInMemory({
      strategy: "priority",
      hedge: { after: "2 seconds" },
      deployments: [
        { name: "slow", model: "m", llm: llm("slow", slow, options?.slowFails) },
        { name: "quick", model: "m", llm: llm("quick", quick, options?.quickFails) }
      ]
    })
    return { started, router }
  }

  /**
   * `call`, forked, once `seconds` of test time have passed in steps of 100 ms
   * (each followed by a few yields, for the racing fibers to settle): its exit, and how long it took.
   */
  const within = <A, E>(call: Effect.Effect<A, E, Llm.Llm>, seconds: number) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.timed(Effect.exit(call)))
      for (let i = 0; i < seconds * 10; i++) {
        yield* TestClock.adjust("100 millis")
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
      }
      const [took, exit] = yield* Fiber.join(fiber)
      return { exit, took: Duration.toMillis(took) }
    })

  for (
    const [kind, call] of [
      ["a chat", Llm.chat(ask())],
      ["a stream", ChatChunk.collect(Llm.chatStream(ask()))]
    ] as const
  ) {
    it.effect(
      `hedging ${kind}: after the delay with no answer the next deployment starts too; the first to answer ` +
        `wins, the other is interrupted and freed`,
      () => {
        const { router, started } = hedging("10 seconds", "1 second")
        return Effect.gen(function*() {
          const { took, exit } = yield* within(call, 12)
          expect(Exit.isSuccess(exit) && exit.value.text).toBe("quick")
          expect(started).toEqual([{ name: "slow", at: 0 }, { name: "quick", at: 2_000 }])
          expect(took).toBe(3_000)
          const details = (yield* Router.status).details
          expect(details["quick"]!.hedges).toEqual({ started: 1, cancelled: 0 })
          expect(details["slow"]!.hedges).toEqual({ started: 0, cancelled: 1 })
          expect(yield* allFree).toBe(true)
        }).pipe(Effect.provide(router), seeded)
      }
    )
  }

  it.effect("hedging: interrupting a stream while both attempts run frees both deployments and their keys", () => {
    const { router, started } = hedging("10 seconds", "10 seconds")
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Stream.runDrain(Llm.chatStream(ask())))
      yield* TestClock.adjust("3 seconds")
      expect(started.map((attempt) => attempt.name)).toEqual(["slow", "quick"])
      const during = (yield* Router.status).details
      expect(during["slow"]!.keys[0]!.current + during["quick"]!.keys[0]!.current).toBe(2)
      yield* Fiber.interrupt(fiber)
      expect(yield* allFree).toBe(true)
    }).pipe(Effect.provide(router), seeded)
  })

  it.effect(
    "hedging: two streams that reach their first chunk at the same moment: one answer, and the other stream " +
      "is let go of",
    () => {
      const { router, started } = hedging("3 seconds", "1 second")
      return Effect.gen(function*() {
        const { exit, took } = yield* within(ChatChunk.collect(Llm.chatStream(ask())), 5)
        expect(Exit.isSuccess(exit) && ["slow", "quick"].includes(exit.value.text)).toBe(true)
        expect(started.map((attempt) => attempt.name)).toEqual(["slow", "quick"])
        expect(took).toBe(3_000)
        expect(yield* allFree).toBe(true)
      }).pipe(Effect.provide(router), seeded)
    }
  )

  it.effect("hedging: a first attempt that answers before the delay starts no hedge", () => {
    const { router, started } = hedging("1 second", "1 second")
    return Effect.gen(function*() {
      const { exit } = yield* within(Llm.chat(ask()), 5)
      expect(Exit.isSuccess(exit) && exit.value.text).toBe("slow")
      expect(started.map((attempt) => attempt.name)).toEqual(["slow"])
      expect((yield* Router.status).details["quick"]!.hedges).toEqual({ started: 0, cancelled: 0 })
    }).pipe(Effect.provide(router), seeded)
  })

  it.effect("hedging: a first attempt that fails before the delay fails over at once", () => {
    const { router, started } = hedging("500 millis", "1 second", { slowFails: true })
    return Effect.gen(function*() {
      const { took, exit } = yield* within(Llm.chat(ask()), 5)
      expect(Exit.isSuccess(exit) && exit.value.text).toBe("quick")
      expect(started).toEqual([{ name: "slow", at: 0 }, { name: "quick", at: 500 }])
      expect(took).toBe(1_500)
      expect((yield* Router.status).details["quick"]!.hedges).toEqual({ started: 0, cancelled: 0 })
    }).pipe(Effect.provide(router), seeded)
  })

  it.effect("hedging: when one attempt fails the other still may win; when both fail the error lists both", () => {
    const oneFails = hedging("3 seconds", "5 seconds", { slowFails: true })
    const bothFail = hedging("3 seconds", "1500 millis", { slowFails: true, quickFails: true })
    return Effect.gen(function*() {
      const won = yield* within(Llm.chat(ask()), 10).pipe(Effect.provide(oneFails.router))
      expect(Exit.isSuccess(won.exit) && won.exit.value.text).toBe("quick")
      expect(won.took).toBe(7_000)
      const lost = yield* within(Llm.chat(ask()), 10).pipe(Effect.provide(bothFail.router))
      const error = yield* Effect.flip(lost.exit)
      expect(error._tag).toBe("ProviderUnavailableError")
      expect(error.attempts?.map((attempt) => [attempt.deployment, attempt.error])).toEqual([
        ["slow", "ProviderUnavailableError"],
        ["quick", "ProviderUnavailableError"]
      ])
      expect(lost.took).toBe(3_500)
    }).pipe(seeded)
  })

  it.effect(
    "embed is routed like a chat: addressed by group, sent with the deployment's model, retried elsewhere on " +
      "a transient error",
    () => {
      const embedded: Array<string> = []
      const embedder = (name: string, fails: boolean): Router.Deployment<never, never> => ({
        name,
        model: `${name}-embed`,
        groups: ["vectors"],
        llm: LlmTest.fromHandler(() => Effect.succeed(LlmTest.reply(name)), {
          embed: (request) =>
            Effect.sync(() => {
              embedded.push(`${name}:${request.model}`)
              return fails ? unavailable(name) : LlmTest.embedding([[name === "a" ? 1 : 2, 0]])
            })
        })
      })
      return run(
        { deployments: [embedder("a", true), embedder("b", false)], strategy: "priority" },
        Effect.gen(function*() {
          const response = yield* Llm.embed({ input: "hello", model: "vectors" })
          expect(response.embeddings).toEqual([[2, 0]])
          expect(embedded).toEqual(["a:a-embed", "b:b-embed"])
          const error = yield* Effect.flip(Llm.embed({ input: "hello", model: "nowhere" }))
          expect(error._tag).toBe("ModelNotFoundError")
        })
      )
    }
  )

  it.effect("invalid options fail with OptionsError naming the option and the value", () =>
    Effect.gen(function*() {
      const log = makeLog()
      const twice = yield* Effect.flip(run({ deployments: [deployment(log, "a"), deployment(log, "a")] }, Effect.void))
      expect(twice).toMatchObject({
        _tag: "OptionsError",
        module: "Router",
        option: "deployments[1].name",
        value: "\"a\""
      })
      const bad = yield* Effect.flip(
        run(
          { deployments: [deployment(log, "a")], fallbacks: { a: [{ to: "zz", on: ["RateLimitError"] }] } },
          Effect.void
        )
      )
      expect(bad).toMatchObject({ _tag: "OptionsError", option: "fallbacks[\"a\"][0].to", value: "\"zz\"" })
      const weight = yield* Effect.flip(
        run({ deployments: [deployment(log, "a"), { ...deployment(log, "b"), weight: -1 }] }, Effect.void)
      )
      expect(weight.message).toBe("Router: deployments[1].weight must be a positive finite number, got -1")
      const checks: ReadonlyArray<
        readonly [Partial<Router.Options<Router.Deployment<OptionsError, never>>>, string, string]
      > = [
        [{ deployments: [] }, "deployments", "[]"],
        [{ model: "nowhere" }, "model", "\"nowhere\""],
        [{ exploration: 1 }, "exploration", "1"],
        [{ latencyAlpha: 0 }, "latencyAlpha", "0"],
        [{ cooldown: { failures: 0.5 } }, "cooldown.failures", "0.5"],
        [{ midStream: "resume" as "fail" }, "midStream", "\"resume\""],
        [{ hedge: { after: -1 } }, "hedge.after", "-1"],
        [{ maxHold: "forever" as Duration.Input }, "maxHold", "\"forever\""],
        [{ maxRateLimitWait: -1 }, "maxRateLimitWait", "-1"],
        [{ maxRetryWait: -1 }, "maxRetryWait", "-1"]
      ]
      for (const [options, option, value] of checks) {
        const error = yield* Effect.flip(run({ deployments: [deployment(log, "a")], ...options }, Effect.void))
        expect(error).toMatchObject({ _tag: "OptionsError", option, value })
      }
    }))

  it.effect("the same fallback as an ExecutionPlan over Llm layers", () => {
    const log = makeLog()
    const plan = ExecutionPlan.make(
      { provide: deployment(log, "primary", { answer: () => unavailable("primary") }).llm, attempts: 2 },
      { provide: deployment(log, "backup").llm }
    )
    return Effect.gen(function*() {
      const response = yield* Effect.withExecutionPlan(Llm.chat(ask()), plan)
      expect(response.text).toBe("backup")
      expect(log.count("primary")).toBe(2)
    })
  })
})

describe("Router rate limits", () => {
  /** A 429, with a `Retry-After` when `retryAfter` is given. */
  const rateLimited = (retryAfter?: Duration.Input) => {
    const fields = { provider: "primary", model: "m", status: 429 }
    return new LlmError.RateLimitError(
      retryAfter === undefined ? fields : { ...fields, retryAfter: Duration.fromInputUnsafe(retryAfter) }
    )
  }

  /** A pool of one key (the default `whenExhausted`: wait up to a minute), cooling for `retryAfter` when given. */
  const poolOf = (id: string, retryAfter?: Duration.Input) =>
    Effect.gen(function*() {
      const pool = yield* poolInMemory({ providerId: id, keys: [`sk-test-key-${id}-000001`] })
      // Cooled as a 429 with that Retry-After to another call would cool it.
      if (retryAfter !== undefined) {
        yield* Effect.scoped(Effect.flatMap(pool.acquire, (lease) => pool.report(lease, rateLimited(retryAfter))))
      }
      return pool
    })

  it.effect(
    "a primary whose only key cools for 3 s is left at once for the fallback and held back until then; " +
      "alone, or with nowhere else to go, its Llm waits the 3 s out",
    () =>
      Effect.gen(function*() {
        let calls = 0
        const primary = (pool: KeyPool.Service) =>
          over("primary", pool, () =>
            Effect.sync(() => {
              calls++
              return LlmTest.reply("primary")
            }))
        const log = makeLog()
        const routed = routerLayerInMemory({
          strategy: "priority",
          deployments: [
            { name: "primary", model: "m", llm: primary(yield* poolOf("primary", "3 seconds")) },
            deployment(log, "fallback", { model: "m" })
          ]
        })
        yield* Effect.gen(function*() {
          const reply = yield* Llm.chat(ask("m"))
          expect(reply.text).toBe("fallback")
          expect(yield* Clock.currentTimeMillis).toBe(0)
          expect(calls).toBe(0)
          // Held back until its key is back: the next call does not try it.
          expect((yield* Router.status).details["primary"]).toMatchObject({
            limitedUntil: 3_000,
            rateLimited: 1,
            requests: 1
          })
          expect((yield* Llm.chat(ask("m"))).text).toBe("fallback")
          expect((yield* Router.status).details["primary"]!.requests).toBe(1)
        }).pipe(Effect.provide(routed))

        /** Waits for a chat through `llm` while the clock moves 3 s; the reply comes at 3 s, not before. */
        const waitsThreeSeconds = (llm: Layer.Layer<Llm.Llm, OptionsError>) =>
          Effect.gen(function*() {
            const start = yield* Clock.currentTimeMillis
            const fiber = yield* Effect.forkChild(
              Effect.zip(Llm.chat(ask("m")), Clock.currentTimeMillis).pipe(Effect.provide(llm))
            )
            yield* TestClock.adjust("2999 millis")
            expect(fiber.pollUnsafe()).toBeUndefined()
            yield* TestClock.adjust("1 millis")
            const [answer, at] = yield* Fiber.join(fiber)
            expect(answer.text).toBe("primary")
            expect(at - start).toBe(3_000)
          })
        // Alone, the Llm waits for a key that frees within maxRateLimitWait (default 5 s).
        yield* waitsThreeSeconds(primary(yield* poolOf("alone", "3 seconds")))
        expect(calls).toBe(1)
        // A router with nowhere else to go waits as well.
        yield* waitsThreeSeconds(
          routerLayerInMemory({
            deployments: [{ name: "only", model: "m", llm: primary(yield* poolOf("only", "3 seconds")) }]
          })
        )
        expect(calls).toBe(2)
        expect(log.count("fallback")).toBe(2)
      })
  )

  it.effect(
    "a short Retry-After on the call's own rate limit is waited out on the same deployment; without one, the " +
      "router moves on at once",
    () =>
      Effect.gen(function*() {
        const log = makeLog()
        const router = (answer: (call: number) => Effect.Effect<ChatResponse, LlmError.LlmError>) =>
          Effect.gen(function*() {
            let calls = 0
            const llm = over("primary", yield* poolOf("primary"), () => Effect.suspend(() => answer(++calls)))
            return {
              calls: () => calls,
              layer: routerLayerInMemory({
                strategy: "priority",
                deployments: [{ name: "primary", model: "m", llm }, deployment(log, "fallback", { model: "m" })]
              })
            }
          })
        const told = yield* router((call) =>
          call === 1 ? Effect.fail(rateLimited("2 seconds")) : Effect.succeed(LlmTest.reply("primary"))
        )
        const fiber = yield* Effect.forkChild(
          Effect.zip(Llm.chat(ask("m")), Clock.currentTimeMillis).pipe(Effect.provide(told.layer))
        )
        yield* TestClock.adjust("2 seconds")
        const [reply, at] = yield* Fiber.join(fiber)
        expect(reply.text).toBe("primary")
        expect(at).toBe(2_000)
        expect(told.calls()).toBe(2)
        expect(log.count("fallback")).toBe(0)

        // The pool's own cooldown (1 s) is no Retry-After: the fallback answers at once.
        const untold = yield* router(() => Effect.fail(rateLimited()))
        const start = yield* Clock.currentTimeMillis
        expect((yield* Llm.chat(ask("m")).pipe(Effect.provide(untold.layer))).text).toBe("fallback")
        expect(yield* Clock.currentTimeMillis).toBe(start)
        expect(untold.calls()).toBe(1)
      })
  )

  it.effect("deployments built from provider.json leave a primary whose keys are all cooling at once too", () =>
    Effect.gen(function*() {
      const primaryUrl = "http://primary.test/v1"
      const fake = fakeHttpClient((request) =>
        request.url.startsWith(primaryUrl)
          ? jsonResponse({ error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" } }, {
            status: 429
          })
          : jsonResponse(completion({ content: "from the backup" }, { usage: usage(3, 4) }))
      )
      const config = yield* ProviderConfig.fromJson({
        primary: [{ model_name: "m", base_url: primaryUrl, api_keys: ["sk-test-primary-000000001"] }],
        backup: [{ model_name: "m", base_url: "http://backup.test/v1", api_keys: ["sk-test-backup-000000001"] }],
        router: { main: { deployments: ["primary/m", "backup/m"], strategy: "priority" } }
      })
      const router = routerLayerInMemory(yield* ProviderConfig.namedRouterOptions(config, "main"))
      const reply = yield* Llm.chat(ask("m")).pipe(
        Effect.provide(router),
        Effect.provideService(HttpClient.HttpClient, fake.client)
      )
      expect(reply.text).toBe("from the backup")
      // A 429 without Retry-After: the key cools for about a second, and the backup answers without that wait.
      expect(yield* Clock.currentTimeMillis).toBe(0)
      expect(fake.requests.map((request) => request.url.startsWith(primaryUrl))).toEqual([true, false])
    }))
})

describe("Router fallbacks", () => {
  /** A router over `primary` and a healthy `backup` it falls back to on `on`; `backup`'s calls in `log`. */
  const withBackup = (
    log: Log,
    primary: Router.Deployment<OptionsError, never>,
    on: ReadonlyArray<Router.ErrorTag>
  ) =>
    routerLayerInMemory({
      deployments: [primary, deployment(log, "backup")],
      fallbacks: { primary: [{ to: "backup", on }] }
    })

  /** A pool of one key. */
  const poolOf = (id: string) => poolInMemory({ providerId: id, keys: [`sk-test-key-${id}-000001`] })

  /** The reply of `chat`, which must be in within a second of test time; it fails the test otherwise. */
  const withinASecond = <E>(chat: Effect.Effect<ChatResponse, E>) =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.zip(chat, Clock.currentTimeMillis))
      yield* TestClock.adjust("1 second")
      const done = fiber.pollUnsafe()
      if (done === undefined) yield* Fiber.interrupt(fiber)
      expect(done).toBeDefined()
      const [reply, at] = yield* Fiber.join(fiber)
      expect(at).toBeLessThanOrEqual(1_000)
      return reply
    })

  /** A provider that answers 503 every time, counting its calls. */
  const failing = () => {
    let calls = 0
    return {
      calls: () => calls,
      chat: () =>
        Effect.suspend(() => {
          calls++
          return Effect.fail(unavailable("primary"))
        })
    }
  }

  // The primary retries while its waits stay within maxRetryWait (1 s), then the router moves on.
  it.effect("a failing primary's fallback answers within a second; alone, the primary retries by its policy", () =>
    Effect.gen(function*() {
      const log = makeLog()
      const provider = failing()
      const primary = { name: "primary", model: "m", llm: over("primary", yield* poolOf("primary"), provider.chat) }
      const reply = yield* withinASecond(
        Llm.chat(ask("primary")).pipe(Effect.provide(withBackup(log, primary, ["ProviderUnavailableError"])))
      )
      expect(reply.text).toBe("backup")
      // The default policy's first retry waits 0.4 to 0.6 s, its second 0.8 to 1.2 s more: one retry fits.
      expect(provider.calls()).toBe(2)

      // With nowhere else to go, the 503s are retried as a single Llm retries them: three times, over 2.8 s at least.
      const alone = failing()
      const only = routerLayerInMemory({
        deployments: [{ name: "primary", model: "m", llm: over("alone", yield* poolOf("alone"), alone.chat) }]
      })
      const lone = yield* Effect.forkChild(Effect.flip(Llm.chat(ask("primary"))).pipe(Effect.provide(only)))
      yield* TestClock.adjust("2799 millis")
      expect(lone.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("2 seconds")
      expect((yield* Fiber.join(lone))._tag).toBe("ProviderUnavailableError")
      expect(alone.calls()).toBe(4)
    }).pipe(seeded))

  it.effect("maxRetryWait 0 leaves a failing primary at once; a longer one lets its whole retry policy run first", () =>
    Effect.gen(function*() {
      const log = makeLog()
      const chatWith = (maxRetryWait: Duration.Input) =>
        Effect.gen(function*() {
          const provider = failing()
          const primary = { name: "primary", model: "m", llm: over("primary", yield* poolOf("primary"), provider.chat) }
          const layer = routerLayerInMemory({
            deployments: [primary, deployment(log, "backup")],
            fallbacks: { primary: [{ to: "backup", on: ["ProviderUnavailableError"] }] },
            maxRetryWait
          })
          const start = yield* Clock.currentTimeMillis
          const fiber = yield* Effect.forkChild(
            Effect.zip(Llm.chat(ask("primary")), Clock.currentTimeMillis).pipe(Effect.provide(layer))
          )
          yield* TestClock.adjust("10 seconds")
          const [reply, at] = yield* Fiber.join(fiber)
          expect(reply.text).toBe("backup")
          return { calls: provider.calls(), after: at - start }
        })
      expect(yield* chatWith(0)).toEqual({ calls: 1, after: 0 })
      // The default policy's three retries wait 2.8 to 4.2 s in all.
      const patient = yield* chatWith("10 seconds")
      expect(patient.calls).toBe(4)
      expect(patient.after).toBeGreaterThanOrEqual(2_800)
    }).pipe(seeded))

  it.effect(
    "provider.json's routers (the gateway's) alike: a 503ing primary's fallback answers within a second",
    () =>
      Effect.gen(function*() {
        const primaryUrl = "http://primary.test/v1"
        const fake = fakeHttpClient((request) =>
          request.url.startsWith(primaryUrl)
            ? jsonResponse({ error: { message: "overloaded", type: "server_error" } }, { status: 503 })
            : jsonResponse(completion({ content: "from the backup" }, { usage: usage(3, 4) }))
        )
        const config = yield* ProviderConfig.fromJson({
          primary: [{ model_name: "m", base_url: primaryUrl, api_keys: ["sk-test-primary-000000001"] }],
          backup: [{ model_name: "b", base_url: "http://backup.test/v1", api_keys: ["sk-test-backup-000000001"] }],
          router: {
            main: {
              deployments: ["primary/m", "backup/b"],
              fallbacks: { "primary/m": [{ to: "backup/b", on: ["ProviderUnavailableError"] }] },
              model: "primary/m"
            }
          }
        })
        const router = routerLayerInMemory(yield* ProviderConfig.namedRouterOptions(config, "main"))
        const reply = yield* withinASecond(
          Llm.chat(ask()).pipe(Effect.provide(router), Effect.provideService(HttpClient.HttpClient, fake.client))
        )
        expect(reply.text).toBe("from the backup")
        expect(fake.requests.map((request) => request.url.startsWith(primaryUrl))).toEqual([true, true, false])
      }).pipe(seeded)
  )

  it.effect("an open breaker, or keys all cooling, falls back whatever the fallback's `on` lists", () => {
    const log = makeLog()
    const primary = deployment(log, "primary", { answer: () => unavailable("primary") })
    return Effect.gen(function*() {
      // Three 503s fall back by `on`, and open the primary's breaker.
      for (let i = 0; i < 3; i++) expect((yield* Llm.chat(ask("primary"))).text).toBe("backup")
      expect((yield* Router.status).details["primary"]!.cooldown.state).toBe("open")
      // The primary skipped: no deployment of its address is usable, and the call falls back all the same.
      expect((yield* Llm.chat(ask("primary"))).text).toBe("backup")
      expect(log.count("primary")).toBe(3)
      expect(log.count("backup")).toBe(4)

      // A primary whose keys all cool (its Llm leaves them at once for the router) falls back too.
      const cooling = deployment(log, "primary", {
        answer: () => new LlmError.NoCapacityError({ provider: "primary", model: "m", availableAt: 30_000 })
      })
      const reply = yield* Llm.chat(ask("primary")).pipe(
        Effect.provide(withBackup(log, cooling, ["ContextLengthError"]))
      )
      expect(reply.text).toBe("backup")
    }).pipe(Effect.provide(withBackup(log, primary, ["ProviderUnavailableError"])), seeded)
  })

  it.effect("with nowhere to fall back, a held-back address fails naming each deployment's reason, not its keys", () => {
    const log = makeLog()
    const only = deployment(log, "only", { answer: () => unavailable("only") })
    return Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* Effect.flip(Llm.chat(ask("only")))
      const error = yield* Effect.flip(Llm.chat(ask("only")))
      expect(error._tag).toBe("NoCapacityError")
      expect(error.message).toContain("has no usable deployment")
      expect(error.message).toContain("only: its breaker is open after failures")
      expect(error.message).not.toContain("usable key")
    }).pipe(Effect.provide(routerLayerInMemory({ deployments: [only] })), seeded)
  })
})

describe("Router's stores", () => {
  it("are required: a router or its layer left without them does not compile (the typecheck of the tests proves it)", () => {
    const options = { deployments: [deployment(makeLog(), "a")] }
    // @ts-expect-error: `Router.make` requires its stores.
    const made: Effect.Effect<Router.Service, unknown, Scope.Scope> = Router.make(options)
    // @ts-expect-error: `Router.layer` requires them too.
    const layered: Layer.Layer<Router.Router, unknown> = Router.layer(options)
    const inMemory: Layer.Layer<Router.Router, unknown> = Router.layer(options).pipe(
      Layer.provide(Router.layerStoreMemory)
    )
    // The deprecated `shared` brings its store's Redis layer, and so requires none.
    const shared: Layer.Layer<Router.Router, unknown> = Router.layer({
      ...options,
      shared: { store: { redis: "redis://127.0.0.1:6379" } }
    })
    expect([made, layered, inMemory, shared].every((value) => value !== undefined)).toBe(true)
  })

  // A key of one memory store (absent: the default, "router") names one group of routers: a failure through one
  // counts on the breaker the others read, and routers naming different keys keep theirs apart.
  effectProp(
    "routers over one memory store share each deployment's breaker exactly when they name the same key",
    fc.tuple(fc.option(keyArbitrary, { nil: undefined }), fc.option(keyArbitrary, { nil: undefined })),
    ([firstKey, secondKey]) =>
      Effect.gen(function*() {
        const log = makeLog()
        const options = (key: string | undefined): Router.Options<Router.Deployment<never, never>> => ({
          strategy: "priority",
          cooldown: { failures: 2, window: "1 minute", period: "30 seconds" },
          deployments: [deployment(log, "flaky", { answer: () => unavailable("flaky") }), deployment(log, "steady")],
          ...(key === undefined ? {} : { key })
        })
        const stores = yield* Layer.build(Router.layerStoreMemory)
        const first = yield* Effect.provide(Router.make(options(firstKey)), stores)
        const second = yield* Effect.provide(Router.make(options(secondKey)), stores)
        expect((yield* first.chat(ask())).text).toBe("steady")
        expect((yield* second.chat(ask())).text).toBe("steady")
        const state = (yield* second.status).details["flaky"]!.cooldown.state
        expect(state).toBe((firstKey ?? "router") === (secondKey ?? "router") ? "open" : "closed")
      })
  )
})
