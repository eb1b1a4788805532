import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import type { Input as ChatRequest, ToolChoice } from "../../src/ChatRequest.js"
import type { FinishReason, Usage } from "../../src/ChatResponse.js"
import { RequestError } from "../../src/internal/codecError.js"
import { ShapeError } from "../../src/internal/codecError.js"
import type { JsonObject } from "../../src/internal/json.js"
import { Refused } from "../../src/internal/schemaCheck.js"
import * as BedrockRequest from "../../src/internal/simulator/bedrock/request.js"
import { defaultMaxTokens } from "../../src/internal/wire/anthropic/options.js"
import * as AnthropicRequest from "../../src/internal/wire/anthropic/request.js"
import { thinkingBudgets } from "../../src/internal/wire/anthropic/request.js"
import * as Codec from "../../src/internal/wire/bedrock/codec.js"
import * as Writer from "../../src/internal/wire/bedrock/writer.js"
import type { EventSink } from "../../src/internal/wire/eventSink.js"
import { outputTool } from "../../src/internal/wire/outputTool.js"
import type { CacheBreakpoint, ContentPart, Message, ToolCall, ToolDefinition } from "../../src/Message.js"
import {
  breakpointsIn,
  lifetimesIn,
  lifetimesInOrder,
  sentLifetimes,
  withoutBreakpoints
} from "../utils/breakpoints.js"

// A text Converse takes: not blank (the encoder leaves a blank one out, `wire/emptyText.ts`).
const word = fc.string({ minLength: 1, maxLength: 6 }).filter((text) => text.trim() !== "")
const blank = fc.constantFrom("", " ", "\n\t")
const name = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,11}$/)
const toolUseId = fc.stringMatching(/^tooluse_[a-zA-Z0-9]{1,8}$/)
const argumentsJson = fc.dictionary(name, fc.oneof(fc.integer(), word, fc.boolean()), { maxKeys: 3 })
  .map((args) => JSON.stringify(args))
const cache = fc.option(fc.constantFrom<CacheBreakpoint>({}, { ttl: "5m" }, { ttl: "1h" }), { nil: undefined })
const withCache = <A extends object>(value: A, mark: CacheBreakpoint | undefined): A =>
  mark === undefined ? value : { ...value, cache: mark }

// ---------------------------------------------------------------------------
// The request

// An image as a base64 data URL of one of Converse's formats.
const imagePart: fc.Arbitrary<ContentPart> = fc.tuple(
  fc.constantFrom("png", "jpeg", "gif", "webp"),
  fc.base64String({ minLength: 4, maxLength: 12 })
).map(([format, data]): ContentPart => ({ type: "image", url: `data:image/${format};base64,${data}` }))

// A document of a format the library carries: untitled, or titled with a name Converse takes (among them the names
// an untitled one is given by default, and titles two documents of a request may share).
const documentPart: fc.Arbitrary<ContentPart> = fc.tuple(
  fc.constantFrom("application/pdf", "text/plain", "text/markdown", "text/csv", "text/html"),
  fc.base64String({ minLength: 4, maxLength: 12 }),
  fc.option(
    fc.oneof(
      fc.stringMatching(/^[A-Za-z0-9()[\]-]{1,8}( [A-Za-z0-9-]{1,8})?$/),
      fc.constantFrom("document 1", "document 2", "Q3 report")
    ),
    { nil: undefined }
  )
).map(([type, data, title]): ContentPart => ({
  type: "image",
  url: `data:${type};base64,${data}`,
  ...(title === undefined ? {} : { document: { title } })
}))

const isDocument = (part: ContentPart): part is ContentPart & { readonly type: "image" } =>
  part.type === "image" && !part.url.startsWith("data:image/")

// The document parts of a request's messages, in order.
const documentsOf = (request: ChatRequest) =>
  request.messages.flatMap((message) =>
    (message.role === "user" || message.role === "tool") && typeof message.content !== "string"
      ? message.content.filter(isDocument)
      : []
  )

// The names of a Converse body's documents, in order (a user turn's and a tool result's).
const writtenNames = (body: JsonObject): Array<string> =>
  JSON.stringify(body).match(/"document":\{"format":"[a-z]+","name":"[^"]*"/g)?.map((block) =>
    JSON.parse(`${block.slice(block.indexOf("\"name\":") + 7)}`) as string
  ) ?? []

// `request` with its untitled documents titled, in order, by `names` (a titled one keeps its title).
const titledBy = (request: ChatRequest, names: ReadonlyArray<string>): ChatRequest => {
  let n = 0
  const title = (part: ContentPart): ContentPart => {
    if (!isDocument(part)) return part
    const name = names[n++]!
    return part.document?.title === undefined ? { ...part, document: { title: name } } : part
  }
  return {
    ...request,
    messages: request.messages.map((message): Message =>
      (message.role === "user" || message.role === "tool") && typeof message.content !== "string"
        ? { ...message, content: message.content.map(title) } as Message
        : message
    )
  }
}

// What a user turn can hold and read back as itself: text, images and documents.
const userPart: fc.Arbitrary<ContentPart> = fc.tuple(
  fc.oneof(word.map((text): ContentPart => ({ type: "text", text })), imagePart, documentPart),
  cache
).map(([part, mark]) => withCache(part, mark))

