import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Ndjson from "../../src/internal/wire/ollama/ndjson.js"
import { bytewise, splitAt } from "../utils/byteChunks.js"

const encoder = new TextEncoder()
const bytes = (text: string) => encoder.encode(text)

const decode = (parts: ReadonlyArray<Uint8Array>, maxLineSize?: number) => {
  const decoder = new Ndjson.Decoder(maxLineSize)
  const out: Array<string> = []
  let ok = true
  for (const part of parts) ok = decoder.push(part, out) && ok
  ok = decoder.end(out) && ok
  return { lines: out, ok }
}

describe("Ndjson.Decoder", () => {
  it("splits on LF, strips one trailing CR, skips blank lines, flushes the last line", () => {
    const { lines, ok } = decode([bytes("{\"a\":1}\r\n\n  \r\n{\"b\":\"x\\ny\"}\n\t\n{\"c\":3}")])
    expect(ok).toBe(true)
    expect(lines).toEqual(["{\"a\":1}", "{\"b\":\"x\\ny\"}", "{\"c\":3}"])
  })

  it("keeps a partial line across chunks and a character split across chunks", () => {
    const all = bytes("{\"t\":\"日本😀\"}\n{\"u\":1}\n")
    const { lines } = decode([all.subarray(0, 8), all.subarray(8, 9), all.subarray(9, 20), all.subarray(20)])
    expect(lines).toEqual(["{\"t\":\"日本😀\"}", "{\"u\":1}"])
    expect(decode(bytewise(all)).lines).toEqual(lines)
  })

  it("strips a BOM at the start only", () => {
    expect(decode([bytes("\uFEFF{\"a\":1}\n")]).lines).toEqual(["{\"a\":1}"])
  })

  it("fails past maxLineSize, keeping the lines before, however the bytes are chunked", () => {
    const all = bytes("{\"a\":1}\n{\"long\":\"0123456789\"}\n{\"b\":2}\n")
    for (const parts of [[all], bytewise(all)]) {
      const { lines, ok } = decode(parts, 10)
      expect(ok).toBe(false)
      expect(lines).toEqual(["{\"a\":1}"])
    }
    expect(decode([all], 30).ok).toBe(true)
  })
})

const piece = fc.constantFrom("a", " ", "é", "日本", "😀", "\r", "\t", "{\"k\":1}", "\"", "\\n")
const line = fc.array(piece, { maxLength: 6 }).map((pieces) => pieces.join(""))
const ending = fc.constantFrom("\n", "\r\n")

describe("Ndjson properties", () => {
  it("any re-chunking of the bytes yields the same lines", () =>
    fc.assert(
      fc.property(
        fc.array(fc.tuple(line, ending), { maxLength: 8 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 12 }),
        (entries, lastEnded, points) => {
          const text = entries.map(([l, e], i) => (i === entries.length - 1 && !lastEnded ? l : l + e)).join("")
          const all = bytes(text)
          // The reference: split the whole text at once.
          const expected = text.split("\n")
            .map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l))
            .filter((l) => l.trim() !== "")
          expect(decode([all]).lines).toStrictEqual(expected)
          expect(decode(splitAt(all, points)).lines).toStrictEqual(expected)
          expect(decode(bytewise(all)).lines).toStrictEqual(expected)
        }
      ),
      { numRuns: 500 }
    ))

  it("the size-limit verdict and the lines before it do not depend on chunking", () =>
    fc.assert(
      fc.property(
        fc.array(line, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.integer({ min: 1, max: 24 }),
        (entries, points, max) => {
          const all = bytes(entries.join("\n"))
          const whole = decode([all], max)
          expect(decode(splitAt(all, points), max)).toStrictEqual(whole)
          expect(decode(bytewise(all), max)).toStrictEqual(whole)
        }
      ),
      { numRuns: 300 }
    ))
})
