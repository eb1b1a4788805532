import { assert, describe, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import { createHash } from "node:crypto"
import * as ChatChunk from "../src/ChatChunk.js"
import * as ChatRequest from "../src/ChatRequest.js"
import { geminiSchema } from "../src/internal/wire/gemini/schema.js"
import * as Message from "../src/Message.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as Gemini from "../src/providers/Gemini.js"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { failsWithoutAModel, jsonResponse, streamResponse } from "./utils/fakeHttpClient.js"
import * as Loopback from "./utils/loopbackServer.js"
import { splitBytes } from "./utils/openAiChatWire.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { skippedCounts, withWarnings } from "./utils/warnings.js"

const KEY = "AIza-test-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const { setup } = adapterHarness({
  make: Gemini.make,
  defaults: { baseUrl: "https://gemini.test", model: "gemini-test" },
  credentials
})

type Json = Record<string, unknown>

const candidate = (parts: ReadonlyArray<Json>, finishReason?: string): Json => ({
  content: { role: "model", parts },
  ...(finishReason !== undefined ? { finishReason } : {}),
  index: 0
})

const response = (parts: ReadonlyArray<Json>, finishReason = "STOP", usage?: Json): Json => ({
  candidates: [candidate(parts, finishReason)],
  usageMetadata: usage ?? { promptTokenCount: 7, candidatesTokenCount: 3, totalTokenCount: 10 },
  modelVersion: "gemini-test-001",
  responseId: "resp-1"
})

const sse = (events: ReadonlyArray<Json>, separator = "\r\n\r\n"): string =>
  events.map((event) => `data: ${JSON.stringify(event)}${separator}`).join("")

/** The body of the one request made, after running `effect`. */
// The digest a signed call keeps of the arguments it came with: SHA-256 of their JSON, keys sorted.
const digestOf = (json: string): string => createHash("sha256").update(json).digest("base64url")

const bodyOf = (request: ChatRequest.Input) =>
  Effect.gen(function*() {
    const { requests, service } = setup(() => jsonResponse(response([{ text: "ok" }])))
    const client = yield* service
    yield* client.chat(request, credentials)
    return requests[0]!.body
  })

