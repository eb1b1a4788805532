/** A thinking budget in tokens as a reasoning effort, by a dialect's table of a budget per effort. */
import type { ReasoningEffort } from "../../ChatRequest.js"

/**
 * The effort of `budgets` whose budget is the largest not above `budget`, the least one below them all; an effort of
 * no budget (Gemini's `none`) is never the answer.
 */
export function effortOfBudget(budget: number, budgets: Readonly<Partial<Record<ReasoningEffort, number>>>) {
  let effort: ReasoningEffort = "minimal"
  for (const [name, tokens] of Object.entries(budgets)) {
    if (tokens > 0 && tokens <= budget) effort = name as ReasoningEffort
  }
  return effort
}
