/**
 * JSON text read as every wire and the gateway read it (`parseJson`, `parseJsonObject`): any JSON value is what
 * `JSON.parse` makes of it, text that is not JSON is none, and only an object (not an array, not `null`) is an object.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import { parseJson, parseJsonObject } from "../../src/internal/json.js"

describe("parseJson", () => {
  it("reads any JSON value's text as that value, and text that is not JSON as none", () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      const text = JSON.stringify(value)
      expect(parseJson(text)).toStrictEqual(Option.some(JSON.parse(text)))
      expect(parseJson(`${text},`)).toStrictEqual(Option.none())
    }))
  })
})

describe("parseJsonObject", () => {
  it("reads an object's text as the object", () => {
    fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (value) => {
      const text = JSON.stringify(value)
      expect(parseJsonObject(text)).toStrictEqual(JSON.parse(text))
    }))
  })

  it("reads any other JSON value, or text that is not JSON, as undefined", () => {
    const other = fc.oneof(fc.array(fc.jsonValue()), fc.constant(null), fc.string(), fc.double(), fc.boolean())
    fc.assert(fc.property(other, (value) => {
      expect(parseJsonObject(JSON.stringify(value))).toBeUndefined()
      expect(parseJsonObject(`${JSON.stringify(value)},`)).toBeUndefined()
    }))
  })
})
