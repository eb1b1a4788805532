/**
 * Gemini CLI (`@google/gemini-cli`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `gemini -p`, default
 * settings but `model.compressionThreshold`, its tools run without asking by `--approval-mode yolo`) through a long
 * scripted session (`test/utils/agentSession.ts`) against `serve`'s Gemini routes over a deployment of each backend
 * API, the five at once: every turn answered, its tools run (the file read, edited, and shown by a command), the
 * session resumed by `gemini --resume latest -p` after `serve` was restarted, its chat compressed there (Gemini CLI
 * compresses where a user's message starts a turn, once its history's estimate passes the threshold: a summary and
 * its check, then its own "Got it" turn), and the gateway's recorded spend the simulator's bill.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { geminiCliScenario, geminiCompressionThreshold } from "../utils/agentScenarios.js"
import { agentKey, agentSession, backends, playSession, prompts } from "../utils/agentSession.js"
import { envWithoutKeys, spawnProcess } from "../utils/cliHarness.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const model = "gemini-2.5-flash"

describe.concurrent("Gemini CLI's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: gemini -p resumes after serve restarts, compresses, and is billed what the simulator billed`,
      (ctx) =>
        Effect.gen(function*() {
          const gemini = yield* geminiCli.pipe(orSkip(ctx))
          const session = yield* agentSession({
            label: "gemini-cli-session",
            model,
            backend,
            scenario: geminiCliScenario
          })
          writeGeminiSettings(session.home, { name: model, compressionThreshold: geminiCompressionThreshold })
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
          yield* playSession(session, {
            agent: "gemini",
            run,
            first: ["-p", prompts.first],
            resumed: ["--resume", "latest", "-p", prompts.resumed],
            // Its compression asks for the summary and its check whole (`generateContent`).
            whole: 2
          })
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
