import { describe, expect, it } from "@effect/vitest"
import { LlmError } from "effect-llm-router"
import * as Duration from "effect/Duration"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { parseDurationMillis } from "../src/internal/llmError/retryAfter.js"

const now = Date.UTC(2026, 10, 21, 12, 0, 0)

const map = (
  status: number | undefined,
  body: unknown,
  headers: Record<string, string> = {},
  secrets?: ReadonlyArray<Redacted.Redacted<string>>
) => LlmError.fromHttpFailure({ provider: "openai", model: "gpt-4o", status, headers, body, nowMillis: now, secrets })

const openAiError = (code: string | null, type: string, message: string) =>
  JSON.stringify({ error: { message, type, param: null, code } })

const millisOf = (duration: Duration.Duration | undefined) =>
  duration === undefined ? undefined : Duration.toMillis(duration)

describe("LlmError.fromHttpFailure", () => {
  it("maps 429 to RateLimitError with retry-after-ms first", () => {
    const error = map(429, openAiError("rate_limit_exceeded", "requests", "Rate limit reached"), {
      "retry-after-ms": "1500",
      "retry-after": "7",
      "x-request-id": "req_1"
    })
    expect(error._tag).toBe("RateLimitError")
    if (error._tag !== "RateLimitError") return
    expect(millisOf(error.retryAfter)).toBe(1500)
    expect(error.status).toBe(429)
    expect(error.requestId).toBe("req_1")
    expect(error.detail).toBe("Rate limit reached")
    expect(error.message).toContain("openai (gpt-4o) [HTTP 429] rate-limited the request")
    expect(error.message).toContain("request id req_1")
  })

  it("reads retry-after as seconds and as an HTTP date", () => {
    const seconds = map(429, "", { "retry-after": "20" })
    expect(seconds._tag === "RateLimitError" && millisOf(seconds.retryAfter)).toBe(20_000)
    const date = map(429, "", { "retry-after": new Date(now + 90_000).toUTCString() })
    expect(date._tag === "RateLimitError" && millisOf(date.retryAfter)).toBe(90_000)
    const past = map(429, "", { "retry-after": new Date(now - 5_000).toUTCString() })
    expect(past._tag === "RateLimitError" && millisOf(past.retryAfter)).toBe(0)
  })

  it("reads x-ratelimit-reset-* durations, preferring the exhausted limit", () => {
    const error = map(429, "", {
      "x-ratelimit-remaining-requests": "12",
      "x-ratelimit-reset-requests": "1.5s",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "6m0s"
    })
    expect(error._tag === "RateLimitError" && millisOf(error.retryAfter)).toBe(360_000)
    const unknown = map(429, "", { "x-ratelimit-reset-requests": "2m59.56s", "x-ratelimit-reset-tokens": "7.66s" })
    expect(unknown._tag === "RateLimitError" && millisOf(unknown.retryAfter)).toBe(7_660)
  })

  it("reads Anthropic's reset timestamps", () => {
    const error = map(429, "", {
      "anthropic-ratelimit-tokens-remaining": "0",
      "anthropic-ratelimit-tokens-reset": new Date(now + 30_000).toISOString()
    })
    expect(error._tag === "RateLimitError" && millisOf(error.retryAfter)).toBe(30_000)
  })

  it("reads Gemini's RetryInfo from the body", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message: "Resource has been exhausted",
        status: "RESOURCE_EXHAUSTED",
        details: [
          { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId: "PerMinute" }] },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "37s" }
        ]
      }
    })
    const error = map(429, body)
    expect(error._tag).toBe("RateLimitError")
    expect(error._tag === "RateLimitError" && millisOf(error.retryAfter)).toBe(37_000)
  })

  it("maps a Gemini per-day quota to AuthError quota_exhausted", () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        status: "RESOURCE_EXHAUSTED",
        message: "Quota exceeded",
        details: [{
          "@type": "type.googleapis.com/google.rpc.QuotaFailure",
          violations: [{ quotaId: "GenerateRequestsPerDayPerProjectPerModel" }]
        }]
      }
    })
    const error = map(429, body)
    expect(error._tag === "AuthError" && error.reason).toBe("quota_exhausted")
  })

  it("maps insufficient_quota and 402 to AuthError, not RateLimitError", () => {
    const quota = map(429, openAiError("insufficient_quota", "insufficient_quota", "You exceeded your current quota"))
    expect(quota._tag === "AuthError" && quota.reason).toBe("quota_exhausted")
    const payment = map(402, JSON.stringify({ error: { code: 402, message: "Insufficient credits" } }))
    expect(payment._tag === "AuthError" && payment.reason).toBe("payment_required")
    expect(payment.message).toContain("no credit")
  })

  it("maps 401, 403 and Gemini's invalid key 400 to AuthError", () => {
    const invalid = map(401, openAiError("invalid_api_key", "invalid_request_error", "Incorrect API key provided"))
    expect(invalid._tag === "AuthError" && invalid.reason).toBe("invalid_key")
    const forbidden = map(
      403,
      openAiError("unsupported_country_region_territory", "request_forbidden", "Country not supported")
    )
    expect(forbidden._tag === "AuthError" && forbidden.reason).toBe("forbidden")
    const gemini = map(
      400,
      JSON.stringify({
        error: {
          code: 400,
          message: "API key not valid. Please pass a valid API key.",
          status: "INVALID_ARGUMENT",
          details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }]
        }
      })
    )
    expect(gemini._tag === "AuthError" && gemini.reason).toBe("invalid_key")
    // An expired key keeps the reason but not the words.
    const expired = map(
      400,
      JSON.stringify({
        error: {
          code: 400,
          message: "API key expired. Please renew the API key.",
          status: "INVALID_ARGUMENT",
          details: [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "API_KEY_INVALID",
            domain: "googleapis.com"
          }]
        }
      })
    )
    expect(expired._tag === "AuthError" && expired.reason).toBe("invalid_key")
  })

  it("maps a moderation 403 to ContentFilterError", () => {
    const error = map(403, JSON.stringify({ error: { code: 403, message: "Input was flagged by moderation" } }))
    expect(error._tag).toBe("ContentFilterError")
  })

  it.each([
    [
      "OpenAI",
      400,
      openAiError(
        "context_length_exceeded",
        "invalid_request_error",
        "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."
      ),
      128000
    ],
    [
      "DeepSeek",
      400,
      openAiError(
        "invalid_request_error",
        "invalid_request_error",
        "This model's maximum context length is 65536 tokens. However, you requested 70000 tokens"
      ),
      65536
    ],
    [
      "Anthropic",
      400,
      JSON.stringify({
        type: "error",
        error: { type: "invalid_request_error", message: "prompt is too long: 210000 tokens > 200000 maximum" }
      }),
      200000
    ],
    [
      "Gemini",
      400,
      JSON.stringify({
        error: {
          code: 400,
          status: "INVALID_ARGUMENT",
          message: "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
        }
      }),
      1048576
    ],
    [
      "Groq",
      400,
      openAiError(null, "invalid_request_error", "Please reduce the length of the messages or completion."),
      undefined
    ],
    ["Anthropic 413", 413, "<html><body>request_too_large</body></html>", undefined],
    [
      "Anthropic 413, an edge page",
      413,
      "<html><head><title>413 Request Entity Too Large</title></head><body>cloudflare</body></html>",
      undefined
    ],
    ["a 413 with no body", 413, "", undefined],
    ["Ollama", 400, JSON.stringify({ error: "the input length exceeds the context length" }), undefined],
    [
      "llama.cpp",
      400,
      JSON.stringify({ error: { message: "the request exceeds the available context size" } }),
      undefined
    ]
  ])("maps %s context overflow to ContextLengthError", (_name, status, body, window) => {
    const error = map(status, body)
    expect(error._tag).toBe("ContextLengthError")
    expect(error._tag === "ContextLengthError" && error.contextWindow).toBe(window)
  })

  it("maps model_not_found and model 404s to ModelNotFoundError", () => {
    expect(map(404, openAiError("model_not_found", "invalid_request_error", "The model `x` does not exist"))._tag)
      .toBe("ModelNotFoundError")
    expect(map(404, JSON.stringify({ error: "model 'llama9' not found" }))._tag).toBe("ModelNotFoundError")
    const path = map(404, "<html>Not Found</html>")
    expect(path._tag).toBe("InvalidRequestError")
    expect(path.status).toBe(404)
  })

  it("maps other 400 and 422 to InvalidRequestError with param and code", () => {
    const error = map(
      400,
      openAiError("unsupported_parameter", "invalid_request_error", "Unsupported parameter: 'max_tokens'")
    )
    expect(error._tag).toBe("InvalidRequestError")
    if (error._tag !== "InvalidRequestError") return
    expect(error.code).toBe("unsupported_parameter")
    const withParam = map(
      422,
      JSON.stringify({ error: { message: "bad", param: "temperature", code: "invalid_value" } })
    )
    expect(withParam._tag === "InvalidRequestError" && withParam.param).toBe("temperature")
  })

  it.each([500, 502, 503, 504, 529, 409, 498])("maps %i to ProviderUnavailableError", (status) => {
    const error = map(status, "", { "retry-after": "3" })
    expect(error._tag).toBe("ProviderUnavailableError")
    expect(error._tag === "ProviderUnavailableError" && millisOf(error.retryAfter)).toBe(3000)
  })

  it("maps Anthropic's 529 overloaded_error to ProviderUnavailableError", () => {
    const error = map(
      529,
      JSON.stringify({ type: "error", error: { type: "overloaded_error", message: "Overloaded" }, request_id: "req_a" })
    )
    expect(error._tag).toBe("ProviderUnavailableError")
    expect(error.requestId).toBe("req_a")
  })

  it("maps 408 to TimeoutError", () => {
    expect(map(408, "")._tag).toBe("TimeoutError")
  })

  it("maps non-JSON bodies by status and keeps a short excerpt", () => {
    const html = `<html><head><title>502 Bad Gateway</title><style>body{}</style></head><body>${
      "x".repeat(1000)
    }</body></html>`
    const error = map(502, html)
    expect(error._tag).toBe("ProviderUnavailableError")
    expect(error.detail?.startsWith("502 Bad Gateway")).toBe(true)
    expect(error.detail!.length).toBeLessThanOrEqual(301)
    expect(error.detail).not.toContain("<")
    const empty = map(400, "")
    expect(empty._tag).toBe("InvalidRequestError")
    expect(empty.detail).toBeUndefined()
  })

  it("maps errors inside a 200 stream (no status) by their body", () => {
    expect(map(undefined, { error: { message: "The server had an error", type: "server_error" } })._tag)
      .toBe("ProviderUnavailableError")
    const vllm = map(undefined, { object: "error", message: "boom", type: "InternalServerError", code: 500 })
    expect(vllm._tag).toBe("ProviderUnavailableError")
    expect(vllm.status).toBe(500)
    expect(map(undefined, { error: { message: "Rate limit", type: "rate_limit_exceeded" } })._tag).toBe(
      "RateLimitError"
    )
    expect(map(undefined, { error: { code: "context_length_exceeded", message: "too long" } })._tag).toBe(
      "ContextLengthError"
    )
    expect(map(undefined, { error: { message: "something odd" } })._tag).toBe("ProviderUnavailableError")
  })

  it("never keeps a key in the error, even when the provider echoes it", () => {
    const key = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    const error = map(
      401,
      openAiError("invalid_api_key", "invalid_request_error", `Incorrect API key provided: ${key}.`),
      {},
      [
        Redacted.make(key)
      ]
    )
    expect(error.message).not.toContain(key)
    expect(JSON.stringify(error)).not.toContain(key)
    expect(error.detail).toContain("sk-…3456")
  })

  it("masks a key in every field (param, code), and a key cut short where the detail is shortened", () => {
    const key = "sk-proj-abcdefghijklmnopqrstuvwxyz123456"
    const body = JSON.stringify({
      error: { message: `${"x".repeat(290)} ${key}`, type: "invalid_request_error", param: key, code: key }
    })
    const error = map(400, body, {}, [Redacted.make(key)]) as LlmError.InvalidRequestError
    expect(error._tag).toBe("InvalidRequestError")
    expect(error.param).toBe(LlmError.maskKey(key))
    expect(error.code).toBe(LlmError.maskKey(key))
    // The 300-character detail ends inside the key: what is left of it is masked too.
    expect(error.detail).toMatch(new RegExp(`${LlmError.maskKey(key)}…$`))
    expect(JSON.stringify(error)).not.toContain(key.slice(0, 8))
  })
})

