/**
 * The batches made through the gateway as an admin reads them: `GET /admin/batches` after batches made, completed and
 * cancelled with the official `openai` client over the simulator, each with its status, counts, times and the cost
 * of its lines settled (the request log's rows of them), a batch settled without its provider asked again; and the
 * dashboard's batches section in a real headless Chromium showing the same.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import OpenAI, { toFile } from "openai"
import type { Page } from "playwright-core"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, openDashboard, readUntil, screenshot, sectionShown, tableRows } from "../utils/dashboardHarness.js"
import { eventually } from "../utils/eventually.js"
import { get } from "../utils/gatewayHarness.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

const providerKey = "sk-provider-dashboard-batches-01"
const payerKey = "gw-batch-dash-payer-4c6e8a0b2d"

interface Listed {
  readonly id: string
  readonly object: string
  readonly key_id: string | null
  readonly key_name: string | null
  readonly team_id: string | null
  readonly deployment: string
  readonly model: string
  readonly status: string | null
  readonly request_counts: { readonly total: number; readonly succeeded: number; readonly failed: number } | null
  readonly created_at: number
  readonly settled_at: number | null
  readonly cost_settled: number | null
}

process.env["BATCHES_OIDC_CLIENT_SECRET"] = OidcIssuer.clientSecret

/**
 * A gateway on a SQLite file over the simulator (both given): gpt-4o-mini's batches end at once, gpt-4o's run ten
 * minutes; with `issuer`, people sign on through it, with its roles.
 */
const gatewayWith = (issuer?: OidcIssuer.Issuer) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "dashboard-batches-"))),
      (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
    )
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 8 })
    const base = { base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }
    const config = yield* ProviderConfig.fromJson({
      openai: [
        { model_name: "gpt-4o-mini", ...base },
        { model_name: "gpt-4o", ...base, headers: { [Simulator.batchFaultHeader]: "slow=600000" } }
      ],
      ...(issuer === undefined ? {} : {
        gateway: {
          oidc: {
            issuer: issuer.url,
            client_id: OidcIssuer.clientId,
            client_secret: "env:BATCHES_OIDC_CLIENT_SECRET",
            audience: OidcIssuer.audience,
            scopes: ["openid", "email", "groups"],
            roles: OidcIssuer.roles
          }
        }
      })
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      database: { sqlite: join(dir, "gateway.db") },
      keys: [{ name: "payer", key: Redacted.make(payerKey), budget: { limit: 1, period: "1 day" } }],
      adminKeys: [{ name: "ops", key: Redacted.make(adminKey) }]
    })
    return { gateway, simulator }
  })

const gatewayWithBatches = gatewayWith()

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A batch of `count` lines of `model`, made by the payer with the official client. */
const made = (openai: OpenAI, model: string, count: number) =>
  Effect.gen(function*() {
    const content = Array.from({ length: count }, (_, i) =>
      JSON.stringify({
        custom_id: `req-${i}`,
        method: "POST",
        url: "/v1/chat/completions",
        body: { model, max_tokens: 50, messages: [{ role: "user", content: `Hello ${i}` }] }
      })).join("\n")
    const file = yield* promise(async () =>
      openai.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" })
    )
    return yield* promise(() =>
      openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" })
    )
  })

/** `GET /admin/batches` with `key`: its status and, when 200, its batches. */
const listed = (gateway: Gateway.Service, key: string) =>
  Effect.map(get(gateway, "/admin/batches", key), (answer) => ({
    status: answer.status,
    text: answer.status === 200 ? "" : answer.text,
    data: answer.status === 200 ? (JSON.parse(answer.text) as { readonly data: ReadonlyArray<Listed> }).data : []
  }))

/** The request log's rows of a batch's lines: their cost. */
const rowCosts = (gateway: Gateway.Service, providerBatch: string) =>
  Effect.map(
    get(gateway, "/admin/requests?limit=500", adminKey),
    (answer) =>
      (JSON.parse(answer.text) as {
        readonly data: ReadonlyArray<{ readonly request_id: string; readonly cost: number }>
      })
        .data.filter((row) => row.request_id.startsWith(`${providerBatch}:`)).map((row) => row.cost)
  )

/** The provider's id of a batch, which its id carries. */
const providerBatchOf = (id: string) => JSON.parse(Buffer.from(id.split(".")[1]!, "base64url").toString())[2] as string

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

/** The batches section's rows, by batch id, each cell by its test id; and whether it is shown. */
const readBatches = (page: Page) =>
  Effect.gen(function*() {
    const batches = yield* tableRows(page, "batch", "batch")
    return { shown: yield* sectionShown(page, "batches"), order: Object.keys(batches), batches }
  })

/** Unix seconds as the page shows them. */
const shownTime = (seconds: number) => new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19)

