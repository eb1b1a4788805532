/**
 * The SQL backend of `Budget.BudgetStore` (the gateway's ledger and `Budget.layerStoreSql`), in the budget's own schema
 * (`migrations.ts`), so a restart of an instance or of its database gives nothing back. `spend` holds a window's spend
 * per counter, keyed by the window's period and start (an hour's and a day's window may start at the same instant);
 * `reservations` the estimates of calls in flight, a row per reservation and counter.
 *
 * ## Concurrency
 *
 * `reserve` is one transaction that locks each counter's window row in a fixed (sorted) order (`SELECT ... FOR UPDATE`
 * on Postgres; on SQLite the first write takes the database's only write lock), so every reservation in a counter is
 * serialised on that row across instances; under the lock it reads the spend and reservations (a Postgres `READ
 * COMMITTED` statement sees the competing checks committed before it), refuses or reserves, and commits. A `settle`
 * deletes the reservations and adds the cost in one transaction, so a check sees both or neither (an uncommitted delete
 * still counts the estimate: conservative). A deadlock or a serialisation failure rolls back and is retried.
 *
 * ## Reservations of a vanished instance
 *
 * A call's reservation is a lease its instance renews while the call runs; one whose instance died lapses and is
 * charged nothing, as in the Redis store: what the call cost is unknown, and its worst case would count far more than
 * an agent's real call. The budget then shows less than the provider's bill by that call, as the request log does. A
 * hold (`Budget.hold`) is no lease: it expires at its own `until`, so any instance settles it, and one never settled
 * lapses into its estimate (a batch whose settle never came was run and billed).
 *
 * ## The database away
 *
 * Each transaction is bounded and retried on contention (`persistence/sql.ts`); a reservation that cannot be made fails
 * with `StoreUnavailableError` (a budget's check then with `NoCapacityError`, a 503 at the gateway). A settle is
 * retried in the background until the database takes it, and at close for `closeTimeout`; it adds the cost only with
 * the reservation it deletes, so a retry of a settle acknowledged late counts once, and one that never lands leaves the
 * reservation to lapse.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as SqlClient from "effect/sql/SqlClient"
import type * as Budget from "../../Budget.js"
import type { StoreUnavailableError } from "../../Store.js"
import { Numeric, tableRow } from "../persistence/columns.js"
import * as Renewal from "../persistence/leases.js"
import { migrate } from "../persistence/migrations.js"
import { type Bounds, closeTimeout, defaultTimeout, rows, step, transaction } from "../persistence/sql.js"
import { unavailable } from "../persistence/unavailable.js"
import { schema } from "./migrations.js"
import { refuses, windowAt } from "./window.js"

/** A read of a counter's spend in its window that holds now. */
class SpendRead
  extends Request.Class<{ readonly counter: Budget.Counter }, Budget.CounterSpend, StoreUnavailableError>
{}

// The columns each statement reads, and no more.
const WindowSpent = tableRow("spend", {
  scope: Schema.String,
  period: Schema.String,
  window_start: Numeric,
  spent: Numeric
})
const ScopeHeld = tableRow("reservations", { scope: Schema.String, live: Numeric, lapsed: Numeric })
const Lapsed = tableRow("reservations", { lapse: Numeric })
const Gone = tableRow("reservations", { scope: Schema.String })

const byName = <A extends Budget.Counter>(a: A, b: A) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0

/**
 * Each counter's spend and reservations in its window that holds `now`, a reservation lapsed by then as spent: two
 * statements over all of them, whose window rows `locked` takes (`FOR UPDATE` on Postgres) for the transaction.
 */
