/**
 * The dashboard's dollars (`browser/poll.js`' `money`, which its live tables, spend chart, batches and MCP sections
 * all show), run as the page runs the script: for any amount and any precisions the sections ask, a dash for none,
 * `$0` for nothing, else the amount to the places asked (more below a cent), read back within half the last place.
 * The sections themselves are seen in Chromium (`test/e2e/GatewayDashboard*.test.ts`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { readFileSync } from "node:fs"
import * as vm from "node:vm"

const source = readFileSync(
  new URL("../../src/internal/gateway/observe/dashboard/browser/poll.js", import.meta.url),
  "utf8"
)
// The script's globals, as the page's later scripts see them.
const page: { money?: (value: number | null, smallPlaces: number, places: number) => string } = {}
vm.runInNewContext(source, page)
const money = page.money!

/** The precisions the sections ask for: below a cent, else. */
const precisions = fc.integer({ min: 2, max: 8 }).chain((places) =>
  fc.record({ places: fc.constant(places), smallPlaces: fc.integer({ min: places, max: 10 }) })
)

const amounts = fc.oneof(
  fc.double({ min: Number.MIN_VALUE, max: 0.01, noNaN: true }),
  fc.double({ min: 0.01, max: 1e9, noNaN: true }),
  fc.constantFrom(0.01, 0.009999999, 1, 0.5, 123.456)
)

describe("The dashboard's dollars", () => {
  it("a dash for none, $0 for nothing", () => {
    expect(money(null, 6, 2)).toBe("\u2013")
    expect(money(0, 6, 2)).toBe("$0")
  })

  it("any amount to the places asked, more below a cent, read back within half the last place", () => {
    fc.assert(
      fc.property(amounts, precisions, (amount, { places, smallPlaces }) => {
        const shown = money(amount, smallPlaces, places)
        const decimals = amount < 0.01 ? smallPlaces : places
        expect(shown).toMatch(new RegExp(`^\\$\\d+\\.\\d{${decimals}}$`))
        const read = Number(shown.slice(1))
        expect(Math.abs(read - amount)).toBeLessThanOrEqual(0.5 * 10 ** -decimals * (1 + 1e-9) + amount * 1e-15)
      }),
      { numRuns: 2_000 }
    )
  })

  it("the places asked: the sections' six or five below a cent, four or two above", () => {
    expect(money(0.0000123, 6, 2)).toBe("$0.000012")
    expect(money(0.0000123, 5, 2)).toBe("$0.00001")
    expect(money(12.34567, 6, 4)).toBe("$12.3457")
    expect(money(12.34567, 5, 2)).toBe("$12.35")
  })
})
