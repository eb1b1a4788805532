/**
 * A SQL store's step, shared by every SQL backend: a statement or transaction bounded by a timeout on the `Clock`,
 * retried within that bound when refused for contention (deadlock, serialisation failure, lock wait; on SQLite any
 * held lock, since `sqlite.ts` does not wait), failures reported as `StoreUnavailableError` naming the database:
 * a refused statement, or a row read back in a shape its schema (`columns.ts`) refuses, named by its column.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as SchemaIssue from "effect/SchemaIssue"
import type * as SqlClient from "effect/sql/SqlClient"
import { isSqlError, type SqlError } from "effect/sql/SqlError"
import * as SqlSchema from "effect/sql/SqlSchema"
import { type Bound, bounded, timeoutFail } from "../time/watchdog.js"
import type { StoreUnavailableError } from "./unavailable.js"
import { unavailable } from "./unavailable.js"

/** Where a SQL store is and how long one of its steps may take. */
export interface Bounds {
  /** The database as `StoreUnavailableError.address` names it. */
  readonly address: string
  readonly timeout: Duration.Duration
}

/** How long a step may take when its store is not told. */
export const defaultTimeout = Duration.seconds(5)

/**
 * How long a SQL store's close waits for writes it still holds (settles retried, log rows queued): a bound on
 * shutdown; each attempt those writes make is still a step with its own timeout.
 */
export const closeTimeout = Duration.seconds(15)

/**
 * Whether a statement was refused for contention, and so rolled back whole: another attempt, a moment later, orders
 * itself after its competitor. SQLite's busy and locked answers are `LockTimeoutError`s (effect's classifier).
 */
export function isContention(error: unknown): boolean {
  return isSqlError(error) &&
    (error.reason._tag === "DeadlockError" || error.reason._tag === "SerializationError" ||
      error.reason._tag === "LockTimeoutError")
}

/** The wait before the first retry of an attempt refused for contention; each next one waits twice as long. */
export const contentionBackoff = Duration.millis(10)

/** The longest wait between two attempts refused for contention: a lock let go is found within it. */
export const contentionBackoffCap = Duration.millis(200)

/**
 * The waits between attempts refused for contention, on the `Clock`, without end: the step's bound (or a caller's
 * count) ends them.
 */
export const contentionWait: Schedule.Schedule<Duration.Duration> = Schedule.min([
  Schedule.exponential(contentionBackoff),
  Schedule.spaced(contentionBackoffCap)
])

/**
 * `effect` retried on contention at jittered waits (processes starting together do not all retry at once), a bounded
 * number of times: for what no step's bound ends, a database's opening and migration as its processes start.
 */
export function retryContended<A, E>(
  effect: Effect.Effect<A, E>,
  contended: (error: E) => boolean = isContention
): Effect.Effect<A, E> {
  return Effect.retry(effect, { while: contended, schedule: Schedule.jittered(contentionWait), times: 100 })
}

// Retried at `contentionWait`'s waits while refused for contention. Only a refused first attempt starts `Effect.retry`
// (its schedule costs a step that succeeds at once, nearly every one, more than the rest), with that refusal as the
// retry's own first attempt, so the waits are as if the retry had run from the start.
function retriedOnContention<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
  return Effect.catchIf(effect, isContention, (refused) => {
    let first = true
    return Effect.retry(
      Effect.suspend(() => {
        if (!first) return effect
        first = false
        return Effect.fail(refused)
      }),
      { schedule: contentionWait, while: isContention }
    )
  })
}

// The table a row read back unlike its schema belongs to: the identifier `columns.ts`' `tableRow` gives its schema.
function tableOf(issue: SchemaIssue.Issue): string | undefined {
  const table = "ast" in issue ? issue.ast.annotations?.identifier : undefined
  if (typeof table === "string") return table
  if ("issue" in issue) return tableOf(issue.issue)
  return "issues" in issue && issue.issues.length > 0 ? tableOf(issue.issues[0]) : undefined
}

/**
 * What a step failed with, as the store reports it: a `SqlError`, or a row read back unlike its schema (`SqlSchema`'s
 * `SchemaError`, naming the table and the column), as `StoreUnavailableError`; any other failure as it is.
 */
function reported<E>(
  bounds: Bounds,
  what: string,
  error: E
): Exclude<E, SqlError | Schema.SchemaError> | StoreUnavailableError {
  if (isSqlError(error)) return unavailable(bounds.address, what, error.message)
  if (Schema.isSchemaError(error)) {
    const table = tableOf(error.issue)
    const issue = error.message.replace(/\n\s*/g, " ")
    return unavailable(bounds.address, what, `a row of ${table ?? "its table"} unlike its columns: ${issue}`)
  }
  return error as Exclude<E, SqlError | Schema.SchemaError>
}

/** What a step's work is once retried on contention, its failures as the store reports them (`reported`). */
type Reported<E> = Exclude<E, SqlError | Schema.SchemaError> | StoreUnavailableError

