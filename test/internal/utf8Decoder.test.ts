import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Utf8Decoder } from "../../src/internal/sse/streamParser.js"
import { bytewise, splitAt } from "../utils/byteChunks.js"

const decodeAll = (decoder: Utf8Decoder, parts: ReadonlyArray<Uint8Array>): string =>
  parts.map((part) => decoder.decode(part)).join("") + decoder.end()

// ASCII, continuation bytes, lead bytes of every length, a BOM's bytes, and bytes never valid in UTF-8.
const byte = fc.oneof(
  fc.constantFrom(0x0a, 0x61, 0x80, 0x82, 0xa2, 0xbb, 0xbf, 0xc3, 0xe2, 0xef, 0xf0, 0x9f, 0xc0, 0xff),
  fc.integer({ min: 0, max: 0xff })
)
const text = fc.tuple(fc.boolean(), fc.array(byte, { maxLength: 48 })).map(([bom, values]) =>
  Uint8Array.from([...(bom ? [0xef, 0xbb, 0xbf] : []), ...values])
)
const splitPoints = fc.array(fc.nat(), { maxLength: 12 })

describe("Utf8Decoder", () => {
  it("any bytes, valid UTF-8 or not, split anywhere, decode as one streaming TextDecoder decodes them", () =>
    fc.assert(
      fc.property(text, splitPoints, (all, points) => {
        const expected = new TextDecoder().decode(all)
        expect(decodeAll(new Utf8Decoder(), splitAt(all, points))).toBe(expected)
        expect(decodeAll(new Utf8Decoder(), bytewise(all))).toBe(expected)
      }),
      { numRuns: 1000 }
    ))

  it("starts a new text after end, even when the last one ended half-way through a character", () =>
    fc.assert(
      fc.property(fc.array(fc.tuple(text, splitPoints), { maxLength: 4 }), (texts) => {
        const decoder = new Utf8Decoder()
        for (const [all, points] of texts) {
          expect(decodeAll(decoder, splitAt(all, points))).toBe(new TextDecoder().decode(all))
        }
      }),
      { numRuns: 300 }
    ))

  it("keeps a BOM that does not start the text", () => {
    const decoder = new Utf8Decoder()
    expect(decoder.decode(Uint8Array.from([0xef, 0xbb]))).toBe("")
    expect(decoder.decode(Uint8Array.from([0xbf, 0x61]))).toBe("a")
    expect(decoder.decode(Uint8Array.from([0xef, 0xbb, 0xbf, 0x62]))).toBe("\uFEFFb")
    expect(decoder.end()).toBe("")
  })
})
