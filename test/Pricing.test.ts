import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Message from "../src/Message.js"
import * as Pricing from "../src/Pricing.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
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
    // OpenAI's Priority processing prices (https://openai.com/api-priority-processing/), by either of its names.
    const priority = { input: 4.25, cachedInput: 2.125, output: 17 }
    // The Batch API's prices: half the standard ones (https://platform.openai.com/docs/guides/batch).
    expect(Pricing.lookup("gpt-4o")).toStrictEqual({
      input: 2.5,
      cachedInput: 1.25,
      output: 10,
      mediaUrls: "typed",
      serviceTiers: { priority, fast: priority, batch: { input: 1.25, cachedInput: 0.625, output: 5 } }
    })
    expect(Pricing.lookup("gpt-4o-mini")).toStrictEqual({
      input: 0.15,
      cachedInput: 0.075,
      output: 0.6,
      mediaUrls: "typed",
      serviceTiers: { batch: { input: 0.075, cachedInput: 0.0375, output: 0.3 } }
    })
    // Gemini fetches a part by URL as whatever it holds: its calls are bounded by its context window.
    expect(Pricing.lookup("gemini-2.5-flash")).toStrictEqual({
      input: 0.3,
      cachedInput: 0.03,
      output: 2.5,
      audioInput: 1,
      mediaUrls: "fetched",
      contextWindow: 1_048_576,
      serviceTiers: { batch: { input: 0.15, cachedInput: 0.015, output: 1.25, audioInput: 0.5 } }
    })
  })

  it("prices a batch's lines at half every token price of OpenAI's, Anthropic's, Google's and Bedrock's models", () => {
    const batched = /^(?:gpt-|o\d|claude-|gemini-|anthropic\.|meta\.|amazon\.)/
    for (const [model, price] of Object.entries(Pricing.builtIn)) {
      const batch = price.serviceTiers?.[Pricing.batchTier]
      if (!batched.test(model)) {
        // DeepSeek's API has no batch API: no batch tier to bill.
        expect(batch, model).toBeUndefined()
        continue
      }
      for (const name of ["input", "cachedInput", "cacheWrite", "cacheWrite1h", "output", "audioInput"] as const) {
        expect(batch?.[name], `${model} ${name}`).toBe(price[name] === undefined ? undefined : price[name] / 2)
      }
      const usage = {
        promptTokens: 10_000,
        cachedPromptTokens: 2_000,
        cacheWriteTokens: 1_000,
        completionTokens: 500,
        serviceTier: Pricing.batchTier
      }
      expect(Pricing.cost(price, usage), model).toBeCloseTo(
        Pricing.cost(price, { ...usage, serviceTier: undefined })! / 2
      )
    }
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
    // 100k prompt: 20k read at 0.3, 30k written of which 10k for an hour (20k at 3.75, 10k at 6), 50k at 3.
    closeTo(Pricing.cost(Pricing.lookup("claude-sonnet-4-5"), cached(100_000, 20_000, 30_000, 10_000)), 0.291)
    // Past 200,000 prompt tokens every token is at the long-context tier, the cache's multipliers on its input price:
    // 200k read at 0.6, 200k at 7.5 and 100k at 12 written, 500k at 6.
    closeTo(Pricing.cost(Pricing.lookup("claude-sonnet-4-5"), cached(1_000_000, 200_000, 300_000, 100_000)), 5.82)
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

  it("reads the tiers and audio prices of a provider.json entry, through ProviderConfig as a deployment's price", () =>
    Effect.gen(function*() {
      const pricing = {
        input_per_mtok: 1.25,
        cached_input_per_mtok: 0.125,
        output_per_mtok: 10,
        audio_input_per_mtok: 4,
        cached_audio_input_per_mtok: 0.4,
        audio_output_per_mtok: 20,
        long_context: { above_tokens: 200_000, input_per_mtok: 2.5, cached_input_per_mtok: 0.25, output_per_mtok: 15 },
        service_tiers: { flex: { input_per_mtok: 0.625, cached_input_per_mtok: 0.0625, output_per_mtok: 5 } }
      }
      const tiers = {
        input: 1.25,
        cachedInput: 0.125,
        output: 10,
        audioInput: 4,
        cachedAudioInput: 0.4,
        audioOutput: 20,
        longContext: { above: 200_000, input: 2.5, cachedInput: 0.25, output: 15 },
        serviceTiers: { flex: { input: 0.625, cachedInput: 0.0625, output: 5 } }
      }
      expect(Pricing.fromPerMtok(pricing)).toStrictEqual(tiers)
      const config = yield* ProviderConfig.fromJson({
        acme: [{ model_name: "acme-1", base_url: "https://acme.test/v1", api_keys: ["k"], pricing }]
      })
      const model = yield* ProviderConfig.model(config, "acme", "acme-1")
      expect(ProviderConfig.priceOf(model)).toMatchObject(tiers)
    }).pipe(Effect.runPromise))
})

