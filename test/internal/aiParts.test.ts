/**
 * The `effect/ai` mapping both ways: a reply becomes response parts (whole and
 * streamed), `effect/ai` turns those into the next prompt
 * (`Prompt.fromResponseParts`), and that prompt becomes our messages again,
 * the same assistant message `Message.fromResponse` gives, provider metadata
 * (Gemini's signatures, Anthropic's signed thinking) included. And the
 * request side: tools, tool choice, structured output and what cannot be sent.
 */
import { describe, expect, it } from "@effect/vitest"
import { Prompt, Response, Tool, Toolkit } from "effect/ai"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import * as ChatChunk from "../../src/ChatChunk.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import { messagesOf, requestOf } from "../../src/internal/llm/ai/request.js"
import { partsOf } from "../../src/internal/llm/ai/response.js"
import * as AiStream from "../../src/internal/llm/ai/stream.js"
import * as Message from "../../src/Message.js"

const reply: ChatResponse = {
  id: "resp_1",
  model: "gemini-2.5-flash",
  provider: "gemini",
  text: "Checking both.",
  reasoning: "The user wants weather and time.",
  toolCalls: [
    {
      id: "call_a",
      name: "GetWeather",
      arguments: "{\"city\":\"Paris\"}",
      providerMetadata: { gemini: { thoughtSignature: "sig-a" } }
    },
    { id: "call_b", name: "GetTime", arguments: "{\"city\":\"Paris\"}" }
  ],
  finishReason: "tool_calls",
  usage: {
    promptTokens: 40,
    completionTokens: 30,
    totalTokens: 70,
    cachedPromptTokens: 8,
    reasoningTokens: 10,
    estimated: false
  },
  cost: 0.0001,
  latency: Duration.millis(120),
  keyId: "sk-…f3a9#0d64",
  providerMetadata: { gemini: { thoughtSignature: "sig-reply" } }
}

const GetWeather = Tool.make("GetWeather", {
  description: "The weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String
})
const GetTime = Tool.make("GetTime", { parameters: Schema.Struct({ city: Schema.String }), success: Schema.String })
const Tools = Toolkit.make(GetWeather, GetTime)

const decodeParts = Schema.decodeUnknownSync(Schema.Array(Response.Part(Tools)))
const decodeStreamParts = Schema.decodeUnknownSync(Schema.Array(Response.StreamPart(Tools)))

const request = (
  prompt: Prompt.RawInput,
  tools: ReadonlyArray<Tool.Any> = [],
  toolChoice: Parameters<typeof requestOf>[0]["toolChoice"] = "auto"
) => requestOf({ prompt: Prompt.make(prompt), tools, toolChoice, responseFormat: { type: "text" } }, { model: "m" })

