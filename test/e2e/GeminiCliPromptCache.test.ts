/**
 * Gemini CLI's prompt caching through `serve` (`gemini -p`, pinned by `test/utils/pinnedCli.ts`, at the gateway's
 * Gemini routes): it asks for no cache of its own (no `cachedContent`, no breakpoint), and a Gemini deployment caches
 * its repeated prefix implicitly, past the 1024 tokens Gemini's context caching guide names, so the conversation's
 * later turns read what its first left; `serve` counts the cache tokens the simulator reported and records its bill
 * (`test/utils/cacheSession.ts`).
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { agentKey, agentSession, prompts } from "../utils/agentSession.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const model = "gemini-2.5-flash"

const scenario = (work: string) =>
  cacheScenario({
    read: (file) => ({ name: "read_file", arguments: { file_path: path.join(work, file) } }),
    edit: (file, from, to) => ({
      name: "replace",
      arguments: { file_path: path.join(work, file), old_string: from, new_string: to, instruction: "Edit it." }
    }),
    run: (command) => ({ name: "run_shell_command", arguments: { command } })
  })

describe("Gemini CLI's prompt caching through serve", () => {
  it.live(
    "gemini: gemini -p's repeated prefix cached implicitly, read by the later turns, billed as simulated",
    (ctx) =>
      Effect.gen(function*() {
        const gemini = yield* geminiCli.pipe(orSkip(ctx))
        const session = yield* agentSession({ label: "gemini-cli-cache", model, backend: "gemini", scenario })
        writeGeminiSettings(session.home, { name: model })
        const run = (args: ReadonlyArray<string>) =>
          spawnProcess(process.execPath, [gemini, "--skip-trust", "--approval-mode", "yolo", ...args], {
            cwd: session.work,
            env: {
              ...envWithoutKeys(),
              HOME: session.home,
              TMPDIR: session.dir,
              GEMINI_API_KEY: agentKey,
              GOOGLE_GEMINI_BASE_URL: session.url,
              GEMINI_TELEMETRY_ENABLED: "false"
            },
            timeoutMs: 240_000
          })
        yield* playCachedTask(session, { agent: "gemini", run, first: ["-p", prompts.first], resumed: [] }, {
          reads: true,
          writes: undefined
        })
      }).pipe(Effect.scoped),
    300_000
  )
})
