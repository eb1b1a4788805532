/**
 * Generated simulator replies for the property tests of the simulator's streams (each dialect's writer against the
 * grammar it replaced): tokens of any graphemes, tool calls cut into fragments, any usage counts.
 */
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import type * as Reply from "../../src/simulator/Reply.js"

/** A token of one to eight graphemes. */
export const token = fc.string({ minLength: 1, maxLength: 8, unit: "grapheme" })

const count = fc.nat({ max: 500 })

/** A tool call's arguments cut into `fewest` to five pieces. */
export const fragments = (piece: fc.Arbitrary<string> = token, fewest = 1): fc.Arbitrary<Array<string>> =>
  fc.array(piece, { minLength: fewest, maxLength: 5 })

/** A JSON object's text as a tool call's arguments, cut after its first character. */
export const jsonFragments: fc.Arbitrary<Array<string>> = fc.dictionary(
  fc.stringMatching(/^[a-z]{1,6}$/),
  fc.oneof(fc.integer(), fc.string({ maxLength: 6 })),
  { maxKeys: 3 }
).map((value) => {
  const json = JSON.stringify(value)
  return [json.slice(0, 1), json.slice(1)]
})

/** A reply whose tool calls have ids matching `callId` and arguments cut as `cut` cuts them. */
export function replies(callId: RegExp, cut: fc.Arbitrary<Array<string>> = fragments()): fc.Arbitrary<Reply.Reply> {
  return fc.record({
    reasoning: fc.array(token, { maxLength: 6 }),
    content: fc.array(token, { maxLength: 12 }),
    toolCalls: fc.array(
      fc.record({
        id: fc.stringMatching(callId),
        name: fc.stringMatching(/^[a-z_]{1,12}$/),
        fragments: cut
      }).map((call) => ({ ...call, arguments: call.fragments.join("") })),
      { maxLength: 3 }
    ),
    finishReason: fc.constantFrom("stop" as const, "length" as const, "tool_calls" as const),
    usage: fc.record({
      promptTokens: count,
      completionTokens: count,
      totalTokens: count,
      cachedTokens: count,
      cacheWriteTokens: count,
      cacheWrite1hTokens: count,
      reasoningTokens: count
    })
  })
}

/**
 * The chunks of `batches` cut again at `points` (each modulo their count plus one), as a server's reads of the stream
 * may cut it: every cut into batches, none empty.
 */
export function cutAt(
  batches: ReadonlyArray<ReadonlyArray<ChatChunk>>,
  points: ReadonlyArray<number>
): Array<ReadonlyArray<ChatChunk>> {
  const chunks = batches.flat()
  const cuts = [...points.map((point) => point % (chunks.length + 1)), chunks.length].sort((a, b) => a - b)
  const out: Array<ReadonlyArray<ChatChunk>> = []
  let from = 0
  for (const cut of cuts) {
    if (cut > from) out.push(chunks.slice(from, cut))
    from = Math.max(from, cut)
  }
  return out
}

/** What a client's parser read of a reply's stream: its text, reasoning, each call's arguments and finish reason. */
export function readBack(chunks: ReadonlyArray<ChatChunk>) {
  const of = (tag: "TextDelta" | "ReasoningDelta") =>
    chunks.flatMap((chunk) => chunk._tag === tag ? [chunk.text] : []).join("")
  const args: Array<string> = []
  for (const chunk of chunks) {
    if (chunk._tag === "ToolCallDelta") args[chunk.index] = (args[chunk.index] ?? "") + chunk.arguments
  }
  const finish = chunks.find((chunk) => chunk._tag === "Finish")
  return {
    text: of("TextDelta"),
    reasoning: of("ReasoningDelta"),
    arguments: args,
    finishReason: finish?._tag === "Finish" ? finish.finishReason : undefined
  }
}

/** What `readBack` must find of `reply`. */
export function expected(reply: Reply.Reply): ReturnType<typeof readBack> {
  return {
    text: reply.content.join(""),
    reasoning: reply.reasoning.join(""),
    arguments: reply.toolCalls.map((call) => call.arguments),
    finishReason: reply.finishReason
  }
}

/** A reply as the simulator makes one: its finish `tool_calls` whenever it calls a tool, else stop or length. */
export const simulatedReply: fc.Arbitrary<Reply.Reply> = fc.record({
  reply: replies(/^call_[a-z0-9]{1,8}$/, fragments(token, 2)),
  cut: fc.boolean()
}).map(({ cut, reply }) => ({
  ...reply,
  finishReason: reply.toolCalls.length > 0 ? "tool_calls" : cut ? "length" : "stop"
}))
