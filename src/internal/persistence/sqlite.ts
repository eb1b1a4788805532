/**
 * An `effect/sql` client over Node's `node:sqlite`: one connection, statements run one at a time (SQLite serialises
 * writers anyway), WAL mode so other processes' readers are not blocked, `synchronous = NORMAL`. It never waits for
 * another connection's write lock: `node:sqlite` would wait synchronously, holding the whole process beyond any bound
 * on the `Clock`; a locked file is contention (`LockTimeoutError`) at once, which `persistence/sql.ts` retries.
 * `@effect/sql-sqlite-node` is published only for Effect 4's betas (`effect/unstable/sql`, gone in 4.1); this is the
 * part of it the gateway needs, on `SqlClient.make` and `SqlClient.makeSqliteAcquirers`.
 */
import * as Effect from "effect/Effect"
import type * as Reactivity from "effect/reactivity/Reactivity"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import { classifySqliteError, SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"
import type * as NodeSqlite from "node:sqlite"
import { keptIn } from "../keptIn.js"
import { retryContended } from "./sql.js"

/**
 * `node:sqlite`, loaded without Node's one-time experimental warning, which would be a stray line among `serve`'s JSON
 * log lines on stderr. Every other warning goes through.
 */
const loadSqlite = (): typeof NodeSqlite => {
  const emit = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: Array<unknown>) => {
    const [kind] = rest
    const experimental = kind === "ExperimentalWarning" ||
      (typeof kind === "object" && kind !== null && "type" in kind && kind.type === "ExperimentalWarning")
    if (!(experimental && String(warning).includes("SQLite"))) Reflect.apply(emit, process, [warning, ...rest])
  }) as typeof process.emitWarning
  try {
    return process.getBuiltinModule("node:sqlite")
  } finally {
    process.emitWarning = emit
  }
}

/**
 * A client on the database file `filename` (made when missing), closed with the scope; another connection's write lock
 * fails a statement at once as contention. Opening a new file that other processes open too (each turning it to WAL)
 * is retried while it is locked.
 */
export const make = (
  filename: string
): Effect.Effect<SqlClient.SqlClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      retryContended(Effect.try({
        try: () => {
          // No busy timeout: SQLite answers a locked file at once instead of waiting for it on this thread.
          const opened = new (loadSqlite().DatabaseSync)(filename, { timeout: 0 })
          try {
            // Incremental auto-vacuum, so pages freed by deleted rows can be given back to the file system
            // (`Requests.reclaim`): a new file takes it at once, a file made before needs one `VACUUM` to switch.
            opened.exec("PRAGMA auto_vacuum = INCREMENTAL")
            const mode = opened.prepare("PRAGMA auto_vacuum").get() as { readonly auto_vacuum: number }
            if (mode.auto_vacuum !== 2) opened.exec("VACUUM")
            opened.exec("PRAGMA journal_mode = WAL")
            // A commit waits for no disk flush (which `node:sqlite` would wait for on the event loop, holding every
            // request): in WAL mode the file stays consistent through any crash; only a power loss or OS crash can roll
            // back the last commits (https://sqlite.org/pragma.html#pragma_synchronous).
            opened.exec("PRAGMA synchronous = NORMAL")
            opened.exec("PRAGMA foreign_keys = ON")
          } catch (cause) {
            opened.close()
            throw cause
          }
          return opened
        },
        catch: (cause) => failure(cause, `Failed to open the SQLite database ${filename}`, "open")
      })),
      (opened) => Effect.sync(() => opened.close())
    )
    // Each statement prepared once, with whether it declares columns (its kind decides that), read once rather than at
    // every step, since `columns()` describes every column anew.
    const prepared = new Map<string, Prepared>()
    const preparedOf = (statement: NodeSqlite.StatementSync): Prepared => ({
      statement,
      returns: statement.columns().length > 0
    })
    // Rows as records, or (`arrays`) as arrays of values, as the step's exit.
    const run = <Row>({ returns, statement }: Prepared, params: ReadonlyArray<unknown>, arrays: boolean) => {
      try {
        statement.setReturnArrays(arrays)
        // Stepped to its end whatever it is: a statement declaring no columns may still step more than once
        // (`PRAGMA incremental_vacuum` frees a page a step).
        const rows = statement.all(...params as Array<NodeSqlite.SQLInputValue>) as unknown as ReadonlyArray<Row>
        return Effect.succeed(returns ? rows : [])
      } catch (cause) {
        return Effect.fail(failure(cause, "Failed to execute statement", "execute"))
      }
    }
    // `sql` prepared once, then run: one step.
    const executed = <Row>(sql: string, params: ReadonlyArray<unknown>, arrays: boolean) =>
      Effect.suspend(() => {
        try {
          return run<Row>(keptIn(prepared, sql, () => preparedOf(db.prepare(sql))), params, arrays)
        } catch (cause) {
          return Effect.fail(failure(cause, "Failed to prepare statement", "prepare"))
        }
      })
    const connection: SqlConnection.Connection = {
      execute: (sql, params, transformRows) => {
        const rows = executed<object>(sql, params, false)
        return transformRows === undefined ? rows : Effect.map(rows, transformRows)
      },
      executeRaw: (sql, params) => executed<object>(sql, params, false),
      executeValues: (sql, params) => executed<ReadonlyArray<unknown>>(sql, params, true),
      executeValuesUnprepared: (sql, params) =>
        Effect.suspend(() => run<ReadonlyArray<unknown>>(preparedOf(db.prepare(sql)), params, true)),
      executeUnprepared: (sql, params, transformRows) => {
        const rows = Effect.suspend(() => run<object>(preparedOf(db.prepare(sql)), params, false))
        return transformRows === undefined ? rows : Effect.map(rows, transformRows)
      },
      executeStream: (sql, params, transformRows) =>
        Stream.fromIterableEffect(connection.execute(sql, params, transformRows))
    }
    const acquirers = SqlClient.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore: yield* Semaphore.make(1),
      isTransaction: () => db.isTransaction
    })
    return yield* SqlClient.make({
      ...acquirers,
      compiler: Statement.makeCompilerSqlite(),
      driver: "sqlite",
      spanAttributes: [["db.system.name", "sqlite"]]
    })
  })

// A statement prepared, and whether it declares columns (a statement declaring none gives no rows).
interface Prepared {
  readonly statement: NodeSqlite.StatementSync
  readonly returns: boolean
}

const failure = (cause: unknown, message: string, operation: string) => {
  // `node:sqlite` gives SQLite's extended result code as `errcode` (its `code` is Node's own `ERR_SQLITE_ERROR`);
  // effect's classifier reads it as `errno`, so a unique violation or a busy database is told apart.
  if (typeof cause === "object" && cause !== null && "errcode" in cause && !("errno" in cause)) {
    Object.assign(cause, { errno: cause.errcode })
  }
  return new SqlError({ reason: classifySqliteError(cause, { message, operation }) })
}
