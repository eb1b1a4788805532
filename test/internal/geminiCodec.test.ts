import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import { type ChatChunk, fromResponse, makeAccumulator } from "../../src/ChatChunk.js"
import type { Input as ChatRequest, ReasoningEffort } from "../../src/ChatRequest.js"
import type { ChatResponse, FinishReason } from "../../src/ChatResponse.js"
import { ShapeError } from "../../src/internal/codecError.js"
import { canonicalJson, isJsonObject, type JsonObject } from "../../src/internal/json.js"
import { decode as decodeSimulated } from "../../src/internal/simulator/gemini/request.js"
import { GeminiStreamParser } from "../../src/internal/wire/gemini/client.js"
import * as Codec from "../../src/internal/wire/gemini/codec.js"
import * as Embeddings from "../../src/internal/wire/gemini/embeddings.js"
import { streamEncoder } from "../../src/internal/wire/gemini/writer.js"
import type { ContentPart, ImagePart, Message, ProviderMetadata, ToolCall, ToolDefinition } from "../../src/Message.js"
import { read } from "../utils/results.js"
import { streamContext } from "../utils/streamContext.js"
import { toolFieldsSent } from "../utils/toolFields.js"

const word = fc.string({ maxLength: 6 })
// A text Gemini takes as a part: not empty (the encoder leaves an empty one out, `wire/emptyText.ts`).
const spoken = fc.string({ minLength: 1, maxLength: 6 })
const name = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,11}$/)
const signature = fc.base64String({ minLength: 4, maxLength: 16 })
// Gemini's own call ids: never the shape of the ids the library makes (`call_<n>`).
const ownId = fc.stringMatching(/^fc-[a-z0-9]{1,8}$/)
const argumentsJson = fc.dictionary(name, fc.oneof(fc.integer(), word, fc.boolean()), { maxKeys: 3 })
  .map((args) => JSON.stringify(args))

const gemini = (fields: Codec.GeminiMetadata): ProviderMetadata => ({ [Codec.metadataKey]: fields })

// ---------------------------------------------------------------------------
// The request

// What a user turn can hold and read back as itself: text, base64 data URLs, and file URLs (no `detail`).
const userPart: fc.Arbitrary<ContentPart> = fc.oneof(
  spoken.map((text): ContentPart => ({ type: "text", text })),
  fc.base64String({ minLength: 4, maxLength: 12 }).map((data): ContentPart => ({
    type: "image",
    url: `data:image/png;base64,${data}`
  })),
  fc.webUrl().map((url): ContentPart => ({ type: "image", url })),
  // A file of a stated type its URL does not tell: the type is carried both ways.
  fc.constantFrom("video/mp4", "audio/ogg", "application/pdf", "image/png").map((mediaType): ContentPart => ({
    type: "image",
    url: "https://generativelanguage.googleapis.com/v1beta/files/abc",
    mediaType
  }))
)

// A call as the request writes it and reads it back: signed; Gemini's own id kept in its metadata, or none (then the
// id is the one made from its place in the turn).
const calls: fc.Arbitrary<ReadonlyArray<ToolCall>> = fc.array(
  fc.record({ name, arguments: argumentsJson, signature, id: fc.option(ownId, { nil: undefined }) }),
  { minLength: 1, maxLength: 3 }
).map((drawn) =>
  drawn.map((call, i): ToolCall => ({
    id: call.id ?? Codec.madeCallId(i),
    name: call.name,
    arguments: call.arguments,
    providerMetadata: gemini(
      call.id === undefined ? { thoughtSignature: call.signature } : { thoughtSignature: call.signature, id: call.id }
    )
  }))
)

// What a function response's `parts` take (images, PDFs, plain text), inline or by URI.
const resultPart: fc.Arbitrary<ImagePart> = fc.oneof(
  fc.tuple(fc.constantFrom("image/png", "image/jpeg", "image/webp", "application/pdf", "text/plain"), signature).map((
    [type, data]
  ): ImagePart => ({ type: "image", url: `data:${type};base64,${data}` })),
  fc.constantFrom("image/png", "application/pdf", "text/plain").map((mediaType): ImagePart => ({
    type: "image",
    url: "https://generativelanguage.googleapis.com/v1beta/files/abc",
    mediaType
  }))
)

