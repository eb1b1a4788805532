/**
 * The roles granted to people through the admin API against their store's contract (`contract/grants.ts`) on each
 * backend the gateway keeps them in: SQLite and Postgres
 * (`layerSql`); and the store required where it is read: the grants' routes and the admin check do not compile
 * without it.
 */
import { expect, it } from "@effect/vitest"
import type * as Effect from "effect/Effect"
import type * as AdminGrants from "../../src/internal/gateway/admin/grants.js"
import * as Grants from "../../src/internal/gateway/identity/grants.js"
import type * as AdminChecks from "../../src/internal/gateway/serving/adminCheck.js"
import { grantsContract } from "../contract/grants.js"
import { storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("grants", Grants.GrantStore, Grants)) grantsContract(backend)

it("is required: the routes that read it left without it do not compile (the typecheck proves it)", () => {
  type Without<T> = Exclude<Effect.Services<T>, Grants.GrantStore>
  type Routes = typeof AdminGrants.routes
  // @ts-expect-error: the grants' routes read the `GrantStore`.
  const routes: Effect.Effect<Effect.Success<Routes>, unknown, Without<Routes>> = undefined as unknown as Routes
  // @ts-expect-error: so does the admin check, for a person's granted roles.
  const check: Effect.Effect<unknown, unknown, Without<typeof AdminChecks.make>> =
    undefined as unknown as typeof AdminChecks.make
  expect([routes, check].filter(Boolean)).toHaveLength(0)
})
