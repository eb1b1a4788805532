/**
 * The budget ledger in the gateway's SQL database (`../sql/database.ts`), for the keys and teams made at run time and
 * for provider.json keys' budgets when the gateway has a database, so a restart of the gateway, or of its database,
 * gives nothing back. It keeps `Budget`'s semantics (reserve the estimate in every limit, then replace it with the
 * real cost; fixed windows from `window.ts`; a refusal names its `periodEnd`) over two tables: `spend`, a window's
 * spend per scope, keyed by the window's period and start (an hour's and a day's window of one scope may start at
 * the same instant), and `reservations`, the estimates of calls in flight, one row per call and scope.
 *
 * ## Concurrency
 *
 * `check` is one transaction: for each scope in a fixed (sorted) order it makes sure its window's `spend` row exists
 * and locks it (`SELECT ... FOR UPDATE` on Postgres; on SQLite the transaction's first write takes the database's
 * only write lock), so every check of a scope is serialised on that row, across every instance on the database; under
 * the lock it reads the spend and the reservations of the scope (each statement of a Postgres `READ COMMITTED`
 * transaction sees what was committed before it, the competing checks included), refuses or reserves, and commits.
 * A `charge` deletes the call's reservations and adds its cost in one transaction, so a check sees either both or
 * neither (an uncommitted delete still counts the estimate: conservative). A deadlock or a serialisation failure
 * rolls back and is retried.
 *
 * ## Reservations of a vanished instance
 *
 * Each reservation is a lease, renewed by its instance while its call runs; one whose instance died lapses after the
 * lease and is charged its estimate (the worst case the call could have cost) by the next check of its scope, since
 * the call may have been billed: a budget is never passed, at the price of counting a dead call at its worst case.
 *
 * ## The database away
 *
 * Each transaction is bounded (`timeoutFail`); a check that cannot be made fails with `NoCapacityError`
 * (`storeUnavailable`), which the gateway answers with 503. A charge is retried in the background until the database
 * takes it, and at close for a while longer (`flushTimeout`); it is idempotent (it adds the cost only with the
 * reservation it deletes), so a retry of a charge whose commit was acknowledged late counts once, and a charge that
 * never lands leaves the reservation to lapse into its estimate: the spend is never lost.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { randomUUID } from "node:crypto"
import type * as Budget from "../../Budget.js"
import { type BudgetExceededError, NoCapacityError } from "../../LlmError.js"
import { StoreUnavailableError } from "../../Store.js"
import { timeoutFail } from "../time/watchdog.js"
import { exceeded, periodName, refuses, type Window, windowAt } from "./window.js"

/** A scope's spend in its current window. */
export interface ScopeSpend {
  readonly spent: number
  readonly reserved: number
  readonly window: Window
}

export interface Ledger {
  /** A budget over `limits`, each naming a scope of the ledger (`key:<id>`, `team:<id>`): all apply to every check. */
  readonly budget: (limits: ReadonlyArray<Budget.Limit>) => Budget.Service
  /** A scope's spend and reservations in the window of `period` that holds now (lapsed reservations as spent). */
  readonly spend: (scope: string, period: Budget.Period) => Effect.Effect<ScopeSpend, StoreUnavailableError>
}

export interface Options {
  /** The database as `StoreUnavailableError.address` names it. */
  readonly address: string
  /** How long a reservation lives unless its instance renews it. Default 30 seconds. */
  readonly leaseTtl?: Duration.Input | undefined
  /** How long a transaction may take before it counts as the database being away. Default 5 seconds. */
  readonly statementTimeout?: Duration.Input | undefined
}

/** How long the charges still being retried at close may take to be written. */
const flushTimeout = Duration.seconds(15)

/** A read of a scope's spend in its window of `period` that holds now. */
class SpendRead extends Request.Class<
  { readonly scope: string; readonly period: Budget.Period },
  ScopeSpend,
  StoreUnavailableError
> {}

interface Row {
  readonly [column: string]: unknown
}

const numberOf = (row: Row | undefined, column: string): number => Number(row?.[column] ?? 0)

/** A reservation in the ledger, with the limits it holds. */
class SqlReservation implements Budget.Reservation {
  settled = false
  constructor(readonly estimate: number, readonly id: string) {}
}

// Retried at once: the transaction was rolled back, and another attempt orders itself after its competitor.
const isContention = (error: SqlError | StoreUnavailableError): boolean =>
  error._tag === "SqlError" &&
  (error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError" ||
    error.reason._tag === "LockTimeoutError")