describe("LlmError helpers", () => {
  it("masks keys: the ends and a fingerprint", () => {
    expect(LlmError.maskKey("sk-proj-1234567890abcdef")).toBe("sk-…cdef#a165")
    expect(LlmError.maskKey("short")).toBe("…rt#f9b0")
  })

  it("gives keys that end alike different ids, showing no more of either key than its ends", () => {
    const a = "sk-proj-aaaaaaaaaaaaaaaa0001"
    const b = "sk-proj-bbbbbbbbbbbbbbbb0001"
    expect(LlmError.maskKey(a)).not.toBe(LlmError.maskKey(b))
    for (const key of [a, b]) {
      const [ends, fingerprint] = LlmError.maskKey(key).split("#")
      expect(ends).toBe("sk-…0001")
      expect(fingerprint).toMatch(/^[0-9a-f]{4}$/)
    }
  })

  it("classifies retryable errors", () => {
    expect(LlmError.isRetryable(new LlmError.TransportError({ provider: "p", model: "m" }))).toBe(true)
    expect(LlmError.isRetryable(new LlmError.InvalidRequestError({ provider: "p", model: "m" }))).toBe(false)
    expect(LlmError.isRetryable(new LlmError.StreamTruncatedError({ provider: "p", model: "m" }))).toBe(false)
  })
})

