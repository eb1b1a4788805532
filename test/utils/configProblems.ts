/**
 * A provider.json with any set of independent problems, one of each kind the configuration's reading checks: a field's
 * value (an entry's, a router's, a gateway key's, an MCP server's, the store's, a guardrail's settings), a
 * cross-reference (a router's deployment, a fallback, a guardrail's name), a rule across an entry's fields (a preset on
 * another api, a name listed twice, a server with both a url and a command) and an unset `env:` variable; and of each
 * kind only the gateway finds as it builds what the file describes (`stage: "gateway"`): a key naming a model no
 * deployment serves, a budget on an unpriced model, an adapter refusing an entry, sign-on's settings and callers by
 * token's. Each names one path, in a part of the file of its own but for a gateway key's unset variable and its model
 * (what the gateway finds of a key stands beside its unset variable), so a refusal that names every problem at once
 * names exactly these paths.
 */
import * as fc from "fast-check"

/** A provider.json as these tests write it: its sections, any other added by a problem. */
export interface File {
  sim: Array<Record<string, unknown>>
  router: Record<string, Record<string, unknown>>
  guardrails: Record<string, unknown>
  gateway: {
    keys: Array<{ readonly name: string; readonly key: string; readonly [field: string]: unknown }>
    admin_keys: Array<{ readonly name: string; readonly key: string }>
  }
  [section: string]: unknown
}

/** A problem: the path the refusal names, and how it changes a good file; found by the gateway's build, or before. */
export interface Problem {
  readonly path: string
  readonly apply: (file: File) => void
  readonly stage?: "gateway"
}

// Each entry's index is its own: a problem changes its entry, or adds one, never another's.
const entries = ["a", "b", "c", "d", "e"]

/** A good file over `baseUrl`: five entries, a router over two, a gateway section, no problem. */
export const goodFile = (baseUrl: string, key: string): File => ({
  sim: entries.map((name) => ({ model_name: name, base_url: baseUrl, api_keys: [key] })),
  router: { main: { deployments: ["sim/a", "sim/b"] } },
  guardrails: { pii: { checks: ["email"], action: "mask" } },
  gateway: {
    keys: [
      { name: "app", key: "gw-config-problems-app-0001" },
      { name: "reader", key: "gw-config-problems-reader-0001", models: ["a"] },
      { name: "spender", key: "gw-config-problems-spender-0001", models: ["c"] },
      { name: "late", key: "gw-config-problems-late-0001", models: ["d"] }
    ],
    admin_keys: [{ name: "ops", key: "gw-config-problems-admin-0001" }]
  }
})

