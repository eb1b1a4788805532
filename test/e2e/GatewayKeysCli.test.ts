import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { awaitFirstLine, startInProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"

const providerKey = "sk-serve-keys-provider-0001"
const gatewayKey = "gw-serve-keys-team-0001"

describe("serve with gateway keys", () => {
  it.live(
    "listens beyond loopback, says which keys it asks for, and logs each request as a JSON line with no " +
      "key",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
        const file = yield* Effect.acquireRelease(
          Effect.sync(() => path.join(fs.mkdtempSync(path.join(os.tmpdir(), "serve-keys-")), "provider.json")),
          (written) => Effect.sync(() => fs.rmSync(path.dirname(written), { recursive: true, force: true }))
        )
        fs.writeFileSync(
          file,
          JSON.stringify({
            sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey] }],
            gateway: { keys: [{ name: "team", key: "env:TEAM_GATEWAY_KEY" }] }
          })
        )
        const running = yield* startInProcess(
          (io) => Serve.run(["--config", file, "--host", "0.0.0.0", "--port", "0"], io),
          { env: { TEAM_GATEWAY_KEY: gatewayKey, XDG_DATA_HOME: process.env.XDG_DATA_HOME! } }
        )
        const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
        expect(url).toMatch(/^http:\/\/0\.0\.0\.0:\d+$/)
        expect(running.stderr()).toContain(
          "on 0.0.0.0; every request but /health, /ready and the dashboard needs a gateway key (team)"
        )
        expect(running.stderr()).toContain(
          `Dashboard: ${url}/dashboard (its data, /metrics and the admin API take an admin key: the token in `
        )
        const local = url.replace("0.0.0.0", "127.0.0.1")
        const post = (headers: Record<string, string>) =>
          Effect.promise(() =>
            fetch(`${local}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json", ...headers },
              body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }] })
            })
          )
        const answered = yield* post({ authorization: `Bearer ${gatewayKey}` })
        expect(answered.status).toBe(200)
        expect((yield* post({})).status).toBe(401)
        const requests = yield* eventually(
          "two request log lines",
          Effect.sync(() =>
            running.stderr().split("\n").filter((line) => line.startsWith("{")).map((line) =>
              JSON.parse(line) as { message: unknown; level: string; annotations: Record<string, unknown> }
            )
          ),
          (lines) => lines.length >= 2
        )
        // Found by status: a request's line is written when its scope closes, which may come after the next request's.
        const [ok, refused] = [200, 401].map((status) => requests.find((line) => line.annotations["status"] === status))
        expect(ok).toMatchObject({
          message: "request",
          level: "INFO",
          annotations: {
            request_id: answered.headers.get("x-request-id"),
            status: 200,
            key_name: "team",
            model: "gpt-4o-mini",
            deployment: "sim/gpt-4o-mini"
          }
        })
        expect(refused?.annotations).toMatchObject({ status: 401, error: "invalid_api_key" })
        expect(running.stderr()).not.toContain(gatewayKey)
        expect(running.stderr()).not.toContain(providerKey)
        yield* Fiber.interrupt(running.exited)
      }).pipe(Effect.scoped)
  )
})
