/**
 * Codex's prompt caching through `serve` (`codex exec`, the `@openai/codex` devDependency, its built-in provider over
 * the gateway's WebSocket mode on `/v1/responses`): its `prompt_cache_key` (its conversation's id; it sends no
 * `prompt_cache_retention`) reaches a Responses and a Chat Completions deployment as `prompt_cache_key`, an Anthropic
 * one as a five-minute breakpoint on the last block, a Bedrock one (a Claude model) as a cache point after the last
 * block, and a Gemini deployment caches the repeated prefix implicitly, so the conversation's later turns read what
 * its first wrote.
 * `serve` counts the cache tokens the simulator reported and records its bill (`test/utils/cacheSession.ts`).
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { codexEnv, codexExec, codexLogin } from "../utils/agentRuns.js"
import { agentSession, type Backend, backends, prompts } from "../utils/agentSession.js"
import { codexTools } from "../utils/agentTools.js"
import { cacheScenario, playCachedTask } from "../utils/cacheSession.js"

// On Bedrock a Claude model, which the gateway sets a cache point for.
const models: Record<Backend, string> = {
  "chat-completions": "gpt-4o-mini",
  "responses": "gpt-4o-mini",
  "anthropic": "gpt-4o-mini",
  "gemini": "gpt-4o-mini",
  "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
}

const cachedTask = (backend: Backend) =>
  Effect.gen(function*() {
    const model = models[backend]
    const session = yield* agentSession({
      label: "codex-cache",
      model,
      backend,
      scenario: () => cacheScenario(codexTools)
    })
    fs.writeFileSync(
      path.join(session.home, "config.toml"),
      [`model = "${model}"`, `openai_base_url = "${session.url}/v1"`, ""].join("\n")
    )
    const env = codexEnv(session.home)
    yield* codexLogin(env)
    const run = codexExec(session, env)
    yield* playCachedTask(session, { agent: "codex exec", run, first: [prompts.first], resumed: [] }, {
      reads: true,
      writes: "5m"
    })
  }).pipe(Effect.scoped)

describe.concurrent("Codex's prompt caching through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: codex exec's prompt_cache_key read by the later turns, billed as simulated`,
      () => cachedTask(backend),
      300_000
    )
  }
})
