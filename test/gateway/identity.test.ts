/**
 * The admin side's rules with a domain, over the whole of it: which strings are roles; what every combination of
 * roles grants over every scope (a union of what each grants, each as docs/identity.md's table says); the permission
 * a team change needs by the fields its body changes; and provider.json's `gateway.oidc`, decoded or refused naming
 * each bad field.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import type { Principal } from "../../src/internal/gateway/access/adminCheck.js"
import * as Roles from "../../src/internal/gateway/access/roles.js"
import * as Access from "../../src/internal/gateway/identity/access.js"
import * as Oidc from "../../src/internal/gateway/identity/oidc.js"
import { type Role, roleOf, roleProblem } from "../../src/internal/gatewayConfig/roles.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"

const teamName = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/)
const role: fc.Arbitrary<Role> = fc.oneof(
  fc.constantFrom<Role>("admin", "operator", "viewer"),
  fc.tuple(fc.constantFrom("team_admin", "team_viewer"), teamName).map(([kind, team]) => `${kind}:${team}` as Role)
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

function oneGrants(held: Role, wanted: Roles.Permission, where: Roles.Team | "global" | "any"): boolean {
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
      expect(roleOf(text) !== undefined).toBe(expected)
      expect(roleProblem(text) === undefined).toBe(expected)
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
      const roles: ReadonlyArray<Role> = [`team_admin:${own.name}`]
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
  const person = (roles: ReadonlyArray<Role>): Principal => ({ name: "p", kind: "person", via: "token", roles })
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

const models = { openai: [{ model_name: "gpt-4o-mini", api_keys: ["sk-provider-000000000001"] }] }
const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("provider.json's gateway.oidc", () => {
  it.effect("decodes the issuer, the client (its secret Redacted), the claims, the roles, the session's and tokens' lives", () =>
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
            max_token_lifetime: "12 hours",
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
      expect(Duration.toMillis(Duration.fromInputUnsafe(oidc.maxTokenLifetime!))).toBe(43_200_000)
      // Without it, a day: past the hour most issuers give.
      expect(Duration.toMillis(Oidc.settingsOf({ issuer: oidc.issuer, clientId: "c" }).maxTokenLifetime)).toBe(
        86_400_000
      )
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
            max_token_lifetime: "forever",
            cli_client_id: ""
          }
        }
      }))
      expect(shapes.issues.map((issue) => issue.path)).toEqual([
        "gateway.oidc.issuer",
        "gateway.oidc.client_id",
        "gateway.oidc.roles.root",
        "gateway.oidc.roles.team_admin:",
        "gateway.oidc.max_token_lifetime",
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
    expect(named({ issuer: "http://login.example.com", clientId: "", cliClientId: "", maxTokenLifetime: 0 })).toEqual([
      ["oidc.issuer", "an https:// URL (http:// only on this machine's loopback)"],
      ["oidc.clientId", "a non-empty client id"],
      ["oidc.cliClientId", "a non-empty client id"],
      ["oidc.maxTokenLifetime", "a positive, finite duration"]
    ])
  })
})
