/**
 * A batch's result lines matched with what was submitted: each request's line found by its custom id (by its position
 * where the API names none), a repeated line counted once (its first), a line of no submitted id dropped, and a request
 * with no line given `BatchLineError`: `missing`, or the batch's own `expired` or `cancelled` when it ended so.
 */
import * as Result from "effect/Result"
import { BatchLineError, type Outcome } from "../../Batch.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { BatchLine, BatchState } from "../../ProviderClient.js"

/** What a batch's lines are read against. */
export interface Submitted {
  readonly provider: string
  readonly model: string
  readonly batchId: string
  /** Each request's custom id, in submission order. */
  readonly customIds: ReadonlyArray<string>
  /** How the batch ended. */
  readonly state: BatchState
}

/** Each submitted request's outcome, in submission order; `price` gives an answered line its usage and cost. */
export function reconcile(
  submitted: Submitted,
  lines: ReadonlyArray<BatchLine>,
  price: (index: number, response: ChatResponse) => ChatResponse
): ReadonlyArray<Outcome> {
  const { batchId, customIds, model, provider } = submitted
  const indexOf = new Map(customIds.map((id, index) => [id, index]))
  const outcomes: Array<Outcome | undefined> = new Array(customIds.length).fill(undefined)
  function lineError(index: number, reason: BatchLineError["reason"]) {
    return Result.fail(new BatchLineError({ provider, model, batchId, index, reason }))
  }
  for (const line of lines) {
    const index = line.customId === undefined ? line.position : indexOf.get(line.customId)
    if (index === undefined || index < 0 || index >= customIds.length || outcomes[index] !== undefined) continue
    const outcome = line.outcome
    outcomes[index] = outcome === "expired" || outcome === "cancelled"
      ? lineError(index, outcome)
      : Result.map(outcome, (response) => price(index, response))
  }
  const unanswered = submitted.state === "expired" || submitted.state === "cancelled" ? submitted.state : "missing"
  return outcomes.map((outcome, index) => outcome ?? lineError(index, unanswered))
}
