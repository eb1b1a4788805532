/**
 * The dashboard's spend chart and budgets in a real headless Chromium: a gateway over the simulator with a SQLite
 * database, calls made by two keys (one budgeted), the chart drawn by the page from the request log (by model in
 * dollars, by key in calls) and the budgeted key's budget left; and without a database, the chart drawn from the
 * request log the gateway keeps in memory.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import type { Page } from "playwright-core"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminKey,
  appKey,
  browser,
  type Cell,
  type DomDocument,
  keyed,
  openDashboard,
  providerKey,
  readUntil,
  screenshot,
  serve,
  submitKey,
  tableRows
} from "../utils/dashboardHarness.js"

const budgetKey = "gw-dashboard-budget-6c8e0a2b4d"
process.env["GATEWAY_DASHBOARD_BUDGET_KEY"] = budgetKey
// A key named as an object's prototype: the page's sums must take it as a name like any other.
const protoKey = "gw-dashboard-proto-1f3b5d7a9c"
process.env["GATEWAY_DASHBOARD_PROTO_KEY"] = protoKey

// What the spend chart shows: its bars (group, bucket, value), its legend's groups, and the budgets table's rows.
interface SpendReading {
  readonly bars: ReadonlyArray<{ readonly group: string; readonly bucket: number; readonly value: number }>
  readonly legend: ReadonlyArray<string>
  readonly budgets: Readonly<Record<string, Readonly<Record<string, Cell>>>>
  /** The totals table's cache cells per group: tokens read, tokens written, and what caching saved. */
  readonly cache: Readonly<Record<string, Readonly<Record<"cached" | "written" | "saved", string>>>>
}

const readSpend = (page: Page): Effect.Effect<SpendReading> =>
  Effect.gen(function*() {
    const chart = yield* Effect.promise(() =>
      page.evaluate(() => {
        const document = (globalThis as unknown as { readonly document: DomDocument }).document
        const bars = Array.from(document.querySelectorAll("[data-testid=spend-bar]")).map((bar) => ({
          group: bar.dataset["group"]!,
          bucket: Number(bar.dataset["bucket"]),
          value: Number(bar.dataset["value"])
        }))
        const legend = Array.from(document.querySelectorAll("[data-testid=spend-legend-item]")).map((item) =>
          item.dataset["group"]!
        )
        return { bars, legend }
      })
    )
    const budgets = yield* tableRows(page, "budget", "key")
    const totals = yield* tableRows(page, "spend-total", "group")
    const text = (cells: Readonly<Record<string, Cell>>, testId: string) => cells[testId]?.text ?? ""
    const cache = Object.fromEntries(
      Object.entries(totals).map((
        [group, cells]
      ) => [group, { cached: text(cells, "cached"), written: text(cells, "written"), saved: text(cells, "saved") }])
    )
    return { ...chart, budgets, cache }
  })

const totalOf = (reading: SpendReading, group: string) =>
  reading.bars.filter((bar) => bar.group === group).reduce((sum, bar) => sum + bar.value, 0)

const select = (page: Page, testId: string, value: string) =>
  Effect.promise(() => page.getByTestId(testId).selectOption(value))

