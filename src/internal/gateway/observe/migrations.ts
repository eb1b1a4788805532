/** The request log's table (`requestLog.ts`, its statements in `requestTable.ts`): a row per call. */
import * as Effect from "effect/Effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type Migrations, statements } from "../../persistence/migrations.js"
import * as Partitions from "./requestPartitions.js"
import { sizeExpression } from "./requestTable.js"

// `requests` partitioned by day, of the columns the migrations up to `18_cache_savings` made.
const partitioned = `CREATE TABLE requests (
  id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  at BIGINT NOT NULL,
  key_id TEXT,
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
  cache_write_1h_tokens INTEGER,
  cost DOUBLE PRECISION,
  cache_savings DOUBLE PRECISION,
  latency_ms DOUBLE PRECISION NOT NULL,
  first_token_ms DOUBLE PRECISION,
  error TEXT,
  payload TEXT,
  mcp_server TEXT,
  mcp_tool TEXT,
  arguments_digest TEXT
) PARTITION BY RANGE (at)`

// Their names: each column's line's first word.
const columns = Array.from(partitioned.matchAll(/^ {2}(\w+) /gm), ([, name]) => name).join(", ")

/**
 * On Postgres, `requests` made a table partitioned by day (`requestPartitions.ts`) and its rows copied in, the indexes
 * built after the copy (faster than kept up row by row); its time grows with the rows (docs/store.md). It runs in the
 * migration's transaction, so an instance that stops midway leaves the table as it was, and the others starting
 * meanwhile wait for it.
 */
const partitionRequests = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    yield* sql`ALTER TABLE requests RENAME TO requests_unpartitioned`
    yield* sql`ALTER INDEX requests_pkey RENAME TO requests_unpartitioned_pkey`
    yield* sql`DROP INDEX requests_by_time, requests_by_key_id, requests_by_team, requests_by_model`
    yield* sql.unsafe(partitioned)
    yield* sql`CREATE TABLE request_log_days (
      day BIGINT PRIMARY KEY,
      row_count BIGINT NOT NULL,
      byte_count BIGINT NOT NULL
    )`
    // A row's day: its time, to the day.
    const day = sql.literal(`(at / ${Partitions.dayMillis}) * ${Partitions.dayMillis}`)
    const days = yield* sql<{ readonly day: unknown }>`SELECT DISTINCT ${day} AS day FROM requests_unpartitioned`
    yield* Partitions.make(sql, days.map((one) => Number(one.day)))
    yield* sql`INSERT INTO requests (${sql.literal(columns)})
      SELECT ${sql.literal(columns)} FROM requests_unpartitioned`
    yield* sql`DROP TABLE requests_unpartitioned`
    // The primary key holds the partition's key, as a partitioned table's must: `(at, id)`, the log's order.
    yield* sql`ALTER TABLE requests ADD PRIMARY KEY (at, id)`
    yield* sql`CREATE INDEX requests_by_key_id ON requests (key_id, at)`
    yield* sql`CREATE INDEX requests_by_team ON requests (team_id, at)`
    yield* sql`CREATE INDEX requests_by_model ON requests (model, at)`
    yield* sql`UPDATE request_log_days SET row_count = counted.row_count, byte_count = counted.byte_count
      FROM (SELECT ${day} AS day, COUNT(*) AS row_count, SUM(${sql.literal(sizeExpression)}) AS byte_count
        FROM requests GROUP BY 1) AS counted WHERE request_log_days.day = counted.day`
  })

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
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
  // The request log's rows owned by their key's id, not its name: a name can be given up and taken again, an id is
  // never reused. A row written before is given the id of the key made at run time of its name, else of provider.json's
  // key of its name (`config:<name>`).
  "5_request_log_key_id": statements(
    "ALTER TABLE requests ADD COLUMN key_id TEXT",
    `UPDATE requests SET key_id = (SELECT keys.id FROM keys WHERE keys.name = requests.key_name)
      WHERE key_name IS NOT NULL`,
    "UPDATE requests SET key_id = 'config:' || key_name WHERE key_id IS NULL AND key_name IS NOT NULL",
    "DROP INDEX requests_by_key",
    "CREATE INDEX requests_by_key_id ON requests (key_id, at)"
  ),
  // An MCP tool call's row (docs/mcp.md): its server, its tool's own name and its arguments' SHA-256, never them.
  "8_mcp_calls": statements(
    "ALTER TABLE requests ADD COLUMN mcp_server TEXT",
    "ALTER TABLE requests ADD COLUMN mcp_tool TEXT",
    "ALTER TABLE requests ADD COLUMN arguments_digest TEXT"
  ),
  // What the provider's prompt cache saved each call, in US dollars (negative where a write's premium was more than the
  // reads saved), and the cache writes of it that live an hour.
  "18_cache_savings": statements(
    "ALTER TABLE requests ADD COLUMN cache_savings DOUBLE PRECISION",
    "ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER"
  ),
  // On Postgres, the log partitioned by day, so retention drops a day's partition instead of deleting its rows (whose
  // dead tuples a busy table's vacuum does not keep up with). SQLite's table stays as it is.
  "27_request_log_partitions": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.onDialectOrElse({
      pg: () => partitionRequests(sql),
      orElse: () => Effect.void
    }))
} satisfies Migrations
