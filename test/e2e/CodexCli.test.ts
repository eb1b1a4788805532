/**
 * Codex CLI itself (the `@openai/codex` devDependency, run headless: `codex exec`), default settings, against `serve`
 * with no configuration (the built-in simulator), through a model provider whose `wire_api` is `"responses"`: its
 * default request (function tools, the `multi_agent_v1` namespace, `web_search`) is answered; asked for its shell tool
 * by name, the simulated model calls it, Codex runs it and sends its output back, and Codex exits 0.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { codexEnv } from "../utils/agentRuns.js"
import { awaitFirstLine, spawnProcess, startCli } from "../utils/cliHarness.js"
import { providerLines } from "../utils/codexConfig.js"
import { eventually } from "../utils/eventually.js"
import { codexBin } from "../utils/pinnedCli.js"

describe("Codex CLI against serve", () => {
  it.live(
    `codex exec with default settings exits 0 against serve with no config, its shell tool called and answered`,
    () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codex-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const home = path.join(dir, "codex-home")
        const work = path.join(dir, "work")
        fs.mkdirSync(home)
        fs.mkdirSync(work)
        const running = yield* startCli(["serve", "--port", "0", "--data", path.join(dir, "data")])
        const url = yield* awaitFirstLine(running, "serve's first line (its URL)")
        fs.writeFileSync(
          path.join(home, "config.toml"),
          [`model = "gpt-4o-mini"`, ...providerLines({ baseUrl: `${url}/v1` }), ``].join("\n")
        )
        const codex = yield* spawnProcess(process.execPath, [
          codexBin,
          "exec",
          "--skip-git-repo-check",
          "say hi with exec_command"
        ], {
          cwd: work,
          env: codexEnv(home),
          timeoutMs: 150_000
        })
        expect(codex.code, `codex exec's stderr:\n${codex.stderr}`).toBe(0)
        // Each of its requests answered 200 by the gateway, web_search left out (the simulator is no Responses API):
        // two turns at least, as the simulated model calls the tool the prompt names, then answers its output. A
        // stream's line is written when it has ended, which may be just after Codex has.
        const requests = yield* eventually(
          "serve's log lines of Codex's requests",
          Effect.sync(() =>
            running.stderr().split("\n").filter((line) => line.startsWith("{"))
              .map((line) => (JSON.parse(line) as { readonly annotations: Record<string, unknown> }).annotations)
              .filter((line) => line["path"] === "/v1/responses")
          ),
          (lines) => lines.length >= 2,
          { within: "10 seconds" }
        )
        for (const request of requests) {
          expect(request).toMatchObject({ status: 200, omitted_tools: "web_search" })
        }
      }),
    180_000
  )
})
