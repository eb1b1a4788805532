import { describe, expect, it } from "@effect/vitest"
import { fromLlmError } from "../../src/internal/gateway/errorAnswer.js"
import { wirePath } from "../../src/internal/wire/openAiChat/codec.js"
import { errors } from "../../src/internal/wire/openAiChat/writer.js"
import { NoCapacityError } from "../../src/LlmError.js"

describe("gateway errors", () => {
  it("no key free is a 429 with a wait; limits shared through a Redis that is away (fail-closed) are a 503", () => {
    const keys = fromLlmError(
      new NoCapacityError({ provider: "sim", model: "m", availableAt: 12_000 }),
      10_000,
      wirePath
    )
    expect(keys).toMatchObject({ status: 429, retryAfter: 2, code: "rate_limit_exceeded" })

    const store = new NoCapacityError({ provider: "sim", model: "m", storeUnavailable: true })
    expect(store.message).toContain("shared store (Redis)")
    expect(store.message).not.toContain("usable key")
    const answer = fromLlmError(store, 10_000, wirePath)
    expect(answer).toMatchObject({ status: 503, retryAfter: 1, code: "store_unavailable" })
    expect(JSON.parse(errors.body(answer))).toMatchObject({
      error: { type: "server_error", code: "store_unavailable" }
    })
  })
})
