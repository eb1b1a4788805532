/**
 * The gateway database's schemas: its own, every gateway concept's migrations declared beside its concept and collected
 * by `persistence/migrations.ts` in id order (recorded in `effect/sql`'s `Migrator` table, where the gateway always
 * recorded them); then the budget's own (`budget/migrations.ts`), which a library layer runs alone. A concept's first
 * migration adds its file to this list.
 */
import * as Budget from "../budget/migrations.js"
import { collect, type Schema } from "../persistence/migrations.js"
import * as RateLimiter from "../rateLimiter/migrations.js"
import * as Audit from "./audit/migrations.js"
import * as Batches from "./batches/migrations.js"
import * as Identity from "./identity/migrations.js"
import * as Keys from "./keys/migrations.js"
import * as Mcp from "./mcp/migrations.js"
import * as RequestLog from "./observe/migrations.js"

/** Every migration of the gateway's own schema, by `<id>_<name>`. */
export const migrations = collect(
  Keys.migrations,
  RequestLog.migrations,
  Mcp.migrations,
  Audit.migrations,
  Identity.migrations,
  RateLimiter.migrations,
  Batches.migrations
)

/** The gateway's own schema, recorded in the table its databases always had. */
export const gateway: Schema = { table: "effect_sql_migrations", migrations }

/** Every schema of the gateway's database, in the order it brings them up to date. */
export const schemas: ReadonlyArray<Schema> = [gateway, Budget.schema]
