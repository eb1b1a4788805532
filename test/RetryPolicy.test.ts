import { describe, expect } from "@effect/vitest"
import { LlmError } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schedule from "effect/Schedule"
import * as fc from "fast-check"
import * as RetryPolicy from "../src/RetryPolicy.js"
import { effectProp } from "./utils/effectProp.js"

const failures = {
  rateLimit: new LlmError.RateLimitError({ provider: "p", model: "m" }),
  auth: new LlmError.AuthError({ provider: "p", model: "m", reason: "invalid_key" }),
  unavailable: new LlmError.ProviderUnavailableError({ provider: "p", model: "m", status: 503 }),
  invalid: new LlmError.InvalidRequestError({ provider: "p", model: "m" })
} as const

describe("RetryPolicy.make", () => {
  effectProp(
    "key rotations and retries spend budgets of their own; rotations wait nothing, retries back off from the base",
    fc.tuple(
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 4 }),
      fc.array(fc.constantFrom("rateLimit" as const, "auth" as const, "unavailable" as const, "invalid" as const), {
        minLength: 1,
        maxLength: 12
      })
    ),
    ([maxRetries, maxKeyRotations, sequence]) =>
      Effect.gen(function*() {
        const policy = RetryPolicy.make({ maxRetries, maxKeyRotations, jitter: false, baseDelay: "100 millis" })
        const step = yield* Schedule.toStep(policy)
        let rotations = 0
        let retries = 0
        for (const name of sequence) {
          const error = failures[name]
          const exit = yield* Effect.exit(step(0, error))
          const rotates = RetryPolicy.rotatesKey(error)
          if (rotates) rotations++
          else if (LlmError.isRetryable(error)) retries++
          const goesOn = rotates ? rotations <= maxKeyRotations : LlmError.isRetryable(error) && retries <= maxRetries
          expect(Exit.isSuccess(exit)).toBe(goesOn)
          if (!Exit.isSuccess(exit)) return
          const [, delay] = exit.value
          expect(Duration.toMillis(delay)).toBe(rotates ? 0 : 100 * 2 ** (retries - 1))
        }
      })
  )
})
