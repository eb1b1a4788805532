/**
 * The gateway database's schema, as numbered migrations (`<id>_<name>`), each run once, in order, at start
 * (`database.ts`). The same statements serve SQLite and Postgres: times are epoch milliseconds in `BIGINT` columns
 * (Postgres reads them back as strings, SQLite as numbers: read them with `Number`), dollars are `DOUBLE PRECISION`,
 * lists and records are JSON in `TEXT`. A released migration is never edited: a change is a new one.
 */
import * as Effect from "effect/Effect"
import * as Migrator from "effect/sql/Migrator"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { randomUUID } from "node:crypto"
import type * as Budget from "../../Budget.js"
import { periodKey } from "../budget/window.js"
import { genesis } from "../gateway/audit/chain.js"
import { isContention, retryContended } from "../persistence/sql.js"

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
    )),
  // The spend of a window keyed by its period too: an hour's and a day's window of one scope that start at the same
  // instant were one row. Every row is kept, given its scope's period where the database knows it (a key's or a
  // team's budget), else the longest period its start is the start of (a UTC month, a day, an hour): provider.json
  // keys' budgets are not in the database (docs/store.md).
  "4_spend_by_period": Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.gen(function*() {
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
  // Every key a rotation replaced while its grace period lasts, as JSON (`[{"sha256", "until"}]`), so a second
  // rotation keeps the first one's grace; a row without it reads its one `previous_sha256` (`keys/store.ts`).
  "6_previous_keys": statements("ALTER TABLE keys ADD COLUMN previous_keys TEXT"),
  // The MCP tools a key and a team may use (docs/mcp.md): a JSON list of qualified names and globs; NULL, none.
  "7_key_tools": statements(
    "ALTER TABLE keys ADD COLUMN tools TEXT",
    "ALTER TABLE teams ADD COLUMN tools TEXT"
  ),
  // An MCP tool call's row (docs/mcp.md): its server, its tool's own name and its arguments' SHA-256, never them.
  "8_mcp_calls": statements(
    "ALTER TABLE requests ADD COLUMN mcp_server TEXT",
    "ALTER TABLE requests ADD COLUMN mcp_tool TEXT",
    "ALTER TABLE requests ADD COLUMN arguments_digest TEXT"
  ),
  // The MCP tools' pins (docs/mcp.md): each upstream tool's trusted definition and its digest, and the definition held
  // back since it changed, if any, until an admin approves it.
  "9_tool_pins": statements(
    `CREATE TABLE tool_pins (
      server TEXT NOT NULL,
      tool TEXT NOT NULL,
      digest TEXT NOT NULL,
      definition TEXT NOT NULL,
      pinned_at BIGINT NOT NULL,
      held_digest TEXT,
      held_definition TEXT,
      held_at BIGINT,
      PRIMARY KEY (server, tool)
    )`
  ),
  // The MCP sessions the gateway started (docs/mcp.md): what any instance needs to answer one, a client's
  // `initialize` parameters (never a credential), and when it started, so that old ones are forgotten.
  "10_mcp_sessions": statements(
    `CREATE TABLE mcp_sessions (
      id TEXT PRIMARY KEY,
      path TEXT NOT NULL,
      caller TEXT,
      initialize TEXT NOT NULL,
      started_at BIGINT NOT NULL
    )`,
    "CREATE INDEX mcp_sessions_by_start ON mcp_sessions (started_at)"
  ),
  // The guardrails a key's and a team's calls run (docs/guardrails.md): a JSON list of names of provider.json's
  // `guardrails`; NULL, none. A column of its own: `metadata` is the caller's, and `tools` a list read as one.
  "11_guardrails": statements(
    "ALTER TABLE keys ADD COLUMN guardrails TEXT",
    "ALTER TABLE teams ADD COLUMN guardrails TEXT"
  ),
  // The admin audit log (docs/identity.md): rows only ever appended, each chained by digest to the one before
  // (`gateway/audit/chain.ts`), and the chain's head, whose row every append updates first, so that appends from
  // several instances queue on its lock and form one chain.
  "12_admin_audit": statements(
    `CREATE TABLE admin_audit (
      seq BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      object TEXT,
      before_value TEXT,
      after_value TEXT,
      outcome TEXT NOT NULL,
      status INTEGER NOT NULL,
      code TEXT,
      origin TEXT,
      digest TEXT NOT NULL
    )`,
    "CREATE INDEX admin_audit_by_at ON admin_audit (at)",
    `CREATE TABLE admin_audit_head (
      id INTEGER PRIMARY KEY,
      seq BIGINT NOT NULL,
      digest TEXT NOT NULL
    )`,
    `INSERT INTO admin_audit_head (id, seq, digest) VALUES (1, 0, '${genesis}')`
  ),
  // Roles granted to people through the admin API (docs/identity.md): a person (their user claim) and one role each.
  "13_role_grants": statements(
    `CREATE TABLE role_grants (
      id TEXT PRIMARY KEY,
      subject TEXT NOT NULL,
      role TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      created_by TEXT NOT NULL,
      UNIQUE (subject, role)
    )`
  ),
  // The dashboard's sessions and the sign-ins under way (docs/identity.md), so that every instance answers a session
  // made on another: each kept under the digest of its id (or its sign-in's state), never the cookie's value; a
  // session's person, its end, and the issuer's ID token sealed under the session's id.
  "14_admin_sessions": statements(
    `CREATE TABLE admin_sessions (
      digest TEXT PRIMARY KEY,
      subject TEXT NOT NULL,
      groups_json TEXT NOT NULL,
      id_token_sealed TEXT,
      expires_at BIGINT NOT NULL
    )`,
    "CREATE INDEX admin_sessions_by_end ON admin_sessions (expires_at)",
    `CREATE TABLE admin_sign_ins (
      digest TEXT PRIMARY KEY,
      code_verifier TEXT NOT NULL,
      nonce TEXT NOT NULL,
      redirect_uri TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    )`,
    "CREATE INDEX admin_sign_ins_by_end ON admin_sign_ins (expires_at)"
  ),
  // Token buckets that every instance on the database shares (`rateLimiter/sql.ts`): a bucket's level and when it was
  // read, kept only while it is not full (`full_at`: when it will be, after which it is swept); and the refusals of an
  // address that the audit log did not record (`gateway/audit/dropped.ts`), counted until one row says how many.
  "15_rate_buckets": statements(
    `CREATE TABLE rate_buckets (
      bucket_key TEXT PRIMARY KEY,
      level DOUBLE PRECISION NOT NULL,
      read_at DOUBLE PRECISION NOT NULL,
      full_at DOUBLE PRECISION NOT NULL
    )`,
    "CREATE INDEX rate_buckets_by_full ON rate_buckets (full_at)",
    `CREATE TABLE audit_refusals_dropped (
      address TEXT PRIMARY KEY,
      dropped BIGINT NOT NULL,
      first_at BIGINT NOT NULL,
      last_at BIGINT NOT NULL,
      claimed_at BIGINT NOT NULL
    )`
  ),
  // What each MCP session subscribed to (docs/mcp.md): the URI it subscribed by, so that any instance that answers the
  // session subscribes for it. A session's rows go when it ends (its client deletes it) or is forgotten.
  "16_mcp_subscriptions": statements(
    `CREATE TABLE mcp_subscriptions (
      session TEXT NOT NULL,
      uri TEXT NOT NULL,
      PRIMARY KEY (session, uri)
    )`
  ),
  // Sign-on and the audit log made safer (docs/identity.md): a dashboard session keeps its access and refresh tokens
  // (sealed, revoked at sign-out) in place of its ID token, which no longer leaves the gateway; the access tokens of
  // sessions signed out, refused until their end; the audit chain's base, the row pruned last (by retention), which
  // the chain left in the table follows; and the per-address counts of refusals, now one count of all addresses.
  "17_sign_out_and_retention": statements(
    "ALTER TABLE admin_sessions DROP COLUMN id_token_sealed",
    "ALTER TABLE admin_sessions ADD COLUMN tokens_sealed TEXT",
    `CREATE TABLE admin_signed_out_tokens (
      digest TEXT PRIMARY KEY,
      expires_at BIGINT NOT NULL
    )`,
    "CREATE INDEX admin_signed_out_tokens_by_end ON admin_signed_out_tokens (expires_at)",
    "ALTER TABLE admin_audit_head ADD COLUMN base_seq BIGINT NOT NULL DEFAULT 0",
    `ALTER TABLE admin_audit_head ADD COLUMN base_digest TEXT NOT NULL DEFAULT '${genesis}'`,
    "DELETE FROM audit_refusals_dropped"
  ),
  // What the provider's prompt cache saved each call, in US dollars (negative where a write's premium was more than the
  // reads saved), and the cache writes of it that live an hour.
  "18_cache_savings": statements(
    "ALTER TABLE requests ADD COLUMN cache_savings DOUBLE PRECISION",
    "ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER"
  ),
  // The MCP sessions' bounds (docs/mcp.md): when a request last named each (the idlest is let go of first), and the
  // bytes of its record, counted per key and in all; by key and use, for a key's count and its idlest.
  "19_mcp_session_bounds": statements(
    "ALTER TABLE mcp_sessions ADD COLUMN used_at BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE mcp_sessions ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX mcp_sessions_by_caller ON mcp_sessions (caller, used_at)",
    "CREATE INDEX mcp_sessions_by_use ON mcp_sessions (used_at)"
  )
}

// A budget period as the keys and teams tables hold it (`keys/store.ts`): `month`, or a duration's text such as
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

/** The newest migration's id: a database whose schema is newer was made by a newer version of the gateway. */
export const latest = Math.max(...Object.keys(migrations).map((name) => Number(name.split("_")[0])))

/**
 * Whether a migration lost the race for a SQLite file's write lock to another process starting on it: SQLite answers
 * at once that the file is busy (`sqlite.ts` does not wait for a lock), or a transaction that read the schema before
 * the other wrote it fails, and it is run again, finding what the other wrote. On Postgres the `Migrator` takes a
 * table lock first, so a competitor waits instead.
 */
function contended(error: Migrator.MigrationError | SqlError): boolean {
  return isContention(error._tag === "SqlError" ? error : error.cause)
}

/** `sql`'s schema brought up to this version's: each migration not yet run there, in order, once. */
export const migrate = (sql: SqlClient.SqlClient): Effect.Effect<void, Migrator.MigrationError | SqlError> =>
  retryContended(
    Migrator.make({})({ loader: Migrator.fromRecord(migrations) }).pipe(
      Effect.provideService(SqlClient.SqlClient, sql),
      Effect.asVoid
    ),
    contended
  )