describe("TransportError", () => {
  it("says whether the provider could not be reached or the connection broke after the response started", () => {
    const unreached = new LlmError.TransportError({ provider: "openai", model: "gpt-4o", detail: "ECONNREFUSED" })
    expect(unreached.message).toBe(
      "openai (gpt-4o) could not be reached: ECONNREFUSED. Check the base URL and the network, then retry."
    )
    const broken = new LlmError.TransportError({
      provider: "openai",
      model: "gpt-4o",
      detail: "terminated",
      responseStarted: true
    })
    expect(broken.message).toBe(
      "openai (gpt-4o) broke the connection after the response had started: terminated. " +
        "The partial reply is not reliable; retry, or fall back to another provider."
    )
    const codec = Schema.toCodecJson(LlmError.TransportError)
    const decoded = Schema.decodeUnknownSync(codec)(Schema.encodeSync(codec)(broken))
    expect(decoded.responseStarted).toBe(true)
    expect(decoded.message).toBe(broken.message)
  })
})

describe("Go durations", () => {
  it.each([
    ["6m0s", 360_000],
    ["1.5s", 1_500],
    ["12ms", 12],
    ["2m59.56s", 179_560],
    ["1h2m", 3_720_000],
    ["20", 20_000],
    ["0.5", 500]
  ])("parses %s", (text, millis) => {
    expect(parseDurationMillis(text)).toBeCloseTo(millis, 6)
  })

  it.each(["", "soon", "5x", "1.5s junk", "-3s"])("rejects %s", (text) => {
    expect(parseDurationMillis(text)).toBeUndefined()
  })

  it("parses any composition of hours, minutes, seconds and milliseconds", () => {
    fc.assert(
      fc.property(
        fc.nat(99),
        fc.nat(59),
        fc.nat(59),
        fc.nat(999),
        (h, m, s, ms) => parseDurationMillis(`${h}h${m}m${s}s${ms}ms`) === ((h * 60 + m) * 60 + s) * 1000 + ms
      )
    )
  })
})
