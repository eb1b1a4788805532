import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Result from "effect/Result"
import { ChatBody, toChatRequest } from "../../src/internal/wire/openAiChat/codec.js"

const ok = (body: unknown) => {
  const result = toChatRequest(body)
  if (Result.isFailure(result)) throw new Error(`expected a request, got: ${result.failure}`)
  return result.success
}

const problem = (body: unknown) => {
  const result = toChatRequest(body)
  if (Result.isSuccess(result)) throw new Error(`expected a problem, got: ${JSON.stringify(result.success)}`)
  return result.failure
}

describe("internal/openAiRequest", () => {
  it("turns every field of a Chat Completions body into the request's, leaving unset and null ones out", () => {
    const schema = { type: "object", properties: { city: { type: "string" } } }
    expect(ok({
      model: "gpt-4o",
      messages: [
        { role: "developer", content: "Be brief." },
        {
          role: "user",
          content: [{ type: "text", text: "What is " }, {
            type: "image_url",
            image_url: { url: "https://x/a.png", detail: "low" }
          }]
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c1", type: "function", function: { name: "weather", arguments: "{}" } }]
        },
        { role: "tool", tool_call_id: "c1", name: "weather", content: [{ type: "text", text: "sunny" }] }
      ],
      temperature: 0.2,
      top_p: null,
      max_tokens: 50,
      max_completion_tokens: 40,
      stop: "END",
      tools: [{ type: "function", function: { name: "weather", parameters: schema, strict: true } }, {
        type: "function",
        function: { name: "now" }
      }],
      tool_choice: { type: "function", function: { name: "weather" } },
      response_format: { type: "json_schema", json_schema: { name: "answer", schema } },
      reasoning_effort: "low",
      seed: 7,
      user: "u-1",
      stream: true,
      n: 1
    })).toEqual({
      model: "gpt-4o",
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [{ type: "text", text: "What is " }, { type: "image", url: "https://x/a.png", detail: "low" }]
        },
        { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "weather", arguments: "{}" }] },
        { role: "tool", toolCallId: "c1", name: "weather", content: [{ type: "text", text: "sunny" }] }
      ],
      temperature: 0.2,
      // max_completion_tokens is the newer name and wins.
      maxTokens: 40,
      stop: ["END"],
      tools: [
        { name: "weather", parameters: schema, strict: true },
        { name: "now", parameters: { type: "object", properties: {} } }
      ],
      toolChoice: { tool: "weather" },
      responseFormat: { type: "json_schema", name: "answer", schema },
      reasoningEffort: "low",
      seed: 7,
      user: "u-1"
    })
    expect(
      ok({ messages: [{ role: "user", content: "hi" }], tool_choice: "none", response_format: { type: "json_object" } })
    ).toEqual({
      messages: [{ role: "user", content: "hi" }],
      toolChoice: "none",
      responseFormat: { type: "json_object" }
    })
  })

  it("names the wire field that is wrong", () => {
    expect(problem({})).toBe("messages: missing")
    expect(problem({ messages: "hi" })).toMatch(/^messages: expected array/)
    expect(problem({ messages: [{ role: "user", content: "a" }, { role: "robot", content: "b" }] })).toMatch(
      /^messages\[1\]\.role: expected "system"/
    )
    expect(problem({ messages: [{ role: "user", content: "a" }], temperature: "hot" })).toMatch(
      /^temperature: expected number/
    )
    expect(problem({ messages: [{ role: "tool", content: "sunny" }] })).toBe(
      "messages[0].tool_call_id: missing (a tool message answers a tool call by its id)"
    )
  })

  // The gateway's near misses (test/gateway/wire.test.ts) hold the refusals to the field that is wrong.
  it.prop("turns every body the schema makes into a request, with or without a model", [
    Arbitrary.schema(ChatBody)
  ], ([body]) => {
    const result = toChatRequest(body)
    // A tool message without its call's id, or with an image part, fits the schema; the mapping refuses it by its path.
    if (Result.isFailure(result)) {
      expect(result.failure).toMatch(
        /^messages\[\d+\]\.(tool_call_id: missing|content\[\d+\]\.type: a tool message takes text parts only)/
      )
    } else expect(result.success.messages).toHaveLength(body.messages.length)
  })
})
