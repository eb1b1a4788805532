/**
 * The database's tables of the MCP tools' pins (`pins.ts`), and of the MCP sessions (`sessions.ts`) and their
 * subscriptions (`subscriptions.ts`).
 */
import { type Migrations, statements } from "../../persistence/migrations.js"

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
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
  // What each MCP session subscribed to (docs/mcp.md): the URI it subscribed by, so that any instance that answers the
  // session subscribes for it. A session's rows go when it ends (its client deletes it) or is forgotten.
  "16_mcp_subscriptions": statements(
    `CREATE TABLE mcp_subscriptions (
      session TEXT NOT NULL,
      uri TEXT NOT NULL,
      PRIMARY KEY (session, uri)
    )`
  ),
  // The MCP sessions' bounds (docs/mcp.md): when a request last named each (the idlest is let go of first), and the
  // bytes of its record, counted per key and in all; by key and use, for a key's count and its idlest.
  "19_mcp_session_bounds": statements(
    "ALTER TABLE mcp_sessions ADD COLUMN used_at BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE mcp_sessions ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0",
    "CREATE INDEX mcp_sessions_by_caller ON mcp_sessions (caller, used_at)",
    "CREATE INDEX mcp_sessions_by_use ON mcp_sessions (used_at)"
  )
} satisfies Migrations
