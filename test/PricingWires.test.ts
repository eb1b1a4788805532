/**
 * `Pricing.cost` of the usage each wire reports, whole and streamed: a fixture table (wire × usage kind × tier ×
 * whole/streamed) of usage objects as each API's reference writes them, read by the provider's adapter over a fake
 * `HttpClient` and priced, against figures computed by hand from the price sheets, to the micro-dollar.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventStreamCodec } from "@smithy/eventstream-codec"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import type * as ChatChunk from "../src/ChatChunk.js"
import type { Usage } from "../src/ChatResponse.js"
import * as AnthropicReply from "../src/internal/wire/anthropic/reply.js"
import * as BedrockCodec from "../src/internal/wire/bedrock/codec.js"
import { eventFrame } from "../src/internal/wire/bedrock/writer.js"
import * as GeminiCodec from "../src/internal/wire/gemini/codec.js"
import * as ChatCodec from "../src/internal/wire/openAiChat/codec.js"
import * as ResponsesCodec from "../src/internal/wire/openAiResponses/codec.js"
import * as Pricing from "../src/Pricing.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as Bedrock from "../src/providers/Bedrock.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as OpenAiChat from "../src/providers/OpenAiChat.js"
import * as OpenAiResponses from "../src/providers/OpenAiResponses.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { jsonResponse, streamResponse } from "./utils/fakeHttpClient.js"

const credentials = ProviderClient.credentials("sk-test-0123456789abcdef")
const none = ProviderClient.credentials("none")
const codec = new EventStreamCodec((bytes) => new TextDecoder().decode(bytes), (text) => new TextEncoder().encode(text))

const sse = (...events: ReadonlyArray<unknown>) => events.map((event) => `data: ${JSON.stringify(event)}\n\n`).join("")
const named = (...events: ReadonlyArray<{ readonly type: string; readonly [field: string]: unknown }>) =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join("")

/** One wire's reply carrying a usage object: its whole body, and its stream's pieces. */
interface Wire {
  readonly chat: (model: string, body: unknown) => Effect.Effect<Usage, unknown>
  readonly stream: (
    model: string,
    pieces: ReadonlyArray<string | Uint8Array>
  ) => Effect.Effect<Usage | undefined, unknown>
}

/** Signs a Bedrock call with a fixed key. */
const signed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(
    effect,
    Bedrock.Credentials,
    () =>
      Promise.resolve({ accessKeyId: "AKIAUNITTEST00000000", secretAccessKey: "unit/secret/0000000000000000000000000" })
  )

function wire<O extends { readonly model?: string | undefined }>(
  make: Parameters<typeof adapterHarness<O>>[0]["make"],
  defaults: O,
  key = credentials
): Wire {
  const { chatWith, streamWith } = adapterHarness({ make, defaults, credentials: key })
  return {
    chat: (model, body) =>
      signed(
        Effect.map(chatWith(() => jsonResponse(body), hello, { model } as Partial<O>).run, (reply) => reply.usage)
      ),
    stream: (model, pieces) =>
      Effect.map(
        signed(Stream.runCollect(streamWith(() => streamResponse(pieces), hello, { model } as Partial<O>).stream)),
        (chunks) =>
          [...chunks].filter((chunk): chunk is Extract<ChatChunk.ChatChunk, { _tag: "Usage" }> =>
            chunk._tag === "Usage"
          ).at(-1)?.usage
      )
  }
}

const wires = {
  openAiChat: wire(OpenAiChat.make, { baseUrl: "https://api.test/v1", model: "gpt-test" }),
  openAiResponses: wire(OpenAiResponses.make, { baseUrl: "https://api.test/v1/", model: "gpt-test" }),
  anthropic: wire(Anthropic.make, { baseUrl: "https://api.test", model: "claude-test" }),
  gemini: wire(Gemini.make, { baseUrl: "https://gemini.test", model: "gemini-test" }),
  bedrock: wire(Bedrock.make, { region: "us-east-1", model: "anthropic.claude-3-5-haiku-20241022-v1:0" }, none)
}

