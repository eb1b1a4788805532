import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { messageOf } from "../../src/internal/errorText.js"
import { causeText } from "../../src/internal/transport/providerHttp.js"

// What a thrown non-Error may be (String of an object whose `toString` key holds data throws, as it would in the code).
const notAnError = fc.oneof(
  fc.string(),
  fc.double(),
  fc.bigInt(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.integer()),
  fc.string().map((code) => ({ code }))
)

describe("errorText", () => {
  it("messageOf: an Error (and its subclasses) is its message, whatever its cause; anything else is String of it", () =>
    fc.assert(fc.property(fc.string(), notAnError, (message, other) => {
      expect(messageOf(new Error(message))).toBe(message)
      expect(messageOf(new TypeError(message, { cause: new Error("under") }))).toBe(message)
      expect(messageOf(other)).toBe(String(other))
    })))

  it("causeText adds an Error's cause when that is an Error, and is messageOf otherwise", () =>
    fc.assert(fc.property(fc.string(), fc.string(), notAnError, (message, under, other) => {
      expect(causeText(new Error(message, { cause: new Error(under) }))).toBe(`${message}: ${under}`)
      expect(causeText(new Error(message, { cause: under }))).toBe(message)
      expect(causeText(other)).toBe(String(other))
    })))
})