describe("effect/ai parts", () => {
  it("a whole reply: reasoning, text, tool calls, then metadata and finish with our usage", () => {
    const parts = Result.getOrThrow(partsOf(reply))
    expect(parts.map((part) => part.type)).toEqual([
      "reasoning",
      "text",
      "tool-call",
      "tool-call",
      "response-metadata",
      "finish"
    ])
    const finish = decodeParts(parts).find((part) => part.type === "finish")
    expect(finish?.reason).toBe("tool-calls")
    expect(finish?.usage.inputTokens).toEqual({ total: 40, uncached: 32, cacheRead: 8 })
    expect(finish?.usage.outputTokens).toEqual({ total: 30, text: 20, reasoning: 10 })
    expect(finish?.metadata["effect-llm-router"]).toMatchObject({
      provider: "gemini",
      cost: 0.0001,
      keyId: "sk-…f3a9#0d64",
      latencyMillis: 120
    })
  })

  it("a whole reply makes the next prompt's assistant message, metadata included", () => {
    const parts = Result.getOrThrow(partsOf(reply))
    const messages = messagesOf(Prompt.fromResponseParts(decodeParts(parts)))
    expect(Result.getOrThrow(messages)).toEqual([Message.fromResponse(reply)])
  })

  it.effect("a streamed reply makes the same assistant message, and its text and reasoning come in blocks", () =>
    Effect.gen(function*() {
      const chunks = [
        { _tag: "ReasoningDelta" as const, text: "The user wants " },
        { _tag: "ReasoningDelta" as const, text: "weather and time." },
        ...ChatChunk.fromResponse({ ...reply, reasoning: undefined } as ChatResponse)
      ]
      const finished: Array<string> = []
      const parts = yield* AiStream.partsOf(
        Stream.fromIterable(chunks).pipe(Stream.rechunk(2)),
        (finish, usage) => finished.push(`${finish.id} ${usage.completionTokens}`)
      ).pipe(Stream.runCollect)
      expect(finished).toEqual(["resp_1 30"])
      const decoded = decodeStreamParts(parts)
      expect(decoded.map((part) => part.type)).toEqual([
        "reasoning-start",
        "reasoning-delta",
        "reasoning-delta",
        "reasoning-end",
        "text-start",
        "text-delta",
        "tool-params-start",
        "tool-params-delta",
        "tool-params-start",
        "tool-params-delta",
        "text-end",
        "tool-params-end",
        "tool-call",
        "tool-params-end",
        "tool-call",
        "response-metadata",
        "finish"
      ])
      expect(Result.getOrThrow(messagesOf(Prompt.fromResponseParts(decoded)))).toEqual([Message.fromResponse(reply)])
    }))

  it.effect(
    "a restart before any part went out is followed; after, the stream fails rather than join two " +
      "replies",
    () =>
      Effect.gen(function*() {
        const restart = {
          _tag: "Restart" as const,
          attempt: 1,
          deployment: "b",
          model: "mb",
          from: "a",
          error: "TransportError"
        }
        const finish = ChatChunk.fromResponse({ ...reply, reasoning: undefined, toolCalls: [], finishReason: "stop" })
        const clean = yield* AiStream.partsOf(Stream.fromIterable([restart, ...finish]), () => {}).pipe(
          Stream.runCollect
        )
        expect(
          clean.filter((part) => part.type === "text-delta").map((part) => part.type === "text-delta" && part.delta)
        )
          .toEqual([reply.text])
        const broken = yield* Effect.flip(
          AiStream.partsOf(
            Stream.fromIterable([{ _tag: "TextDelta" as const, text: "Half" }, restart, ...finish]),
            () => {}
          ).pipe(
            Stream.runCollect
          )
        )
        expect(broken.reason._tag).toBe("InternalProviderError")
        expect(broken.reason.message).toContain("deployment b broke after its first chunk (TransportError)")
      })
  )

  it.effect("a continuation goes on in the text block it was in: one block, its deltas before and after", () =>
    Effect.gen(function*() {
      const going = {
        _tag: "Continue" as const,
        attempt: 2,
        deployment: "b",
        model: "mb",
        from: "a",
        error: "TransportError"
      }
      const finish = ChatChunk.fromResponse({ ...reply, reasoning: undefined, toolCalls: [], finishReason: "stop" })
      const parts = yield* AiStream.partsOf(
        Stream.fromIterable([{ _tag: "TextDelta" as const, text: "Half " }, going, ...finish]),
        () => {}
      ).pipe(Stream.runCollect)
      expect(parts.filter((part) => part.type === "text-start")).toHaveLength(1)
      expect(parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])).toEqual(["Half ", reply.text])
    }))

  it("a tool call whose arguments are not JSON fails with ToolParameterValidationError", () => {
    const parts = partsOf({ ...reply, toolCalls: [{ id: "c", name: "GetWeather", arguments: "{\"city\":" }] })
    expect(Result.isFailure(parts) && parts.failure.reason._tag).toBe("ToolParameterValidationError")
  })
})