// ---------------------------------------------------------------------------
// Each wire's reply around a usage object, whole and streamed, as its API reference writes them.

function openAiChat(usage: object, serviceTier?: string) {
  const tier = serviceTier === undefined ? {} : { service_tier: serviceTier }
  const whole = {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
    usage,
    ...tier
  }
  const stream = [
    sse(
      { id: "chatcmpl-1", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "ok" } }], ...tier },
      { id: "chatcmpl-1", object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] },
      { id: "chatcmpl-1", object: "chat.completion.chunk", choices: [], usage, ...tier }
    ),
    "data: [DONE]\n\n"
  ]
  return { whole, stream }
}

function openAiResponses(usage: object, serviceTier?: string) {
  const message = {
    type: "message",
    id: "msg_1",
    role: "assistant",
    status: "completed",
    content: [{ type: "output_text", text: "ok", annotations: [] }]
  }
  const response = (status: string, output: ReadonlyArray<unknown>, counted: object | null) => ({
    id: "resp_1",
    object: "response",
    created_at: 1,
    status,
    model: "m",
    output,
    usage: counted,
    ...(serviceTier === undefined ? {} : { service_tier: serviceTier })
  })
  const whole = response("completed", [message], usage)
  const stream = [
    named(
      { type: "response.created", response: response("in_progress", [], null) },
      { type: "response.output_item.added", output_index: 0, item: { ...message, status: "in_progress", content: [] } },
      { type: "response.output_text.delta", output_index: 0, content_index: 0, item_id: "msg_1", delta: "ok" },
      { type: "response.output_item.done", output_index: 0, item: message },
      { type: "response.completed", response: whole }
    )
  ]
  return { whole, stream }
}

/** Anthropic's usage as its reply and `message_start` carry it; `message_delta` repeats it with the output count. */
function anthropic(usage: { readonly output_tokens: number; readonly [field: string]: unknown }) {
  const { output_tokens } = usage
  const whole = {
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "m",
    content: [{ type: "text", text: "ok" }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage
  }
  const stream = [
    named(
      {
        type: "message_start",
        message: { ...whole, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } }
      },
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "ok" } },
      { type: "content_block_stop", index: 0 },
      // The delta's usage as the API first sent it, the output count alone: the prompt's counts are message_start's.
      { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens } },
      { type: "message_stop" }
    )
  ]
  return { whole, stream }
}

function gemini(usageMetadata: object) {
  const candidate = (text: string, finishReason?: string) => ({
    content: { role: "model", parts: [{ text }] },
    ...(finishReason === undefined ? {} : { finishReason }),
    index: 0
  })
  const whole = { candidates: [candidate("ok", "STOP")], usageMetadata, modelVersion: "m", responseId: "r1" }
  const stream = [
    sse({ candidates: [candidate("o")], modelVersion: "m" }, { ...whole, candidates: [candidate("k", "STOP")] })
  ]
  return { whole, stream }
}

function bedrock(usage: object) {
  const whole = {
    output: { message: { role: "assistant", content: [{ text: "ok" }] } },
    stopReason: "end_turn",
    usage,
    metrics: { latencyMs: 5 }
  }
  // A frame's bytes, which `eventFrame` gives as the characters of a `latin1` string.
  const frame = (type: string, payload: unknown) =>
    new Uint8Array(Buffer.from(eventFrame(codec, type, JSON.stringify(payload)), "latin1"))
  const stream = [
    frame("messageStart", { role: "assistant" }),
    frame("contentBlockDelta", { contentBlockIndex: 0, delta: { text: "ok" } }),
    frame("contentBlockStop", { contentBlockIndex: 0 }),
    frame("messageStop", { stopReason: "end_turn" }),
    frame("metadata", { usage, metrics: { latencyMs: 5 } })
  ]
  return { whole, stream }
}

// ---------------------------------------------------------------------------
// The fixture table: each row a usage as one wire reports it, the price it is billed at, and its cost by hand.

