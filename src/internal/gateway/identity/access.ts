/**
 * What each admin route needs, in one table (`rules`), and the one check of a principal against it (`authorize`, for
 * every admin route: `serving/adminCheck.ts`). A route's team scope is read from the request (`Scope`). A refusal is
 * 403 naming the missing permission, never another team's data; an admin route the table does not name is refused to
 * everyone, and the application does not build (`unruled`).
 */
import { parseJsonObject } from "../../json.js"
import type { Principal } from "../access/adminCheck.js"
import { isAdminPath } from "../access/authentication.js"
import { grants, type Permission, type Team } from "../access/roles.js"
import * as Errors from "../errorAnswer.js"
import type { Store as KeyStore } from "../keys/store.js"

/**
 * Where a route's team comes from: `global` none (the whole gateway); `list` every team (each row then checked by
 * `sees`); `key` the team of the key its `:id` names; `team` the team its `:id` names; `newKey` the `team` of its
 * body; `keyChange` the key's team and, when the body names one, the new team; `teamChange` the team of its `:id`,
 * whose budget alone `budgets.write` changes (anything else of it needs the rule's permission).
 */
export type Scope = "global" | "list" | "key" | "team" | "newKey" | "keyChange" | "teamChange"

/** An admin route's rule: its method and path, and what it needs (`public`: nobody need be known). */
export interface Rule {
  readonly method: "GET" | "POST" | "PATCH" | "DELETE"
  readonly path: string
  readonly permission: Permission | "public"
  readonly scope: Scope
}

const rule = (method: Rule["method"], path: string, permission: Rule["permission"], scope: Scope = "global"): Rule => ({
  method,
  path,
  permission,
  scope
})

/** Every admin route's rule. */
export const rules: ReadonlyArray<Rule> = [
  rule("GET", "/dashboard/data", "observe"),
  rule("GET", "/metrics", "observe"),
  rule("GET", "/llm/model-load/*", "observe"),
  rule("GET", "/admin/spend", "observe"),
  rule("GET", "/admin/requests", "observe"),
  rule("GET", "/admin/batches", "observe"),
  rule("GET", "/admin/mcp/servers", "observe"),
  rule("GET", "/admin/mcp/pins", "observe"),
  rule("POST", "/admin/mcp/pins/:server/:tool/approve", "mcp.approve"),
  rule("POST", "/admin/mcp/pins/:server/:kind/:name/approve", "mcp.approve"),
  rule("POST", "/admin/reload", "reload"),
  rule("GET", "/admin/audit", "audit"),
  rule("POST", "/admin/keys", "keys.write", "newKey"),
  rule("GET", "/admin/keys", "keys.read", "list"),
  rule("GET", "/admin/keys/:id", "keys.read", "key"),
  rule("PATCH", "/admin/keys/:id", "keys.write", "keyChange"),
  rule("DELETE", "/admin/keys/:id", "keys.write", "key"),
  rule("POST", "/admin/keys/:id/rotate", "keys.write", "key"),
  rule("POST", "/admin/teams", "teams.write"),
  rule("GET", "/admin/teams", "teams.read", "list"),
  rule("GET", "/admin/teams/:id", "teams.read", "team"),
  rule("PATCH", "/admin/teams/:id", "teams.write", "teamChange"),
  rule("DELETE", "/admin/teams/:id", "teams.write"),
  rule("GET", "/admin/grants", "grants"),
  rule("POST", "/admin/grants", "grants"),
  rule("DELETE", "/admin/grants/:id", "grants"),
  rule("GET", "/admin/me", "self"),
  rule("GET", "/admin/oidc", "public"),
  rule("GET", "/admin/instance", "public"),
  rule("GET", "/admin/login", "public"),
  rule("GET", "/admin/callback", "public"),
  rule("POST", "/admin/logout", "public")
]

/** The rule of the route `method` `path` (HEAD is served as GET). */
export function ruleOf(method: string, path: string): Rule | undefined {
  const asked = method === "HEAD" ? "GET" : method
  return rules.find((candidate) => candidate.method === asked && candidate.path === path)
}

/** The admin routes among `routes` that no rule names. */
export function unruled(
  routes: ReadonlyArray<{ readonly method: string; readonly path: string }>
): ReadonlyArray<string> {
  return routes.filter((route) => isAdminPath(route.path) && ruleOf(route.method, route.path) === undefined).map((
    route
  ) => `${route.method} ${route.path}`)
}