// One text part without a cache point reads back as a string.
const userContent: fc.Arbitrary<string | ReadonlyArray<ContentPart>> = fc.oneof(
  word,
  fc.array(userPart, { minLength: 1, maxLength: 3 }).filter((parts) =>
    parts.length > 1 || parts[0]!.type === "image" || parts[0]!.cache !== undefined
  )
)

// A tool result: its text; or its blocks, some of them media (text alone reads back as a string): images and
// documents, as a user turn's.
const resultPart: fc.Arbitrary<ContentPart> = fc.oneof(
  word.map((text): ContentPart => ({ type: "text", text })),
  imagePart,
  documentPart
)
const toolResult: fc.Arbitrary<string | ReadonlyArray<ContentPart>> = fc.oneof(
  argumentsJson,
  fc.array(resultPart, { minLength: 1, maxLength: 3 }).filter((parts) => parts.some((part) => part.type === "image"))
)

const calls: fc.Arbitrary<ReadonlyArray<ToolCall>> = fc.uniqueArray(
  fc.record({ id: toolUseId, name, arguments: argumentsJson }).map((call): ToolCall => ({ ...call })),
  { minLength: 1, maxLength: 3, selector: (call) => call.id }
)

const signature = fc.base64String({ minLength: 4, maxLength: 16 })

// A step: a user turn, then a model turn of text (maybe with signed reasoning), or of calls answered one by one
// (and maybe a user message in the results' turn).
const step: fc.Arbitrary<ReadonlyArray<Message>> = fc.tuple(
  userContent,
  fc.oneof(
    fc.record({ content: word, reasoning: fc.option(fc.tuple(word, signature), { nil: undefined }), mark: cache }).map(
      ({ content, mark, reasoning }): ReadonlyArray<Message> => [
        withCache(
          reasoning === undefined
            ? { role: "assistant", content }
            : {
              role: "assistant",
              content,
              reasoning: reasoning[0],
              providerMetadata: Codec.replyMetadata(reasoning[1])!
            },
          mark
        )
      ]
    ),
    fc.tuple(fc.constantFrom("", "Let me look."), calls, fc.array(fc.tuple(toolResult, cache), { minLength: 3 }))
      .map(
        ([content, toolCalls, results]): ReadonlyArray<Message> => [
          { role: "assistant", content, toolCalls },
          ...toolCalls.map((call, i): Message =>
            withCache({ role: "tool", toolCallId: call.id, content: results[i]![0] }, results[i]![1])
          )
        ]
      )
  )
).map(([content, model]): ReadonlyArray<Message> => [{ role: "user", content }, ...model])

const tool: fc.Arbitrary<ToolDefinition> = fc.record({
  name,
  description: fc.option(word, { nil: undefined }),
  parameters: fc.constant({ type: "object", properties: { city: { type: "string" } } }),
  mark: cache
}).map(({ description, mark, name, parameters }) =>
  withCache(description === undefined ? { name, parameters } : { name, description, parameters }, mark)
)

const fallbackTool: ToolDefinition = { name: "lookup", parameters: { type: "object" } }

const formatSchema = { type: "object", properties: { answer: { type: "integer" } }, required: ["answer"] }

