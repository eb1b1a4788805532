import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { middayZone } from "./utils/cliHarness.js"

const hourMillis = 3_600_000

// The hour (0-23) and the calendar day at `at` in `zone`, as a program run with `TZ=zone` reads them.
const local = (zone: string, at: Date) => {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    hourCycle: "h23"
  }).formatToParts(at)
  const part = (type: string) => parts.find((one) => one.type === type)!.value
  return { hour: Number(part("hour")), day: `${part("year")}-${part("month")}-${part("day")}` }
}

// Instants sampled from a few centuries; the test over the 24 UTC hours below is the exhaustive one.
const instants = fc.date({
  min: new Date("1970-01-01T00:00:00Z"),
  max: new Date("2300-01-01T00:00:00Z"),
  noInvalidDate: true
})

describe("the agents' time zone", () => {
  it("is one where it is noon at the instant it is chosen", () => {
    fc.assert(fc.property(instants, (now) => {
      assert.strictEqual(local(middayZone(now), now).hour, 12, `${now.toISOString()} in ${middayZone(now)}`)
    }))
  })

  it("keeps the date it had when chosen for eleven hours after", () => {
    fc.assert(fc.property(instants, fc.integer({ min: 0, max: 11 * hourMillis }), (now, later) => {
      const zone = middayZone(now)
      assert.strictEqual(local(zone, new Date(now.getTime() + later)).day, local(zone, now).day)
    }))
  })

  it("is chosen for each UTC hour of a day", () => {
    for (let hour = 0; hour < 24; hour++) {
      const now = new Date(Date.UTC(2026, 11, 31, hour, 59, 59, 999))
      assert.strictEqual(local(middayZone(now), now).hour, 12, `at ${hour}:59 UTC`)
    }
  })
})
