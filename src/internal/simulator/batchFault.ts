/**
 * A simulated batch's faults, chosen per batch by `x-simulator-batch-fault` on the request that creates it (or the
 * options' `batchFault`): slow to finish, expired, lines failed, a result file with a line missing or repeated,
 * refused.
 */
import * as Result from "effect/Result"

export const batchFaultHeader = "x-simulator-batch-fault" as const

/** How long a batch takes without a `slow` fault. */
export const defaultBatchMs = 1_000

/** A batch's faults, parsed from `x-simulator-batch-fault`. */
export interface BatchFault {
  /** How long the batch takes to end. */
  readonly ms: number
  /** The batch expires at its end with half its lines run. */
  readonly expire: boolean
  /** The lines (by index) answered with an error. */
  readonly fail: ReadonlySet<number>
  /** The lines left out of the result file. */
  readonly missing: ReadonlySet<number>
  /** The lines written twice in the result file. */
  readonly repeat: ReadonlySet<number>
  /** The batch is refused: failed at once (OpenAI, Gemini, Bedrock), or its creation answered 400 (Anthropic). */
  readonly refuse: boolean
}

export const noFault: BatchFault = {
  ms: defaultBatchMs,
  expire: false,
  fail: new Set(),
  missing: new Set(),
  repeat: new Set(),
  refuse: false
}

/** Why a batch with the `refuse` fault was refused. */
export const refusal = `The batch was refused, as ${batchFaultHeader}: refuse asked.`

function indices(name: string, value: string): Result.Result<ReadonlySet<number>, string> {
  const parts = value.split("+")
  if (parts.some((part) => !/^\d+$/.test(part))) {
    return Result.fail(`"${name}" needs line indices joined by "+" (such as 0+3), got "${value}"`)
  }
  return Result.succeed(new Set(parts.map(Number)))
}

/**
 * Decodes an `x-simulator-batch-fault` value: items joined by `,`, each `slow=<ms>`, `expire`, `fail=<i>+<j>...`,
 * `missing=<i>...`, `repeat=<i>...` or `refuse`; or the reason it is invalid.
 */
export function decodeBatchFault(value: string): Result.Result<BatchFault, string> {
  let fault = noFault
  for (const item of value.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const [name, arg] = item.split("=", 2) as [string, string | undefined]
    if ((name === "expire" || name === "refuse") && arg === undefined) {
      fault = { ...fault, [name]: true }
      continue
    }
    if (name === "slow" && arg !== undefined && /^\d+$/.test(arg)) {
      fault = { ...fault, ms: Number(arg) }
      continue
    }
    if ((name === "fail" || name === "missing" || name === "repeat") && arg !== undefined) {
      const set = indices(name, arg)
      if (Result.isFailure(set)) return Result.fail(set.failure)
      fault = { ...fault, [name]: set.success }
      continue
    }
    return Result.fail(
      `unknown batch fault "${item}": expected slow=<ms>, expire, refuse, fail=<i>+<j>, missing=<i> or repeat=<i>`
    )
  }
  return Result.succeed(fault)
}