const request: fc.Arbitrary<ChatRequest> = fc.record({
  system: fc.array(fc.tuple(word, cache), { maxLength: 2 }),
  steps: fc.array(step, { minLength: 1, maxLength: 3 }),
  maxTokens: fc.option(fc.integer({ min: 1, max: 4096 }), { nil: undefined }),
  temperature: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  topP: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  stop: fc.option(fc.array(word, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  tools: fc.option(fc.array(tool, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  toolChoice: fc.option(
    fc.oneof(fc.constantFrom<ToolChoice>("auto", "required"), name.map((tool): ToolChoice => ({ tool }))),
    { nil: undefined }
  ),
  format: fc.option(fc.record({ name, description: fc.option(word, { nil: undefined }) }), { nil: undefined })
}).map((drawn) => {
  const out: { -readonly [K in keyof ChatRequest]: ChatRequest[K] } = {
    messages: [
      ...drawn.system.map(([content, mark]): Message => withCache({ role: "system", content }, mark)),
      ...drawn.steps.flat()
    ],
    model: "anthropic.claude-3-5-haiku-20241022-v1:0"
  }
  if (drawn.maxTokens !== undefined) out.maxTokens = drawn.maxTokens
  if (drawn.temperature !== undefined) out.temperature = drawn.temperature
  if (drawn.topP !== undefined) out.topP = drawn.topP
  if (drawn.stop !== undefined) out.stop = drawn.stop
  // A tool choice goes in the tool configuration: with tools only; a json_schema format only without them. A history
  // of tool calls comes with a tool to call (without one, the calls go as text: a test of its own).
  const calls = out.messages.some((message) => message.role === "tool")
  const tools = drawn.tools ?? (calls && drawn.format === undefined ? [fallbackTool] : undefined)
  if (tools !== undefined) {
    out.tools = tools
    if (drawn.toolChoice !== undefined) out.toolChoice = drawn.toolChoice
  } else if (drawn.format !== undefined) {
    const { description, name } = drawn.format
    out.responseFormat = {
      type: "json_schema",
      name,
      schema: formatSchema,
      ...(description !== undefined ? { description } : {})
    }
  }
  return out
})

/** The body as it crosses the wire, checked by the schema the simulator reads it with. */
const readBack = (body: JsonObject, model: string) => {
  const checked = Codec.checkConverse(JSON.parse(JSON.stringify(body)))
  if (Result.isFailure(checked)) throw new Error(`refused: ${JSON.stringify(checked.failure.refusals)}`)
  return Result.getOrThrow(Codec.toRequest(checked.success, model))
}

describe("Bedrock Converse codec", () => {
  it("a request written and read back is itself, its untitled documents named once each; a json_schema format reads back as its forced tool", () => {
    fc.assert(fc.property(request, (drawn) => {
      // Of more breakpoints, the last four are sent (below).
      fc.pre(breakpointsIn(drawn) <= 4)
      // A breakpoint of an hour after a shorter one is sent for five minutes (below).
      fc.pre(lifetimesInOrder(drawn))
      const titles = documentsOf(drawn).flatMap((part) => part.document?.title ?? [])
      const repeated = titles.find((title, i) => titles.indexOf(title) < i)
      if (repeated !== undefined) {
        // Converse takes a name once in a request: a title given twice is refused, by the second one's path.
        expect(() => Codec.requestBody(drawn)).toThrow(expect.objectContaining({
          param: expect.stringMatching(/^messages\[\d+\]\.content\[\d+\]\.document\.title$/),
          detail: expect.stringContaining(`"${repeated}" names the document at messages[`)
        }))
        return
      }
      const { responseFormat, ...rest } = drawn
      const forced = outputTool(drawn, "Bedrock")
      const body = Codec.requestBody(drawn)
      const names = writtenNames(body)
      expect(names).toHaveLength(documentsOf(drawn).length)
      expect(new Set(names).size).toBe(names.length)
      expect(readBack(body, drawn.model!)).toStrictEqual(
        titledBy(forced === undefined ? drawn : { ...rest, tools: [forced], toolChoice: { tool: forced.name } }, names)
      )
      expect(forced === undefined).toBe(responseFormat === undefined)
    }))
  })

  it("messages of one role in a row share a turn, as Converse wants the roles to alternate", () => {
    const body = Codec.requestBody({
      messages: [
        { role: "user", content: "environment" },
        { role: "system", content: "Be brief." },
        { role: "user", content: "prompt" },
        { role: "assistant", content: "one" },
        { role: "assistant", content: "two" },
        { role: "user", content: "again" }
      ]
    })
    expect(body["messages"]).toEqual([
      { role: "user", content: [{ text: "environment" }, { text: "prompt" }] },
      { role: "assistant", content: [{ text: "one" }, { text: "two" }] },
      { role: "user", content: [{ text: "again" }] }
    ])
  })

  it("a breakpoint's lifetime is the cachePoint's ttl; one of an hour after a shorter one is sent without", () => {
    fc.assert(fc.property(request, (drawn) => {
      fc.pre(breakpointsIn(drawn) <= 4)
      const titles = documentsOf(drawn).flatMap((part) => part.document?.title ?? [])
      fc.pre(new Set(titles).size === titles.length)
      const body = Codec.requestBody(drawn)
      const sent = Codec.cachePointBlocks(body).map(([list, i]) => (list[i] as { cachePoint: { ttl?: string } }))
      expect(sent.map((block) => block.cachePoint.ttl)).toEqual(sentLifetimes(lifetimesIn(drawn)))
    }))
  })

  it("of more than four breakpoints, the last four cachePoints (tools, system, messages, in order) are sent", () => {
    const body = Codec.requestBody({
      messages: [
        { role: "system", content: "Rules", cache: {} },
        { role: "user", content: ["a", "b", "c"].map((text) => ({ type: "text" as const, text, cache: {} })) }
      ],
      tools: ["f", "g"].map((name) => ({ name, parameters: { type: "object" }, cache: {} }))
    })
    const point = { cachePoint: { type: "default" } }
    expect((body["toolConfig"] as { tools: ReadonlyArray<unknown> }).tools).not.toContainEqual(point)
    expect(body["system"]).toEqual([{ text: "Rules" }, point])
    expect((body["messages"] as ReadonlyArray<{ content: unknown }>)[0]!.content).toEqual([
      { text: "a" },
      point,
      { text: "b" },
      point,
      { text: "c" },
      point
    ])
  })

  it("untitled documents are named once each across the request, past the titles it gives; a repeated name is refused", () => {
    const doc = (title?: string): ContentPart => ({
      type: "image",
      url: "data:application/pdf;base64,JVBERi0=",
      ...(title === undefined ? {} : { document: { title } })
    })
    const ask = (...contents: ReadonlyArray<ReadonlyArray<ContentPart>>): ChatRequest => ({
      messages: contents.flatMap((content, i): ReadonlyArray<Message> => [
        ...(i === 0 ? [] : [{ role: "assistant" as const, content: "Noted." }]),
        { role: "user", content }
      ])
    })
    expect(writtenNames(Codec.requestBody(ask([doc()], [doc()])))).toStrictEqual(["document 1", "document 2"])
    expect(writtenNames(Codec.requestBody(ask([doc(), doc("document 1")], [doc(), doc("document 3")]))))
      .toStrictEqual(["document 2", "document 1", "document 4", "document 3"])
    expect(() => Codec.requestBody(ask([doc("Q3 report")], [doc(), doc("Q3 report")]))).toThrow(
      expect.objectContaining({
        param: "messages[2].content[1].document.title",
        detail: "messages[2].content[1].document.title: \"Q3 report\" names the document at " +
          "messages[0].content[0].document.title too; Converse takes each document name once in a request"
      })
    )
    expect(() => Codec.requestBody(ask([doc("x".repeat(201))]))).toThrow(
      expect.objectContaining({ param: "messages[0].content[0].document.title" })
    )
    expect(writtenNames(Codec.requestBody(ask([doc("x".repeat(200))])))).toStrictEqual(["x".repeat(200)])
    // Read, a name given twice is refused as Converse refuses it, by the second one's path.
    const block = { document: { format: "pdf", name: "Q3 report", source: { bytes: "JVBERi0=" } } }
    const checked = Codec.checkConverse({
      messages: [
        { role: "user", content: [block] },
        { role: "assistant", content: [{ text: "Noted." }] },
        { role: "user", content: [{ text: "And:" }, block] }
      ]
    })
    expect(Codec.toRequest(Result.getOrThrow(checked), "m")).toMatchObject({
      failure: {
        param: "messages[2].content[1].document.name",
        message: expect.stringContaining("names the document at messages[0].content[0].document.name too")
      }
    })
  })

  it("a json_schema format is the only tool, forced, its schema the input schema; described when the format is not", () => {
    const body = Codec.requestBody({
      messages: [{ role: "user", content: "x" }],
      responseFormat: { type: "json_schema", name: "answer", schema: formatSchema }
    })
    expect(body["toolConfig"]).toStrictEqual({
      tools: [{
        toolSpec: {
          name: "answer",
          description: "Give the answer as this tool's input, which follows the required schema.",
          inputSchema: { json: formatSchema }
        }
      }],
      toolChoice: { tool: { name: "answer" } }
    })
  })

  it("to a model that takes it, a json_schema format is outputConfig.textFormat beside the tools and thinking, read back as sent", () => {
    expect(Codec.takesTextFormat("us.anthropic.claude-sonnet-4-5-20250929-v1:0")).toBe(true)
    expect(Codec.takesTextFormat("anthropic.claude-opus-4-1-20250805-v1:0")).toBe(true)
    expect(Codec.takesTextFormat("anthropic.claude-3-5-haiku-20241022-v1:0")).toBe(false)
    expect(Codec.takesTextFormat("amazon.nova-micro-v1:0")).toBe(false)
    const model = "us.anthropic.claude-sonnet-5-1-v1:0"
    fc.assert(
      fc.property(
        fc.array(tool, { maxLength: 2 }),
        name,
        fc.option(word, { nil: undefined }),
        fc.boolean(),
        (tools, formatName, description, thinking) => {
          const responseFormat = {
            type: "json_schema" as const,
            name: formatName,
            schema: formatSchema,
            ...(description === undefined ? {} : { description })
          }
          const asked: ChatRequest = {
            messages: [{ role: "user", content: "x" }],
            ...(tools.length === 0 ? {} : { tools }),
            ...(thinking ? { reasoningEffort: "low" as const } : {}),
            responseFormat
          }
          const body = Codec.requestBody(asked, { claude: true, textFormat: true })
          const { textFormat } = body["outputConfig"] as {
            readonly textFormat: { readonly structure: { readonly jsonSchema: { readonly schema: string } } }
          }
          const jsonSchema = textFormat.structure.jsonSchema
          expect(typeof jsonSchema.schema).toBe("string")
          expect(JSON.parse(jsonSchema.schema)).toStrictEqual(formatSchema)
          expect(body["toolConfig"] === undefined).toBe(tools.length === 0)
          const additional = body["additionalModelRequestFields"] as JsonObject | undefined
          expect(additional?.["thinking"] !== undefined).toBe(thinking)
          const read = readBack(body, model)
          expect(read.responseFormat).toStrictEqual(responseFormat)
          expect(read.tools?.map((each) => each.name)).toStrictEqual(
            tools.length === 0 ? undefined : tools.map((each) => each.name)
          )
        }
      )
    )
    // Its reply is the text: no forced tool to read it from.
    expect(
      Codec.forcedOutputTool(
        { messages: [], responseFormat: { type: "json_schema", name: "a", schema: formatSchema } },
        model
      )
    )
      .toBeUndefined()
  })

  it("a prompt cache key to Claude, or cacheConversations, is a cache point after the last turn's last block, where the request has none", () => {
    fc.assert(
      fc.property(request, fc.boolean(), fc.boolean(), fc.boolean(), (marked, unmarked, claude, everyConversation) => {
        // Half the requests without a cache point of their own (the drawn ones nearly always have one).
        const drawn = unmarked ? withoutBreakpoints(marked) : marked
        const titles = documentsOf(drawn).flatMap((part) => part.document?.title ?? [])
        fc.pre(new Set(titles).size === titles.length)
        const keyed = everyConversation
          ? Codec.requestBody(drawn, { claude, cacheConversations: true })
          : Codec.requestBody({ ...drawn, promptCacheKey: "conversation-1" }, { claude })
        const plain = Codec.requestBody(drawn, { claude })
        const turns = plain["messages"] as ReadonlyArray<{ readonly content: ReadonlyArray<JsonObject> }>
        const last = turns.at(-1)?.content.at(-1)
        const added = claude && Codec.cachePointBlocks(plain).length === 0 && last !== undefined &&
          last["reasoningContent"] === undefined
        if (!added) {
          expect(keyed).toStrictEqual(plain)
        } else {
          const keyedTurns = keyed["messages"] as typeof turns
          expect(keyedTurns.slice(0, -1)).toStrictEqual(turns.slice(0, -1))
          const cached = [...turns.at(-1)!.content, { cachePoint: { type: "default" } }]
          expect(keyedTurns.at(-1)!.content).toStrictEqual(cached)
          expect(Codec.cachePointBlocks(keyed)).toHaveLength(1)
        }
      })
    )
  })

  it("an outputConfig schema that is not a JSON object's string is refused, naming it", () => {
    for (const schema of ["{not json", "[1]", "\"text\""]) {
      const checked = Codec.checkConverse({
        messages: [{ role: "user", content: [{ text: "x" }] }],
        outputConfig: { textFormat: { type: "json_schema", structure: { jsonSchema: { schema } } } }
      })
      expect(Codec.toRequest(Result.getOrThrow(checked), "m")).toMatchObject({
        failure: { param: "outputConfig.textFormat.structure.jsonSchema.schema" }
      })
    }
  })

  const weatherLoop: ReadonlyArray<Message> = [
    { role: "user", content: "Weather?" },
    { role: "assistant", content: "", toolCalls: [{ id: "t1", name: "get", arguments: "{\"city\":\"Oslo\"}" }] },
    { role: "tool", toolCallId: "t1", content: "sunny" },
    { role: "user", content: "And tomorrow?" }
  ]
  const get: ToolDefinition = { name: "get", parameters: { type: "object" } }

  it("tool results and the user message after them share one user turn; roles alternate", () => {
    const body = Codec.requestBody({ messages: weatherLoop, tools: [get] })
    expect(body["messages"]).toStrictEqual([
      { role: "user", content: [{ text: "Weather?" }] },
      { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "get", input: { city: "Oslo" } } }] },
      {
        role: "user",
        content: [{ toolResult: { toolUseId: "t1", content: [{ text: "sunny" }] } }, { text: "And tomorrow?" }]
      }
    ])
  })

  it("messages of one role in a row (Codex's instructions and prompt, replies in parts) join one turn, in order", () => {
    // Any run of user and assistant messages after the system's, starting with the user's; blank ones among them
    // (a client's empty message, or one of white space), which are left out, as Converse refuses a blank text.
    const text = fc.oneof(word, blank)
    const conversation = fc.tuple(
      fc.array(text, { maxLength: 2 }),
      fc.array(fc.tuple(fc.constantFrom<"user" | "assistant">("user", "assistant"), text), { maxLength: 8 }),
      word
    ).map(([system, rest, first]): ReadonlyArray<Message> => [
      ...system.map((content): Message => ({ role: "system", content })),
      { role: "user", content: first },
      ...rest.map(([role, content]): Message => ({ role, content }))
    ])
    fc.assert(fc.property(conversation, (messages) => {
      const body = Codec.requestBody({ messages })
      // Converse's rules, as the simulator holds a request to them: it starts with a user turn and alternates.
      expect(Result.isSuccess(BedrockRequest.decode(JSON.parse(JSON.stringify(body)), { modelId: "m" }))).toBe(true)
      const turns = body["messages"] as ReadonlyArray<{ role: string; content: ReadonlyArray<{ text: string }> }>
      expect(turns.flatMap((turn) => turn.content.map((block) => [turn.role, block.text]))).toStrictEqual(
        messages.filter((message) => message.role !== "system" && (message.content as string).trim() !== "")
          .map((message) => [message.role, message.content])
      )
    }))
  })

  it("with no tool to call (none offered, or a none choice), the history's calls and results go as text", () => {
    const requests: ReadonlyArray<ChatRequest> = [
      { messages: weatherLoop },
      { messages: weatherLoop, tools: [get], toolChoice: "none" }
    ]
    for (const request of requests) {
      const body = Codec.requestBody(request)
      // Converse refuses toolUse and toolResult blocks without a toolConfig, and has no choice that calls none.
      expect(body).not.toHaveProperty("toolConfig")
      expect(body["messages"]).toStrictEqual([
        { role: "user", content: [{ text: "Weather?" }] },
        { role: "assistant", content: [{ text: "[called tool get (t1) with {\"city\":\"Oslo\"}]" }] },
        { role: "user", content: [{ text: "[result of tool call t1]\nsunny" }, { text: "And tomorrow?" }] }
      ])
    }
  })

  it("refuses what Converse cannot take: an https image, a json_schema format with tools; json_object is not sent", () => {
    function refusal(request: ChatRequest): RequestError {
      try {
        Codec.requestBody(request)
      } catch (error) {
        if (error instanceof RequestError) return error
        throw error
      }
      throw new Error("not refused")
    }
    const image = refusal({ messages: [{ role: "user", content: [{ type: "image", url: "https://x.test/a.png" }] }] })
    expect(image.param).toBe("messages[0].content[0].url")
    const withTools = refusal({
      messages: [{ role: "user", content: "x" }],
      tools: [{ name: "get", parameters: { type: "object" } }],
      responseFormat: { type: "json_schema", name: "answer", schema: formatSchema }
    })
    expect(withTools.param).toBe("responseFormat")
    expect(withTools.detail).toContain("sent to Bedrock as a forced tool")
    expect(Codec.requestBody({ messages: [{ role: "user", content: "x" }], responseFormat: { type: "json_object" } }))
      .toStrictEqual({ messages: [{ role: "user", content: [{ text: "x" }] }] })
  })

  it("Claude's thinking is sent with the budget and maxTokens Anthropic's Messages body has: without maxTokens, the budget plus Anthropic's default", () =>
    fc.assert(fc.property(
      fc.constantFrom(...Object.keys(thinkingBudgets) as Array<keyof typeof thinkingBudgets>),
      fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
      (effort, maxTokens) => {
        const request: ChatRequest = {
          messages: [{ role: "user", content: "x" }],
          reasoningEffort: effort,
          ...(maxTokens === undefined ? {} : { maxTokens })
        }
        const anthropic = AnthropicRequest.requestBody(request, {
          model: "claude-sonnet-4-5",
          stream: false,
          maxTokens: defaultMaxTokens,
          systemInPlace: false
        })
        const body = Codec.requestBody(request, { claude: true })
        const thinking = (body["additionalModelRequestFields"] as JsonObject | undefined)?.["thinking"]
        expect(thinking).toStrictEqual(anthropic["thinking"])
        expect((body["inferenceConfig"] as JsonObject | undefined)?.["maxTokens"])
          .toBe(thinking === undefined ? maxTokens : anthropic["max_tokens"])
      }
    )))

  it("tool choice none sends no tools", () => {
    const tools = [{ name: "get", parameters: { type: "object" } }]
    expect(Codec.requestBody({ messages: [{ role: "user", content: "x" }], tools, toolChoice: "none" })).not
      .toHaveProperty("toolConfig")
  })

  it("a tool result's medium Converse does not take there, or no dialect carries, is refused by its path", () => {
    const body = (document: Record<string, unknown>) =>
      Codec.checkConverse({
        messages: [
          { role: "user", content: [{ text: "Fetch it." }] },
          { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "fetch", input: {} } }] },
          {
            role: "user",
            content: [{
              toolResult: { toolUseId: "t1", content: [{ text: "Here:" }, { document }] }
            }]
          }
        ]
      })
    // The request, or the refusal of the mapping (told apart by their fields).
    const read = (document: Record<string, unknown>) =>
      Result.merge(Codec.toRequest(Result.getOrThrow(body(document)), "m"))
    expect(read({ format: "pdf", name: "Q3 report", source: { bytes: "JVBERi0=" } })).toMatchObject({
      messages: [{}, {}, {
        role: "tool",
        content: [{ type: "text", text: "Here:" }, {
          type: "image",
          url: "data:application/pdf;base64,JVBERi0=",
          document: { title: "Q3 report" }
        }]
      }]
    })
    expect(read({ format: "docx", name: "Q3 report", source: { bytes: "UEsDBA==" } })).toMatchObject({
      param: "messages[2].content[0].toolResult.content[1].document.format"
    })
    const call = [
      { role: "user" as const, content: "Fetch it." },
      { role: "assistant" as const, content: "", toolCalls: [{ id: "t1", name: "fetch", arguments: "{}" }] }
    ]
    const write = (part: ContentPart) => () =>
      Codec.requestBody({
        messages: [...call, { role: "tool", toolCallId: "t1", content: [part] }],
        tools: [{ name: "fetch", parameters: { type: "object" } }]
      })
    expect(write({ type: "image", url: "data:audio/wav;base64,UklGRg==" })).toThrow(
      expect.objectContaining({ param: "messages[2].content[0]" })
    )
    expect(write({ type: "image", url: "data:application/pdf;base64,JVBERi0=", document: { title: "a/b" } })).toThrow(
      expect.objectContaining({ param: "messages[2].content[0].document.title" })
    )
    expect(write({ type: "image", url: "https://example.com/report.pdf" })).toThrow(
      expect.objectContaining({ param: "messages[2].content[0].url" })
    )
    expect(write({ type: "image", url: "data:application/pdf;base64,JVBERi0=" })()).toMatchObject({
      messages: [{}, {}, {
        content: [{
          toolResult: {
            content: [{ document: { format: "pdf", name: "document 1", source: { bytes: "JVBERi0=" } } }]
          }
        }]
      }]
    })
  })

  it("a user turn's document is read and written as a tool result's; one Converse refuses, by its path", () => {
    // The request, or the refusal of the mapping (told apart by their fields).
    const read = (document: Record<string, unknown>) => {
      const checked = Codec.checkConverse({ messages: [{ role: "user", content: [{ text: "Read:" }, { document }] }] })
      return Result.merge(Codec.toRequest(Result.getOrThrow(checked), "m"))
    }
    const pdf = { type: "image", url: "data:application/pdf;base64,JVBERi0=", document: { title: "Q3 report" } }
    expect(read({ format: "pdf", name: "Q3 report", source: { bytes: "JVBERi0=" } })).toMatchObject({
      messages: [{ role: "user", content: [{ type: "text", text: "Read:" }, pdf] }]
    })
    expect(read({ format: "xlsx", name: "Q3 report", source: { bytes: "UEsDBA==" } })).toMatchObject({
      param: "messages[0].content[1].document.format"
    })
    expect(read({ format: "pdf", name: "Q3  report", source: { bytes: "JVBERi0=" } })).toMatchObject({
      param: "messages[0].content[1].document.name"
    })
    const write = (part: ContentPart) => () =>
      Codec.requestBody({ messages: [{ role: "user", content: [{ type: "text", text: "Read:" }, part] }] })
    expect(write(pdf as ContentPart)()).toMatchObject({
      messages: [{
        content: [{ text: "Read:" }, { document: { format: "pdf", name: "Q3 report", source: { bytes: "JVBERi0=" } } }]
      }]
    })
    expect(write({ ...pdf, document: { title: "report.pdf" } } as ContentPart)).toThrow(
      expect.objectContaining({ param: "messages[0].content[1].document.title" })
    )
    expect(write({ type: "image", url: "data:application/zip;base64,UEsDBA==" })).toThrow(
      expect.objectContaining({ param: "messages[0].content[1]" })
    )
    expect(write({ type: "image", url: "data:audio/wav;base64,UklGRg==" })).toThrow(
      expect.objectContaining({ param: "messages[0].content[1]" })
    )
  })

  it("a body of the wrong shape is a refusal naming its path", () => {
    const refused = Result.getOrThrow(Result.flip(Codec.checkConverse({ messages: [{ role: "system", content: [] }] })))
    expect(refused).toBeInstanceOf(Refused)
    expect(refused.refusals[0].path).toStrictEqual(["messages", 0, "role"])
  })
})