function countsOf(sql: SqlClient.SqlClient) {
  return Effect.fnUntraced(function*(counters: ReadonlyArray<Budget.Counter>, now: number, locked = false) {
    const windows = counters.map((counter) => windowAt(counter.period, now))
    const names = [...new Set(counters.map((counter) => counter.name))]
    const lock = sql.literal(locked ? sql.onDialectOrElse({ pg: () => "FOR UPDATE", orElse: () => "" }) : "")
    const spent = yield* rows(
      WindowSpent,
      sql`SELECT scope, period, window_start, spent FROM spend
        WHERE ${sql.in("scope", names)} AND window_start >= ${Math.min(...windows.map(({ start }) => start))} ${lock}`
    )
    const held = yield* rows(
      ScopeHeld,
      sql`SELECT scope,
        COALESCE(SUM(CASE WHEN expires_at > ${now} THEN estimate ELSE 0 END), 0) AS live,
        COALESCE(SUM(CASE WHEN expires_at <= ${now} THEN lapse ELSE 0 END), 0) AS lapsed
        FROM reservations WHERE ${sql.in("scope", names)} GROUP BY scope`
    )
    const windowRows = new Map(spent.map((row) => [`${row.scope}@${row.period}@${row.window_start}`, row]))
    const heldRows = new Map(held.map((row) => [row.scope, row]))
    return counters.map((counter, i): Budget.CounterSpend => {
      const window = windows[i]!
      const reservations = heldRows.get(counter.name)
      return {
        spent: (windowRows.get(`${counter.name}@${window.period}@${window.start}`)?.spent ?? 0) +
          (reservations?.lapsed ?? 0),
        reserved: reservations?.live ?? 0,
        periodStart: window.start,
        periodEnd: window.end
      }
    })
  })
}

/**
 * The counter's spend in its window that holds `now`, its row made when missing and locked, its lapsed reservations
 * charged to it.
 */
function counterSpend(sql: SqlClient.SqlClient) {
  const counts = countsOf(sql)
  return Effect.fnUntraced(function*(counter: Budget.Counter, now: number) {
    const { name } = counter
    const window = windowAt(counter.period, now)
    yield* sql`INSERT INTO spend (scope, period, window_start, spent) VALUES (${name}, ${window.period},
      ${window.start}, 0) ON CONFLICT (scope, period, window_start) DO NOTHING`
    const lapsed = yield* rows(
      Lapsed,
      sql`DELETE FROM reservations WHERE scope = ${name} AND expires_at <= ${now} RETURNING lapse`
    )
    const charged = lapsed.reduce((sum, reservation) => sum + reservation.lapse, 0)
    if (charged > 0) {
      yield* sql`UPDATE spend SET spent = spent + ${charged}
        WHERE scope = ${name} AND period = ${window.period} AND window_start = ${window.start}`
    }
    return (yield* counts([counter], now, true))[0]!
  })
}

// The reads asked together (the dashboard's, a key's and its team's) are one transaction.
function spendReads(sql: SqlClient.SqlClient, bounds: Bounds) {
  const counts = countsOf(sql)
  return RequestResolver.make<SpendRead>((entries) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.match(
        transaction(sql, bounds, "a spend read", counts(entries.map((entry) => entry.request.counter), now)),
        {
          onFailure: (error) => entries.forEach((entry) => entry.completeUnsafe(Exit.fail(error))),
          onSuccess: (found) => entries.forEach((entry, i) => entry.completeUnsafe(Exit.succeed(found[i]!)))
        }
      ))
  )
}

/**
 * A `BudgetStore` over `sql`, whose budget schema is up to date (`migrations.ts`), its leases renewed and its pending
 * settles retried for the scope's life.
 */
