/**
 * What every wire codec shares: JSON objects as `JSON.parse` returns them, and
 * the two errors a codec throws, which the adapter template turns into typed
 * errors (`RequestError` into `InvalidRequestError`, `ShapeError` into
 * `OutputDecodeError`).
 */

/** A JSON object as `JSON.parse` returns it. */
export type JsonRecord = Record<string, unknown>

export const isRecord = (value: unknown): value is JsonRecord =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** A request this format cannot express; the adapter answers it with `InvalidRequestError`. */
export class RequestError {
  constructor(readonly detail: string, readonly param?: string) {}
}

/** A wire value that is not what the format promises. */
export class ShapeError {
  constructor(readonly reason: string) {}
}
