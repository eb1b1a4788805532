import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import type { ChatChunk, Restart } from "../../src/ChatChunk.js"
import type { Usage } from "../../src/ChatResponse.js"
import * as Anthropic from "../../src/internal/wire/anthropic/writer.js"
import type { StreamEncoder } from "../../src/internal/wire/dialect.js"
import * as Gemini from "../../src/internal/wire/gemini/writer.js"
import * as OpenAiChat from "../../src/internal/wire/openAiChat/writer.js"
import * as Responses from "../../src/internal/wire/openAiResponses/writer.js"
import { foldStream } from "../../src/internal/wire/streamFold.js"
import { finish, text } from "../utils/encoderChunks.js"

const usageOf = (promptTokens: number): Usage => ({
  promptTokens,
  completionTokens: 1,
  totalTokens: promptTokens + 1,
  cachedPromptTokens: 0,
  reasoningTokens: 0,
  estimated: false
})

const model = fc.constantFrom("ma", "mb")
// Every chunk the engine streams before its `Finish`: deltas maybe empty, a tool call's fragments, usage, and the
// router's `Start`, `Restart` and `Continue`.
const chunk: fc.Arbitrary<ChatChunk> = fc.oneof(
  fc.record({ _tag: fc.constant("TextDelta" as const), text: fc.constantFrom("", "a", "bc") }),
  fc.record({ _tag: fc.constant("ReasoningDelta" as const), text: fc.constantFrom("", "r") }),
  fc.record({
    _tag: fc.constant("ToolCallDelta" as const),
    index: fc.nat({ max: 1 }),
    id: fc.constant("call_1"),
    name: fc.constant("f"),
    arguments: fc.constantFrom("", "{}")
  }),
  fc.nat({ max: 9 }).map((n): ChatChunk => ({ _tag: "Usage", usage: usageOf(n) })),
  model.map((m): ChatChunk => ({ _tag: "Restart", attempt: 2, deployment: "b", model: m, from: "a", error: "E" })),
  model.map((m): ChatChunk => ({ _tag: "Start", attempt: 1, deployment: "a", model: m })),
  model.map((m): ChatChunk => ({ _tag: "Continue", attempt: 2, deployment: "b", model: m, from: "a", error: "E" }))
)
const chunks = fc.array(chunk, { maxLength: 12 }).map((list) => [...list, finish()])

// `chunks` cut into batches at `cuts` (indexes, maybe repeated: an empty batch).
function batches<A>(all: ReadonlyArray<A>, cuts: ReadonlyArray<number>): Array<ReadonlyArray<A>> {
  const at = [...cuts.map((cut) => cut % (all.length + 1))].sort((a, b) => a - b)
  const out: Array<ReadonlyArray<A>> = []
  let from = 0
  for (const cut of at) {
    out.push(all.slice(from, cut))
    from = cut
  }
  out.push(all.slice(from))
  return out
}

// What the fold is to do, read off the chunks one by one: the `Restart` it returns (the first after anything went
// out, a tool call's fragment when `callsGoOut`), and, when none, the usage the finish is given (the last since the
// last invisible `Restart`).
function oracle(all: ReadonlyArray<ChatChunk>, callsGoOut: boolean) {
  let forwarded = false
  let usage: Usage | undefined
  for (const c of all) {
    if ((c._tag === "TextDelta" || c._tag === "ReasoningDelta") && c.text !== "") forwarded = true
    if (c._tag === "ToolCallDelta" && callsGoOut) forwarded = true
    if (c._tag === "Usage") usage = c.usage
    if (c._tag === "Restart") {
      if (forwarded) return { restarted: c, usage: undefined }
      usage = undefined
    }
    if (c._tag === "Finish") return { restarted: undefined, usage }
  }
  return { restarted: undefined, usage }
}

