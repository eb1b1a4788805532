/**
 * Each `LlmError` as the `AiError` reason an `effect/ai` user catches: the
 * reason's tag and fields, our message as its text, and what the reason has
 * no field for kept in its metadata under `"effect-llm-router"`.
 */
import { describe, expect, it } from "@effect/vitest"
import { AiError } from "effect/ai"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import { reasonOf, toAiError } from "../../src/internal/llm/ai/aiError.js"
import * as LlmError from "../../src/LlmError.js"

const where = { provider: "openai", model: "gpt-4o-mini", status: 400, requestId: "req_1" }
const now = 1_000_000

const metadataOf = (reason: AiError.AiErrorReason) =>
  "metadata" in reason ? reason.metadata["effect-llm-router"] : undefined

describe("LlmError as AiError", () => {
  it("RateLimitError keeps its retryAfter", () => {
    const reason = reasonOf(
      new LlmError.RateLimitError({ ...where, status: 429, retryAfter: Duration.seconds(7) }),
      now
    )
    expect(reason).toBeInstanceOf(AiError.RateLimitError)
    expect(reason).toMatchObject({ _tag: "RateLimitError", retryAfter: Duration.seconds(7) })
    expect(metadataOf(reason)).toEqual({
      error: "RateLimitError",
      provider: "openai",
      model: "gpt-4o-mini",
      status: 429,
      requestId: "req_1"
    })
    expect(reason.isRetryable).toBe(true)
  })

  it("RateLimitError without a retryAfter has none", () => {
    const reason = reasonOf(new LlmError.RateLimitError({ provider: "openai", model: "m" }), now)
    expect(reason).toBeInstanceOf(AiError.RateLimitError)
    expect((reason as AiError.RateLimitError).retryAfter).toBeUndefined()
  })

  it("NoCapacityError is a rate limit over when the first key frees", () => {
    const reason = reasonOf(
      new LlmError.NoCapacityError({ provider: "openai", model: "m", availableAt: now + 2500 }),
      now
    )
    expect(reason).toMatchObject({ _tag: "RateLimitError", retryAfter: Duration.millis(2500) })
    expect(metadataOf(reason)).toMatchObject({ error: "NoCapacityError" })
    const unknown = reasonOf(new LlmError.NoCapacityError({ provider: "openai", model: "m" }), now)
    expect(unknown).toBeInstanceOf(AiError.RateLimitError)
    expect((unknown as AiError.RateLimitError).retryAfter).toBeUndefined()
  })

  it("AuthError: a bad key or a refusal is AuthenticationError, an empty account QuotaExhaustedError", () => {
    const auth = (reason: "invalid_key" | "forbidden" | "quota_exhausted" | "payment_required") =>
      reasonOf(new LlmError.AuthError({ ...where, status: 401, reason }), now)
    expect(auth("invalid_key")).toMatchObject({ _tag: "AuthenticationError", kind: "InvalidKey" })
    expect(auth("forbidden")).toMatchObject({ _tag: "AuthenticationError", kind: "InsufficientPermissions" })
    expect(auth("quota_exhausted")).toBeInstanceOf(AiError.QuotaExhaustedError)
    expect(auth("payment_required")).toBeInstanceOf(AiError.QuotaExhaustedError)
    expect(metadataOf(auth("forbidden"))).toMatchObject({ error: "AuthError", reason: "forbidden" })
    expect((auth("invalid_key") as AiError.AuthenticationError).description).toContain("rejected the API key")
  })

  it("BudgetExceededError is QuotaExhaustedError, reset at the period's end", () => {
    const reason = reasonOf(
      new LlmError.BudgetExceededError({
        provider: "router",
        model: "m",
        scope: "overall",
        limit: 1,
        spent: 1,
        periodEnd: now + 60_000
      }),
      now
    )
    expect(reason).toBeInstanceOf(AiError.QuotaExhaustedError)
    expect((reason as AiError.QuotaExhaustedError).resetAt).toEqual(DateTime.makeUnsafe(now + 60_000))
  })

  it(
    "ModelNotFoundError, ContextLengthError and InvalidRequestError are InvalidRequestError on their " +
      "parameter",
    () => {
      expect(reasonOf(new LlmError.ModelNotFoundError({ ...where, status: 404 }), now)).toMatchObject({
        _tag: "InvalidRequestError",
        parameter: "model",
        description: expect.stringContaining("does not know the model")
      })
      const long = reasonOf(new LlmError.ContextLengthError({ ...where, contextWindow: 8192 }), now)
      expect(long).toMatchObject({
        _tag: "InvalidRequestError",
        parameter: "prompt",
        constraint: "must fit the model's context window"
      })
      expect(metadataOf(long)).toMatchObject({ error: "ContextLengthError", contextWindow: 8192 })
      const invalid = reasonOf(
        new LlmError.InvalidRequestError({ ...where, param: "messages[0].content", code: "bad" }),
        now
      )
      expect(invalid).toMatchObject({ _tag: "InvalidRequestError", parameter: "messages[0].content" })
      expect(metadataOf(invalid)).toMatchObject({ code: "bad" })
      expect(invalid.isRetryable).toBe(false)
    }
  )

  it("ContentFilterError is ContentPolicyError", () => {
    const reason = reasonOf(new LlmError.ContentFilterError({ ...where, detail: "flagged" }), now)
    expect(reason).toMatchObject({ _tag: "ContentPolicyError", description: expect.stringContaining("flagged") })
  })

  it("ProviderUnavailableError and TimeoutError are InternalProviderError, retryable", () => {
    const down = reasonOf(new LlmError.ProviderUnavailableError({ ...where, status: 503 }), now)
    expect(down).toMatchObject({ _tag: "InternalProviderError" })
    expect(down.isRetryable).toBe(true)
    const slow = reasonOf(
      new LlmError.TimeoutError({ provider: "openai", model: "m", timeout: Duration.seconds(3), phase: "headers" }),
      now
    )
    expect(slow).toMatchObject({
      _tag: "InternalProviderError",
      description: expect.stringContaining("sent no response headers within 3 s")
    })
    expect(metadataOf(slow)).toMatchObject({ error: "TimeoutError", phase: "headers" })
  })

  it("TransportError is a NetworkError naming the provider", () => {
    const reason = reasonOf(
      new LlmError.TransportError({ provider: "openai", model: "m", detail: "ECONNREFUSED" }),
      now
    )
    expect(reason).toMatchObject({ _tag: "NetworkError", reason: "TransportError", url: "openai" })
    expect(reason.isRetryable).toBe(true)
    expect(reason.message).toContain("ECONNREFUSED")
  })

  it("StreamTruncatedError and OutputDecodeError are InvalidResponseError", () => {
    expect(reasonOf(new LlmError.StreamTruncatedError({ provider: "openai", model: "m" }), now)).toMatchObject({
      _tag: "InvalidResponseError"
    })
    expect(reasonOf(new LlmError.OutputDecodeError({ provider: "openai", model: "m", raw: "{" }), now)).toMatchObject({
      _tag: "InvalidResponseError"
    })
  })

  it("the AiError names Llm's method and forwards the reason's retryAfter", () => {
    const error = toAiError(
      new LlmError.RateLimitError({ provider: "openai", model: "m", retryAfter: Duration.seconds(2) }),
      "chatStream",
      now
    )
    expect(error).toMatchObject({ _tag: "AiError", module: "Llm", method: "chatStream" })
    expect(error.retryAfter).toEqual(Duration.seconds(2))
    expect(error.message).toContain("Llm.chatStream")
  })
})
