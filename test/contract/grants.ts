/**
 * The contract every backend of the roles granted to people (`identity/grants.ts`' `GrantStore`) keeps, run against
 * each (`test/gateway/grants.test.ts`: SQLite and Postgres, the gateway's databases): a grant made is listed and read
 * as its subject's role, and granting the same role again answers the one made; a grant removed is gone, and
 * removing it again finds nothing; a row whose role this version does not know (a newer one's) is left out; and any
 * sequence of grants and removals, by any subjects and roles, lists exactly what a set of (subject, role) pairs holds.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import type * as Grants from "../../src/internal/gateway/identity/grants.js"
import type { Role } from "../../src/internal/gatewayConfig/roles.js"
import { effectProp } from "../utils/effectProp.js"
import { type StoreBackend, unreadableRow } from "../utils/sqlDatabases.js"

const subjects = ["ada@example.com", "bob@example.com", "eve@example.com"] as const
const roles: ReadonlyArray<Role> = ["admin", "operator", "viewer", "team_admin:research", "team_viewer:research"]

type Step =
  | { readonly op: "add"; readonly subject: number; readonly role: number }
  | { readonly op: "remove"; readonly subject: number; readonly role: number }

const step: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom("add" as const, "remove" as const),
  subject: fc.integer({ min: 0, max: subjects.length - 1 }),
  role: fc.integer({ min: 0, max: roles.length - 1 })
})

/** The runs of the property: fewer on Postgres, whose steps are slower. */
const runsOf = { SQLite: 20, Postgres: 10 } as const

export const grantsContract = (backend: StoreBackend<Grants.Grants>) =>
  describe(`role grants' store contract: ${backend.name}`, () => {
    const grant = (subject: string, role: Role) => ({ subject, role, createdAt: 1_000, createdBy: "admin-key" })

    it.live(`${backend.name}: a grant is listed and read as its subject's role, once; removed, it is gone`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const first = yield* store.add(grant("ada@example.com", "viewer"))
        expect(first.made).toBe(true)
        expect(first.grant).toMatchObject({ subject: "ada@example.com", role: "viewer", createdBy: "admin-key" })
        expect(first.grant.id).toMatch(/^grant_[A-Za-z0-9_-]{16}$/)
        // The same role again: the grant made before, not another.
        const again = yield* store.add({ ...grant("ada@example.com", "viewer"), createdBy: "someone else" })
        expect(again).toEqual({ grant: first.grant, made: false })
        yield* store.add(grant("ada@example.com", "team_admin:research"))
        yield* store.add(grant("bob@example.com", "admin"))
        expect([...yield* store.rolesOf("ada@example.com")].sort()).toEqual(["team_admin:research", "viewer"])
        expect(yield* store.rolesOf("nobody@example.com")).toEqual([])
        expect((yield* store.list).map((one) => [one.subject, one.role])).toEqual([
          ["ada@example.com", "team_admin:research"],
          ["ada@example.com", "viewer"],
          ["bob@example.com", "admin"]
        ])
        expect(yield* store.remove(first.grant.id)).toEqual(first.grant)
        expect(yield* store.remove(first.grant.id)).toBeUndefined()
        expect(yield* store.rolesOf("ada@example.com")).toEqual(["team_admin:research"])
      }).pipe(Effect.scoped))

    const sql = backend.sql
    if (sql !== undefined) {
      it.live(`${backend.name}: a row whose role this version does not know is left out`, () =>
        Effect.gen(function*() {
          const database = yield* sql.database
          const store = yield* sql.store(database)
          yield* store.add(grant("ada@example.com", "viewer"))
          yield* Effect.orDie(database.sql`INSERT INTO role_grants (id, subject, role, created_at, created_by)
            VALUES ('grant_future', 'ada@example.com', 'auditor', 1000, 'admin-key')`)
          expect(yield* store.rolesOf("ada@example.com")).toEqual(["viewer"])
          expect((yield* store.list).map((one) => one.role)).toEqual(["viewer"])
        }).pipe(Effect.scoped))

      it.live(`${backend.name}: a row whose time is no number fails the read, naming the column`, () =>
        Effect.gen(function*() {
          const error = yield* unreadableRow(sql, {
            asText: ["role_grants", "created_at"],
            write: (database) =>
              database.sql`INSERT INTO role_grants (id, subject, role, created_at, created_by)
            VALUES ('grant_1', 'ada@example.com', 'viewer', 'yesterday', 'admin-key')`,
            read: (store) => store.list
          })
          expect(error._tag).toBe("StoreUnavailableError")
          expect(error.reason).toMatch(/^listing the role grants: .*\["created_at"\]/)
        }).pipe(Effect.scoped))
    }

    effectProp(
      `${backend.name}: any sequence of grants and removals lists exactly the pairs granted and not removed`,
      fc.array(step, { maxLength: 12 }),
      (steps) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const model = new Map<string, string>()
          for (const { op, role, subject } of steps) {
            const pair = `${subjects[subject]} ${roles[role]}`
            if (op === "add") {
              const { grant: made, made: isNew } = yield* store.add(grant(subjects[subject]!, roles[role]!))
              expect(isNew).toBe(!model.has(pair))
              if (!model.has(pair)) model.set(pair, made.id)
              expect(made.id).toBe(model.get(pair))
            } else {
              const id = model.get(pair)
              const removed = yield* store.remove(id ?? "grant_none")
              expect(removed?.id).toBe(id)
              model.delete(pair)
            }
          }
          const listed = (yield* store.list).map((one) => `${one.subject} ${one.role}`)
          expect(listed.sort()).toEqual([...model.keys()].sort())
          for (const [index, subject] of subjects.entries()) {
            const expected = roles.filter((role) => model.has(`${subject} ${role}`))
            expect([...yield* store.rolesOf(subject)].sort(), `subject ${index}`).toEqual(expected.sort())
          }
        }).pipe(Effect.orDie),
      runsOf[backend.name]
    )
  })
