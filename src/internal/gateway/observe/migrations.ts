/** The request log's table (`requestLog.ts`, its statements in `sql/requests.ts`): a row per call. */
import { type Migrations, statements } from "../../sql/migrations.js"

/** Its migrations, by `<id>_<name>` (`sql/migrations.ts`). */
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
  )
} satisfies Migrations
