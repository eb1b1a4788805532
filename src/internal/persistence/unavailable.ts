/**
 * The one "store unavailable" error, as every store makes it: a Redis command that failed or outlived its bound, a
 * SQL step that did, a store that could not rebuild its state. Made only here, so each names its store the same way.
 */
import * as Schema from "effect/Schema"

/**
 * The store was unreachable, or a command or transaction failed or outlived its bound (Redis' `commandTimeout`, a
 * database's statement timeout), under `onUnavailable: "fail-closed"`.
 *
 * @since 0.3.0
 * @category Errors
 */
export class StoreUnavailableError extends Schema.TaggedError<StoreUnavailableError>()("StoreUnavailableError", {
  /** Where the store is: host and port of the Redis server, or the database (as its location is described). */
  address: Schema.String,
  /** What was asked and what went wrong. */
  reason: Schema.String
}) {
  override get message() {
    return `The store at ${this.address} is unavailable: ${this.reason}. Calls fail until it is back ` +
      `(onUnavailable: "fail-closed"); use "fail-open" to keep serving with local limits meanwhile.`
  }
}

/** The store at `address` could not do `what` (`reason`: what went wrong). */
export function unavailable(address: string, what: string, reason?: string): StoreUnavailableError {
  return new StoreUnavailableError({ address, reason: reason === undefined ? what : `${what}: ${reason}` })
}