// A tool result: a JSON object; or that object's text with media, the first `refs` of them referenced from it by
// `$ref` (written back as each part's `displayName`).
const toolResult: fc.Arbitrary<string | ReadonlyArray<ContentPart>> = fc.oneof(
  argumentsJson,
  fc.tuple(fc.array(resultPart, { minLength: 1, maxLength: 3 }), fc.nat({ max: 3 }), argumentsJson).map(
    ([media, refs, json]): ReadonlyArray<ContentPart> => {
      const response: Record<string, unknown> = JSON.parse(json)
      media.slice(0, refs).forEach((_, k) => {
        response[`media${k}`] = { $ref: `part-${k}.bin` }
      })
      return [{ type: "text", text: JSON.stringify(response) }, ...media]
    }
  )
)

// A step of a conversation: a user turn, a model turn (text, maybe signed; or calls, answered one by one).
const step: fc.Arbitrary<ReadonlyArray<Message>> = fc.tuple(
  fc.array(userPart, { minLength: 1, maxLength: 3 }),
  fc.oneof(
    fc.record({ content: spoken, signature: fc.option(signature, { nil: undefined }) }).map(
      ({ content, signature }): ReadonlyArray<Message> => [
        signature === undefined
          ? { role: "assistant", content }
          : { role: "assistant", content, providerMetadata: gemini({ thoughtSignature: signature }) }
      ]
    ),
    fc.tuple(word, calls, fc.array(toolResult, { minLength: 3, maxLength: 3 })).map(
      ([content, toolCalls, results]): ReadonlyArray<Message> => [
        { role: "assistant", content, toolCalls },
        ...toolCalls.map((call, i): Message => ({
          role: "tool",
          toolCallId: call.id,
          name: call.name,
          content: results[i]!
        }))
      ]
    )
  )
).map(([content, model]): ReadonlyArray<Message> => [{ role: "user", content }, ...model])

const tool: fc.Arbitrary<ToolDefinition> = fc.record({
  name,
  description: word,
  parameters: fc.constant({ type: "object", properties: { city: { type: "string" } }, required: ["city"] })
}, { requiredKeys: ["name", "parameters"] })

const request: fc.Arbitrary<ChatRequest> = fc.tuple(
  fc.array(spoken.map((content): Message => ({ role: "system", content })), { maxLength: 2 }),
  fc.array(step, { minLength: 1, maxLength: 3 }),
  fc.record({
    temperature: fc.double({ min: 0, max: 2, noNaN: true }),
    topP: fc.double({ min: 0, max: 1, noNaN: true }),
    maxTokens: fc.integer({ min: 1, max: 100_000 }),
    stop: fc.array(word, { minLength: 1, maxLength: 4 }),
    tools: fc.array(tool, { minLength: 1, maxLength: 2 }),
    toolChoice: fc.oneof(
      fc.constantFrom("auto" as const, "none" as const, "required" as const),
      name.map((tool) => ({ tool }))
    ),
    responseFormat: fc.constantFrom(
      { type: "json_object" as const },
      {
        type: "json_schema" as const,
        name: "response",
        schema: { type: "object", properties: { a: { type: "string" } } }
      }
    ),
    // `xhigh` and `max` ask for the same budget, read back as `max`.
    reasoningEffort: fc.constantFrom<ReasoningEffort>("none", "minimal", "low", "medium", "high", "max"),
    seed: fc.nat()
  }, { requiredKeys: [] })
).map(([system, steps, fields]): ChatRequest => ({ messages: [...system, ...steps.flat()], ...fields }))

const isGenerateContentRequest = Schema.is(Codec.GenerateContentRequest)