describe("hosted tools' calls", () => {
  // A dollar a million tokens, and a window of a thousand: a call's results reserved at $0.001.
  const window = 1_000
  const price = { ...Pricing.fromPerMtok({ input_per_mtok: 1, output_per_mtok: 1 }), contextWindow: window }
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
    // Each call with a window of results: the prompt of the model turn that reads them.
    const results = window / 1e6
    closeTo(Pricing.estimate(price, request([{ type: "web_search" }], 500)) - bare, 500 * (0.01 + results))
    closeTo(
      Pricing.estimate(price, request([{ type: "file_search" }, { type: "image_generation" }])) - bare,
      Pricing.defaultMaxToolCalls * (0.25 + results)
    )
    closeTo(Pricing.estimate(price, request([{ type: "function", name: "f" }, { type: "custom" }])) - bare, 0)
  })

  it("leave their results no bound on a price of no context window: the estimate is Infinity, the tool named", () => {
    const { contextWindow: _window, ...windowless } = price
    const searching = request([{ type: "function", name: "f" }, { type: "web_search" }], 1)
    expect(Pricing.estimate(windowless, searching)).toBe(Infinity)
    expect(Pricing.unboundedTool(windowless, searching)).toStrictEqual({
      at: "providerOptions.tools[1]",
      type: "web_search"
    })
    expect(Pricing.unboundedTool(price, searching)).toBeUndefined()
    // A client's own tools add nothing the provider bills.
    const own = request([{ type: "function", name: "f" }, { type: "custom" }])
    expect(Pricing.unboundedTool(windowless, own)).toBeUndefined()
    expect(Pricing.estimate(windowless, own)).toBe(bare)
  })

  it("no reply's calls and results cost more than the reservation, for any calls within the bound", () => {
    const types = Object.keys(Pricing.defaultHostedToolCalls)
    fc.assert(fc.property(
      fc.subarray(types, { minLength: 1 }),
      fc.integer({ min: 1, max: 50 }),
      fc.array(fc.record({ pick: fc.nat(), read: fc.integer({ min: 0, max: window }) }), { maxLength: 50 }),
      (tools, bound, calls) => {
        const made: Record<string, number> = {}
        let read = 0
        for (const call of calls.slice(0, bound)) {
          made[tools[call.pick % tools.length]!] = (made[tools[call.pick % tools.length]!] ?? 0) + 1
          read += call.read
        }
        const charged = Pricing.cost(price, { ...usage(read, 0), hostedToolCalls: made })!
        const most = Pricing.estimate(price, request(tools.map((type) => ({ type })), bound)) - bare
        expect(charged).toBeLessThanOrEqual(most + 1e-12)
      }
    ))
  })
})

