/** Reading a provider's body by its schema, for the dialects' batch objects. */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { ShapeError } from "../codecError.js"

/** A reader of bodies of `schema`: the body decoded, or a thrown `ShapeError` saying it is not `what`. */
export function shapeReader<S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  what: string
): (body: unknown) => S["Type"] {
  const decode = Schema.decodeUnknownResult(schema)
  return (body) => {
    const read = decode(body)
    if (Result.isFailure(read)) throw new ShapeError(`not ${what}: ${read.failure.message}`)
    return read.success
  }
}
