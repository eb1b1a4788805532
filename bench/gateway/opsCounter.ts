/**
 * Loaded with Node's `--import` into a side the MCP case (`bench/cases/mcpToolCall.ts`) runs when
 * `MCP_TOOL_CALL_OPS` is set: counts every fiber's Effect operations and turns in the side's process
 * (`../effectOps.ts`) and answers an `"ops"` message with the counts so far, and, when `BENCH_OPS_BREAKDOWN` is set,
 * each operation's label and count and each site (the nearest line of this repository's code that built it) and
 * label and its count (the run loop's tracer hook and a stack an operation, slower: its CPU figures are then not the
 * side's).
 */
import { countOps } from "../effectOps.js"

/** What a side answers to `"ops"`. */
export interface OpsAnswer {
  readonly ops: number
  readonly turns: number
  readonly breakdown: ReadonlyArray<readonly [string, number]>
  /** Keyed `<site>\t<label>`. */
  readonly sites: ReadonlyArray<readonly [string, number]>
}

const breakdown = process.env["BENCH_OPS_BREAKDOWN"] === undefined ?
  undefined :
  { steps: new Map<string, number>(), sites: new Map<string, number>() }
const counted = countOps(breakdown)

process.on("message", (message) => {
  if (message !== "ops") return
  const answer: OpsAnswer = {
    ...counted(),
    breakdown: breakdown === undefined ? [] : [...breakdown.steps],
    sites: breakdown === undefined ? [] : [...breakdown.sites]
  }
  process.send?.(answer)
})
