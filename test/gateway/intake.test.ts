import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Intake from "../../src/internal/gateway/intake.js"

describe("gateway intake", () => {
  it("a path normalised: unreserved escapes decoded, doubled and trailing slashes dropped, the rest kept", () => {
    expect(Intake.canonicalUrl("/v1/chat/completions")).toBe("/v1/chat/completions")
    expect(Intake.canonicalUrl("//health/")).toBe("/health")
    expect(Intake.canonicalUrl("/heal%74h?x=%74")).toBe("/health?x=%74")
    expect(Intake.canonicalUrl("/v1/models/sim%2Fgpt-4o-mini")).toBe("/v1/models/sim%2Fgpt-4o-mini")
    expect(Intake.canonicalUrl("/HEALTH")).toBe("/HEALTH")
    expect(Intake.canonicalUrl("http://elsewhere/v1//models/")).toBe("/v1/models")
    expect(Intake.canonicalUrl("/")).toBe("/")
    // A stray `%` leaves the path malformed, not decoded into another escape.
    expect(Intake.canonicalUrl("/heal%%37%34h")).toBe("/heal%%37%34h")
  })

  it("normalising twice is normalising once", () => {
    const piece = fc.constantFrom("/", "//", "%", "%2", "%25", "%34", "%37", "%41", "%2f", "%7e", "a", "?", ";", "h")
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const url = `/${pieces.join("")}`
        const once = Intake.canonicalUrl(url)
        expect(Intake.canonicalUrl(once)).toBe(once)
      }),
      { numRuns: 500 }
    )
  })

  it("a client's x-request-id is kept when short and plain, else a fresh one is made", () => {
    const fresh = () => "fresh"
    expect(Intake.requestId("abc-1.2_3:4", fresh)).toBe("abc-1.2_3:4")
    expect(Intake.requestId("z".repeat(Intake.maxRequestIdLength), fresh)).toBe("z".repeat(128))
    for (const bad of [undefined, "", "z".repeat(129), "a b", "a\r\nb", "é"]) {
      expect(Intake.requestId(bad, fresh)).toBe("fresh")
    }
  })

  it("JSON is application/json whatever its parameters and case", () => {
    expect(Intake.isJson("application/json")).toBe(true)
    expect(Intake.isJson("Application/JSON; charset=utf-8")).toBe(true)
    const others = [undefined, "text/plain", "application/jsonp", "application/x-www-form-urlencoded", "multipart/a"]
    for (const other of others) {
      expect(Intake.isJson(other)).toBe(false)
    }
  })
})
