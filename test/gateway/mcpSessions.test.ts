/**
 * The MCP sessions' store against its contract (`contract/mcpSessions.ts`) on each backend the gateway has: memory
 * (`layerMemory`); SQLite and Postgres (`layerSql`).
 */
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import { mcpSessionsContract } from "../contract/mcpSessions.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("mcp_sessions", Sessions.SessionStore, Sessions)) mcpSessionsContract(backend)
