/**
 * The two errors a wire codec throws, which the adapter template turns into typed errors: `RequestError` into
 * `InvalidRequestError`, `ShapeError` into `OutputDecodeError`.
 */

/** A request this format cannot express; the adapter answers it with `InvalidRequestError`. */
export class RequestError {
  constructor(readonly detail: string, readonly param?: string) {}
}

/** A wire value that is not what the format promises. */
export class ShapeError {
  constructor(readonly reason: string) {}
}
