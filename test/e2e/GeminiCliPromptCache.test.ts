/**
 * Gemini CLI's prompt caching through `serve` (`gemini -p`, pinned by `test/utils/pinnedCli.ts`, at the gateway's
 * Gemini routes): it asks for no cache of its own (no `cachedContent`, no breakpoint), and a Gemini deployment caches
 * its repeated prefix implicitly, past the 1024 tokens Gemini's context caching guide names, as an OpenAI one (Chat
 * Completions or Responses) does past the 1024 tokens of OpenAI's prompt caching guide, so the conversation's later
 * turns read what its first left; `serve` counts the cache tokens the simulator reported and records its bill
 * (`test/utils/cacheSession.ts`).
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { geminiCliRun } from "../utils/agentRuns.js"
import { agentSession, type Backend, prompts } from "../utils/agentSession.js"
import { geminiCliTools } from "../utils/agentTools.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const model = "gemini-2.5-flash"

const scenario = (work: string) => cacheScenario(geminiCliTools(work))

// The backends that cache a long prompt without being asked (Anthropic and Bedrock cache only at breakpoints).
const caching: ReadonlyArray<Backend> = ["chat-completions", "responses", "gemini"]

describe.concurrent("Gemini CLI's prompt caching through serve", () => {
  for (const backend of caching) {
    it.live(
      `${backend}: gemini -p's repeated prefix cached implicitly, read by the later turns, billed as simulated`,
      (ctx) =>
        Effect.gen(function*() {
          const gemini = yield* geminiCli.pipe(orSkip(ctx))
          const session = yield* agentSession({ label: "gemini-cli-cache", model, backend, scenario })
          writeGeminiSettings(session.home, { name: model })
          const run = geminiCliRun(gemini, session)
          yield* playCachedTask(session, { agent: "gemini", run, first: ["-p", prompts.first], resumed: [] }, {
            reads: true,
            writes: undefined
          })
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