describe("tiers: long context, service tiers, audio", () => {
  const pro = Pricing.lookup("gemini-2.5-pro")!

  it("a call is billed at its service tier's prices where the price has it, else past the long-context threshold", () => {
    expect(Pricing.tierOf(pro, { promptTokens: 200_000 }).input).toBe(1.25)
    expect(Pricing.tierOf(pro, { promptTokens: 200_001 }).input).toBe(2.5)
    const gpt5 = Pricing.lookup("gpt-5")!
    expect(Pricing.tierOf(gpt5, { promptTokens: 10, serviceTier: "priority" }).output).toBe(20)
    // A tier the price does not name is billed at its own prices.
    expect(Pricing.tierOf(gpt5, { promptTokens: 10, serviceTier: "scale" })).toBe(gpt5)
  })

  it("a reservation at a full context window on Gemini 2.5 Pro is priced at the tier of prompts over 200,000", () => {
    const request = {
      messages: [Message.user([{ type: "image" as const, url: "https://www.youtube.com/watch?v=9hE5-98ZeCg" }])],
      maxTokens: 1_000
    }
    // The video's size is not known before the call: the prompt is the 1,048,576-token window, at $2.50 and $15.
    closeTo(Pricing.estimate(pro, request), (1_048_576 * 2.5 + 1_000 * 15) / 1e6)
    const short = { messages: [Message.user("a".repeat(400))], maxTokens: 50 }
    closeTo(Pricing.estimate(pro, short), (407 * 1.25 + 50 * 10) / 1e6)
  })

  it("a reservation is at the service tier the request asks for where the price has it", () => {
    const gpt5 = Pricing.lookup("gpt-5")!
    const request = { messages: [Message.user("a".repeat(400))], maxTokens: 50 }
    // Naming no tier is asking for `auto`, the provider's default, which may be priority.
    closeTo(Pricing.estimate(gpt5, request), (407 * 2.5 + 50 * 20) / 1e6)
    closeTo(Pricing.estimate(gpt5, { ...request, serviceTier: "default" }), (407 * 1.25 + 50 * 10) / 1e6)
    closeTo(
      Pricing.estimate(gpt5, { ...request, providerOptions: { service_tier: "priority" } }),
      (407 * 2.5 + 50 * 20) / 1e6
    )
    closeTo(Pricing.estimate(gpt5, { ...request, providerOptions: { service_tier: "flex" } }), (407 * 1.25 + 500) / 1e6)
    // The request's own field, which every dialect's `service_tier` is read into; a `providerOptions` one wins.
    closeTo(Pricing.estimate(gpt5, { ...request, serviceTier: "priority" }), (407 * 2.5 + 50 * 20) / 1e6)
    closeTo(Pricing.estimate(gpt5, { ...request, serviceTier: "fast" }), (407 * 2.5 + 50 * 20) / 1e6)
    // `auto` leaves the tier to the provider, which may serve it at priority.
    closeTo(Pricing.estimate(gpt5, { ...request, serviceTier: "auto" }), (407 * 2.5 + 50 * 20) / 1e6)
    closeTo(
      Pricing.estimate(gpt5, { ...request, providerOptions: { service_tier: "auto" } }),
      (407 * 2.5 + 50 * 20) / 1e6
    )
    closeTo(
      Pricing.estimate(gpt5, { ...request, serviceTier: "priority", providerOptions: { service_tier: "default" } }),
      (407 * 1.25 + 50 * 10) / 1e6
    )
  })

  it("a reservation counts the prompt at the audio price when a part may be audio", () => {
    const flash = Pricing.lookup("gemini-2.5-flash")!
    const { audioInput: _, ...textOnly } = flash
    const wav = "data:audio/wav;base64," + Buffer.from(new Uint8Array(1500)).toString("base64")
    const audio = { messages: [Message.user([{ type: "image" as const, url: wav }])], maxTokens: 10 }
    const prompt = Math.round(Pricing.estimate({ input: 1, output: 0 }, audio) * 1e6)
    closeTo(Pricing.estimate(flash, audio), (prompt * 1 + 10 * 2.5) / 1e6)
    closeTo(Pricing.estimate(textOnly, audio), (prompt * 0.3 + 10 * 2.5) / 1e6)
    // Text alone is at the text price.
    closeTo(
      Pricing.estimate(flash, { messages: [Message.user("a".repeat(400))], maxTokens: 10 }),
      (407 * 0.3 + 25) / 1e6
    )
  })

  // The tiers a reply may report for the tier a request asks for (OpenAI's `service_tier` reference, Anthropic's
  // "Service tiers" page: `auto`, also what a request naming none is served as, is served at priority where there is
  // priority capacity or an OpenAI project's default is priority; `scale` is sent to Anthropic as `auto`; any tier may
  // fall back to the standard one).
  const servedAt: Readonly<Record<string, ReadonlyArray<string | undefined>>> = {
    none: [undefined, "default", "priority"],
    auto: ["default", "standard", "priority"],
    priority: ["priority", "default"],
    fast: ["priority", "fast", "default"],
    scale: ["scale", "priority", "default"],
    flex: ["flex", "default"],
    batch: ["batch"],
    default: ["default"]
  }
  // A Claude model priced at a Priority Tier of its own (Anthropic publishes none: an organization's contract does).
  const claudePriority: Pricing.Price = {
    ...Pricing.lookup("claude-sonnet-4-5")!,
    serviceTiers: { priority: { input: 5, cachedInput: 0.5, cacheWrite: 6.25, cacheWrite1h: 10, output: 25 } }
  }

  // Every built-in price, any prompt up to past the long-context thresholds, any split of it into reads and writes
  // (of either lifetime), any reply within maxTokens, at any tier a reply may report for the one the request asks for.
  it("no usage a request can be billed for costs more than its reservation, at any tier it can be billed at", () =>
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.values(Pricing.builtIn), claudePriority),
        fc.integer({ min: 0, max: 260_000 }),
        fc.constantFrom(...Object.keys(servedAt)).chain((asked) =>
          fc.tuple(fc.constant(asked === "none" ? undefined : asked), fc.constantFrom(...servedAt[asked]!))
        ),
        fc.integer({ min: 1, max: 4096 }),
        fc.tuple(...[0, 1, 2, 3].map(() => fc.double({ min: 0, max: 1, noNaN: true }))),
        (price, length, [tier, served], maxTokens, [readShare, writeShare, hourShare, replyShare]) => {
          const request = {
            messages: [
              Message.user([{ type: "text" as const, text: "a".repeat(length), cache: { ttl: "1h" as const } }])
            ],
            maxTokens,
            ...(tier === undefined ? {} : { serviceTier: tier })
          }
          const prompt = Math.round(Pricing.estimate({ input: 1, output: 0 }, request) * 1e6)
          const reads = Math.floor(readShare! * prompt)
          const writes = Math.floor(writeShare! * (prompt - reads))
          const billed = {
            promptTokens: prompt,
            cachedPromptTokens: reads,
            cacheWriteTokens: writes,
            cacheWrite1hTokens: Math.floor(hourShare! * writes),
            completionTokens: Math.floor(replyShare! * maxTokens),
            ...(served === undefined ? {} : { serviceTier: served })
          }
          expect(Pricing.cost(price, billed)!).toBeLessThanOrEqual(Pricing.estimate(price, request) * (1 + 1e-12))
        }
      ),
      { numRuns: 300 }
    ))
})

