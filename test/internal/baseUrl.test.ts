import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { normalBaseUrl, shownBaseUrl } from "../../src/internal/transport/baseUrl.js"

describe("a provider's root normalised (the endpoint its keys belong to)", () => {
  it("two spellings of one root are one; a different path, port, scheme, query or credentials are another", () => {
    const root = "https://api.example.com/v1"
    for (
      const same of [
        "https://api.example.com/v1/",
        "https://api.example.com/v1//",
        "HTTPS://API.Example.COM/v1",
        "https://api.example.com:443/v1",
        "https://api.example.com/v1#fragment"
      ]
    ) expect(normalBaseUrl(same)).toBe(normalBaseUrl(root))
    for (
      const other of [
        "https://api.example.com/v2",
        "https://api.example.com/V1",
        "https://api.example.com",
        "https://api.example.com:8443/v1",
        "http://api.example.com/v1",
        "https://api.example.com/v1?tenant=a",
        "https://user:secret@api.example.com/v1",
        "https://internal.example.com/v1"
      ]
    ) expect(normalBaseUrl(other)).not.toBe(normalBaseUrl(root))
    expect(normalBaseUrl("https://user:secret@api.example.com/v1")).not.toBe(
      normalBaseUrl("https://user:other@api.example.com/v1")
    )
  })

  it("status shows a root without its credentials", () => {
    expect(shownBaseUrl("https://user:secret@api.example.com:443/v1/")).toBe("https://api.example.com/v1")
    expect(shownBaseUrl("http://:secret@127.0.0.1:6000/")).toBe("http://127.0.0.1:6000")
    expect(shownBaseUrl("not a url")).toBe("an unparsable URL")
  })

  it("normalising is idempotent, and trailing slashes never make another endpoint", () =>
    fc.assert(fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.nat(3), (url, slashes) => {
      const once = normalBaseUrl(url)
      expect(normalBaseUrl(once)).toBe(once)
      const parsed = new URL(url)
      parsed.pathname = parsed.pathname.replace(/\/+$/, "") + "/".repeat(slashes)
      expect(normalBaseUrl(parsed.href)).toBe(once)
    })))
})
