/**
 * A person signs in to the dashboard in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`):
 * the page's sign-in link, the issuer's (`oidc-provider`) login form and consent page driven as a person would, back
 * on the dashboard signed in (the session cookie HTTP-only, `SameSite=Lax`, `Path=/`), the page showing who and only
 * what their roles allow (the reload button to an admin, not to a viewer; no figures to a team's viewer); then signed
 * out here and at the issuer, after which the same cookie, replayed, is refused.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import type { BrowserContext, Page } from "playwright-core"
import { browser, chromiumPath, screenshot } from "../utils/dashboardHarness.js"
import { call, serve } from "../utils/identityHarness.js"

const timeout = { timeout: 30_000 }

// `person` signs in from the dashboard's link through the issuer's login form and consent page.
const signIn = (page: Page, url: string, person: string) =>
  Effect.promise(async () => {
    await page.goto(`${url}/dashboard`)
    await page.getByTestId("sign-in").click(timeout)
    await page.locator("input[name=login]").fill(person, timeout)
    await page.locator("input[name=password]").fill("any password")
    await page.locator("button[type=submit]").click()
    await page.getByRole("button", { name: "Continue" }).click(timeout)
    await page.getByTestId("signed-in-as").filter({ hasText: person }).waitFor(timeout)
  })

// Signs out from the dashboard, and at the issuer (its confirmation page), back to the dashboard.
const signOut = (page: Page) =>
  Effect.promise(async () => {
    await page.getByTestId("sign-out").click(timeout)
    await page.getByRole("button", { name: "Yes, sign me out" }).click(timeout)
    await page.getByTestId("sign-in").waitFor(timeout)
  })

const sessionCookie = (context: BrowserContext, url: string) =>
  Effect.promise(async () => (await context.cookies(url)).find((cookie) => cookie.name === "elr_session"))

describe.skipIf(!existsSync(chromiumPath))("signing in to the dashboard", () => {
  it.live(
    "a person signs in, sees what their roles allow, signs out; the cookie replayed is refused",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* serve
        const { context } = yield* browser
        const page = yield* Effect.promise(() => context.newPage())

        yield* signIn(page, gateway.url, "ada@example.com")
        const cookie = yield* sessionCookie(context, gateway.url)
        assert.isDefined(cookie)
        assert.deepStrictEqual([cookie!.httpOnly, cookie!.sameSite, cookie!.path, cookie!.secure], [
          true,
          "Lax",
          "/",
          false
        ])
        // An admin sees the figures and the reload button.
        yield* Effect.promise(() => page.getByTestId("deployments").locator("tr").first().waitFor(timeout))
        assert.strictEqual(yield* Effect.promise(() => page.getByTestId("signed-in-roles").textContent()), "(admin)")
        assert.isTrue(yield* Effect.promise(() => page.getByTestId("reload-config").isVisible()))
        assert.isFalse(yield* Effect.promise(() => page.getByTestId("admin-key-form").isVisible()))
        yield* screenshot(page, "identity-admin.png")

        // The cookie is the session: sent by anything, it is ada's, until she signs out.
        const replay = { cookie: `elr_session=${cookie!.value}` }
        const before = yield* call(gateway, "GET", "/admin/me", replay)
        assert.deepStrictEqual([before.status, before.body["name"], before.body["via"]], [
          200,
          "ada@example.com",
          "session"
        ])
        yield* signOut(page)
        assert.isUndefined(yield* sessionCookie(context, gateway.url))
        for (const path of ["/admin/me", "/dashboard/data"]) {
          const after = yield* call(gateway, "GET", path, replay)
          assert.deepStrictEqual([after.status, after.code], [401, "session_expired"], path)
        }

        // A viewer sees the figures but no reload button.
        yield* signIn(page, gateway.url, "vera@example.com")
        yield* Effect.promise(() => page.getByTestId("deployments").locator("tr").first().waitFor(timeout))
        assert.isFalse(yield* Effect.promise(() => page.getByTestId("reload-config").isVisible()))
        yield* screenshot(page, "identity-viewer.png")
        yield* signOut(page)

        // A team's viewer may not read the figures: told so, with neither the figures nor a key form.
        yield* signIn(page, gateway.url, "remy@example.com")
        yield* Effect.promise(() => page.getByTestId("not-allowed").waitFor(timeout))
        assert.isFalse(yield* Effect.promise(() => page.locator("#live").isVisible()))
        assert.isFalse(yield* Effect.promise(() => page.getByTestId("admin-key-form").isVisible()))
        assert.strictEqual(
          yield* Effect.promise(() => page.getByTestId("signed-in-roles").textContent()),
          "(team_viewer:research)"
        )
        yield* screenshot(page, "identity-team-viewer.png")
      }),
    120_000
  )
})
