/**
 * What the request log's tests share: a gateway over the simulator on a database, with two gateway keys (`alpha`,
 * and `beta` with a budget) and an admin key; its admin paths read with the admin key; and waiting until the log
 * holds a number of rows (they are written by a fiber of their own, after the answers).
 */
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { eventually } from "./eventually.js"
import { get } from "./gatewayHarness.js"

export const providerKey = "sk-request-log-provider-7c1e9a3f5b"
export const alphaKey = "gw-request-log-alpha-2d4f6b8a0c"
export const betaKey = "gw-request-log-beta-9e7c5a3b1d"
export const adminKey = "gw-request-log-admin-4b6d8f0a2c"
export const embeddingModel = "text-embedding-3-small"
// Read through `env:` by the file's `gateway` section.
process.env["REQUEST_LOG_ALPHA_KEY"] = alphaKey
process.env["REQUEST_LOG_BETA_KEY"] = betaKey
process.env["REQUEST_LOG_ADMIN_KEY"] = adminKey

/** Every deployment's price (a budgeted key may call only priced ones). */
export const pricing = { input_per_mtok: 2, output_per_mtok: 8 }

/** The file's `gateway` section: the keys, and `extra` (`log_payloads`, `request_log_retention`). */
export const gatewaySection = (extra: Record<string, unknown> = {}) => ({
  keys: [
    { name: "alpha", key: "env:REQUEST_LOG_ALPHA_KEY" },
    { name: "beta", key: "env:REQUEST_LOG_BETA_KEY", budget: { limit: 5, period: "month" } }
  ],
  admin_keys: [{ name: "ops", key: "env:REQUEST_LOG_ADMIN_KEY" }],
  ...extra
})

/** A simulator for the scope. */
export const simulator = Simulator.make({
  apiKeys: [providerKey],
  replyTokens: 6,
  models: [...Simulator.defaultModels, embeddingModel]
})

/** `sim` answers (chat and embeddings), `flaky` fails with 500. */
export const configJson = (simulator: Simulator.Simulator, gateway: Record<string, unknown>) => {
  const entry = (model: string, extra: Record<string, unknown> = {}) => ({
    model_name: model,
    base_url: `${simulator.url}/v1`,
    api_keys: [providerKey],
    max_retries: 0,
    pricing,
    ...extra
  })
  return {
    sim: [entry("gpt-4o-mini"), entry(embeddingModel)],
    flaky: [entry("sim-small", { headers: { "x-simulator-fault": "status=500" } })],
    gateway
  }
}

/** A gateway on `database` over `simulator`, for the scope. */
export const serveOn = (
  simulator: Simulator.Simulator,
  database: Gateway.Database,
  gateway: Record<string, unknown> = gatewaySection(),
  extra: Partial<Gateway.Options> = {}
) =>
  Effect.flatMap(
    ProviderConfig.fromJson(configJson(simulator, gateway)),
    (config) => Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, database, ...extra })
  )

/** A temporary directory for the scope. */
export const temporary = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "request-log-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** One row as `GET /admin/requests` gives it. */
export interface LoggedRow {
  readonly id: string
  readonly request_id: string
  readonly at: number
  readonly key_name: string | null
  readonly team_id: string | null
  readonly route: string
  readonly model: string | null
  readonly deployment: string | null
  readonly status: number
  readonly input_tokens: number | null
  readonly output_tokens: number | null
  readonly cached_tokens: number | null
  readonly cost: number | null
  readonly latency_ms: number
  readonly first_token_ms: number | null
  readonly error: string | null
  readonly payload: { readonly request: string | null; readonly reply: string } | null
}

export interface Page {
  readonly data: ReadonlyArray<LoggedRow>
  readonly next_cursor: string | null
}

/** An admin path's JSON, asked with the admin key; fails the test on any other status than `status`. */
export const admin = <A>(gateway: Gateway.Service, path: string, status = 200) =>
  Effect.map(get(gateway, path, adminKey), (answer) => {
    if (answer.status !== status) throw new Error(`${path}: ${answer.status} ${answer.text}`)
    return JSON.parse(answer.text) as A
  })

/** The newest `count` rows once the log holds at least that many. */
export const rows = (gateway: Gateway.Service, count: number) =>
  Effect.map(
    eventually(
      `${count} rows in the request log`,
      admin<Page>(gateway, `/admin/requests?limit=${Math.max(count, 1)}`),
      (page) => page.data.length >= count
    ),
    (page) => page.data
  )