describe("Gemini requests", () => {
  it.effect("posts to :generateContent and :streamGenerateContent?alt=sse with x-goog-api-key", () =>
    Effect.gen(function*() {
      const { requests, service } = setup((request) =>
        request.url.includes("alt=sse")
          ? streamResponse([sse([response([{ text: "ok" }])])])
          : jsonResponse(response([{ text: "ok" }]))
      )
      const client = yield* service
      yield* client.chat(hello, credentials)
      yield* Stream.runDrain(client.chatStream({ ...hello, model: "tunedModels/mine" }, credentials))
      assert.strictEqual(requests[0]!.url, "https://gemini.test/v1beta/models/gemini-test:generateContent")
      assert.strictEqual(requests[1]!.url, "https://gemini.test/v1beta/tunedModels/mine:streamGenerateContent?alt=sse")
      assert.strictEqual(requests[0]!.headers["x-goog-api-key"], KEY)
      assert.isUndefined(requests[0]!.headers["authorization"])
      assert.strictEqual(client.provider, "gemini")
    }))

  it.effect("apiVersion and provider options", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(() => jsonResponse(response([{ text: "ok" }])), {
        apiVersion: "v1",
        provider: "google"
      })
      const client = yield* service
      const reply = yield* client.chat(hello, credentials)
      assert.strictEqual(requests[0]!.url, "https://gemini.test/v1/models/gemini-test:generateContent")
      assert.strictEqual(reply.provider, "google")
    }))

  it.effect("system messages, roles, images", () =>
    Effect.gen(function*() {
      const body = yield* bodyOf({
        messages: [
          Message.system("Be brief."),
          Message.user([
            Message.text("What is this?"),
            Message.image("data:image/png;base64,iVBORw0KGgo="),
            Message.image("https://example.com/cat.JPG?size=2"),
            Message.image("https://generativelanguage.googleapis.com/v1beta/files/abc")
          ]),
          Message.assistant("A cat."),
          Message.system("Answer in French."),
          Message.user("Merci")
        ]
      })
      assert.deepStrictEqual(body["systemInstruction"], {
        parts: [{ text: "Be brief." }, { text: "Answer in French." }]
      })
      assert.deepStrictEqual(body["contents"], [
        {
          role: "user",
          parts: [
            { text: "What is this?" },
            { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } },
            { fileData: { mimeType: "image/jpeg", fileUri: "https://example.com/cat.JPG?size=2" } },
            { fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/abc" } }
          ]
        },
        { role: "model", parts: [{ text: "A cat." }] },
        { role: "user", parts: [{ text: "Merci" }] }
      ])
      assert.isUndefined(body["generationConfig"])
      assert.isUndefined(body["tools"])
    }))

  it.effect("tool calls carry their signature and id back; results merge into one user turn", () =>
    Effect.gen(function*() {
      const weather = {
        id: "call_0",
        name: "get_weather",
        arguments: `{"city":"Paris"}`,
        providerMetadata: { gemini: { thoughtSignature: "c2lnLTE=" } }
      }
      const time = { id: "fc-7", name: "get_time", arguments: "", providerMetadata: { gemini: { id: "fc-7" } } }
      const body = yield* bodyOf({
        messages: [
          Message.user("Weather and time?"),
          Message.fromResponse({
            text: "Let me check.",
            toolCalls: [weather, time],
            reasoning: "thinking...",
            providerMetadata: { gemini: { thoughtSignature: "dGV4dA==" } }
          }),
          Message.toolResult(weather, { temperature: 21 }),
          { role: "tool", toolCallId: "fc-7", content: "noon" },
          Message.user("Thanks")
        ]
      })
      assert.deepStrictEqual(body["contents"], [
        { role: "user", parts: [{ text: "Weather and time?" }] },
        {
          role: "model",
          parts: [
            { text: "Let me check.", thoughtSignature: "dGV4dA==" },
            { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "c2lnLTE=" },
            { functionCall: { name: "get_time", args: {}, id: "fc-7" } }
          ]
        },
        {
          role: "user",
          parts: [
            { functionResponse: { name: "get_weather", response: { temperature: 21 } } },
            { functionResponse: { name: "get_time", response: { result: "noon" }, id: "fc-7" } }
          ]
        },
        { role: "user", parts: [{ text: "Thanks" }] }
      ])
    }))

  it.effect("a call Gemini did not sign (another provider's) goes with the signature its docs name for one", () =>
    Effect.gen(function*() {
      const call = { id: "call_abc", name: "get_weather", arguments: `{"city":"Paris"}` }
      const other = { id: "call_def", name: "get_time", arguments: `{}` }
      const body = yield* bodyOf({
        messages: [
          Message.user("Weather?"),
          Message.assistant("", { toolCalls: [call, other] }),
          Message.toolResult(call, { temperature: 21 }),
          Message.toolResult(other, "noon")
        ]
      })
      // Only the first call of a step must be signed.
      assert.deepStrictEqual((body["contents"] as ReadonlyArray<{ readonly parts: unknown }>)[1]!.parts, [
        {
          functionCall: { name: "get_weather", args: { city: "Paris" } },
          thoughtSignature: "skip_thought_signature_validator"
        },
        { functionCall: { name: "get_time", args: {} } }
      ])
    }))

  it.effect("a signed call sent back with other arguments goes as one Gemini did not sign; in another key order, signed", () =>
    Effect.gen(function*() {
      const replied = { city: "Paris", units: "metric" }
      const { service } = setup(() =>
        jsonResponse(response([{ functionCall: { name: "get_weather", args: replied }, thoughtSignature: "c2ln" }]))
      )
      const client = yield* service
      const [call] = (yield* client.chat(hello, credentials)).toolCalls
      const sentBack = (args: string) =>
        bodyOf({
          messages: [
            Message.user("Weather?"),
            Message.assistant("", { toolCalls: [{ ...call!, arguments: args }] }),
            Message.toolResult(call!, { temperature: 21 })
          ]
        }).pipe(Effect.map((body) => (body["contents"] as ReadonlyArray<{ readonly parts: unknown }>)[1]!.parts))
      yield* Effect.promise(() =>
        fc.assert(fc.asyncProperty(
          fc.shuffledSubarray(Object.entries(replied), { minLength: 2 }),
          fc.option(fc.tuple(fc.constantFrom("city", "units", "replace_all"), fc.oneof(fc.string(), fc.boolean()))),
          async (entries, edit) => {
            const args = Object.fromEntries(edit === null ? entries : [...entries, edit])
            const same = edit === null || (edit[0] !== "replace_all" && edit[1] === replied[edit[0] as "city"])
            const parts = await Effect.runPromise(sentBack(JSON.stringify(args)))
            assert.deepStrictEqual(parts, [{
              functionCall: { name: "get_weather", args },
              thoughtSignature: same ? "c2ln" : "skip_thought_signature_validator"
            }])
          }
        ))
      )
    }))

  it.effect(
    "a tool result whose tool cannot be named, or arguments that are not an object -> " +
      "InvalidRequestError",
    () =>
      Effect.gen(function*() {
        const { requests, service } = setup(() => jsonResponse(response([{ text: "ok" }])))
        const client = yield* service
        const orphan = yield* Effect.flip(client.chat({
          messages: [Message.user("hi"), { role: "tool", toolCallId: "call_9", content: "42" }]
        }, credentials))
        assert(orphan._tag === "InvalidRequestError")
        assert.strictEqual(orphan.param, "messages[1].name")
        const badArgs = yield* Effect.flip(Stream.runDrain(client.chatStream({
          messages: [
            Message.user("hi"),
            Message.assistant("", { toolCalls: [{ id: "c", name: "f", arguments: "[1]" }] })
          ]
        }, credentials)))
        assert(badArgs._tag === "InvalidRequestError")
        assert.strictEqual(badArgs.param, "messages[1].toolCalls[0].arguments")
        assert.strictEqual(requests.length, 0)
      })
  )

  it.effect("a schema that refers to itself -> InvalidRequestError at its field, nothing sent", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(() => jsonResponse(response([{ text: "ok" }])))
      const client = yield* service
      const n = { $ref: "#/$defs/n" }
      const schema = { $defs: { n: { type: "object", properties: { a: n, b: n, c: n } } }, $ref: "#/$defs/n" }
      const format = yield* Effect.flip(client.chat({
        ...hello,
        responseFormat: { type: "json_schema", name: "x", schema }
      }, credentials))
      assert(format._tag === "InvalidRequestError")
      assert.strictEqual(format.param, "responseFormat.schema")
      assert.strictEqual(format.status, undefined)
      assert.include(format.detail, "responseFormat.schema refers to itself through `#/$defs/n`")
      const tool = yield* Effect.flip(Stream.runDrain(client.chatStream({
        ...hello,
        tools: [{ name: "ok", parameters: { type: "object" } }, { name: "deep", parameters: schema }]
      }, credentials)))
      assert(tool._tag === "InvalidRequestError")
      assert.strictEqual(tool.param, "tools[1].parameters")
      assert.strictEqual(requests.length, 0)
    }))

  it.effect("tools in Gemini's schema subset, tool choice, generation config, thinking, JSON output", () =>
    Effect.gen(function*() {
      const body = yield* bodyOf({
        ...hello,
        tools: [
          {
            name: "lookup",
            description: "Look something up",
            parameters: {
              $schema: "http://json-schema.org/draft-07/schema#",
              type: "object",
              additionalProperties: false,
              properties: { query: { type: "string", minLength: 1 }, page: { type: ["integer", "null"] } },
              required: ["query"]
            }
          },
          { name: "ping", parameters: { type: "object", properties: {} } }
        ],
        toolChoice: { tool: "lookup" },
        temperature: 0.5,
        topP: 0.9,
        maxTokens: 256,
        stop: ["END"],
        seed: 42,
        reasoningEffort: "low",
        responseFormat: { type: "json_schema", name: "out", schema: { type: "object", additionalProperties: false } },
        user: "u-1"
      })
      assert.deepStrictEqual(body["tools"], [{
        functionDeclarations: [
          {
            name: "lookup",
            description: "Look something up",
            parameters: {
              type: "object",
              properties: { query: { type: "string", minLength: 1 }, page: { type: "integer", nullable: true } },
              required: ["query"]
            }
          },
          { name: "ping" }
        ]
      }])
      assert.deepStrictEqual(body["toolConfig"], {
        functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["lookup"] }
      })
      assert.deepStrictEqual(body["generationConfig"], {
        temperature: 0.5,
        topP: 0.9,
        maxOutputTokens: 256,
        stopSequences: ["END"],
        seed: 42,
        responseMimeType: "application/json",
        responseSchema: { type: "object" },
        thinkingConfig: { thinkingBudget: 1024, includeThoughts: true }
      })
      assert.isUndefined(body["user"])
      const lookup = { name: "lookup", parameters: { type: "object" } }
      for (const [choice, mode] of [["auto", "AUTO"], ["none", "NONE"], ["required", "ANY"]] as const) {
        const b = yield* bodyOf({ ...hello, tools: [lookup], toolChoice: choice, parallelToolCalls: false })
        assert.deepStrictEqual(b["toolConfig"], { functionCallingConfig: { mode } })
        // Gemini refuses a function calling config without declarations: with no tools, no choice.
        for (const tools of [undefined, []]) {
          const bare = yield* bodyOf({ ...hello, ...(tools === undefined ? {} : { tools }), toolChoice: choice })
          assert.notProperty(bare, "toolConfig")
          assert.notProperty(bare, "tools")
        }
      }
      const off = yield* bodyOf({ ...hello, reasoningEffort: "none", responseFormat: { type: "json_object" } })
      assert.deepStrictEqual(off["generationConfig"], {
        responseMimeType: "application/json",
        thinkingConfig: { thinkingBudget: 0 }
      })
    }))

  it("translates $ref, const, oneOf and null branches to the subset", () => {
    const schema = {
      $defs: { City: { type: "object", properties: { name: { const: "Paris" } }, additionalProperties: false } },
      type: "object",
      properties: {
        city: { $ref: "#/$defs/City", description: "where" },
        unit: { anyOf: [{ type: "string", enum: ["c", "f"] }, { type: "null" }] },
        either: { oneOf: [{ type: "string" }, { type: "number" }] },
        mixed: { enum: [1, 2] },
        // Tuples, as draft 7 and draft 2020-12 write them.
        legacy: { type: "array", items: [{ type: "string" }, { type: "integer" }], additionalItems: false },
        closed: { type: "array", prefixItems: [{ type: "string" }], items: false },
        rest: { type: "array", prefixItems: [{ type: "string" }], items: { type: "number" }, minItems: 1 }
      }
    }
    assert.deepStrictEqual(geminiSchema(schema, "responseFormat.schema"), {
      type: "object",
      properties: {
        city: { type: "object", properties: { name: { enum: ["Paris"], type: "string" } }, description: "where" },
        unit: { nullable: true, type: "string", enum: ["c", "f"] },
        either: { anyOf: [{ type: "string" }, { type: "number" }] },
        mixed: {},
        legacy: { type: "array", items: { anyOf: [{ type: "string" }, { type: "integer" }] }, maxItems: 2 },
        closed: { type: "array", items: { type: "string" }, maxItems: 1 },
        rest: { type: "array", items: { anyOf: [{ type: "string" }, { type: "number" }] }, minItems: 1 }
      }
    })
  })

  it.effect("a json_schema response format from an Effect Schema goes as responseSchema in Gemini's subset", () =>
    Effect.gen(function*() {
      // JSON Schema's minLength counts code points: `isMinCodePoints` is the check it states exactly.
      class Address extends Schema.Class<Address>("Address")({ zip: Schema.String.check(Schema.isMinCodePoints(5)) }) {}
      const Person = Schema.Struct({
        age: Schema.Int.check(Schema.isBetween({ minimum: 18, maximum: 120 })),
        address: Address,
        nickname: Schema.NullOr(Schema.String),
        // `Finite`: Effect 4 writes `Number` as a number or the strings "NaN" and "Infinity".
        pair: Schema.Tuple([Schema.String, Schema.Finite])
      })
      const body = yield* bodyOf({ ...hello, responseFormat: ChatRequest.jsonSchemaFormat("Person", Person) })
      const config = body["generationConfig"] as Record<string, unknown>
      assert.strictEqual(config["responseMimeType"], "application/json")
      assert.notProperty(config, "responseJsonSchema")
      const schema = config["responseSchema"] as {
        readonly required: unknown
        readonly properties: Record<string, Record<string, unknown>>
      }
      // No JSON Schema keyword outside Gemini's subset survives, at any depth.
      const keys = JSON.stringify(schema)
      for (const keyword of ["$schema", "$defs", "$ref", "additionalProperties", "additionalItems"]) {
        assert.notInclude(keys, keyword)
      }
      assert.deepStrictEqual(schema.required, ["age", "address", "nickname", "pair"])
      // `$ref` inlined with the keywords beside it: the integer keeps its bounds.
      assert.deepInclude(schema.properties["age"], { type: "integer", minimum: 18, maximum: 120 })
      assert.deepInclude(schema.properties["address"], { type: "object", required: ["zip"] })
      assert.deepInclude((schema.properties["address"]?.["properties"] as Record<string, unknown>)["zip"], {
        type: "string",
        minLength: 5
      })
      assert.deepStrictEqual(schema.properties["nickname"], { nullable: true, type: "string" })
      // Exclusive bounds become the nearest inclusive ones Gemini has.
      const bounds = { type: "number", exclusiveMinimum: 2, exclusiveMaximum: 3, maximum: 2.5 }
      assert.deepStrictEqual(geminiSchema(bounds, "responseFormat.schema"), {
        type: "number",
        minimum: 2,
        maximum: 2.5
      })
      // A tuple has no Gemini form: any of its positions, exactly that many.
      assert.deepStrictEqual(schema.properties["pair"], {
        type: "array",
        minItems: 2,
        maxItems: 2,
        items: { anyOf: [{ type: "string" }, { type: "number" }] }
      })
    }))

  it.effect("providerOptions merge key by key, and null removes a key", () =>
    Effect.gen(function*() {
      const body = yield* bodyOf({
        ...hello,
        temperature: 1,
        reasoningEffort: "high",
        providerOptions: {
          generationConfig: { topK: 40, thinkingConfig: { thinkingBudget: null, thinkingLevel: "high" } },
          safetySettings: [{ category: "HARM_CATEGORY_HARASSMENT", threshold: "BLOCK_NONE" }]
        }
      })
      assert.deepStrictEqual(body["generationConfig"], {
        temperature: 1,
        topK: 40,
        thinkingConfig: { includeThoughts: true, thinkingLevel: "high" }
      })
      assert.deepStrictEqual(body["safetySettings"], [{
        category: "HARM_CATEGORY_HARASSMENT",
        threshold: "BLOCK_NONE"
      }])
    }))

  it.effect("a request without a model fails before any HTTP", () =>
    Effect.gen(function*() {
      const fake = setup(() => jsonResponse({}), { model: undefined })
      yield* failsWithoutAModel(yield* fake.service, fake, hello, credentials)
    }))
})

