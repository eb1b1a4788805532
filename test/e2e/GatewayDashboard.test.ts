/**
 * The gateway's live dashboard: `GET /dashboard` in a real headless Chromium (Debian's `chromium`, driven by
 * `playwright-core`) against a gateway over the simulator, its numbers read from the page while a load runs; and
 * its admin paths (`/metrics`, `/dashboard/data`, `model-load`) over loopback with `fetch`: an admin key whenever
 * the gateway has keys, open on a gateway without any.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import type { Page } from "playwright-core"
import type * as Gateway from "../../src/Gateway.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminKey,
  appKey,
  browser,
  type Cell,
  chromiumPath,
  type DomDocument,
  type DomElement,
  formMessage,
  keyed,
  providerKey,
  readUntil,
  screenshot,
  serve,
  submitKey
} from "../utils/dashboardHarness.js"
import { type Answer, get } from "../utils/gatewayHarness.js"

const errorOf = (answer: Answer): { readonly code: string; readonly message: string } => JSON.parse(answer.text).error

const chat = (gateway: Gateway.Service, model: string, stream: boolean, signal?: AbortSignal) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${appKey}`, "content-type": "application/json" },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "Hello, dashboard" }] }),
    ...(signal === undefined ? {} : { signal })
  })

interface Reading {
  readonly load: number | undefined
  readonly deployments: Readonly<Record<string, Readonly<Record<string, Cell>>>>
  readonly keys: ReadonlyArray<Readonly<Record<string, string>>>
}

// What the dashboard shows now, read from its DOM.
const read = (page: Page) =>
  Effect.promise((): Promise<Reading> =>
    page.evaluate(() => {
      const document = (globalThis as unknown as { readonly document: DomDocument }).document
      const cells = (row: DomElement) => {
        const out: Record<string, { text: string; value: number | undefined }> = {}
        for (const cell of Array.from(row.querySelectorAll("td[data-testid]"))) {
          const value = cell.dataset["value"]
          out[cell.dataset["testid"]!] = {
            text: cell.textContent ?? "",
            value: value === undefined ? undefined : Number(value)
          }
        }
        return out
      }
      const deployments: Record<string, Record<string, { text: string; value: number | undefined }>> = {}
      for (const row of Array.from(document.querySelectorAll("tr[data-testid=deployment]"))) {
        deployments[row.dataset["name"]!] = cells(row)
      }
      const keys = Array.from(document.querySelectorAll("tr[data-testid=key]")).map((row) => {
        const out: Record<string, string> = {}
        for (const [name, cell] of Object.entries(cells(row))) out[name] = cell.text
        return out
      })
      const load = document.querySelector("[data-testid=load-percent]")?.dataset["value"]
      return { load: load === undefined ? undefined : Number(load), deployments, keys }
    })
  )

const value = (reading: Reading, deployment: string, cell: string): number | undefined =>
  reading.deployments[deployment]?.[cell]?.value

describe("Gateway dashboard in headless Chromium", () => {
  it.live(
    "asks for an admin key, shows every deployment of the config, and its numbers move while a load runs",
    () =>
      Effect.gen(function*() {
        expect(
          existsSync(chromiumPath),
          `${chromiumPath} is missing: install Debian's chromium (apt-get install chromium; .ci/run installs it)`
        ).toBe(true)
        const gateway = yield* serve(keyed)
        const deployments = Object.keys((yield* gateway.status).details).sort()
        expect(deployments).toEqual(["flaky/sim-small", "sim/gpt-4o-mini", "slow/gpt-4o"])
        const { context } = yield* browser
        const page = yield* Effect.promise(() => context.newPage())
        yield* Effect.promise(() => page.goto(`${gateway.url}/dashboard`))

        // No key yet: the page asks for one in its own words, not the API's error, and says where the key is; a
        // gateway key that is not an admin key is refused with the gateway's reason, and asked again.
        expect(yield* formMessage(page, "admin key")).toBe("The dashboard's data takes an admin key of this gateway.")
        const where = yield* Effect.promise(() => page.getByTestId("admin-key-where").textContent())
        expect(where!.replace(/\s+/g, " ")).toContain(
          "without them, effect-llm-router serve made an admin token at its first start, the file admin-token of " +
            "its data directory"
        )
        expect(where).toContain("~/.local/share/effect-llm-router/admin-token")
        yield* screenshot(page, "admin-key-first.png")
        yield* submitKey(page, appKey)
        const refused = yield* formMessage(page, "it takes an admin key")
        expect(refused).toMatch(/^The gateway refused that key: This is an admin endpoint/)
        expect(refused).not.toContain(appKey)
        yield* screenshot(page, "admin-key.png")
        yield* submitKey(page, adminKey)
        const before = yield* readUntil(read(page), (reading) => Object.keys(reading.deployments).length > 0)
        expect(yield* Effect.promise(() => page.getByTestId("admin-key-form").isHidden())).toBe(true)
        expect(Object.keys(before.deployments).sort()).toEqual(deployments)
        for (const name of deployments) {
          expect(before.deployments[name]!["breaker"]!.text).toBe("closed")
          expect(value(before, name, "in-flight")).toBe(0)
          expect(value(before, name, "requests")).toBe(0)
          expect(value(before, name, "cost")).toBe(0)
          expect(before.deployments[name]!["latency-p50"]!.text).toBe("–")
        }
        expect(before.load).toBe(0)
        // Every key of every deployment, masked, idle.
        expect(before.keys).toHaveLength(3)
        for (const key of before.keys) {
          expect(key["key"]).toMatch(/^sk-…/)
          expect(key["load"]).toMatch(/^0 \/ [48]$/)
          expect(key["state"]).toBe("ready")
        }

        // The load: three streams held open on `slow`, calls answered by `sim` (whole and streamed), calls failing on
        // `flaky`.
        const held = new AbortController()
        const open = yield* Effect.promise(() =>
          Promise.all([0, 1, 2].map(async () => {
            const response = await chat(gateway, "slow/gpt-4o", true, held.signal)
            expect(response.status).toBe(200)
            const reader = response.body!.getReader()
            await reader.read()
            return reader
          }))
        )
        const answered = yield* Effect.promise(() =>
          Promise.all([
            ...Array.from(
              { length: 8 },
              () =>
                chat(gateway, "sim/gpt-4o-mini", false).then((response) => response.text().then(() => response.status))
            ),
            ...Array.from({ length: 4 }, () =>
              chat(gateway, "sim/gpt-4o-mini", true).then((response) => response.text().then(() => response.status))),
            ...Array.from({ length: 3 }, () =>
              chat(gateway, "flaky/sim-small", false).then((response) =>
                response.text().then(() =>
                  response.status
                )
              ))
          ])
        )
        expect(answered.filter((status) => status === 200)).toHaveLength(12)
        expect(answered.slice(12).every((status) => status >= 500)).toBe(true)

        const during = yield* readUntil(read(page), (reading) =>
          value(reading, "slow/gpt-4o", "in-flight") === 3 &&
          value(reading, "sim/gpt-4o-mini", "requests") === 12 &&
          value(reading, "sim/gpt-4o-mini", "ttft-p95") !== undefined &&
          (value(reading, "flaky/sim-small", "failures") ?? 0) >= 1)
        const sim = during.deployments["sim/gpt-4o-mini"]!
        expect(value(during, "slow/gpt-4o", "in-flight")).toBe(3)
        expect(during.load).toBeGreaterThan(0)
        expect(value(during, "sim/gpt-4o-mini", "requests")).toBe(12)
        expect(value(during, "sim/gpt-4o-mini", "request-rate")).toBeGreaterThan(0)
        expect(value(during, "sim/gpt-4o-mini", "error-rate")).toBe(0)
        expect(value(during, "sim/gpt-4o-mini", "cost")).toBeGreaterThan(0)
        expect(sim["cost"]!.text).toMatch(/^\$0\.\d+$/)
        // The simulator's own delays bound the quantiles from below.
        expect(value(during, "sim/gpt-4o-mini", "latency-p50")).toBeGreaterThanOrEqual(15)
        expect(value(during, "sim/gpt-4o-mini", "latency-p95")).toBeGreaterThanOrEqual(
          value(during, "sim/gpt-4o-mini", "latency-p50")!
        )
        expect(value(during, "sim/gpt-4o-mini", "ttft-p50")).toBeGreaterThanOrEqual(25)
        expect(sim["latency-p50"]!.text).toMatch(/^\d+ ms$|^\d+\.\d\d s$/)
        // Four streams are too few to learn its limits from.
        expect(sim["first-token-limit"]!.text).toBe("\u2013")
        expect(value(during, "flaky/sim-small", "error-rate")).toBeGreaterThan(0)
        expect(during.deployments["flaky/sim-small"]!["error-rate"]!.text).toMatch(/ %$/)
        expect(during.keys.find((key) => key["deployment"] === "slow/gpt-4o")!["load"]).toBe("3 / 4")
        const html = yield* Effect.promise(() => page.content())
        for (const secret of [providerKey, appKey, adminKey]) expect(html).not.toContain(secret)
        yield* screenshot(page, "dashboard.png")

        // The held streams end: their calls leave the count.
        held.abort()
        yield* Effect.promise(() => Promise.allSettled(open.map((reader) => reader.cancel())))
        const after = yield* readUntil(read(page), (reading) => value(reading, "slow/gpt-4o", "in-flight") === 0)
        expect(value(after, "slow/gpt-4o", "in-flight")).toBe(0)
        expect(after.load).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    180_000
  )
})

describe("Gateway admin paths: /metrics, /dashboard/data, model-load", () => {
  it.live("with keys: 401 without a key, 403 admin_key_required with a gateway key, the answer with an admin key", () =>
    Effect.gen(function*() {
      const gateway = yield* serve({ ...keyed, model_load_details: true })
      for (const path of ["/metrics", "/dashboard/data", "/llm/model-load/sim/gpt-4o-mini"]) {
        const none = yield* get(gateway, path)
        expect(none.status).toBe(401)
        expect(errorOf(none).code).toBe("invalid_api_key")
        expect(errorOf(none).message).toContain("admin key")
        for (const key of [appKey, "gw-not-a-key"]) {
          const refused = yield* get(gateway, path, key)
          expect(refused.status).toBe(403)
          expect(errorOf(refused).code).toBe("admin_key_required")
          expect(refused.text).not.toContain(key)
        }
        expect((yield* get(gateway, path, adminKey)).status).toBe(200)
      }
      // The page itself carries no data: it is served to anyone.
      const page = yield* get(gateway, "/dashboard")
      expect(page.status).toBe(200)
      expect(page.contentType).toBe("text/html; charset=utf-8")
      expect(page.text).toContain("dashboard/data")
      expect(page.text).not.toContain("sim/gpt-4o-mini")
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("/dashboard/data: every deployment of the config with its figures, keys masked only", () =>
    Effect.gen(function*() {
      const gateway = yield* serve(keyed)
      const reply = yield* Effect.promise(() =>
        chat(gateway, "sim/gpt-4o-mini", false).then((response) => response.status)
      )
      expect(reply).toBe(200)
      const answer = yield* get(gateway, "/dashboard/data", adminKey)
      expect(answer.contentType).toBe("application/json")
      expect(answer.text).not.toContain(providerKey)
      const data = JSON.parse(answer.text)
      expect(data.deployments.map((deployment: { name: string }) => deployment.name).sort()).toEqual(
        Object.keys((yield* gateway.status).details).sort()
      )
      const sim = data.deployments.find((deployment: { name: string }) => deployment.name === "sim/gpt-4o-mini")
      expect(sim).toMatchObject({
        breaker: "closed",
        inFlight: 0,
        requests: 1,
        failures: 0,
        errorRate: 0,
        firstToken: null,
        // Learned from 20 streams on, by default.
        learnedLimits: { firstTokenMillis: null, idleMillis: null }
      })
      expect(sim.latency.p50).toBeGreaterThanOrEqual(15)
      expect(sim.latency.p95).toBe(sim.latency.p50)
      expect(sim.cost).toBeGreaterThan(0)
      expect(sim.keys).toEqual([{
        key: expect.stringMatching(/^sk-…/),
        current: 0,
        max: 8,
        coolingUntil: null,
        disabled: null
      }])
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("gateway keys without admin keys: 403 telling to add admin_keys, whatever the key", () =>
    Effect.gen(function*() {
      const gateway = yield* serve({ keys: keyed.keys })
      for (const path of ["/metrics", "/dashboard/data"]) {
        for (const key of [undefined, appKey]) {
          const answer = yield* get(gateway, path, key)
          expect(answer.status).toBe(403)
          expect(errorOf(answer).code).toBe("admin_key_required")
          expect(errorOf(answer).message).toContain("add `admin_keys`")
        }
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("without an admin key every admin path is closed to every caller; with admin keys only, they take one", () =>
    Effect.gen(function*() {
      const closed = yield* serve(undefined, { modelLoadDetails: true })
      for (const path of ["/metrics", "/dashboard/data", "/llm/model-load/sim/gpt-4o-mini"]) {
        const answer = yield* get(closed, path)
        expect([path, answer.status, errorOf(answer).code]).toEqual([path, 403, "admin_key_required"])
        expect(errorOf(answer).message).toContain("admin-token")
      }
      const adminOnly = yield* serve({ admin_keys: keyed.admin_keys }, { modelLoadDetails: true })
      expect((yield* get(adminOnly, "/metrics")).status).toBe(401)
      for (const path of ["/metrics", "/dashboard/data", "/llm/model-load/sim/gpt-4o-mini"]) {
        expect([path, (yield* get(adminOnly, path, adminKey)).status]).toEqual([path, 200])
      }
      // The API itself stays open there: no gateway key is configured.
      expect(yield* Effect.promise(() => chat(adminOnly, "sim/gpt-4o-mini", false).then((response) => response.status)))
        .toBe(200)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})
