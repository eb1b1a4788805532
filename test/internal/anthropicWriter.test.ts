import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as Errors from "../../src/internal/gateway/errorAnswer.js"
import { message, streamEncoder } from "../../src/internal/wire/anthropic/writer.js"
import { envelopeOf } from "../../src/internal/wire/carried.js"
import { finish, restart, text } from "../utils/encoderChunks.js"

// 7 uncached prompt tokens, 3 read from the cache and 10 written to it, 6 of them for an hour.
const usage = {
  promptTokens: 20,
  completionTokens: 4,
  totalTokens: 24,
  cachedPromptTokens: 3,
  cacheWriteTokens: 10,
  cacheWrite1hTokens: 6,
  reasoningTokens: 0,
  estimated: false
}

// The events of an SSE text: each one's name and JSON data.
const events = (text: string): Array<{ readonly event: string; readonly data: Record<string, unknown> }> =>
  text.split("\n\n").filter((event) => event !== "").map((event) => {
    const [name, data] = event.split("\n")
    return { event: name!.replace(/^event: /, ""), data: JSON.parse(data!.replace(/^data: /, "")) }
  })

describe("the gateway's Anthropic stream encoder", () => {
  it("opens a block per kind, in order, and ends with the stop reason and usage", () => {
    const encoder = streamEncoder("msg_1", "m")
    const encoded = encoder.batch([
      { _tag: "ReasoningDelta", text: "think" },
      { _tag: "TextDelta", text: "Hi" },
      { _tag: "TextDelta", text: " there" },
      { _tag: "ToolCallDelta", index: 0, id: "t1", name: "f", arguments: "" },
      { _tag: "ToolCallDelta", index: 0, arguments: "{\"a\":" },
      { _tag: "ToolCallDelta", index: 1, id: "t2", name: "g", arguments: "{}" },
      { _tag: "ToolCallDelta", index: 0, arguments: "1}" },
      { _tag: "Usage", usage },
      finish("tool_calls")
    ])
    expect(encoded.restarted).toBeUndefined()
    const all = events(text(encoded.bytes))
    // A block: its start, `deltas` deltas and its stop.
    const block = (
      deltas: number
    ) => ["content_block_start", ...Array<string>(deltas).fill("content_block_delta"), "content_block_stop"]
    expect(all.map((event) => event.event)).toEqual([
      "message_start",
      ...block(1),
      ...block(2),
      ...block(2),
      ...block(1),
      // The carrier: the unsigned reasoning kept for the next turn, in the gateway's own thinking block.
      ...block(1),
      "message_delta",
      "message_stop"
    ])
    for (const event of all) expect(event.data["type"]).toBe(event.event)
    const starts = all.filter((event) => event.event === "content_block_start").map((event) => event.data)
    expect(starts.map((start) => start["index"])).toEqual([0, 1, 2, 3, 4])
    expect(starts[2]!["content_block"]).toEqual({ type: "tool_use", id: "toolu_gw_t1", name: "f", input: {} })
    // A late piece of the first call stays in its block; the call that came between waits for it, whole.
    const pieces = all.filter((event) =>
      (event.data["delta"] as { type?: string } | undefined)?.type === "input_json_delta"
    )
    expect(pieces.map((piece) => [piece.data["index"], (piece.data["delta"] as { partial_json: string }).partial_json]))
      .toEqual([[2, "{\"a\":"], [2, "1}"], [3, "{}"]])
    expect(all.at(-2)!.data).toEqual({
      type: "message_delta",
      delta: { stop_reason: "tool_use", stop_sequence: null },
      usage: {
        input_tokens: 7,
        cache_creation_input_tokens: 10,
        cache_read_input_tokens: 3,
        cache_creation: { ephemeral_5m_input_tokens: 4, ephemeral_1h_input_tokens: 6 },
        output_tokens: 4
      }
    })
  })

  it("calls whose arguments come interleaved, in any order and batches, are blocks one after another, each whole", () => {
    // Each call's arguments, a JSON object's text, cut in pieces at any places.
    const argumentsArbitrary = fc.dictionary(fc.stringMatching(/^[a-z]{1,4}$/), fc.oneof(fc.integer(), fc.string()), {
      maxKeys: 3
    }).chain((value) => {
      const json = JSON.stringify(value)
      return fc.uniqueArray(fc.integer({ min: 1, max: json.length - 1 }), { maxLength: 3 }).map((cuts) =>
        [0, ...cuts.sort((a, b) => a - b), json.length].slice(1).map((end, i, ends) =>
          json.slice(i === 0 ? 0 : ends[i - 1], end)
        )
      )
    })
    const callsArbitrary = fc.array(argumentsArbitrary, { minLength: 1, maxLength: 4 })
    fc.assert(fc.property(
      callsArbitrary.chain((calls) =>
        fc.tuple(
          fc.constant(calls),
          // The order the pieces come in, each call's own in its order, and where the batches are cut.
          fc.shuffledSubarray(calls.flatMap((pieces, call) => pieces.map(() => call)), {
            minLength: calls.flat().length,
            maxLength: calls.flat().length
          }),
          fc.array(fc.boolean(), { minLength: calls.flat().length, maxLength: calls.flat().length })
        )
      ),
      ([calls, order, cuts]) => {
        const next = calls.map(() => 0)
        const chunks: Array<ChatChunk> = order.map((call) => {
          const piece = next[call]!++
          return piece === 0
            ? { _tag: "ToolCallDelta", index: call, id: `t${call}`, name: "f", arguments: calls[call]![0]! }
            : { _tag: "ToolCallDelta", index: call, arguments: calls[call]![piece]! }
        })
        const encoder = streamEncoder("msg_1", "m")
        let bytes = ""
        let batch: Array<ChatChunk> = []
        chunks.forEach((chunk, i) => {
          batch.push(chunk)
          if (cuts[i] === true) {
            bytes += text(encoder.batch(batch).bytes)
            batch = []
          }
        })
        bytes += text(encoder.batch([...batch, finish("tool_calls")]).bytes)
        // Each block's events between its start and its stop, the blocks one after another, each call's whole.
        const inputs = new Map<string, string>()
        let open: { readonly index: number; readonly id: string } | undefined
        for (const { data, event } of events(bytes)) {
          if (event === "content_block_start") {
            expect(open).toBeUndefined()
            expect(data["index"]).toBe(inputs.size)
            open = { index: data["index"] as number, id: (data["content_block"] as { id: string }).id }
            inputs.set(open.id, "")
          } else if (event === "content_block_delta") {
            expect(data["index"]).toBe(open?.index)
            inputs.set(open!.id, inputs.get(open!.id)! + (data["delta"] as { partial_json: string }).partial_json)
          } else if (event === "content_block_stop") {
            expect(data["index"]).toBe(open?.index)
            open = undefined
          }
        }
        expect(Object.fromEntries(inputs)).toEqual(
          Object.fromEntries(calls.map((pieces, call) => [`toolu_gw_t${call}`, pieces.join("")]))
        )
      }
    ))
  })

  it("message_start reports the prompt's tokens: the provider's when its first batch has them, else none", () => {
    const startUsage = (chunks: Parameters<ReturnType<typeof streamEncoder>["batch"]>[0]) =>
      events(text(streamEncoder("msg_4", "m").batch(chunks).bytes))[0]!.data["message"]
    // No estimate: clients keep message_start's count where message_delta's is 0 (a prompt read whole from the cache).
    expect(startUsage([{ _tag: "TextDelta", text: "Hi" }])).toMatchObject({
      usage: { input_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }
    })
    expect(startUsage([{ _tag: "Usage", usage }, { _tag: "TextDelta", text: "Hi" }])).toMatchObject({
      usage: { input_tokens: 7, cache_creation_input_tokens: 10, cache_read_input_tokens: 3, output_tokens: 0 }
    })
  })

  it("a restart before any block went out is invisible; after one, the stream ends with the error event", () => {
    const quiet = streamEncoder("msg_2", "m")
    const first = quiet.batch([{ _tag: "Usage", usage }, restart])
    expect(first.restarted).toBeUndefined()
    const rest = quiet.batch([{ _tag: "TextDelta", text: "Hello" }, finish("stop")])
    const all = events(text(first.bytes) + text(rest.bytes))
    expect(all.filter((event) => event.event === "message_start")).toHaveLength(1)
    expect(all.at(-2)!.data["usage"]).toMatchObject({ input_tokens: 0, output_tokens: 0 })

    const loud = streamEncoder("msg_3", "m")
    const broken = loud.batch([{ _tag: "TextDelta", text: "Hel" }, restart, { _tag: "TextDelta", text: "Hello" }])
    expect(broken.restarted).toEqual(restart)
    expect(events(text(broken.bytes)).filter((event) => event.event === "content_block_delta")).toHaveLength(1)
    expect(text(loud.error(Errors.answer(503, "x", "server_error", null, null)))).toBe(
      `event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n`
    )
  })
})

