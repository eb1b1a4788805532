/**
 * Prompt caching through the gateway, over loopback with the official clients, against the simulator's prompt cache:
 * a repeated prefix is read from the cache (and, at Anthropic, first written to it by lifetime), each API reports it in
 * its own usage shape, and the gateway prices it (reads at the cached price, writes at the write premium) in
 * `llm_gateway_cost_usd_total`, counting the tokens in `llm_gateway_cache_tokens_total`.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import { GoogleGenAI } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fc from "fast-check"
import OpenAI from "openai"
import type { Usage } from "../../src/ChatResponse.js"
import * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { sentLifetimes } from "../utils/breakpoints.js"
import { testAdminKey, testAdmins } from "../utils/gatewayHarness.js"
import { type Sample, scrape, valueOf } from "../utils/prometheus.js"

const providerKey = "sk-gateway-caching-provider-01"
const bedrockClaude = "anthropic.claude-sonnet-4-5-20250929-v1:0"
const clientKey = "sk-gateway-caching-client-0001"

class Fixture extends Context.Service<Fixture, {
  readonly url: string
  readonly openai: OpenAI
  readonly anthropic: Anthropic
  readonly gemini: GoogleGenAI
}>()("test/GatewayPromptCachingFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      models: ["gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.5-flash", bedrockClaude]
    })
    const deployment = (model: string, api: string, baseUrl: string) => [{
      model_name: model,
      api,
      base_url: baseUrl,
      api_keys: [providerKey],
      max_retries: 0
    }]
    const config = yield* ProviderConfig.fromJson({
      chat: deployment("gpt-4o-mini", "chat-completions", `${simulator.url}/v1`),
      responses: deployment("gpt-4o-mini", "responses", `${simulator.url}/v1`),
      claude: deployment("claude-sonnet-4-5", "anthropic", simulator.url),
      google: deployment("gemini-2.5-flash", "gemini", simulator.url),
      aws: deployment(bedrockClaude, "bedrock", simulator.url)
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      adminKeys: testAdmins
    })
    const options = { apiKey: clientKey, maxRetries: 0 }
    return {
      url: gateway.url,
      openai: new OpenAI({ ...options, baseURL: `${gateway.url}/v1` }),
      anthropic: new Anthropic({ ...options, baseURL: gateway.url }),
      gemini: new GoogleGenAI({
        apiKey: clientKey,
        httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
      })
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** What `model`'s calls added to the cache token counters and the cost, from `before` to `after`. */
const counted = (before: ReadonlyArray<Sample>, after: ReadonlyArray<Sample>, model: string) => {
  const delta = (name: string, labels: Record<string, string>) =>
    valueOf(after, name, labels) - valueOf(before, name, labels)
  return {
    read: delta("llm_gateway_cache_tokens_total", { model, operation: "read" }),
    written: delta("llm_gateway_cache_tokens_total", { model, operation: "write" }),
    cost: delta("llm_gateway_cost_usd_total", { model })
  }
}

/** The cost of replies with these usages at `model`'s built-in price. */
const priced = (
  model: string,
  usages: ReadonlyArray<
    Pick<Usage, "promptTokens" | "completionTokens" | "cachedPromptTokens" | "cacheWriteTokens" | "cacheWrite1hTokens">
  >
) => usages.reduce((sum, usage) => sum + Pricing.cost(Pricing.lookup(model), usage)!, 0)

/** A prompt of a system and question parts, each with a breakpoint of its lifetime (`ttls`: the system's first). */
interface Breakpoints {
  readonly system: string
  readonly parts: ReadonlyArray<string>
  readonly ttls: ReadonlyArray<"5m" | "1h" | undefined>
  readonly control: (ttl: "5m" | "1h" | undefined) => { readonly type: "ephemeral"; readonly ttl?: "5m" | "1h" }
}

/**
 * The usage of `prompt` asked of `model` by a messages or a chat completions client (whose `cache_control` on each
 * part is OpenRouter's and LiteLLM's spelling, cast as their clients send it), whole or streamed; the writes by
 * lifetime where the client's API reports them (messages).
 */
async function ask(
  clients: { readonly anthropic: Anthropic; readonly openai: OpenAI },
  client: string,
  model: string,
  streamed: boolean,
  prompt: Breakpoints
): Promise<
  { readonly completionTokens: number; readonly cacheWriteTokens?: number; readonly cacheWrite1hTokens?: number }
