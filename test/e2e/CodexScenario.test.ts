/**
 * Codex CLI itself (the `@openai/codex` devDependency, `codex exec`, default settings but its provider) playing a
 * scripted session on the simulator's Responses wire: the scenario's commands are run by Codex in turn (the file is
 * read, fixed and read again), its 503 is retried by Codex and the retry gets the next turn, and Codex ends with the
 * scenario's last text. Codex names its conversation with `prompt_cache_key`, which keeps the session's faults apart.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Simulator from "../../src/simulator/Simulator.js"
import { codexEnv } from "../utils/agentRuns.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { codexBin } from "../utils/pinnedCli.js"

const command = (cmd: string) => ({ toolCalls: [{ name: "exec_command", arguments: { cmd } }] })

const scenario: Simulator.Scenario = {
  strict: true,
  turns: [
    { when: { contains: "hello.txt" }, ...command("cat hello.txt"), usage: { input: 3000, output: 20 } },
    {
      when: { lastRole: "tool", contains: "helo" },
      ...command("sed -i s/helo/hello/ hello.txt"),
      usage: { input: 3100, output: 30, cacheRead: 2900 }
    },
    { fault: "status=503;retry-after=0" },
    { ...command("cat hello.txt"), usage: { input: 3200, output: 20, cacheRead: 3000 } },
    { text: "Fixed: hello.txt now says hello, world.", usage: { input: 3300, output: 10, cacheRead: 3100 } }
  ]
}

describe("Codex CLI playing a scenario", () => {
  it.live(
    "codex exec runs the scripted commands, retries the scripted 503 and ends with the scripted text",
    () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codex-scenario-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const home = path.join(dir, "codex-home")
        const work = path.join(dir, "work")
        fs.mkdirSync(home)
        fs.mkdirSync(work)
        fs.writeFileSync(path.join(work, "hello.txt"), "helo, world\n")
        const sim = yield* Simulator.make({ scenario, models: ["gpt-4o-mini"] })
        fs.writeFileSync(
          path.join(home, "config.toml"),
          [
            `model = "gpt-4o-mini"`,
            `model_provider = "simulator"`,
            ``,
            `[model_providers.simulator]`,
            `name = "simulator"`,
            `base_url = "${sim.url}/v1"`,
            `wire_api = "responses"`,
            ``
          ].join("\n")
        )
        const codex = yield* spawnProcess(process.execPath, [
          codexBin,
          "exec",
          "--skip-git-repo-check",
          // The scripted commands change the file: no sandbox to ask for leave, in a directory of the test's own.
          "--dangerously-bypass-approvals-and-sandbox",
          "Fix the greeting in hello.txt"
        ], {
          cwd: work,
          env: { ...codexEnv(home), OPENAI_API_KEY: "sk-simulator" },
          timeoutMs: 150_000
        })
        expect(codex.code, `codex exec's stderr:\n${codex.stderr}`).toBe(0)
        expect(fs.readFileSync(path.join(work, "hello.txt"), "utf8")).toBe("hello, world\n")
        expect(codex.stdout.trim()).toBe("Fixed: hello.txt now says hello, world.")
        // Each scripted command, in order; the 503 and its retry among the requests the simulator answered.
        const commands = [...codex.stderr.matchAll(/-lc '([^']*)'/g)].map((found) => found[1])
        expect(commands).toEqual(["cat hello.txt", "sed -i s/helo/hello/ hello.txt", "cat hello.txt"])
        expect(yield* sim.requestCount).toBe(5)
      }).pipe(Effect.scoped),
    180_000
  )
})