/** Audio-capable prices of one's own (a price sheet's figures are not the point here, the arithmetic is). */
const audioModel = Pricing.fromPerMtok({
  input_per_mtok: 2.5,
  cached_input_per_mtok: 1.25,
  output_per_mtok: 10,
  audio_input_per_mtok: 40,
  audio_output_per_mtok: 80
})
/** GPT-Realtime Mini's prices (its model page in OpenAI's docs): a cached audio token at $0.30, a cached text one $0.06. */
const realtimeMini = Pricing.fromPerMtok({
  input_per_mtok: 0.6,
  cached_input_per_mtok: 0.06,
  output_per_mtok: 2.4,
  audio_input_per_mtok: 10,
  cached_audio_input_per_mtok: 0.3,
  audio_output_per_mtok: 20
})
const batchPriced = Pricing.fromPerMtok({
  input_per_mtok: 3,
  cached_input_per_mtok: 0.3,
  cache_write_per_mtok: 3.75,
  cache_write_1h_per_mtok: 6,
  output_per_mtok: 15,
  service_tiers: {
    batch: {
      input_per_mtok: 1.5,
      cached_input_per_mtok: 0.15,
      cache_write_per_mtok: 1.875,
      cache_write_1h_per_mtok: 3,
      output_per_mtok: 7.5
    }
  }
})

interface Row {
  readonly wire: keyof typeof wires
  readonly kind: string
  readonly tier: string
  readonly model: string
  readonly price: Pricing.Price
  readonly reply: { readonly whole: unknown; readonly stream: ReadonlyArray<string | Uint8Array> }
  /** What the usage read says, in part. */
  readonly reads: Partial<Usage>
  /** The cost in US dollars, worked by hand in the row's comment. */
  readonly dollars: number
}

const priced = (model: string) => Pricing.lookup(model)!

