import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Dialects from "../../src/internal/gateway/dialects.js"
import type { ErrorAnswer } from "../../src/internal/gateway/errorAnswer.js"
import { errorType } from "../../src/internal/wire/anthropic/errors.js"
import * as AnthropicErrors from "../../src/internal/wire/anthropic/writer.js"
import * as GeminiErrors from "../../src/internal/wire/gemini/writer.js"
import { errorOf } from "../../src/internal/wire/openAiChat/codec.js"
import { errors as openAi } from "../../src/internal/wire/openAiChat/writer.js"

// Any neutral answer: every status a gateway answers with, any words, kind, field, code and wait.
const answer: fc.Arbitrary<ErrorAnswer> = fc.record({
  status: fc.integer({ min: 400, max: 599 }),
  message: fc.string(),
  type: fc.constantFrom("invalid_request_error", "rate_limit_error", "server_error", "authentication_error"),
  param: fc.option(fc.string(), { nil: null }),
  code: fc.option(fc.constantFrom("credential_unavailable", "store_unavailable", "model_not_found", "x"), {
    nil: null
  }),
  retryAfter: fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined })
})

describe("each dialect words the core's answer, and only words it", () => {
  it("OpenAI's body carries the answer's message, type, param and code at its own status", () => {
    fc.assert(fc.property(answer, (answer) => {
      expect(openAi.status(answer)).toBe(answer.status)
      expect(errorOf(openAi.body(answer))).toMatchObject({ message: answer.message, type: answer.type })
      expect(JSON.parse(openAi.body(answer))).toEqual({
        error: { message: answer.message, type: answer.type, param: answer.param, code: answer.code }
      })
    }))
  })

  it("Anthropic's is 529 overloaded for a 503 but a missing credential's, its type that of its status", () => {
    fc.assert(fc.property(answer, (answer) => {
      const status = AnthropicErrors.errors.status(answer)
      const overloaded = answer.status === 503 && answer.code !== "credential_unavailable"
      expect(status).toBe(overloaded ? 529 : answer.status)
      expect(JSON.parse(AnthropicErrors.errors.body(answer))).toEqual({
        type: "error",
        error: { type: errorType(status), message: answer.message }
      })
    }))
  })

  it("Google's carries the status as its code, at that status", () => {
    fc.assert(fc.property(answer, (answer) => {
      expect(GeminiErrors.errors.status(answer)).toBe(answer.status)
      expect(JSON.parse(GeminiErrors.errors.body(answer)).error).toMatchObject({
        code: answer.status,
        message: answer.message
      })
    }))
  })

  it("a refusal outside a route is worded by its path's dialect", () => {
    expect(Dialects.errorsOf("POST", "/v1/messages")).toBe(AnthropicErrors.errors)
    expect(Dialects.errorsOf("POST", "/v1/messages/count_tokens")).toBe(AnthropicErrors.errors)
    expect(Dialects.errorsOf("POST", "/v1beta/models/m:generateContent")).toBe(GeminiErrors.errors)
    expect(Dialects.errorsOf("POST", "/v1/models/m:generateContent")).toBe(GeminiErrors.errors)
    expect(Dialects.errorsOf("GET", "/v1/models/m")).toBe(openAi)
    expect(Dialects.errorsOf("POST", "/v1/chat/completions")).toBe(openAi)
    expect(Dialects.errorsOf("GET", "/admin/keys")).toBe(Dialects.own)
  })
})
