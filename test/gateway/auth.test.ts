import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import type * as Authentication from "../../src/internal/gateway/access/authentication.js"
import * as Caller from "../../src/internal/gateway/access/caller.js"
import * as Engine from "../../src/internal/gateway/engine.js"
import * as Auth from "../../src/internal/gateway/keys/auth.js"
import * as ResponsesCodec from "../../src/internal/wire/openAiResponses/codec.js"
import * as Llm from "../../src/Llm.js"
import { ProviderUnavailableError } from "../../src/LlmError.js"
import * as Message from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import * as Reply from "../../src/simulator/Reply.js"
import { memoryKeyLimits } from "../utils/memoryKeyLimits.js"

describe("gateway keys: looked up by digest", () => {
  it("a key's digest is its SHA-256, in hex", () => {
    expect(Caller.digest("gw-key-0001")).toBe(createHash("sha256").update("gw-key-0001").digest("hex"))
  })

  it("two keys' digests are equal exactly when the keys are", () =>
    fc.assert(fc.property(fc.string(), fc.string(), (x, y) => {
      expect(Caller.digest(x) === Caller.digest(y)).toBe(x === y)
    })))

  const served = { resolve: () => undefined, models: [] }
  const keyAt = (index: number) => `gw-key-${String(index).padStart(5, "0")}-secret`
  const many = 5_000
  const heldIndex = (text: string): number | undefined => {
    const index = Number(/^gw-key-(\d{5})-secret$/.exec(text)?.[1] ?? NaN)
    return index < many ? index : undefined
  }
  const manyKeys = Effect.gen(function*() {
    return yield* Auth.make(
      Array.from({ length: many }, (_, index) => ({ name: `k${index}`, key: Redacted.make(keyAt(index)) })),
      [{ name: "ops", key: Redacted.make("gw-admin-key") }],
      served,
      yield* memoryKeyLimits,
      new Map()
    )
  })
  const refusal = (auth: Authentication.Auth, key: string) =>
    Effect.map(Effect.flip(auth.authenticate({ authorization: `Bearer ${key}` })), (error) => error.code)

  it.effect(`among ${many.toLocaleString("en")} keys, each finds its own caller; the admin key, its name`, () =>
    Effect.gen(function*() {
      const auth = yield* manyKeys
      for (let index = 0; index < many; index++) {
        const caller = yield* auth.authenticate({ authorization: `Bearer ${keyAt(index)}` })
        expect(caller.id).toBe(Caller.configKeyId(`k${index}`))
        expect(caller.digest).toBe(Caller.digest(keyAt(index)))
      }
      expect(auth.adminNamed(Redacted.make("gw-admin-key"))).toBe("ops")
      expect(auth.isAdmin(Redacted.make(keyAt(0)))).toBe(false)
      // The admin key calls no model: it is not a caller.
      expect(yield* refusal(auth, "gw-admin-key")).toBe("invalid_api_key")
    }).pipe(Effect.scoped))

  it.effect("a key cut at every point, or with any one character changed, dropped or doubled, finds none", () =>
    Effect.gen(function*() {
      const auth = yield* manyKeys
      const key = keyAt(1234)
      const near = new Set<string>()
      for (let at = 0; at <= key.length; at++) {
        near.add(key.slice(0, at))
        near.add(key.slice(at))
        near.add(key.slice(0, at) + key.slice(at - 1, at) + key.slice(at))
        if (at < key.length) {
          near.add(key.slice(0, at) + key.slice(at + 1))
          for (const other of ["0", "9", "a", "Z", "-", " ", "\t", "\u00a0"]) {
            near.add(key.slice(0, at) + other + key.slice(at + 1))
          }
        }
      }
      // Whitespace around a presented key is not the key's: the header's value is trimmed first. A change that gives
      // another held key (a digit changed) finds that one.
      const unheld = Array.from(near).filter((text) => heldIndex(text.trim()) === undefined && text.trim() !== "")
      for (const text of unheld) expect(yield* refusal(auth, text)).toBe("invalid_api_key")
      expect(unheld.length).toBeGreaterThan(key.length * 8)
      for (const text of near) {
        const index = heldIndex(text.trim())
        if (index !== undefined) expect((yield* auth.authenticate({ "x-api-key": text })).name).toBe(`k${index}`)
      }
    }).pipe(Effect.scoped))

  it.effect("any other text finds none, and finding a key does not depend on which others are held", () =>
    Effect.gen(function*() {
      const auth = yield* manyKeys
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.string({ minLength: 1 }), fc.nat({ max: many - 1 }), async (text, index) => {
            const trimmed = text.trim()
            fc.pre(trimmed !== "" && heldIndex(trimmed) === undefined)
            expect(await Effect.runPromise(refusal(auth, text))).toBe("invalid_api_key")
            const caller = await Effect.runPromise(auth.authenticate({ "x-api-key": ` ${keyAt(index)}\t` }))
            expect(caller.name).toBe(`k${index}`)
          })
        )
      )
    }).pipe(Effect.scoped))
})

