import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import type { ChatChunk, Restart } from "../../src/ChatChunk.js"
import type { ChatResponse, Usage } from "../../src/ChatResponse.js"
import * as Errors from "../../src/internal/gateway/errorAnswer.js"
import { replyChunks } from "../../src/internal/simulator/chunks.js"
import { FramedText } from "../../src/internal/wire/eventSink.js"
import * as Codec from "../../src/internal/wire/gemini/codec.js"
import * as Render from "../../src/internal/wire/gemini/writer.js"
import { cutAt, fragments, replies, token } from "../utils/simulatorReplies.js"

const usage: Usage = {
  promptTokens: 12,
  completionTokens: 9,
  totalTokens: 21,
  cachedPromptTokens: 4,
  reasoningTokens: 3,
  estimated: false
}

// The events of an encoded batch: each `data:` payload, parsed.
const events = (bytes: Uint8Array) =>
  new TextDecoder().decode(bytes).split("\r\n\r\n").filter((event) => event !== "").map((event) => {
    expect(event.startsWith("data: ")).toBe(true)
    return JSON.parse(event.slice(6))
  })

describe("the gateway's Gemini replies", () => {
  it("a whole reply: thoughts, text, a signed function call with its arguments as an object, usage apart", () => {
    const response: ChatResponse = {
      id: "x",
      model: "gpt-4o-mini",
      provider: "openai",
      text: "Let me look.",
      reasoning: "The user wants weather.",
      toolCalls: [{
        id: "call_7",
        name: "get_weather",
        arguments: `{"city":"Paris"}`,
        providerMetadata: { gemini: { thoughtSignature: "sig" } }
      }],
      finishReason: "tool_calls",
      usage,
      latency: Duration.zero,
      keyId: "sk-…0001"
    }
    expect(JSON.parse(Codec.response(response, "req-1", "sim/gpt-4o-mini"))).toEqual({
      candidates: [{
        content: {
          role: "model",
          parts: [
            { text: "The user wants weather.", thought: true },
            { text: "Let me look." },
            { functionCall: { id: "call_7", name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "sig" }
          ]
        },
        finishReason: "STOP",
        index: 0
      }],
      usageMetadata: {
        promptTokenCount: 12,
        candidatesTokenCount: 6,
        totalTokenCount: 21,
        cachedContentTokenCount: 4,
        thoughtsTokenCount: 3
      },
      modelVersion: "sim/gpt-4o-mini",
      responseId: "req-1"
    })
  })

  it("a stream: text deltas as they come; calls whole, the finish reason and usage on the last event", () => {
    const encoder = Render.streamEncoder("req-2", "m")
    const first = events(encoder.batch([{ _tag: "TextDelta", text: "Hel" }, { _tag: "TextDelta", text: "lo" }]).bytes)
    expect(first).toHaveLength(1)
    expect(first[0].candidates[0]).toEqual({
      content: { role: "model", parts: [{ text: "Hel" }, { text: "lo" }] },
      index: 0
    })
    expect(first[0].usageMetadata).toBeUndefined()
    const pieces: ReadonlyArray<ChatChunk> = [
      { _tag: "ToolCallDelta", index: 0, id: "call_1", name: "get_weather", arguments: `{"ci` },
      { _tag: "ToolCallDelta", index: 0, arguments: `ty":"Oslo"}` }
    ]
    expect(encoder.batch(pieces).bytes).toHaveLength(0)
    const last = events(
      encoder.batch([{ _tag: "Usage", usage }, {
        _tag: "Finish",
        finishReason: "tool_calls",
        id: "x",
        model: "m",
        provider: "openai",
        latency: Duration.zero
      }]).bytes
    )
    expect(last).toHaveLength(1)
    expect(last[0].candidates[0].content.parts).toEqual([
      { functionCall: { id: "call_1", name: "get_weather", args: { city: "Oslo" } } }
    ])
    expect(last[0].candidates[0].finishReason).toBe("STOP")
    expect(last[0].usageMetadata.candidatesTokenCount).toBe(6)
    expect(new TextDecoder().decode(encoder.error(Errors.answer(500, "x", "server_error", null, null)))).toBe(
      `data: {"error":{"code":500,"message":"x","status":"INTERNAL"}}\r\n\r\n`
    )
  })

  it("a restart before anything went out is invisible; after text went out it ends the stream", () => {
    const quiet = Render.streamEncoder("req-3", "m")
    const restart: Restart = {
      _tag: "Restart",
      attempt: 2,
      deployment: "b",
      model: "mb",
      from: "a",
      error: "ProviderUnavailableError"
    }
    expect(quiet.batch([{ _tag: "ToolCallDelta", index: 0, id: "c", name: "f", arguments: "{}" }, restart]).restarted)
      .toBeUndefined()
    const spoken = Render.streamEncoder("req-4", "m")
    expect(spoken.batch([{ _tag: "TextDelta", text: "Hi" }, restart]).restarted).toBe(restart)
  })
})

/** The model turn a Gemini client keeps of a reply's parts without its thoughts (as Gemini CLI does), sent back. */
function sentBack(parts: ReadonlyArray<Record<string, unknown>>) {
  const calls = parts.filter((part) => part["functionCall"] !== undefined)
  const body = Schema.decodeUnknownSync(Codec.GenerateContentRequest)({
    contents: [
      { role: "user", parts: [{ text: "Go." }] },
      { role: "model", parts: parts.filter((part) => part["thought"] !== true) },
      {
        role: "user",
        parts: calls.map((part) => {
          const call = part["functionCall"] as { readonly id: string; readonly name: string }
          return { functionResponse: { id: call.id, name: call.name, response: { output: "ok" } } }
        })
      }
    ]
  })
  const request = Result.getOrThrow(Codec.toRequest(body))
  return request.messages.find((message) => message.role === "assistant")
}

describe("another API's reasoning through a Gemini client that keeps no thoughts", () => {
  const calls = fc.uniqueArray(fc.record({ id: fc.stringMatching(/^call_[a-z0-9]{1,6}$/), name: token }), {
    minLength: 1,
    maxLength: 3,
    selector: (call) => call.id
  })
  const finish: ChatChunk = {
    _tag: "Finish",
    finishReason: "tool_calls",
    id: "x",
    model: "deepseek-reasoner",
    provider: "deepseek",
    latency: Duration.zero
  }

  it("comes back with the calls of a whole reply and of a stream, at any chunking", () => {
    fc.assert(fc.property(fragments(), calls, (pieces, made) => {
      const reasoning = pieces.join("")
      const toolCalls = made.map((call) => ({ ...call, arguments: "{}" }))
      const whole = JSON.parse(Codec.response(
        { text: "", reasoning, toolCalls, finishReason: "tool_calls", usage },
        "req-5",
        "m"
      ))
      expect(sentBack(whole.candidates[0].content.parts)).toMatchObject({ reasoning, toolCalls })
      const encoder = Render.streamEncoder("req-6", "m")
      const streamed = events(
        encoder.batch([
          ...pieces.map((text): ChatChunk => ({ _tag: "ReasoningDelta", text })),
          ...toolCalls.map((call, index): ChatChunk => ({ _tag: "ToolCallDelta", index, ...call })),
          { _tag: "Usage", usage },
          finish
        ]).bytes
      )
      expect(sentBack(streamed.flatMap((event) => event.candidates[0].content.parts))).toMatchObject({
        reasoning,
        toolCalls
      })
    }))
  })
})

describe("Google's error status names", () => {
  it("name each HTTP status by its gRPC code, as Google's APIs do", () => {
    expect([400, 401, 404, 412, 429, 501, 503, 418, 502].map(Codec.statusName)).toEqual([
      "INVALID_ARGUMENT",
      "UNAUTHENTICATED",
      "NOT_FOUND",
      "FAILED_PRECONDITION",
      "RESOURCE_EXHAUSTED",
      "UNIMPLEMENTED",
      "UNAVAILABLE",
      "INVALID_ARGUMENT",
      "INTERNAL"
    ])
  })
})

describe("the Gemini writer's two framings", () => {
  const reply = replies(/^call_[a-z0-9]{1,8}$/)
  const meta = fc.record({ id: fc.stringMatching(/^[a-z0-9-]{1,12}$/), created: fc.nat(), model: token })
  const sseObjects = (text: string) =>
    text.split("\r\n\r\n").filter((event) => event !== "").map((event) => JSON.parse(event.slice("data: ".length)))
  const answer = Errors.answer(503, "The model is overloaded.", "server_error", null, null)

  it("without ?alt=sse, the SSE events as one JSON array at any batching, each write whole; an error ends both", () => {
    const cuts = fc.array(fc.nat(), { maxLength: 12 })
    fc.assert(
      fc.property(reply, meta, fc.boolean(), fc.option(fc.nat()), cuts, (reply, meta, wholeCalls, failAt, points) => {
        const { events, tail } = replyChunks(reply, meta)
        const batches = cutAt([...events, tail], points)
        // A failure after `failAt` batches, in place of the rest.
        const written = failAt === null ? batches : batches.slice(0, failAt % batches.length)
        const options = { wholeCalls, runningUsage: wholeCalls }
        const sseOut = new FramedText(Render.textFraming("sse"))
        const arrayOut = new FramedText(Render.textFraming("array"))
        const sse = Render.streamWriter(meta.id, meta.model, sseOut, options)
        const array = Render.streamWriter(meta.id, meta.model, arrayOut, options)
        // What a sink holds, taken.
        const take = (out: FramedText): string => {
          const text = out.string()
          out.clear()
          return text
        }
        let sseText = ""
        let arrayText = ""
        for (const [index, batch] of written.entries()) {
          sse.write(batch)
          sseText += take(sseOut)
          array.write(batch)
          arrayText += take(arrayOut)
          // What has come so far is whole objects: the array, closed there, parses.
          if (written.length < batches.length || index < batches.length - 1) {
            expect(JSON.parse(arrayText + (arrayText === "" ? "[" : "") + "\n]")).toEqual(sseObjects(sseText))
          }
        }
        if (failAt !== null) {
          sse.error(Render.errors.body(answer))
          sseText += take(sseOut)
          array.error(Render.errors.body(answer))
          arrayText += take(arrayOut)
        }
        expect(arrayText.startsWith("[")).toBe(true)
        expect(arrayText.endsWith("\n]")).toBe(true)
        expect(JSON.parse(arrayText)).toEqual(sseObjects(sseText))
      })
    )
  })
})
