/**
 * opencode (`opencode-ai`, pinned and installed by `test/utils/pinnedCli.ts`; headless: `opencode run`, default
 * settings but its provider, whose model's `limit` sets where it compacts) through a long scripted session
 * (`test/utils/agentSession.ts`) against `serve`'s Chat Completions routes (`@ai-sdk/openai-compatible`) over a
 * deployment of each backend API, the five at once: the session's title asked for, every turn answered, its tools run
 * (the file read, edited, and shown by a command), its context compacted automatically when the scripted usage
 * passes the model's limit less its output, the session resumed by `opencode run --continue` after `serve` was
 * restarted, and the gateway's recorded spend the simulator's bill.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { opencodeAnswer, opencodeRun } from "../utils/agentRuns.js"
import { agentSession, backends, playSession, prompts, sessionScenario } from "../utils/agentSession.js"
import { opencodeTools } from "../utils/agentTools.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

const model = "gpt-4o-mini"

// opencode compacts once a call's tokens reach the model's context less its output: 16,000 less 4,000.
const limit = { context: 16_000, output: 4_000 }

const scenario = (work: string) =>
  sessionScenario({
    tools: opencodeTools(work),
    compacts: "in the tool loop",
    compactAbove: limit.context - limit.output,
    keptTurns: 1,
    namesSession: true
  })

describe.concurrent("opencode's long session through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: opencode run compacts, resumes after serve restarts, and is billed what the simulator billed`,
      (ctx) =>
        Effect.gen(function*() {
          const program = yield* opencode.pipe(orSkip(ctx))
          const session = yield* agentSession({ label: "opencode-session", model, backend, scenario })
          yield* playSession(session, {
            agent: "opencode",
            run: opencodeRun(program, session, { limit }),
            first: [prompts.first],
            resumed: ["--continue", prompts.resumed],
            answer: opencodeAnswer
          })
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
