/** The database's tables of the keys and teams made at run time (`store.ts`) and the spend ledger of their budgets. */
import { type Migrations, statements } from "../../sql/migrations.js"

/** Its migrations, by `<id>_<name>` (`sql/migrations.ts`). */
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
