/**
 * Gemini CLI's prompt caching through `serve` (`gemini -p`, pinned by `test/utils/pinnedCli.ts`, at the gateway's
 * Gemini routes): it asks for no cache of its own (no `cachedContent`, no breakpoint), and a Gemini deployment caches
 * its repeated prefix implicitly, past the 1024 tokens Gemini's context caching guide names, as an OpenAI one (Chat
 * Completions or Responses) does past the 1024 tokens of OpenAI's prompt caching guide, and an Anthropic or Bedrock
 * deployment of Claude with `cache_conversations` at the breakpoint `serve` places on the last block, so the
 * conversation's later turns read what its first left; `serve` counts the cache tokens the simulator reported and
 * records its bill (`test/utils/cacheSession.ts`).
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { geminiCliRun } from "../utils/agentRuns.js"
import { agentSession, type Backend, backends, prompts } from "../utils/agentSession.js"
import { geminiCliTools } from "../utils/agentTools.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"
import { geminiCli, orSkip, writeGeminiSettings } from "../utils/pinnedCli.js"

const model = "gemini-2.5-flash"

const scenario = (work: string) => cacheScenario(geminiCliTools(work))

/** Where the backend's API caches a long prompt without being asked; elsewhere, Anthropic and Bedrock, only at breakpoints. */
const implicit: ReadonlySet<Backend> = new Set(["chat-completions", "responses", "gemini"])

// On Anthropic and Bedrock, a deployment of a Claude model (asked for by the Gemini model's name, its `groups`) that
// caches every conversation (`cache_conversations`): its writes billed at five minutes' price.
const claudeOn = { anthropic: "claude-sonnet-4-5", bedrock: "us.anthropic.claude-sonnet-4-5-20250929-v1:0" } as const

describe.concurrent("Gemini CLI's prompt caching through serve", () => {
  for (const backend of backends) {
    const cached = implicit.has(backend) ? "cached implicitly" : "cached by the deployment's cache_conversations"
    it.live(
      `${backend}: gemini -p's repeated prefix ${cached}, read by the later turns, billed as simulated`,
      (ctx) =>
        Effect.gen(function*() {
          const gemini = yield* geminiCli.pipe(orSkip(ctx))
          const session = yield* agentSession({
            label: "gemini-cli-cache",
            backend,
            scenario,
            ...(implicit.has(backend) ? { model } : {
              model: claudeOn[backend as keyof typeof claudeOn],
              groups: [model],
              entry: { cache_conversations: true }
            })
          })
          writeGeminiSettings(session.home, { name: model })
          const run = geminiCliRun(gemini, session)
          yield* playCachedTask(session, { agent: "gemini", run, first: ["-p", prompts.first], resumed: [] }, {
            reads: true,
            writes: implicit.has(backend) ? undefined : "5m"
          })
        }).pipe(Effect.scoped),
      300_000
    )
  }
})
