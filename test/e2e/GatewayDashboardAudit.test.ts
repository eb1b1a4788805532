/**
 * The dashboard's audit section in a real headless Chromium: a gateway with a SQLite database, teams made by the
 * admin key and a key it was refused; the page lists the rows newest first and filters them by actor, action and time
 * range as the gateway's `GET /admin/audit` does. Before anyone is known the page asks only who it acts for, so a page
 * load writes no row and counts one refusal. Without a database, the log kept in memory: an admin action listed, the
 * page saying where the log is kept, and the rows the API gives walking as an intact chain.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { DatabaseSync } from "node:sqlite"
import type { Page } from "playwright-core"
import type * as AdminAudit from "../../src/internal/gateway/admin/audit.js"
import * as Chain from "../../src/internal/gateway/audit/chain.js"
import { canonicalJson } from "../../src/internal/json.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { call } from "../utils/adminApi.js"
import {
  adminKey,
  appKey,
  browser,
  type DomDocument,
  formMessage,
  keyed,
  openDashboard,
  readUntil,
  screenshot,
  serve,
  submitKey
} from "../utils/dashboardHarness.js"

// The audit rows the page shows, each cell's text by its test id.
const readAudit = (page: Page) =>
  Effect.promise(() =>
    page.evaluate(() => {
      const document = (globalThis as unknown as { readonly document: DomDocument }).document
      return Array.from(document.querySelectorAll("tr[data-testid=audit-row]")).map((row) => {
        const cells: Record<string, string> = {}
        for (const cell of Array.from(row.querySelectorAll("td[data-testid]"))) {
          cells[cell.dataset["testid"]!] = cell.textContent ?? ""
        }
        return cells
      })
    })
  )

// The filters filled (an empty value clears one) and applied.
const filter = (page: Page, values: Readonly<Record<"actor" | "action" | "from" | "to", string>>) =>
  Effect.promise(async () => {
    for (const [name, value] of Object.entries(values)) await page.getByTestId(`audit-${name}`).fill(value)
    await page.getByTestId("audit-apply").click()
  })

describe("Gateway dashboard's audit section in headless Chromium", () => {
  it.live(
    "lists the admin actions newest first and filters them by actor, action and time",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(Path.join(tmpdir(), "dashboard-audit-db-"))),
          (made) => Effect.promise(() => rm(made, { recursive: true, force: true }))
        )
        const gateway = yield* serve(keyed, { database: { sqlite: Path.join(dir, "gateway.db") } })
        for (const name of ["research", "support"]) {
          expect((yield* call(gateway.url, "POST", "/admin/teams", { name }, adminKey)).status).toBe(201)
        }
        expect((yield* call(gateway.url, "POST", "/admin/keys", {}, adminKey)).status).toBe(400)
        // A gateway key on an admin path names nobody the gateway knows as an admin: no row of its own.
        expect((yield* call(gateway.url, "POST", "/admin/keys", { name: "x" }, appKey)).status).toBe(403)

        const page = yield* openDashboard(gateway.url)
        const all = yield* readUntil(readAudit(page), (rows) => rows.length === 3)
        yield* screenshot(page, "audit.png")
        expect(all.map((row) => [row["actor"], row["action"], row["outcome"]])).toEqual([
          ["ops", "POST /admin/keys", "refused 400"],
          ["ops", "POST /admin/teams", "ok"],
          ["ops", "POST /admin/teams", "ok"]
        ])
        expect(all.at(-2)!["object"]).toMatch(/^team_/)
        expect(all.at(-1)!["from"]).toBe("127.0.0.1")

        yield* filter(page, { actor: "ops", action: "", from: "", to: "" })
        expect((yield* readUntil(readAudit(page), (rows) => rows.length === 3)).length).toBe(3)
        yield* filter(page, { actor: "nobody", action: "", from: "", to: "" })
        expect(yield* readUntil(readAudit(page), (rows) => rows.length === 0)).toEqual([])

        yield* filter(page, { actor: "", action: "POST /admin/teams", from: "", to: "" })
        const byAction = yield* readUntil(readAudit(page), (rows) => rows.length === 2)
        expect(byAction.map((row) => row["action"])).toEqual(["POST /admin/teams", "POST /admin/teams"])

        // A range after every row: none; one from the oldest on: all; one before it: none.
        const oldest = all.at(-1)!["at"]!.replace(" ", "T")
        yield* filter(page, { actor: "", action: "", from: "2999-01-01T00:00:00", to: "" })
        expect(yield* readUntil(readAudit(page), (rows) => rows.length === 0)).toEqual([])
        yield* filter(page, { actor: "", action: "", from: oldest, to: "2999-01-01T00:00:00" })
        expect((yield* readUntil(readAudit(page), (rows) => rows.length === all.length)).length).toBe(all.length)
        yield* filter(page, { actor: "", action: "", from: "", to: oldest })
        expect(yield* readUntil(readAudit(page), (rows) => rows.length === 0)).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "before anyone is known, a page load asks only who it acts for: no row, one refusal counted",
    () =>
      Effect.gen(function*() {
        const dir = yield* Effect.acquireRelease(
          Effect.promise(() => mkdtemp(Path.join(tmpdir(), "dashboard-audit-db-"))),
          (made) => Effect.promise(() => rm(made, { recursive: true, force: true }))
        )
        const file = Path.join(dir, "gateway.db")
        const gateway = yield* serve(keyed, { database: { sqlite: file } })
        const { context } = yield* browser
        const page = yield* Effect.promise(() => context.newPage())
        const asked: Array<string> = []
        page.on("request", (request) => asked.push(new URL(request.url()).pathname))
        yield* Effect.promise(() => page.goto(`${gateway.url}/dashboard`))
        yield* formMessage(page, "admin key")
        yield* Effect.promise(() => page.waitForLoadState("networkidle"))
        expect(asked.filter((path) => path !== "/dashboard")).toEqual(["/admin/me"])
        const db = new DatabaseSync(file)
        try {
          expect(db.prepare("SELECT COUNT(*) AS n FROM admin_audit").get()).toEqual({ n: 0 })
          expect(db.prepare("SELECT address, dropped FROM audit_refusals_dropped").all()).toEqual([
            { address: "*", dropped: 1 }
          ])
        } finally {
          db.close()
        }
        // Once the key is given, the sections poll what it may read.
        yield* submitKey(page, adminKey)
        yield* Effect.promise(() => page.getByTestId("audit").waitFor({ timeout: 30_000 }))
        expect(asked).toEqual(expect.arrayContaining(["/dashboard/data", "/admin/spend", "/admin/audit"]))
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "without a database, keeps the log in memory: an admin action listed, and its chain verifies",
    () =>
      Effect.gen(function*() {
        const gateway = yield* serve(keyed)
        // Teams and keys need a database; a reload of the configuration does not.
        expect((yield* call(gateway.url, "POST", "/admin/reload", undefined, adminKey)).status).toBe(200)
        const page = yield* openDashboard(gateway.url)
        const listed = yield* readUntil(readAudit(page), (rows) => rows.length === 1)
        expect(listed.map((row) => [row["actor"], row["action"], row["outcome"]])).toEqual([
          ["ops", "POST /admin/reload", "ok"]
        ])
        const kept = page.getByTestId("audit-kept")
        expect(yield* Effect.promise(() => kept.textContent())).toContain("without one keeps it in memory")
        // The rows as the API gives them, walked as the chain: each digest follows from the one before.
        const answer = yield* call(gateway.url, "GET", "/admin/audit", undefined, adminKey)
        const rows = (answer.body as unknown as { readonly data: ReadonlyArray<ReturnType<typeof AdminAudit.render>> })
          .data.map(chainRow).reverse()
        expect(rows.map((row) => row.seq)).toEqual([1])
        const walk = Chain.walk()
        expect(walk.feed(rows)).toBeUndefined()
        expect(walk.end({ seq: rows.at(-1)!.seq, digest: rows.at(-1)!.digest })).toEqual({ broken: undefined, rows: 1 })
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )
})

// A row of `GET /admin/audit` as the chain holds it: `at` in milliseconds, `before` and `after` as canonical text.
const chainRow = (row: ReturnType<typeof AdminAudit.render>): Chain.Row => ({
  ...row,
  at: Math.round(row.at * 1000),
  before: row.before === null ? null : canonicalJson(row.before),
  after: row.after === null ? null : canonicalJson(row.after)
})
