/**
 * The token buckets every instance on the gateway's database shares (`sql.ts`), and, made with them, the table of the
 * refusals the audit log counts in the database (`gateway/audit/dropped.ts`).
 */
import { type Migrations, statements } from "../persistence/migrations.js"

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
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
  )
} satisfies Migrations