describe("Gemini replies", () => {
  it.effect("text, thoughts, function calls with ids and signatures, usage, finish reason", () =>
    Effect.gen(function*() {
      const { service } = setup(() =>
        jsonResponse(response(
          [
            { text: "Let me think.", thought: true },
            { text: "Checking " },
            { text: "now.", thoughtSignature: "dGV4dA==" },
            { functionCall: { name: "get_weather", args: { city: "Paris" } }, thoughtSignature: "c2ln" },
            { functionCall: { id: "fc-1", name: "get_time" } }
          ],
          "STOP",
          {
            promptTokenCount: 100,
            candidatesTokenCount: 20,
            thoughtsTokenCount: 30,
            cachedContentTokenCount: 60,
            totalTokenCount: 150
          }
        ))
      )
      const client = yield* service
      const reply = yield* client.chat(hello, credentials)
      assert.strictEqual(reply.text, "Checking now.")
      assert.strictEqual(reply.reasoning, "Let me think.")
      assert.deepStrictEqual(reply.toolCalls, [
        {
          id: "call_resp-1_0",
          name: "get_weather",
          arguments: `{"city":"Paris"}`,
          providerMetadata: { gemini: { thoughtSignature: "c2ln", signedArguments: digestOf(`{"city":"Paris"}`) } }
        },
        { id: "fc-1", name: "get_time", arguments: "{}", providerMetadata: { gemini: { id: "fc-1" } } }
      ])
      assert.strictEqual(reply.finishReason, "tool_calls")
      assert.deepStrictEqual({ ...reply.usage }, {
        promptTokens: 100,
        completionTokens: 50,
        totalTokens: 150,
        cachedPromptTokens: 60,
        reasoningTokens: 30,
        estimated: false
      })
      assert.strictEqual(reply.id, "resp-1")
      assert.strictEqual(reply.model, "gemini-test-001")
      assert.deepStrictEqual(reply.providerMetadata, { gemini: { thoughtSignature: "dGV4dA==" } })
      assert.strictEqual(reply.keyId, credentials.keyId)
    }))

  it.effect("finish reasons", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, string]> = [
        ["STOP", "stop"],
        ["MAX_TOKENS", "length"],
        ["SAFETY", "content_filter"],
        ["RECITATION", "content_filter"],
        ["BLOCKLIST", "content_filter"],
        ["PROHIBITED_CONTENT", "content_filter"],
        ["SPII", "content_filter"],
        ["IMAGE_SAFETY", "content_filter"],
        ["MALFORMED_FUNCTION_CALL", "other"],
        ["OTHER", "other"]
      ]
      for (const [wire, expected] of cases) {
        const { service } = setup(() => jsonResponse(response(wire === "SAFETY" ? [] : [{ text: "x" }], wire)))
        const reply = yield* Effect.flatMap(service, (client) => client.chat(hello, credentials))
        assert.strictEqual(reply.finishReason, expected, wire)
      }
    }))

  it.effect("a blocked prompt -> ContentFilterError; no candidates otherwise -> OutputDecodeError", () =>
    Effect.gen(function*() {
      const blocked = {
        promptFeedback: { blockReason: "PROHIBITED_CONTENT", blockReasonMessage: "nope" },
        usageMetadata: {}
      }
      const { service } = setup(() => jsonResponse(blocked))
      const error = yield* Effect.flip(Effect.flatMap(service, (client) => client.chat(hello, credentials)))
      assert(error._tag === "ContentFilterError")
      assert.strictEqual(error.detail, "the prompt was blocked (PROHIBITED_CONTENT): nope")
      assert.strictEqual(error.model, "gemini-test")
      const empty = setup(() => jsonResponse({ usageMetadata: {} }))
      const decode = yield* Effect.flip(Effect.flatMap(empty.service, (client) => client.chat(hello, credentials)))
      assert.strictEqual(decode._tag, "OutputDecodeError")
      const shape = setup(() => jsonResponse({ candidates: [{ content: { parts: "x" } }] }))
      const bad = yield* Effect.flip(Effect.flatMap(shape.service, (client) => client.chat(hello, credentials)))
      assert(bad._tag === "OutputDecodeError")
      assert.include(bad.detail, "parts is not an array")
    }))
})

