import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import { chatStreamParser, chunk, splitBytes, sse } from "../utils/openAiChatWire.js"

/** Everything a body read in these reads gives: the chunks, the failure that ended it, the events skipped. */
const read = (reads: ReadonlyArray<ReadonlyArray<Uint8Array>>, maxEventSize: number | undefined) => {
  const stream = chatStreamParser(maxEventSize)
  const out: Array<ChatChunk> = []
  let failure: unknown
  for (const parts of reads) {
    if (parts.length === 0) continue
    failure = stream.push(parts as [Uint8Array, ...Array<Uint8Array>], out)
    if (failure !== undefined) break
  }
  failure ??= stream.end(out)
  return { out, failure, skipped: stream.skipped?.count }
}

// Text with characters of one to four UTF-8 bytes, events that are not JSON, and one bigger than the smaller limits.
const piece = fc.constantFrom("a", " word", "é", "日本", "🙂", "x".repeat(150))
const event = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.array(piece, { minLength: 1, maxLength: 3 }).map((parts) => chunk({ content: parts.join("") }))
  },
  { weight: 1, arbitrary: fc.constant<unknown>("not json") }
)
const body = fc.tuple(fc.array(event, { maxLength: 10 }), fc.boolean()).map(([events, whole]) =>
  sse(...events, ...(whole ? [chunk({}, { finish_reason: "stop" }), "[DONE]"] : [])) + (whole ? "data: after\n\n" : "")
)

describe("SseParser", () => {
  it("the chunks of a read parsed together give what they give one read each, oversized events and all", () =>
    fc.assert(
      fc.property(
        body,
        fc.array(fc.nat({ max: 4000 }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 40 }),
        fc.constantFrom(undefined, 40, 120, 400),
        (text, cuts, groups, maxEventSize) => {
          const parts = splitBytes(text, cuts)
          const grouped: Array<Array<Uint8Array>> = []
          for (let at = 0, i = 0; at < parts.length; i++) {
            const size = groups[i] ?? parts.length
            grouped.push(parts.slice(at, at + size))
            at += size
          }
          expect(read(grouped, maxEventSize)).toStrictEqual(read(parts.map((part) => [part]), maxEventSize))
        }
      ),
      { numRuns: 500 }
    ))
})
