/**
 * What the dashboard's browser tests share: a gateway over the simulator (three deployments: one answering, one
 * holding its streams open, one failing) with the file's keys, a headless Chromium (Debian's `chromium`, driven by
 * `playwright-core`) with a fresh profile, screenshots, and the page's admin key form.
 */
import * as Effect from "effect/Effect"
import { mkdir, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"

export const providerKey = "sk-dashboard-provider-5e1f9c3a7b"
export const appKey = "gw-dashboard-app-2b7d4f6a8c0e"
export const adminKey = "gw-dashboard-admin-9a1c3e5b7d0f"
// Read through `env:` by the file's `gateway` section.
process.env["GATEWAY_DASHBOARD_APP_KEY"] = appKey
process.env["GATEWAY_DASHBOARD_ADMIN_KEY"] = adminKey

export const chromiumPath = "/usr/bin/chromium"
// What Chromium needs to run headless as root in a container, and not reach beyond the test.
const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

const screenshots = Path.resolve(import.meta.dirname, "../../test-results/dashboard")

export const screenshot = (page: Page, name: string) =>
  Effect.promise(async () => {
    await mkdir(screenshots, { recursive: true })
    await page.screenshot({ path: Path.join(screenshots, name), fullPage: true })
  })

// Three deployments: `sim` answers (priced, so it costs), `slow` holds its streams open after two chunks, `flaky`
// fails; `sections` are more of the file's sections (`mcp_servers`).
const configJson = (
  simulator: Simulator.Simulator,
  gateway: Record<string, unknown> | undefined,
  sections: Record<string, unknown>
) => {
  const deployment = (model: string, maxConcurrency: number, fault?: string) => ({
    model_name: model,
    base_url: `${simulator.url}/v1`,
    api_keys: [{ key: providerKey, max_concurrency: maxConcurrency }],
    max_retries: 0,
    ...(fault === undefined ? {} : { headers: { "x-simulator-fault": fault } })
  })
  return {
    sim: [deployment("gpt-4o-mini", 8)],
    slow: [deployment("gpt-4o", 4, "stall=2")],
    flaky: [deployment("sim-small", 4, "status=500")],
    ...(gateway === undefined ? {} : { gateway }),
    ...sections
  }
}

export const serve = (
  gateway: Record<string, unknown> | undefined,
  extra?: Partial<Gateway.Options>,
  sections: Record<string, unknown> = {}
) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      latency: "15 millis",
      timeToFirstToken: "25 millis"
    })
    const config = yield* ProviderConfig.fromJson(configJson(simulator, gateway, sections))
    return yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, ...extra })
  })

export const keyed = {
  keys: [{ name: "app", key: "env:GATEWAY_DASHBOARD_APP_KEY" }],
  admin_keys: [{ name: "ops", key: "env:GATEWAY_DASHBOARD_ADMIN_KEY" }]
}

// A headless Chromium with a fresh profile, closed (and its profile removed) with the scope.
export const browser = Effect.acquireRelease(
  Effect.promise(async () => {
    const profile = await mkdtemp(Path.join(tmpdir(), "dashboard-chromium-"))
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      args: chromiumArgs,
      headless: true,
      viewport: { width: 1440, height: 640 }
    })
    return { context, profile }
  }),
  ({ context, profile }: { readonly context: BrowserContext; readonly profile: string }) =>
    Effect.promise(async () => {
      await context.close()
      await rm(profile, { recursive: true, force: true })
    })
)

// One cell as the page shows it: its text and, for a number, the value it shows.
export interface Cell {
  readonly text: string
  readonly value: number | undefined
}
// The little of the DOM the reading uses (the project compiles without the DOM's types).
export interface DomElement {
  readonly textContent: string | null
  readonly dataset: Readonly<Record<string, string | undefined>>
  readonly querySelectorAll: (selector: string) => ArrayLike<DomElement>
}

export interface DomDocument {
  readonly querySelectorAll: (selector: string) => ArrayLike<DomElement>
  readonly querySelector: (selector: string) => DomElement | null
}

/**
 * The rows of the page's tables whose test id is `testId`, in their order, each by its `data-<key>` attribute, its
 * cells by their test ids. Read in the browser by Playwright (`$$eval`), from this file's function.
 */
export const tableRows = (
  page: Page,
  testId: string,
  key: string
): Effect.Effect<Readonly<Record<string, Readonly<Record<string, Cell>>>>> =>
  Effect.promise(() =>
    page.$$eval(`tr[data-testid=${testId}]`, (rows: ReadonlyArray<DomElement>, key) => {
      const read: Record<string, Record<string, Cell>> = {}
      for (const row of rows) {
        const cells: Record<string, Cell> = {}
        for (const cell of Array.from(row.querySelectorAll("td[data-testid]"))) {
          const value = cell.dataset["value"]
          cells[cell.dataset["testid"]!] = {
            text: cell.textContent ?? "",
            value: value === undefined ? undefined : Number(value)
          }
        }
        read[row.dataset[key]!] = cells
      }
      return read
    }, key)
  )

/** Whether the page shows its section of test id `testId`. */
export const sectionShown = (page: Page, testId: string): Effect.Effect<boolean> =>
  Effect.promise(() =>
    page.$eval(`[data-testid=${testId}]`, (section: { readonly hidden: boolean }) => !section.hidden)
  )

export const submitKey = (page: Page, key: string) =>
  Effect.promise(async () => {
    await page.getByTestId("admin-key-input").fill(key)
    await page.getByTestId("admin-key-submit").click()
  })

export const formMessage = (page: Page, containing: string) =>
  Effect.promise(async () => {
    const message = page.getByTestId("admin-key-message")
    await message.filter({ hasText: containing }).waitFor({ timeout: 30_000 })
    return message.textContent()
  })

/**
 * `read`'s reading once `done` holds of it, read again every 100 ms of a real timer; the last reading after `seconds`
 * (30 by default: the page polls every second, and a loaded machine may take several to draw; a passing test never
 * waits them).
 */
export const readUntil = <A>(read: Effect.Effect<A>, done: (reading: A) => boolean, seconds = 30) =>
  Effect.gen(function*() {
    let reading = yield* read
    for (let i = 0; i < seconds * 10 && !done(reading); i++) {
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      reading = yield* read
    }
    return reading
  })

/** A new page of the browser on the gateway's dashboard, past its form with the admin key. */
export const openDashboard = (url: string) =>
  Effect.gen(function*() {
    const { context } = yield* browser
    const page = yield* Effect.promise(() => context.newPage())
    yield* Effect.promise(() => page.goto(`${url}/dashboard`))
    yield* formMessage(page, "admin key")
    yield* submitKey(page, adminKey)
    return page
  })
