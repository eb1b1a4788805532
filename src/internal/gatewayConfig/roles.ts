/**
 * The admin side's roles (docs/identity.md), which `gateway.oidc.roles` maps groups to and `/admin/grants` grants:
 * `admin`, `operator`, `viewer` over the whole gateway; `team_admin:<team>`, `team_viewer:<team>` by team name or id.
 */

/** The roles over the whole gateway. */
export const globalRoles = ["admin", "operator", "viewer"] as const

export type GlobalRole = typeof globalRoles[number]

/** A role, as provider.json's mapping and the grants name it. */
export type Role = GlobalRole | `team_admin:${string}` | `team_viewer:${string}`

/** A team role: its kind, then its team. */
export const teamRole = /^(team_admin|team_viewer):(.+)$/

/** Whether `text` is a role over the whole gateway. */
export function isGlobalRole(text: string): text is GlobalRole {
  return (globalRoles as ReadonlyArray<string>).includes(text)
}

/** Why `text` is no role, or `undefined` when it is one. */
export function roleProblem(text: string): string | undefined {
  if (isGlobalRole(text)) return undefined
  const match = teamRole.exec(text)
  if (match !== null && match[2]!.trim() === match[2]) return undefined
  return "expected admin, operator, viewer, team_admin:<team> or team_viewer:<team> (a team's name or id)"
}

export function roleOf(text: string): Role | undefined {
  return roleProblem(text) === undefined ? text as Role : undefined
}
