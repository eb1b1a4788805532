import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { placed } from "../../src/internal/wire/anthropic/dialect.js"
import * as Wire from "../../src/internal/wire/anthropic/request.js"
import { junk, leadsInto, loose } from "../utils/nearMiss.js"

const schemaIs = Schema.is(Wire.WireMessagesRequest)

const text = fc.string({ maxLength: 4 })
const jsonObject = fc.dictionary(text, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 })
const textBlock = loose({ type: fc.constant("text"), text })

const block = fc.oneof(
  textBlock,
  loose({
    type: fc.constant("image"),
    source: loose({ type: fc.constantFrom("base64", "url", "file"), media_type: text, data: text, url: text })
  }),
  loose({ type: fc.constant("tool_use"), id: text, name: text, input: jsonObject }),
  loose({
    type: fc.constant("tool_result"),
    tool_use_id: text,
    content: fc.oneof(text, fc.array(textBlock, { maxLength: 2 })),
    is_error: fc.boolean()
  }),
  loose({ type: fc.constantFrom("thinking", "document"), thinking: text, signature: text }),
  loose({ type: fc.constant("redacted_thinking"), data: text })
)

// Required fields present more often than not, so that both verdicts are drawn often.
const body = fc.record({
  model: fc.oneof({ arbitrary: text, weight: 20 }, { arbitrary: junk, weight: 1 }),
  max_tokens: fc.oneof({ arbitrary: fc.integer(), weight: 20 }, { arbitrary: junk, weight: 1 }),
  messages: fc.array(
    loose({
      role: fc.constantFrom("user", "assistant", "system"),
      content: fc.oneof(text, fc.array(block, { maxLength: 2 }))
    }),
    { maxLength: 3 }
  ),
  rest: loose({
    system: fc.oneof(text, fc.array(textBlock, { maxLength: 2 })),
    temperature: fc.double(),
    top_p: fc.double(),
    stop_sequences: fc.array(text, { maxLength: 2 }),
    stream: fc.boolean(),
    tools: fc.array(
      loose({
        type: fc.constantFrom("custom", "web_search_20250305"),
        name: text,
        description: text,
        input_schema: jsonObject,
        strict: fc.boolean()
      }),
      { maxLength: 2 }
    ),
    tool_choice: loose({
      type: fc.constantFrom("auto", "any", "none", "tool", "required"),
      name: text,
      disable_parallel_tool_use: fc.boolean()
    }),
    thinking: loose({ type: fc.constantFrom("enabled", "disabled", "adaptive", "on"), budget_tokens: fc.integer() }),
    metadata: loose({ user_id: text })
  })
}).map(({ rest, ...required }) => ({ ...required, ...rest }))

// A body as the gateway reads it: JSON text (a value JSON cannot hold is left out, as a client would).
const sent = (made: unknown): string =>
  JSON.stringify(made, (_, value) => typeof value === "bigint" ? undefined : value)

describe("the gateway's check of a Messages body: its wire schema", () => {
  it.prop("takes every body the wire schema makes", [Arbitrary.schema(Wire.WireMessagesRequest)], ([made]) => {
    const text = sent(made)
    // JSON has no NaN or Infinity: a `max_tokens` of NaN is sent as null, which no body may be.
    if (!schemaIs(JSON.parse(text))) return
    const decoded = Wire.messages(text)
    // A block in the wrong role's turn fits the schema; the mapping refuses it, by its path.
    if (Result.isFailure(decoded)) expect(decoded.failure.param).toMatch(/^messages\.\d+\.content\.\d+\.type$/)
    else expect(decoded.success).toMatchObject({ _tag: "Messages", model: made.model })
  })

  it("refuses a near miss by the schema's verdict, naming the field that is wrong as Anthropic does", () => {
    // Each body as the gateway gets it: its JSON.
    const bodies = fc.sample(body, 3000).map((made) => JSON.parse(sent(made)))
    const verdicts = bodies.map(schemaIs)
    const misjudged = bodies.filter((candidate, i) => {
      const decoded = Wire.messages(sent(candidate))
      // A block in a role that does not take it fits the schema; the mapping refuses it.
      if (Result.isSuccess(decoded) || / blocks are (only|not) allowed in /.test(decoded.failure.message)) {
        return !verdicts[i]
      }
      const { message, param } = decoded.failure
      return verdicts[i] ||
        (param !== undefined && !leadsInto(candidate, param.split("."), message.endsWith(": missing")))
    })
    expect(misjudged).toEqual([])
    // Both verdicts are drawn often, so a check that drops a field is caught.
    const accepted = verdicts.filter(Boolean).length
    expect(accepted).toBeGreaterThan(100)
    expect(accepted).toBeLessThan(2900)
  })
})

