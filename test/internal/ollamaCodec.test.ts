import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import type { Input as ChatRequest } from "../../src/ChatRequest.js"
import { errorInfo } from "../../src/internal/llmError/errorInfo.js"
import { Problem, Refused } from "../../src/internal/schemaCheck.js"
import { FramedEvents } from "../../src/internal/wire/eventSink.js"
import {
  checkChatBody,
  errorJson,
  finishReason,
  fragment,
  isErrorPayload,
  type Metrics,
  objectHead,
  reply,
  requestBody,
  responseJson,
  streamWriter,
  toRequest,
  usage
} from "../../src/internal/wire/ollama/codec.js"
import { ndjson } from "../../src/internal/wire/ollama/ndjson.js"
import type { Message, ToolDefinition } from "../../src/Message.js"

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

describe("internal/wire/ollama/codec: the reply both ways", () => {
  it("a whole reply written by the simulator reads back as itself", () => {
    fc.assert(fc.property(
      name,
      created,
      fc.string({ maxLength: 12 }),
      fc.string({ maxLength: 12 }),
      fc.array(toolCall, { maxLength: 3 }),
      metrics,
      (model, at, text, reasoning, toolCalls, m) => {
        const body = JSON.parse(responseJson({ text, reasoning, toolCalls }, objectHead(model, at), m))
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
        const out = new FramedEvents(ndjson)
        const writer = streamWriter(objectHead(model, at), () => m, out)
        const calls = toolCalls.map((call, index): ChatChunk => ({ _tag: "ToolCallDelta", index, ...call }))
        // Each write's lines, as one text.
        const write = (chunks: ReadonlyArray<ChatChunk>): string => {
          writer.write(chunks)
          return out.events().join("")
        }
        const written = [
          ...reasoning.map((text) => write([{ _tag: "ReasoningDelta", text }])),
          ...content.map((text) => write([{ _tag: "TextDelta", text }])),
          ...(calls.length > 0 ? [write(calls)] : []),
          write([{
            _tag: "Finish",
            finishReason: "stop",
            id: "r",
            model,
            provider: "ollama",
            latency: Duration.zero
          }])
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

describe("internal/wire/ollama/codec: the request both ways", () => {
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
    // The body itself, not a copy.
    expect(Result.getOrThrow(checkChatBody(body))).toBe(body)
  })

  it("a body that does not fit is refused at the field that is wrong", () => {
    const refused = Result.getOrThrow(
      Result.flip(checkChatBody({ model: "llama3", messages: [{ role: "user", content: "hi", images: [1] }] }))
    )
    expect(refused).toBeInstanceOf(Refused)
    expect(refused.refusals[0].path).toEqual(["messages", 0, "images", 0])
  })
})

// Images as Ollama carries them: base64 whose first bytes name the type (a PNG's, a JPEG's), as a `data:` URL.
const image = fc.tuple(
  fc.constantFrom(["image/png", "iVBORw0KGgo"], ["image/jpeg", "/9j/"]),
  fc.base64String({ minLength: 4, maxLength: 16 })
).map(([[type, magic], rest]) => ({ type: "image" as const, url: `data:${type};base64,${magic}${rest}` }))

// A user turn as Ollama carries it: its text, then its images (the text first, and none when it is empty).
const userMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.string({ maxLength: 12 }).map((content) => ({ role: "user" as const, content })),
  fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.array(image, { minLength: 1, maxLength: 2 })).map((
    [text, images]
  ) => ({ role: "user" as const, content: [{ type: "text" as const, text }, ...images] }))
)

const assistantMessage: fc.Arbitrary<Message> = fc.record({
  content: fc.string({ maxLength: 12 }),
  reasoning: fc.option(fc.string({ minLength: 1, maxLength: 12 }), { nil: undefined }),
  toolCalls: fc.option(fc.array(toolCall, { minLength: 1, maxLength: 2 }), { nil: undefined })
}).map(({ content, reasoning, toolCalls }) => ({
  role: "assistant" as const,
  content,
  ...(reasoning !== undefined ? { reasoning } : {}),
  ...(toolCalls !== undefined ? { toolCalls } : {})
}))

const toolMessage: fc.Arbitrary<Message> = fc.record({ toolCallId: name, name, content: fc.string({ maxLength: 12 }) })
  .map((fields) => ({ role: "tool" as const, ...fields }))

const toolDefinition: fc.Arbitrary<ToolDefinition> = fc.record({
  name,
  description: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  properties: fc.dictionary(name, fc.constantFrom({ type: "string" }, { type: "number" }), { maxKeys: 3 })
}).map(({ description, name, properties }) => ({
  name,
  ...(description !== undefined ? { description } : {}),
  parameters: { type: "object", properties }
}))

// What Ollama can carry of a request: its efforts are Ollama's levels (`minimal` and `xhigh` are written as the
// nearest), and it has no tool choice.
const request: fc.Arbitrary<ChatRequest> = fc.record({
  messages: fc.array(
    fc.oneof(
      fc.string({ maxLength: 12 }).map((content) => ({ role: "system" as const, content })),
      userMessage,
      assistantMessage,
      toolMessage
    ),
    { minLength: 1, maxLength: 5 }
  ),
  tools: fc.option(fc.array(toolDefinition, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  responseFormat: fc.option(
    fc.oneof(
      fc.constant({ type: "json_object" as const }),
      fc.constant({ type: "json_schema" as const, name: "response", schema: { type: "object" } })
    ),
    { nil: undefined }
  ),
  reasoningEffort: fc.option(
    fc.constantFrom("none" as const, "low" as const, "medium" as const, "high" as const, "max" as const),
    { nil: undefined }
  ),
  maxTokens: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
  temperature: fc.option(fc.double({ min: 0, max: 2, noNaN: true }), { nil: undefined }),
  topP: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  stop: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 2 }), {
    nil: undefined
  }),
  seed: fc.option(fc.nat(), { nil: undefined })
}, { requiredKeys: ["messages"] })

describe("internal/wire/ollama/codec: the request read back", () => {
  it("a request the client writes reads back as itself, through JSON and the schema", () => {
    fc.assert(fc.property(request, name, (original, model) => {
      const written: unknown = JSON.parse(
        JSON.stringify(requestBody(original, { model, stream: false, keepAlive: undefined, numCtx: undefined }))
      )
      const checked = checkChatBody(written)
      if (Result.isFailure(checked)) throw new Error(`refused: ${checked.failure.refusals[0].message}`)
      expect(Result.getOrThrow(toRequest(checked.success))).toEqual({ model, ...original })
    }))
  })

  it("a think value that is no level is refused at think", () => {
    fc.assert(fc.property(
      fc.string({ minLength: 1, maxLength: 8 }).filter((think) => !["low", "medium", "high", "max"].includes(think)),
      (think) => {
        const checked = checkChatBody({ model: "m", messages: [{ role: "user", content: "hi" }], think })
        const refused = Result.getOrThrow(Result.flip(toRequest(Result.getOrThrow(checked))))
        expect(refused).toBeInstanceOf(Problem)
        expect(refused.param).toBe("think")
      }
    ))
  })
})

describe("internal/wire/ollama/codec: the error body", () => {
  it("an error the simulator writes is an error payload whose message the client reads back", () => {
    fc.assert(fc.property(fc.string({ maxLength: 40 }).filter((m) => m.trim() !== ""), (message) => {
      const body = errorJson(message)
      expect(isErrorPayload(JSON.parse(body))).toBe(true)
      expect(errorInfo(body).message).toBe(message)
    }))
  })
})