/** The ledger over `sql`, its leases renewed and its pending charges retried for the scope's life. */
export const make = (sql: SqlClient.SqlClient, options: Options): Effect.Effect<Ledger, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ttl = Duration.toMillis(options.leaseTtl ?? Duration.seconds(30))
    const timeout = Duration.fromInputUnsafe(options.statementTimeout ?? Duration.seconds(5))
    const scope = yield* Effect.scope
    // The ids of the reservations of this instance's calls in flight (and of charges not yet written).
    const held = new Set<string>()

    /** `transaction` bounded, retried on contention, its failures as `StoreUnavailableError`. */
    const bounded = <A>(what: string, transaction: Effect.Effect<A, SqlError>) =>
      timeoutFail(
        sql.withTransaction(transaction),
        timeout,
        () =>
          new StoreUnavailableError({
            address: options.address,
            reason: `${what}: no answer within ${Duration.format(timeout)}`
          })
      ).pipe(
        Effect.retry({ while: isContention, times: 5 }),
        Effect.mapError((error) =>
          error._tag === "SqlError"
            ? new StoreUnavailableError({ address: options.address, reason: `${what}: ${error.message}` })
            : error
        )
      )

    const lockRow = (scope: string, window: Window) =>
      sql.onDialectOrElse({
        pg: () =>
          sql<Row>`SELECT spent FROM spend
            WHERE scope = ${scope} AND period = ${window.period} AND window_start = ${window.start} FOR UPDATE`,
        orElse: () =>
          sql<Row>`SELECT spent FROM spend
            WHERE scope = ${scope} AND period = ${window.period} AND window_start = ${window.start}`
      })

    /** The scope's window row, made when missing and locked, with its lapsed reservations charged to it. */
    const lockedSpend = Effect.fnUntraced(function*(scope: string, window: Window, now: number) {
      yield* sql`INSERT INTO spend (scope, period, window_start, spent) VALUES (${scope}, ${window.period},
        ${window.start}, 0) ON CONFLICT (scope, period, window_start) DO NOTHING`
      const [row] = yield* lockRow(scope, window)
      const lapsed = yield* sql<Row>`DELETE FROM reservations WHERE scope = ${scope} AND expires_at <= ${now}
        RETURNING estimate`
      const charged = lapsed.reduce((sum, reservation) => sum + numberOf(reservation, "estimate"), 0)
      if (charged > 0) {
        yield* sql`UPDATE spend SET spent = spent + ${charged}
          WHERE scope = ${scope} AND period = ${window.period} AND window_start = ${window.start}`
      }
      const [reserved] = yield* sql<Row>`SELECT COALESCE(SUM(estimate), 0) AS reserved FROM reservations
        WHERE scope = ${scope}`
      return numberOf(row, "spent") + charged + numberOf(reserved, "reserved")
    })

    const reserve = Effect.fnUntraced(function*(id: string, limits: ReadonlyArray<Budget.Limit>, call: Budget.Call) {
      const now = yield* Clock.currentTimeMillis
      const ordered = [...limits].sort((a, b) => a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : 0)
      return yield* bounded(
        "a budget check",
        Effect.gen(function*() {
          for (const limit of ordered) {
            const window = windowAt(limit.period, now)
            const committed = yield* lockedSpend(limit.scope, window, now)
            if (refuses(committed, call.estimate, limit.limit)) {
              return { refused: limit, committed, window } as const
            }
          }
          for (const limit of ordered) {
            yield* sql`INSERT INTO reservations (id, scope, estimate, expires_at)
              VALUES (${id}, ${limit.scope}, ${call.estimate}, ${now + ttl})`
          }
          return undefined
        })
      )
    })

    /** The cost in each window the call ends in, its reservations gone; nothing when they are gone already. */
    const settle = Effect.fnUntraced(
      function*(reservation: SqlReservation, limits: ReadonlyMap<string, Budget.Limit>, cost: number) {
        const now = yield* Clock.currentTimeMillis
        return yield* bounded(
          "a budget charge",
          Effect.gen(function*() {
            const gone = yield* sql<Row>`DELETE FROM reservations WHERE id = ${reservation.id} RETURNING scope`
            const scopes = gone.map((row) => String(row["scope"])).sort()
            for (const scope of scopes) {
              const limit = limits.get(scope)
              if (limit === undefined || cost === 0) continue
              const window = windowAt(limit.period, now)
              yield* sql`INSERT INTO spend (scope, period, window_start, spent)
                VALUES (${scope}, ${window.period}, ${window.start}, ${cost})
                ON CONFLICT (scope, period, window_start) DO UPDATE SET spent = spend.spent + ${cost}`
            }
          })
        )
      }
    )

    // A charge the database did not take at once: retried, backing off, for as long as the gateway runs; at its
    // close, for up to `flushTimeout` (this finalizer runs before the set's, which interrupts what is left).
    const retried = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")])
    const pending = yield* FiberSet.make<void>()
    yield* Effect.addFinalizer(() =>
      FiberSet.awaitEmpty(pending).pipe(
        Effect.timeout(flushTimeout),
        Effect.catchCause(() =>
          Effect.flatMap(FiberSet.size(pending), (left) =>
            Effect.logError(
              `The gateway's database did not take ${left} charge(s) before shutdown; their reservations lapse ` +
                "into their estimates."
            ))
        )
      )
    )

    const budget = (limits: ReadonlyArray<Budget.Limit>): Budget.Service => {
      const byScope = new Map(limits.map((limit) => [limit.scope, limit]))
      const check = (call: Budget.Call) => {
        const id = randomUUID()
        return reserve(id, limits, call).pipe(
          Effect.matchEffect({
            onFailure: (error) =>
              Effect.andThen(
                Effect.logWarning(`The gateway's database did not take a budget check (${error.reason}).`),
                Effect.fail(
                  new NoCapacityError({
                    provider: call.provider ?? "unknown",
                    model: call.model ?? "",
                    storeUnavailable: true
                  })
                )
              ),
            onSuccess: (refusal): Effect.Effect<Budget.Reservation, BudgetExceededError> => {
              if (refusal === undefined) {
                held.add(id)
                return Effect.succeed(new SqlReservation(call.estimate, id))
              }
              return Effect.fail(exceeded(call, refusal.refused, refusal.committed, refusal.window.end))
            }
          })
        )
      }
      const charge = (reservation: Budget.Reservation, cost: number | undefined): Effect.Effect<void> => {
        if (!(reservation instanceof SqlReservation) || reservation.settled) return Effect.void
        reservation.settled = true
        const written = settle(reservation, byScope, cost ?? reservation.estimate)
        const done = Effect.sync(() => held.delete(reservation.id))
        return Effect.matchEffect(written, {
          onSuccess: () => done,
          onFailure: (error) =>
            Effect.logWarning(`The gateway's database did not take a charge (${error.reason}); retrying it.`).pipe(
              Effect.andThen(FiberSet.run(pending, Effect.andThen(Effect.retry(written, retried), done))),
              Effect.asVoid
            )
        })
      }
      const status = Effect.forEach(
        limits,
        (limit) =>
          Effect.map(spend(limit.scope, limit.period), (found): Budget.LimitStatus => ({
            scope: limit.scope,
            limit: limit.limit,
            period: periodName(limit.period),
            spent: found.spent,
            reserved: found.reserved,
            periodStart: found.window.start,
            periodEnd: found.window.end
          })),
        { concurrency: "unbounded" }
      ).pipe(Effect.orElseSucceed((): ReadonlyArray<Budget.LimitStatus> => []))
      return { check, charge, status }
    }

    // The reads asked together (the dashboard's, a key's and its team's) are one transaction: two statements over
    // all their scopes, each answer then picked out by its scope and window.
    const reads = RequestResolver.make<SpendRead>((entries) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const windows = entries.map((entry) => windowAt(entry.request.period, now))
        const scopes = [...new Set(entries.map((entry) => entry.request.scope))]
        const earliest = Math.min(...windows.map((window) => window.start))
        const read = bounded(
          "a spend read",
          Effect.all([
            sql<Row>`SELECT scope, period, window_start, spent FROM spend
              WHERE ${sql.in("scope", scopes)} AND window_start >= ${earliest}`,
            sql<Row>`SELECT scope,
              COALESCE(SUM(CASE WHEN expires_at > ${now} THEN estimate ELSE 0 END), 0) AS live,
              COALESCE(SUM(CASE WHEN expires_at <= ${now} THEN estimate ELSE 0 END), 0) AS lapsed
              FROM reservations WHERE ${sql.in("scope", scopes)} GROUP BY scope`
          ])
        )
        return Effect.match(read, {
          onFailure: (error) => entries.forEach((entry) => entry.completeUnsafe(Exit.fail(error))),
          onSuccess: ([spent, held]) => {
            const windowRows = new Map(
              spent.map((row) => [`${row["scope"]}@${row["period"]}@${numberOf(row, "window_start")}`, row])
            )
            const heldRows = new Map(held.map((row) => [String(row["scope"]), row]))
            entries.forEach((entry, i) => {
              const { scope } = entry.request
              const window = windows[i]!
              const row = windowRows.get(`${scope}@${window.period}@${window.start}`)
              const reservations = heldRows.get(scope)
              entry.completeUnsafe(Exit.succeed({
                spent: numberOf(row, "spent") + numberOf(reservations, "lapsed"),
                reserved: numberOf(reservations, "live"),
                window
              }))
            })
          }
        })
      })
    )

    const spend = (scope: string, period: Budget.Period): Effect.Effect<ScopeSpend, StoreUnavailableError> =>
      Effect.request(new SpendRead({ scope, period }), reads)

    // The leases of this instance's reservations, renewed well before they lapse.
    const renew = Effect.suspend(() => {
      if (held.size === 0) return Effect.void
      const ids = [...held]
      return Effect.flatMap(
        Clock.currentTimeMillis,
        (now) =>
          bounded("a lease renewal", sql`UPDATE reservations SET expires_at = ${now + ttl} WHERE ${sql.in("id", ids)}`)
      )
    })
    yield* Effect.forkIn(
      Effect.repeat(Effect.ignore(renew), Schedule.spaced(Duration.millis(ttl / 3))),
      scope
    )

    return { budget, spend }
  })
