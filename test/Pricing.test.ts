import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Message from "../src/Message.js"
import * as Pricing from "../src/Pricing.js"
import * as RateLimiter from "../src/RateLimiter.js"

const usage = (promptTokens: number, completionTokens: number, cachedPromptTokens = 0) => ({
  promptTokens,
  completionTokens,
  cachedPromptTokens
})

const closeTo = (actual: number | undefined, expected: number) => {
  expect(actual).toBeDefined()
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)))
}

describe("Pricing.lookup", () => {
  it("finds a model by its own name", () => {
    expect(Pricing.lookup("gpt-4o")).toStrictEqual({ input: 2.5, cachedInput: 1.25, output: 10, mediaUrls: "typed" })
    expect(Pricing.lookup("gpt-4o-mini")).toStrictEqual({
      input: 0.15,
      cachedInput: 0.075,
      output: 0.6,
      mediaUrls: "typed"
    })
    // Gemini fetches a part by URL as whatever it holds: its calls are bounded by its context window.
    expect(Pricing.lookup("gemini-2.5-flash")).toStrictEqual({
      input: 0.3,
      cachedInput: 0.03,
      output: 2.5,
      mediaUrls: "fetched",
      contextWindow: 1_048_576
    })
  })

  it("drops dated and alias suffixes", () => {
    expect(Pricing.lookup("gpt-4o-2024-08-06")).toBe(Pricing.builtIn["gpt-4o"])
    expect(Pricing.lookup("gpt-4o-mini-2024-07-18")).toBe(Pricing.builtIn["gpt-4o-mini"])
    expect(Pricing.lookup("gpt-4.1-2025-04-14")).toBe(Pricing.builtIn["gpt-4.1"])
    expect(Pricing.lookup("claude-sonnet-4-20250514")).toBe(Pricing.builtIn["claude-sonnet-4"])
    expect(Pricing.lookup("claude-opus-4-1@20250805")).toBe(Pricing.builtIn["claude-opus-4-1"])
    expect(Pricing.lookup("claude-3-5-haiku-latest")).toBe(Pricing.builtIn["claude-3-5-haiku"])
  })

  it("drops provider prefixes and reads dotted versions as dashed", () => {
    expect(Pricing.lookup("openai/gpt-4o")).toBe(Pricing.builtIn["gpt-4o"])
    expect(Pricing.lookup("models/gemini-2.5-pro")).toBe(Pricing.builtIn["gemini-2.5-pro"])
    expect(Pricing.lookup("anthropic/claude-sonnet-4.5")).toBe(Pricing.builtIn["claude-sonnet-4-5"])
    expect(Pricing.lookup("OpenAI/GPT-4o-2024-11-20")).toBe(Pricing.builtIn["gpt-4o"])
  })

  it("prices a Bedrock inference profile, by id or ARN, and a foundation model's ARN as the model", () => {
    const haiku = Pricing.builtIn["anthropic.claude-3-5-haiku-20241022-v1:0"]
    expect(haiku).toBeDefined()
    for (const geography of ["us", "us-gov", "eu", "apac", "jp", "au", "global"]) {
      expect(Pricing.lookup(`${geography}.anthropic.claude-3-5-haiku-20241022-v1:0`)).toBe(haiku)
    }
    expect(
      Pricing.lookup(
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"
      )
    )
      .toBe(haiku)
    expect(Pricing.lookup("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0"))
      .toBe(Pricing.builtIn["amazon.nova-micro-v1:0"])
    expect(Pricing.candidates("EU.Meta.Llama3-3-70b-Instruct-v1:0")).toEqual([
      "eu.meta.llama3-3-70b-instruct-v1:0",
      "meta.llama3-3-70b-instruct-v1:0"
    ])
    // A price of the profile's own is found before its model's.
    const own = {
      "us.amazon.nova-micro-v1:0": { input: 1, output: 2 },
      "amazon.nova-micro-v1:0": { input: 3, output: 4 }
    }
    expect(Pricing.lookup("us.amazon.nova-micro-v1:0", own)).toStrictEqual({ input: 1, output: 2 })
    // Only a geography is a profile's prefix; an application inference profile's ARN names no model.
    expect(Pricing.lookup("xx.amazon.nova-micro-v1:0")).toBeUndefined()
    expect(Pricing.lookup("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"))
      .toBeUndefined()
  })

  it("does not guess by prefix: an unknown variant has no price", () => {
    expect(Pricing.lookup("gpt-4o-audio-preview")).toBeUndefined()
    expect(Pricing.lookup("llama3.2")).toBeUndefined()
    expect(Pricing.lookup("")).toBeUndefined()
    expect(Pricing.lookup("constructor")).toBeUndefined()
  })

  it("looks up in a table of one's own", () => {
    const table = { "my-model": { input: 1, output: 2 } }
    expect(Pricing.lookup("acme/my-model-2025-01-01", table)).toStrictEqual({ input: 1, output: 2 })
    expect(Pricing.lookup("gpt-4o", table)).toBeUndefined()
  })

  it("every built-in price decodes as a Price", () => {
    for (const [name, price] of Object.entries(Pricing.builtIn)) {
      expect(Pricing.lookup(name)).toBe(price)
      expect(Schema.decodeUnknownSync(Pricing.Price)(price)).toStrictEqual(price)
    }
  })
})