// ---------------------------------------------------------------------------
// The reply and the stream

const finishReason = fc.constantFrom<FinishReason>("stop", "length", "tool_calls", "content_filter")

const usage: fc.Arbitrary<Usage> = fc.record({
  input: fc.nat(5000),
  output: fc.nat(5000),
  read: fc.nat(5000),
  written: fc.option(fc.nat(5000), { nil: undefined })
}).map(({ input, output, read, written }) => {
  const promptTokens = input + read + (written ?? 0)
  const base: Usage = {
    promptTokens,
    completionTokens: output,
    totalTokens: promptTokens + output,
    cachedPromptTokens: read,
    reasoningTokens: 0,
    estimated: false
  }
  // The wire carries cache writes with cache reads: a reply that read its cache names the writes too.
  return written === undefined && read === 0 ? base : { ...base, cacheWriteTokens: written ?? 0 }
})

/** `text` cut at `points` (each taken modulo its length), in order: partial JSON as a stream sends it. */
function cut(text: string, points: ReadonlyArray<number>): ReadonlyArray<string> {
  const at = [...new Set(points.map((point) => point % (text.length + 1)))].sort((a, b) => a - b)
  return [...at, text.length].map((end, i) => text.slice(i === 0 ? 0 : at[i - 1], end)).filter((piece) => piece !== "")
}

