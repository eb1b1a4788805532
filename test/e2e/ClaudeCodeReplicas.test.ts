/**
 * Claude Code (`claude -p`, as in `ClaudeCodeSession.test.ts`, on a Claude model that thinks) through the long scripted
 * session against two `serve` replicas sharing Redis behind a balancer (`test/utils/agentReplicas.ts`: each request to
 * the next replica in turn), whose model is a router over two deployments of two organisations (keys): on a Responses
 * backend its thinking is each deployment's encrypted reasoning, which the other refuses 400
 * `invalid_encrypted_content`, as OpenAI does; on an Anthropic or Bedrock backend it is signed thinking, which the
 * simulator refuses with a signature made for another text (on Anthropic, or prefix); on a Gemini backend a Gemini 3
 * model's thought signatures; on Chat Completions DeepSeek's reasoning_content. Every turn answered, its context
 * compacted, the session resumed after both replicas restarted; the whole session on one deployment (the one that made
 * its thinking), which refused nothing and was sent its thinking back.
 */
import { describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { agentReplicas, keptWithItsDeployment, playAcrossReplicas } from "../utils/agentReplicas.js"
import { claudeCodeScenario } from "../utils/agentScenarios.js"
import { agentKey, type Backend, prompts } from "../utils/agentSession.js"
import { agentEnv, spawnProcess } from "../utils/cliHarness.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

// A Claude model that thinks before each call and binds its thinking to the conversation's prefix (on Bedrock as
// Bedrock names it); on Gemini a Gemini 3 model, which signs its calls; on Chat Completions DeepSeek's thinking model.
const models = {
  "chat-completions": "deepseek-reasoner",
  responses: "claude-sonnet-5-1",
  anthropic: "claude-sonnet-5-1",
  gemini: "gemini-3-flash-preview",
  bedrock: "us.anthropic.claude-sonnet-5-1-v1:0"
} as const

const session = (backend: Backend & keyof typeof models) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const claude = yield* claudeCode.pipe(orSkip(ctx))
    const model = models[backend]
    const replicas = yield* agentReplicas({
      label: "claude-code-replicas",
      model,
      backend,
      scenario: claudeCodeScenario(false)
    })
    const counts = yield* playAcrossReplicas(replicas, {
      agent: "claude",
      run: (args) =>
        spawnProcess(process.execPath, [claude, "-p", ...args, "--model", model, "--allowedTools", "Read,Edit,Bash"], {
          cwd: replicas.work,
          env: {
            ...agentEnv(),
            HOME: replicas.home,
            TMPDIR: replicas.dir,
            ANTHROPIC_API_KEY: agentKey,
            ANTHROPIC_BASE_URL: replicas.balanced.url,
            ANTHROPIC_SMALL_FAST_MODEL: model,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
            DISABLE_AUTOUPDATER: "1",
            // Compaction at half of a window of 100,000 tokens (the least it takes): the scripted usage passes it once.
            CLAUDE_CODE_AUTO_COMPACT_WINDOW: "100000",
            CLAUDE_AUTOCOMPACT_PCT_OVERRIDE: "50"
          },
          timeoutMs: 240_000
        }),
      first: [prompts.first],
      resumed: ["--continue", prompts.resumed]
    })
    keptWithItsDeployment(replicas, counts, backend)
  }).pipe(Effect.scoped)

describe("Claude Code's session through two serve replicas sharing Redis, over deployments of two organisations", () => {
  for (const backend of ["chat-completions", "responses", "anthropic", "gemini", "bedrock"] as const) {
    it.live(
      `${backend}: its thinking stays with the deployment that made it, across replicas, compacted and resumed`,
      session(backend),
      300_000
    )
  }
})
