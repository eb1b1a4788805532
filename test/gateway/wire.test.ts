import { describe, expect, it } from "@effect/vitest"
import * as Wire from "../../src/internal/gateway/wire.js"

describe("the gateway's wire request", () => {
  it("names a bad field by its wire path", () => {
    const refused = Wire.chat(JSON.stringify({ model: "m", messages: [{ role: "user", content: 42 }] }))
    expect(refused).toMatchObject({ _tag: "Problem", param: "messages[0].content" })
    expect(Wire.chat("[1")).toMatchObject({ _tag: "Problem", param: undefined })
    expect(Wire.chat(JSON.stringify({ messages: [] }))).toMatchObject({ _tag: "Problem", param: "model" })
    expect(Wire.chat(JSON.stringify({ model: "m", messages: [{ role: "tool", content: "x" }] })))
      .toMatchObject({ _tag: "Problem", param: "messages[0].tool_call_id" })
  })

  it("maps the wire request onto the engine's", () => {
    const decoded = Wire.chat(JSON.stringify({
      model: "m",
      messages: [
        { role: "developer", content: [{ type: "text", text: "Be brief." }] },
        { role: "user", content: [{ type: "text", text: "Look" }, { type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } }] },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "42" }
      ],
      max_tokens: 9,
      stop: "END",
      tool_choice: { type: "function", function: { name: "f" } },
      response_format: { type: "json_schema", json_schema: { name: "out", schema: { type: "object" } } },
      stream: true,
      stream_options: { include_usage: true },
      frequency_penalty: 0.5
    }))
    expect(decoded).toEqual({
      _tag: "Chat",
      model: "m",
      stream: true,
      includeUsage: true,
      request: {
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: [{ type: "text", text: "Look" }, { type: "image", url: "https://x/y.png", detail: "low" }] },
          { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] },
          { role: "tool", toolCallId: "c1", content: "42" }
        ],
        maxTokens: 9,
        stop: ["END"],
        toolChoice: { tool: "f" },
        responseFormat: { type: "json_schema", name: "out", schema: { type: "object" } }
      }
    })
  })

  it("renames the engine's paths to the wire's", () => {
    expect(Wire.wirePath("topP")).toBe("top_p")
    expect(Wire.wirePath("tools[2].name")).toBe("tools[2].function.name")
    expect(Wire.wirePath("messages[1].toolCalls[0].name")).toBe("messages[1].tool_calls[0].function.name")
    expect(Wire.wirePath("messages[3].toolCallId")).toBe("messages[3].tool_call_id")
    expect(Wire.wirePath("responseFormat.schema")).toBe("response_format.json_schema.schema")
    expect(Wire.wirePath("messages[0].content")).toBe("messages[0].content")
  })
})
