/**
 * The database's tables of the roles granted to people (`grants.ts`) and of the dashboard's sessions and sign-ins
 * (`sessions.ts`).
 */
import { type Migrations, statements } from "../../persistence/migrations.js"

/** Its migrations, by `<id>_<name>` (`persistence/migrations.ts`). */
export const migrations = {
  // Roles granted to people through the admin API (docs/identity.md): a person (their user claim) and one role each.
  "13_role_grants": statements(
    `CREATE TABLE role_grants (
      id TEXT PRIMARY KEY,
      subject TEXT NOT NULL,
      role TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      created_by TEXT NOT NULL,
      UNIQUE (subject, role)
    )`
  ),
  // The dashboard's sessions and the sign-ins under way (docs/identity.md), so that every instance answers a session
  // made on another: each kept under the digest of its id (or its sign-in's state), never the cookie's value; a
  // session's person, its end, and the issuer's ID token sealed under the session's id.
  "14_admin_sessions": statements(
    `CREATE TABLE admin_sessions (
      digest TEXT PRIMARY KEY,
      subject TEXT NOT NULL,
      groups_json TEXT NOT NULL,
      id_token_sealed TEXT,
      expires_at BIGINT NOT NULL
    )`,
    "CREATE INDEX admin_sessions_by_end ON admin_sessions (expires_at)",
    `CREATE TABLE admin_sign_ins (
      digest TEXT PRIMARY KEY,
      code_verifier TEXT NOT NULL,
      nonce TEXT NOT NULL,
      redirect_uri TEXT NOT NULL,
      expires_at BIGINT NOT NULL
    )`,
    "CREATE INDEX admin_sign_ins_by_end ON admin_sign_ins (expires_at)"
  )
} satisfies Migrations
