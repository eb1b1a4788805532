/**
 * The one error every constructor and layer of the library fails with when an option is out of range (a `RateLimiter`
 * capacity of 0, a preset with no base URL), naming the module, the option's path and the value, so the fix is in the
 * message. It is a build-time failure of `make`, `layer` and `layerConfig`, not one of the `LlmError`s of a call.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { RateLimiter } from "effect-llm-router"
 *
 * const built = Layer.build(RateLimiter.layer({ capacity: 0, refillRate: 1 })).pipe(
 *   Effect.scoped,
 *   Effect.provide(RateLimiter.layerStoreMemory),
 *   Effect.catchTag("OptionsError", (error) => Effect.succeed(error.message))
 * )
 * // "RateLimiter: capacity must be a positive finite number, got 0"
 * ```
 *
 * @since 0.2.0
 */
import * as Schema from "effect/Schema"

/**
 * An option out of range. `value` is the offending value as text, never a key: a `Redacted` value, or any option
 * named `key` or `apiKey` (`keys[0]`...), reads `<redacted>`.

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Budget } from "effect-llm-router"
 *
 * const budget = Budget.make({ limits: [{ scope: Budget.overall, limit: -1, period: "month" }] }).pipe(
 *   Effect.catchTag("OptionsError", (error) =>
 *     // error.module "Budget", error.option "limits[0].limit", error.value "-1"
 *     Effect.die(`fix ${error.option} in the budget settings: ${error.message}`))
 * )
 * ```
 *
 * @since 0.2.0
 * @category Errors
 */
export class OptionsError extends Schema.TaggedError<OptionsError>()("OptionsError", {
  /** The module whose options these are, for example `Router`. */
  module: Schema.String,
  /** The option's path in the options, for example `deployments[1].weight`. */
  option: Schema.String,
  /** The value it got, rendered as text (`-1`, `"abc"`, `<redacted>`). */
  value: Schema.String,
  /** What the option must be, for example `a positive number`. */
  expected: Schema.String,
  /**
   * The other options out of range found with this one (a gateway's configuration is checked whole, at start and at
   * each reload), each named as this one is; absent when it is the only one.
   *
   * @since 0.3.0
   */
  others: Schema.optional(Schema.Array(Schema.Struct({
    module: Schema.String,
    option: Schema.String,
    value: Schema.String,
    expected: Schema.String
  })))
}) {
  override get message(): string {
    return [this, ...(this.others ?? [])].map((problem) =>
      `${problem.module}: ${problem.option} must be ${problem.expected}, got ${problem.value}`
    ).join("; ")
  }
}
