/**
 * The SQL columns' schemas (`persistence/columns.ts`): a number column reads back the same from either driver's forms,
 * and anything else is refused rather than read as a number it is not.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { Numeric } from "../../src/internal/persistence/columns.js"

const decode = Schema.decodeUnknownSync(Numeric)

describe("a number column", () => {
  // Less -0, whose digits ("0") are 0's: no column tells the two apart.
  const numbers = fc.oneof(fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true }))
    .filter((n) => !Object.is(n, -0))

  it("reads a number from SQLite and its digits from Postgres as the same number", () =>
    fc.assert(fc.property(numbers, (n) => {
      expect(decode(n)).toBe(n)
      // Its text has no sign for zero's: -0's digits read back as 0, the same number.
      expect(decode(String(n)) === n).toBe(true)
    })))

  it("reads a BIGINT Postgres gives as a bigint as its number, and refuses one no number holds exactly", () => {
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => {
      expect(decode(BigInt(n))).toBe(n)
    }))
    expect(() => decode(BigInt(Number.MAX_SAFE_INTEGER) + 1n)).toThrow()
    expect(() => decode(BigInt(Number.MIN_SAFE_INTEGER) - 1n)).toThrow()
  })

  it("refuses what is no number, and text a database does not write for one", () => {
    for (const value of ["", " 1", "1 ", "0x10", "1_000", "twelve", "1e", "NaN", "Infinity", null, undefined, {}]) {
      expect(() => decode(value), JSON.stringify(value)).toThrow()
    }
    expect(() => decode(Number.NaN)).toThrow()
    expect(() => decode(Infinity)).toThrow()
  })
})
