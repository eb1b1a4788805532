/**
 * Checks that a value is what its schema describes: `Schema.encodeSync` takes it as it is, decoding
 * the encoded form gives it back equal (no key dropped, none added), and so does its JSON form
 * (`Schema.toCodecJson`) after `JSON.stringify`.
 */
import { expect } from "@effect/vitest"
import * as Schema from "effect/Schema"

export const expectRoundTrip = <S extends Schema.Codec<unknown, unknown>>(
  schema: S,
  value: S["Type"]
): S["Encoded"] => {
  const encoded = Schema.encodeSync(schema)(value)
  expect(Schema.decodeUnknownSync(schema)(encoded)).toStrictEqual(value)
  const json = Schema.toCodecJson(schema)
  const text = JSON.stringify(Schema.encodeSync(json)(value))
  expect(Schema.decodeUnknownSync(json)(JSON.parse(text))).toStrictEqual(value)
  return encoded
}
