import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { CreateRequest } from "../../src/internal/wire/openAiChat/codec.js"
import * as Errors from "../../src/internal/wire/openAiChat/codec.js"
import * as Wire from "../../src/internal/wire/openAiChat/dialect.js"
import { bracketedSegments, junk, leadsInto, loose } from "../utils/nearMiss.js"

const schemaIsChat = Schema.is(CreateRequest)
const schemaIsEmbedding = Schema.is(Wire.WireEmbeddingRequest)

const text = fc.string({ maxLength: 4 })
const jsonObject = fc.dictionary(text, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })

const looseMessage = loose({
  role: fc.constantFrom("system", "developer", "user", "assistant", "tool", "robot"),
  content: fc.oneof(
    text,
    fc.array(
      loose({
        type: fc.constantFrom("text", "image_url"),
        text,
        image_url: loose({ url: text, detail: fc.constantFrom("auto", "low", "high", "max") })
      }),
      { maxLength: 2 }
    )
  ),
  tool_calls: fc.array(
    loose({ id: text, type: fc.constant("function"), function: loose({ name: text, arguments: text }) }),
    { maxLength: 2 }
  ),
  tool_call_id: text,
  name: text,
  reasoning_content: text
})

const looseChat = loose({
  model: text,
  messages: fc.array(looseMessage, { maxLength: 3 }),
  stream: fc.boolean(),
  stream_options: loose({ include_usage: fc.boolean() }),
  temperature: fc.double(),
  top_p: fc.double(),
  max_tokens: fc.integer(),
  max_completion_tokens: fc.integer(),
  stop: fc.oneof(text, fc.array(text, { maxLength: 2 })),
  tools: fc.array(
    loose({
      type: fc.constant("function"),
      function: loose({ name: text, description: text, parameters: jsonObject, strict: fc.boolean() })
    }),
    { maxLength: 2 }
  ),
  tool_choice: fc.oneof(
    fc.constantFrom("auto", "none", "required", "any"),
    loose({ type: fc.constant("function"), function: loose({ name: text }) })
  ),
  response_format: loose({
    type: fc.constantFrom("text", "json_object", "json_schema", "xml"),
    json_schema: loose({ name: text, description: text, schema: jsonObject, strict: fc.boolean() })
  }),
  reasoning_effort: text,
  seed: fc.integer(),
  user: text
})

const looseEmbedding = loose({
  model: text,
  input: fc.oneof(text, fc.array(fc.oneof(text, junk), { maxLength: 3 })),
  dimensions: fc.integer(),
  encoding_format: fc.constantFrom("float", "base64", "hex")
})

// A body as the gateway reads it: JSON text (a value JSON cannot hold is left out, as a client would).
const sent = (body: unknown): string =>
  JSON.stringify(body, (_, value) => typeof value === "bigint" ? undefined : value)

// A refusal names the wire field that is wrong: its path leads into the body (or names the key it lacks).
const namesItsPlace = (body: unknown, refused: Wire.Problem): boolean =>
  refused.param === undefined ||
  leadsInto(body, bracketedSegments(refused.param), refused.message.endsWith(": missing"))

const pastTheShape = ["(a tool message answers", "a tool message takes text parts only"]

