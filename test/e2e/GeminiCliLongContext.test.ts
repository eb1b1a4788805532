/**
 * Gemini CLI's 1M-token context through `serve` (`gemini -p`, pinned by `test/utils/pinnedCli.ts`, at the gateway's
 * Gemini routes): a Gemini 2.5 model has its 1M-token window without asking (Gemini's models reference), and Gemini CLI
 * sizes its context to it, so one turn whose prompt passes 200,000 tokens (a long text on stdin before its `-p`
 * question) is sent whole and answered by a deployment of each backend API serving the model, and the gateway records
 * the simulator's bill at the model's price.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { geminiCliRun } from "../utils/agentRuns.js"
import { agentSession, type Backend, backends } from "../utils/agentSession.js"
import { longCallsBilled, longPrompt } from "../utils/longPrompt.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const model = "gemini-2.5-flash"

const longTurn = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const gemini = yield* geminiCli.pipe(orSkip(ctx))
    const session = yield* agentSession({
      label: "gemini-cli-1m",
      model,
      backend,
      contextWindow: 1_048_576,
      scenario: () => ({
        strict: true,
        turns: [{ when: { contains: longPrompt.question }, text: longPrompt.answer }]
      })
    })
    writeGeminiSettings(session.home, { name: model })
    const ran = yield* geminiCliRun(gemini, session, longPrompt.text)(["-p", longPrompt.question])
    expect(ran.code, `gemini's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    expect(ran.stdout.trim()).toBe(longPrompt.answer)
    yield* longCallsBilled(session, 1)
  }).pipe(Effect.scoped)

describe.concurrent("Gemini CLI's 1M-token context through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: gemini -p answers a prompt over 200,000 tokens, billed as simulated`,
      longTurn(backend),
      300_000
    )
  }
})
