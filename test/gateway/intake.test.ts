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

  it("an Origin is the same origin only when its name and port are the request's Host", () => {
    expect(Intake.sameOrigin("http://127.0.0.1:4000", "127.0.0.1:4000")).toBe(true)
    expect(Intake.sameOrigin("http://LOCALHOST:4000", "localhost:4000")).toBe(true)
    expect(Intake.sameOrigin("http://gateway.example", "gateway.example")).toBe(true)
    expect(Intake.sameOrigin("http://gateway.example", "gateway.example:80")).toBe(true)
    expect(Intake.sameOrigin("https://gateway.example", "gateway.example:443")).toBe(true)
    for (
      const [origin, host] of [
        ["http://127.0.0.1:4001", "127.0.0.1:4000"],
        ["http://localhost:4000", "127.0.0.1:4000"],
        ["null", "127.0.0.1:4000"],
        ["file://", "127.0.0.1:4000"],
        ["not a url", "127.0.0.1:4000"],
        ["http://127.0.0.1:4000", undefined]
      ] as const
    ) {
      expect([origin, host, Intake.sameOrigin(origin, host)]).toEqual([origin, host, false])
    }
  })

  it("the guard: a rebound Host on loopback, a page of another origin, a body not JSON", () => {
    const hosts = Intake.loopbackHosts(4000)
    const own = { host: "127.0.0.1:4000" }
    const json = { ...own, "content-type": "application/json", "content-length": "2" }
    expect(Intake.guard("GET", { host: "attacker.example:4000" }, hosts, false)).toBe("host_not_allowed")
    expect(Intake.guard("GET", { host: "attacker.example:4000" }, undefined, false)).toBeUndefined()
    expect(Intake.guard("GET", { ...own, origin: "http://attacker.example" }, hosts, false)).toBeUndefined()
    expect(Intake.guard("POST", json, hosts, false)).toBeUndefined()
    expect(Intake.guard("POST", { ...json, origin: "http://127.0.0.1:4000" }, hosts, false)).toBeUndefined()
    expect(Intake.guard("DELETE", { ...own, "sec-fetch-site": "same-origin" }, hosts, false)).toBeUndefined()
    expect(Intake.guard("POST", { ...json, origin: "http://attacker.example" }, hosts, false)).toBe(
      "cross_origin_request"
    )
    expect(Intake.guard("DELETE", { ...own, "sec-fetch-site": "same-site" }, hosts, false)).toBe("cross_origin_request")
    expect(Intake.guard("POST", { ...own, "content-type": "text/plain" }, hosts, false)).toBe("unsupported_media_type")
    expect(Intake.guard("PATCH", { ...own, "content-length": "5" }, hosts, false)).toBe("unsupported_media_type")
    expect(Intake.guard("POST", { ...own, "transfer-encoding": "chunked" }, hosts, false)).toBe(
      "unsupported_media_type"
    )
    // No body at all: nothing to declare.
    expect(Intake.guard("POST", { ...own, "content-length": "0" }, hosts, false)).toBeUndefined()
  })

  it("a multipart form passes the guard on an upload's path only, and a page of another origin never", () => {
    const own = { host: "127.0.0.1:4000" }
    const type = fc.tuple(
      fc.constantFrom(
        "multipart/form-data",
        "Multipart/Form-Data",
        " multipart/form-data",
        "multipart/mixed",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/json"
      ),
      fc.constantFrom("", "; boundary=abc", ";boundary=\"a b\"", "-x")
    ).map(([media, rest]) => media + rest)
    fc.assert(
      fc.property(type, fc.boolean(), fc.boolean(), (contentType, upload, foreign) => {
        const headers = {
          ...own,
          "content-type": contentType,
          ...(foreign ? { origin: "http://attacker.example" } : {})
        }
        const form = /^\s*multipart\/form-data\s*(;|$)/i.test(contentType)
        const json = /^application\/json\s*(;|$)/.test(contentType)
        const expected = foreign
          ? "cross_origin_request"
          : json || (upload && form)
          ? undefined
          : "unsupported_media_type"
        expect(Intake.guard("POST", headers, Intake.loopbackHosts(4000), upload)).toBe(expected)
      })
    )
    expect([...Intake.uploadPaths]).toEqual(["/v1/files"])
  })

  it("no Origin but the request's own passes the guard on a method that changes something", () => {
    const name = fc.constantFrom("127.0.0.1", "localhost", "attacker.example", "[::1]", "gateway.example")
    const port = fc.constantFrom("", ":4000", ":4001", ":80")
    fc.assert(
      fc.property(name, port, name, port, fc.constantFrom("http", "https"), (a, p, b, q, scheme) => {
        const origin = `${scheme}://${a}${p}`
        const host = `${b}${q}`
        const refused = Intake.guard("POST", { host, origin }, undefined, false) === "cross_origin_request"
        expect(refused).toBe(!Intake.sameOrigin(origin, host))
        // Only the same name and port are one origin.
        if (!refused) expect(a).toBe(b)
      }),
      { numRuns: 300 }
    )
  })
})

describe("a client's text bounded", () => {
  it("a model name is over the bound exactly when its UTF-8 bytes are more than maxModelBytes, and says how many", () =>
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 400 }), (model) => {
        const bytes = Buffer.byteLength(model)
        expect(Intake.oversizedModel(model)).toBe(bytes > Intake.maxModelBytes ? bytes : undefined)
      }),
      { numRuns: 500 }
    ))

  it("a name of maxModelBytes bytes is taken, one byte more is not, whatever its characters' widths", () => {
    expect(Intake.oversizedModel("m".repeat(Intake.maxModelBytes))).toBeUndefined()
    expect(Intake.oversizedModel("m".repeat(Intake.maxModelBytes + 1))).toBe(Intake.maxModelBytes + 1)
    // 86 characters of three bytes each: 258 bytes.
    expect(Intake.oversizedModel("模".repeat(86))).toBe(258)
    expect(Intake.oversizedModel("m".repeat(1 << 20))).toBe(1 << 20)
  })

  it("what a log holds of a text: the text up to maxLoggedLength, else its start and an ellipsis, never half a pair", () =>
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 600 }), (text) => {
        const logged = Intake.logged(text)
        if (text.length <= Intake.maxLoggedLength) {
          expect(logged).toBe(text)
          return
        }
        expect(logged.endsWith("…")).toBe(true)
        const kept = logged.slice(0, -1)
        expect(text.startsWith(kept)).toBe(true)
        expect(kept.length).toBeGreaterThanOrEqual(Intake.maxLoggedLength - 1)
        expect(kept.length).toBeLessThanOrEqual(Intake.maxLoggedLength)
        // The cut is between two characters, not inside a surrogate pair (the texts hold whole pairs only).
        expect(/[\uD800-\uDBFF]$/.test(kept)).toBe(false)
      }),
      { numRuns: 500 }
    ))
})