> {
  const { control, parts, system, ttls } = prompt
  if (client === "messages") {
    const body = {
      model,
      max_tokens: 64,
      system: [{ type: "text" as const, text: system, cache_control: control(ttls[0]) }],
      messages: [{
        role: "user" as const,
        content: parts.map((text, i) => ({ type: "text" as const, text, cache_control: control(ttls[i + 1]) }))
      }]
    }
    if (!streamed) {
      const { usage } = await clients.anthropic.messages.create(body)
      return {
        completionTokens: usage.output_tokens,
        cacheWriteTokens: usage.cache_creation_input_tokens ?? 0,
        cacheWrite1hTokens: usage.cache_creation?.ephemeral_1h_input_tokens ?? 0
      }
    }
    // The stream's final usage, in its message_delta, as written (the SDK's final message keeps no cache_creation).
    let usage: Anthropic.MessageDeltaUsage & { readonly cache_creation?: Anthropic.CacheCreation | null } | undefined
    for await (const event of clients.anthropic.messages.stream(body)) {
      if (event.type === "message_delta") usage = event.usage
    }
    return {
      completionTokens: usage!.output_tokens,
      cacheWriteTokens: usage!.cache_creation_input_tokens ?? 0,
      cacheWrite1hTokens: usage!.cache_creation?.ephemeral_1h_input_tokens ?? 0
    }
  }
  const body = {
    model,
    messages: [
      { role: "system", content: [{ type: "text", text: system, cache_control: control(ttls[0]) }] },
      { role: "user", content: parts.map((text, i) => ({ type: "text", text, cache_control: control(ttls[i + 1]) })) }
    ]
  }
  if (!streamed) {
    const reply = await clients.openai.chat.completions.create(
      body as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming
    )
    return { completionTokens: reply.usage!.completion_tokens }
  }
  const stream = await clients.openai.chat.completions.create({
    ...body,
    stream: true,
    stream_options: { include_usage: true }
  } as unknown as OpenAI.ChatCompletionCreateParamsStreaming)
  let completionTokens = 0
  for await (const chunk of stream) completionTokens = chunk.usage?.completion_tokens ?? completionTokens
  return { completionTokens }
}

// 2000 characters: 500 prompt tokens as the simulator counts them.
const rules = "Review Go code with care, line by line. ".repeat(50)

