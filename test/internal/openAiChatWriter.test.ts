import { describe, expect, it } from "@effect/vitest"
import * as Errors from "../../src/internal/gateway/errorAnswer.js"
import { streamEncoder } from "../../src/internal/wire/openAiChat/writer.js"
import { finish, restart, text } from "../utils/encoderChunks.js"

// The JSON events of an SSE text, `[DONE]` as the string.
const events = (text: string): Array<unknown> =>
  text.split("\n\n").filter((event) => event !== "").map((event) => {
    const data = event.replace(/^data: /, "")
    return data === "[DONE]" ? data : JSON.parse(data)
  })

describe("the gateway's stream encoder", () => {
  it("a restart before anything of the answer went out is invisible: one answer, one role chunk", () => {
    const encoder = streamEncoder("chatcmpl-1", "m", 1, true)
    const first = encoder.batch([{ _tag: "TextDelta", text: "" }, restart])
    expect(first.restarted).toBeUndefined()
    const rest = encoder.batch([
      { _tag: "TextDelta", text: "Hello" },
      {
        _tag: "Usage",
        usage: {
          promptTokens: 3,
          completionTokens: 1,
          totalTokens: 4,
          cachedPromptTokens: 0,
          reasoningTokens: 0,
          estimated: false
        }
      },
      finish()
    ])
    const all = events(text(first.bytes) + text(rest.bytes)) as Array<
      { choices: Array<{ delta?: Record<string, unknown> }>; usage?: unknown }
    >
    expect(all.filter((event) => typeof event === "object" && event.choices[0]?.delta?.["role"] === "assistant"))
      .toHaveLength(1)
    expect(
      all.map((event) => (typeof event === "object" ? event.choices[0]?.delta?.["content"] : undefined)).filter(Boolean)
    )
      .toEqual(["Hello"])
    expect(all[all.length - 2]).toMatchObject({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } })
    expect(all[all.length - 1]).toBe("[DONE]")
  })

  it("a restart after text went out ends the batch there, with no [DONE]", () => {
    const encoder = streamEncoder("chatcmpl-2", "m", 1, false)
    encoder.batch([{ _tag: "TextDelta", text: "Hel" }])
    const broken = encoder.batch([{ _tag: "TextDelta", text: "lo" }, restart, { _tag: "TextDelta", text: "other" }])
    expect(broken.restarted).toEqual(restart)
    expect(text(broken.bytes)).toContain(`"content":"lo"`)
    expect(text(broken.bytes)).not.toContain("other")
    expect(text(broken.bytes)).not.toContain("[DONE]")
    expect(text(encoder.error(Errors.answer(500, "x", "server_error", null, null)))).toBe(
      `data: {"error":{"message":"x","type":"server_error","param":null,"code":null}}\n\n`
    )
  })

  it("tool call pieces keep their index, the id and name on the first", () => {
    const encoder = streamEncoder("chatcmpl-3", "m", 1, false)
    const tools = encoder.batch([
      { _tag: "ToolCallDelta", index: 0, id: "call_1", name: "f", arguments: "" },
      { _tag: "ToolCallDelta", index: 0, arguments: "{\"a\":1}" }
    ])
    const [, opened, piece] = events(text(tools.bytes))
    expect(opened).toMatchObject({
      choices: [{
        delta: { tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "" } }] }
      }]
    })
    expect(piece).toMatchObject({
      choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: "{\"a\":1}" } }] } }]
    })
  })
})
