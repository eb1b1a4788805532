/**
 * The gateway database's schema: every concept's migrations, each declared beside its concept, collected by
 * `sql/migrations.ts` in the order of their ids. A concept's new migration is a new entry of its own `migrations.ts`,
 * with the next id; a concept's first one adds its file to this list.
 */
import * as Budget from "./budget/migrations.js"
import * as Audit from "./gateway/audit/migrations.js"
import * as Batches from "./gateway/batches/migrations.js"
import * as Identity from "./gateway/identity/migrations.js"
import * as Keys from "./gateway/keys/migrations.js"
import * as Mcp from "./gateway/mcp/migrations.js"
import * as RequestLog from "./gateway/observe/migrations.js"
import * as RateLimiter from "./rateLimiter/migrations.js"
import { collect } from "./sql/migrations.js"

/** Every migration of the gateway's database, by `<id>_<name>`. */
export const migrations = collect(
  Keys.migrations,
  RequestLog.migrations,
  Budget.migrations,
  Mcp.migrations,
  Audit.migrations,
  Identity.migrations,
  RateLimiter.migrations,
  Batches.migrations
)