// Writes `all` in `cuts`' batches with `write`, stopping at the `Restart` it returns.
function written(
  write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined,
  all: ReadonlyArray<ChatChunk>,
  cuts: ReadonlyArray<number>
): Restart | undefined {
  for (const batch of batches(all, cuts)) {
    const restarted = write(batch)
    if (restarted !== undefined) return restarted
  }
  return undefined
}

describe("internal/wire/streamFold", () => {
  it("returns the first Restart after output, keeps the usage since the last unseen one, skips empty deltas", () => {
    fc.assert(fc.property(chunks, fc.array(fc.nat(), { maxLength: 4 }), fc.boolean(), (all, cuts, callsGoOut) => {
      const events: Array<string> = []
      let opened = 0
      let finishedWith: Usage | undefined | "none" = "none"
      const fold = foldStream({
        open: () => opened++,
        text: (t) => events.push(`text:${t}`),
        reasoning: (t) => events.push(`reasoning:${t}`),
        toolCall: (c) => {
          events.push(`call:${c.index}:${c.arguments}`)
          return callsGoOut
        },
        finish: (_c, usage) => {
          finishedWith = usage
        },
        restart: () => events.push("restart"),
        producedBy: (m, midway) => events.push(`model:${m}:${midway}`)
      })
      const restarted = written(fold.write, all, cuts)
      const expected = oracle(all, callsGoOut)
      expect(restarted).toBe(expected.restarted)
      expect(opened).toBe(1)
      if (expected.restarted === undefined) expect(finishedWith).toEqual(expected.usage)
      expect(events.some((e) => e === "text:" || e === "reasoning:")).toBe(false)
      // The events handed on do not depend on the batching.
      const one: Array<string> = []
      const whole = foldStream({
        text: (t) => one.push(`text:${t}`),
        reasoning: (t) => one.push(`reasoning:${t}`),
        toolCall: (c) => {
          one.push(`call:${c.index}:${c.arguments}`)
          return callsGoOut
        },
        finish: () => undefined,
        restart: () => one.push("restart"),
        producedBy: (m, midway) => one.push(`model:${m}:${midway}`)
      })
      written(whole.write, all, [])
      expect(events).toEqual(one)
    }))
  })

  // Gemini's writes a batch's parts as one event, so only its Restart is compared.
  it("each dialect's encoder ends at the fold's Restart; its bytes do not depend on later batches", () => {
    const encoders: ReadonlyArray<readonly [string, () => StreamEncoder, boolean]> = [
      ["openAiChat", () => OpenAiChat.streamEncoder("chatcmpl-1", "m", 1, true), true],
      ["anthropic", () => Anthropic.streamEncoder("msg_1", "m"), true],
      [
        "openAiResponses",
        () =>
          Responses.streamEncoder({
            ids: Responses.idsOf("00000000-0000-4000-8000-000000000000", 1),
            names: new Map(),
            model: "m",
            echo: {},
            now: () => 2,
            onFinished: () => Effect.void
          }),
        true
      ],
      ["gemini", () => Gemini.streamEncoder("req-1", "m"), false]
    ]
    fc.assert(fc.property(chunks, fc.array(fc.nat(), { maxLength: 4 }), (all, cuts) => {
      for (const [name, make, callsGoOut] of encoders) {
        const expected = oracle(all, callsGoOut)
        const run = (at: ReadonlyArray<number>) => {
          const encoder = make()
          let out = ""
          for (const batch of batches(all, at)) {
            const encoded = encoder.batch(batch)
            out += text(encoded.bytes)
            if (encoded.restarted !== undefined) return { out, restarted: encoded.restarted }
          }
          return { out, restarted: undefined }
        }
        const cut = run(cuts)
        expect(cut.restarted, name).toBe(expected.restarted)
        // The first batch opens the stream (the model that answers, the prompt's usage): kept as it was.
        const first = cuts.length === 0 ? [] : [Math.min(...cuts.map((at) => at % (all.length + 1)))]
        if (name !== "gemini") expect(cut.out, name).toBe(run(first).out)
      }
    }))
  })
})