describe("wire/gemini/codec: the request both ways", () => {
  it("a request written for the wire reads back as itself", () => {
    fc.assert(fc.property(request, (original) => {
      const body: unknown = JSON.parse(JSON.stringify(Codec.requestBody(original)))
      expect(isGenerateContentRequest(body)).toBe(true)
      if (!isGenerateContentRequest(body)) return
      expect(Result.getOrThrow(Codec.toRequest(body))).toEqual(toolFieldsSent(original))
    }))
  })

  it("empty texts (a message's, a part's, the system's) and a message left with nothing are left out", () => {
    const empty = fc.constant("")
    const emptied: fc.Arbitrary<ReadonlyArray<Message>> = fc.array(
      fc.oneof(
        empty.map((content): Message => ({ role: "system", content })),
        empty.map((content): Message => ({ role: "user", content })),
        empty.map((content): Message => ({ role: "assistant", content })),
        fc.array(fc.oneof(userPart, empty.map((text): ContentPart => ({ type: "text", text }))), { maxLength: 3 })
          .map((content): Message => ({ role: "user", content }))
      ),
      { maxLength: 4 }
    )
    fc.assert(fc.property(emptied, step, emptied, (before, said, after) => {
      const body: unknown = JSON.parse(JSON.stringify(Codec.requestBody({ messages: [...before, ...said, ...after] })))
      expect(JSON.stringify(body)).not.toContain("\"text\":\"\"")
      read(decodeSimulated(body, { model: "gemini-test" }))
    }))
  })

  it("a function response repeated whole in its turn is read once; different ones, or ones without an id, each", () => {
    const call = (id: string | undefined) => ({ functionCall: { name: "run", args: {}, ...(id ? { id } : {}) } })
    const response = (id: string | undefined, output: string) => ({
      functionResponse: { name: "run", response: { output }, ...(id ? { id } : {}) }
    })
    const results = (calls: ReadonlyArray<unknown>, responses: ReadonlyArray<unknown>) => {
      const body = {
        contents: [
          { role: "user", parts: [{ text: "Run it." }] },
          { role: "model", parts: calls },
          { role: "user", parts: responses }
        ]
      }
      const request = read(Codec.toRequest(Result.getOrThrow(Codec.checkGenerateContent(body))))
      return request.messages.filter((message) => message.role === "tool").map((message) => message.content)
    }
    // Gemini CLI's resumed session: each response twice.
    expect(
      results([call("a"), call("b")], [response("a", "1"), response("a", "1"), response("b", "2"), response("b", "2")])
    )
      .toEqual(["{\"output\":\"1\"}", "{\"output\":\"2\"}"])
    expect(results([call(undefined), call(undefined)], [response(undefined, "1"), response(undefined, "1")]))
      .toEqual(["{\"output\":\"1\"}", "{\"output\":\"1\"}"])
    expect(results([call("a")], [response("a", "1"), response("a", "2")]))
      .toEqual(["{\"output\":\"1\"}", "{\"output\":\"2\"}"])
  })

  it("a function response's media parts are its tool message's parts, the referenced ones first", () => {
    const answer = (response: Record<string, unknown>, parts: ReadonlyArray<unknown>) => ({
      contents: [
        { role: "user", parts: [{ text: "Fetch the report." }] },
        { role: "model", parts: [{ functionCall: { name: "fetch", args: {} } }] },
        { role: "user", parts: [{ functionResponse: { name: "fetch", response, parts } }] }
      ]
    })
    // The request, or the refusal of the mapping (told apart by their fields).
    const read = (body: unknown) => Result.merge(Codec.toRequest(Result.getOrThrow(Codec.checkGenerateContent(body))))
    const pdf = { inlineData: { mimeType: "application/pdf", data: "JVBERi0xLjQ=", displayName: "report.pdf" } }
    const chart = { fileData: { mimeType: "image/png", fileUri: "https://example.com/chart.png" } }
    const carried = read(answer({ chart: "drawn", report: { $ref: "report.pdf" } }, [chart, pdf]))
    expect(carried).toMatchObject({
      messages: [{}, {}, {
        role: "tool",
        content: [
          { type: "text", text: "{\"chart\":\"drawn\",\"report\":{\"$ref\":\"report.pdf\"}}" },
          { type: "image", url: "data:application/pdf;base64,JVBERi0xLjQ=" },
          { type: "image", url: "https://example.com/chart.png" }
        ]
      }]
    })
    // Written back, the referenced part takes the name the response gives it; the other goes unnamed.
    if ("messages" in carried) {
      const written = Codec.requestBody(carried) as { contents: Array<{ parts: Array<Record<string, unknown>> }> }
      expect(written.contents[2]!.parts[0]).toEqual({
        functionResponse: {
          name: "fetch",
          response: { chart: "drawn", report: { $ref: "report.pdf" } },
          parts: [pdf, { fileData: { fileUri: "https://example.com/chart.png", mimeType: "image/png" } }]
        }
      })
    }
    const audio = { inlineData: { mimeType: "audio/wav", data: "UklGRg==" } }
    expect(read(answer({ ok: true }, [pdf, audio]))).toMatchObject({
      param: "contents[2].parts[0].functionResponse.parts[1]",
      message: expect.stringContaining("audio (audio/wav)")
    })
    expect(read(answer({ a: { $ref: "nothing.png" } }, [pdf]))).toMatchObject({
      param: "contents[2].parts[0].functionResponse.response",
      message: expect.stringContaining("nothing.png")
    })
    expect(read(answer({ ok: true }, [pdf, pdf]))).toMatchObject({
      param: "contents[2].parts[0].functionResponse.parts[1].displayName"
    })
    expect(read(answer({ ok: true }, [{}]))).toMatchObject({
      param: "contents[2].parts[0].functionResponse.parts[0]"
    })
  })

  it("a tool result's medium Gemini does not take in a function response is refused by its path", () => {
    const messages: ReadonlyArray<Message> = [
      { role: "user", content: "Record it." },
      { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "record", arguments: "{}" }] },
      {
        role: "tool",
        toolCallId: "c1",
        content: [{ type: "text", text: "{}" }, { type: "image", url: "data:video/mp4;base64,AAAA" }]
      }
    ]
    expect(() => Codec.requestBody({ messages })).toThrow(
      expect.objectContaining({ param: "messages[2].content[1]", detail: expect.stringContaining("video/mp4") })
    )
  })

  it("a countTokens body reads as the request it wraps, or as its contents alone", () => {
    fc.assert(fc.property(request, (original) => {
      const body = Codec.requestBody(original)
      const whole = Result.getOrThrow(
        Codec.checkCountTokens(JSON.parse(JSON.stringify({ generateContentRequest: body })))
      )
      const contents = Result.getOrThrow(
        Codec.checkCountTokens(JSON.parse(JSON.stringify({ contents: body["contents"] })))
      )
      if (!isGenerateContentRequest(body)) throw new Error("not a request")
      expect("generateContentRequest" in whole && Result.getOrThrow(Codec.countRequest(whole))).toEqual(
        Result.getOrThrow(Codec.toRequest(body))
      )
      expect("contents" in contents && Result.getOrThrow(Codec.countRequest(contents))).toEqual(
        Result.getOrThrow(Codec.toRequest({ contents: body.contents }))
      )
    }))
  })
})

