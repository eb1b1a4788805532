/** The database's tables of the settling of the gateway's batches (`settlements.ts`). */
import { type Migrations, statements } from "../../sql/migrations.js"

/** Its migrations, by `<id>_<name>` (`sql/migrations.ts`). */
export const migrations = {
  // A batch made through the gateway, open until it is settled (docs/batch.md): the hold of its worst case on its
  // key's budget (none for a key without one), the lease on its settling (its holder and until when), and each of its
  // lines settled once, by custom id, with its cost.
  "20_batch_settlements": statements(
    `CREATE TABLE batch_settlements (
      id TEXT PRIMARY KEY,
      opened_at BIGINT NOT NULL,
      hold_id TEXT,
      hold_estimate DOUBLE PRECISION,
      hold_at BIGINT,
      hold_until BIGINT,
      holder TEXT,
      lease_until BIGINT,
      settled_at BIGINT
    )`,
    "CREATE INDEX batch_settlements_open ON batch_settlements (settled_at, opened_at)",
    `CREATE TABLE batch_settled_lines (
      batch TEXT NOT NULL,
      custom_id TEXT NOT NULL,
      cost DOUBLE PRECISION NOT NULL,
      PRIMARY KEY (batch, custom_id)
    )`
  )
} satisfies Migrations