const cuts = fc.array(fc.nat(60), { maxLength: 3 })

type Drawn = Codec.ReplyContent & {
  readonly pieces: ReadonlyArray<string>
  readonly calls: ReadonlyArray<ReadonlyArray<string>>
}

const content: fc.Arbitrary<Drawn> = fc.record({
  pieces: fc.array(word, { maxLength: 4 }),
  reasoning: fc.option(fc.tuple(fc.array(word, { minLength: 1, maxLength: 3 }), signature), { nil: undefined }),
  toolCalls: fc.array(fc.record({ id: toolUseId, name, arguments: argumentsJson, cuts }), { maxLength: 2 }),
  finishReason,
  usage
}).map(({ finishReason, pieces, reasoning, toolCalls, usage }) => ({
  pieces,
  text: pieces.join(""),
  toolCalls: toolCalls.map(({ cuts: _, ...call }) => call),
  calls: toolCalls.map((call) => cut(call.arguments, call.cuts)),
  finishReason,
  usage,
  ...(reasoning === undefined
    ? {}
    : { reasoning: reasoning[0].join(""), providerMetadata: Codec.replyMetadata(reasoning[1])! })
}))

/** The chunks of `events` read as they cross the wire, and the reader that kept the stream's end. */
function readStream(events: ReadonlyArray<Codec.StreamEvent>, outputTool?: string) {
  const reader = new Codec.StreamReader(outputTool)
  const chunks: Array<ChatChunk> = []
  for (const event of events) reader.read(event.type, JSON.parse(JSON.stringify(event.payload)), chunks)
  return { chunks, reader }
}

