/**
 * What the agents' prompt-caching tests share: a short task (the session's first, `prompts.first`: `hello.txt` read,
 * fixed and shown, then the answer) whose turns script no usage, so every reply's is what the simulator's prompt cache
 * counted from what reached it (Anthropic's `cache_control` and Bedrock's `cachePoint` breakpoints with their TTL,
 * OpenAI's `prompt_cache_key`, Gemini's implicit caching); played by an agent through `serve` and checked: the second
 * and later turns of the conversation read the cache, writes of the lifetime the agent asked for where the backend
 * bills them, the cache tokens `serve` counted those the simulator reported, and the spend it recorded the bill.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as Simulator from "../../src/simulator/Simulator.js"
import {
  type AgentRuns,
  type AgentSession,
  type AgentTools,
  type Backend,
  endings,
  modelTurns,
  sessionFile,
  usageBill
} from "./agentSession.js"

/** The conversation's turns of the model's: its read, edit and command, then its answer. */
const conversationTurns = 4

/**
 * The task's scenario, strict and without usage: the file read, fixed, shown, and the answer; with the session's title
 * asked for first, without tools, where the agent asks for one (`namesSession`).
 */
export const cacheScenario = (tools: AgentTools, options: { readonly namesSession?: boolean } = {}) =>
  ({
    strict: true,
    turns: [
      { when: { contains: "Fix the greeting" }, toolCalls: [tools.read(sessionFile.name)] },
      ...(options.namesSession === true ? [{ when: { turn: 0 }, text: "Fix the greeting" }] : []),
      { when: { contains: "helo" }, toolCalls: [tools.edit(sessionFile.name, "helo", "hello")] },
      { toolCalls: [tools.run(`cat ${sessionFile.name}`)] },
      { when: { contains: "hello, world" }, text: endings.first }
    ]
  }) satisfies Simulator.Scenario

/** The backends whose API bills cache writes, each by its lifetime (the others' price a write as any prompt token). */
const billsWrites: ReadonlySet<Backend> = new Set(["anthropic", "bedrock"])

/**
 * What the agent's requests ask of the cache, as the backend takes it: `reads` (the conversation's turns after its
 * first read the cache) and, where the backend bills writes, the lifetime they are written for (`"5m"`, `"1h"`).
 */
export interface CacheExpected {
  readonly reads: boolean
  readonly writes: "5m" | "1h" | undefined
}

/**
 * The task played by the agent (`runs.first` its arguments) and checked: its answer and the file fixed, every turn
 * played once, the cache read and written as `expected` says, `serve`'s cache token counts the simulator's, and the
 * spend it recorded the simulator's bill at the deployment's price.
 */
export const playCachedTask = (session: AgentSession, runs: AgentRuns, expected: CacheExpected) =>
  Effect.gen(function*() {
    const ran = yield* runs.run(runs.first)
    const answer = runs.answer ?? ((stdout: string) => stdout.trim())
    expect(ran.code, `${runs.agent}'s stdout:\n${ran.stdout}\nstderr:\n${ran.stderr}\nserve:\n${session.log()}`).toBe(0)
    expect(answer(ran.stdout), `${runs.agent}'s stderr:\n${ran.stderr}`).toBe(endings.first)
    expect(fs.readFileSync(path.join(session.work, sessionFile.name), "utf8")).toBe("hello, world\n")
    const turns = modelTurns(session.scenario).length
    expect(yield* session.requests, session.log()).toBe(turns)
    const billed = yield* session.billed
    expect(billed).toHaveLength(turns)
    const reading = billed.filter((usage) => usage.cachedPromptTokens > 0).length
    if (expected.reads) expect(reading, JSON.stringify(billed)).toBeGreaterThanOrEqual(conversationTurns - 1)
    else expect(reading, JSON.stringify(billed)).toBe(0)
    const written = billed.reduce((sum, usage) => sum + (usage.cacheWriteTokens ?? 0), 0)
    const forAnHour = billed.reduce((sum, usage) => sum + (usage.cacheWrite1hTokens ?? 0), 0)
    if (billsWrites.has(session.backend) && expected.writes === undefined) expect(written).toBe(0)
    else if (billsWrites.has(session.backend)) {
      expect(written, JSON.stringify(billed)).toBeGreaterThan(0)
      expect(forAnHour, JSON.stringify(billed)).toBe(expected.writes === "1h" ? written : 0)
    }
    const counted = yield* session.cacheTokens
    expect(counted).toEqual({
      read: billed.reduce((sum, usage) => sum + usage.cachedPromptTokens, 0),
      written: billsWrites.has(session.backend) ? written : 0
    })
    const spend = yield* session.spend(turns)
    expect(spend.calls).toBe(turns)
    expect(spend.cost, session.log()).toBeCloseTo(usageBill(billed, session.price, session.backend), 9)
  })