describe("Pricing.cacheSavings", () => {
  const sonnet = Pricing.lookup("claude-sonnet-4-5")!

  it("is what the prompt would have cost uncached less what it cost", () => {
    // 8,000 read at $0.30 instead of $3: $0.0216; 2,000 written at $3.75 instead of $3: -$0.0015.
    closeTo(
      Pricing.cacheSavings(sonnet, {
        promptTokens: 12_000,
        cachedPromptTokens: 8_000,
        cacheWriteTokens: 2_000,
        completionTokens: 500
      }),
      0.0216 - 0.0015
    )
    // Writes and no reads: the write premium, a negative saving.
    closeTo(
      Pricing.cacheSavings(sonnet, {
        promptTokens: 1_000,
        cachedPromptTokens: 0,
        cacheWriteTokens: 1_000,
        completionTokens: 0
      }),
      -0.00075
    )
    expect(Pricing.cacheSavings(undefined, usage(10, 10, 5))).toBeUndefined()
  })

  it("is the uncached cost less the cost, for every built-in price and usage", () =>
    fc.assert(fc.property(
      fc.constantFrom(...Object.values(Pricing.builtIn)),
      fc.integer({ min: 0, max: 300_000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.nat({ max: 10_000 }),
      (price, prompt, readShare, writeShare, completion) => {
        const reads = Math.floor(readShare * prompt)
        const billed = {
          promptTokens: prompt,
          cachedPromptTokens: reads,
          cacheWriteTokens: Math.floor(writeShare * (prompt - reads)),
          completionTokens: completion
        }
        const uncached = Pricing.cost(price, {
          promptTokens: prompt,
          cachedPromptTokens: 0,
          completionTokens: completion
        })!
        closeTo(Pricing.cacheSavings(price, billed)! + Pricing.cost(price, billed)!, uncached)
      }
    )))
})
