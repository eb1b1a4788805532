import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  checkChatBody,
  finishReason,
  fragment,
  type Metrics,
  objectHead,
  reply,
  replyJson,
  requestBody,
  streamLines,
  toolCallsJson,
  usage
} from "../../src/internal/codec/ollama.js"
import { Refused } from "../../src/internal/schemaCheck.js"

const name = fc.stringMatching(/^[a-zA-Z0-9_-]{1,12}$/)
const count = fc.nat({ max: 100_000 })

// Arguments are JSON object text; Ollama carries the object, so they come back as `JSON.stringify` writes it.
const toolCall = fc.record({
  id: name,
  name,
  arguments: fc.dictionary(name, fc.oneof(fc.string(), fc.integer()), { maxKeys: 3 }).map((args) =>
    JSON.stringify(args)
  )
})

const metrics: fc.Arbitrary<Metrics> = fc.record({
  doneReason: fc.constantFrom("stop" as const, "length" as const),
  totalDuration: count,
  loadDuration: count,
  promptEvalCount: count,
  promptEvalDuration: count,
  evalCount: count,
  evalDuration: count
})

const created = fc.integer({ min: 0, max: 4_000_000_000 })

// What the client reads of the counts and the reason: zero counts are left out and read as 0.
const expectedEnd = (m: Metrics, madeToolCalls: boolean) => ({
  finishReason: m.doneReason === "length" ? "length" : madeToolCalls ? "tool_calls" : "stop",
  usage: {
    promptTokens: m.promptEvalCount,
    completionTokens: m.evalCount,
    totalTokens: m.promptEvalCount + m.evalCount,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    estimated: false
  }
})

describe("internal/codec/ollama: the reply both ways", () => {
  it("a whole reply written by the simulator reads back as itself", () => {
    fc.assert(fc.property(
      name,
      created,
      fc.string({ maxLength: 12 }),
      fc.string({ maxLength: 12 }),
      fc.array(toolCall, { maxLength: 3 }),
      metrics,
      (model, at, text, reasoning, toolCalls, m) => {
        const body = JSON.parse(replyJson(objectHead(model, at), { text, reasoning, toolCalls }, m))
        expect(body.created_at).toBe(new Date(at * 1000).toISOString())
        expect(reply(body)).toEqual({ model, text, reasoning, toolCalls, ...expectedEnd(m, toolCalls.length > 0) })
      }
    ))
  })

  it("a stream's lines read back as its tokens, its calls whole, and the last line's counts", () => {
    fc.assert(fc.property(
      name,
      created,
      fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 4 }),
      fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 4 }),
      fc.array(toolCall, { maxLength: 3 }),
      metrics,
      (model, at, reasoning, content, toolCalls, m) => {
        const lines = streamLines(objectHead(model, at))
        const written = [
          ...reasoning.map((token) => lines.start + lines.thinking + JSON.stringify(token) + lines.textEnd),
          ...content.map((token) => lines.start + JSON.stringify(token) + lines.textEnd),
          ...(toolCalls.length > 0 ? [lines.start + lines.toolCalls + toolCallsJson(toolCalls) + lines.textEnd] : []),
          lines.last(m)
        ]
        const read = written.map((line) => {
          expect(line.endsWith("\n")).toBe(true)
          expect(line.indexOf("\n")).toBe(line.length - 1)
          return JSON.parse(line)
        })
        const fragments = read.map((line) => fragment(line, 0))
        expect(fragments.every((piece) => piece.model === model)).toBe(true)
        expect(fragments.map((piece) => piece.reasoning).join("")).toBe(reasoning.join(""))
        expect(fragments.map((piece) => piece.text).join("")).toBe(content.join(""))
        expect(fragments.flatMap((piece) => piece.toolCalls)).toEqual(toolCalls)
        expect(read.slice(0, -1).every((line) => line.done === false)).toBe(true)
        const last = read.at(-1)
        expect(last.done).toBe(true)
        expect({ finishReason: finishReason(last.done_reason, toolCalls.length > 0), usage: usage(last) }).toEqual(
          expectedEnd(m, toolCalls.length > 0)
        )
      }
    ))
  })
})

describe("internal/codec/ollama: the request both ways", () => {
  it("a body the client writes fits the schema the simulator reads it with", () => {
    const body = requestBody({
      messages: [
        { role: "system", content: "Be brief." },
        {
          role: "user",
          content: [{ type: "text", text: "What is this?" }, { type: "image", url: "data:image/png;base64,aGk=" }]
        },
        { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "look", arguments: "{\"at\":1}" }] },
        { role: "tool", toolCallId: "c1", content: "a cat" }
      ],
      tools: [{ name: "look", parameters: { type: "object", properties: { at: { type: "number" } } } }],
      responseFormat: { type: "json_schema", name: "answer", schema: { type: "object" } },
      reasoningEffort: "high",
      maxTokens: 64,
      temperature: 0.5
    }, { model: "llama3", stream: false, keepAlive: "5m", numCtx: 8192 })
    const checked = checkChatBody(body)
    expect(checked).not.toBeInstanceOf(Refused)
    expect(checked).toBe(body)
  })

  it("a body that does not fit is refused at the field that is wrong", () => {
    const refused = checkChatBody({ model: "llama3", messages: [{ role: "user", content: "hi", images: [1] }] })
    expect(refused).toBeInstanceOf(Refused)
    expect((refused as Refused).refusals[0].path).toEqual(["messages", 0, "images", 0])
  })
})
