/**
 * The guard every request passes, for the gateway's whole life: over real loopback HTTP against a gateway with a
 * SQLite database and an admin key but no gateway keys (where a web page once minted keys), a request that changes
 * something from a page of another origin, or with a body that is not JSON, is refused before its key is looked at;
 * the loopback `Host` rule holds after a reload and after a restart on the same database, when keys exist; and a
 * real Chromium page of another origin, trying every request a page can send without preflight, makes nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import type * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type * as Gateway from "../../src/Gateway.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { adminKey, call, gatewayOn, providerKey } from "../utils/adminApi.js"
import { browser } from "../utils/dashboardHarness.js"
import { send } from "../utils/gatewayHarness.js"

const temporary = Effect.acquireRelease(
  Effect.sync(() => join(mkdtempSync(join(tmpdir(), "gateway-guard-")), "gateway.db")),
  (file) => Effect.sync(() => rmSync(join(file, ".."), { recursive: true, force: true }))
)

// Admin keys only: no gateway key, so on loopback calls need none until one is made.
const adminsOnly = { gateway: { admin_keys: [{ name: "ops", key: adminKey }] } }

const setup = Effect.gen(function*() {
  const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
  const file = yield* temporary
  const gateway = yield* gatewayOn(simulator, { sqlite: file }, adminsOnly)
  return { simulator, file, gateway }
})

const admin = { authorization: `Bearer ${adminKey}` }
const newKey = JSON.stringify({ name: "minted" })

const codeOf = (text: string): unknown =>
  (JSON.parse(text) as { readonly error: { readonly code: unknown } }).error.code

// The names of the keys made at run time.
const keyNames = (gateway: Gateway.Service) =>
  Effect.map(
    call(gateway.url, "GET", "/admin/keys"),
    (answer) => (answer.body.data ?? []).filter((entry) => entry.read_only !== true).map((entry) => entry.name)
  )

const requestsOf = (simulator: Simulator.Simulator) => Effect.map(simulator.stats, (stats) => stats.requests)

describe("the gateway's request guard", () => {
  it.live(
    "a request that changes something from a page of another origin, or not JSON, is refused (403, 415)",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* setup
        const own = `http://127.0.0.1:${gateway.port}`
        const post = (headers: Record<string, string>, path = "/admin/keys", body = newKey) =>
          send(gateway, { method: "POST", path, headers: { ...admin, ...headers }, body })
        const json = { "content-type": "application/json" }
        const refusals: ReadonlyArray<readonly [Record<string, string>, number, string]> = [
          // A form's or a `fetch`'s cross-site POST: no preflight for these types.
          [{ "content-type": "text/plain" }, 415, "unsupported_media_type"],
          [{ "content-type": "application/x-www-form-urlencoded" }, 415, "unsupported_media_type"],
          [{ "content-type": "multipart/form-data; boundary=x" }, 415, "unsupported_media_type"],
          [{ ...json, origin: "http://attacker.example" }, 403, "cross_origin_request"],
          // Another port of localhost: the same site, another origin.
          [{ ...json, origin: "http://127.0.0.1:1" }, 403, "cross_origin_request"],
          [{ ...json, origin: "null" }, 403, "cross_origin_request"],
          [{ ...json, "sec-fetch-site": "cross-site" }, 403, "cross_origin_request"],
          [{ ...json, "sec-fetch-site": "same-site" }, 403, "cross_origin_request"],
          [{ "content-type": "text/plain", origin: "http://attacker.example" }, 403, "cross_origin_request"]
        ]
        for (const [headers, status, code] of refusals) {
          const answer = yield* post(headers)
          assert.deepStrictEqual([headers, answer.status, codeOf(answer.text)], [headers, status, code])
        }
        // Teams, reload and a chat alike: every route, the guard before the key.
        for (const path of ["/admin/teams", "/admin/reload", "/v1/chat/completions"]) {
          const answer = yield* post({ ...json, origin: "http://attacker.example" }, path, "{}")
          assert.deepStrictEqual([path, answer.status], [path, 403])
        }
        const chat = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
        assert.strictEqual((yield* post({ "content-type": "text/plain" }, "/v1/chat/completions", chat)).status, 415)
        // An upload's path takes a multipart form, but not from a page of another origin.
        const form = { "content-type": "multipart/form-data; boundary=x" }
        const upload = "--x\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--x--\r\n"
        const foreign = yield* post({ ...form, origin: "http://attacker.example" }, "/v1/files", upload)
        assert.deepStrictEqual([foreign.status, codeOf(foreign.text)], [403, "cross_origin_request"])
        // Past the guard, the upload's own check: it holds no file.
        assert.strictEqual((yield* post(form, "/v1/files", upload)).status, 400)
        assert.strictEqual(yield* requestsOf(simulator), 0)
        assert.deepStrictEqual(yield* keyNames(gateway), [])
        // The gateway's own origin, or a program that sends no Origin: served.
        assert.strictEqual((yield* post({ ...json, origin: own, "sec-fetch-site": "same-origin" })).status, 201)
        assert.strictEqual(
          (yield* post(
            // A page of the gateway's own origin under its other loopback name: its `Host` names it too.
            { ...json, origin: `http://localhost:${gateway.port}`, host: `localhost:${gateway.port}` },
            "/admin/teams",
            JSON.stringify({ name: "t" })
          ))
            .status,
          201
        )
        assert.strictEqual((yield* post({ ...json, "sec-fetch-site": "none" }, "/admin/reload", "")).status, 200)
        assert.deepStrictEqual(yield* keyNames(gateway), ["minted"])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "the loopback Host rule holds with keys, after a reload and after a restart on the same database",
    () =>
      Effect.gen(function*() {
        const { file, gateway, simulator } = yield* setup
        const made = yield* call(gateway.url, "POST", "/admin/keys", { name: "first" })
        assert.strictEqual(made.status, 201)
        // DNS rebinding: the page's own name, resolved to 127.0.0.1, with the admin key it does not have or has.
        const rebound = (served: Gateway.Service) =>
          Effect.forEach(["/admin/keys", "/admin/requests", "/metrics", "/v1/models"], (path) =>
            Effect.map(
              send(served, { method: "GET", path, headers: { ...admin, host: `attacker.example:${served.port}` } }),
              (answer) => [path, answer.status, codeOf(answer.text)]
            ))
        const refused = (paths: ReadonlyArray<string>) => paths.map((path) => [path, 403, "host_not_allowed"])
        const paths = ["/admin/keys", "/admin/requests", "/metrics", "/v1/models"]
        assert.deepStrictEqual(yield* rebound(gateway), refused(paths))
        yield* gateway.reload
        assert.deepStrictEqual(yield* rebound(gateway), refused(paths))
        const mint = send(gateway, {
          method: "POST",
          path: "/admin/keys",
          headers: { ...admin, "content-type": "application/json", host: "attacker.example" },
          body: newKey
        })
        assert.strictEqual((yield* mint).status, 403)
        const restarted = yield* gatewayOn(simulator, { sqlite: file }, adminsOnly)
        assert.deepStrictEqual(yield* rebound(restarted), refused(paths))
        assert.deepStrictEqual(yield* keyNames(restarted), ["first"])
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a Chromium page of another origin, sending every request a page can send without preflight, makes nothing",
    () =>
      Effect.gen(function*() {
        const { gateway, simulator } = yield* setup
        const target = `http://127.0.0.1:${gateway.port}`
        const chat = JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
        // The attacker's page, on another loopback port: a form posting text/plain (the body shaped as JSON), and
        // `fetch`es without preflight, one of them JSON in `no-cors` mode (which the browser sends as text/plain).
        const page = `<!doctype html><html><body>
<form id="f" method="POST" action="${target}/admin/keys" enctype="text/plain" target="sink">
<input name='{"name":"minted","x":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
const sent = [];
const attempt = (path, init) => fetch("${target}" + path, { mode: "no-cors", ...init }).then(
  () => sent.push(path), () => sent.push(path));
Promise.all([
  attempt("/admin/keys", { method: "POST", body: ${
          JSON.stringify(newKey)
        }, headers: { "content-type": "text/plain" } }),
  attempt("/admin/teams", { method: "POST", body: '{"name":"t"}' }),
  attempt("/admin/reload", { method: "POST" }),
  attempt("/v1/chat/completions", { method: "POST", body: ${JSON.stringify(chat)} }),
  attempt("/admin/keys", { method: "POST", body: ${JSON.stringify(newKey)},
    headers: { "content-type": "application/json" }, mode: "cors" })
]).then(() => { document.getElementById("f").submit(); window.attacked = true; });
</script></body></html>`
        const server = yield* Effect.acquireRelease(
          Effect.callback<Http.Server>((resume) => {
            const made = Http.createServer((_, response) => {
              response.writeHead(200, { "content-type": "text/html" })
              response.end(page)
            })
            made.listen(0, "127.0.0.1", () => resume(Effect.succeed(made)))
          }),
          (made) =>
            Effect.callback<void>((resume) => {
              made.close(() => resume(Effect.void))
            })
        )
        const { context } = yield* browser
        const tab = yield* Effect.promise(() => context.newPage())
        const refused: Array<number> = []
        tab.on("response", (response) => {
          if (response.url().startsWith(target)) refused.push(response.status())
        })
        const origin = `http://127.0.0.1:${(server.address() as Net.AddressInfo).port}`
        yield* Effect.promise(() => tab.goto(origin))
        yield* Effect.promise(() => tab.waitForFunction("window.attacked === true"))
        // The form's navigation in its frame: answered before the page is read again.
        yield* Effect.promise(() => tab.waitForTimeout(500))
        assert.deepStrictEqual(yield* keyNames(gateway), [])
        assert.strictEqual((yield* call(gateway.url, "GET", "/admin/teams")).body.data?.length ?? 0, 0)
        assert.strictEqual(yield* requestsOf(simulator), 0)
        assert.isAbove(refused.length, 0)
        for (const status of refused) assert.oneOf(status, [403, 415])
      }).pipe(Effect.scoped),
    60_000
  )
})
