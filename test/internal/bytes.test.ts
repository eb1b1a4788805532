import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { concat } from "../../src/internal/transport/bytes.js"

describe("concat", () => {
  it("joins any chunks, views into larger buffers included, into their bytes in order", () =>
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.nat({ max: 3 })), { maxLength: 12 }),
        (parts) => {
          // Each chunk a view into a larger buffer, as undici hands over the chunks of one socket read.
          const chunks = parts.map(([bytes, pad]) => {
            const backing = new Uint8Array(bytes.length + 2 * pad).fill(0xff)
            backing.set(bytes, pad)
            return backing.subarray(pad, pad + bytes.length)
          })
          const expected = parts.flatMap(([bytes]) => [...bytes])
          expect([...concat(chunks)]).toStrictEqual(expected)
        }
      )
    ))
})