/** Every kind of problem, each in its own part of the file. */
export const problems: ReadonlyArray<Problem> = [
  // Fields' values.
  { path: "sim[0].rate_limit_capacity", apply: (file) => Object.assign(file.sim[0]!, { rate_limit_capacity: 0 }) },
  { path: "sim[1].max_retries", apply: (file) => Object.assign(file.sim[1]!, { max_retries: -1 }) },
  {
    path: "router.fast.strategy",
    apply: (file) => Object.assign(file.router, { fast: { deployments: ["sim/c"], strategy: "fastest" } })
  },
  {
    path: "gateway.keys[0].rate_limit_capacity",
    apply: (file) => Object.assign(file.gateway.keys[0]!, { rate_limit_capacity: -2 })
  },
  { path: "store.redis", apply: (file) => Object.assign(file, { store: { redis: "http://not-redis" } }) },
  // Cross-references.
  {
    path: "router.main.deployments[1]",
    apply: (file) => Object.assign(file.router.main!, { deployments: ["sim/a", "sim/unknown"] })
  },
  {
    path: "router.backup.fallbacks.sim/d[0].to",
    apply: (file) =>
      Object.assign(file.router, {
        backup: { deployments: ["sim/d"], fallbacks: { "sim/d": [{ to: "nowhere", on: ["RateLimitError"] }] } }
      })
  },
  { path: "sim[2].guardrails[0]", apply: (file) => Object.assign(file.sim[2]!, { guardrails: ["nonexistent"] }) },
  // Rules across an entry's fields.
  {
    path: "sim[3].preset",
    apply: (file) => Object.assign(file.sim[3]!, { api: "anthropic", preset: "deepseek" })
  },
  {
    path: "sim[5].model_name",
    apply: (file) => file.sim.push({ ...file.sim[4]!, model_name: "e" })
  },
  {
    path: "mcp_servers.files",
    apply: (file) => Object.assign(file, { mcp_servers: { files: { url: "http://127.0.0.1:1/mcp", command: "node" } } })
  },
  // An unset variable: an entry's key, and a gateway key's (whose other problem below is named beside it).
  {
    path: "sim[4].api_keys[0]",
    apply: (file) => Object.assign(file.sim[4]!, { api_keys: ["env:CONFIG_PROBLEMS_UNSET_KEY"] })
  },
  {
    path: "gateway.keys[3].key",
    apply: (file) => Object.assign(file.gateway.keys[3]!, { key: "env:CONFIG_PROBLEMS_UNSET_GATEWAY_KEY" })
  },
  // Found by the gateway as it builds: a key's model, a budget on a model without a price, an adapter refusing an entry
  // (two, each named), sign-on's settings, callers by token's; and a guardrail's settings (two, each named), which the
  // file's reading checks as the guardrail's constructor does.
  {
    path: "gateway.keys[1].models[0]",
    stage: "gateway",
    apply: (file) => Object.assign(file.gateway.keys[1]!, { models: ["nowhere"] })
  },
  {
    path: "gateway.keys[2].budget",
    stage: "gateway",
    apply: (file) => Object.assign(file.gateway.keys[2]!, { budget: { limit: 1 } })
  },
  {
    path: "gateway.keys[3].models[0]",
    stage: "gateway",
    apply: (file) => Object.assign(file.gateway.keys[3]!, { models: ["elsewhere"] })
  },
  {
    path: "cloud[0].project",
    stage: "gateway",
    apply: (file) =>
      Object.assign(file, {
        cloud: [{ model_name: "v", api: "vertex", project: "not a project", location: "us-central1" }]
      })
  },
  {
    path: "cloud2[0].location",
    stage: "gateway",
    apply: (file) =>
      Object.assign(file, {
        cloud2: [{ model_name: "w", api: "vertex", project: "my-proj", location: "not a place" }]
      })
  },
  {
    path: "guardrails.window.window",
    apply: (file) =>
      Object.assign(file.guardrails, { window: { checks: ["email"], mode: "window", window: 10, overlap: 300 } })
  },
  {
    path: "guardrails.words.window",
    apply: (file) =>
      Object.assign(file.guardrails, { words: { words: ["secret"], mode: "window", window: 50, overlap: 100 } })
  },
  {
    path: "gateway.oidc.audience",
    stage: "gateway",
    apply: (file) =>
      Object.assign(file.gateway, { oidc: { issuer: "http://127.0.0.1:1", client_id: "dash", audience: "dash" } })
  },
  {
    path: "gateway.token_callers[0].models[0]",
    stage: "gateway",
    apply: (file) =>
      Object.assign(file.gateway, {
        token_callers: [{ issuer: "http://127.0.0.1:1", audience: "api", teams: { x: "t" }, models: ["nowhere"] }]
      })
  }
]

/** The problems the file's reading finds, before the gateway builds anything. */
export const fileProblems = problems.filter((problem) => problem.stage === undefined)

/** A file with the problems chosen, and their paths. */
export const withProblems = (baseUrl: string, key: string, chosen: ReadonlyArray<Problem>) => {
  const file = goodFile(baseUrl, key)
  for (const problem of chosen) problem.apply(file)
  return { file, paths: chosen.map((problem) => problem.path).sort() }
}

/** Any set of problems, one or more. */
export const someProblems = fc.subarray([...problems], { minLength: 1 })

/** Any set of the file's own problems, one or more. */
export const someFileProblems = fc.subarray([...fileProblems], { minLength: 1 })

/** The paths a refusal's lines name (`  path: message`, one a line). */
export const pathsNamed = (message: string): ReadonlyArray<string> =>
  message.split("\n").slice(1).map((line) => line.trim().split(": ", 1)[0]!).filter((path) => path !== "").sort()
