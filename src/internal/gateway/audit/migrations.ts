/**
 * The admin audit log's tables (`store.ts`, its chain `chain.ts`), and the refusals counted in the database
 * (`dropped.ts`).
 */
import { type Migrations, statements } from "../../persistence/migrations.js"
import { genesis } from "./chain.js"

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
  // The admin audit log (docs/identity.md): rows only ever appended, each chained by digest to the one before
  // (`gateway/audit/chain.ts`), and the chain's head, whose row every append updates first, so that appends from
  // several instances queue on its lock and form one chain.
  "12_admin_audit": statements(
    `CREATE TABLE admin_audit (
      seq BIGINT PRIMARY KEY,
      at BIGINT NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      object TEXT,
      before_value TEXT,
      after_value TEXT,
      outcome TEXT NOT NULL,
      status INTEGER NOT NULL,
      code TEXT,
      origin TEXT,
      digest TEXT NOT NULL
    )`,
    "CREATE INDEX admin_audit_by_at ON admin_audit (at)",
    `CREATE TABLE admin_audit_head (
      id INTEGER PRIMARY KEY,
      seq BIGINT NOT NULL,
      digest TEXT NOT NULL
    )`,
    `INSERT INTO admin_audit_head (id, seq, digest) VALUES (1, 0, '${genesis}')`
  ),
  // Sign-on and the audit log made safer (docs/identity.md): a dashboard session keeps its access and refresh tokens
  // (sealed, revoked at sign-out) in place of its ID token, which no longer leaves the gateway; the access tokens of
  // sessions signed out, refused until their end; the audit chain's base, the row pruned last (by retention), which
  // the chain left in the table follows; and the per-address counts of refusals, now one count of all addresses.
  "17_sign_out_and_retention": statements(
    "ALTER TABLE admin_sessions DROP COLUMN id_token_sealed",
    "ALTER TABLE admin_sessions ADD COLUMN tokens_sealed TEXT",
    `CREATE TABLE admin_signed_out_tokens (
      digest TEXT PRIMARY KEY,
      expires_at BIGINT NOT NULL
    )`,
    "CREATE INDEX admin_signed_out_tokens_by_end ON admin_signed_out_tokens (expires_at)",
    "ALTER TABLE admin_audit_head ADD COLUMN base_seq BIGINT NOT NULL DEFAULT 0",
    `ALTER TABLE admin_audit_head ADD COLUMN base_digest TEXT NOT NULL DEFAULT '${genesis}'`,
    "DELETE FROM audit_refusals_dropped"
  )
} satisfies Migrations