// A step's work retried on contention, and what its bound fails it with.
function attempted<A, E>(bounds: Bounds, what: string, effect: Effect.Effect<A, E>) {
  return {
    work: Effect.mapError(retriedOnContention(effect), (error): Reported<E> => reported(bounds, what, error)),
    passed: () => unavailable(bounds.address, what, `no answer within ${Duration.format(bounds.timeout)}`)
  }
}

// A transaction interrupted at its bound rolls back on its connection; a database that does not answer would
// otherwise hold the step in that rollback too.
const unawaited = { awaitInterruption: false } as const

/**
 * `effect` (a statement or a `transaction`) retried on contention until `bounds.timeout`, its `SqlError`s and read-back
 * `SchemaError`s as `StoreUnavailableError` (`what` names the step); a failure the caller made of a `SqlError` it
 * expects (a name already taken) is left as it is.
 */
export function step<A, E>(bounds: Bounds, what: string, effect: Effect.Effect<A, E>): Effect.Effect<A, Reported<E>> {
  const { passed, work } = attempted(bounds, what, effect)
  return timeoutFail(work, bounds.timeout, passed, unawaited)
}

/**
 * The rows `statement` gives, each decoded as `row` (`columns.ts`' schemas); in a `step`, a row of another shape is
 * its `StoreUnavailableError`, naming the column.
 */
export function rows<S extends Schema.Top>(row: S, statement: Effect.Effect<ReadonlyArray<unknown>, SqlError>) {
  return SqlSchema.findAll({ Request: Schema.Void, Result: row, execute: () => statement })(undefined)
}

/** `effect` as one transaction of `sql`, a `step`. */
export function transaction<A, E>(
  sql: SqlClient.SqlClient,
  bounds: Bounds,
  what: string,
  effect: Effect.Effect<A, E>
): Effect.Effect<A, Reported<E>> {
  return step(bounds, what, sql.withTransaction(effect))
}

// A long transaction's bound: the step's timeout after the database's last answer, up to its end at the latest.
class SinceAnswered implements Bound<"timeout"> {
  constructor(private at: number, readonly end: number) {}
  answered(at: number): void {
    this.at = Math.min(Math.max(this.at, at), this.end)
  }
  check(now: number): "timeout" | number {
    return now >= this.at ? "timeout" : this.at
  }
}

/** A statement of a `longTransaction`: its answer moves the transaction's bound. */
export type Statement = <A, E>(statement: Effect.Effect<A, E>) => Effect.Effect<A, E>

/**
 * `effect` as one transaction of `sql` of up to `statements` statements (a large write: a row for each of a batch's
 * lines), a `step` whose bound is its timeout after the database's last answer (each statement `effect` runs through
 * `statement`, or a refusal for contention) rather than after its start, and its timeout for each of its `statements`
 * at most: many statements each answered in time, on a loaded host or behind another writer's, are not a database
 * that does not answer.
 */
export function longTransaction<A, E>(
  sql: SqlClient.SqlClient,
  bounds: Bounds,
  what: string,
  statements: number,
  effect: (statement: Statement) => Effect.Effect<A, E>
): Effect.Effect<A, Reported<E>> {
  return Effect.withFiber((fiber) => {
    const clock = fiber.getRef(Clock.Clock)
    const timeout = Duration.toMillis(bounds.timeout)
    const started = clock.currentTimeMillisUnsafe()
    const bound = new SinceAnswered(started + timeout, started + timeout * Math.max(1, statements))
    const answered = Effect.sync(() => bound.answered(clock.currentTimeMillisUnsafe() + timeout))
    const statement: Statement = (effect) => Effect.tap(effect, answered)
    const { passed, work } = attempted(
      bounds,
      what,
      Effect.tapError(sql.withTransaction(effect(statement)), (error) => isContention(error) ? answered : Effect.void)
    )
    return bounded(work, bound, passed, unawaited)
  })
}

/**
 * The database a SQL store is kept in: its client, where it is and how long a step may take. Every SQL store's layer
 * needs it; the gateway gives it once, for all of them.
 */
export class Database extends Context.Service<Database, {
  readonly sql: SqlClient.SqlClient
  readonly bounds: Bounds
  /** Whether only this process reads and writes it (a database in its memory): no other writer's change to look for. */
  readonly unshared?: boolean | undefined
}>()("effect-llm-router/persistence/Database") {}

/** The `Database` with `step` and `transaction` bound to its client and bounds, what a SQL store's layer reads. */
export const steps = Effect.map(Database, ({ bounds, sql }) => ({
  sql,
  bounds,
  step: <A, E>(what: string, effect: Effect.Effect<A, E>) => step(bounds, what, effect),
  transaction: <A, E>(what: string, effect: Effect.Effect<A, E>) => transaction(sql, bounds, what, effect),
  longTransaction: <A, E>(what: string, statements: number, effect: (statement: Statement) => Effect.Effect<A, E>) =>
    longTransaction(sql, bounds, what, statements, effect)
}))

/** What `steps` gives. */
export type Steps = Effect.Success<typeof steps>
