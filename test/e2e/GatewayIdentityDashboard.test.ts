/**
 * A person signs in to the dashboard in a real headless Chromium (Debian's `chromium`, driven by `playwright-core`):
 * the page's sign-in link, the issuer's (`oidc-provider`) login form and consent page driven as a person would, back
 * on the dashboard signed in (the session cookie HTTP-only, `SameSite=Lax`, `Path=/`), the page showing who and only
 * what their roles allow (the reload button to an admin, not to a viewer; no figures to a team's viewer); then signed
 * out here and at the issuer, after which the same cookie, replayed, is refused. And for each role (each person of the
 * issuer, and the admin key), every request the page makes, each choice of its spend chart's grouping included, is one
 * the gateway answers: the page asks only for what the role may read.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { existsSync } from "node:fs"
import type { BrowserContext, Page } from "playwright-core"
import { browser, chromiumPath, screenshot, submitKey } from "../utils/dashboardHarness.js"
import { adminKey, bearer, call, serve } from "../utils/identityHarness.js"
import * as OidcIssuer from "../utils/oidcIssuer.js"

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

  it.live(
    "for every role, each request the page makes (every grouping it offers of the spend chart) is one it may read",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* serve
        const { context } = yield* browser
        // Each person as the issuer's groups make them, the admin key, and a viewer granted a team's admin role too
        // (who may read that team's keys, but not the whole gateway's, as the chart by key would show).
        const viewerAndTeamAdmin = "vera@example.com, granted team_admin:research"
        const whom = [...Object.keys(OidcIssuer.people), "the admin key", viewerAndTeamAdmin]
        for (const who of whom) {
          if (who === viewerAndTeamAdmin) {
            const granted = yield* call(gateway, "POST", "/admin/grants", bearer(adminKey), {
              subject: "vera@example.com",
              role: "team_admin:research"
            })
            assert.strictEqual(granted.status, 201)
          }
          const page = yield* Effect.promise(() => context.newPage())
          // What the page asked the gateway and was answered, once it acts for `who`.
          const answered: Array<{ readonly path: string; readonly status: number }> = []
          let recording = false
          page.on("response", (response) => {
            const url = new URL(response.url())
            if (recording && url.origin === gateway.url) {
              answered.push({ path: url.pathname + url.search, status: response.status() })
            }
          })
          if (who === "the admin key") {
            yield* Effect.promise(() => page.goto(`${gateway.url}/dashboard`))
            yield* Effect.promise(() => page.getByTestId("admin-key-form").waitFor(timeout))
            recording = true
            yield* submitKey(page, adminKey)
          } else {
            yield* signIn(page, gateway.url, who.split(",")[0]!)
            recording = true
            // The page as it first shows for them (signing in is the page's redirect from the callback).
            yield* Effect.promise(() => page.reload())
          }
          const observes = yield* Effect.promise(() =>
            Promise.race([
              page.getByTestId("deployments").locator("tr").first().waitFor(timeout).then(() => true),
              page.getByTestId("not-allowed").waitFor(timeout).then(() => false)
            ])
          )
          if (observes) {
            const spendGroup = page.getByTestId("spend-group")
            yield* Effect.promise(() => page.getByTestId("spend").waitFor(timeout))
            const offered = yield* Effect.promise(() =>
              spendGroup.evaluate((select) =>
                Array.from(
                  (select as unknown as { readonly options: ArrayLike<{ value: string; disabled: boolean }> })
                    .options
                ).filter((option) => !option.disabled).map((option) => option.value)
              )
            )
            for (const group of offered) {
              yield* Effect.promise(() =>
                Promise.all([
                  page.waitForResponse((response) => response.url().includes(`group_by=${group}&`), timeout),
                  spendGroup.selectOption(group)
                ])
              )
              // The chart drawn for it: the section stays.
              assert.isTrue(yield* Effect.promise(() => page.getByTestId("spend").isVisible()), `${who} by ${group}`)
            }
            assert.deepStrictEqual(
              offered,
              who.startsWith("vera@") ? ["model"] : ["model", "key", "team"],
              who
            )
          }
          // A second of the page's own polls, then what it asked, as whom it asked.
          yield* Effect.sleep("1200 millis")
          recording = false
          assert.deepStrictEqual(answered.filter(({ status }) => status === 401 || status === 403), [], who)
          assert.isTrue(answered.some(({ path }) => path === "/admin/me"), who)
          if (observes) assert.isTrue(answered.some(({ path }) => path.startsWith("/admin/spend?")), who)
          if (who !== "the admin key") yield* signOut(page)
          yield* Effect.promise(() => page.close())
        }
      }),
    180_000
  )
})
