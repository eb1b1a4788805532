import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import * as BalancedCall from "../../src/internal/gateway/balancedCall/wire.js"
import * as AnthropicRender from "../../src/internal/wire/anthropic/writer.js"
import { asciiJson } from "../../src/internal/wire/asciiJson.js"
import { BodyText, bytesOf } from "../../src/internal/wire/bodyText.js"
import type { StreamEncoder } from "../../src/internal/wire/dialect.js"
import * as Render from "../../src/internal/wire/openAiChat/writer.js"

const utf8 = new TextEncoder()
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
// The bytes as a plain `Uint8Array` (not a `Buffer`), to compare with `TextEncoder`'s.
const plainBytes = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes)

// Strings of every kind: ASCII, any UTF-16 code unit (lone surrogates too), and whole code points.
const anyString = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }))
// A template of the wire's: printable ASCII.
const template = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)) })

type Piece = { readonly kind: "template" | "text" | "json"; readonly value: string }
const piece: fc.Arbitrary<Piece> = fc.oneof(
  template.map((value) => ({ kind: "template" as const, value })),
  anyString.map((value) => ({ kind: "text" as const, value })),
  anyString.map((value) => ({ kind: "json" as const, value }))
)

describe("the gateway's body text", () => {
  it("writes the UTF-8 bytes of what was appended, whatever its pieces", () =>
    fc.assert(fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
      const body = new BodyText()
      let expected = ""
      for (const { kind, value } of pieces) {
        body[kind](value)
        expected += kind === "json" ? JSON.stringify(value) : value
      }
      expect(plainBytes(body.bytes())).toEqual(utf8.encode(expected))
    })))

  it("bytesOf is TextEncoder's encoding", () =>
    fc.assert(fc.property(anyString, (value) => {
      expect(plainBytes(bytesOf(value))).toEqual(utf8.encode(value))
    })))

  it("asciiJson is ASCII and reads back as the string it was given", () =>
    fc.assert(fc.property(anyString, (value) => {
      const literal = asciiJson(value)
      expect(literal).not.toMatch(/[\u0080-\uffff]/)
      expect(JSON.parse(literal)).toBe(value)
    })))

  it("a non-ASCII model is escaped in the head, and the reply's text is written as UTF-8", () => {
    const encoder = Render.streamEncoder("chatcmpl-é", "modèle", 1, false)
    const written = text(encoder.batch([{ _tag: "TextDelta", text: "héllo 👋" }]).bytes)
    expect(written).toContain(`"model":"mod\\u00e8le"`)
    expect(written).toContain(`"content":"héllo 👋"`)
  })
})

// No prompt tokens: message_start reports its first batch's, else none, so a stream reads alike whether its first batch
// has the usage chunk.
const usage = {
  promptTokens: 0,
  completionTokens: 2,
  totalTokens: 2,
  cachedPromptTokens: 0,
  reasoningTokens: 0,
  estimated: false
}

const chunk: fc.Arbitrary<ChatChunk> = fc.oneof(
  anyString.map((value): ChatChunk => ({ _tag: "TextDelta", text: value })),
  anyString.map((value): ChatChunk => ({ _tag: "ReasoningDelta", text: value })),
  fc.record({
    index: fc.nat(2),
    id: fc.option(anyString, { nil: undefined }),
    name: fc.option(anyString, { nil: undefined }),
    arguments: anyString
  })
    .map(({ id, index, name, arguments: args }): ChatChunk => ({
      _tag: "ToolCallDelta",
      index,
      arguments: args,
      ...(id === undefined ? {} : { id }),
      ...(name === undefined ? {} : { name })
    })),
  fc.constant<ChatChunk>({ _tag: "Usage", usage }),
  fc.constant<ChatChunk>({
    _tag: "Restart",
    attempt: 2,
    deployment: "b",
    model: "mb",
    from: "a",
    error: "TransportError"
  })
)

const finish: ChatChunk = {
  _tag: "Finish",
  finishReason: "stop",
  id: "r",
  model: "m",
  provider: "p",
  latency: Duration.millis(1)
}

// A stream's chunks (a batch is never empty), ending with its `Finish` or not.
const stream = fc.tuple(fc.array(chunk, { minLength: 1, maxLength: 10 }), fc.boolean()).map(([chunks, finished]) =>
  finished ? [...chunks, finish] : chunks
)

const encoders: ReadonlyArray<readonly [string, () => StreamEncoder]> = [
  ["OpenAI", () => Render.streamEncoder("chatcmpl-1", "gpt-4o-mini", 1, true)],
  ["Anthropic", () => AnthropicRender.streamEncoder("msg_1", "claude")],
  ["LLM-API-BalancedCall", BalancedCall.streamEncoder]
]

// What an encoder writes for `batches`, up to a restart that ends the stream.
const written = (encoder: StreamEncoder, batches: ReadonlyArray<ReadonlyArray<ChatChunk>>): string => {
  let out = ""
  for (const batch of batches) {
    const encoded = encoder.batch(batch)
    out += text(encoded.bytes)
    if (encoded.restarted !== undefined) break
  }
  return out
}

describe("the gateway's stream encoders, batch by batch", () => {
  for (const [name, make] of encoders) {
    it(`${name}: a batch is written as its chunks would be one batch each`, () =>
      fc.assert(fc.property(stream, (chunks) => {
        expect(written(make(), [chunks])).toBe(written(make(), chunks.map((one) => [one])))
      })))
  }

  it("OpenAI: every event is JSON, and the text deltas carry the reply's text", () =>
    fc.assert(fc.property(stream, (chunks) => {
      const events = written(Render.streamEncoder("chatcmpl-1", "m", 1, false), [chunks]).split("\n\n").filter((
        event
      ) => event !== "")
      const content = events
        .map((event) => event.replace(/^data: /, ""))
        .filter((data) => data !== "[DONE]")
        .map((data) => JSON.parse(data).choices[0]?.delta?.content ?? "")
        .join("")
      // The text up to a restart after something went out (one before is invisible).
      let expected = ""
      let forwarded = false
      for (const one of chunks) {
        if (one._tag === "Restart" && forwarded) break
        if (one._tag === "TextDelta") expected += one.text
        if ((one._tag === "TextDelta" || one._tag === "ReasoningDelta") && one.text !== "") forwarded = true
        if (one._tag === "ToolCallDelta") forwarded = true
      }
      expect(content).toBe(expected)
    })))
})
