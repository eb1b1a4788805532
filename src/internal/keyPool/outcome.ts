/**
 * What a call's outcome does to its key: the verdict `report` acts on, and what the pool tells its store of it
 * (`keyPool/stored.ts`), the jitter of a cooldown without `retryAfter` drawn.
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as KeyPool from "../../KeyPool.js"
import type { LlmError } from "../../LlmError.js"
import type * as Verdicts from "../store/verdict.js"

/** The cooldown of a key rate-limited without `retryAfter`, per pool (`KeyPool.Options.rateLimitCooldown`). */
export interface Cooldown {
  readonly initialMillis: number
  readonly maxMillis: number
  readonly jitter: boolean
  /** The longest any cooldown lasts, a provider's `retryAfter` included (`KeyPool.Options.maxCooldown`). */
  readonly capMillis: number
}

/** What `report` draws jitter from (Effect's `Random` service). */
export interface RandomSource {
  readonly nextDoubleUnsafe: () => number
}

/** What a cooldown is multiplied by: 80% to 120% with jitter, else 1. */
export const jitterFactor = (cooldown: Cooldown, random: RandomSource): number =>
  cooldown.jitter ? 0.8 + 0.4 * random.nextDoubleUnsafe() : 1

/**
 * How a call with a lease went, as the `Llm` service tells it: an outcome, or
 * the call's `Exit` (interruptions and defects are not held against the key).
 */
export type Settled = KeyPool.Outcome | Exit.Exit<unknown, LlmError>

/** The outcome an `Exit` tells the pool: none for an interruption or a defect, which say nothing about the key. */
export const outcomeOf = (exit: Exit.Exit<unknown, LlmError>): KeyPool.Outcome | undefined => {
  if (Exit.isSuccess(exit)) return "success"
  return Option.getOrUndefined(Cause.findErrorOption(exit.cause))
}

/** What `report` understands, normalized. */
export type Verdict =
  | { readonly _tag: "Success" }
  | { readonly _tag: "RateLimited"; readonly retryAfterMillis: number | undefined }
  | { readonly _tag: "Rejected"; readonly reason: string }
  | { readonly _tag: "Failed" }
  | { readonly _tag: "Ignored" }

const success: Verdict = { _tag: "Success" }

/** The verdict of an outcome: interruptions and defects are `Ignored`. */
export const verdictOf = (outcome: Settled): Verdict => {
  if (outcome === "success") return success
  if (Exit.isExit(outcome)) {
    if (Exit.isSuccess(outcome)) return success
    // Interruption and defects say nothing about the key.
    return Option.match(Cause.findErrorOption(outcome.cause), {
      onNone: () => ({ _tag: "Ignored" }),
      onSome: verdictOfError
    })
  }
  return verdictOfError(outcome)
}

const verdictOfError = (error: LlmError): Verdict => {
  switch (error._tag) {
    case "RateLimitError":
      return {
        _tag: "RateLimited",
        retryAfterMillis: error.retryAfter === undefined ? undefined : Duration.toMillis(error.retryAfter)
      }
    case "AuthError":
      // A cloud credential that gave no token (a managed identity timing out, say) says nothing of the key: the
      // next call asks the credential again.
      return error.reason === "credential_unavailable" ? { _tag: "Failed" } : { _tag: "Rejected", reason: error.reason }
    default:
      return { _tag: "Failed" }
  }
}

/** What a shared pool tells its store of a verdict (`store/leases.ts`); `undefined`: nothing. */
export const sharedVerdictOf = (
  verdict: Verdict,
  cooldown: Cooldown,
  random: RandomSource
): Verdicts.Verdict | undefined => {
  switch (verdict._tag) {
    case "Ignored":
    case "Failed":
      return undefined
    case "Success":
      return "success"
    case "Rejected":
      return { disabled: verdict.reason }
    case "RateLimited":
      return {
        askedMillis: verdict.retryAfterMillis,
        initialMillis: cooldown.initialMillis,
        maxMillis: cooldown.maxMillis,
        jitterFactor: jitterFactor(cooldown, random),
        capMillis: cooldown.capMillis
      }
  }
}