/** A reply as it is streamed: its text, reasoning and each tool call's input JSON in the pieces that are deltas. */
interface StreamPieces {
  readonly text: ReadonlyArray<string>
  readonly reasoning: ReadonlyArray<string>
  /** Per tool call of `content`, its `arguments` cut into partial JSON; a call without is one delta. */
  readonly calls?: ReadonlyArray<ReadonlyArray<string>> | undefined
}

/** A sink that keeps each event the writer writes as its name and its data's value. */
function eventObjects(): { readonly sink: EventSink; readonly events: Array<Codec.StreamEvent> } {
  const events: Array<Codec.StreamEvent> = []
  let type = ""
  let data = ""
  const add = (piece: string) => {
    data += piece
  }
  const sink: EventSink = {
    open: (name = "") => {
      type = name
      data = ""
    },
    template: add,
    text: add,
    json: (value) => add(JSON.stringify(value)),
    close: () => {
      events.push({ type, payload: JSON.parse(data) })
    },
    end: () => {}
  }
  return { sink, events }
}

/**
 * The events of a streamed reply written by the writer, each piece of `pieces` a delta of its own: the reasoning, the
 * text, then each tool call whole.
 */
function streamEvents(content: Codec.ReplyContent, pieces: StreamPieces, latencyMs: number) {
  const chunks: Array<ChatChunk> = []
  for (const text of pieces.reasoning) chunks.push({ _tag: "ReasoningDelta", text })
  for (const text of pieces.text) chunks.push({ _tag: "TextDelta", text })
  content.toolCalls.forEach((call, index) => {
    chunks.push({ _tag: "ToolCallDelta", index, id: call.id, name: call.name, arguments: "" })
    for (const input of pieces.calls?.[index] ?? [call.arguments]) {
      chunks.push({ _tag: "ToolCallDelta", index, arguments: input })
    }
  })
  chunks.push({ _tag: "Usage", usage: content.usage })
  // The writer reads the finish reason alone of the `Finish`.
  const finish = { finishReason: content.finishReason, id: "", model: "", provider: "bedrock" }
  chunks.push({ _tag: "Finish", ...finish, latency: Duration.millis(latencyMs) })
  const { events, sink } = eventObjects()
  Writer.streamWriter(sink, { signature: Codec.signatureOf(content.providerMetadata), latencyMs }).write(chunks)
  return events
}

