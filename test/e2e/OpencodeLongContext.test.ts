/**
 * opencode's 1M-token context through `serve` (`opencode run`, pinned by `test/utils/pinnedCli.ts`), over a deployment
 * of each backend API: its provider `@ai-sdk/anthropic` at the gateway's Anthropic routes, its model Claude Sonnet 4.5
 * with a window of 1,000,000 tokens (`limit.context`, so opencode sends the long prompt whole and does not compact) and
 * the `context-1m-2025-08-07` beta in its `headers` (opencode's way to the long window, which it sets itself for no
 * provider it is configured with), which `serve` carries to Anthropic as that header and to Claude on Bedrock as
 * `additionalModelRequestFields.anthropic_beta`; the simulator, as those APIs do, refuses a Claude Sonnet 4.5 prompt of
 * more than 200,000 tokens without it ("prompt is too long"). A task whose prompt passes 200,000 tokens (a long text on
 * stdin) runs a command and is answered on every backend, each of its calls' prompts over 200,000 tokens, and the
 * gateway records the simulator's bill at the long-context price.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { opencodeAnswer } from "../utils/agentRuns.js"
import { agentKey, agentSession, type Backend, backends, usageBill } from "../utils/agentSession.js"
import { opencodeTools } from "../utils/agentTools.js"
import { spawnProcess } from "../utils/cliHarness.js"
import { longPrompt } from "../utils/longPrompt.js"
import { opencodeConfigured } from "../utils/opencodeConfig.js"
import { opencode, orSkip } from "../utils/pinnedCli.js"

/** Claude Sonnet 4.5, whose 1M-token window takes the beta; on Bedrock as Bedrock names it (its US profile). */
const models: Record<Backend, string> = {
  "chat-completions": "claude-sonnet-4-5",
  "responses": "claude-sonnet-4-5",
  "anthropic": "claude-sonnet-4-5",
  "gemini": "claude-sonnet-4-5",
  "bedrock": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
}

/** The model's settings in opencode's config: the long window, and the beta that asks for it. */
const longWindow = {
  limit: { context: 1_000_000, output: 8_000 },
  headers: { "anthropic-beta": "context-1m-2025-08-07" }
}

const longTurn = (backend: Backend) => (ctx: Parameters<typeof orSkip>[0]) =>
  Effect.gen(function*() {
    const program = yield* opencode.pipe(orSkip(ctx))
    const session = yield* agentSession({
      label: "opencode-1m",
      model: models[backend],
      backend,
      contextWindow: 1_000_000,
      // A command, then the answer, both calls carrying the whole long prompt; the session's title asked for between.
      scenario: (work) => ({
        strict: true,
        turns: [
          { when: { contains: longPrompt.question }, toolCalls: [opencodeTools(work).run("wc -l hello.txt")] },
          { when: { turn: 0 }, text: "Counting lines" },
          { text: longPrompt.answer }
        ]
      })
    })
    const env = opencodeConfigured({
      home: session.home,
      work: session.work,
      baseUrl: `${session.url}/v1`,
      npm: "@ai-sdk/anthropic",
      model: session.model,
      modelSettings: longWindow,
      key: agentKey
    })
    // The long text on stdin, which opencode puts before its prompt's question.
    const ran = yield* spawnProcess(program, ["run", longPrompt.question], {
      cwd: session.work,
      env,
      stdin: longPrompt.text,
      timeoutMs: 240_000
    })
    expect(ran.code, `opencode's stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    expect(opencodeAnswer(ran.stdout)).toBe(longPrompt.answer)
    const billed = yield* session.billed
    expect(billed).toHaveLength(3)
    // The task's two calls, whichever the title's place among them, each sent the long text whole.
    expect(billed.filter((usage) => usage.promptTokens > longPrompt.standardWindow).length).toBeGreaterThanOrEqual(2)
    const spend = yield* session.spend(3)
    expect(spend.calls).toBe(3)
    expect(spend.cost).toBeCloseTo(usageBill(billed, session.price, backend), 6)
  }).pipe(Effect.scoped)

describe.concurrent("opencode's 1M-token context through serve", () => {
  for (const backend of backends) {
    it.live(
      `${backend}: opencode run with a 1M-token limit and the beta answers a prompt over 200,000 tokens, billed as ` +
        "simulated",
      longTurn(backend),
      300_000
    )
  }
})