describe("the gateway's check of a body: its wire schema", () => {
  it.prop("takes every chat body the wire schema makes", [Arbitrary.schema(CreateRequest)], ([body]) => {
    const decoded = Wire.chat(sent(body))
    // A tool message without its call's id, or with a part other than text, fits the schema; the mapping refuses it
    // by one of the rules past the shape, at the message's path.
    if (Result.isFailure(decoded)) {
      const { message, param } = decoded.failure
      expect(param).toMatch(/^messages\[\d+\]\./)
      expect(pastTheShape.some((rule) => message.includes(rule)), message).toBe(true)
    } else expect(decoded.success).toMatchObject({ _tag: "Chat", model: (body as { model: string }).model })
  })

  it.prop(
    "takes every embeddings body the wire schema makes",
    [Arbitrary.schema(Wire.WireEmbeddingRequest)],
    ([body]) => {
      expect(Wire.embeddings(sent(body))).toMatchObject({ success: { _tag: "Embeddings" } })
    }
  )

  it("refuses a near miss of either body by the schema's verdict, naming the field that is wrong", () => {
    let accepted = 0
    fc.assert(
      fc.property(looseChat.map((made) => JSON.parse(sent(made))), (body) => {
        const decoded = Wire.chat(sent(body))
        // Two rules past the schema's shape (one struct for every role): a tool message answers an earlier call, and
        // takes text parts only (the Chat Completions API's tool message).
        const problem = Result.isFailure(decoded) ? decoded.failure : undefined
        const refused = problem !== undefined && !pastTheShape.some((rule) => problem.message.includes(rule))
        if (!refused) accepted++
        return refused ? !schemaIsChat(body) && namesItsPlace(body, problem) : schemaIsChat(body)
      }),
      { numRuns: 3000 }
    )
    // Both verdicts are drawn often, so a check that drops a field is caught.
    expect(accepted).toBeGreaterThan(100)
    expect(accepted).toBeLessThan(2900)
    fc.assert(
      fc.property(looseEmbedding.map((made) => JSON.parse(sent(made))), (body) => {
        const decoded = Wire.embeddings(sent(body))
        return Result.isFailure(decoded)
          ? !schemaIsEmbedding(body) && namesItsPlace(body, decoded.failure)
          : schemaIsEmbedding(body)
      }),
      { numRuns: 500 }
    )
  })
})

describe("the gateway's wire request", () => {
  it("names a bad field by its wire path", () => {
    const refused = Wire.chat(JSON.stringify({ model: "m", messages: [{ role: "user", content: 42 }] }))
    expect(refused).toMatchObject({ failure: { _tag: "Problem", param: "messages[0].content" } })
    expect(Wire.chat("[1")).toMatchObject({ failure: { _tag: "Problem", param: undefined } })
    expect(Wire.chat(JSON.stringify({ messages: [] }))).toMatchObject({ failure: { _tag: "Problem", param: "model" } })
    expect(Wire.chat(JSON.stringify({ model: "m", messages: [{ role: "tool", content: "x" }] })))
      .toMatchObject({ failure: { _tag: "Problem", param: "messages[0].tool_call_id" } })
  })

  it("takes a body's own _tag as an unknown field like any other", () => {
    expect(Wire.chat(JSON.stringify({ _tag: "Problem", model: "m", messages: [{ role: "user", content: "hi" }] })))
      .toMatchObject({
        success: { _tag: "Chat", model: "m", request: { messages: [{ role: "user", content: "hi" }] } }
      })
  })

  it("maps the wire request onto the engine's", () => {
    const decoded = Wire.chat(JSON.stringify({
      model: "m",
      messages: [
        { role: "developer", content: [{ type: "text", text: "Be brief." }] },
        {
          role: "user",
          content: [{ type: "text", text: "Look" }, {
            type: "image_url",
            image_url: { url: "https://x/y.png", detail: "low" }
          }]
        },
        {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }]
        },
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
    expect(Result.getOrThrow(decoded)).toEqual({
      _tag: "Chat",
      model: "m",
      stream: true,
      includeUsage: true,
      maxTokensField: "max_tokens",
      request: {
        messages: [
          { role: "system", content: "Be brief." },
          {
            role: "user",
            content: [{ type: "text", text: "Look" }, { type: "image", url: "https://x/y.png", detail: "low" }]
          },
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
    expect(Errors.wirePath("topP")).toBe("top_p")
    expect(Errors.wirePath("tools[2].name")).toBe("tools[2].function.name")
    expect(Errors.wirePath("messages[1].toolCalls[0].name")).toBe("messages[1].tool_calls[0].function.name")
    expect(Errors.wirePath("messages[3].toolCallId")).toBe("messages[3].tool_call_id")
    expect(Errors.wirePath("responseFormat.schema")).toBe("response_format.json_schema.schema")
    expect(Errors.wirePath("messages[0].content")).toBe("messages[0].content")
    expect(Errors.wirePath("maxTokens")).toBe("max_tokens")
    expect(Errors.wirePath("maxTokens", "max_completion_tokens")).toBe("max_completion_tokens")
  })
})
