/**
 * The one "store unavailable" error, as every store makes it: a Redis command that failed or outlived its bound, a
 * SQL step that did, a store that could not rebuild its state. Made only here, so each names its store the same way.
 */
import { StoreUnavailableError } from "../../Store.js"

/** The store at `address` could not do `what` (`reason`: what went wrong). */
export function unavailable(address: string, what: string, reason?: string): StoreUnavailableError {
  return new StoreUnavailableError({ address, reason: reason === undefined ? what : `${what}: ${reason}` })
}
