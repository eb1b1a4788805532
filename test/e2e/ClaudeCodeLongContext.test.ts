/**
 * Claude Code's 1M-token context through `serve` (`claude -p`, pinned by `test/utils/pinnedCli.ts`), over a deployment
 * of each backend API: with its model named with `[1m]` it sends the `context-1m-2025-08-07` beta (its
 * `anthropic-beta` header), which `serve` carries to Anthropic as that header and to Claude on Bedrock as
 * `additionalModelRequestFields.anthropic_beta`; the simulator, as those APIs do, refuses a Claude Sonnet 4.5 prompt
 * of more than 200,000 tokens without it ("prompt is too long"). A task whose prompt passes 200,000 tokens (a long text
 * on stdin) runs a command and is answered on every backend, each call's prompt over 200,000 tokens; the usage Claude
 * Code is told is the simulator's count, and the gateway records the simulator's bill at the long-context price.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { claudeCodeRun } from "../utils/agentRuns.js"
import { agentSession, type Backend, backends } from "../utils/agentSession.js"
import { claudeCodeTools } from "../utils/agentTools.js"
import { longCallsBilled, longPrompt } from "../utils/longPrompt.js"
import { claudeCode, orSkip } from "../utils/pinnedCli.js"

/** Claude Sonnet 4.5, whose 1M-token window takes the beta; on Bedrock as Bedrock names it (its US profile). */
const models: Record<Backend, string> = {
  "chat-completions": "claude-sonnet-4-5",
  "responses": "claude-sonnet-4-5",
  "anthropic": "claude-sonnet-4-5",
  "gemini": "claude-sonnet-4-5",
  "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
}

const longTurn = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const claude = yield* claudeCode.pipe(orSkip(ctx))
    const session = yield* agentSession({
      label: "claude-code-1m",
      model: models[backend],
      backend,
      contextWindow: 1_000_000,
      // A command, then the answer: both calls carry the whole long prompt.
      scenario: (work) => ({
        strict: true,
        turns: [
          { when: { contains: longPrompt.question }, toolCalls: [claudeCodeTools(work).run("wc -l hello.txt")] },
          { text: longPrompt.answer }
        ]
      })
    })
    const run = claudeCodeRun(claude, session, { model: `${session.model}[1m]`, stdin: longPrompt.withQuestion })
    const ran = yield* run(["--output-format", "json"])
    expect(ran.code, `claude's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    const result = JSON.parse(ran.stdout) as {
      readonly result: string
      readonly usage: {
        readonly input_tokens: number
        readonly cache_read_input_tokens?: number
        readonly cache_creation_input_tokens?: number
      }
    }
    expect(result.result).toBe(longPrompt.answer)
    const billed = yield* longCallsBilled(session, 2)
    // The counts Claude Code was told (its result sums its calls') are the simulator's, so it sizes its context from the
    // real prompt.
    const { cache_creation_input_tokens = 0, cache_read_input_tokens = 0, input_tokens } = result.usage
    expect(input_tokens + cache_read_input_tokens + cache_creation_input_tokens)
      .toBe(billed.reduce((sum, usage) => sum + usage.promptTokens, 0))
  }).pipe(Effect.scoped)

describe.concurrent("Claude Code's 1M-token context through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: claude -p with a [1m] model answers a prompt over 200,000 tokens, billed as simulated`,
      longTurn(backend),
      300_000
    )
  }
})
