/**
 * The two errors a wire codec throws, which the adapter template turns into typed errors: `RequestError` into
 * `InvalidRequestError`, `ShapeError` into `OutputDecodeError`; and the read of a field that is a string or absent.
 */

/** A request this format cannot express; the adapter answers it with `InvalidRequestError`. */
export class RequestError {
  constructor(readonly detail: string, readonly param?: string) {}
}

/** A wire value that is not what the format promises. */
export class ShapeError {
  constructor(readonly reason: string) {}
}

/** A wire field that is a string, or absent (`undefined` or `null`); anything else is a `ShapeError` naming `field`. */
export function optionalString(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === "string") return value
  throw new ShapeError(`${field} is not a string`)
}
