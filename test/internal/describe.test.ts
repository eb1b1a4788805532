import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as fc from "fast-check"
import { type Common, formatDollars, formatWait } from "../../src/internal/llmError/describe.js"
import * as LlmError from "../../src/LlmError.js"

/** One error of every class, built on the given common fields. */
const every = (common: Common): ReadonlyArray<LlmError.LlmError> => [
  new LlmError.RateLimitError({ ...common, retryAfter: Duration.millis(400) }),
  new LlmError.AuthError({ ...common, reason: "invalid_key" }),
  new LlmError.ModelNotFoundError(common),
  new LlmError.ContextLengthError(common),
  new LlmError.ContentFilterError(common),
  new LlmError.InvalidRequestError({ ...common, param: "messages" }),
  new LlmError.ProviderUnavailableError(common),
  new LlmError.TimeoutError({ ...common, timeout: Duration.seconds(30), phase: "idle" }),
  new LlmError.TransportError({ ...common, responseStarted: true }),
  new LlmError.StreamTruncatedError(common),
  new LlmError.OutputDecodeError({ ...common, raw: "{" }),
  new LlmError.NoCapacityError(common),
  new LlmError.BudgetExceededError({ ...common, scope: "overall", limit: 1, spent: 0.0000019499999999999995 })
]

describe("error messages", () => {
  it("a provider's detail that ends a sentence gets no second period (\"it.. Check\", \"capacity.. Fix\")", () => {
    const error = new LlmError.ModelNotFoundError({
      provider: "openai",
      model: "gpt-5",
      status: 404,
      detail: "The model `gpt-5` does not exist or you do not have access to it."
    })
    expect(error.message).toBe(
      "openai (gpt-5) [HTTP 404] does not know the model: The model `gpt-5` does not exist or you do not have access " +
        "to it. Check the model name, or fall back to another model."
    )
    const full = new LlmError.InvalidRequestError({ provider: "p", model: "m", detail: "Over capacity.  " })
    expect(full.message).toBe(
      "p (m) rejected the request: Over capacity. Fix the request; retrying it unchanged will fail again."
    )
  })

  it("no message of any class has a doubled period, whatever the detail ends with", () => {
    const ends = fc.constantFrom("", ".", "!", "?", "…", ". ", ".\n", " ")
    const detail = fc.tuple(fc.string(), ends).map(([text, end]) => text + end)
      .filter((text) => !text.includes(".."))
    fc.assert(
      fc.property(
        detail,
        fc.option(fc.stringMatching(/^[a-z0-9_]{1,12}$/), { nil: undefined }),
        fc.boolean(),
        (detail, requestId, routed) => {
          const common: Common = {
            provider: "p",
            model: "m",
            detail,
            ...(requestId !== undefined ? { requestId } : {}),
            ...(routed ? { attempts: [{ deployment: "a/m", error: "TimeoutError", message: "x." }] } : {})
          }
          for (const error of every(common)) {
            expect(error.message).not.toContain("..")
            expect(error.message).toContain(detail.trim())
          }
        }
      )
    )
  })

  it("a wait says \"now\" when it is over and tenths of a second under a minute, never \"in 0\"", () => {
    expect(formatWait(undefined)).toBe("")
    expect(formatWait(Duration.zero)).toBe(" now")
    expect(formatWait(Duration.millis(400))).toBe(" in 0.4 s")
    expect(formatWait(Duration.millis(30))).toBe(" in 0.1 s")
    expect(formatWait(Duration.millis(1500))).toBe(" in 1.5 s")
    expect(formatWait(Duration.seconds(61))).toBe(" in 1m 1s")
    expect(new LlmError.RateLimitError({ provider: "p", model: "m", retryAfter: Duration.zero }).message)
      .toBe("p (m) rate-limited the request. Retry now, or with another key.")
    fc.assert(
      fc.property(fc.double({ min: 0, max: 3_600_000, noNaN: true }), (millis) => {
        const text = formatWait(Duration.millis(millis))
        expect(text).not.toMatch(/ in 0(?![.\d])/)
        expect(text).not.toMatch(/ns|µs|e-/)
        expect(text).toMatch(/^( now| in \d+(\.\d)? s| in \d+h( \d+m)?( \d+s)?| in \d+m( \d+s)?)$/)
      })
    )
  })

  it("a dollar amount is rounded for display: no float noise, no exponent", () => {
    expect(formatDollars(0.0000019499999999999995)).toBe("$0.00000195")
    expect(formatDollars(0.6)).toBe("$0.6")
    expect(formatDollars(1)).toBe("$1")
    expect(formatDollars(1e-7)).toBe("$0.0000001")
    const budget = new LlmError.BudgetExceededError({
      provider: "p",
      model: "m",
      scope: "overall",
      limit: 0.3,
      spent: 0.1 + 0.2,
      estimate: 0.0000019499999999999995
    })
    expect(budget.message).toContain("(spent $0.3 of $0.3, this call about $0.00000195)")
    fc.assert(
      fc.property(fc.double({ min: 1e-9, max: 1e6, noNaN: true }), (amount) => {
        const text = formatDollars(amount)
        expect(text).toMatch(/^\$\d+(\.\d+)?$/)
        const significant = text.slice(1).replace(".", "").replace(/^0+/, "").replace(/0+$/, "")
        expect(significant.length).toBeLessThanOrEqual(6)
        expect(Math.abs(Number(text.slice(1)) - amount)).toBeLessThanOrEqual(amount * 5e-6)
      })
    )
  })
})
