/**
 * Replies as the simulator's generator makes them (`simulator/Reply.ts`), for the property tests that hold a
 * dialect's simulated stream to what it wrote before its one writer: reasoning and text tokens, tool calls in two to
 * five argument fragments, a finish for tool calls whenever it calls one (else stop, or length when `cut`), and any
 * usage.
 */
import * as fc from "fast-check"
import type * as Reply from "../../src/simulator/Reply.js"

const token = fc.string({ minLength: 1, maxLength: 8, unit: "grapheme" })
const count = fc.nat({ max: 500 })

/** A reply's fields but its finish reason. */
const fields = fc.record({
  reasoning: fc.array(token, { maxLength: 6 }),
  content: fc.array(token, { maxLength: 12 }),
  toolCalls: fc.array(
    fc.record({
      id: fc.stringMatching(/^call_[a-z0-9]{1,8}$/),
      name: fc.stringMatching(/^[a-z_]{1,12}$/),
      fragments: fc.array(token, { minLength: 2, maxLength: 5 })
    }).map((call) => ({ ...call, arguments: call.fragments.join("") })),
    { maxLength: 3 }
  ),
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

/** Any reply, its finish reason any of the three. */
export const anyReply: fc.Arbitrary<Reply.Reply> = fc.record({
  fields,
  finishReason: fc.constantFrom("stop" as const, "length" as const, "tool_calls" as const)
}).map(({ fields, finishReason }) => ({ ...fields, finishReason }))

/** A reply the simulator makes: `tool_calls` whenever it calls a tool, else stop or length. */
export const simulatedReply: fc.Arbitrary<Reply.Reply> = fc.record({ fields, cut: fc.boolean() }).map((
  { cut, fields }
): Reply.Reply => ({
  ...fields,
  finishReason: fields.toolCalls.length > 0 ? "tool_calls" : cut ? "length" : "stop"
}))
