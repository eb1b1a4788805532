import { describe, expect, it } from "@effect/vitest"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import { type Prefill, requestBody } from "../../src/internal/wire/openAiChat/codec.js"
import * as Message from "../../src/Message.js"

const body = (request: ChatRequest, prefill: Prefill) =>
  requestBody(request, {
    model: "m",
    stream: false,
    includeUsage: false,
    maxTokensField: "max_tokens",
    promptCacheKey: false,
    serviceTier: false,
    prefill
  })

const prefilled: ChatRequest = { messages: [Message.user("Hi"), Message.assistant("Once upon")] }

describe("internal/wire/openAiChat/codec: the prefill styles", () => {
  it("a last assistant message goes with vLLM's flags, or DeepSeek's prefix on it, or alone", () => {
    expect(body(prefilled, "continue_final_message")).toMatchObject({
      continue_final_message: true,
      add_generation_prompt: false,
      messages: [{ role: "user" }, { role: "assistant", content: "Once upon" }]
    })
    const prefix = body(prefilled, "prefix")
    expect(prefix["messages"]).toEqual([
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Once upon", prefix: true }
    ])
    expect(prefix).not.toHaveProperty("continue_final_message")
    for (const alone of [true, false] as const) {
      const plain = body(prefilled, alone)
      expect(plain["messages"]).toEqual([{ role: "user", content: "Hi" }, { role: "assistant", content: "Once upon" }])
      expect(plain).not.toHaveProperty("continue_final_message")
    }
  })

  it("no flag goes with a request that ends otherwise, or with an assistant's tool calls", () => {
    const calls: ChatRequest = {
      messages: [Message.user("Hi"), Message.assistant("", { toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] })]
    }
    for (const request of [{ messages: [Message.user("Hi")] }, calls]) {
      for (const style of ["continue_final_message", "prefix"] as const) {
        const sent = body(request, style)
        expect(sent).not.toHaveProperty("continue_final_message")
        expect(sent).not.toHaveProperty("add_generation_prompt")
        expect((sent["messages"] as ReadonlyArray<object>).every((message) => !("prefix" in message))).toBe(true)
      }
    }
  })

  it("providerOptions still win over the flags", () => {
    expect(body({ ...prefilled, providerOptions: { add_generation_prompt: true } }, "continue_final_message"))
      .toMatchObject({ continue_final_message: true, add_generation_prompt: true })
  })
})
