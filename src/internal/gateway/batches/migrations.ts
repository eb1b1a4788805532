/**
 * The database's tables of the gateway's batches: their settling (`settlements.ts`), files, records (`store.ts`),
 * those it runs as calls (`runs.ts`), and their ids' secret (`idSecret.ts`).
 */
import { type Migrations, statements } from "../../persistence/migrations.js"

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
  // A batch made through the gateway, open until it is settled (docs/batch.md): the lease on its settling (its holder
  // and until when), and each of its lines settled once, by custom id, with its cost.
  "20_batch_settlements": statements(
    `CREATE TABLE batch_settlements (
      id TEXT PRIMARY KEY,
      opened_at BIGINT NOT NULL,
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
  ),
  // The hold of a batch's worst case on its key's budget (`Budget.hold`) until it is settled, kept with its record
  // for any instance to settle; none for a key without a budget.
  "21_batch_holds": statements(
    "ALTER TABLE batch_settlements ADD COLUMN hold_id TEXT",
    "ALTER TABLE batch_settlements ADD COLUMN hold_estimate DOUBLE PRECISION",
    "ALTER TABLE batch_settlements ADD COLUMN hold_at BIGINT",
    "ALTER TABLE batch_settlements ADD COLUMN hold_until BIGINT"
  ),
  // The input files uploaded for batches and a record of each batch made, each its owner's, for every instance to
  // read and list (docs/batch.md, "Shared by every instance").
  "22_batch_files_and_records": statements(
    `CREATE TABLE batch_input_files (
      id TEXT PRIMARY KEY,
      owner TEXT NOT NULL,
      filename TEXT NOT NULL,
      content TEXT NOT NULL,
      bytes BIGINT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    "CREATE INDEX batch_input_files_owner ON batch_input_files (owner, created_at)",
    "CREATE INDEX batch_input_files_created ON batch_input_files (created_at)",
    `CREATE TABLE batch_records (
      id TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      owner TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`,
    "CREATE INDEX batch_records_listed ON batch_records (kind, owner, created_at)",
    "CREATE INDEX batch_records_created ON batch_records (created_at)"
  ),
  // A batch's last status at its provider (its end and its lines' counts), kept where its settling closes it, so the
  // admin's list shows a settled batch without asking its provider again.
  "23_batch_last_status": statements(
    "ALTER TABLE batch_settlements ADD COLUMN last_state TEXT",
    "ALTER TABLE batch_settlements ADD COLUMN last_total BIGINT",
    "ALTER TABLE batch_settlements ADD COLUMN last_succeeded BIGINT",
    "ALTER TABLE batch_settlements ADD COLUMN last_failed BIGINT"
  ),
  // The batches the gateway runs as calls, for a model with no batch API (docs/batch.md, "Batches run as calls"):
  // each one's lines, the lease on its running, whether it was cancelled and when it ended, and a row a line, by custom
  // id, its answer once it has one.
  "24_batch_runs": statements(
    `CREATE TABLE batch_runs (
      id TEXT PRIMARY KEY,
      model TEXT NOT NULL,
      lines TEXT NOT NULL,
      started_at BIGINT NOT NULL,
      holder TEXT,
      lease_until BIGINT,
      cancelled_at BIGINT,
      ended_at BIGINT
    )`,
    "CREATE INDEX batch_runs_started ON batch_runs (started_at)",
    `CREATE TABLE batch_run_answers (
      run TEXT NOT NULL,
      custom_id TEXT NOT NULL,
      answer TEXT,
      PRIMARY KEY (run, custom_id)
    )`
  ),
  // Whether a line's answer is a reply or an error, beside it, so a run's counts are read without its answers; the
  // answers kept before are told apart by the JSON they were written as (`runs.ts`' `encodeAnswer`).
  "25_batch_run_outcomes": statements(
    "ALTER TABLE batch_run_answers ADD COLUMN outcome TEXT",
    `UPDATE batch_run_answers SET outcome = CASE WHEN answer LIKE '{"reply"%' THEN 'reply' ELSE 'error' END
      WHERE answer IS NOT NULL`
  ),
  // A run's maker, its lines' custom ids, how many and how many bytes, for its bounds (`runs.ts`): once ended, its
  // requests and its lines not answered are let go of. A run kept before is counted by its lines' JSON, and its
  // maker is none.
  "26_batch_run_bounds": statements(
    "ALTER TABLE batch_runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE batch_runs ADD COLUMN custom_ids TEXT",
    "ALTER TABLE batch_runs ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE batch_runs ADD COLUMN total BIGINT NOT NULL DEFAULT 0",
    "UPDATE batch_runs SET bytes = LENGTH(lines)",
    "UPDATE batch_runs SET total = (SELECT COUNT(*) FROM batch_run_answers WHERE run = batch_runs.id)",
    "CREATE INDEX batch_runs_owner ON batch_runs (owner, started_at)"
  ),
  // The secret the batches' ids are signed under (`idSecret.ts`): one row, made by the first instance that needs it.
  "28_batch_id_secret": statements(
    `CREATE TABLE batch_id_secret (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      secret TEXT NOT NULL
    )`
  )
} satisfies Migrations