// 4400 characters: 1100 tokens, past Gemini's implicit caching's minimum.
const gemini = `${rules}${"g".repeat(2400)}`

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway prompt caching, with the official clients",
  (it) => {
    it.effect(
      "chat completions with a prompt_cache_key: cached_tokens on the repeat (streamed too), counted and priced",
      () =>
        Effect.gen(function*() {
          const { openai, url } = yield* Fixture
          const model = "chat/gpt-4o-mini"
          const ask = (question: string) => ({
            model,
            prompt_cache_key: "review-bot",
            messages: [{ role: "system" as const, content: rules }, { role: "user" as const, content: question }]
          })
          const before = (yield* scrape(url, testAdminKey)).samples
          const first = yield* promise(() => openai.chat.completions.create(ask("Is this loop safe?")))
          const second = yield* promise(() => openai.chat.completions.create(ask("And this one?")))
          const streamed = yield* promise(async () => {
            const stream = await openai.chat.completions.create({
              ...ask("What about the mutex?"),
              stream: true,
              stream_options: { include_usage: true }
            })
            let usage: OpenAI.CompletionUsage | undefined
            for await (const chunk of stream) usage = chunk.usage ?? usage
            return usage!
          })
          expect(first.usage?.prompt_tokens_details?.cached_tokens).toBe(0)
          expect(second.usage?.prompt_tokens_details?.cached_tokens).toBe(500)
          expect(streamed.prompt_tokens_details?.cached_tokens).toBe(500)
          const usages = [first.usage!, second.usage!, streamed].map((usage) => ({
            promptTokens: usage.prompt_tokens,
            completionTokens: usage.completion_tokens,
            cachedPromptTokens: usage.prompt_tokens_details?.cached_tokens ?? 0
          }))
          const after = counted(before, (yield* scrape(url, testAdminKey)).samples, model)
          expect(after.read).toBe(1000)
          expect(after.written).toBe(0)
          // gpt-4o-mini's cached input is half its input price: the repeats cost less than the first.
          expect(after.cost).toBeCloseTo(priced("gpt-4o-mini", usages), 12)
          expect(Pricing.cost(Pricing.lookup("gpt-4o-mini"), usages[1]!)).toBeLessThan(
            Pricing.cost(Pricing.lookup("gpt-4o-mini"), usages[0]!)!
          )
        })
    )

    it.effect("Responses with a prompt_cache_key: input_tokens_details.cached_tokens on the repeat", () =>
      Effect.gen(function*() {
        const { openai, url } = yield* Fixture
        const model = "responses/gpt-4o-mini"
        const ask = (input: string) =>
          promise(() => openai.responses.create({ model, instructions: rules, input, prompt_cache_key: "review-bot" }))
        const before = (yield* scrape(url, testAdminKey)).samples
        const first = yield* ask("Is this loop safe?")
        const second = yield* ask("And this one?")
        expect(first.usage?.input_tokens_details.cached_tokens).toBe(0)
        expect(second.usage?.input_tokens_details.cached_tokens).toBe(500)
        const after = counted(before, (yield* scrape(url, testAdminKey)).samples, model)
        expect(after.read).toBe(500)
        expect(after.cost).toBeCloseTo(
          priced(
            "gpt-4o-mini",
            [first.usage!, second.usage!].map((usage) => ({
              promptTokens: usage.input_tokens,
              completionTokens: usage.output_tokens,
              cachedPromptTokens: usage.input_tokens_details.cached_tokens
            }))
          ),
          12
        )
      }))

    it.effect(
      "messages with cache_control: written by lifetime (cache_creation), then read by the next turn, streamed; " +
        "priced with the write premium and the read discount",
      () =>
        Effect.gen(function*() {
          const { anthropic, url } = yield* Fixture
          const model = "claude/claude-sonnet-4-5"
          // The system prompt cached for an hour (500 tokens), each turn's last question for five minutes.
          const system = [{
            type: "text" as const,
            text: rules,
            cache_control: { type: "ephemeral" as const, ttl: "1h" as const }
          }]
          const question = (text: string, cached: boolean) => ({
            type: "text" as const,
            text,
            ...(cached ? { cache_control: { type: "ephemeral" as const } } : {})
          })
          const before = (yield* scrape(url, testAdminKey)).samples
          const first = yield* promise(() =>
            anthropic.messages.create({
              model,
              max_tokens: 64,
              system,
              messages: [{ role: "user", content: [question("q".repeat(40), true)] }]
            })
          )
          expect(first.usage).toMatchObject({
            input_tokens: 0,
            cache_creation_input_tokens: 510,
            cache_read_input_tokens: 0,
            cache_creation: { ephemeral_1h_input_tokens: 500, ephemeral_5m_input_tokens: 10 }
          })
          const second = yield* promise(() =>
            anthropic.messages.stream({
              model,
              max_tokens: 64,
              system,
              messages: [
                { role: "user", content: [question("q".repeat(40), false)] },
                { role: "assistant", content: "a".repeat(44) },
                { role: "user", content: [question("w".repeat(40), true)] }
              ]
            }).finalMessage()
          )
          // The first turn is read where its breakpoint was; the assistant's reply and the new question are written.
          // 44 characters of answer (11 tokens) and the new question (10), all up to the last breakpoint.
          expect(second.usage).toMatchObject({
            input_tokens: 0,
            cache_read_input_tokens: 510,
            cache_creation_input_tokens: 21
          })
          const usages = [first.usage, second.usage].map((usage) => ({
            promptTokens: usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) +
              (usage.cache_read_input_tokens ?? 0),
            completionTokens: usage.output_tokens,
            cachedPromptTokens: usage.cache_read_input_tokens ?? 0,
            cacheWriteTokens: usage.cache_creation_input_tokens ?? 0,
            cacheWrite1hTokens: usage.cache_creation?.ephemeral_1h_input_tokens ?? 0
          }))
          const after = counted(before, (yield* scrape(url, testAdminKey)).samples, model)
          expect(after.read).toBe(510)
          expect(after.written).toBe(510 + 21)
          expect(after.cost).toBeCloseTo(priced("claude-sonnet-4-5", usages), 12)
          // The first call's 500 system tokens at the one-hour write price (twice the input price).
          expect(priced("claude-sonnet-4-5", [usages[0]!])).toBeCloseTo(
            (500 * 6 + 10 * 3.75 + usages[0]!.completionTokens * 15) / 1e6,
            12
          )
        })
    )

    it.effect(
      "messages with cache_control to a Bedrock deployment: sent as a cachePoint, written then read, reported as " +
        "cache_creation_input_tokens and cache_read_input_tokens, priced at Bedrock's Claude price",
      () =>
        Effect.gen(function*() {
          const { anthropic, url } = yield* Fixture
          const model = `aws/${bedrockClaude}`
          const ask = (question: string) =>
            promise(() =>
              anthropic.messages.create({
                model,
                max_tokens: 64,
                system: [{ type: "text", text: rules, cache_control: { type: "ephemeral" } }],
                messages: [{ role: "user", content: question }]
              })
            )
          const before = (yield* scrape(url, testAdminKey)).samples
          const first = yield* ask("Is this loop safe?")
          const second = yield* ask("And this one?")
          expect(first.usage).toMatchObject({ cache_creation_input_tokens: 500, cache_read_input_tokens: 0 })
          expect(second.usage).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 500 })
          const after = counted(before, (yield* scrape(url, testAdminKey)).samples, model)
          expect([after.read, after.written]).toEqual([500, 500])
          expect(after.cost).toBeCloseTo(
            priced(
              bedrockClaude,
              [first.usage, second.usage].map((usage) => ({
                promptTokens: usage.input_tokens + (usage.cache_creation_input_tokens ?? 0) +
                  (usage.cache_read_input_tokens ?? 0),
                completionTokens: usage.output_tokens,
                cachedPromptTokens: usage.cache_read_input_tokens ?? 0,
                cacheWriteTokens: usage.cache_creation_input_tokens ?? 0
              }))
            ),
            12
          )
        })
    )

    it.effect(
      "a messages stream whose prompt a Bedrock or Gemini deployment reads whole from its cache: message_start " +
        "carries no estimate as its input count, and the counts Claude Code keeps (message_delta's where above 0, " +
        "else message_start's) add up to the prompt the simulator counted",
      () =>
        Effect.gen(function*() {
          const { anthropic } = yield* Fixture
          for (const [model, system] of [[`aws/${bedrockClaude}`, rules], ["google/gemini-2.5-flash", gemini]]) {
            const ask = () =>
              promise(async () => {
                const events: Array<Anthropic.RawMessageStreamEvent> = []
                // The events as sent (the SDK's `stream` helper accumulates into message_start's message).
                const stream = await anthropic.messages.create({
                  model: model!,
                  max_tokens: 64,
                  stream: true,
                  system: [{ type: "text", text: system!, cache_control: { type: "ephemeral" } }],
                  messages: [{ role: "user", content: "Is this loop safe?" }]
                })
                for await (const event of stream) events.push(event)
                return events
              })
            // The first call writes the prefix (Bedrock) or makes it (Gemini's implicit cache); the second reads it.
            yield* ask()
            const events = yield* ask()
            const start = events.find((event) => event.type === "message_start")!.message.usage
            const delta = events.find((event) => event.type === "message_delta")!.usage
            expect(start.input_tokens, model).toBe(0)
            // Claude Code's reading of a stream's usage: message_delta's counts where above 0, else message_start's.
            const kept = (field: "input_tokens" | "cache_read_input_tokens" | "cache_creation_input_tokens") =>
              (delta[field] ?? 0) > 0 ? delta[field]! : start[field] ?? 0
            const prompt = kept("input_tokens") + kept("cache_read_input_tokens") + kept("cache_creation_input_tokens")
            // Bedrock reads the system's 500 tokens from the cache (its breakpoint) and not the question's 5; Gemini reads
            // the whole repeated prompt (implicit caching), 1105, and leaves no input token uncached.
            expect([prompt, kept("cache_read_input_tokens")], model).toEqual(
              model!.startsWith("aws/") ? [505, 500] : [1105, 1105]
            )
          }
        })
    )

    it.effect(
      "chat completions with cache_control (OpenRouter's and LiteLLM's spelling) to an Anthropic deployment: the " +
        "breakpoints go as Anthropic's, written for their lifetime, then read; cached_tokens on the repeat",
      () =>
        Effect.gen(function*() {
          const { openai } = yield* Fixture
          // The system part cached for an hour, the message-level breakpoint on the user turn for five minutes (the SDK's
          // types do not name cache_control: the body is cast as OpenRouter's clients send it).
          const ask = (question: string) =>
            promise(() =>
              openai.chat.completions.create({
                model: "claude/claude-sonnet-4-5",
                messages: [
                  {
                    role: "system",
                    content: [{ type: "text", text: `chat: ${rules}`, cache_control: { type: "ephemeral", ttl: "1h" } }]
                  },
                  { role: "user", content: question, cache_control: { type: "ephemeral" } }
                ]
              } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
            )
          const { url } = yield* Fixture
          const before = (yield* scrape(url, testAdminKey)).samples
          const first = yield* ask("q".repeat(40))
          const second = yield* ask("q".repeat(40))
          const after = counted(before, (yield* scrape(url, testAdminKey)).samples, "claude/claude-sonnet-4-5")
          // Written once (the chat completions answer has no field for writes; the metrics count them), then read.
          expect([after.written, after.read]).toEqual([512, 512])
          // 2006 characters of system prompt and 40 of question: 502 and 10 tokens.
          expect(first.usage?.prompt_tokens).toBe(512)
          expect(first.usage?.prompt_tokens_details?.cached_tokens).toBe(0)
          expect(second.usage?.prompt_tokens_details?.cached_tokens).toBe(512)
        })
    )

    it.effect("messages with a top-level cache_control (automatic caching): the whole prompt written, then read", () =>
      Effect.gen(function*() {
        const { anthropic } = yield* Fixture
        const ask = () =>
          promise(() =>
            anthropic.messages.create({
              model: "claude/claude-sonnet-4-5",
              max_tokens: 64,
              cache_control: { type: "ephemeral" },
              system: "Automatic. ".repeat(40),
              messages: [{ role: "user", content: "z".repeat(40) }]
            })
          )
        // 440 characters of system prompt and 40 of question: 120 tokens, all up to the last block.
        expect((yield* ask()).usage).toMatchObject({ input_tokens: 0, cache_creation_input_tokens: 120 })
        expect((yield* ask()).usage).toMatchObject({
          input_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 120
        })
      }))

    it.effect(
      "each client reads the cache in its own API's shape, whatever the backend: a Gemini deployment's cached " +
        "tokens as cached_tokens (chat completions, Responses) and cache_read_input_tokens (messages)",
      () =>
        Effect.gen(function*() {
          const { anthropic, openai } = yield* Fixture
          const model = "google/gemini-2.5-flash"
          // 4400 characters: 1100 tokens, past implicit caching's minimum; each client's own prefix.
          const prefix = (client: string) => `${client}: ${rules}${"x".repeat(2400 - client.length - 2)}`
          const twice = <A>(ask: (question: string) => Promise<A>) =>
            promise(async () => [await ask("Is this loop safe?"), await ask("And this one?")] as const)
          const chat = yield* twice((question) =>
            openai.chat.completions.create({
              model,
              messages: [{ role: "system", content: prefix("chat") }, { role: "user", content: question }]
            })
          )
          expect(chat.map((reply) => reply.usage?.prompt_tokens_details?.cached_tokens)).toEqual([0, 1100])
          const responses = yield* twice((input) =>
            openai.responses.create({ model, instructions: prefix("responses"), input })
          )
          expect(responses.map((reply) => reply.usage?.input_tokens_details.cached_tokens)).toEqual([0, 1100])
          const messages = yield* twice((question) =>
            anthropic.messages.create({
              model,
              max_tokens: 64,
              system: prefix("messages"),
              messages: [{ role: "user", content: question }]
            })
          )
          expect(messages.map((reply) => reply.usage.cache_read_input_tokens)).toEqual([0, 1100])
          // Gemini reports no writes: the messages answer says none were made.
          expect(messages.map((reply) => reply.usage.cache_creation_input_tokens)).toEqual([0, 0])
        })
    )

    it.effect(
      "a breakpoint's lifetime, from a messages or a chat completions client (cache_control's ttl), reaches an " +
        "Anthropic and a Bedrock deployment, whole and streamed: the writes of an hour reported as such, and the " +
        "spend recorded is the simulator's bill at the target's price",
      () =>
        Effect.gen(function*() {
          const { anthropic, openai, url } = yield* Fixture
          let run = 0
          const lifetime = fc.constantFrom<"5m" | "1h" | undefined>(undefined, "5m", "1h")
          yield* promise(() =>
            fc.assert(
              fc.asyncProperty(
                fc.constantFrom("messages", "chat"),
                fc.constantFrom(["claude/claude-sonnet-4-5", "claude-sonnet-4-5"], [
                  `aws/${bedrockClaude}`,
                  bedrockClaude
                ]),
                fc.boolean(),
                // The system's breakpoint, then each question part's, in any order (a longer after a shorter one is
                // sent for the default lifetime, as both APIs refuse it).
                fc.array(lifetime, { minLength: 2, maxLength: 4 }),
                async (client, [model, priceOf], streamed, ttls) => {
                  // A prompt of its own each run, so each is written whole: a system of 100 tokens, parts of 10.
                  const system = `${String(run++).padStart(8, "0")}${"s".repeat(392)}`
                  const parts = ttls.slice(1).map((_, i) => `${i}`.padEnd(40, "p"))
                  const control = (ttl: "5m" | "1h" | undefined) =>
                    ttl === undefined ? { type: "ephemeral" as const } : { type: "ephemeral" as const, ttl }
                  const before = (await Effect.runPromise(scrape(url, testAdminKey))).samples
                  const usage = await ask({ anthropic, openai }, client, model, streamed, {
                    system,
                    parts,
                    ttls,
                    control
                  })
                  const sent = sentLifetimes(ttls.map((ttl) => ttl === undefined ? {} : { ttl }))
                  const sizes = [100, ...parts.map(() => 10)]
                  const written = sizes.reduce((sum, size) => sum + size, 0)
                  const hour = sizes.reduce((sum, size, i) => sum + (sent[i] === "1h" ? size : 0), 0)
                  if (usage.cacheWrite1hTokens !== undefined) {
                    expect([usage.cacheWriteTokens, usage.cacheWrite1hTokens]).toEqual([written, hour])
                  }
                  const after = counted(before, (await Effect.runPromise(scrape(url, testAdminKey))).samples, model)
                  expect(after.written).toBe(written)
                  const bill = Pricing.cost(Pricing.lookup(priceOf), {
                    promptTokens: written,
                    completionTokens: usage.completionTokens,
                    cachedPromptTokens: 0,
                    cacheWriteTokens: written,
                    cacheWrite1hTokens: hour
                  })!
                  // Both price Claude Sonnet 4.5 alike: a write of an hour at $6 a million, of five minutes at $3.75.
                  expect(bill).toBeCloseTo((hour * 6 + (written - hour) * 3.75 + usage.completionTokens * 15) / 1e6, 12)
                  expect(after.cost).toBeCloseTo(bill, 12)
                }
              ),
              { numRuns: 24 }
            )
          )
        })
    )

    it.effect("generateContent: a repeated long prefix in cachedContentTokenCount (implicit caching), priced", () =>
      Effect.gen(function*() {
        const { gemini, url } = yield* Fixture
        const model = "google/gemini-2.5-flash"
        // 4400 characters: 1100 tokens, past implicit caching's minimum.
        const systemInstruction = rules + "x".repeat(2400)
        const ask = (text: string) =>
          promise(() => gemini.models.generateContent({ model, contents: text, config: { systemInstruction } }))
        const before = (yield* scrape(url, testAdminKey)).samples
        const first = yield* ask("Is this loop safe?")
        const second = yield* ask("And this one?")
        expect(first.usageMetadata?.cachedContentTokenCount).toBeUndefined()
        expect(second.usageMetadata?.cachedContentTokenCount).toBe(1100)
        const after = counted(before, (yield* scrape(url, testAdminKey)).samples, model)
        expect(after.read).toBe(1100)
        expect(after.cost).toBeCloseTo(
          priced(
            "gemini-2.5-flash",
            [first.usageMetadata!, second.usageMetadata!].map((usage) => ({
              promptTokens: usage.promptTokenCount ?? 0,
              completionTokens: (usage.candidatesTokenCount ?? 0) + (usage.thoughtsTokenCount ?? 0),
              cachedPromptTokens: usage.cachedContentTokenCount ?? 0
            }))
          ),
          12
        )
      }))
  }
)
