/** Where a gateway's database is, in words for messages and logs: never its password. */
import * as Redacted from "effect/Redacted"
import type { Database } from "../../Gateway.js"

/** The SQLite file, or the Postgres server's address and database name without its credentials. */
export const describe = (database: Database): string => {
  if ("sqlite" in database) return `SQLite file ${database.sqlite}`
  try {
    const url = new URL(Redacted.value(database.postgres))
    return `Postgres at ${url.host}${url.pathname}`
  } catch {
    return "Postgres (an unreadable URL)"
  }
}
