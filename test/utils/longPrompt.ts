/**
 * The long prompt of the agents' 1M-token context tests: numbered lines of about 255,000 tokens (four characters a
 * token, as the simulator counts them), more than the 200,000 a model without its long window takes, and the question
 * the scripted model answers; and what those tests check of the bill.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type AgentSession, usageBill } from "./agentSession.js"

const question = "How many numbered lines does the text above hold?"

const text = Array.from(
  { length: 18_000 },
  (_, i) => `line ${String(i + 1).padStart(5, "0")}: the quick brown fox jumps over the lazy dog.\n`
).join("")

/** The lines alone (`text`), and with the question after them (`withQuestion`). */
export const longPrompt = {
  text,
  withQuestion: text + question,
  question,
  answer: "It holds 18,000 numbered lines.",
  standardWindow: 200_000
} as const

/**
 * The simulator billed `calls` calls, each of a prompt over the standard window, and `serve` recorded them at their
 * bill; the usages billed.
 */
export const longCallsBilled = (session: AgentSession, calls: number) =>
  Effect.gen(function*() {
    const billed = yield* session.billed
    expect(billed).toHaveLength(calls)
    for (const usage of billed) expect(usage.promptTokens).toBeGreaterThan(longPrompt.standardWindow)
    const spend = yield* session.spend(calls)
    expect(spend.calls).toBe(calls)
    expect(spend.cost).toBeCloseTo(usageBill(billed, session.price, session.backend), 6)
    return billed
  })
