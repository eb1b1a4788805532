import { describe, expect, it } from "@effect/vitest"
import { ChatRequest, Message } from "effect-llm-router"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { expectRoundTrip } from "./utils/schemaRoundTrip.js"

describe("Message", () => {
  it("builds messages of each role", () => {
    expect(Message.system("Be terse.")).toEqual({ role: "system", content: "Be terse." })
    expect(Message.user([Message.text("What is this?"), Message.image("data:image/png;base64,AAAA", "low")])).toEqual({
      role: "user",
      content: [{ type: "text", text: "What is this?" }, {
        type: "image",
        url: "data:image/png;base64,AAAA",
        detail: "low"
      }]
    })
    const call = { id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
    expect(Message.assistant("", { toolCalls: [call] })).toEqual({ role: "assistant", content: "", toolCalls: [call] })
    expect(Message.toolResult(call, { celsius: 21 })).toEqual({
      role: "tool",
      toolCallId: "call_1",
      name: "get_weather",
      content: "{\"celsius\":21}"
    })
  })

  it("records a reply as the next turn's assistant message, provider metadata included", () => {
    const call = { id: "c1", name: "f", arguments: "{}", providerMetadata: { gemini: { thoughtSignature: "sig" } } }
    expect(
      Message.fromResponse({
        text: "",
        toolCalls: [call],
        reasoning: "r",
        providerMetadata: { anthropic: { blocks: [] } }
      })
    )
      .toEqual({
        role: "assistant",
        content: "",
        toolCalls: [call],
        reasoning: "r",
        providerMetadata: { anthropic: { blocks: [] } }
      })
    expect(Message.fromResponse({ text: "plain", toolCalls: [] })).toEqual({ role: "assistant", content: "plain" })
  })

  it("reads the text of multi-part content", () => {
    expect(Message.textOf([Message.text("a"), Message.image("https://x/y.png"), Message.text("b")])).toBe("ab")
  })

  it("makes a tool definition from an Effect Schema", () => {
    // An exact optional key of a finite number: Effect 4's `Schema.Number` also admits
    // NaN and the infinities, and `Schema.optional` admits `undefined` (null in JSON).
    const tool = Message.ToolDefinition.fromSchema({
      name: "get_weather",
      description: "Weather now",
      parameters: Schema.Struct({ city: Schema.String, days: Schema.optionalKey(Schema.Finite) })
    })
    expect(tool.parameters).toEqual({
      type: "object",
      required: ["city"],
      properties: { city: { type: "string" }, days: { type: "number" } },
      additionalProperties: false
    })
    expect(tool.parameters).not.toHaveProperty("$schema")
    expect(() => Message.ToolDefinition.fromSchema({ name: "bad name!", parameters: Schema.Struct({}) })).toThrow(
      /1 to 64 characters/
    )
  })

  it("what the constructors build are values of the schemas: they encode and decode back equal", () => {
    const call: Message.ToolCall = {
      id: "c1",
      name: "get_weather",
      arguments: "{}",
      providerMetadata: { gemini: { thoughtSignature: "s" } }
    }
    const messages: ReadonlyArray<Message.Message> = [
      Message.system("Be terse."),
      Message.user("Hi"),
      Message.user([
        Message.text("What is this?"),
        Message.image("https://x/y.png"),
        Message.image("data:image/png;base64,AAAA", "high")
      ]),
      Message.assistant("Let me look.", { toolCalls: [call], reasoning: "r" }),
      Message.fromResponse({
        text: "",
        toolCalls: [call],
        reasoning: "r",
        providerMetadata: { anthropic: { blocks: [] } }
      }),
      Message.toolResult(call, { celsius: 21 })
    ]
    for (const message of messages) expectRoundTrip(Message.Message, message)
    const tool = Message.ToolDefinition.fromSchema({
      name: "get_weather",
      description: "Weather now",
      parameters: Schema.Struct({ city: Schema.String }),
      strict: true
    })
    expect(Object.getPrototypeOf(tool)).toBe(Object.prototype)
    expectRoundTrip(Message.ToolDefinition, tool)
    expectRoundTrip(
      ChatRequest.ResponseFormat,
      ChatRequest.jsonSchemaFormat("an answer!", Schema.Struct({ ok: Schema.Boolean }))
    )
  })

  it.effect("decodes tool-call arguments with a schema, failing on invalid JSON", () =>
    Effect.gen(function*() {
      const decode = Message.ToolCall.decodeArguments(Schema.Struct({ city: Schema.String }))
      expect(yield* decode({ arguments: "{\"city\":\"Paris\"}" })).toEqual({ city: "Paris" })
      const error = yield* Effect.flip(decode({ arguments: "{\"city\":" }))
      expect(error._tag).toBe("SchemaError")
    }))

  it.effect("decodes tool-call arguments as the JSON Schema describes them: null for an optional field", () =>
    Effect.gen(function*() {
      const schema = Schema.Struct({ city: Schema.String, days: Schema.optional(Schema.Number) })
      expect(Message.jsonSchemaOf(schema)).toMatchObject({ required: ["city"], additionalProperties: false })
      const decode = Message.ToolCall.decodeArguments(schema)
      expect(yield* decode({ arguments: "{\"city\":\"Paris\",\"days\":null}" })).toEqual({
        city: "Paris",
        days: undefined
      })
      expect(yield* decode({ arguments: "{\"city\":\"Paris\",\"days\":3}" })).toEqual({ city: "Paris", days: 3 })
    }))
})

describe("ChatRequest", () => {
  it("decodes a request from JSON-like input", () => {
    const result = Schema.decodeUnknownExit(ChatRequest.ChatRequest)({
      messages: [{ role: "system", content: "Be terse." }, { role: "user", content: "Hi" }],
      model: "gpt-4o",
      temperature: 0.2,
      toolChoice: { tool: "get_weather" },
      responseFormat: ChatRequest.jsonSchemaFormat("answer", Schema.Struct({ ok: Schema.Boolean }))
    })
    expect(Exit.isSuccess(result)).toBe(true)
  })

  it.effect("a decoded request is a plain object, and encodes back to what was decoded", () =>
    Effect.gen(function*() {
      const input = {
        messages: [Message.user("Hi"), Message.assistant("Hello")],
        tools: [{ name: "f", parameters: { type: "object" } }],
        toolChoice: "auto",
        responseFormat: { type: "json_object" },
        maxTokens: 10
      }
      const request = yield* ChatRequest.decode(input)
      expect(Object.getPrototypeOf(request)).toBe(Object.prototype)
      expect(Object.getPrototypeOf(request.messages[0])).toBe(Object.prototype)
      expect(expectRoundTrip(ChatRequest.ChatRequest, request)).toStrictEqual(input)
    }))

  it("names every bad field", () => {
    const result = Schema.decodeUnknownResult(ChatRequest.ChatRequest)({
      messages: [],
      temperature: 3,
      maxTokens: 0
    }, { errors: "all" })
    expect(result._tag).toBe("Failure")
    if (result._tag === "Success") return
    const text = result.failure.message
    expect(text).toContain("messages")
    expect(text).toContain("at least one message")
    expect(text).toContain("temperature")
    expect(text).toContain("maxTokens")
  })
})
