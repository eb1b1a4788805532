/**
 * A SQL store's statements and transactions, the part every SQL backend shares: each bounded by a timeout, a
 * transaction retried at once when the database rolled it back for contention, and what fails reported as
 * `StoreUnavailableError` naming the database.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import { StoreUnavailableError } from "../../Store.js"
import { timeoutFail } from "../time/watchdog.js"

/** Where a SQL store is and how long one of its steps may take. */
export interface Bounds {
  /** The database as `StoreUnavailableError.address` names it. */
  readonly address: string
  readonly timeout: Duration.Duration
}

const unavailable = (bounds: Bounds, what: string, reason: string) =>
  new StoreUnavailableError({ address: bounds.address, reason: `${what}: ${reason}` })

/**
 * `effect` within `bounds.timeout`, its `SqlError`s as `StoreUnavailableError` (`what` names it in the reason); a
 * failure the caller made of a `SqlError` it expects (a name already taken) is left as it is.
 */
export const bounded = <A, E>(
  bounds: Bounds,
  what: string,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, Exclude<E, SqlError> | StoreUnavailableError> =>
  timeoutFail(
    Effect.mapError(
      effect,
      (error) => isSqlError(error) ? unavailable(bounds, what, error.message) : error as Exclude<E, SqlError>
    ),
    bounds.timeout,
    () => unavailable(bounds, what, `no answer within ${Duration.format(bounds.timeout)}`),
    // A statement's interruption waits for the database (a rollback's reply): the step's bound does not.
    { leave: true }
  )

// Retried at once: the transaction was rolled back, and another attempt orders itself after its competitor.
const isContention = (error: SqlError): boolean =>
  error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError" ||
  error.reason._tag === "LockTimeoutError"

/** `effect` as one transaction of `sql`, retried on contention, bounded as `bounded` is. */
export const transaction = <A>(
  sql: SqlClient.SqlClient,
  bounds: Bounds,
  what: string,
  effect: Effect.Effect<A, SqlError>
): Effect.Effect<A, StoreUnavailableError> =>
  bounded(bounds, what, Effect.retry(sql.withTransaction(effect), { while: isContention, times: 5 }))