const table: ReadonlyArray<Row> = [
  {
    wire: "openAiChat",
    kind: "input, cache read, output with reasoning",
    tier: "standard",
    model: "gpt-5",
    price: priced("gpt-5"),
    reply: openAiChat({
      prompt_tokens: 10_000,
      completion_tokens: 2_000,
      total_tokens: 12_000,
      prompt_tokens_details: { cached_tokens: 4_000, audio_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 1_500, audio_tokens: 0 }
    }, "default"),
    reads: { promptTokens: 10_000, cachedPromptTokens: 4_000, reasoningTokens: 1_500 },
    // 6,000 × $1.25 + 4,000 × $0.125 + 2,000 × $10 = $0.0075 + $0.0005 + $0.02
    dollars: 0.028
  },
  {
    wire: "openAiChat",
    kind: "input, cache read, output with reasoning",
    tier: "priority",
    model: "gpt-5",
    price: priced("gpt-5"),
    reply: openAiChat({
      prompt_tokens: 10_000,
      completion_tokens: 2_000,
      total_tokens: 12_000,
      prompt_tokens_details: { cached_tokens: 4_000 },
      completion_tokens_details: { reasoning_tokens: 1_500 }
    }, "priority"),
    reads: { serviceTier: "priority" },
    // Priority: 6,000 × $2.50 + 4,000 × $0.25 + 2,000 × $20
    dollars: 0.056
  },
  {
    wire: "openAiChat",
    kind: "audio in and out",
    tier: "standard",
    model: "gpt-4o-audio-preview",
    price: audioModel,
    reply: openAiChat({
      prompt_tokens: 1_000,
      completion_tokens: 600,
      total_tokens: 1_600,
      prompt_tokens_details: { cached_tokens: 200, audio_tokens: 500 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 400 }
    }),
    reads: { audioPromptTokens: 500, audioCompletionTokens: 400 },
    // 300 text × $2.50 + 500 audio × $40 + 200 read × $1.25 + 200 text out × $10 + 400 audio out × $80
    dollars: 0.00075 + 0.02 + 0.00025 + 0.002 + 0.032
  },
  {
    wire: "openAiChat",
    kind: "audio in, part of it read from the cache, and out",
    tier: "standard",
    model: "gpt-realtime-mini",
    price: realtimeMini,
    reply: openAiChat({
      prompt_tokens: 10_000,
      completion_tokens: 1_000,
      total_tokens: 11_000,
      prompt_tokens_details: { cached_tokens: 6_000, audio_tokens: 7_000 },
      completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 600 }
    }),
    reads: { cachedPromptTokens: 6_000, audioPromptTokens: 7_000, audioCompletionTokens: 600 },
    // 4,000 uncached, all audio, × $10 + 3,000 cached audio × $0.30 + 3,000 cached text × $0.06 + 400 text out × $2.40
    // + 600 audio out × $20
    dollars: 0.04 + 0.0009 + 0.00018 + 0.00096 + 0.012
  },
  {
    wire: "openAiResponses",
    kind: "input, cache read, output with reasoning",
    tier: "standard",
    model: "gpt-4.1",
    price: priced("gpt-4.1"),
    reply: openAiResponses({
      input_tokens: 8_000,
      input_tokens_details: { cached_tokens: 2_000 },
      output_tokens: 1_000,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 9_000
    }, "default"),
    reads: { promptTokens: 8_000, cachedPromptTokens: 2_000 },
    // 6,000 × $2 + 2,000 × $0.50 + 1,000 × $8
    dollars: 0.021
  },
  {
    wire: "openAiResponses",
    kind: "input, cache read, output with reasoning",
    tier: "priority",
    model: "gpt-4.1",
    price: priced("gpt-4.1"),
    reply: openAiResponses({
      input_tokens: 8_000,
      input_tokens_details: { cached_tokens: 2_000 },
      output_tokens: 1_000,
      output_tokens_details: { reasoning_tokens: 400 },
      total_tokens: 9_000
    }, "priority"),
    reads: { serviceTier: "priority", reasoningTokens: 400 },
    // Priority: 6,000 × $3.50 + 2,000 × $0.875 + 1,000 × $14
    dollars: 0.03675
  },
  {
    wire: "anthropic",
    kind: "input, cache read, cache writes of 5 minutes and of an hour, output",
    tier: "standard",
    model: "claude-sonnet-4-5",
    price: priced("claude-sonnet-4-5"),
    reply: anthropic({
      input_tokens: 1_000,
      cache_creation_input_tokens: 3_000,
      cache_read_input_tokens: 8_000,
      cache_creation: { ephemeral_5m_input_tokens: 2_000, ephemeral_1h_input_tokens: 1_000 },
      output_tokens: 800,
      service_tier: "standard"
    }),
    reads: { promptTokens: 12_000, cachedPromptTokens: 8_000, cacheWriteTokens: 3_000, cacheWrite1hTokens: 1_000 },
    // 1,000 × $3 + 2,000 × $3.75 + 1,000 × $6 + 8,000 × $0.30 + 800 × $15
    dollars: 0.0309
  },
  {
    wire: "anthropic",
    kind: "input, cache read, output",
    tier: "long context (prompt over 200,000)",
    model: "claude-sonnet-4-5",
    price: priced("claude-sonnet-4-5"),
    reply: anthropic({
      input_tokens: 150_000,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 60_000,
      output_tokens: 1_000
    }),
    reads: { promptTokens: 210_000 },
    // Every token at the long-context tier: 150,000 × $6 + 60,000 × $0.60 + 1,000 × $22.50
    dollars: 0.9585
  },
  {
    wire: "anthropic",
    kind: "input, cache write of an hour, output",
    tier: "batch",
    model: "claude-batch",
    price: batchPriced,
    reply: anthropic({
      input_tokens: 2_000,
      cache_creation_input_tokens: 4_000,
      cache_read_input_tokens: 0,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 4_000 },
      output_tokens: 1_000,
      service_tier: "batch"
    }),
    reads: { serviceTier: "batch", cacheWrite1hTokens: 4_000 },
    // Batch: 2,000 × $1.50 + 4,000 × $3 + 1,000 × $7.50
    dollars: 0.0225
  },
  {
    wire: "gemini",
    kind: "input, cache read, output with thoughts",
    tier: "standard",
    model: "gemini-2.5-pro",
    price: priced("gemini-2.5-pro"),
    reply: gemini({
      promptTokenCount: 100_000,
      cachedContentTokenCount: 40_000,
      candidatesTokenCount: 2_000,
      thoughtsTokenCount: 3_000,
      totalTokenCount: 105_000
    }),
    reads: { promptTokens: 100_000, cachedPromptTokens: 40_000, completionTokens: 5_000, reasoningTokens: 3_000 },
    // 60,000 × $1.25 + 40,000 × $0.125 + 5,000 × $10
    dollars: 0.13
  },
  {
    wire: "gemini",
    kind: "input, cache read, output with thoughts",
    tier: "long context (prompt over 200,000)",
    model: "gemini-2.5-pro",
    price: priced("gemini-2.5-pro"),
    reply: gemini({
      promptTokenCount: 250_000,
      cachedContentTokenCount: 100_000,
      candidatesTokenCount: 1_000,
      thoughtsTokenCount: 1_000,
      totalTokenCount: 252_000
    }),
    reads: { promptTokens: 250_000 },
    // 150,000 × $2.50 + 100,000 × $0.25 + 2,000 × $15
    dollars: 0.43
  },
  {
    wire: "gemini",
    kind: "audio in",
    tier: "standard",
    model: "gemini-2.5-flash",
    price: priced("gemini-2.5-flash"),
    reply: gemini({
      promptTokenCount: 5_000,
      candidatesTokenCount: 400,
      totalTokenCount: 5_400,
      promptTokensDetails: [{ modality: "TEXT", tokenCount: 1_800 }, { modality: "AUDIO", tokenCount: 3_200 }],
      candidatesTokensDetails: [{ modality: "TEXT", tokenCount: 400 }]
    }),
    reads: { audioPromptTokens: 3_200 },
    // 1,800 × $0.30 + 3,200 × $1 + 400 × $2.50
    dollars: 0.00474
  },
  {
    wire: "gemini",
    kind: "input, tool-use prompt, output",
    tier: "standard",
    model: "gemini-2.5-flash",
    price: priced("gemini-2.5-flash"),
    reply: gemini({
      promptTokenCount: 2_000,
      toolUsePromptTokenCount: 3_000,
      candidatesTokenCount: 500,
      totalTokenCount: 5_500
    }),
    // The tool-use prompt (Google Search's results read back to the model) is not in `promptTokenCount`.
    reads: { promptTokens: 5_000, totalTokens: 5_500 },
    // 5,000 × $0.30 + 500 × $2.50
    dollars: 0.00275
  },
  {
    wire: "gemini",
    kind: "input, tool-use prompt, output",
    tier: "long context (prompt over 200,000)",
    model: "gemini-2.5-pro",
    price: priced("gemini-2.5-pro"),
    reply: gemini({
      promptTokenCount: 150_000,
      toolUsePromptTokenCount: 60_000,
      candidatesTokenCount: 1_000,
      totalTokenCount: 211_000
    }),
    // The tool-use prompt takes the prompt past 200,000: every token at the long-context tier.
    reads: { promptTokens: 210_000 },
    // 210,000 × $2.50 + 1,000 × $15
    dollars: 0.54
  },
  {
    wire: "bedrock",
    kind: "input, cache read, cache writes of 5 minutes and of an hour, output",
    tier: "standard",
    model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
    price: priced("anthropic.claude-sonnet-4-5-20250929-v1:0"),
    reply: bedrock({
      inputTokens: 1_000,
      outputTokens: 800,
      totalTokens: 12_800,
      cacheReadInputTokens: 8_000,
      cacheWriteInputTokens: 3_000,
      cacheDetails: [{ ttl: "1h", inputTokens: 1_000 }, { ttl: "5m", inputTokens: 2_000 }]
    }),
    reads: { promptTokens: 12_000, cachedPromptTokens: 8_000, cacheWriteTokens: 3_000, cacheWrite1hTokens: 1_000 },
    // 1,000 × $3 + 2,000 × $3.75 + 1,000 × $6 + 8,000 × $0.30 + 800 × $15
    dollars: 0.0309
  },
  {
    wire: "bedrock",
    kind: "input, cache read, cache write, output",
    tier: "standard",
    model: "anthropic.claude-sonnet-4-5-20250929-v1:0",
    price: priced("anthropic.claude-sonnet-4-5-20250929-v1:0"),
    reply: bedrock({
      inputTokens: 1_000,
      outputTokens: 800,
      totalTokens: 12_800,
      cacheReadInputTokens: 8_000,
      cacheWriteInputTokens: 3_000
    }),
    reads: { promptTokens: 12_000, cachedPromptTokens: 8_000, cacheWriteTokens: 3_000 },
    // 1,000 × $3 + 3,000 × $3.75 + 8,000 × $0.30 + 800 × $15
    dollars: 0.02865
  }
]