describe("Gateway batches as an admin reads them", () => {
  it.live(
    "GET /admin/batches and the dashboard list the batches: status, counts, times and the cost settled",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* gatewayWithBatches
        const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: payerKey, maxRetries: 0 })
        // None made: an empty list, and the section hidden.
        expect(yield* listed(gateway, adminKey)).toEqual({ status: 200, text: "", data: [] })
        const completed = yield* made(openai, "gpt-4o-mini", 3)
        const cancelled = yield* made(openai, "gpt-4o", 2)
        yield* promise(() => openai.batches.cancel(cancelled.id))
        // Read until ended, which settles it (in the background).
        yield* eventually(
          "the first batch completed",
          promise(() => openai.batches.retrieve(completed.id)),
          (read) => read.status === "completed"
        )
        const costs = yield* eventually(
          "its lines' rows",
          rowCosts(gateway, providerBatchOf(completed.id)),
          (rows) => rows.length === 3
        )
        const { data } = yield* eventually(
          "both batches listed, the first settled",
          listed(gateway, adminKey),
          (answer) => answer.data.length === 2 && answer.data.some((batch) => batch.settled_at !== null)
        )
        // The newest first.
        expect(data.map((batch) => batch.id)).toEqual([cancelled.id, completed.id])
        const [second, first] = data
        expect(first).toMatchObject({
          object: "batch",
          key_id: "config:payer",
          key_name: "payer",
          team_id: null,
          model: "gpt-4o-mini",
          status: "completed",
          request_counts: { total: 3, succeeded: 3, failed: 0 }
        })
        // Unix seconds, as the admin paths give times; the wire's batch object gives them whole.
        expect(Math.floor(first!.created_at)).toBe(completed.created_at)
        expect(first!.settled_at).toBeGreaterThanOrEqual(first!.created_at)
        expect(first!.cost_settled).toBeGreaterThan(0)
        expect(first!.cost_settled).toBeCloseTo(sum(costs), 15)
        expect(second).toMatchObject({ model: "gpt-4o", key_name: "payer" })
        expect(Math.floor(second!.created_at)).toBe(cancelled.created_at)
        expect(["cancelled", "running"]).toContain(second!.status)
        // Another key is no admin: refused.
        expect((yield* listed(gateway, payerKey)).status).toBe(403)

        const page = yield* openDashboard(gateway.url)
        const reading = yield* readUntil(
          readBatches(page),
          (seen) => seen.batches[completed.id]?.["cost"]?.value !== undefined
        )
        yield* screenshot(page, "batches.png")
        expect(reading.shown).toBe(true)
        expect(reading.order).toEqual([cancelled.id, completed.id])
        const row = reading.batches[completed.id]!
        expect(Object.fromEntries(Object.entries(row).map(([id, cell]) => [id, cell.text]))).toMatchObject({
          key: "payer",
          model: "gpt-4o-mini",
          status: "completed",
          total: "3",
          succeeded: "3",
          failed: "0",
          created: shownTime(first!.created_at),
          settled: shownTime(first!.settled_at!)
        })
        expect(row["cost"]!.value).toBeCloseTo(first!.cost_settled!, 15)
        expect(reading.batches[cancelled.id]!["settled"]!.text).toBe(
          second!.settled_at === null ? "\u2013" : shownTime(second!.settled_at)
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    { timeout: 90_000 }
  )

  it.live(
    "a batch settled is listed as it ended, its provider not asked again; a batch still open is asked of it",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* gatewayWithBatches
        const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: payerKey, maxRetries: 0 })
        const completed = yield* made(openai, "gpt-4o-mini", 3)
        // Read until ended, which settles it (in the background): its status and counts as its provider gives them.
        const ended = yield* eventually(
          "the batch completed",
          promise(() => openai.batches.retrieve(completed.id)),
          (read) => read.status === "completed"
        )
        const settled = yield* eventually(
          "the batch listed settled",
          listed(gateway, adminKey),
          (answer) => answer.data[0]?.settled_at !== null
        )
        // The figures its provider gave, as the list showed them when it asked the provider.
        expect(settled.data).toHaveLength(1)
        expect(settled.data[0]).toMatchObject({
          id: completed.id,
          status: ended.status,
          request_counts: {
            total: ended.request_counts!.total,
            succeeded: ended.request_counts!.completed,
            failed: ended.request_counts!.failed
          }
        })
        // Listed again, as the dashboard polls it: the provider is asked nothing, the figures the same.
        const asked = yield* simulator.requestCount
        for (let poll = 0; poll < 3; poll++) expect(yield* listed(gateway, adminKey)).toEqual(settled)
        expect(yield* simulator.requestCount).toBe(asked)
        // A batch still running is read from its provider at each poll.
        const running = yield* made(openai, "gpt-4o", 2)
        const before = yield* simulator.requestCount
        const both = yield* listed(gateway, adminKey)
        expect(yield* simulator.requestCount).toBeGreaterThan(before)
        expect(both.data.map((batch) => [batch.id, batch.status])).toEqual([
          [running.id, "running"],
          [completed.id, "completed"]
        ])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    { timeout: 60_000 }
  )

  it.live(
    "a viewer lists the batches without their keys; an operator, who may read keys, with them",
    () =>
      Effect.gen(function*() {
        const issuer = yield* OidcIssuer.make
        const { gateway } = yield* gatewayWith(issuer)
        yield* issuer.register(`${gateway.url}/admin/callback`, `${gateway.url}/dashboard`)
        const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: payerKey, maxRetries: 0 })
        const batch = yield* made(openai, "gpt-4o-mini", 2)
        const asPerson = (person: string) => Effect.flatMap(issuer.token(person), (token) => listed(gateway, token))
        const viewer = yield* asPerson("vera@example.com")
        expect([viewer.status, viewer.text]).toEqual([200, ""])
        expect(viewer.data.map((row) => [row.id, row.key_id, row.key_name, row.team_id])).toEqual([
          [batch.id, null, null, null]
        ])
        expect(viewer.data[0]!.model).toBe("gpt-4o-mini")
        const operator = yield* asPerson("otto@example.com")
        expect(operator.data.map((row) => [row.id, row.key_id, row.key_name])).toEqual([
          [batch.id, "config:payer", "payer"]
        ])
        // No role that observes: refused.
        expect((yield* asPerson("nora@example.com")).status).toBe(403)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    { timeout: 60_000 }
  )
})