export const make = (
  sql: SqlClient.SqlClient,
  options?: Budget.SqlStoreOptions
): Effect.Effect<Budget.BudgetStore["Service"], never, Scope.Scope> =>
  Effect.gen(function*() {
    const ttl = Duration.toMillis(options?.leaseTtl ?? Duration.seconds(30))
    const bounds: Bounds = {
      address: options?.address ?? "the SQL database",
      timeout: Duration.fromInputUnsafe(options?.statementTimeout ?? defaultTimeout)
    }
    // The leases of this instance's reservations (its calls in flight, and settles not yet written), renewed well
    // before they lapse.
    const held = yield* Renewal.renewer<void>({
      ttlMillis: ttl,
      scope: yield* Effect.scope,
      renew: (leases) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          step(
            bounds,
            "a lease renewal",
            sql`UPDATE reservations SET expires_at = ${now + ttl} WHERE ${sql.in("id", [...leases.keys()])}`
          ))
    })

    const lockedSpend = counterSpend(sql)
    const reserve = (reservation: Budget.Held): Effect.Effect<Budget.Reserved, StoreUnavailableError> => {
      const { at, counters, estimate, id } = reservation
      const ordered = counters.map((counter, index) => ({ ...counter, index })).sort(byName)
      return transaction(
        sql,
        bounds,
        "a budget check",
        Effect.gen(function*() {
          for (const counter of ordered) {
            const { periodEnd, reserved, spent } = yield* lockedSpend(counter, at)
            if (refuses(spent + reserved, estimate, counter.limit)) {
              return { _tag: "Refused", index: counter.index, committed: spent + reserved, periodEnd } as const
            }
          }
          // A hold lasts until its own instant, unrenewed, and lapses into its estimate; a call's reservation is a
          // lease this instance renews, and lapses into nothing.
          const expires = reservation.until ?? at + ttl
          const lapse = reservation.until === undefined ? 0 : estimate
          for (const counter of ordered) {
            yield* sql`INSERT INTO reservations (id, scope, estimate, lapse, expires_at)
              VALUES (${id}, ${counter.name}, ${estimate}, ${lapse}, ${expires})`
          }
          return { _tag: "Reserved" } as const
        })
      ).pipe(Effect.tap((reserved) =>
        Effect.sync(() => reserved._tag === "Reserved" && reservation.until === undefined && held.hold(id, undefined))
      ))
    }

    /** The cost in each window the call ends in, its reservations gone; nothing when they are gone already. */
    const written = (reservation: Budget.Held, cost: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        transaction(
          sql,
          bounds,
          "a budget charge",
          Effect.gen(function*() {
            const gone = yield* rows(Gone, sql`DELETE FROM reservations WHERE id = ${reservation.id} RETURNING scope`)
            const names = new Set(gone.map((row) =>
              row.scope
            ))
            for (const counter of [...reservation.counters].sort(byName)) {
              if (!names.has(counter.name) || cost === 0) continue
              const window = windowAt(counter.period, now)
              yield* sql`INSERT INTO spend (scope, period, window_start, spent)
                VALUES (${counter.name}, ${window.period}, ${window.start}, ${cost})
                ON CONFLICT (scope, period, window_start) DO UPDATE SET spent = spend.spent + ${cost}`
            }
          })
        ))

    // A settle the database did not take at once: retried, backing off, for as long as the store lives; at its
    // close, for up to `closeTimeout` (this finalizer runs before the set's, which interrupts what is left).
    const retried = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")])
    const pending = yield* FiberSet.make<void>()
    yield* Effect.addFinalizer(() =>
      FiberSet.awaitEmpty(pending).pipe(
        Effect.timeout(closeTimeout),
        Effect.catchCause(() =>
          Effect.flatMap(FiberSet.size(pending), (left) =>
            Effect.logError(
              `The database did not take ${left} budget charge(s) before shutdown; their reservations lapse ` +
                "uncharged (a hold into its estimate)."
            ))
        )
      )
    )

    const settle = (reservation: Budget.Held, cost: number): Effect.Effect<void> => {
      const write = written(reservation, cost)
      const done = Effect.sync(() => held.drop(reservation.id))
      return Effect.matchEffect(write, {
        onSuccess: () => done,
        onFailure: (error) =>
          Effect.logWarning(`The database did not take a budget charge (${error.reason}); retrying it.`).pipe(
            Effect.andThen(FiberSet.run(pending, Effect.andThen(Effect.retry(write, retried), done))),
            Effect.asVoid
          )
      })
    }

    const reads = spendReads(sql, bounds)

    const spend = (counters: ReadonlyArray<Budget.Counter>) =>
      Effect.forEach(counters, (counter) => Effect.request(new SpendRead({ counter }), reads), {
        concurrency: "unbounded"
      })

    return { reserve, settle, release: (reservation) => settle(reservation, 0), spend }
  })

/** `make` over a database it first brings up to the budget's own schema, and no other. */
export const budgetStore = (
  sql: SqlClient.SqlClient,
  options?: Budget.SqlStoreOptions
): Effect.Effect<Budget.BudgetStore["Service"], StoreUnavailableError, Scope.Scope> =>
  Effect.andThen(
    Effect.mapError(
      migrate(sql, schema),
      (error) =>
        unavailable(
          options?.address ?? "the SQL database",
          `its schema could not be brought up to date (${error.message})`
        )
    ),
    make(sql, options)
  )