/** Dollars to the micro-dollar, as a bill rounds them. */
const micro = (dollars: number) => Math.round(dollars * 1_000_000)

describe("Pricing.cost of each wire's usage, whole and streamed (the fixture table)", () => {
  for (const row of table) {
    for (const how of ["whole", "streamed"] as const) {
      it.effect(`${row.wire} · ${row.kind} · ${row.tier} · ${how}`, () =>
        Effect.gen(function*() {
          const read = how === "whole"
            ? yield* wires[row.wire].chat(row.model, row.reply.whole)
            : yield* wires[row.wire].stream(row.model, row.reply.stream)
          expect(read).toMatchObject({ ...row.reads, estimated: false })
          expect(micro(Pricing.cost(row.price, read!)!)).toBe(micro(row.dollars))
        }))
    }
  }

  it("covers every wire, whole and streamed, at every tier the built-in table prices", () => {
    expect(new Set(table.map((row) => row.wire))).toEqual(new Set(Object.keys(wires)))
    expect(new Set(table.map((row) => row.tier))).toEqual(
      new Set(["standard", "priority", "batch", "long context (prompt over 200,000)"])
    )
  })
})

// ---------------------------------------------------------------------------
// Written back: what the gateway answers a client with, in the client's own dialect, read back by that dialect.

