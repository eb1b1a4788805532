/**
 * A SQL client on a database that takes every statement and never answers, as a database hung under a lock or behind
 * a dead connection does: what a store's bound on its steps is tested against. It counts the statements it was sent,
 * so a test can tell a step was asked before its bound passed.
 */
import * as Effect from "effect/Effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlConnection from "effect/sql/SqlConnection"
import * as Statement from "effect/sql/Statement"
import * as Stream from "effect/Stream"

export interface SilentDatabase {
  readonly sql: SqlClient.SqlClient
  /** The statements sent so far (a transaction's `BEGIN` among them). */
  readonly sent: () => number
}

export const silentDatabase: Effect.Effect<SilentDatabase> = Effect.gen(function*() {
  let sent = 0
  function silent(): Effect.Effect<never> {
    return Effect.suspend(() => {
      sent++
      return Effect.never
    })
  }
  const connection: SqlConnection.Connection = {
    execute: silent,
    executeRaw: silent,
    executeValues: silent,
    executeValuesUnprepared: silent,
    executeUnprepared: silent,
    executeStream: () => Stream.fromEffect(silent())
  }
  const sql = yield* SqlClient.make({
    acquirer: Effect.succeed(connection),
    compiler: Statement.makeCompilerSqlite(),
    driver: "sqlite",
    spanAttributes: []
  }).pipe(Effect.provide(Reactivity.layer))
  return { sql, sent: () => sent }
})
