/**
 * MCP tool calls governed as model calls are, over loopback with the official SDK's client against `serve`'s `/mcp`:
 * a server's `price_per_call` reserved from the key's budget before each call (never more spent than the limit, however
 * many calls run at once; a refusal an `isError` result naming the budget), its `max_concurrency` and token bucket
 * taken before the call is sent (a call cancelled before it is sent, waiting on them or on its guardrail, costs
 * nothing), and every call a request-log row (server, tool, the arguments' digest and never the arguments, outcome,
 * cost) and counted in `/metrics`.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { createHash } from "node:crypto"
import { join } from "node:path"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { get } from "../utils/gatewayHarness.js"
import { serve } from "../utils/loopbackServer.js"
import { sdkClient } from "../utils/mcpClient.js"
import { effectServer, waitingServer } from "../utils/mcpUpstreams.js"
import { expectOptionsError } from "../utils/optionsError.js"
import { samplesOf, valueOf } from "../utils/prometheus.js"
import { redisServer } from "../utils/redisServer.js"
import { temporary } from "../utils/requestLogHarness.js"

const providerKey = "sk-provider-mcp-governance-0001"
const tightKey = "gw-mcp-governance-tight-8b1f3d5a7c"
const adminKey = "gw-mcp-governance-admin-1c3e5a7b9d"
const pacedKey = "gw-mcp-governance-paced-5f7a9c1e3b"
process.env["MCP_GOVERNANCE_TIGHT_KEY"] = tightKey
process.env["MCP_GOVERNANCE_PACED_KEY"] = pacedKey
process.env["MCP_GOVERNANCE_ADMIN_KEY"] = adminKey

// What no row may hold: the call's arguments.
const secretPath = "private/payroll-2026.csv"

interface Row {
  readonly key_name: string | null
  readonly route: string
  readonly status: number
  readonly cost: number | null
  readonly error: string | null
  readonly mcp_server: string | null
  readonly mcp_tool: string | null
  readonly arguments_digest: string | null
}

// A call's outcome: its result's `isError` and first text block.
const call = (client: Client, name: string, args: Record<string, unknown>) =>
  Effect.promise(() =>
    client.callTool({ name, arguments: args }).then((result) => ({
      isError: result.isError === true,
      text: (result.content as ReadonlyArray<{ readonly type: string; readonly text?: string }>)[0]?.text ?? ""
    }))
  )

const simulator = Simulator.make({ apiKeys: [providerKey] })

const sim = (url: string) => [{
  model_name: "gpt-4o-mini",
  base_url: `${url}/v1`,
  api_keys: [providerKey],
  pricing: { input_per_mtok: 1, output_per_mtok: 1 }
}]

// A gateway over a SQLite file whose key `tight` has $0.05 a day for the tools of `files` (at `url`), $0.02 a call,
// each call checked by the guardrails `guardrails` (none when empty).
function tightGateway(url: string, guardrails: Record<string, unknown>) {
  return Effect.gen(function*() {
    const named = Object.keys(guardrails)
    const config = yield* ProviderConfig.fromJson({
      sim: sim((yield* simulator).url),
      guardrails,
      mcp_servers: { files: { url, price_per_call: 0.02, ...(named.length === 0 ? {} : { guardrails: named }) } },
      gateway: {
        keys: [{
          name: "tight",
          key: "env:MCP_GOVERNANCE_TIGHT_KEY",
          tools: ["files__*"],
          budget: { limit: 0.05, period: "1 day" }
        }],
        admin_keys: [{ name: "ops", key: "env:MCP_GOVERNANCE_ADMIN_KEY" }]
      }
    })
    return yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      database: { sqlite: join(yield* temporary, "gateway.db") }
    })
  })
}

describe("MCP tool calls governed as model calls", () => {
  it.live(
    "a $0.02 tool on a $0.05 budget: 12 calls at once spend at most the limit; each call a row and a count",
    () =>
      Effect.gen(function*() {
        const files = yield* effectServer
        const gateway = yield* tightGateway(files.url, {})
        const client = yield* sdkClient(`${gateway.url}/mcp`, tightKey)

        // A tool's own error (isError) is a call its server ran: charged. $0.03 is left.
        expect(yield* call(client, "files__fail", { path: secretPath })).toEqual({
          isError: true,
          text: `no such file: ${secretPath}`
        })
        const outcomes = yield* Effect.all(
          Array.from({ length: 12 }, () => call(client, "files__read", { path: secretPath })),
          { concurrency: "unbounded" }
        )
        const answered = outcomes.filter((outcome) => !outcome.isError)
        const refused = outcomes.filter((outcome) => outcome.isError)
        expect(answered).toHaveLength(1)
        expect(answered[0]!.text).toContain(secretPath)
        expect(refused).toHaveLength(11)
        for (const refusal of refused) {
          expect(refusal.text).toMatch(
            /^This gateway key's budget (is spent|has \$0\.01 of \$0\.05 left, and this call may cost up to \$0\.02 \(the price of a call of the MCP tool `files__read`\))/
          )
        }

        // The budget as the gateway keeps it: two calls charged, nothing left reserved.
        const key = JSON.parse((yield* get(gateway, "/admin/keys/config:tight", adminKey)).text) as {
          readonly spend: { readonly spent: number; readonly reserved: number; readonly limit: number }
        }
        expect(key.spend.spent).toBeCloseTo(0.04, 10)
        expect(key.spend.reserved).toBe(0)
        expect(key.spend.limit).toBe(0.05)

        const digest = createHash("sha256").update(JSON.stringify({ path: secretPath })).digest("hex")
        const page = yield* eventually(
          "13 rows in the request log",
          Effect.map(get(gateway, "/admin/requests?limit=50", adminKey), (answer) => {
            expect(answer.status).toBe(200)
            return answer.text
          }),
          (text) => (JSON.parse(text) as { data: ReadonlyArray<Row> }).data.filter((row) => row.mcp_tool).length >= 13
        )
        expect(page).not.toContain(secretPath)
        expect(page).not.toContain(tightKey)
        const rows = (JSON.parse(page) as { data: ReadonlyArray<Row> }).data.filter((row) => row.mcp_tool !== null)
        const byError = (error: string | null) => rows.filter((row) => row.error === error)
        expect(byError("ToolError")).toEqual([
          expect.objectContaining({
            key_name: "tight",
            route: "/mcp",
            mcp_server: "files",
            mcp_tool: "fail",
            cost: 0.02
          })
        ])
        expect(byError(null)).toEqual([
          expect.objectContaining({ key_name: "tight", mcp_server: "files", mcp_tool: "read", cost: 0.02 })
        ])
        expect(byError("insufficient_quota")).toHaveLength(11)
        for (const row of rows) expect(row.arguments_digest).toBe(digest)
        for (const row of byError("insufficient_quota")) expect(row.cost).toBeNull()

        const metrics = samplesOf((yield* get(gateway, "/metrics", adminKey)).text)
        const calls = (tool: string, outcome: string) =>
          valueOf(metrics, "llm_gateway_mcp_calls_total", { server: "files", tool, outcome })
        expect([calls("fail", "tool_error"), calls("read", "ok"), calls("read", "refused")]).toEqual([1, 1, 11])
        expect(valueOf(metrics, "llm_gateway_mcp_call_duration_seconds_count", { server: "files", tool: "read" }))
          .toBe(12)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "max_concurrency 2 and a bucket of 2 refilled at 4 a second: 6 calls at once, never more than 2 upstream, paced",
    () =>
      Effect.gen(function*() {
        const upstream = yield* waitingServer(150)
        const config = yield* ProviderConfig.fromJson({
          sim: sim((yield* simulator).url),
          mcp_servers: {
            waiting: { url: upstream.url, max_concurrency: 2, rate_limit_capacity: 2, rate_limit_refill_rate: 4 }
          }
        })
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        const client = yield* sdkClient(`${gateway.url}/mcp`)
        const start = yield* Clock.currentTimeMillis
        const outcomes = yield* Effect.all(
          Array.from({ length: 6 }, () => call(client, "waiting__wait", {})),
          { concurrency: "unbounded" }
        )
        expect(outcomes).toEqual(Array.from({ length: 6 }, () => ({ isError: false, text: "done" })))
        expect(upstream.seen.most).toBe(2)
        // Two tokens at once, then one each quarter second: the sixth call begins a second after the first.
        const began = [...upstream.seen.began].sort((a, b) => a - b)
        expect(began[5]! - start).toBeGreaterThanOrEqual(900)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "two gateways on one Redis: a server's max_concurrency of 1 holds across both (4 calls, 1 upstream at a time)",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const upstream = yield* waitingServer(300)
        const json = {
          sim: sim((yield* simulator).url),
          mcp_servers: { waiting: { url: upstream.url, max_concurrency: 1 } },
          store: { redis: redis.url },
          // Instances sharing a store answer requests without a key only when told to.
          gateway: { allow_keyless: true }
        }
        const clients = yield* Effect.forEach([1, 2], () =>
          Effect.gen(function*() {
            const config = yield* ProviderConfig.fromJson(json)
            const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
            const client = yield* sdkClient(`${gateway.url}/mcp`)
            // Once the gateway has reached the store (it connects in the background), its calls go through.
            yield* eventually("a call through the store", call(client, "waiting__wait", {}), (outcome) =>
              !outcome.isError)
            return client
          }))
        upstream.seen.most = 0
        const outcomes = yield* Effect.all(
          [...clients, ...clients].map((client) =>
            call(client, "waiting__wait", {})
          ),
          { concurrency: "unbounded" }
        )
        expect(outcomes).toEqual(Array.from({ length: 4 }, () => ({ isError: false, text: "done" })))
        expect(upstream.seen.most).toBe(1)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a reload keeping a server's rate limit keeps its bucket (the next call waits); a changed limit starts full",
    () =>
      Effect.gen(function*() {
        const upstream = yield* waitingServer(1)
        const model = { sim: sim((yield* simulator).url) }
        const limited = (capacity: number, price: number) =>
          ProviderConfig.fromJson({
            ...model,
            mcp_servers: {
              waiting: {
                url: upstream.url,
                price_per_call: price,
                rate_limit_capacity: capacity,
                rate_limit_refill_rate: 0.25
              }
            }
          })
        let next = yield* limited(2, 0.001)
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(next),
          port: 0,
          source: Effect.sync(() => ProviderConfig.gatewayConfig(next))
        })
        const client = yield* sdkClient(`${gateway.url}/mcp`)
        const timed = Effect.andThen(call(client, "waiting__wait", {}), Clock.currentTimeMillis)
        const start = yield* Clock.currentTimeMillis
        yield* timed
        yield* timed
        // The same limit under another price: the bucket is the one the two calls emptied.
        next = yield* limited(2, 0.002)
        yield* gateway.reload
        expect((yield* timed) - start).toBeGreaterThanOrEqual(3_000)
        // Another limit: a bucket of its own, full.
        next = yield* limited(3, 0.002)
        yield* gateway.reload
        const before = yield* Clock.currentTimeMillis
        expect((yield* timed) - before).toBeLessThan(3_000)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("a key's rate limit: one token a tool call, past it refused, not sent; free servers cost nothing", () =>
    Effect.gen(function*() {
      const files = yield* effectServer
      const config = yield* ProviderConfig.fromJson({
        sim: sim((yield* simulator).url),
        mcp_servers: { files: { url: files.url } },
        gateway: {
          keys: [{
            name: "paced",
            key: "env:MCP_GOVERNANCE_PACED_KEY",
            tools: ["files__read"],
            rate_limit_capacity: 2,
            rate_limit_refill_rate: 0.001,
            budget: { limit: 0.01, period: "1 day" }
          }],
          admin_keys: [{ name: "ops", key: "env:MCP_GOVERNANCE_ADMIN_KEY" }]
        }
      })
      const gateway = yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        database: { sqlite: join(yield* temporary, "gateway.db") }
      })
      const client = yield* sdkClient(`${gateway.url}/mcp`, pacedKey)
      const before = files.seen.authorizations.length
      const outcomes = yield* Effect.forEach([1, 2, 3], () => call(client, "files__read", { path: "a" }))
      expect(outcomes.map((outcome) => outcome.isError)).toEqual([false, false, true])
      expect(outcomes[2]!.text).toBe(
        "This gateway key's rate limit is reached. Retry after the time in the Retry-After header."
      )
      // Two calls sent upstream, the third not.
      expect(files.seen.authorizations.length - before).toBe(2)
      const metrics = samplesOf((yield* get(gateway, "/metrics", adminKey)).text)
      const calls = (outcome: string) =>
        valueOf(metrics, "llm_gateway_mcp_calls_total", { server: "files", tool: "read", outcome })
      expect([calls("ok"), calls("refused")]).toEqual([2, 1])
      const key = JSON.parse((yield* get(gateway, "/admin/keys/config:paced", adminKey)).text) as {
        readonly spend: { readonly spent: number; readonly reserved: number }
      }
      expect(key.spend).toMatchObject({ spent: 0, reserved: 0 })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("a call its client cancels while its guardrail checks its arguments is not sent and costs nothing", () =>
    Effect.gen(function*() {
      const files = yield* effectServer
      // A webhook that never answers: the call waits on its arguments' check until its client cancels it.
      const checking = yield* Deferred.make<void>()
      const hook = yield* serve(() => Deferred.doneUnsafe(checking, Exit.void))
      const gateway = yield* tightGateway(files.url, {
        held: { webhook: `${hook.url}/check`, timeout: "60 seconds", on: ["tool_arguments"] }
      })
      const client = yield* sdkClient(`${gateway.url}/mcp`, tightKey)
      const cancel = new AbortController()
      const called = client.callTool({ name: "files__read", arguments: { path: secretPath } }, undefined, {
        signal: cancel.signal
      }).then(() => "answered", () => "cancelled")
      yield* Deferred.await(checking)
      const spend = Effect.map(
        get(gateway, "/admin/keys/config:tight", adminKey),
        (answer) => (JSON.parse(answer.text) as { readonly spend: { spent: number; reserved: number } }).spend
      )
      // While it waits on its guardrail, the call's price is held on the budget.
      expect(yield* spend).toMatchObject({ spent: 0, reserved: 0.02, limit: 0.05 })
      cancel.abort()
      expect(yield* Effect.promise(() => called)).toBe("cancelled")
      // Cancelled before it was sent, its reservation is released, not charged.
      const after = yield* eventually("the reservation let go of", spend, (now) => now.reserved === 0)
      expect(after).toMatchObject({ spent: 0, reserved: 0, limit: 0.05 })
      expect(files.seen.metas).toEqual([])
    }).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a price that is not a positive number (Gateway.Config in code) fails the start naming it", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson({ sim: sim((yield* simulator).url) })
      const error = yield* Effect.flip(Gateway.make({
        config: {
          ...ProviderConfig.gatewayConfig(config),
          mcpServers: { files: { url: "http://127.0.0.1:1/mcp", pricePerCall: Number.NaN } }
        },
        port: 0
      }))
      expectOptionsError(error, { module: "Gateway", option: "config.mcpServers.files.pricePerCall", value: "NaN" })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.effect("provider.json: a price is a positive number, and a server's rate limit takes both its fields", () =>
    Effect.gen(function*() {
      const refusal = (server: Record<string, unknown>) =>
        Effect.map(
          Effect.flip(ProviderConfig.fromJson({
            sim: [{ model_name: "gpt-4o-mini", api_keys: [providerKey] }],
            mcp_servers: { files: { url: "http://127.0.0.1:9/mcp", ...server } }
          })),
          (error) => error.message
        )
      expect(yield* refusal({ price_per_call: -1 })).toContain(
        "mcp_servers.files.price_per_call: expected a positive number"
      )
      expect(yield* refusal({ max_concurrency: 1.5 })).toContain(
        "mcp_servers.files.max_concurrency: expected a positive whole number"
      )
      expect(yield* refusal({ rate_limit_capacity: 2 })).toContain(
        "mcp_servers.files.rate_limit_refill_rate: is missing"
      )
    }))
})