const googleError = (code: number, status: string, message: string, details?: ReadonlyArray<Json>) =>
  jsonResponse({ error: { code, message, status, ...(details ? { details } : {}) } }, { status: code })

describe("Gemini errors", () => {
  it.effect("Google error bodies map through fromHttpFailure", () =>
    Effect.gen(function*() {
      const fail = (answer: Response) =>
        Effect.flip(Effect.flatMap(setup(() => answer).service, (client) => client.chat(hello, credentials)))

      const key = yield* fail(googleError(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
        { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID" }
      ]))
      assert(key._tag === "AuthError")
      assert.strictEqual(key.reason, "invalid_key")
      assert.strictEqual(key.status, 400)

      const limited = yield* fail(googleError(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted", [
        { "@type": "type.googleapis.com/google.rpc.QuotaFailure", violations: [{ quotaId: "PerMinute" }] },
        { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "37s" }
      ]))
      assert(limited._tag === "RateLimitError")
      assert.deepStrictEqual(limited.retryAfter, Duration.seconds(37))

      const daily = yield* fail(googleError(429, "RESOURCE_EXHAUSTED", "Quota exceeded", [
        {
          "@type": "type.googleapis.com/google.rpc.QuotaFailure",
          violations: [{ quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier" }]
        }
      ]))
      assert(daily._tag === "AuthError")
      assert.strictEqual(daily.reason, "quota_exhausted")

      const missing = yield* fail(googleError(404, "NOT_FOUND", "models/gemini-x is not found for API version v1beta"))
      assert.strictEqual(missing._tag, "ModelNotFoundError")

      const context = yield* fail(googleError(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
      ))
      assert(context._tag === "ContextLengthError")
      assert.strictEqual(context.contextWindow, 1048576)

      const overloaded = yield* fail(
        googleError(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
      )
      assert(overloaded._tag === "ProviderUnavailableError")
      assert.strictEqual(overloaded.status, 503)
    }))
})

describe("Gemini streams", () => {
  const collectChunks = (pieces: ReadonlyArray<string | Uint8Array>) =>
    Effect.flatMap(
      setup(() => streamResponse(pieces)).service,
      (client) => Stream.runCollect(client.chatStream(hello, credentials))
    )

  const usage1 = { promptTokenCount: 5, candidatesTokenCount: 1, totalTokenCount: 6 }
  const usage2 = { promptTokenCount: 5, candidatesTokenCount: 9, thoughtsTokenCount: 2, totalTokenCount: 16 }
  const events = [
    {
      ...response([{ text: "Hmm", thought: true }], undefined, usage1),
      candidates: [candidate([{ text: "Hmm", thought: true }])]
    },
    { ...response([{ text: "Hello" }], undefined, usage1), candidates: [candidate([{ text: "Hello" }])] },
    {
      ...response([], undefined, usage1),
      candidates: [candidate([
        { text: " world", thoughtSignature: "dGV4dA==" },
        { functionCall: { name: "a", args: { x: 1 } }, thoughtSignature: "c2ln" },
        { functionCall: { name: "b", args: {} } }
      ])]
    },
    response([{ text: "" }], "STOP", usage2)
  ]

  it.effect("deltas, dense tool call indices, the last usage, Finish at the end of the body", () =>
    Effect.gen(function*() {
      const chunks = yield* collectChunks([sse(events)])
      assert.deepStrictEqual(chunks.map((c) => c._tag), [
        "ReasoningDelta",
        "TextDelta",
        "TextDelta",
        "ToolCallDelta",
        "ToolCallDelta",
        "Usage",
        "Finish"
      ])
      assert.deepStrictEqual(chunks[3], {
        _tag: "ToolCallDelta",
        index: 0,
        id: "call_resp-1_0",
        name: "a",
        arguments: `{"x":1}`,
        providerMetadata: { gemini: { thoughtSignature: "c2ln", signedArguments: digestOf(`{"x":1}`) } }
      })
      assert.deepStrictEqual(chunks[4], {
        _tag: "ToolCallDelta",
        index: 1,
        id: "call_resp-1_1",
        name: "b",
        arguments: "{}"
      })
      const collected = yield* ChatChunk.collect(Stream.fromIterable(chunks))
      assert.strictEqual(collected.text, "Hello world")
      assert.strictEqual(collected.reasoning, "Hmm")
      assert.strictEqual(collected.finishReason, "tool_calls")
      assert.strictEqual(collected.usage.completionTokens, 11)
      assert.strictEqual(collected.usage.reasoningTokens, 2)
      assert.strictEqual(collected.model, "gemini-test-001")
      assert.strictEqual(collected.id, "resp-1")
      assert.deepStrictEqual(collected.providerMetadata, { gemini: { thoughtSignature: "dGV4dA==" } })
    }))

  it.effect.prop(
    "any chunking of the body (LF or CRLF events) gives the same chunks",
    [
      Arbitrary.array(Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 2000 }))), {
        maxLength: 12
      }),
      Arbitrary.schema(Schema.Boolean)
    ],
    ([cuts, crlf]) =>
      Effect.gen(function*() {
        const text = sse(events, crlf ? "\r\n\r\n" : "\n\n")
        const whole = yield* collectChunks([text])
        const split = yield* collectChunks(splitBytes(text, cuts))
        const strip = (chunks: ReadonlyArray<ChatChunk.ChatChunk>) =>
          chunks.map((c) => (c._tag === "Finish" ? { ...c, latency: Duration.zero } : c))
        assert.deepStrictEqual(strip(split), strip(whole))
      }),
    { arbitrary: { runs: 100 } }
  )

  it.effect("a last event without its blank line still counts; no finishReason -> StreamTruncatedError", () =>
    Effect.gen(function*() {
      const unterminated = sse(events).replace(/\r\n\r\n$/, "")
      const chunks = yield* collectChunks([unterminated])
      assert.strictEqual(chunks[chunks.length - 1]!._tag, "Finish")
      const cut = yield* Effect.flip(
        Effect.flatMap(
          setup(() => streamResponse([sse(events.slice(0, 3))])).service,
          (client) => ChatChunk.collect(client.chatStream(hello, credentials))
        )
      )
      assert(cut._tag === "StreamTruncatedError")
      assert.strictEqual(cut.model, "gemini-test-001")
    }))

  it.effect("an error event mid-stream fails with its typed error; a blocked prompt with ContentFilterError", () =>
    Effect.gen(function*() {
      const run = (body: string) =>
        Effect.flip(
          Effect.flatMap(
            setup(() => streamResponse([body])).service,
            (client) => Stream.runDrain(client.chatStream(hello, credentials))
          )
        )
      const limited = yield* run(sse([
        events[1]!,
        { error: { code: 429, message: "Resource has been exhausted", status: "RESOURCE_EXHAUSTED" } }
      ]))
      assert(limited._tag === "RateLimitError")
      assert.strictEqual(limited.status, 429)
      const internal = yield* run(sse([{ error: { code: 500, message: "Internal error", status: "INTERNAL" } }]))
      assert(internal._tag === "ProviderUnavailableError")
      const blocked = yield* run(sse([{ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: usage1 }]))
      assert(blocked._tag === "ContentFilterError")
      assert.include(blocked.detail, "SAFETY")
      // An event that is not JSON is skipped and counted; the stream then has no end.
      const [malformed, warnings] = yield* withWarnings(run(`data: {"candidates": [\r\n\r\n`))
      assert.strictEqual(malformed._tag, "StreamTruncatedError")
      assert.deepStrictEqual(skippedCounts(warnings), [1])
    }))

  it.effect("a JSON body answering a stream request is replayed as chunks", () =>
    Effect.gen(function*() {
      const { service } = setup(() => jsonResponse(response([{ text: "whole" }])))
      const reply = yield* Effect.flatMap(service, (client) => ChatChunk.collect(client.chatStream(hello, credentials)))
      assert.strictEqual(reply.text, "whole")
      assert.strictEqual(reply.finishReason, "stop")
    }))
})

