/**
 * Each agent's long session (`sessionScenario`) as its session and replicas tests play it: its tools' names and
 * arguments, and where and at what usage it compacts.
 */
import type * as Simulator from "../../src/simulator/Simulator.js"
import { sessionScenario } from "./agentSession.js"
import { claudeCodeTools, codexTools, geminiCliTools, opencodeTools } from "./agentTools.js"

/** The prompt tokens past which Codex compacts (its `model_auto_compact_token_limit`). */
export const codexCompactAbove = 8000

/** Codex's session: compacted in its tool loop. */
export const codexScenario = (): Simulator.Scenario =>
  sessionScenario({
    tools: codexTools,
    compactAbove: codexCompactAbove,
    compacts: "in the tool loop"
  })

/**
 * Claude Code's session (its Read and Edit take absolute paths), compacted in its tool loop; with `toolSearch`, its
 * `ToolSearch` loads the deferred `TaskList` first.
 */
export const claudeCodeScenario = (toolSearch: boolean) => (work: string): Simulator.Scenario =>
  sessionScenario({
    tools: claudeCodeTools(work),
    compacts: "in the tool loop",
    compactAbove: 60_000,
    keptTurns: 1,
    ...(toolSearch
      ? {
        loadsTool: {
          search: { name: "ToolSearch", arguments: { query: "select:TaskList" } },
          call: { name: "TaskList", arguments: {} }
        }
      }
      : {})
  })

/**
 * A thousandth of a Gemini model's window of 1,048,576 tokens (Gemini CLI's `model.compressionThreshold`): the first
 * task's history (`seq 2000`'s output among it) passes it, the resumed task's prompts (400 tokens and up) do not.
 */
export const geminiCompressionThreshold = 0.001

/** Gemini CLI's session (its tools take absolute paths), compressed at the resumed prompt: a summary and its check. */
export const geminiCliScenario = (work: string): Simulator.Scenario =>
  sessionScenario({
    tools: geminiCliTools(work),
    compacts: "at the next prompt",
    compactAbove: 900,
    keptTurns: 1,
    checksSummary: true
  })

/** opencode's model `limit`: it compacts once a call's tokens reach the context less the output, 16,000 less 4,000. */
export const opencodeLimit = { context: 16_000, output: 4_000 }

/** opencode's session (its tools take absolute paths), compacted in its tool loop, titled at its first prompt. */
export const opencodeScenario = (work: string): Simulator.Scenario =>
  sessionScenario({
    tools: opencodeTools(work),
    compacts: "in the tool loop",
    compactAbove: opencodeLimit.context - opencodeLimit.output,
    keptTurns: 1,
    namesSession: true
  })