describe("Bedrock Converse replies", () => {
  it("a reply written and read back is itself", () => {
    fc.assert(fc.property(content, (drawn) => {
      const read = Codec.reply(JSON.parse(JSON.stringify(Codec.response(drawn, 12))))
      expect(read.text).toBe(drawn.text)
      expect(read.reasoning).toBe(drawn.reasoning)
      expect(read.providerMetadata).toStrictEqual(drawn.providerMetadata)
      expect(read.toolCalls).toStrictEqual(drawn.toolCalls)
      expect(read.finishReason).toBe(drawn.finishReason)
      expect(read.usage).toStrictEqual(drawn.usage)
    }))
  })

  it("a stream's events read back as the reply's chunks", () => {
    fc.assert(fc.property(content, (drawn) => {
      const reasoningPieces = drawn.reasoning === undefined ? [] : [drawn.reasoning]
      const events = streamEvents(
        drawn,
        { text: drawn.pieces, reasoning: reasoningPieces, calls: drawn.calls },
        5
      )
      const out = readStream(events)
      let text = ""
      let reasoning = ""
      const calls: Array<{ id?: string; name?: string; arguments: string }> = []
      for (const chunk of out.chunks) {
        if (chunk._tag === "TextDelta") text += chunk.text
        else if (chunk._tag === "ReasoningDelta") reasoning += chunk.text
        else if (chunk._tag === "ToolCallDelta") {
          const call = calls[chunk.index] ??= { arguments: "" }
          if (chunk.id !== undefined) call.id = chunk.id
          if (chunk.name !== undefined) call.name = chunk.name
          call.arguments += chunk.arguments
        }
      }
      expect(text).toBe(drawn.text)
      expect(reasoning).toBe(drawn.reasoning ?? "")
      expect(calls).toStrictEqual(drawn.toolCalls)
      expect(Codec.finishReason(out.reader.stopReason!)).toBe(drawn.finishReason)
      expect(out.reader.usage).toStrictEqual(drawn.usage)
      expect(Codec.replyMetadata(out.reader.signature)).toStrictEqual(drawn.providerMetadata)
    }))
  })

  it("the forced tool's input is the reply's text, whole and streamed in pieces, with no tool call", () => {
    const forced = fc.record({ arguments: argumentsJson, cuts, finishReason, usage, id: toolUseId })
    fc.assert(fc.property(forced, (drawn) => {
      const reply: Codec.ReplyContent = {
        text: "",
        toolCalls: [{ id: drawn.id, name: "answer", arguments: drawn.arguments }],
        finishReason: drawn.finishReason,
        usage: drawn.usage
      }
      const finish = drawn.finishReason === "tool_calls" ? "stop" : drawn.finishReason
      const whole = Codec.reply(JSON.parse(JSON.stringify(Codec.response(reply, 3))), "answer")
      expect(whole.text).toBe(drawn.arguments)
      expect(whole.toolCalls).toStrictEqual([])
      expect(whole.finishReason).toBe(finish)
      const pieces = cut(drawn.arguments, drawn.cuts)
      const events = streamEvents(reply, { text: [], reasoning: [], calls: [pieces] }, 3)
      const streamed = readStream(events, "answer")
      expect(streamed.chunks).toStrictEqual(pieces.map((text) => ({ _tag: "TextDelta", text })))
      expect(streamed.reader.outputTool).toBe("answer")
      // Without the format, the same reply is a tool call.
      expect(Codec.reply(JSON.parse(JSON.stringify(Codec.response(reply, 3)))).toolCalls).toHaveLength(1)
    }))
  })

  it("a forced tool streamed with no input is {}", () => {
    fc.assert(fc.property(toolUseId, usage, (id, used) => {
      const call = { id, name: "answer", arguments: "" }
      const reply: Codec.ReplyContent = { text: "", toolCalls: [call], finishReason: "tool_calls", usage: used }
      const events = streamEvents(reply, { text: [], reasoning: [], calls: [[]] }, 3)
      expect(readStream(events, "answer").chunks).toStrictEqual([{ _tag: "TextDelta", text: "{}" }])
    }))
  })

  it("a reply of the wrong shape throws ShapeError", () => {
    expect(() => Codec.reply({ output: {} })).toThrow(ShapeError)
    expect(() => Codec.reply({ output: { message: { content: [] } } })).toThrow(ShapeError)
  })

  it("a stream exception reads as an AWS error body", () => {
    expect(Codec.exceptionBody("throttlingException", { message: "slow down" })).toStrictEqual({
      __type: "ThrottlingException",
      message: "slow down"
    })
  })
})
