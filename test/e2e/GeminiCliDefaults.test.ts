/**
 * Gemini CLI (`@google/gemini-cli`, pinned by `test/utils/pinnedCli.ts`; headless `gemini -p`) against `serve` with no
 * configuration (the built-in simulator), its model one the default configuration serves (`gpt-4o-mini`), its history
 * compressed at the resumed prompt (`model.compressionThreshold` tiny). The compression asks for a model of Gemini CLI's
 * own choosing (docs/agents.md: `gemini-3.1-pro-preview-customtools`, its summary and the summary's check), which the
 * default configuration serves: every request is answered, and the resumed prompt too.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Serve from "../../src/cli/serve.js"
import { agentEnv, awaitFirstLine, spawnProcess, startInProcess } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

// The model Gemini CLI compresses with when its own is not one of Google's (its `chat-compression-default`, resolved
// for a Gemini API key).
const compressionModel = "gemini-3.1-pro-preview-customtools"

describe("Gemini CLI against serve's default configuration", () => {
  it.live(
    "its compression's own model is served: the resumed, compressed session is answered",
    (ctx) =>
      Effect.gen(function*() {
        const gemini = yield* geminiCli.pipe(orSkip(ctx))
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gemini-cli-defaults-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const [home, work] = [path.join(dir, "home"), path.join(dir, "work")]
        fs.mkdirSync(work)
        writeGeminiSettings(home, { name: "gpt-4o-mini", compressionThreshold: 0.0001 })
        const serving = yield* startInProcess((io) => Serve.run(["--port", "0", "--data", path.join(dir, "data")], io))
        const url = yield* awaitFirstLine(serving, "serve's first line (its URL)")
        const run = (args: ReadonlyArray<string>) =>
          spawnProcess(process.execPath, [gemini, "--skip-trust", ...args], {
            cwd: work,
            env: {
              ...agentEnv(),
              HOME: home,
              TMPDIR: dir,
              GEMINI_API_KEY: "unused",
              GOOGLE_GEMINI_BASE_URL: url,
              GEMINI_TELEMETRY_ENABLED: "false"
            },
            timeoutMs: 240_000
          })
        for (const args of [["-p", "Say hello."], ["--resume", "latest", "-p", "Say more."]]) {
          const ran = yield* run(args)
          expect(ran.code, `gemini ${args.join(" ")}:\n${ran.stderr}\nserve:\n${serving.stderr()}`).toBe(0)
        }
        // The compression's two calls (its summary, then the summary's check) reached a deployment, and every request
        // was answered.
        const lines = yield* eventually(
          "serve's log lines of the compression's calls",
          Effect.sync(() =>
            serving.stderr().split("\n").filter((line) => line.startsWith("{"))
              .map((line) => (JSON.parse(line) as { readonly annotations: Record<string, unknown> }).annotations)
              .filter((line) => typeof line["path"] === "string" && String(line["path"]).startsWith("/v1beta/models/"))
          ),
          (lines) => lines.filter((line) => line["model"] === compressionModel).length >= 2,
          { within: "10 seconds" }
        )
        for (const line of lines) expect(line, JSON.stringify(line)).toMatchObject({ status: 200 })
      }).pipe(Effect.scoped),
    300_000
  )
})