/** Any usage a provider may report: each count within the one it is a part of. */
const anyUsage: fc.Arbitrary<Usage> = fc.record({
  uncached: fc.nat({ max: 500_000 }),
  read: fc.nat({ max: 500_000 }),
  written: fc.nat({ max: 100_000 }),
  hourShare: fc.double({ min: 0, max: 1, noNaN: true }),
  heardShare: fc.double({ min: 0, max: 1, noNaN: true }),
  answer: fc.nat({ max: 50_000 }),
  reasoning: fc.nat({ max: 50_000 }),
  spokenShare: fc.double({ min: 0, max: 1, noNaN: true }),
  tier: fc.constantFrom(undefined, "priority", "flex", "batch")
}).map((drawn): Usage => {
  const promptTokens = drawn.uncached + drawn.read + drawn.written
  const completionTokens = drawn.answer + drawn.reasoning
  const heard = Math.floor(drawn.heardShare * drawn.uncached)
  const spoken = Math.floor(drawn.spokenShare * drawn.answer)
  return {
    promptTokens,
    completionTokens,
    totalTokens: promptTokens + completionTokens,
    cachedPromptTokens: drawn.read,
    cacheWriteTokens: drawn.written,
    cacheWrite1hTokens: Math.floor(drawn.hourShare * drawn.written),
    reasoningTokens: drawn.reasoning,
    estimated: false,
    ...(heard > 0 ? { audioPromptTokens: heard } : {}),
    ...(spoken > 0 ? { audioCompletionTokens: spoken } : {}),
    ...(drawn.tier === undefined ? {} : { serviceTier: drawn.tier })
  }
})

type Kind = "writes" | "hour" | "reasoning" | "audio" | "serviceTier"

/**
 * `usage` as a dialect that cannot say `missing` reads it: those counts left out (writes read as uncached input, writes
 * for an hour as writes of the default lifetime, reasoning as plain output).
 */