const response = (fields: Partial<ChatResponse>): ChatResponse => ({
  id: "",
  model: "m",
  provider: "p",
  text: "",
  toolCalls: [],
  finishReason: "stop",
  usage,
  latency: Duration.millis(5),
  ...fields
})

describe("the gateway's Anthropic message", () => {
  it("renders thinking, text and tool_use blocks, the input parsed, and maps the stop reason", () => {
    const body = JSON.parse(message(
      response({
        reasoning: "hmm",
        text: "Calling.",
        toolCalls: [{ id: "t1", name: "f", arguments: "{\"a\":1}" }, { id: "t2", name: "g", arguments: "not json" }],
        finishReason: "tool_calls"
      }),
      "msg_x"
    ))
    expect(body).toEqual({
      id: "msg_x",
      type: "message",
      role: "assistant",
      model: "m",
      content: [
        { type: "thinking", thinking: "hmm", signature: "" },
        { type: "text", text: "Calling." },
        { type: "tool_use", id: "toolu_gw_t1", name: "f", input: { a: 1 } },
        { type: "tool_use", id: "toolu_gw_t2", name: "g", input: { arguments: "not json" } },
        // The reasoning went out unsigned: kept for the next turn in the gateway's carrier block.
        { type: "thinking", thinking: "", signature: envelopeOf(undefined, [], "hmm") }
      ],
      stop_reason: "tool_use",
      stop_sequence: null,
      usage: {
        input_tokens: 7,
        cache_creation_input_tokens: 10,
        cache_read_input_tokens: 3,
        cache_creation: { ephemeral_5m_input_tokens: 4, ephemeral_1h_input_tokens: 6 },
        output_tokens: 4
      }
    })
  })

  it("gives an Anthropic reply's signed thinking blocks back as they came, and max_tokens for length", () => {
    const signed = [{ type: "thinking", thinking: "hmm", signature: "s1" }, { type: "redacted_thinking", data: "x" }]
    const body = JSON.parse(message(
      response({
        id: "msg_p",
        reasoning: "hmm",
        text: "Hi",
        finishReason: "length",
        providerMetadata: { anthropic: { thinking: signed } }
      }),
      "msg_x"
    ))
    // Anthropic's id shape, whatever the provider's id.
    expect(body.id).toBe("msg_x")
    expect(body.content).toEqual([...signed, { type: "text", text: "Hi" }])
    expect(body.stop_reason).toBe("max_tokens")
  })
})