// ---------------------------------------------------------------------------
// The reply and the stream

const count = fc.nat({ max: 100_000 })

const response: fc.Arbitrary<ChatResponse> = fc.record({
  id: name,
  model: name,
  text: word,
  reasoning: fc.option(word, { nil: undefined }),
  calls: fc.array(
    fc.record({ id: ownId, name, arguments: argumentsJson, signature: fc.option(signature, { nil: undefined }) }),
    { maxLength: 3 }
  ),
  signature: fc.option(signature, { nil: undefined }),
  // `stop` with calls is `tool_calls`: Gemini says `STOP` for both.
  reason: fc.constantFrom<FinishReason>("stop", "length", "content_filter", "other"),
  prompt: count,
  candidates: count,
  thoughts: count,
  cached: count
}).map((r): ChatResponse => {
  const toolCalls = r.calls.map((call): ToolCall => ({
    id: call.id,
    name: call.name,
    arguments: call.arguments,
    // Gemini's call ids come back in the metadata, to be sent back.
    providerMetadata: gemini(
      call.signature === undefined ? { id: call.id } : { thoughtSignature: call.signature, id: call.id }
    )
  }))
  // A reply's signature rides on its text part, which a reply of calls alone has none of.
  const signed = r.signature !== undefined && (r.text !== "" || toolCalls.length === 0)
  return {
    id: r.id,
    model: r.model,
    provider: "gemini",
    text: r.text,
    ...(r.reasoning !== undefined ? { reasoning: r.reasoning } : {}),
    toolCalls,
    finishReason: r.reason === "stop" && toolCalls.length > 0 ? "tool_calls" : r.reason,
    usage: {
      promptTokens: r.prompt + r.cached,
      completionTokens: r.candidates + r.thoughts,
      totalTokens: r.prompt + r.cached + r.candidates + r.thoughts,
      cachedPromptTokens: r.cached,
      reasoningTokens: r.thoughts,
      estimated: false
    },
    ...(signed ? { providerMetadata: gemini({ thoughtSignature: r.signature! }) } : {}),
    latency: Duration.millis(5)
  }
})

