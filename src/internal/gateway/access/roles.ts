/**
 * What each of the admin side's roles grants (the table in docs/identity.md). A person's roles are those the identity
 * provider's groups map to (provider.json's `gateway.oidc.roles`) and those granted through `/admin/grants`.
 */
import { type GlobalRole, isGlobalRole, type Role, roleOf, teamRole } from "../../gatewayConfig/roles.js"

/** Every permission an admin route may need (`access.ts`' table), in the order docs/identity.md's table lists them. */
export const permissions = [
  /** Anyone known: who they are (`GET /admin/me`). */
  "self",
  /** The live dashboard, metrics, model load, spend, the request log and the MCP servers' figures. */
  "observe",
  "keys.read",
  "keys.write",
  "teams.read",
  "teams.write",
  /** A team's budget (and nothing else of it). */
  "budgets.write",
  "reload",
  "audit",
  /** Roles granted through the admin API. */
  "grants",
  /** An MCP tool's changed definition approved. */
  "mcp.approve"
] as const

/** What an admin route needs. */
export type Permission = typeof permissions[number]

// An operator runs the gateway, but neither gives roles nor trusts a changed MCP tool.
const operator = permissions.filter((permission) => permission !== "grants" && permission !== "mcp.approve")

/** What each role of the whole gateway grants. */
const globalGrants: Readonly<Record<GlobalRole, ReadonlySet<Permission>>> = {
  admin: new Set(permissions),
  operator: new Set(operator),
  viewer: new Set(["self", "observe"])
}

/** What each team role grants, for its team only (and `self`, anywhere). */
const teamGrants: Readonly<Record<"team_admin" | "team_viewer", ReadonlySet<Permission>>> = {
  team_admin: new Set(["self", "keys.read", "keys.write", "teams.read", "budgets.write"]),
  team_viewer: new Set(["self", "keys.read", "teams.read"])
}

/** A team as a scope is checked against: its id and its name (a team role names either). */
export interface Team {
  readonly id: string
  readonly name: string
}

/**
 * Whether `roles` grant `permission`: over the whole gateway when `scope` is `"global"` (an object of no team, or
 * every team at once), over `scope`'s team otherwise, and for some team at least when `scope` is `"any"` (a list,
 * whose rows are then each checked against their own team).
 */
export function grants(roles: ReadonlyArray<Role>, permission: Permission, scope: Team | "global" | "any"): boolean {
  return roles.some((role) => {
    if (isGlobalRole(role)) return globalGrants[role].has(permission)
    const [, kind, team] = teamRole.exec(role)!
    if (!teamGrants[kind as keyof typeof teamGrants].has(permission)) return false
    if (permission === "self" || scope === "any") return true
    return scope !== "global" && (team === scope.id || team === scope.name)
  })
}

/** The roles `groups` map to under `mapping` (role to the groups that hold it), without repeats. */
export function rolesOfGroups(
  groups: ReadonlyArray<string>,
  mapping: Readonly<Record<string, ReadonlyArray<string>>>
): ReadonlyArray<Role> {
  const held = new Set(groups)
  return Object.entries(mapping).flatMap(([role, members]) =>
    members.some((group) => held.has(group)) && roleOf(role) !== undefined ? [role as Role] : []
  )
}
