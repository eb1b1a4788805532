/**
 * opencode's prompt caching through `serve` (`opencode run`, pinned by `test/utils/pinnedCli.ts`). Through a provider
 * `@ai-sdk/openai-compatible` at the gateway's Chat Completions routes, for a Claude model it marks its first two
 * system messages and its last two others with `cache_control` (`{type: "ephemeral"}`, five minutes: it sets no
 * `ttl`), which reach an Anthropic deployment as `cache_control` and a Bedrock one as `cachePoint` blocks; a Gemini
 * deployment caches the repeated prefix implicitly. Through its built-in `openai` provider (`@ai-sdk/openai`, the
 * Responses API) it sends its session's id as `prompt_cache_key`, which reaches a Responses and a Chat Completions
 * deployment as `prompt_cache_key`. The conversation's later turns read what its first wrote; `serve` counts the cache
 * tokens the simulator reported and records its bill (`test/utils/cacheSession.ts`).
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { opencodeAnswer, opencodeRun } from "../utils/agentRuns.js"
import { agentKey, agentSession, type Backend, prompts } from "../utils/agentSession.js"
import { opencodeTools } from "../utils/agentTools.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { opencodeConfigured } from "../utils/opencodeConfig.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

const scenario = (work: string) => cacheScenario(opencodeTools(work), { namesSession: true })

const model = "claude-sonnet-4-5"

// The backends that cache what opencode marks: by its breakpoints (Anthropic, Bedrock), or implicitly (Gemini).
const caching: ReadonlyArray<Backend> = ["anthropic", "bedrock", "gemini"]

// The backends that cache by the key its built-in OpenAI provider sends.
const keyed: ReadonlyArray<Backend> = ["chat-completions", "responses"]

const cachedTask = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const program = yield* opencode.pipe(orSkip(ctx))
    const session = yield* agentSession({ label: "opencode-cache", model, backend, scenario })
    yield* playCachedTask(session, {
      agent: "opencode",
      run: opencodeRun(program, session),
      first: [prompts.first],
      resumed: [],
      answer: opencodeAnswer
    }, { reads: true, writes: "5m" })
  }).pipe(Effect.scoped)

const keyedTask = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const program = yield* opencode.pipe(orSkip(ctx))
    const session = yield* agentSession({ label: "opencode-cache-key", model: "gpt-4o-mini", backend, scenario })
    const env = opencodeConfigured({
      home: session.home,
      work: session.work,
      baseUrl: `${session.url}/v1`,
      model: session.model,
      key: agentKey,
      openAi: { webSocket: false }
    })
    yield* playCachedTask(session, {
      agent: "opencode",
      run: (args) => spawnProcess(program, ["run", ...args], { cwd: session.work, env, timeoutMs: 240_000 }),
      first: [prompts.first],
      resumed: [],
      answer: opencodeAnswer
    }, { reads: true, writes: undefined })
  }).pipe(Effect.scoped)

describe.concurrent("opencode's prompt caching through serve", () => {
  for (const backend of caching) {
    it.live(
      `${backend}: opencode run's cache_control breakpoints read by the later turns, billed as simulated`,
      cachedTask(backend),
      300_000
    )
  }
  for (const backend of keyed) {
    it.live(
      `${backend}: opencode run's prompt_cache_key (its built-in openai provider) read by the later turns, billed as ` +
        "simulated",
      keyedTask(backend),
      300_000
    )
  }
})
