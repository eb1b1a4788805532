/**
 * The budget's own schema: the tables its SQL store uses (`sql.ts`), recorded in a table of its own so that
 * `Budget.layerStoreSql` migrates only them in a library user's database. The gateway's database had the first two
 * tables first, from its own migrations (`gateway/keys/migrations.ts`), and runs this schema after them: a table that
 * is there already is left as it is.
 */
import { type Schema, statements } from "../persistence/migrations.js"

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`), recorded apart from the gateway's. */
export const schema: Schema = {
  table: "effect_llm_router_budget_migrations",
  migrations: {
    "1_spend_and_reservations": statements(
      `CREATE TABLE IF NOT EXISTS spend (
        scope TEXT NOT NULL,
        period TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        spent DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scope, period, window_start)
      )`,
      `CREATE TABLE IF NOT EXISTS reservations (
        id TEXT NOT NULL,
        scope TEXT NOT NULL,
        estimate DOUBLE PRECISION NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (id, scope)
      )`,
      "CREATE INDEX IF NOT EXISTS reservations_by_scope ON reservations (scope, expires_at)"
    ),
    // What a reservation is charged if it lapses unsettled: a hold (`Budget.hold`) its estimate, a call's nothing (its
    // instance died; what it cost is not known). Reservations open at the upgrade keep their estimate.
    "2_reservation_lapse": statements(
      "ALTER TABLE reservations ADD COLUMN lapse DOUBLE PRECISION NOT NULL DEFAULT 0",
      "UPDATE reservations SET lapse = estimate"
    )
  }
}