const hello = { role: "user", content: "Hello" }

describe("the gateway's Messages request", () => {
  it("names a bad field as Anthropic does", () => {
    expect(
      Wire.messages(
        JSON.stringify({ model: "m", max_tokens: 9, messages: [hello, { role: "developer", content: "x" }] })
      )
    )
      .toMatchObject({
        failure: {
          _tag: "Problem",
          param: "messages.1.role",
          message: expect.stringMatching(/^messages\.1\.role: expected/)
        }
      })
    expect(Wire.messages(JSON.stringify({ model: "m", messages: [hello] })))
      .toMatchObject({ failure: { _tag: "Problem", param: "max_tokens", message: "max_tokens: missing" } })
    expect(
      Wire.messages(
        JSON.stringify({ model: "m", max_tokens: 9, messages: [{ role: "user", content: [{ type: "widget" }] }] })
      )
    )
      .toMatchObject({ failure: { _tag: "Problem", param: "messages.0.content.0" } })
    // A document block is read, so one with no source is named at its source.
    expect(
      Wire.messages(
        JSON.stringify({ model: "m", max_tokens: 9, messages: [{ role: "user", content: [{ type: "document" }] }] })
      )
    )
      .toMatchObject({ failure: { _tag: "Problem", param: "messages.0.content.0.source" } })
    expect(Wire.messages(JSON.stringify({
      model: "m",
      max_tokens: 9,
      messages: [{ role: "assistant", content: [{ type: "tool_result", tool_use_id: "t" }] }]
    }))).toMatchObject({ failure: { _tag: "Problem", param: "messages.0.content.0.type" } })
    expect(Wire.messages("{")).toMatchObject({ failure: { _tag: "Problem", param: undefined } })
  })

  it("maps the wire request onto the engine's", () => {
    const decoded = Wire.messages(JSON.stringify({
      model: "m",
      max_tokens: 300,
      system: [{ type: "text", text: "Be brief." }, { type: "text", text: "Be kind." }],
      messages: [
        {
          role: "user",
          content: [{ type: "text", text: "Look" }, {
            type: "image",
            source: { type: "base64", media_type: "image/png", data: "AAA" }
          }]
        },
        {
          role: "assistant",
          content: [
            { type: "thinking", thinking: "hmm", signature: "sig" },
            { type: "text", text: "Let me see." },
            { type: "tool_use", id: "t1", name: "f", input: { a: 1 } }
          ]
        },
        {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: "t1", content: [{ type: "text", text: "42" }] }, {
            type: "text",
            text: "So?"
          }]
        }
      ],
      temperature: 0.5,
      stop_sequences: ["END"],
      tools: [{ name: "f", input_schema: { type: "object" }, cache_control: { type: "ephemeral" } }],
      tool_choice: { type: "any" },
      thinking: { type: "enabled", budget_tokens: 10000 },
      metadata: { user_id: "u1" },
      stream: true,
      top_k: 5
    }))
    expect(Result.getOrThrow(decoded)).toMatchObject({
      _tag: "Messages",
      model: "m",
      stream: true,
      request: {
        messages: [
          { role: "system", content: "Be brief." },
          { role: "system", content: "Be kind." },
          {
            role: "user",
            content: [{ type: "text", text: "Look" }, { type: "image", url: "data:image/png;base64,AAA" }]
          },
          {
            role: "assistant",
            content: "Let me see.",
            reasoning: "hmm",
            toolCalls: [{ id: "t1", name: "f", arguments: "{\"a\":1}" }],
            providerMetadata: { anthropic: { thinking: [{ type: "thinking", thinking: "hmm", signature: "sig" }] } }
          },
          { role: "tool", toolCallId: "t1", content: [{ type: "text", text: "42" }] },
          { role: "user", content: [{ type: "text", text: "So?" }] }
        ],
        maxTokens: 300,
        temperature: 0.5,
        stop: ["END"],
        tools: [{ name: "f", parameters: { type: "object" } }],
        toolChoice: "required",
        reasoningEffort: "medium",
        user: "u1"
      }
    })
  })

  it("puts the top-level cache_control (automatic caching) on the last message's last block", () => {
    const lastOf = (body: Record<string, unknown>) => {
      const decoded = Wire.messages(JSON.stringify({ model: "m", max_tokens: 8, ...body }))
      return Result.getOrThrow(decoded).request.messages.at(-1)
    }
    const hour = { type: "ephemeral", ttl: "1h" }
    expect(lastOf({ cache_control: hour, messages: [{ role: "user", content: "Hi" }] }))
      .toEqual({ role: "user", content: [{ type: "text", text: "Hi", cache: { ttl: "1h" } }] })
    expect(lastOf({
      cache_control: { type: "ephemeral" },
      messages: [{ role: "user", content: [{ type: "text", text: "A" }, { type: "text", text: "B" }] }]
    })).toEqual({ role: "user", content: [{ type: "text", text: "A" }, { type: "text", text: "B", cache: {} }] })
    expect(lastOf({
      cache_control: hour,
      messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }]
    })).toEqual({ role: "assistant", content: "Hello", cache: { ttl: "1h" } })
    // Without it, a string content stays a string.
    expect(lastOf({ messages: [{ role: "user", content: "Hi" }] })).toEqual({ role: "user", content: "Hi" })
  })

  it("keeps an unsigned thinking block as reasoning only: Anthropic would refuse it back", () => {
    const decoded = Wire.messages(JSON.stringify({
      model: "m",
      max_tokens: 9,
      messages: [hello, {
        role: "assistant",
        content: [{ type: "thinking", thinking: "hmm", signature: "" }, { type: "text", text: "A" }]
      }, hello]
    }))
    expect(Result.getOrThrow(decoded).request.messages[1]).toEqual({
      role: "assistant",
      content: "A",
      reasoning: "hmm"
    })
  })

  it("renames the engine's paths to the body's, placing a message back in its turn", () => {
    const decoded = Wire.messages(JSON.stringify({
      model: "m",
      max_tokens: 9,
      system: "S",
      messages: [hello, { role: "assistant", content: "A" }, {
        role: "user",
        content: [{ type: "tool_result", tool_use_id: "x" }]
      }]
    }))
    const { body } = Result.getOrThrow(decoded)
    expect(Wire.anthropicPath("messages[0].content", body)).toBe("system")
    expect(Wire.anthropicPath("messages[2].content", body)).toBe("messages.1.content")
    expect(Wire.anthropicPath("messages[3].toolCallId", body)).toBe("messages.2.content.0")
    expect(Wire.anthropicPath("maxTokens", body)).toBe("max_tokens")
    expect(Wire.anthropicPath("tools[1].parameters", body)).toBe("tools.1.input_schema")
    expect(Wire.anthropicPath("tools[0].name", body)).toBe("tools.0.name")
    expect(Wire.anthropicPath("stop[0]", body)).toBe("stop_sequences.0")
  })

  it("places a part's path in the block it came from, in a user turn and in a tool result", () => {
    const pdf = { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" } }
    const decoded = Wire.messages(JSON.stringify({
      model: "m",
      max_tokens: 9,
      messages: [
        { role: "user", content: [{ type: "text", text: "Fetch it." }] },
        { role: "assistant", content: [{ type: "tool_use", id: "x", name: "fetch", input: {} }] },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "x", content: [{ type: "text", text: "Here:" }, pdf] },
            { type: "text", text: "And this:" },
            { ...pdf, title: "a.pdf" }
          ]
        }
      ]
    }))
    const { body } = Result.getOrThrow(decoded)
    // The engine's messages: the user's, the assistant's, the tool result, then the last turn's text and PDF.
    expect(Wire.anthropicPath("messages[3].content[1].document.title", body)).toBe("messages.2.content.2.title")
    expect(Wire.anthropicPath("messages[3].content[1].url", body)).toBe("messages.2.content.2.source")
    expect(Wire.anthropicPath("messages[3].content[0]", body)).toBe("messages.2.content.1")
    expect(Wire.anthropicPath("messages[2].content[1]", body)).toBe("messages.2.content.0.content.1")
    expect(Wire.anthropicPath("messages[2].content[1].document.title", body))
      .toBe("messages.2.content.0.content.1.title")
    expect(Wire.anthropicPath("messages[3].content", body)).toBe("messages.2.content")
    expect(Wire.anthropicPath("messages[1].toolCalls[0].arguments", body)).toBe("messages.1.content")
    expect(
      placed(body)(
        "messages[3].content[1].document.title: \"a.pdf\" names the document at messages[2].content[1].document.title too"
      )
    ).toBe("messages.2.content.2.title: \"a.pdf\" names the document at messages.2.content.0.content.1.title too")
  })
})