function without(usage: Usage, missing: ReadonlyArray<Kind>): Usage {
  const {
    audioCompletionTokens: _spoken,
    audioPromptTokens: _heard,
    cacheWrite1hTokens: _hour,
    cacheWriteTokens: _written,
    serviceTier: _tier,
    ...rest
  } = usage
  const says = (kind: Kind) => !missing.includes(kind)
  return {
    ...rest,
    ...(says("reasoning") ? {} : { reasoningTokens: 0 }),
    ...(says("writes") ? { cacheWriteTokens: usage.cacheWriteTokens } : {}),
    ...(says("writes") && says("hour") ? { cacheWrite1hTokens: usage.cacheWrite1hTokens } : {}),
    ...(says("audio") && usage.audioPromptTokens !== undefined ? { audioPromptTokens: usage.audioPromptTokens } : {}),
    ...(says("audio") && usage.audioCompletionTokens !== undefined
      ? { audioCompletionTokens: usage.audioCompletionTokens }
      : {}),
    ...(says("serviceTier") && usage.serviceTier !== undefined ? { serviceTier: usage.serviceTier } : {})
  }
}

/** Each dialect's writer, then its reader, and the kinds it has no field for. */
const writtenBack: ReadonlyArray<{
  readonly dialect: string
  readonly roundTrip: (usage: Usage) => Usage | undefined
  readonly missing: ReadonlyArray<Kind>
}> = [
  {
    dialect: "Anthropic messages (cache_read_input_tokens, cache_creation by lifetime, service_tier)",
    roundTrip: (usage) => {
      const wire: AnthropicReply.WireUsage = {}
      AnthropicReply.readUsage(
        JSON.parse(JSON.stringify(AnthropicReply.usageObject(AnthropicReply.wireUsage(usage)))),
        wire
      )
      return AnthropicReply.usageOf(wire)
    },
    missing: ["audio"]
  },
  {
    dialect: "Chat Completions (prompt_tokens_details.cached_tokens, audio_tokens, service_tier)",
    roundTrip: (usage) => {
      const body = JSON.parse(ChatCodec.completion(
        {
          model: "m",
          text: "ok",
          toolCalls: [],
          finishReason: "stop",
          usage
        },
        "chatcmpl-1",
        1
      ))
      return ChatCodec.usage(body.usage, body.service_tier)
    },
    missing: ["writes"]
  },
  {
    dialect: "Responses (input_tokens_details.cached_tokens, service_tier)",
    roundTrip: (usage) => {
      const response = JSON.parse(JSON.stringify(ResponsesCodec.responseObject({
        id: "resp_1",
        createdAt: 1,
        status: "completed",
        model: "m",
        output: [],
        usage,
        echo: {}
      })))
      return ResponsesCodec.usage(response.usage, response.service_tier)
    },
    missing: ["writes", "audio"]
  },
  {
    dialect: "Gemini (cachedContentTokenCount, AUDIO modality counts)",
    roundTrip: (usage) => GeminiCodec.usage(JSON.parse(JSON.stringify(GeminiCodec.usageMetadata(usage)))),
    missing: ["writes", "serviceTier"]
  },
  {
    dialect: "Bedrock Converse (cacheReadInputTokens, cacheWriteInputTokens, cacheDetails by lifetime)",
    roundTrip: (usage) => BedrockCodec.usageOf(JSON.parse(JSON.stringify(BedrockCodec.wireUsage(usage)))),
    missing: ["reasoning", "audio", "serviceTier"]
  }
]

describe("usage written back in each client's dialect", () => {
  for (const { dialect, missing, roundTrip } of writtenBack) {
    it(`${dialect}: read back as written, every kind it has a field for`, () =>
      fc.assert(fc.property(anyUsage, (usage) => {
        const read = roundTrip(usage)
        expect(read).toStrictEqual(without(usage, missing))
        // What it is billed at is what the backend's usage was billed at, in every kind the dialect can say.
        const price = Pricing.lookup("claude-sonnet-4-5")!
        expect(micro(Pricing.cost(price, read!)!)).toBe(micro(Pricing.cost(price, without(usage, missing))!))
      })))
  }
})