describe("Gateway dashboard's spend chart and budgets in headless Chromium", () => {
  it.live(
    "charts the request log's spend by model and by key, and shows each budgeted key's budget left",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(Path.join(tmpdir(), "dashboard-db-"))),
          (made) => Effect.promise(() => rm(made, { recursive: true, force: true }))
        )
        const gateway = yield* serve({
          keys: [
            ...keyed.keys,
            {
              name: "budgeted",
              key: "env:GATEWAY_DASHBOARD_BUDGET_KEY",
              models: ["sim/gpt-4o-mini"],
              budget: { limit: 2, period: "month" }
            },
            { name: "__proto__", key: "env:GATEWAY_DASHBOARD_PROTO_KEY" }
          ],
          admin_keys: keyed.admin_keys
        }, { database: { sqlite: Path.join(dir, "gateway.db") } })
        const call = (key: string, model: string) =>
          fetch(`${gateway.url}/v1/chat/completions`, {
            method: "POST",
            headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
            body: JSON.stringify({ model, max_tokens: 20, messages: [{ role: "user", content: "Spend, please" }] })
          }).then((response) => response.text().then(() => response.status))
        // The hours the calls were made in (one, unless an hour turned while they ran).
        const hourOf = (millis: number) => Math.floor(millis / 3_600_000) * 3_600_000
        const calledFrom = hourOf(Date.now())
        const statuses = yield* Effect.promise(() =>
          Promise.all([
            ...Array.from({ length: 3 }, () => call(appKey, "sim/gpt-4o-mini")),
            call(appKey, "flaky/sim-small"),
            ...Array.from({ length: 2 }, () => call(budgetKey, "sim/gpt-4o-mini")),
            call(protoKey, "sim/gpt-4o-mini")
          ])
        )
        expect(statuses.filter((status) => status === 200)).toHaveLength(6)
        // Two calls of one prompt cache key and a 500-token system prompt, each with its own question: the second
        // reads the 500 from the cache, at gpt-4o-mini's $0.075 a million instead of $0.15.
        const rules = "Review Go code with care, line by line. ".repeat(50)
        for (const question of ["Spend, please", "And again"]) {
          const cachedStatus = yield* Effect.promise(() =>
            fetch(`${gateway.url}/v1/chat/completions`, {
              method: "POST",
              headers: { authorization: `Bearer ${appKey}`, "content-type": "application/json" },
              body: JSON.stringify({
                model: "sim/gpt-4o-mini",
                max_tokens: 20,
                prompt_cache_key: "dashboard",
                messages: [{ role: "system", content: rules }, { role: "user", content: question }]
              })
            }).then((response) => response.text().then(() => response.status))
          )
          expect(cachedStatus).toBe(200)
        }
        // A key made in a team, on a budget, with a call: its budget's row names the team by its name.
        const admin = (path: string, body: unknown) =>
          fetch(`${gateway.url}${path}`, {
            method: "POST",
            headers: { authorization: `Bearer ${adminKey}`, "content-type": "application/json" },
            body: JSON.stringify(body)
          }).then((response) => response.json() as Promise<{ readonly id: string; readonly key?: string }>)
        const team = yield* Effect.promise(() => admin("/admin/teams", { name: "research" }))
        const member = yield* Effect.promise(() =>
          admin("/admin/keys", {
            name: "member",
            team: team.id,
            models: ["sim/gpt-4o-mini"],
            budget: { limit: 3, period: "month" }
          })
        )
        expect(yield* Effect.promise(() => call(member.key!, "sim/gpt-4o-mini"))).toBe(200)

        const page = yield* openDashboard(gateway.url)

        // By model, in dollars: the priced model's bars add up to what the log says it cost.
        const byModel = yield* readUntil(readSpend(page), (reading) => totalOf(reading, "sim/gpt-4o-mini") > 0)
        expect(byModel.legend).toEqual(["sim/gpt-4o-mini", "flaky/sim-small"])
        const spend = yield* Effect.promise(() =>
          fetch(`${gateway.url}/admin/spend?group_by=model`, { headers: { authorization: `Bearer ${adminKey}` } })
            .then((response) => response.json() as Promise<{ groups: Array<{ group: string; cost: number }> }>)
        )
        const cost = spend.groups.find((group) => group.group === "sim/gpt-4o-mini")!.cost
        expect(totalOf(byModel, "sim/gpt-4o-mini")).toBeCloseTo(cost, 10)
        // Its totals row: the 500 tokens read, none written, $0.0000375 saved, shown to the micro-dollar.
        expect(byModel.cache["sim/gpt-4o-mini"]).toEqual({ cached: "500", written: "0", saved: "$0.000038" })
        expect(byModel.cache["flaky/sim-small"]).toEqual({ cached: "0", written: "0", saved: "$0.000000" })
        // Every bar in the slot of the hour the calls were made in.
        const calledTo = hourOf(Date.now())
        for (const bar of byModel.bars) expect([calledFrom, calledTo]).toContain(bar.bucket)

        // By key, in calls.
        yield* select(page, "spend-measure", "calls")
        yield* select(page, "spend-group", "key")
        const byKey = yield* readUntil(readSpend(page), (reading) => reading.legend.includes("budgeted"))
        expect(byKey.legend).toEqual(["app", "budgeted", "__proto__", "member"])
        expect(totalOf(byKey, "app")).toBe(6)
        expect(totalOf(byKey, "budgeted")).toBe(2)
        expect(totalOf(byKey, "__proto__")).toBe(1)

        // The budgeted key's budget: $2 a month, what its two calls cost spent.
        const budgets = yield* readUntil(
          readSpend(page),
          (reading) => (reading.budgets["budgeted"]?.["spent"]?.value ?? 0) > 0
        )
        expect(Object.keys(budgets.budgets)).toEqual(["budgeted", "member"])
        expect(budgets.budgets["member"]!["team"]!.text).toBe("research")
        const budget = budgets.budgets["budgeted"]!
        expect(budget["limit"]!.text).toBe("$2.0000 / month")
        expect(budget["spent"]!.value).toBeGreaterThan(0)
        expect(budget["left"]!.value).toBeCloseTo(2 - budget["spent"]!.value!, 10)
        expect(budget["team"]!.text).toBe("–")
        const html = yield* Effect.promise(() => page.content())
        for (const secret of [providerKey, appKey, adminKey, budgetKey, protoKey]) expect(html).not.toContain(secret)
        yield* screenshot(page, "spend.png")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    180_000
  )

  it.live("without a database, the chart is drawn from the request log kept in memory", () =>
    Effect.gen(function*() {
      const gateway = yield* serve(keyed)
      const status = yield* Effect.promise(() =>
        fetch(`${gateway.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${appKey}`, "content-type": "application/json" },
          body: JSON.stringify({ model: "sim/gpt-4o-mini", messages: [{ role: "user", content: "Spend, please" }] })
        }).then((response) => response.text().then(() => response.status))
      )
      expect(status).toBe(200)
      const { context } = yield* browser
      const page = yield* Effect.promise(() => context.newPage())
      yield* Effect.promise(() => page.goto(`${gateway.url}/dashboard`))
      yield* submitKey(page, adminKey)
      const reading = yield* readUntil(readSpend(page), (current) => current.legend.includes("sim/gpt-4o-mini"))
      expect(totalOf(reading, "sim/gpt-4o-mini")).toBeGreaterThan(0)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 120_000)
})