describe("Pricing.cost", () => {
  it("prices prompt, cached prompt and completion tokens at their rates", () => {
    const price = { input: 2.5, cachedInput: 1.25, output: 10 }
    closeTo(Pricing.cost(price, usage(1_000_000, 0)), 2.5)
    closeTo(Pricing.cost(price, usage(0, 1_000_000)), 10)
    // 400k cached of 1M prompt: 600k at 2.5, 400k at 1.25, plus 2k completion at 10.
    closeTo(Pricing.cost(price, usage(1_000_000, 2_000, 400_000)), 1.5 + 0.5 + 0.02)
  })

  it("charges cached tokens at the input price when the price has no cached rate", () => {
    closeTo(Pricing.cost({ input: 1, output: 4 }, usage(1000, 0, 600)), 0.001)
  })

  it("is undefined without a price, never 0", () => {
    expect(Pricing.cost(undefined, usage(100, 100))).toBeUndefined()
    expect(Pricing.cost({ input: 0, output: 0 }, usage(100, 100))).toBe(0)
  })

  const count = fc.integer({ min: 0, max: 5_000_000 })
  const usageArb = fc.tuple(count, count, count).map(([prompt, completion, cached]) =>
    usage(prompt, completion, Math.min(cached, prompt))
  )
  const priceArb = fc.record({
    input: fc.double({ min: 0, max: 100, noNaN: true }),
    cachedInput: fc.double({ min: 0, max: 100, noNaN: true }),
    output: fc.double({ min: 0, max: 200, noNaN: true })
  })

  // @effect/vitest's `prop` takes Effect 4's own `Arbitrary`; fast-check arbitraries run through `fc.assert`.
  it("is additive in usage", () =>
    fc.assert(fc.property(priceArb, usageArb, usageArb, (price, a, b) => {
      const sum = usage(
        a.promptTokens + b.promptTokens,
        a.completionTokens + b.completionTokens,
        a.cachedPromptTokens + b.cachedPromptTokens
      )
      closeTo(Pricing.cost(price, sum), Pricing.cost(price, a)! + Pricing.cost(price, b)!)
    })))

  it("never falls when tokens are added", () =>
    fc.assert(fc.property(
      priceArb,
      usageArb,
      fc.nat(1_000_000),
      fc.nat(1_000_000),
      (price, base, morePrompt, moreCompletion) => {
        const cheaper = { ...price, cachedInput: Math.min(price.cachedInput, price.input) }
        const more = usage(
          base.promptTokens + morePrompt,
          base.completionTokens + moreCompletion,
          base.cachedPromptTokens
        )
        expect(Pricing.cost(cheaper, more)!).toBeGreaterThanOrEqual(Pricing.cost(cheaper, base)! - 1e-12)
      }
    )))
})

