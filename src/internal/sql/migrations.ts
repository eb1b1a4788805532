/**
 * The gateway database's schema, as numbered migrations (`<id>_<name>`), each run once, in order, at start
 * (`database.ts`). The same statements serve SQLite and Postgres: times are epoch milliseconds in `BIGINT` columns
 * (Postgres reads them back as strings, SQLite as numbers: read them with `Number`), dollars are `DOUBLE PRECISION`,
 * lists and records are JSON in `TEXT`. A released migration is never edited: a change is a new one.
 */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import { randomUUID } from "node:crypto"

const statements = (...list: ReadonlyArray<string>) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.forEach(list, (statement) => sql.unsafe(statement)))

/** Every migration, by `<id>_<name>` (`Migrator.fromRecord`). */
export const migrations = {
  // Teams and the keys made at run time, and the spend ledger their budgets are checked against: a window's spend per
  // scope (`key:<id>`, `team:<id>`) and the reservations of calls in flight, each lapsing at its `expires_at` unless
  // its call renews it.
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
    `CREATE TABLE spend (
      scope TEXT NOT NULL,
      window_start BIGINT NOT NULL,
      spent DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (scope, window_start)
    )`,
    `CREATE TABLE reservations (
      id TEXT NOT NULL,
      scope TEXT NOT NULL,
      estimate DOUBLE PRECISION NOT NULL,
      expires_at BIGINT NOT NULL,
      PRIMARY KEY (id, scope)
    )`,
    `CREATE INDEX reservations_by_scope ON reservations (scope, expires_at)`
  ),
  // The request log: a row per call, never its prompt or reply unless payloads are logged.
  "2_request_log": statements(
    `CREATE TABLE requests (
      id TEXT PRIMARY KEY,
      request_id TEXT NOT NULL,
      at BIGINT NOT NULL,
      key_name TEXT,
      team_id TEXT,
      route TEXT NOT NULL,
      model TEXT,
      deployment TEXT,
      status INTEGER NOT NULL,
      input_tokens INTEGER,
      output_tokens INTEGER,
      cached_tokens INTEGER,
      cache_write_tokens INTEGER,
      cost DOUBLE PRECISION,
      latency_ms DOUBLE PRECISION NOT NULL,
      first_token_ms DOUBLE PRECISION,
      error TEXT,
      payload TEXT
    )`,
    `CREATE INDEX requests_by_time ON requests (at, id)`,
    `CREATE INDEX requests_by_key ON requests (key_name, at)`,
    `CREATE INDEX requests_by_team ON requests (team_id, at)`,
    `CREATE INDEX requests_by_model ON requests (model, at)`
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
    ))
}

/** The newest migration's id: a database whose schema is newer was made by a newer version of the gateway. */
export const latest = Math.max(...Object.keys(migrations).map((name) => Number(name.split("_")[0])))