/** The teams of keys and teams made at run time, by id (none without a database). */
export interface Teams {
  readonly ofKey: (id: string) => Team | undefined
  readonly byId: (id: string) => Team | undefined
}

export function teamsOf(store: KeyStore): Teams {
  function byId(id: string): Team | undefined {
    const team = store.teams().find((candidate) => candidate.id === id)
    return team === undefined ? undefined : { id: team.id, name: team.name }
  }
  return {
    byId,
    ofKey: (id) => {
      const teamId = store.keys().find((candidate) => candidate.id === id)?.teamId
      return teamId === undefined ? undefined : byId(teamId)
    }
  }
}

/** What a route's scope is read from. */
export interface Request {
  readonly params: Readonly<Record<string, string | undefined>>
  /** The body's text, on a route that takes one. */
  readonly body: string | undefined
  readonly teams: Teams | undefined
}

type Target = Team | "global" | "any"

// The team a body's `team` names: a team made here, else the whole gateway (no team, or one that is not).
function bodyTeam(body: Readonly<Record<string, unknown>> | undefined, teams: Teams | undefined): Target {
  const named = body?.["team"]
  return typeof named === "string" ? teams?.byId(named) ?? "global" : "global"
}

// What `rule` needs of the request: the permission, and each scope it must hold it over.
function needsOf(
  rule: Rule & { readonly permission: Permission },
  request: Request
): { readonly permission: Permission; readonly targets: ReadonlyArray<Target> } {
  const id = request.params["id"] ?? ""
  const body = request.body === undefined ? undefined : parseJsonObject(request.body)
  switch (rule.scope) {
    case "global":
      return { permission: rule.permission, targets: ["global"] }
    case "list":
      return { permission: rule.permission, targets: ["any"] }
    case "key":
      return { permission: rule.permission, targets: [request.teams?.ofKey(id) ?? "global"] }
    case "team":
      return { permission: rule.permission, targets: [request.teams?.byId(id) ?? "global"] }
    case "newKey":
      return { permission: rule.permission, targets: [bodyTeam(body, request.teams)] }
    case "keyChange": {
      const current = request.teams?.ofKey(id) ?? "global"
      return {
        permission: rule.permission,
        targets: body !== undefined && "team" in body ? [current, bodyTeam(body, request.teams)] : [current]
      }
    }
    case "teamChange": {
      const budgetOnly = body !== undefined && Object.keys(body).every((field) => field === "budget")
      return {
        permission: budgetOnly ? "budgets.write" : rule.permission,
        targets: [request.teams?.byId(id) ?? "global"]
      }
    }
  }
}

/** Whether `principal` may see a row of `permission` in `team` (none: a row of the whole gateway). */
export function sees(principal: Principal, permission: Permission, team: Team | undefined): boolean {
  return grants(principal.roles, permission, team ?? "global")
}

/** The 403 refusing `principal` `what` (`GET /admin/keys`), which needs `permission` their roles do not grant. */
export function permissionRequired(principal: Principal, what: string, permission: Permission): Errors.ErrorAnswer {
  const roles = principal.roles.length === 0 ? "none" : principal.roles.join(", ")
  // The same words whatever the object's team, so a refusal tells nothing of another team's keys.
  return Errors.answer(
    403,
    `${what} needs the permission \`${permission}\` over what it concerns, which your roles ` +
      `(${roles}) do not grant; docs/identity.md lists what each role grants.`,
    "invalid_request_error",
    null,
    "permission_required"
  )
}

/** The 403 refusing `principal` what `rule` needs of `request`, or `undefined` when its roles grant it. */
export function authorize(principal: Principal, rule: Rule, request: Request): Errors.ErrorAnswer | undefined {
  // Anyone known may ask who they are, a person without any role included.
  if (rule.permission === "public" || rule.permission === "self") return undefined
  const { permission, targets } = needsOf({ ...rule, permission: rule.permission }, request)
  if (targets.every((target) => grants(principal.roles, permission, target))) return undefined
  return permissionRequired(principal, `${rule.method} ${rule.path}`, permission)
}

/** The 403 of an admin route the table does not name: refused to everyone. */
export const noRule = Errors.answer(
  403,
  "This admin route declares no permission, so nobody may use it.",
  "invalid_request_error",
  null,
  "permission_required"
)