describe("Gemini options", () => {
  it.effect("a maxEventSize that is not positive fails the layer with OptionsError naming it", () =>
    Effect.gen(function*() {
      const error = yield* buildError(Gemini.layer({ maxEventSize: 0 }))
      expectOptionsError(error, { module: "Gemini", option: "maxEventSize", value: "0" })
    }))
})

describe("Gemini model paths", () => {
  // Names with every character a path could be escaped by: `/`, `..`, `?`, `#`, `%`, spaces, and any other.
  const modelName = fc.oneof(
    fc.string({ minLength: 1 }),
    fc.array(fc.constantFrom("a", "/", ".", "..", "?", "#", "%", "%2e", " ", "models", "tunedModels", "admin"), {
      minLength: 1,
      maxLength: 8
    }).map((parts) => parts.join(""))
  )

  it.live(
    "every model name reaches the server as one segment under /v1beta/models/ (or tunedModels/), and no other path",
    () =>
      Effect.gen(function*() {
        const seen: Array<{ readonly method: string; readonly url: string }> = []
        const server = yield* Loopback.serve((req, res) => {
          seen.push({ method: req.method!, url: req.url! })
          res.writeHead(200, { "content-type": "application/json" })
          res.end(JSON.stringify(response([{ text: "ok" }])))
        })
        const client = yield* Gemini.make({ baseUrl: server.url, model: "gemini-test" })
        const check = (model: string) =>
          Effect.gen(function*() {
            seen.length = 0
            yield* client.chat({ ...hello, model }, credentials)
            assert.strictEqual(seen.length, 1)
            const { method, url } = seen[0]!
            assert.strictEqual(method, "POST")
            const path = /^\/v1beta\/(models|tunedModels)\/([^/?#]+):generateContent$/.exec(url)
            assert.isNotNull(path, `${JSON.stringify(model)} reached ${url}`)
            const named = /^(models|tunedModels)\/([^/]+)$/.exec(model)
            assert.strictEqual(path![1], named === null ? "models" : named[1])
            assert.strictEqual(decodeURIComponent(path![2]!), named === null ? model : named[2])
          })
        yield* check("a/../../admin?x=1#f")
        yield* check("tunedModels/mine")
        yield* check("models/..")
        yield* Effect.promise(() =>
          fc.assert(fc.asyncProperty(modelName, (model) => Effect.runPromise(check(model))), { numRuns: 200 })
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