describe("a budgeted call's worst case", () => {
  const price = fc.record(
    {
      input: fc.double({ min: 0, max: 20, noNaN: true }),
      cachedInput: fc.double({ min: 0, max: 20, noNaN: true }),
      cacheWrite: fc.double({ min: 0, max: 40, noNaN: true }),
      cacheWrite1h: fc.double({ min: 0, max: 40, noNaN: true }),
      output: fc.double({ min: 0, max: 100, noNaN: true })
    },
    { requiredKeys: ["input", "output"] }
  )

  it(
    "is never below the real cost of a reply within max_tokens, at any deployment the name reaches (prompt counted " +
      "as the simulator counts it, cache writes of the request's breakpoint included)",
    () =>
      fc.assert(fc.property(
        fc.array(price, { minLength: 1, maxLength: 5 }),
        fc.array(fc.string({ maxLength: 400, unit: "grapheme" }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 8192 }),
        fc.constantFrom(undefined, "5m" as const, "1h" as const),
        fc.tuple(
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.double({ min: 0, max: 1, noNaN: true })
        ),
        (prices, texts, maxTokens, ttl, [replyShare, cachedShare, writtenShare]) => {
          const parts = texts.map((text, i) => ({
            type: "text" as const,
            text,
            ...(ttl !== undefined && i === texts.length - 1 ? { cache: { ttl } } : {})
          }))
          const request = { messages: [{ role: "user" as const, content: parts }], maxTokens }
          const promptTokens = Math.max(1, Reply.countTokens(texts.reduce((chars, text) => chars + text.length, 0)))
          const cachedPromptTokens = Math.floor(cachedShare * promptTokens)
          // Only a request with a breakpoint writes at a premium, for its breakpoint's lifetime.
          const written = ttl === undefined ? 0 : Math.floor(writtenShare * (promptTokens - cachedPromptTokens))
          const usage = {
            promptTokens,
            completionTokens: Math.floor(replyShare * maxTokens),
            cachedPromptTokens,
            cacheWriteTokens: written,
            cacheWrite1hTokens: ttl === "1h" ? written : 0
          }
          const reserved = Auth.worstCase({
            price: Engine.worstPrice(prices.map((p) => ({ price: p }))),
            leastMaxTokens: 1
          }, request)
          for (const p of prices) expect(Pricing.cost(p, usage)!).toBeLessThanOrEqual(reserved * (1 + 1e-12))
        }
      ))
  )

  it(
    "is never below the bill of any deployment the name reaches at any tier it can bill the request at (long " +
      "context, the service tier asked for)",
    () =>
      fc.assert(
        fc.property(
          fc.subarray(Object.values(Pricing.builtIn), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 0, max: 260_000 }),
          fc.constantFrom(undefined, "priority", "fast", "flex"),
          fc.integer({ min: 1, max: 8192 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (prices, length, tier, maxTokens, replyShare) => {
            const request = {
              messages: [{ role: "user" as const, content: "a".repeat(length) }],
              maxTokens,
              ...(tier === undefined ? {} : { providerOptions: { service_tier: tier } })
            }
            const usage = {
              promptTokens: Math.round(Pricing.estimate({ input: 1, output: 0 }, request) * 1e6),
              completionTokens: Math.floor(replyShare * maxTokens),
              cachedPromptTokens: 0,
              ...(tier === undefined ? {} : { serviceTier: tier })
            }
            const reserved = Auth.worstCase({
              price: Engine.worstPrice(prices.map((p) => ({ price: p }))),
              leastMaxTokens: 1
            }, request)
            for (const p of prices) expect(Pricing.cost(p, usage)!).toBeLessThanOrEqual(reserved * (1 + 1e-12))
          }
        ),
        { numRuns: 200 }
      )
  )

  it(
    "is never below the bill of a reply as long as the limit each deployment the name reaches sends (a Responses " +
      "deployment's `max_output_tokens`, 16 at least)",
    () =>
      fc.assert(fc.property(
        fc.array(
          fc.record({
            price: fc.constantFrom(...Object.values(Pricing.builtIn)),
            api: fc.constantFrom("chat-completions" as const, "responses" as const, "anthropic" as const, undefined)
          }),
          { minLength: 1, maxLength: 4 }
        ),
        fc.string({ maxLength: 200 }),
        fc.integer({ min: 1, max: 64 }),
        (deployments, text, maxTokens) => {
          const request = { messages: [{ role: "user" as const, content: text }], maxTokens }
          const target = { price: Engine.worstPrice(deployments), leastMaxTokens: Engine.leastMaxTokens(deployments) }
          const reserved = Auth.worstCase(target, request)
          const promptTokens = Math.round(Pricing.estimate({ input: 1, output: 0 }, request) * 1e6)
          for (const { api, price } of deployments) {
            // The reply limit the deployment's adapter sends; the reply may be billed that many tokens.
            const sent = api === "responses"
              ? ResponsesCodec.requestBody(request, { model: "m", stream: false, store: false })["max_output_tokens"]
              : maxTokens
            const usage = { promptTokens, completionTokens: sent as number, cachedPromptTokens: 0 }
            expect(Pricing.cost(price, usage)!).toBeLessThanOrEqual(reserved * (1 + 1e-12))
          }
        }
      ))
  )

  it("a name with an unpriced deployment has no worst case; embeddings (no request) reserve nothing", () => {
    expect(Engine.worstPrice([{ price: { input: 1, output: 2 } }, {}])).toBeUndefined()
    expect(Engine.worstPrice([{ price: { input: 1, cachedInput: 3, output: 2 } }, { price: { input: 2, output: 1 } }]))
      .toEqual({
        input: 3,
        cacheWrite: 2,
        cacheWrite1h: 2,
        output: 2,
        audioInput: 2,
        audioOutput: 2,
        imageTokens: Pricing.defaultImageTokens,
        audioTokensPerSecond: Pricing.defaultAudioTokensPerSecond,
        videoTokensPerSecond: Pricing.defaultVideoTokensPerSecond,
        pdfPageTokens: Pricing.defaultPdfPageTokens,
        mediaUrls: "fetched",
        hostedToolCalls: Pricing.defaultHostedToolCalls
      })
    // The largest context window, none when one that fetches URLs has none; URLs
    // typed only when every deployment reads them so; a hosted tool's call costs the most any of them prices it at.
    const typed = { input: 1, output: 2, mediaUrls: "typed" } as const
    const worst = Engine.worstPrice([
      { price: { ...typed, contextWindow: 600, hostedToolCalls: { web_search: 0.05 } } },
      { price: { ...typed, audioTokensPerSecond: 40, contextWindow: 1_200 } }
    ])
    expect([
      worst?.contextWindow,
      worst?.mediaUrls,
      worst?.audioTokensPerSecond,
      worst?.hostedToolCalls?.["web_search"]
    ])
      .toStrictEqual([1_200, "typed", 40, 0.05])
    const mixed = Engine.worstPrice([{ price: { ...typed, contextWindow: 600 } }, { price: { input: 1, output: 2 } }])
    expect([mixed?.contextWindow, mixed?.mediaUrls]).toStrictEqual([undefined, "fetched"])
    // A deployment that reads URLs typed never bills a part of unknown size: it needs no window.
    const fetching = Engine.worstPrice([{ price: { input: 1, output: 2, contextWindow: 900 } }, { price: typed }])
    expect([fetching?.contextWindow, fetching?.mediaUrls]).toStrictEqual([900, "fetched"])
    expect(Engine.worstPrice([{ price: typed }])?.contextWindow).toBeUndefined()
    // Deployments that all speak the Responses API run hosted tools, whose results each one's own window bounds: one
    // of none leaves them none; beside a deployment of another API (where hosted tools never go), the largest.
    const windowed = { price: { ...typed, contextWindow: 600 }, api: "responses" }
    expect(Engine.worstPrice([windowed, { price: typed, api: "responses" }])?.contextWindow).toBeUndefined()
    expect(Engine.worstPrice([windowed, { price: typed, api: "anthropic" }])?.contextWindow).toBe(600)
    // An image costs the most any of them counts it at; one that does not say, the default.
    expect(
      Engine.worstPrice([{ price: { input: 1, output: 2, imageTokens: 1_600 } }, {
        price: { input: 1, output: 2, imageTokens: 1_445 }
      }])?.imageTokens
    ).toBe(1_600)
    expect(Auth.worstCase({ price: { input: 1, output: 2 }, leastMaxTokens: 1 }, undefined)).toBe(0)
  })

  it("reaches the deployments its address names and, transitively, those of every fallback", () => {
    const a = { name: "p/a", model: "ma", groups: ["fast"] }
    const b = { name: "p/b", model: "mb", groups: ["fast"] }
    const c = { name: "p/c", model: "mc" }
    const d = { name: "p/d", model: "md" }
    const options = {
      deployments: [a, b, c, d],
      fallbacks: {
        fast: [{ to: "mc", on: ["RateLimitError" as const] }],
        "p/c": [{ to: "p/d", on: ["TimeoutError" as const] }]
      }
    }
    expect(new Set(Engine.reachable(options, "fast"))).toEqual(new Set([a, b, c, d]))
    expect(Engine.reachable(options, "mb")).toEqual([b])
    expect(new Set(Engine.reachable(options, "p/c"))).toEqual(new Set([c, d]))
    expect(Engine.reachable(options, undefined)).toHaveLength(4)
    expect(Engine.reachable({ ...options, model: "ma" }, undefined)).toEqual([a])
  })
})

/**
 * A target of one deployment at `price` whose provider counts a prompt as `count` says (none: its count fails); its
 * calls are never made.
 */
const targetOf = (
  price: Pricing.Price,
  count?: Llm.TokenCount,
  leastMaxTokens = 1
): Parameters<Authentication.Auth["admit"]>[2] => ({
  price,
  leastMaxTokens,
  sharedCount: true,
  address: "m",
  llm: Llm.Llm.of({
    chat: () => Effect.die("not called"),
    chatStream: () => Stream.die("not called"),
    embed: () => Effect.die("not called"),
    countTokens: () =>
      count === undefined
        ? Effect.fail(new ProviderUnavailableError({ provider: "test", model: "m", status: 503 }))
        : Effect.succeed(count)
  })
})

describe("a budgeted key's admission", () => {
  const price = { input: 1, output: 2 }
  const request = { messages: [Message.user("Hello")], maxTokens: 100 }
  const reserved = Pricing.estimate(price, request)
  const budgetedAuth = (limit: number) =>
    Effect.gen(function*() {
      const auth = yield* Auth.make(
        [{
          name: "k",
          key: Redacted.make("gw-key-budgeted"),
          budget: { limit, period: "1 day", defaultMaxTokens: 50 }
        }],
        [],
        {
          resolve: (model) => model === "m" ? { price } : undefined,
          models: [{ id: "m", ownedBy: "test" }]
        },
        yield* memoryKeyLimits,
        new Map()
      )
      const caller = yield* auth.authenticate({ authorization: "Bearer gw-key-budgeted" })
      // One admission in a scope of its own, closed with `exit` after `use`.
      const admitOnce = (use: (settle: Authentication.Settle) => Effect.Effect<void>, exit: Exit.Exit<unknown>) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const { settle } = yield* Scope.provide(auth.admit(caller, "m", targetOf(price), request), scope)
          const [open] = yield* caller.budget!.status
          expect(open!.reserved).toBeCloseTo(reserved, 12)
          yield* use(settle)
          yield* Scope.close(scope, exit)
          return (yield* caller.budget!.status)[0]!
        })
      return { auth, caller, admitOnce }
    })
  const admitting = budgetedAuth(1)

  it.effect(
    "holds the worst case while the request's scope is open; charged the real cost, or nothing after an " +
      "error, or the reservation when interrupted",
    () =>
      Effect.gen(function*() {
        const { admitOnce } = yield* admitting
        const answered = yield* admitOnce((settle) => settle(0.0001), Exit.void)
        expect(answered.spent).toBeCloseTo(0.0001, 12)
        expect(answered.reserved).toBeCloseTo(0, 12)
        // An error answer: the scope closes without a settle.
        const failed = yield* admitOnce(() => Effect.void, Exit.void)
        expect(failed.spent).toBeCloseTo(0.0001, 12)
        const gone = yield* admitOnce(() => Effect.void, Exit.interrupt(1))
        expect(gone.spent).toBeCloseTo(0.0001 + reserved, 12)
        expect(gone.reserved).toBeCloseTo(0, 12)
      }).pipe(Effect.scoped)
  )

  it.effect("a call reported past its worst case is charged its reservation: its budget never passes its limit", () =>
    Effect.gen(function*() {
      const { admitOnce } = yield* budgetedAuth(1)
      const past = yield* admitOnce((settle) => settle(reserved * 3), Exit.void)
      expect(past.spent).toBeCloseTo(reserved, 12)
      expect(past.reserved).toBeCloseTo(0, 12)
    }).pipe(Effect.scoped))

  it(
    "a chat sent without a reply bound (a caller whose spend is only counted gives none) reserves its prompt and is " +
      "charged its whole cost, whatever it is",
    () =>
      fc.assert(
        fc.asyncProperty(fc.double({ min: 0, max: 100, noNaN: true }), (cost) =>
          Effect.runPromise(Effect.scoped(Effect.gen(function*() {
            const { auth, caller } = yield* budgetedAuth(1_000)
            const counted = { ...caller, defaultMaxTokens: undefined }
            const unbound = { messages: [Message.user("Hello")] }
            expect(auth.bounded(counted, unbound)).toBe(unbound)
            const scope = yield* Scope.make()
            const { settle } = yield* Scope.provide(auth.admit(counted, "m", targetOf(price), unbound), scope)
            expect((yield* caller.budget!.status)[0]!.reserved).toBeCloseTo(Pricing.estimate(price, unbound), 12)
            yield* settle(cost)
            yield* Scope.close(scope, Exit.void)
            const [status] = yield* caller.budget!.status
            expect(status!.spent).toBeCloseTo(cost, 9)
            expect(status!.reserved).toBeCloseTo(0, 9)
          })))),
        { numRuns: 50 }
      )
  )

  // One chat admitted after `spent` of the $0.05 budget went to an earlier call: what it was sent as and reserved, or
  // the refusal.
  const fitOnce = (spent: number, asked: number, text: string, target: ReturnType<typeof targetOf>) =>
    Effect.gen(function*() {
      const { auth, caller } = yield* budgetedAuth(0.05)
      yield* caller.budget!.charge(yield* caller.budget!.check({ estimate: spent }), spent)
      const chat = { messages: [Message.user(text)], maxTokens: asked }
      const scope = yield* Scope.make()
      const admitted = yield* Effect.result(Scope.provide(auth.admit(caller, "m", target, chat), scope))
      const [status] = yield* caller.budget!.status
      yield* Scope.close(scope, Exit.void)
      return { admitted, reserved: status!.reserved, chat }
    })

  const dollars = (amount: number) => `$${Number(amount.toPrecision(6))}`

  it(
    "a chat whose worst case passes what its budget has left is sent with the most reply tokens that fit, reserved " +
      "at their worst case, and says so; refused, naming what is left and what its least reply costs, only when that " +
      "does not fit",
    () =>
      fc.assert(
        fc.asyncProperty(
          fc.double({ min: 0, max: 0.05, noNaN: true, maxExcluded: true }),
          fc.integer({ min: 1, max: 100_000 }),
          fc.string({ maxLength: 3000 }),
          fc.constantFrom(1, 16),
          (spent, asked, text, least) =>
            Effect.runPromise(
              Effect.scoped(Effect.gen(function*() {
                const target = targetOf(price, undefined, least)
                const { admitted, chat, reserved } = yield* fitOnce(spent, asked, text, target)
                const left = 0.05 - spent
                const worst = (maxTokens: number) => Auth.worstCase(target, { ...chat, maxTokens })
                if (admitted._tag === "Failure") {
                  expect(admitted.failure.status).toBe(429)
                  expect(worst(least)).toBeGreaterThan(left - 1e-12)
                  expect(admitted.failure.message).toContain(`${dollars(left)} of $0.05 left`)
                  expect(admitted.failure.message).toContain(
                    `the smallest call of this request may cost up to ${dollars(worst(least))}`
                  )
                  return
                }
                const { lowered, request: sent } = admitted.success
                const bound = sent.maxTokens
                expect(bound).toBeLessThanOrEqual(asked)
                expect(reserved).toBeCloseTo(worst(bound), 12)
                expect(worst(bound)).toBeLessThanOrEqual(left + 1e-9)
                if (bound === asked) expect(lowered).toBeUndefined()
                else {
                  expect(worst(bound + 1)).toBeGreaterThan(left)
                  expect(lowered).toEqual({ asked, sent: bound, left })
                  expect(sent).toEqual({ ...chat, maxTokens: bound })
                }
              })).pipe(Effect.provide(TestClock.layer()))
            )
        ),
        { numRuns: 150 }
      )
  )

  it.effect(
    "where the byte bound does not fit, the prompt is reserved at its provider's count and a tenth more; a local " +
      "count, a count that fails, or a target whose deployments may count apart keep the byte bound",
    () =>
      Effect.gen(function*() {
        const text = "a".repeat(40_000)
        const counted = Pricing.estimate(price, { messages: [Message.user(text)], maxTokens: 100 }, {
          promptTokens: 110
        })
        const byProvider = yield* fitOnce(0.01, 100, text, targetOf(price, { inputTokens: 100, estimated: false }))
        expect(byProvider.admitted._tag).toBe("Success")
        expect(byProvider.reserved).toBeCloseTo(counted, 12)
        // At a token a byte the prompt alone is $0.04: only a lowered reply fits what is left.
        const bytes = Auth.worstCase(targetOf(price), { messages: [Message.user(text)], maxTokens: 100 })
        for (
          const target of [
            targetOf(price, { inputTokens: 100, estimated: true }),
            targetOf(price),
            { ...targetOf(price, { inputTokens: 100, estimated: false }), sharedCount: false }
          ]
        ) {
          const kept = yield* fitOnce(0.01, 100, text, target)
          expect(kept.admitted._tag).toBe("Failure")
          const fitted = yield* fitOnce(0, 100, text, target)
          expect(fitted.reserved).toBeCloseTo(bytes, 12)
        }
      }).pipe(Effect.scoped)
  )

  it.effect(
    "a request without maxTokens is sent with the key's default; one with, or of a key without a budget, as " +
      "it is",
    () =>
      Effect.gen(function*() {
        const { auth, caller } = yield* admitting
        const bare = { messages: [Message.user("Hi")] }
        expect(auth.bounded(caller, bare)).toEqual({ ...bare, maxTokens: 50 })
        expect(auth.bounded(caller, request)).toBe(request)
        expect(auth.bounded(undefined, bare)).toBe(bare)
        expect(auth.bounded(caller, undefined)).toBeUndefined()
      }).pipe(Effect.scoped)
  )
})
