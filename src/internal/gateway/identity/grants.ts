/**
 * Roles granted to people through the admin API (`/admin/grants`): a grant names its subject (the person's user claim,
 * as `gateway.oidc.user_claim` reads it) and one role. They are the service `GrantStore`, in the gateway's database
 * (`layerSql`: `role_grants`, migration 13), so that every instance on it reads the same (`test/contract/grants.ts`).
 * A person's roles are read at each admin request, so a grant made or removed is in force at once, everywhere.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { SqlError } from "effect/sql/SqlError"
import { randomBytes } from "node:crypto"
import type { StoreUnavailableError } from "../../../Store.js"
import { type Role, roleOf } from "../../gatewayConfig/roles.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"

/** A role granted to a person. */
export interface Grant {
  readonly id: string
  readonly subject: string
  readonly role: Role
  /** Clock milliseconds. */
  readonly createdAt: number
  /** Who granted it (a principal's name). */
  readonly createdBy: string
}

/** The grants' store. */
export interface Grants {
  readonly list: Effect.Effect<ReadonlyArray<Grant>, StoreUnavailableError>
  readonly rolesOf: (subject: string) => Effect.Effect<ReadonlyArray<Role>, StoreUnavailableError>
  /** The grant of `role` to `subject`: made, or the one already made. */
  readonly add: (
    grant: Omit<Grant, "id">
  ) => Effect.Effect<{ readonly grant: Grant; readonly made: boolean }, StoreUnavailableError>
  /** The grant of `id` removed; what it was, when there was one. */
  readonly remove: (id: string) => Effect.Effect<Grant | undefined, StoreUnavailableError>
}

const GrantRow = tableRow("role_grants", {
  id: Schema.String,
  subject: Schema.String,
  role: Schema.String,
  createdAt: Numeric,
  createdBy: Schema.String
}).pipe(Schema.encodeKeys({ createdAt: "created_at", createdBy: "created_by" }))

// The grants `statement` reads; a row whose role this version does not know (written by a newer one) is left out.
const grantsOf = (statement: Effect.Effect<ReadonlyArray<unknown>, SqlError>) =>
  Effect.map(Sql.rows(GrantRow, statement), (rows) =>
    rows.flatMap((row): ReadonlyArray<Grant> => {
      const role = roleOf(row.role)
      return role === undefined ? [] : [{ ...row, role }]
    }))

// A new grant's id.
const grantId = () => `grant_${randomBytes(12).toString("base64url")}`

export class GrantStore
  extends Context.Service<GrantStore, Grants>()("effect-llm-router/gateway/identity/GrantStore")
{}

/** The grants in the gateway's database (`role_grants`), which every instance on it shares. */
export const layerSql: Layer.Layer<GrantStore, never, Sql.Database> = Layer.effect(
  GrantStore,
  Effect.map(Sql.steps, ({ sql, step, transaction }): Grants => {
    return {
      list: step("listing the role grants", grantsOf(sql`SELECT * FROM role_grants ORDER BY subject, role`)),
      rolesOf: (subject) =>
        step(
          "reading a person's role grants",
          Effect.map(
            grantsOf(sql`SELECT * FROM role_grants WHERE subject = ${subject}`),
            (grants) => grants.map((grant) => grant.role)
          )
        ),
      add: (grant) =>
        transaction(
          "granting a role",
          Effect.gen(function*() {
            const id = grantId()
            yield* sql`INSERT INTO role_grants (id, subject, role, created_at, created_by)
            VALUES (${id}, ${grant.subject}, ${grant.role}, ${grant.createdAt}, ${grant.createdBy})
            ON CONFLICT (subject, role) DO NOTHING`
            const [found] = yield* grantsOf(
              sql`SELECT * FROM role_grants WHERE subject = ${grant.subject} AND role = ${grant.role}`
            )
            return { grant: found!, made: found!.id === id }
          })
        ),
      remove: (id) =>
        transaction(
          "removing a role grant",
          Effect.gen(function*() {
            const [found] = yield* grantsOf(sql`SELECT * FROM role_grants WHERE id = ${id}`)
            if (found !== undefined) yield* sql`DELETE FROM role_grants WHERE id = ${id}`
            return found
          })
        )
    }
  })
)
