/**
 * The database's tables of the keys and teams made at run time (`store.ts`) and of the spend ledger of their budgets
 * (made since by the budget's own schema, `budget/migrations.ts`, on a database a library layer opens), and the spend
 * the database recorded of the budgets a store counts (`spendRecord.ts`).
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"
import type * as Budget from "../../../Budget.js"
import { periodKey } from "../../budget/window.js"
import { type Migrations, statements } from "../../persistence/migrations.js"

// A budget period as the keys and teams tables hold it (`store.ts`): `month`, or a duration's text such as
// `1 day`, as the admin API took it.
const storedPeriodKey = (text: string): string => periodKey(text as Budget.Period)

const hour = 3_600_000
const day = 24 * hour

// The longest period whose windows `start` begins: a UTC month, a day, else an hour.
const alignedPeriod = (start: number): string => {
  const date = new Date(start)
  if (date.getTime() === Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1)) return "month"
  return String(start % day === 0 ? day : hour)
}

// The names of a table's columns, as the database describes them.
function columnsOf(sql: SqlClient.SqlClient, table: string) {
  return Effect.map(
    sql.onDialectOrElse({
      pg: () =>
        sql<{ readonly name: string }>`SELECT column_name AS name FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = ${table}`,
      orElse: () => sql<{ readonly name: string }>`SELECT name FROM pragma_table_info(${table})`
    }),
    (rows) => rows.map((row) => row.name)
  )
}

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
  // Teams and the keys made at run time, and the spend ledger their budgets are checked against: a window's spend per
  // scope (`key:<id>`, `team:<id>`) and the reservations of calls in flight, each lapsing at its `expires_at` unless
  // its call renews it. The ledger's tables are left as they are where the budget's own schema made them first (a
  // library layer's database the gateway opens later).
  "1_keys_and_spend": statements(
    `CREATE TABLE teams (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      budget_limit DOUBLE PRECISION,
      budget_period TEXT,
      metadata TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`,
    `CREATE TABLE keys (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL UNIQUE,
      sha256 TEXT NOT NULL UNIQUE,
      previous_sha256 TEXT,
      previous_valid_until BIGINT,
      team_id TEXT REFERENCES teams (id),
      models TEXT,
      budget_limit DOUBLE PRECISION,
      budget_period TEXT,
      rate_limit_capacity DOUBLE PRECISION,
      rate_limit_refill_rate DOUBLE PRECISION,
      expires_at BIGINT,
      metadata TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      revoked_at BIGINT
    )`,
    `CREATE TABLE IF NOT EXISTS spend (
      scope TEXT NOT NULL,
      window_start BIGINT NOT NULL,
      spent DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (scope, window_start)
    )`,
    `CREATE TABLE IF NOT EXISTS reservations (
      id TEXT NOT NULL,
      scope TEXT NOT NULL,
      estimate DOUBLE PRECISION NOT NULL,
      expires_at BIGINT NOT NULL,
      PRIMARY KEY (id, scope)
    )`,
    `CREATE INDEX IF NOT EXISTS reservations_by_scope ON reservations (scope, expires_at)`
  ),
  // The database's identity, a random id written once, and the spend it has recorded of the budgets a store counts
  // (`spendRecord.ts`): a window's total per counter, from which the store's counters are rebuilt.
  "3_spend_record": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.andThen(
      statements(
        `CREATE TABLE database_identity (
          one INTEGER PRIMARY KEY CHECK (one = 1),
          id TEXT NOT NULL
        )`,
        `CREATE TABLE recorded_spend (
          counter TEXT NOT NULL,
          window_start BIGINT NOT NULL,
          spent DOUBLE PRECISION NOT NULL,
          PRIMARY KEY (counter, window_start)
        )`
      ),
      Effect.suspend(() => sql`INSERT INTO database_identity (one, id) VALUES (1, ${randomUUID()})`)
    )),
  // The spend of a window keyed by its period too: an hour's and a day's window of one scope starting at one instant
  // were one row. Each row gets its scope's period where the database knows it, else the longest its start begins (a
  // UTC month, a day, an hour): provider.json keys' budgets are not in the database (docs/store.md). A database whose
  // spend the budget's own schema made is keyed by period already.
  "4_spend_by_period": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.gen(function*() {
      if ((yield* columnsOf(sql, "spend")).includes("period")) return
      yield* sql.unsafe(`CREATE TABLE spend_by_period (
        scope TEXT NOT NULL,
        period TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        spent DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scope, period, window_start)
      )`)
      const known = new Map<string, string>()
      for (const [table, prefix] of [["keys", "key:"], ["teams", "team:"]] as const) {
        const rows = yield* sql.unsafe<{ readonly id: unknown; readonly budget_period: unknown }>(
          `SELECT id, budget_period FROM ${table} WHERE budget_period IS NOT NULL`
        )
        for (const row of rows) known.set(`${prefix}${row.id}`, storedPeriodKey(String(row.budget_period)))
      }
      const rows = yield* sql.unsafe<
        { readonly scope: unknown; readonly window_start: unknown; readonly spent: unknown }
      >(
        "SELECT scope, window_start, spent FROM spend"
      )
      for (const row of rows) {
        const scope = String(row.scope)
        const start = Number(row.window_start)
        yield* sql`INSERT INTO spend_by_period (scope, period, window_start, spent)
          VALUES (${scope}, ${known.get(scope) ?? alignedPeriod(start)}, ${start}, ${Number(row.spent)})`
      }
      yield* sql.unsafe("DROP TABLE spend")
      yield* sql.unsafe("ALTER TABLE spend_by_period RENAME TO spend")
    })),
  // Every key a rotation replaced while its grace period lasts, as JSON (`[{"sha256", "until"}]`), so a second
  // rotation keeps the first one's grace; a row without it reads its one `previous_sha256` (`keys/store.ts`).
  "6_previous_keys": statements("ALTER TABLE keys ADD COLUMN previous_keys TEXT"),
  // The MCP tools a key and a team may use (docs/mcp.md): a JSON list of qualified names and globs; NULL, none.
  "7_key_tools": statements(
    "ALTER TABLE keys ADD COLUMN tools TEXT",
    "ALTER TABLE teams ADD COLUMN tools TEXT"
  ),
  // The guardrails a key's and a team's calls run (docs/guardrails.md): a JSON list of names of provider.json's
  // `guardrails`; NULL, none. A column of its own: `metadata` is the caller's, and `tools` a list read as one.
  "11_guardrails": statements(
    "ALTER TABLE keys ADD COLUMN guardrails TEXT",
    "ALTER TABLE teams ADD COLUMN guardrails TEXT"
  )
} satisfies Migrations
