/**
 * The dashboard's audit section in a real headless Chromium: a gateway with a SQLite database, teams made by the
 * admin key and a key refused to a gateway key; the page lists the rows newest first and filters them by actor,
 * action and time range as the gateway's `GET /admin/audit` does. Without a database, the page saying it keeps no
 * audit log.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { hash } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import type { Page } from "playwright-core"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { call } from "../utils/adminApi.js"
import {
  adminKey,
  appKey,
  type DomDocument,
  keyed,
  openDashboard,
  readUntil,
  screenshot,
  serve
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

type Rows = ReadonlyArray<Readonly<Record<string, string>>>

// The filters filled (an empty value clears one) and applied.
const filter = (page: Page, values: Readonly<Record<"actor" | "action" | "from" | "to", string>>) =>
  Effect.promise(async () => {
    for (const [name, value] of Object.entries(values)) await page.getByTestId(`audit-${name}`).fill(value)
    await page.getByTestId("audit-apply").click()
  })

const appActor = `sha256:${hash("sha256", appKey, "hex").slice(0, 12)}`

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
        expect((yield* call(gateway.url, "POST", "/admin/keys", { name: "x" }, appKey)).status).toBe(403)

        const page = yield* openDashboard(gateway.url)
        // The page's own polls before the key was entered are refusals too (actor `unknown`), before the key's rows.
        const known = (rows: Rows) => rows.filter((row) => row["actor"] !== "unknown")
        const all = yield* readUntil(readAudit(page), (rows) => known(rows).length === 3)
        yield* screenshot(page, "audit.png")
        expect(known(all).map((row) => [row["actor"], row["action"], row["outcome"]])).toEqual([
          [appActor, "POST /admin/keys", "refused 403 admin_key_required"],
          ["ops", "POST /admin/teams", "ok"],
          ["ops", "POST /admin/teams", "ok"]
        ])
        const unknown = all.filter((row) => row["actor"] === "unknown")
        expect(unknown.every((row) => row["outcome"] === "refused 401 invalid_api_key")).toBe(true)
        expect(all.slice(-3)).toEqual(known(all))
        expect(all.at(-2)!["object"]).toMatch(/^team_/)
        expect(all.at(-1)!["from"]).toBe("127.0.0.1")

        yield* filter(page, { actor: "ops", action: "", from: "", to: "" })
        const byActor = yield* readUntil(readAudit(page), (rows) => rows.length === 2)
        expect(byActor.map((row) => row["actor"])).toEqual(["ops", "ops"])

        yield* filter(page, { actor: "", action: "POST /admin/keys", from: "", to: "" })
        const byAction = yield* readUntil(readAudit(page), (rows) => rows.length === 1)
        expect(byAction.map((row) => row["actor"])).toEqual([appActor])

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

  it.live("without a database, says it keeps no audit log", () =>
    Effect.gen(function*() {
      const gateway = yield* serve(keyed)
      const page = yield* openDashboard(gateway.url)
      const none = page.getByTestId("audit-none")
      yield* Effect.promise(() => none.filter({ hasText: "no audit log" }).waitFor({ timeout: 30_000 }))
      expect(yield* Effect.promise(() => page.getByTestId("audit").isHidden())).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 120_000)
})