const isGenerateContentResponse = Schema.is(Codec.GenerateContentResponse)

// A call as a reply reads it: a signed one keeps the digest of the arguments it came with (their JSON, keys sorted).
const asRead = (call: ToolCall): ToolCall => {
  const meta = Codec.metadataOf(call.providerMetadata)
  if (meta?.thoughtSignature === undefined) return call
  const signedArguments = createHash("sha256").update(canonicalJson(JSON.parse(call.arguments))).digest("base64url")
  return { ...call, providerMetadata: gemini({ ...meta, signedArguments }) }
}

const context = { ...streamContext("gemini"), maxEventSize: undefined }

describe("wire/gemini/codec: the reply both ways", () => {
  it("a reply written as a GenerateContentResponse reads back as itself", () => {
    fc.assert(fc.property(response, (original) => {
      const body: unknown = JSON.parse(Codec.response(original, original.id, original.model))
      expect(isGenerateContentResponse(body)).toBe(true)
      if (!isJsonObject(body)) return
      const candidate = Codec.candidateOf(body)
      expect(candidate).toBeDefined()
      expect(Codec.reply(body, candidate!)).toEqual({
        id: original.id,
        model: original.model,
        text: original.text,
        reasoning: original.reasoning,
        toolCalls: original.toolCalls.map(asRead),
        finishReason: original.finishReason,
        usage: original.usage,
        providerMetadata: original.providerMetadata
      })
    }))
  })

  it("a reply streamed by the gateway's chunks reads back, through the client's parser, as itself", () => {
    fc.assert(fc.property(response, (original) => {
      const { bytes } = streamEncoder(original.id, original.model).batch(fromResponse(original))
      const events = new TextDecoder().decode(bytes).split("\r\n\r\n").filter((event) => event !== "")
      for (const event of events) expect(isGenerateContentResponse(JSON.parse(event.slice("data: ".length)))).toBe(true)
      const parser = new GeminiStreamParser(context)
      const out: Array<ChatChunk> = []
      expect(parser.push([bytes], out)).toBeUndefined()
      expect(parser.end(out)).toBeUndefined()
      const accumulator = makeAccumulator()
      for (const chunk of out) accumulator.add(chunk)
      const read = accumulator.response()
      expect(read).toMatchObject({
        id: original.id,
        model: original.model,
        text: original.text,
        toolCalls: original.toolCalls,
        finishReason: original.finishReason,
        usage: original.usage
      })
      // A stream has no thought part unless there was reasoning to send, and an empty one sends none.
      expect(read?.reasoning).toEqual(original.reasoning === "" ? undefined : original.reasoning)
      expect(read?.providerMetadata).toEqual(original.providerMetadata)
    }))
  })
})

describe("wire/gemini/codec: the ids of calls Gemini gave none", () => {
  // Replies of one conversation: each its responseId (any text, as Gemini's are opaque) and calls without ids.
  const replies = fc.uniqueArray(
    fc.record({
      id: fc.string({ minLength: 1, maxLength: 12 }),
      calls: fc.array(name, { minLength: 1, maxLength: 3 })
    }),
    { minLength: 2, maxLength: 4, selector: (reply) => reply.id }
  ).filter((drawn) => new Set(drawn.map((reply) => reply.id.replaceAll(/[^A-Za-z0-9_-]/g, "_"))).size === drawn.length)

  // The call ids a reply reads as, whole and streamed.
  const readIds = (responseId: string, calls: ReadonlyArray<string>) => {
    const body = {
      responseId,
      candidates: [{ content: { role: "model", parts: calls.map((call) => ({ functionCall: { name: call } })) } }]
    }
    const whole = Codec.reply(body, Codec.candidateOf(body)!).toolCalls.map((call) => call.id)
    const parser = new GeminiStreamParser(context)
    const out: Array<ChatChunk> = []
    expect(parser.push([new TextEncoder().encode(`data: ${JSON.stringify(body)}\r\n\r\n`)], out)).toBeUndefined()
    const streamed = out.flatMap((chunk) => chunk._tag === "ToolCallDelta" ? [chunk.id] : [])
    return { whole, streamed }
  }

  it("differ between the replies of a conversation, stream and whole alike, in the characters tool ids take", () => {
    fc.assert(fc.property(replies, (drawn) => {
      const ids = drawn.flatMap((reply) => {
        const { streamed, whole } = readIds(reply.id, reply.calls)
        expect(streamed).toStrictEqual(whole)
        return whole
      })
      // An agent keeps its history by call id, and Anthropic refuses a history whose tool_use ids repeat.
      expect(new Set(ids).size).toBe(ids.length)
      for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]+$/)
    }))
  })
})

