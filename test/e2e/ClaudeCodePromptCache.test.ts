/**
 * Claude Code's prompt caching through `serve` (`claude -p`, pinned by `test/utils/pinnedCli.ts`), over a deployment of
 * each backend API: its `cache_control` breakpoints, for 5 minutes by default and for an hour with
 * `CLAUDE_CODE_PROMPT_CACHE_TTL=1h`, reach Anthropic as `cache_control` with their `ttl` and Bedrock as `cachePoint`
 * blocks with theirs, so the conversation's later turns read what its first wrote, the writes billed at their
 * lifetime's price; a Gemini deployment caches the repeated prefix implicitly, and an OpenAI one (Chat Completions or
 * Responses) caches it on its own past 1024 tokens. `serve` counts the cache tokens the
 * simulator reported and records its bill (`test/utils/cacheSession.ts`).
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { claudeCodeRun } from "../utils/agentRuns.js"
import { agentSession, type Backend, prompts } from "../utils/agentSession.js"
import { claudeCodeTools } from "../utils/agentTools.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

const model = "claude-sonnet-4-5"

const scenario = (work: string) => cacheScenario(claudeCodeTools(work))

// The backends that cache what Claude Code marks: by its breakpoints (Anthropic, Bedrock), or implicitly (Gemini,
// OpenAI's APIs).
const caching: ReadonlyArray<Backend> = ["chat-completions", "responses", "anthropic", "bedrock", "gemini"]

const cachedTask = (backend: Backend, ttl: "5m" | "1h") => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const claude = yield* claudeCode.pipe(orSkip(ctx))
    const session = yield* agentSession({ label: `claude-code-cache-${ttl}`, model, backend, scenario })
    const run = claudeCodeRun(claude, session, ttl === "1h" ? { env: { CLAUDE_CODE_PROMPT_CACHE_TTL: "1h" } } : {})
    yield* playCachedTask(session, { agent: "claude", run, first: [prompts.first], resumed: [] }, {
      reads: true,
      writes: ttl
    })
  }).pipe(Effect.scoped)

describe.concurrent("Claude Code's prompt caching through serve", () => {
  for (const backend of caching) {
    for (const ttl of ["5m", "1h"] as const) {
      it.live(
        `${backend}: claude -p's cache_control breakpoints (${ttl}) read by the later turns, billed as simulated`,
        cachedTask(backend, ttl),
        300_000
      )
    }
  }
})
