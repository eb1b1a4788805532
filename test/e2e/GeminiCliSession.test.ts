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
import { geminiCliRun } from "../utils/agentRuns.js"
import { agentSession, backends, playSession, prompts, sessionScenario } from "../utils/agentSession.js"
import { geminiCliTools } from "../utils/agentTools.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const model = "gemini-2.5-flash"

// A thousandth of the model's window of 1,048,576 tokens: the first task's history (`seq 2000`'s output among it)
// passes it, the resumed task's prompts (400 tokens and up, as scripted) do not.
const compressionThreshold = 0.001

const scenario = (work: string) =>
  sessionScenario({
    tools: geminiCliTools(work),
    compacts: "at the next prompt",
    compactAbove: 900,
    keptTurns: 1,
    checksSummary: true
  })

describe.concurrent("Gemini CLI's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: gemini -p resumes after serve restarts, compresses, and is billed what the simulator billed`,
      (ctx) =>
        Effect.gen(function*() {
          const gemini = yield* geminiCli.pipe(orSkip(ctx))
          const session = yield* agentSession({ label: "gemini-cli-session", model, backend, scenario })
          writeGeminiSettings(session.home, { name: model, compressionThreshold })
          yield* playSession(session, {
            agent: "gemini",
            run: geminiCliRun(gemini, session),
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