describe("effect/ai requests", () => {
  it("a toolkit's tools go out with their JSON Schema, the choice mapped; oneOf narrows the tools", () => {
    const all = Result.getOrThrow(request("Hi", [GetWeather, GetTime]))
    expect(all.model).toBe("m")
    expect(all.tools?.map((tool) => tool.name)).toEqual(["GetWeather", "GetTime"])
    expect(all.tools?.[0]).toMatchObject({
      description: "The weather in a city",
      parameters: { type: "object", required: ["city"] }
    })
    expect(all.toolChoice).toBe("auto")
    const forced = request("Hi", [GetWeather, GetTime], { tool: "GetTime" })
    expect(Result.getOrThrow(forced).toolChoice).toEqual({ tool: "GetTime" })
    const subset = Result.getOrThrow(request("Hi", [GetWeather, GetTime], { mode: "required", oneOf: ["GetTime"] }))
    expect(subset.tools?.map((tool) => tool.name)).toEqual(["GetTime"])
    expect(subset.toolChoice).toBe("required")
    const none = request("Hi")
    expect(Result.getOrThrow(none).tools).toBeUndefined()
  })

  it("a structured output asks for the schema's JSON Schema under the object's name", () => {
    const Recipe = Schema.Struct({ title: Schema.String })
    const asked = requestOf({
      prompt: Prompt.make("Hi"),
      tools: [],
      toolChoice: "none",
      responseFormat: { type: "json", objectName: "Recipe", schema: Recipe }
    }, {})
    expect(Result.getOrThrow(asked).responseFormat).toMatchObject({
      type: "json_schema",
      name: "Recipe",
      schema: { type: "object", required: ["title"] }
    })
  })

  it("images go as image parts, tool results as tool messages with the result as JSON", () => {
    const messages = messagesOf(Prompt.make([
      {
        role: "user",
        content: [{ type: "text", text: "What is this?" }, {
          type: "file",
          mediaType: "image/png",
          data: new Uint8Array([1, 2, 3])
        }]
      },
      { role: "assistant", content: [{ type: "tool-call", id: "c1", name: "GetTime", params: { city: "Oslo" } }] },
      {
        role: "tool",
        content: [{ type: "tool-result", id: "c1", name: "GetTime", isFailure: false, result: { hour: 9 } }]
      }
    ]))
    expect(Result.getOrThrow(messages)).toEqual([
      Message.user([Message.text("What is this?"), Message.image("data:image/png;base64,AQID")]),
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "GetTime", arguments: "{\"city\":\"Oslo\"}" }] },
      { role: "tool", toolCallId: "c1", name: "GetTime", content: "{\"hour\":9}" }
    ])
  })

  it("a PDF, audio or video file is our media part of its type; a URL keeps the type it does not state", () => {
    const messages = messagesOf(Prompt.make([{
      role: "user",
      content: [
        { type: "file", mediaType: "application/pdf", data: "JVBERi0x" },
        { type: "file", mediaType: "audio/wav", data: new Uint8Array([1, 2, 3]) },
        { type: "file", mediaType: "video/mp4", data: new URL("gs://clips/launch") },
        { type: "file", mediaType: "video/mp4", data: new URL("https://example.com/launch.mp4") },
        { type: "file", mediaType: "text/csv", data: "https://example.com/rows" }
      ]
    }]))
    expect(Result.getOrThrow(messages)).toEqual([Message.user([
      { type: "image", url: "data:application/pdf;base64,JVBERi0x" },
      { type: "image", url: "data:audio/wav;base64,AQID" },
      { type: "image", url: "gs://clips/launch", mediaType: "video/mp4" },
      { type: "image", url: "https://example.com/launch.mp4" },
      { type: "image", url: "https://example.com/rows", mediaType: "text/csv" }
    ])])
  })

  it("a file of a type no dialect carries fails naming the type, over the whole domain of types", () => {
    fc.assert(fc.property(
      fc.constantFrom("image", "audio", "video", "application", "text", "font", "model"),
      fc.stringMatching(/^[a-z0-9.+-]{1,12}$/),
      (top, sub) => {
        const mediaType = `${top}/${sub}`
        const sent = request([{ role: "user", content: [{ type: "file", mediaType, data: "AAAA" }] }])
        const carried = ["image", "audio", "video", "text"].includes(top) || mediaType === "application/pdf"
        if (carried) {
          expect(Result.isSuccess(sent)).toBe(true)
        } else {
          expect(Result.isFailure(sent) && sent.failure.reason._tag).toBe("InvalidUserInputError")
          expect(Result.isFailure(sent) && sent.failure.reason.message).toContain(`a ${mediaType} file`)
        }
      }
    ))
  })

  it("a tool the provider runs, or a file of a type no dialect carries, cannot be sent", () => {
    const WebSearch = Tool.providerDefined({
      id: "openai.web_search",
      customName: "WebSearch",
      providerName: "web_search"
    })
    const tool = request("Hi", [WebSearch()])
    expect(Result.isFailure(tool) && tool.failure.reason.message).toContain("WebSearch runs at its provider")
    const zip = request([{ role: "user", content: [{ type: "file", mediaType: "application/zip", data: "UEsDBA==" }] }])
    expect(Result.isFailure(zip) && zip.failure.reason._tag).toBe("InvalidUserInputError")
    expect(Result.isFailure(zip) && zip.failure.reason.message).toContain("application/zip")
  })
})