// ---------------------------------------------------------------------------
// The hand readers against the schema

// Replies as a server may send them: the fields the library reads, and fields it does not know; `loose`, some of the
// read fields of the wrong type too.
function wireReply(loose: boolean) {
  const wrong = <A>(valid: fc.Arbitrary<A>, invalid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
    loose ? fc.oneof(valid, invalid) : valid
  const part = fc.record({
    text: wrong(word, fc.integer()),
    thought: fc.oneof(fc.boolean(), fc.constant(null)),
    thoughtSignature: fc.oneof(signature, fc.constant(null)),
    functionCall: fc.oneof(
      fc.record({ id: fc.oneof(ownId, fc.constant(null)), name: wrong(name, fc.integer()), args: fc.object() }, {
        requiredKeys: ["name"]
      }),
      fc.constant(null)
    ),
    executableCode: fc.record({ language: fc.constant("PYTHON"), code: word })
  }, { requiredKeys: [] })
  return fc.record({
    candidates: fc.oneof(
      fc.array(
        fc.record({
          content: fc.oneof(
            fc.record({ role: fc.constant("model"), parts: wrong(fc.array(part, { maxLength: 4 }), word) }, {
              requiredKeys: []
            }),
            fc.constant(null)
          ),
          finishReason: wrong(fc.constantFrom("STOP", "MAX_TOKENS", "SAFETY", "OTHER", "SPII"), fc.integer()),
          index: fc.nat(),
          safetyRatings: fc.array(fc.object(), { maxLength: 1 })
        }, { requiredKeys: [] }),
        { maxLength: 2 }
      ),
      fc.constant(null),
      wrong(fc.constant(null), word)
    ),
    usageMetadata: fc.record({
      promptTokenCount: count,
      candidatesTokenCount: count,
      thoughtsTokenCount: count,
      totalTokenCount: wrong(count, word)
    }, { requiredKeys: [] }),
    modelVersion: wrong(name, fc.integer()),
    responseId: name
  }, { requiredKeys: [] })
}

// What a reply says, read from the schema's typed value: the reference the hand reader is held to.
function expected(body: typeof Codec.GenerateContentResponse.Type) {
  const candidate = body.candidates?.[0]
  let text = ""
  let reasoning: string | undefined
  const names: Array<string> = []
  for (const part of candidate?.content?.parts ?? []) {
    if (typeof part.text === "string") {
      if (part.thought === true) reasoning = (reasoning ?? "") + part.text
      else text += part.text
    } else if (part.functionCall !== null && part.functionCall !== undefined) {
      names.push(part.functionCall.name)
    }
  }
  return {
    text,
    reasoning,
    names,
    finishReason: Codec.finishReason(candidate?.finishReason ?? undefined, names.length > 0)
  }
}

describe("wire/gemini/codec: the hand readers agree with the schema", () => {
  it("a reply the schema takes is read, as the schema reads it; one the reader refuses, the schema refuses", () => {
    fc.assert(fc.property(wireReply(true), (body) => {
      const accepted = isGenerateContentResponse(body)
      let read: ReturnType<typeof Codec.reply> | undefined
      try {
        const candidate = Codec.candidateOf(body)
        read = candidate === undefined ? undefined : Codec.reply(body, candidate)
      } catch (error) {
        expect(error).toBeInstanceOf(ShapeError)
        expect(accepted).toBe(false)
        return
      }
      if (!accepted || read === undefined) return
      const reference = expected(body)
      expect({
        text: read.text,
        reasoning: read.reasoning,
        names: read.toolCalls.map((call) => call.name),
        finishReason: read.finishReason
      }).toEqual(reference)
    }))
  })

  it("the client's stream parser reads every chunk the schema takes, as the whole-reply reader does", () => {
    fc.assert(fc.property(wireReply(false), (body) => {
      expect(isGenerateContentResponse(body)).toBe(true)
      if (!isJsonObject(body)) return
      const parser = new GeminiStreamParser(context)
      const out: Array<ChatChunk> = []
      expect(parser.push([new TextEncoder().encode(`data: ${JSON.stringify(body)}\n\n`)], out)).toBeUndefined()
      const candidate = Codec.candidateOf(body)
      if (candidate === undefined) return
      const whole = Codec.reply(body, candidate)
      let text = ""
      let reasoning: string | undefined
      const toolCalls: Array<ToolCall> = []
      for (const chunk of out) {
        if (chunk._tag === "TextDelta") text += chunk.text
        else if (chunk._tag === "ReasoningDelta") reasoning = (reasoning ?? "") + chunk.text
        else if (chunk._tag === "ToolCallDelta") {
          toolCalls.push({
            id: chunk.id!,
            name: chunk.name!,
            arguments: chunk.arguments,
            ...(chunk.providerMetadata !== undefined ? { providerMetadata: chunk.providerMetadata } : {})
          })
        }
      }
      expect({ text, reasoning: reasoning ?? "", toolCalls }).toEqual({
        text: whole.text,
        reasoning: whole.reasoning ?? "",
        toolCalls: whole.toolCalls
      })
    }))
  })
})

// ---------------------------------------------------------------------------
// The error body and the embeddings

describe("wire/gemini/codec: the error body and the embeddings", () => {
  it("an error body is google.rpc.Status, its status the code's name", () => {
    const isErrorBody = Schema.is(Codec.ErrorBody)
    fc.assert(fc.property(fc.integer({ min: 400, max: 599 }), word, (code, message) => {
      const body: unknown = JSON.parse(Codec.errorJson(code, message, [{ "@type": "x", reason: "R" }]))
      expect(isErrorBody(body)).toBe(true)
      expect(body).toMatchObject({ error: { code, message, status: Codec.statusName(code) } })
      expect(Codec.isErrorPayload(body as JsonObject)).toBe(true)
    }))
  })

  // JSON has no -0.
  const vectors = fc.array(
    fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x + 0), { maxLength: 4 }),
    {
      minLength: 1,
      maxLength: 4
    }
  )

  it("a batch of texts written for the wire reads back as the request", () => {
    const isBatch = Schema.is(Embeddings.BatchEmbedContentsRequest)
    fc.assert(fc.property(
      fc.array(word, { minLength: 1, maxLength: Embeddings.maxEmbeddingInputs }),
      fc.option(fc.integer({ min: 1, max: 3072 }), { nil: undefined }),
      (input, dimensions) => {
        const body: unknown = JSON.parse(JSON.stringify(Embeddings.embeddingBody("models/m", input, dimensions)))
        expect(isBatch(body)).toBe(true)
        if (!isBatch(body)) return
        expect(body.requests.every((request) => request.model === "models/m")).toBe(true)
        expect(Result.getOrThrow(Embeddings.toEmbeddingRequest(body.requests))).toEqual(
          dimensions === undefined ? { input } : { input, dimensions }
        )
      }
    ))
  })

  it("vectors written as a reply read back as themselves", () => {
    const isBatch = Schema.is(Embeddings.BatchEmbedContentsResponse)
    const isOne = Schema.is(Embeddings.EmbedContentResponse)
    fc.assert(fc.property(vectors, (original) => {
      const batch: unknown = JSON.parse(Embeddings.embeddingReply(original, false))
      expect(isBatch(batch)).toBe(true)
      expect(Embeddings.readEmbeddings(batch as JsonObject)).toEqual(Result.succeed({ embeddings: original }))
      const one: unknown = JSON.parse(Embeddings.embeddingReply(original, true))
      expect(isOne(one)).toBe(true)
      expect(one).toEqual({ embedding: { values: original[0] } })
    }))
  })
})
