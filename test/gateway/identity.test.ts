/**
 * The admin side's rules with a domain, over the whole of it: which strings are roles; what every combination of
 * roles grants over every scope (a union of what each grants, each as docs/identity.md's table says); the permission
 * a team change needs by the fields its body changes; the dashboard's sessions' life, sign-out and bound on each of
 * their stores (memory, SQLite), and their ID tokens sealed under their ids; and
 * provider.json's `gateway.oidc`, decoded or refused naming each bad field.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Access from "../../src/internal/gateway/identity/access.js"
import * as Oidc from "../../src/internal/gateway/identity/oidc.js"
import type { Principal } from "../../src/internal/gateway/identity/principal.js"
import * as Roles from "../../src/internal/gateway/identity/roles.js"
import * as Sessions from "../../src/internal/gateway/identity/sessions.js"
import { digest } from "../../src/internal/gateway/keys/auth.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import * as Database from "../../src/internal/sql/database.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"

const teamName = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/)
const role: fc.Arbitrary<Roles.Role> = fc.oneof(
  fc.constantFrom<Roles.Role>("admin", "operator", "viewer"),
  fc.tuple(fc.constantFrom("team_admin", "team_viewer"), teamName).map(([kind, team]) =>
    `${kind}:${team}` as Roles.Role
  )
)
const permission = fc.constantFrom(...Roles.permissions)
const team = teamName.map((name): Roles.Team => ({ id: `team_${name}`, name }))
const scope: fc.Arbitrary<Roles.Team | "global" | "any"> = fc.oneof(fc.constantFrom("global", "any"), team)

// The roles table, one role at a time, written apart from the code.
const table: Readonly<Record<string, ReadonlyArray<Roles.Permission>>> = {
  admin: Roles.permissions,
  operator: [
    "self",
    "observe",
    "keys.read",
    "keys.write",
    "teams.read",
    "teams.write",
    "budgets.write",
    "reload",
    "audit"
  ],
  viewer: ["self", "observe"],
  team_admin: ["self", "keys.read", "keys.write", "teams.read", "budgets.write"],
  team_viewer: ["self", "keys.read", "teams.read"]
}

function oneGrants(held: Roles.Role, wanted: Roles.Permission, where: Roles.Team | "global" | "any"): boolean {
  const [kind, teamOf] = held.split(/:(.*)/s)
  if (!table[kind!]!.includes(wanted)) return false
  if (teamOf === undefined || wanted === "self" || where === "any") return true
  return where !== "global" && (where.name === teamOf || where.id === teamOf)
}

describe("roles", () => {
  it("a role is admin, operator, viewer, or a team role naming a team; nothing else", () =>
    fc.assert(fc.property(fc.oneof(fc.string(), fc.constantFrom("toString", "__proto__", "constructor")), (text) => {
      const expected = ["admin", "operator", "viewer"].includes(text) ||
        /^team_(admin|viewer):\S(.*\S)?$/s.test(text)
      expect(Roles.roleOf(text) !== undefined).toBe(expected)
      expect(Roles.roleProblem(text) === undefined).toBe(expected)
    })))

  it("every combination of roles grants over every scope what one of them grants, as the table says", () =>
    fc.assert(
      fc.property(fc.array(role, { maxLength: 4 }), permission, scope, (roles, wanted, where) => {
        expect(Roles.grants(roles, wanted, where)).toBe(roles.some((held) => oneGrants(held, wanted, where)))
      }),
      { numRuns: 2000 }
    ))

  it("a team role reaches its team by name or id, and never the whole gateway", () =>
    fc.assert(fc.property(team, teamName, (own, other) => {
      const roles: ReadonlyArray<Roles.Role> = [`team_admin:${own.name}`]
      expect(Roles.grants(roles, "keys.write", own)).toBe(true)
      expect(Roles.grants([`team_admin:${own.id}`], "keys.write", own)).toBe(true)
      expect(Roles.grants(roles, "keys.write", "global")).toBe(false)
      expect(Roles.grants(roles, "keys.write", { id: `team_${other}`, name: other })).toBe(other === own.name)
    })))

  it("groups map to the roles whose groups they hold", () => {
    const mapping = { admin: ["llm-admins"], viewer: ["staff", "contractors"], "team_admin:research": ["leads"] }
    expect(Roles.rolesOfGroups(["staff", "leads", "other"], mapping)).toEqual(["viewer", "team_admin:research"])
    expect(Roles.rolesOfGroups([], mapping)).toEqual([])
  })
})

describe("the admin routes' table", () => {
  const person = (roles: ReadonlyArray<Roles.Role>): Principal => ({ name: "p", kind: "person", via: "token", roles })
  const research: Roles.Team = { id: "team_r", name: "research" }
  const teams: Access.Teams = { byId: (id) => id === research.id ? research : undefined, ofKey: () => undefined }
  const patchTeam = Access.ruleOf("PATCH", "/admin/teams/:id")!

  it("names each rule once; HEAD is asked as GET", () => {
    const routes = Access.rules.map((rule) => `${rule.method} ${rule.path}`)
    expect(new Set(routes).size).toBe(routes.length)
    expect(Access.ruleOf("HEAD", "/admin/spend")).toBe(Access.ruleOf("GET", "/admin/spend"))
    expect(Access.unruled([{ method: "GET", path: "/admin/new" }, { method: "GET", path: "/v1/models" }])).toEqual([
      "GET /admin/new"
    ])
  })

  it("a team's budget alone is budgets.write; any other field of it is teams.write", () =>
    fc.assert(fc.property(
      fc.subarray(["name", "tools", "budget", "metadata"], { minLength: 1 }),
      (fields) => {
        const body = JSON.stringify(Object.fromEntries(fields.map((field) => [field, null])))
        const refused = Access.authorize(person(["team_admin:research"]), patchTeam, {
          params: { id: research.id },
          body,
          teams
        })
        const budgetOnly = fields.length === 1 && fields[0] === "budget"
        expect(refused === undefined).toBe(budgetOnly)
        if (refused !== undefined) expect(refused.message).toContain("`teams.write`")
      }
    )))

  it("a refusal names the permission, in the same words whatever the object's team", () => {
    const getTeam = Access.ruleOf("GET", "/admin/teams/:id")!
    const viewer = person(["team_viewer:other"])
    const known = Access.authorize(viewer, getTeam, { params: { id: research.id }, body: undefined, teams })
    const unknown = Access.authorize(viewer, getTeam, { params: { id: "team_none" }, body: undefined, teams })
    expect(known?.status).toBe(403)
    expect(known?.message).toBe(unknown?.message)
    expect(known?.message).not.toContain("research")
  })
})

const sqliteSessions = Effect.gen(function*() {
  const directory = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "identity-sessions-"))),
    (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
  )
  const sql = yield* Effect.orDie(Database.connect({ sqlite: join(directory, "gateway.db") }))
  return Sessions.sqlStore({ sql, bounds: { address: "test.db", timeout: Sql.defaultTimeout } })
})

describe("the dashboard's sessions", () => {
  const session = (expiresAt: number, idToken?: string): Sessions.Session => ({
    subject: "ada@example.com",
    groups: ["llm-admins", "staff"],
    idToken: idToken === undefined ? undefined : Redacted.make(idToken),
    expiresAt
  })
  const stores = [["memory", Effect.sync(Sessions.memoryStore)], ["SQLite", sqliteSessions]] as const

  for (const [label, makeStore] of stores) {
    it.live(`${label}: a session lasts its life and ends at sign-out; a sign-in's state is taken once`, () =>
      Effect.gen(function*() {
        let now = 1_000
        const store = yield* makeStore
        const sessions = Sessions.make(store, () => now)
        const id = yield* sessions.open(session(2_000, "id-token-of-ada"))
        expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/)
        const found = yield* sessions.find(id)
        expect([found?.subject, found?.groups, found?.expiresAt]).toEqual([
          "ada@example.com",
          ["llm-admins", "staff"],
          2_000
        ])
        expect(Redacted.value(found!.idToken!)).toBe("id-token-of-ada")
        // Kept under the id's digest, the ID token sealed: the store holds neither the id nor the token.
        const kept = yield* store.find(digest(id).toString("hex"))
        expect(JSON.stringify(kept)).not.toContain(id)
        expect(JSON.stringify(kept)).not.toContain("id-token-of-ada")
        expect(yield* sessions.find(`${id.slice(0, -1)}x`)).toBeUndefined()
        now = 2_000
        expect(yield* sessions.find(id)).toBeUndefined()
        now = 1_000
        const other = yield* sessions.open(session(5_000))
        const closed = yield* sessions.close(other)
        expect([closed?.subject, closed?.idToken]).toEqual(["ada@example.com", undefined])
        expect(yield* sessions.find(other)).toBeUndefined()
        expect(yield* sessions.close(other)).toBeUndefined()
        const pending = {
          codeVerifier: Redacted.make("v"),
          nonce: "n",
          redirectUri: "http://localhost/admin/callback",
          expiresAt: 1_000 + Sessions.pendingMillis
        }
        yield* sessions.begin("s", pending)
        const taken = yield* sessions.take("s")
        expect([Redacted.value(taken!.codeVerifier), taken?.nonce, taken?.redirectUri, taken?.expiresAt]).toEqual([
          "v",
          "n",
          pending.redirectUri,
          pending.expiresAt
        ])
        expect(yield* sessions.take("s")).toBeUndefined()
        yield* sessions.begin("late", pending)
        now = pending.expiresAt
        expect(yield* sessions.take("late")).toBeUndefined()
      }).pipe(Effect.scoped))

    it.live(`${label}: opening a session trims the ended ones and, past the bound, the oldest`, () =>
      Effect.gen(function*() {
        let now = 0
        const store = yield* makeStore
        const sessions = Sessions.make(store, () => now, 3)
        const ids = yield* Effect.forEach([10, 20, 30], (end) => sessions.open(session(end)))
        const digests = ids.map((id) => digest(id).toString("hex"))
        const held = Effect.forEach(digests, (key) => Effect.map(store.find(key), (kept) => kept !== undefined))
        expect(yield* held).toEqual([true, true, true])
        // A fourth past the bound of three: the oldest (ending first) goes.
        const fourth = yield* sessions.open(session(40))
        expect(yield* held).toEqual([false, true, true])
        // At 25, the one ending at 20 has ended: the next opening forgets it.
        now = 25
        yield* sessions.open(session(50))
        expect(yield* held).toEqual([false, false, true])
        expect((yield* sessions.find(fourth))?.expiresAt).toBe(40)
      }).pipe(Effect.scoped))
  }

  it("memory: at most the bound are held: past it, the oldest ends", () =>
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 20 }), (bound, extra) => {
      const sessions = Sessions.make(Sessions.memoryStore(), () => 0, bound)
      const ids = Array.from({ length: bound + extra }, () => Effect.runSync(sessions.open(session(10))))
      const live = ids.map((id) => Effect.runSync(sessions.find(id)) !== undefined)
      expect(live).toEqual(ids.map((_, index) => index >= extra))
    })))

  it("an ID token sealed under one session opens under its id only, and not once edited", () =>
    fc.assert(fc.property(fc.string({ minLength: 1 }), fc.nat(), (token, at) => {
      const id = randomBytes(32).toString("base64url")
      const sealed = Sessions.seal(id, Redacted.make(token))
      expect(Redacted.value(Sessions.unseal(id, sealed)!)).toBe(token)
      expect(Sessions.unseal(randomBytes(32).toString("base64url"), sealed)).toBeUndefined()
      const bytes = Buffer.from(sealed, "base64url")
      bytes[at % bytes.length] = bytes[at % bytes.length]! ^ 1
      expect(Sessions.unseal(id, bytes.toString("base64url"))).toBeUndefined()
    })))
})

const models = { openai: [{ model_name: "gpt-4o-mini", api_keys: ["sk-provider-000000000001"] }] }
const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("provider.json's gateway.oidc", () => {
  it.effect("decodes the issuer, the client (its secret Redacted), the claims, the roles and the session's life", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({
        ...models,
        gateway: {
          oidc: {
            issuer: "https://login.example.com/realms/acme",
            client_id: "llm-gateway",
            client_secret: "env:OIDC_CLIENT_SECRET",
            audience: "llm-api",
            scopes: ["openid", "email", "groups"],
            user_claim: "preferred_username",
            groups_claim: "roles",
            roles: { admin: ["llm-admins"], "team_admin:research": ["research-leads"] },
            session_ttl: "2 hours",
            cli_client_id: "llm-cli"
          }
        }
      })
      const oidc = config.gateway!.oidc!
      expect(Redacted.value(oidc.clientSecret!)).toBe("oidc-secret-0001")
      expect(JSON.stringify(config)).not.toContain("oidc-secret-0001")
      expect(oidc).toMatchObject({
        issuer: "https://login.example.com/realms/acme",
        clientId: "llm-gateway",
        audience: "llm-api",
        scopes: ["openid", "email", "groups"],
        userClaim: "preferred_username",
        groupsClaim: "roles",
        roles: { admin: ["llm-admins"], "team_admin:research": ["research-leads"] },
        cliClientId: "llm-cli"
      })
      expect(Duration.toMillis(Duration.fromInputUnsafe(oidc.sessionTtl!))).toBe(7_200_000)
    }).pipe(withEnv({ OIDC_CLIENT_SECRET: "oidc-secret-0001" })))

  it.effect("names every bad field: the issuer, a role that is none, a missing secret", () =>
    Effect.gen(function*() {
      const shapes = yield* Effect.flip(ProviderConfig.fromJson({
        ...models,
        gateway: {
          oidc: {
            issuer: "login.example.com",
            client_id: "",
            roles: { root: ["x"], "team_admin:": ["y"] },
            cli_client_id: ""
          }
        }
      }))
      expect(shapes.issues.map((issue) => issue.path)).toEqual([
        "gateway.oidc.issuer",
        "gateway.oidc.client_id",
        "gateway.oidc.roles.root",
        "gateway.oidc.roles.team_admin:",
        "gateway.oidc.cli_client_id"
      ])
      expect(shapes.issues[2]!.message).toContain("team_admin:<team>")
      const secret = yield* Effect.flip(ProviderConfig.fromJson({
        ...models,
        gateway: { oidc: { issuer: "https://login.example.com", client_id: "c", client_secret: "env:NO_SUCH_SECRET" } }
      }))
      expect(secret.issues.map((issue) => issue.path)).toEqual(["gateway.oidc.client_secret"])
    }).pipe(withEnv({})))

  it("Gateway.Oidc's problems name each option: an issuer neither https nor loopback, empty client ids", () => {
    const named = (options: Parameters<typeof Oidc.problems>[0]) =>
      Oidc.problems(options).flatMap((problem) => problem === undefined ? [] : [[problem.option, problem.expected]])
    expect(named({ issuer: "https://login.example.com", clientId: "c", cliClientId: "cli" })).toEqual([])
    expect(named({ issuer: "http://login.example.com", clientId: "", cliClientId: "" })).toEqual([
      ["oidc.issuer", "an https:// URL (http:// only on this machine's loopback)"],
      ["oidc.clientId", "a non-empty client id"],
      ["oidc.cliClientId", "a non-empty client id"]
    ])
  })
})