describe("Pricing.cost of prompt caching", () => {
  const cached = (prompt: number, read: number, written: number, writtenForAnHour: number, completion = 0) => ({
    promptTokens: prompt,
    completionTokens: completion,
    cachedPromptTokens: read,
    cacheWriteTokens: written,
    cacheWrite1hTokens: writtenForAnHour
  })

  it("prices reads, five-minute writes and one-hour writes apart (Claude Sonnet 4.5's built-in price)", () => {
    // 1M prompt: 200k read at 0.3, 300k written of which 100k for an hour (200k at 3.75, 100k at 6), 500k at 3.
    closeTo(Pricing.cost(Pricing.lookup("claude-sonnet-4-5"), cached(1_000_000, 200_000, 300_000, 100_000)), 2.91)
  })

  it("has Anthropic's multipliers in every built-in Claude price: reads 0.1x, 5-minute writes 1.25x, 1-hour 2x", () => {
    const claudes = Object.entries(Pricing.builtIn).filter(([name]) => name.startsWith("claude"))
    expect(claudes.length).toBeGreaterThan(5)
    for (const [, price] of claudes) {
      closeTo(price.cachedInput, price.input * 0.1)
      closeTo(price.cacheWrite, price.input * 1.25)
      closeTo(price.cacheWrite1h, price.input * 2)
    }
  })

  it("charges writes at the input price without a write price, and one-hour writes at cacheWrite without theirs", () => {
    closeTo(Pricing.cost({ input: 2, output: 0 }, cached(1_000_000, 0, 1_000_000, 400_000)), 2)
    closeTo(Pricing.cost({ input: 2, cacheWrite: 3, output: 0 }, cached(1_000_000, 0, 1_000_000, 400_000)), 3)
    expect(Pricing.cacheWritePrice({ input: 2, cacheWrite: 3, cacheWrite1h: 5, output: 0 }, "1h")).toBe(5)
    expect(Pricing.cacheWritePrice({ input: 2, output: 0 }, "1h")).toBe(2)
  })

  it("clamps counts a provider overstated: reads to the prompt, writes to the rest, hour writes to the writes", () => {
    const price = { input: 1, cachedInput: 0.5, cacheWrite: 2, cacheWrite1h: 4, output: 0 }
    closeTo(Pricing.cost(price, cached(100, 80, 50, 70)), (80 * 0.5 + 20 * 4) / 1e6)
  })

  const count = fc.integer({ min: 0, max: 2_000_000 })
  const cachedUsage = fc.tuple(count, count, count, count, count).map(([prompt, read, written, hour, completion]) => {
    const reads = Math.min(read, prompt)
    const writes = Math.min(written, prompt - reads)
    return cached(prompt, reads, writes, Math.min(hour, writes), completion)
  })
  const perMtok = fc.double({ min: 0, max: 100, noNaN: true })
  const cachingPrice = fc.record({
    input: perMtok,
    cachedInput: perMtok,
    cacheWrite: perMtok,
    cacheWrite1h: perMtok,
    output: perMtok
  }, { requiredKeys: ["input", "output"] })

  it("is the sum of each kind of token at its price", () =>
    fc.assert(fc.property(cachingPrice, cachedUsage, (price, u) => {
      const input = price.input
      const write = price.cacheWrite ?? input
      const expected = (u.promptTokens - u.cachedPromptTokens - u.cacheWriteTokens) * input +
        u.cachedPromptTokens * (price.cachedInput ?? input) +
        (u.cacheWriteTokens - u.cacheWrite1hTokens) * write + u.cacheWrite1hTokens * (price.cacheWrite1h ?? write) +
        u.completionTokens * price.output
      closeTo(Pricing.cost(price, u), expected / 1e6)
    })))

  it("is additive in usage, cache reads and writes included", () =>
    fc.assert(fc.property(cachingPrice, cachedUsage, cachedUsage, (price, a, b) => {
      const sum = cached(
        a.promptTokens + b.promptTokens,
        a.cachedPromptTokens + b.cachedPromptTokens,
        a.cacheWriteTokens + b.cacheWriteTokens,
        a.cacheWrite1hTokens + b.cacheWrite1hTokens,
        a.completionTokens + b.completionTokens
      )
      closeTo(Pricing.cost(price, sum), Pricing.cost(price, a)! + Pricing.cost(price, b)!)
    })))

  it("never exceeds Pricing.estimate of a request whose breakpoints allow those writes", () =>
    fc.assert(fc.property(
      cachingPrice,
      fc.string({ maxLength: 300 }),
      fc.constantFrom(undefined, "5m" as const, "1h" as const),
      fc.integer({ min: 1, max: 4096 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (price, text, ttl, maxTokens, readShare, writeShare, replyShare) => {
        const cache = ttl === undefined ? undefined : { ttl }
        const request = {
          messages: [{ role: "system" as const, content: text, ...(cache === undefined ? {} : { cache }) }],
          maxTokens
        }
        // At most one token per byte, as the estimate counts the prompt.
        const prompt = Buffer.byteLength(text)
        const reads = Math.floor(readShare * prompt)
        // A request without a breakpoint writes nothing at a premium; with one, its writes live for its TTL.
        const writes = cache === undefined ? 0 : Math.floor(writeShare * (prompt - reads))
        const u = cached(prompt, reads, writes, ttl === "1h" ? writes : 0, Math.floor(replyShare * maxTokens))
        // The tolerance is float rounding (and underflow of the tiniest prices).
        expect(Pricing.cost(price, u)!).toBeLessThanOrEqual(Pricing.estimate(price, request) * (1 + 1e-12) + 1e-18)
      }
    )))
})

describe("Pricing.estimate", () => {
  const request = { messages: [Message.user("a".repeat(400))], maxTokens: 50 }
  // 400 bytes of text, 4 for the message's markers, 3 for the reply's priming.
  const promptAtMost = 407

  it(
    "charges the prompt counted at most (a token per byte) at the input price and maxTokens at the output " +
      "price",
    () => {
      closeTo(Pricing.estimate({ input: 2, cachedInput: 1, output: 8 }, request), (promptAtMost * 2 + 50 * 8) / 1e6)
    }
  )

  it("charges the prompt at a cache write's price when a breakpoint of that lifetime may write it at a premium", () => {
    const price = { input: 2, cacheWrite: 2.5, cacheWrite1h: 4, output: 8 }
    const at = (cache: Message.CacheBreakpoint | undefined) =>
      Pricing.estimate(price, {
        ...request,
        messages: [{ type: "text" as const, text: "a".repeat(400), ...(cache === undefined ? {} : { cache }) }]
          .map((part) => ({ role: "user" as const, content: [part] }))
      })
    closeTo(at(undefined), (promptAtMost * 2 + 50 * 8) / 1e6)
    closeTo(at({}), (promptAtMost * 2.5 + 50 * 8) / 1e6)
    closeTo(at({ ttl: "1h" }), (promptAtMost * 4 + 50 * 8) / 1e6)
    // A tool's breakpoint counts too; a write cheaper than the input price does not lower the estimate.
    const tools = [{ name: "t", parameters: { type: "object" }, cache: { ttl: "1h" as const } }]
    const withTools = { ...request, tools }
    closeTo(Pricing.estimate(price, withTools), Pricing.estimate({ input: 4, output: 8 }, withTools))
    closeTo(
      Pricing.estimate({ ...price, cacheWrite1h: 1 }, withTools),
      Pricing.estimate({ input: 2, output: 8 }, withTools)
    )
  })

  it("charges defaultMaxTokens when the request sets no maxTokens", () => {
    const open = { messages: request.messages }
    closeTo(Pricing.estimate({ input: 2, output: 8 }, open), promptAtMost * 2 / 1e6)
    closeTo(
      Pricing.estimate({ input: 2, output: 8 }, open, { defaultMaxTokens: 1000 }),
      (promptAtMost * 2 + 8000) / 1e6
    )
  })

  it("counts each image at the price's imageTokens (default Pricing.defaultImageTokens), tools' own prompt too", () => {
    // An API that reads an image by URL only as an image (OpenAI's `image_url`).
    const typed = { mediaUrls: "typed" } as const
    const images = (count: number) => ({
      messages: [Message.user([
        { type: "text" as const, text: "a".repeat(400) },
        ...Array.from({ length: count }, () => Message.image("https://example.com/cat.png"))
      ])],
      maxTokens: 50
    })
    closeTo(Pricing.estimate({ input: 2, output: 8 }, images(0)), (promptAtMost * 2 + 50 * 8) / 1e6)
    closeTo(
      Pricing.estimate({ input: 2, output: 8, ...typed }, images(400)),
      ((promptAtMost + 400 * Pricing.defaultImageTokens) * 2 + 50 * 8) / 1e6
    )
    closeTo(
      Pricing.estimate({ input: 2, output: 8, imageTokens: 1_600, ...typed }, images(3)),
      ((promptAtMost + 3 * 1_600) * 2 + 50 * 8) / 1e6
    )
    // A provider's own prompt for tool use, besides the tools' definitions.
    const tools = [{ name: "t", parameters: { type: "object" } }]
    closeTo(
      Pricing.estimate({ input: 2, output: 8 }, { ...request, tools }) - Pricing.estimate({ input: 2, output: 8 }, {
        ...request,
        tools: []
      }),
      (Buffer.byteLength(JSON.stringify(tools)) - 2 + Pricing.toolPromptTokens) * 2 / 1e6
    )
  })

  it("counts a text by its UTF-8 bytes, not its characters: a character outside ASCII may be several tokens", () => {
    const text = "预算" + "🙂"
    const cost = Pricing.estimate({ input: 1e6, output: 0 }, { messages: [Message.user(text)] })
    expect(cost).toBe(Buffer.byteLength(text) + 4 + 3)
    expect(cost).toBeGreaterThan(RateLimiter.estimateTokens({ messages: [Message.user(text)] }))
  })

  it.effect(
    "is never below the prompt's real token count (o200k), whatever the text: a budget's reservation is a " +
      "bound",
    () =>
      Effect.gen(function*() {
        const count = yield* Effect.promise(() => import("gpt-tokenizer").then((module) => module.countTokens))
        const text = fc.string({ unit: "binary", maxLength: 200 })
        fc.assert(
          fc.property(fc.array(text, { minLength: 1, maxLength: 4 }), text, (texts, schema) => {
            const asked = {
              messages: texts.map((content, i) => i % 2 === 0 ? Message.user(content) : Message.assistant(content)),
              tools: [{ name: "lookup", description: schema, parameters: { type: "object" } }]
            }
            const real = texts.reduce((sum, content) => sum + count(content, { disallowedSpecial: new Set() }), 0) +
              count(JSON.stringify(asked.tools), { disallowedSpecial: new Set() })
            expect(Pricing.estimate({ input: 1e6, output: 0 }, asked)).toBeGreaterThanOrEqual(
              real + 3 * texts.length + 3
            )
          }),
          { numRuns: 300 }
        )
      })
  )
})

describe("Pricing.fromPerMtok", () => {
  it("reads provider.json's fields", () => {
    expect(Pricing.fromPerMtok({ input_per_mtok: 3, output_per_mtok: 15 })).toStrictEqual({ input: 3, output: 15 })
    expect(Pricing.fromPerMtok({ input_per_mtok: 3, cached_input_per_mtok: 0.3, output_per_mtok: 15 }))
      .toStrictEqual({ input: 3, cachedInput: 0.3, output: 15 })
    expect(Pricing.fromPerMtok({
      input_per_mtok: 3,
      cached_input_per_mtok: 0.3,
      cache_write_per_mtok: 3.75,
      cache_write_1h_per_mtok: 6,
      output_per_mtok: 15
    })).toStrictEqual({ input: 3, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6, output: 15 })
  })
})

describe("hosted tools' calls", () => {
  const price = Pricing.fromPerMtok({ input_per_mtok: 1, output_per_mtok: 1 })
  const request = (tools: ReadonlyArray<unknown>, maxToolCalls?: number) => ({
    messages: [Message.user("Find it")],
    providerOptions: { tools, ...(maxToolCalls === undefined ? {} : { max_tool_calls: maxToolCalls }) }
  })
  const bare = Pricing.estimate(price, { messages: [Message.user("Find it")] })

  it("are charged per call at the price's table, else the published defaults; a client's own tool at nothing", () => {
    const calls = { web_search: 3, code_interpreter: 1, computer_use_preview: 2 }
    closeTo(Pricing.cost(price, { ...usage(0, 0), hostedToolCalls: calls }), 0.03 + 0.03)
    const own = Pricing.fromPerMtok({ input_per_mtok: 1, output_per_mtok: 1, hosted_tool_calls: { web_search: 0.5 } })
    closeTo(Pricing.cost(own, { ...usage(0, 0), hostedToolCalls: calls }), 1.5 + 0.03)
    expect(Pricing.hostedCallPrice(price, "web_search_preview")).toBe(0.025)
    expect(Pricing.hostedCallPrice(price, "custom")).toBe(0)
  })

  it("are reserved as max_tool_calls calls (default defaultMaxToolCalls) at the dearest hosted tool's price", () => {
    closeTo(Pricing.estimate(price, request([{ type: "web_search" }], 500)) - bare, 5)
    closeTo(
      Pricing.estimate(price, request([{ type: "file_search" }, { type: "image_generation" }])) - bare,
      Pricing.defaultMaxToolCalls * 0.25
    )
    closeTo(Pricing.estimate(price, request([{ type: "function", name: "f" }, { type: "custom" }])) - bare, 0)
  })

  it("no reply's calls cost more than the reservation, for any calls within the bound", () => {
    const types = Object.keys(Pricing.defaultHostedToolCalls)
    fc.assert(fc.property(
      fc.subarray(types, { minLength: 1 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.nat(), { maxLength: 50 }),
      (tools, bound, picks) => {
        const made: Record<string, number> = {}
        for (const pick of picks.slice(0, bound)) {
          made[tools[pick % tools.length]!] = (made[tools[pick % tools.length]!] ?? 0) + 1
        }
        const charged = Pricing.cost(price, { ...usage(0, 0), hostedToolCalls: made })!
        const most = Pricing.estimate(price, request(tools.map((type) => ({ type })), bound)) - bare
        expect(charged).toBeLessThanOrEqual(most + 1e-12)
      }
    ))
  })
})
