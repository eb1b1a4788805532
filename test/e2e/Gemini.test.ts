import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as GeminiFormat from "../../src/simulator/Gemini.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { poolInMemory } from "../utils/memoryStores.js"
import { type Answer, postJson, postJsonReads } from "../utils/rawHttp.js"

const KEY = "AIza-e2e-0123456789abcdef"
const MODEL = "gemini-2.5-flash"
const models = [MODEL, "gemini-3-pro-preview"]

// ---------------------------------------------------------------------------
// The simulator's Gemini format, with plain fetch
// ---------------------------------------------------------------------------

const rawCall = (
  sim: Simulator.Simulator,
  body: unknown,
  options: { readonly path?: string; readonly headers?: Record<string, string>; readonly key?: string | null } = {}
): Effect.Effect<Answer> => {
  const key = options.key === undefined ? KEY : options.key
  return postJson(`${sim.url}${options.path ?? `/v1beta/models/${MODEL}:generateContent`}`, body, {
    ...(key === null ? {} : { "x-goog-api-key": key }),
    ...options.headers
  })
}

const streamPath = (model = MODEL) => `/v1beta/models/${model}:streamGenerateContent?alt=sse`

interface PartJson {
  readonly text?: string
  readonly thought?: boolean
  readonly thoughtSignature?: string
  readonly functionCall?: { readonly name: string; readonly args?: unknown; readonly id?: string }
}

/** A response or stream event, as far as the tests read it. */
interface ResponseJson {
  readonly candidates: ReadonlyArray<{
    readonly content: { readonly role: string; readonly parts: ReadonlyArray<PartJson> }
    readonly finishReason?: string
  }>
  readonly usageMetadata: Readonly<Record<string, number>>
  readonly promptFeedback?: { readonly blockReason: string }
  readonly error?: { readonly status: string }
}

/** The JSON payloads of a Gemini SSE body (events end with CRLF CRLF). */
const sseEvents = (text: string): Array<ResponseJson> =>
  text.split("\r\n\r\n").filter((event) => event !== "").map((event) => JSON.parse(event.replace(/^data: /, "")))

const userTurn = (text: string) => ({ role: "user", parts: [{ text }] })

const weatherTool = {
  functionDeclarations: [{
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }, {
    name: "get_time",
    parameters: { type: "object", properties: { zone: { type: "string" } } }
  }]
}

const withSim = <A, E, R>(options: Simulator.Options, body: (sim: Simulator.Simulator) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Simulator.make({ models, ...options }), body)

describe("the simulator's Gemini format", () => {
  it.live("generateContent: text, finishReason, usageMetadata, modelVersion", () =>
    withSim({ replyTokens: 10, apiKeys: [KEY] }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* rawCall(sim, {
          systemInstruction: { parts: [{ text: "Be brief." }] },
          contents: [userTurn("Hello there")]
        })
        assert.strictEqual(answer.status, 200)
        const body = JSON.parse(answer.text)
        const candidate = body.candidates[0]
        assert.strictEqual(candidate.finishReason, "STOP")
        assert.strictEqual(candidate.content.role, "model")
        assert.strictEqual(candidate.content.parts[0].text.split(" ").length, 10)
        assert.strictEqual(body.usageMetadata.candidatesTokenCount, 10)
        assert.strictEqual(
          body.usageMetadata.totalTokenCount,
          body.usageMetadata.promptTokenCount + 10
        )
        assert.strictEqual(body.modelVersion, MODEL)
        assert.match(body.responseId, /^gemini-sim/)
      })))

  it.live("keys: ?key= works, a bad key is 400 API_KEY_INVALID, a missing one 403", () =>
    withSim({ apiKeys: [KEY] }, (sim) =>
      Effect.gen(function*() {
        const viaQuery = yield* rawCall(sim, { contents: [userTurn("hi")] }, {
          key: null,
          path: `/v1beta/models/${MODEL}:generateContent?key=${KEY}`
        })
        assert.strictEqual(viaQuery.status, 200)
        const bad = yield* rawCall(sim, { contents: [userTurn("hi")] }, { key: "AIza-wrong-key-000000" })
        assert.strictEqual(bad.status, 400)
        const error = JSON.parse(bad.text).error
        assert.strictEqual(error.status, "INVALID_ARGUMENT")
        assert.strictEqual(error.details[0].reason, "API_KEY_INVALID")
        assert.notInclude(bad.text, "AIza-wrong-key-000000")
        const missing = yield* rawCall(sim, { contents: [userTurn("hi")] }, { key: null })
        assert.strictEqual(missing.status, 403)
        assert.strictEqual(JSON.parse(missing.text).error.status, "PERMISSION_DENIED")
      })))

  it.live("streamGenerateContent?alt=sse: deltas, running usage, finishReason last, no end marker", () =>
    withSim({ replyTokens: 12 }, (sim) =>
      Effect.gen(function*() {
        const request = { contents: [userTurn("Stream to me")] }
        const whole = JSON.parse((yield* rawCall(sim, request)).text)
        const answer = yield* rawCall(sim, request, { path: streamPath() })
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.headers.get("content-type"), "text/event-stream")
        assert.notInclude(answer.text, "[DONE]")
        const events = sseEvents(answer.text)
        assert.strictEqual(events.length, 13)
        const text = events.map((e) => e.candidates[0]!.content.parts.map((p: PartJson) => p.text).join("")).join("")
        assert.strictEqual(text, whole.candidates[0]!.content.parts[0].text)
        assert.isTrue(events.slice(0, -1).every((e) => e.candidates[0]!.finishReason === undefined))
        assert.strictEqual(events[events.length - 1]!.candidates[0]!.finishReason, "STOP")
        assert.strictEqual(events[3]!.usageMetadata.candidatesTokenCount, 4)
        assert.deepStrictEqual(events[events.length - 1]!.usageMetadata, whole.usageMetadata)
      })))

  it.live("streamGenerateContent without ?alt=sse: one JSON array, streamed, of the SSE stream's objects", () =>
    withSim({ replyTokens: 6, tokensPerSecond: 200 }, (sim) =>
      Effect.gen(function*() {
        const body = JSON.stringify({ contents: [userTurn("Stream to me")] })
        const url = `${sim.url}/v1beta/models/${MODEL}:streamGenerateContent`
        const read = yield* postJsonReads(url, body, { "x-goog-api-key": KEY })
        assert.strictEqual(read.status, 200)
        assert.strictEqual(read.contentType, "application/json")
        // Paced: the first object came in a read of its own, long before the array's end.
        assert.isAbove(read.texts.length, 2)
        assert.isTrue(read.texts[0]!.startsWith("[{"))
        assert.isFalse(read.texts[0]!.endsWith("]"))
        const text = read.texts.join("")
        assert.isTrue(text.endsWith("\n]"))
        const objects = JSON.parse(text) as Array<ResponseJson & { responseId?: string }>
        const sse = sseEvents((yield* rawCall(sim, JSON.parse(body), { path: streamPath() })).text) as Array<
          ResponseJson & { responseId?: string }
        >
        const withoutId = (list: typeof objects) => list.map(({ responseId: _, ...rest }) => rest)
        assert.strictEqual(objects.length, 7)
        assert.deepStrictEqual(withoutId(objects), withoutId(sse))
        const errored = JSON.parse(
          (yield* rawCall(sim, JSON.parse(body), {
            path: `/v1beta/models/${MODEL}:streamGenerateContent`,
            headers: { "x-simulator-fault": "stream-error=2" }
          })).text
        ) as Array<ResponseJson>
        assert.strictEqual(errored.length, 3)
        assert.strictEqual(errored[2]!.error!.status, "INTERNAL")
        // A malformed object is an element of the array, as it is an event of the SSE form: a reader of either fails
        // on it, and in its place any object reads.
        const fault = { "x-simulator-fault": "malformed=2" }
        const broken = (yield* rawCall(sim, JSON.parse(body), {
          path: `/v1beta/models/${MODEL}:streamGenerateContent`,
          headers: fault
        })).text
        assert.throws(() => JSON.parse(broken), SyntaxError)
        assert.notInclude(broken, "data:")
        const mended = JSON.parse(broken.replace("{not json", "{}")) as Array<unknown>
        assert.strictEqual(mended.length, 8)
        assert.deepStrictEqual(mended[2], {})
        const brokenSse = (yield* rawCall(sim, JSON.parse(body), { path: streamPath(), headers: fault })).text
        assert.throws(() => sseEvents(brokenSse), SyntaxError)
        assert.deepStrictEqual(sseEvents(brokenSse.replace("{not json", "{}"))[2] as unknown, {})
      })))

  it.live("thoughts when includeThoughts is set, counted in thoughtsTokenCount", () =>
    withSim({ replyTokens: 6, reasoningTokens: 4 }, (sim) =>
      Effect.gen(function*() {
        const body = JSON.parse(
          (yield* rawCall(sim, {
            contents: [userTurn("Think")],
            generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } }
          })).text
        )
        const parts = body.candidates[0].content.parts
        assert.isTrue(parts[0].thought)
        assert.strictEqual(body.usageMetadata.thoughtsTokenCount, 4)
        assert.strictEqual(body.usageMetadata.candidatesTokenCount, 6)
        const off = JSON.parse(
          (yield* rawCall(sim, {
            contents: [userTurn("Think")],
            generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 0 } }
          })).text
        )
        assert.strictEqual(off.candidates[0].content.parts.length, 1)
      })))

  it.live("function calls: whole, no id, a signature on the first; the signature is required back", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const request = {
          contents: [userTurn("Weather?")],
          tools: [weatherTool],
          toolConfig: { functionCallingConfig: { mode: "ANY" } }
        }
        const answer = yield* rawCall(sim, request, { headers: { "x-simulator-tool-calls": "3" } })
        const parts = JSON.parse(answer.text).candidates[0].content.parts
        assert.deepStrictEqual(parts.map((p: PartJson) => p.functionCall?.name), [
          "get_weather",
          "get_time",
          "get_weather"
        ])
        assert.isString(parts[0].thoughtSignature)
        assert.isUndefined(parts[1].thoughtSignature)
        assert.isUndefined(parts[0].functionCall.id)
        assert.deepStrictEqual(parts[0].functionCall.args, { city: "sim" })

        const stream = sseEvents(
          (yield* rawCall(sim, request, {
            path: streamPath(),
            headers: { "x-simulator-tool-calls": "3" }
          })).text
        )
        const streamedCalls = stream.flatMap((e) =>
          e.candidates[0]!.content.parts.filter((p: PartJson) => p.functionCall)
        )
        assert.deepStrictEqual(streamedCalls, parts)

        // The call replayed as `first` with its result, to `model`.
        const replay = (model: string, first: PartJson) =>
          rawCall(sim, {
            contents: [
              userTurn("Weather?"),
              { role: "model", parts: [first] },
              { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }] }
            ],
            tools: [weatherTool]
          }, { path: `/v1beta/models/${model}:generateContent` })
        const error = (answer: Answer) => JSON.parse(answer.text).error
        const gemini3 = "gemini-3-pro-preview"
        const unsigned = yield* replay(gemini3, { functionCall: parts[0].functionCall })
        assert.strictEqual(unsigned.status, 400)
        assert.deepInclude(error(unsigned), { code: 400, status: "INVALID_ARGUMENT" })
        assert.include(error(unsigned).message, "Function call is missing a thought_signature in functionCall parts.")
        assert.include(error(unsigned).message, "function call `default_api:get_weather` , position 1.")

        // A signature the simulator did not make for that call: made up, or the first call's on the third (whose
        // arguments it does not sign).
        const madeUp = yield* replay(gemini3, { ...parts[0], thoughtSignature: "c2lnbmVk" })
        assert.strictEqual(madeUp.status, 400)
        assert.deepInclude(error(madeUp), { message: "Corrupted thought signature.", status: "INVALID_ARGUMENT" })
        const moved = { functionCall: { name: "get_time", args: {} }, thoughtSignature: parts[0].thoughtSignature }
        assert.strictEqual((yield* replay(gemini3, moved)).status, 400)

        // Before Gemini 3 no signature is checked.
        const earlier = yield* replay(MODEL, { functionCall: parts[0].functionCall })
        assert.strictEqual(earlier.status, 200)

        for (const first of [parts[0], { ...parts[0], thoughtSignature: "skip_thought_signature_validator" }]) {
          const signed = yield* replay(gemini3, first)
          assert.strictEqual(signed.status, 200, signed.text)
          assert.match(JSON.parse(signed.text).candidates[0].content.parts[0].text, /^The tool returned sunny/)
        }
      })))

  it.live("a blocked prompt: 200, promptFeedback, no candidates", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const request = { contents: [userTurn(`Do something bad ${GeminiFormat.blockedPromptMarker}`)] }
        const answer = yield* rawCall(sim, request)
        assert.strictEqual(answer.status, 200)
        const body = JSON.parse(answer.text)
        assert.strictEqual(body.promptFeedback.blockReason, "SAFETY")
        assert.isUndefined(body.candidates)
        const events = sseEvents((yield* rawCall(sim, request, { path: streamPath() })).text)
        assert.strictEqual(events.length, 1)
        assert.strictEqual(events[0]!.promptFeedback!.blockReason, "SAFETY")
      })))

  it.live("errors: unknown model, unknown method, context, rate limits and quotas", () =>
    withSim({ contextWindows: { [MODEL]: 20 } }, (sim) =>
      Effect.gen(function*() {
        const hi = { contents: [userTurn("hi")] }
        const unknown = yield* rawCall(sim, hi, { path: "/v1beta/models/gemini-nope:generateContent" })
        assert.strictEqual(unknown.status, 404)
        assert.include(JSON.parse(unknown.text).error.message, "models/gemini-nope is not found")
        const method = yield* rawCall(sim, hi, { path: `/v1beta/models/${MODEL}:predict` })
        assert.strictEqual(method.status, 404)
        const long = yield* rawCall(sim, { ...hi, generationConfig: { maxOutputTokens: 100 } })
        assert.strictEqual(long.status, 400)
        assert.include(JSON.parse(long.text).error.message, "exceeds the maximum number of tokens allowed (20)")
        const limited = JSON.parse(
          (yield* rawCall(sim, hi, { headers: { "x-simulator-fault": "status=429;retry-after=9" } })).text
        )
        assert.strictEqual(limited.error.status, "RESOURCE_EXHAUSTED")
        assert.strictEqual(limited.error.details.at(-1).retryDelay, "9s")
        const daily = JSON.parse(
          (yield* rawCall(sim, hi, { headers: { "x-simulator-fault": "status=429;code=PerDay" } })).text
        )
        assert.match(daily.error.details[0].violations[0].quotaId, /PerDay/)
        const unavailable = yield* rawCall(sim, hi, { headers: { "x-simulator-fault": "status=503" } })
        assert.strictEqual(unavailable.status, 503)
        assert.strictEqual(JSON.parse(unavailable.text).error.status, "UNAVAILABLE")
      })))

  it.live("countTokens: the prompt tokens a generation of the same request reports, its contents or its whole", () =>
    withSim({ apiKeys: [KEY] }, (sim) =>
      Effect.gen(function*() {
        const request = {
          systemInstruction: { parts: [{ text: "Answer in one word, please." }] },
          contents: [userTurn("What is the capital of France, and why?")]
        }
        const generated: ResponseJson = JSON.parse((yield* rawCall(sim, request)).text)
        const path = `/v1beta/models/${MODEL}:countTokens`
        const whole = yield* rawCall(sim, { generateContentRequest: { model: `models/${MODEL}`, ...request } }, {
          path
        })
        assert.strictEqual(whole.status, 200)
        assert.deepStrictEqual(JSON.parse(whole.text), { totalTokens: generated.usageMetadata["promptTokenCount"] })
        const contents = JSON.parse((yield* rawCall(sim, { contents: request.contents }, { path })).text)
        assert.isBelow(contents.totalTokens, generated.usageMetadata["promptTokenCount"]!)
        const refused = yield* rawCall(sim, request, { path, key: "AIza-not-accepted" })
        assert.strictEqual(refused.status, 400)
      })))

  it.live("stream faults: an error event, a cut before finishReason", () =>
    withSim({ replyTokens: 8 }, (sim) =>
      Effect.gen(function*() {
        const hi = { contents: [userTurn("hi")] }
        const errored = sseEvents(
          (yield* rawCall(sim, hi, {
            path: streamPath(),
            headers: { "x-simulator-fault": "stream-error=2" }
          })).text
        )
        assert.strictEqual(errored.length, 3)
        assert.strictEqual(errored[2]!.error!.status, "INTERNAL")
        const cut = sseEvents(
          (yield* rawCall(sim, hi, {
            path: streamPath(),
            headers: { "x-simulator-fault": "truncate=3" }
          })).text
        )
        assert.strictEqual(cut.length, 3)
        assert.isTrue(cut.every((e) => e.candidates[0]!.finishReason === undefined))
      })))

  it.live("the platform server serves the same routes", () =>
    withSim({ server: "platform", replyTokens: 5 }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* rawCall(sim, { contents: [userTurn("hi")] }, { path: streamPath() })
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(sseEvents(answer.text).length, 6)
        const viaQuery = yield* rawCall(sim, { contents: [userTurn("hi")] }, {
          key: null,
          path: `/v1beta/models/${MODEL}:generateContent?key=${KEY}`
        })
        assert.strictEqual(viaQuery.status, 200)
      })))
})

// ---------------------------------------------------------------------------
// The adapter over loopback against the simulator
// ---------------------------------------------------------------------------

const credentials = ProviderClient.credentials(KEY)
const hello: ChatRequest.Input = { messages: [Message.user("Tell me about Effect in one paragraph.")] }

const tools: ChatRequest.Input["tools"] = [
  {
    name: "get_weather",
    description: "The weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false
    }
  },
  {
    name: "get_time",
    parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] }
  }
]

const withGemini = AdapterE2e.adapterHarness<Gemini.Options>(
  (simulator, options) => Gemini.make({ baseUrl: simulator.url, model: MODEL, ...options }),
  { models }
)

const fault = AdapterE2e.simulatorFault

const suite = { withClient: withGemini, request: hello, key: KEY }

const comparable = (response: ChatResponse) =>
  AdapterE2e.comparable(response, {
    id: (id) => id.replace(/\d+$/, ""),
    callId: AdapterE2e.simulatedCallId,
    providerMetadata: true
  })

describe("Gemini over the simulator", () => {
  it.live("a text reply", () =>
    withGemini({ replyTokens: 12 }, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client()
        const response = yield* gemini.chat(
          { ...hello, messages: [Message.system("Be brief."), ...hello.messages] },
          credentials
        )
        assert.strictEqual(response.text.split(" ").length, 12)
        assert.strictEqual(response.finishReason, "stop")
        assert.strictEqual(response.model, MODEL)
        assert.strictEqual(response.provider, "gemini")
        assert.match(response.id, /^gemini-sim/)
        assert.strictEqual(response.usage.completionTokens, 12)
        assert.isAbove(response.usage.promptTokens, 0)
        assert.strictEqual(response.usage.totalTokens, response.usage.promptTokens + 12)
        assert.strictEqual(response.keyId, credentials.keyId)
        assert.deepStrictEqual(response.toolCalls, [])
      })))

  AdapterE2e.itStreamsTextThenUsageThenFinish(suite, "gemini", (finish) => assert.strictEqual(finish.model, MODEL))

  it.live("countTokens: Gemini's own count of the whole request, as its reply reports it", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client()
        const request = { ...hello, messages: [Message.system("Be brief."), ...hello.messages] }
        const counted = yield* gemini.countTokens!(request, credentials)
        const response = yield* gemini.chat(request, credentials)
        assert.strictEqual(counted, response.usage.promptTokens)
        const refused = yield* Effect.flip(gemini.countTokens!({ ...request, model: "gemini-nope" }, credentials))
        assert.strictEqual(refused._tag, "ModelNotFoundError")
      })))

  it.live("streamed and whole replies collect to the same response (text, thoughts, cached tokens)", () =>
    withGemini({ replyTokens: 30, reasoningTokens: 5 }, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client({ headers: { "x-simulator-cached-tokens": "4" } })
        const request: ChatRequest.Input = { ...hello, reasoningEffort: "low" }
        const { whole } = yield* AdapterE2e.sameStreamedAndWhole(gemini, request, credentials, comparable)
        assert.strictEqual(whole.reasoning?.split(" ").length, 5)
        assert.strictEqual(whole.usage.reasoningTokens, 5)
        assert.strictEqual(whole.usage.completionTokens, 35)
        assert.strictEqual(whole.usage.cachedPromptTokens, 4)
        const none = yield* gemini.chat({ ...hello, reasoningEffort: "none" }, credentials)
        assert.isUndefined(none.reasoning)
      })))

  it.live("a named tool call, with its thought signature, streamed and whole", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client()
        const request: ChatRequest.Input = { ...hello, tools, toolChoice: { tool: "get_weather" } }
        const call = yield* AdapterE2e.aNamedToolCallStreamedAndWhole(gemini, request, credentials, comparable)
        // Made from the reply's id (Gemini gave none): calls of two replies are never named alike.
        assert.match(call.id, /^call_gemini-sim\d+_0$/)
        assert.deepStrictEqual(JSON.parse(call.arguments), { city: "sim" })
        assert.isString((call.providerMetadata?.["gemini"] as { thoughtSignature?: string }).thoughtSignature)
      })))

  it.live("parallel tool calls over several events, streamed and whole", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client({ headers: { "x-simulator-tool-calls": "3" } })
        const request: ChatRequest.Input = { ...hello, tools, toolChoice: "required" }
        const whole = yield* gemini.chat(request, credentials)
        assert.deepStrictEqual(whole.toolCalls.map((c) => c.name), ["get_weather", "get_time", "get_weather"])
        assert.deepStrictEqual(whole.toolCalls.map((c) => c.id), [0, 1, 2].map((i) => `call_${whole.id}_${i}`))
        // Gemini signs only the first call of a reply.
        assert.deepStrictEqual(whole.toolCalls.map((c) => c.providerMetadata !== undefined), [true, false, false])
        const chunks = yield* Stream.runCollect(gemini.chatStream(request, credentials))
        const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
        assert.deepStrictEqual(deltas.map((d) => d.index), [0, 1, 2])
        const streamed = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        assert.deepStrictEqual(comparable(streamed), comparable(whole))
      })))

  it.live("a tool loop sends the signature back; an unsigned call goes with Gemini's documented stand-in", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client({ headers: { "x-simulator-tool-calls": "2" } })
        // The calls asked for (the simulated model calls a tool only when asked).
        const first = yield* gemini.chat({ ...hello, tools, toolChoice: "required" }, credentials)
        const results = first.toolCalls.map((call, i) => Message.toolResult(call, { temperature: 21 + i }))
        const second = yield* gemini.chat({
          messages: [...hello.messages, Message.fromResponse(first), ...results],
          tools
        }, credentials)
        assert.strictEqual(second.finishReason, "stop")
        assert.include(second.text, "The tool returned")
        assert.include(second.text, "22")

        // Results without a name are matched to their call by id.
        const unnamed = results.map(({ name: _name, ...rest }) => rest)
        const third = yield* ChatChunk.collect(gemini.chatStream({
          messages: [...hello.messages, Message.fromResponse(first), ...unnamed],
          tools
        }, credentials))
        assert.include(third.text, "The tool returned")

        // Calls Gemini did not sign (another provider's, or a client's that keeps no signatures) go with the
        // signature its docs name for them, and are answered.
        const unsigned = yield* gemini.chat({
          messages: [
            ...hello.messages,
            Message.assistant("", { toolCalls: first.toolCalls.map(({ providerMetadata: _m, ...call }) => call) }),
            ...results
          ],
          tools
        }, credentials)
        assert.include(unsigned.text, "The tool returned")
      })))
})

describe("Gemini errors from the simulator", () => {
  AdapterE2e.itMapsARejectedKey(suite, "a bad key is a 400 -> AuthError invalid_key, no key in it", {
    rightKey: "AIza-the-right-key-0000",
    status: 400,
    provider: "gemini"
  })

  it.live("404 for an unknown model -> ModelNotFoundError; a long prompt -> ContextLengthError", () =>
    withGemini({ contextWindow: 50 }, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client()
        const missing = yield* Effect.flip(gemini.chat({ ...hello, model: "gemini-nope" }, credentials))
        assert(missing._tag === "ModelNotFoundError")
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.model, "gemini-nope")
        assert.include(missing.detail, "gemini-nope")
        const long = yield* Effect.flip(gemini.chat({ ...hello, maxTokens: 100 }, credentials))
        assert(long._tag === "ContextLengthError")
        assert.strictEqual(long.contextWindow, 50)
        const streamLong = yield* Effect.flip(
          Stream.runDrain(gemini.chatStream({ ...hello, maxTokens: 100 }, credentials))
        )
        assert.strictEqual(streamLong._tag, "ContextLengthError")
      })))

  AdapterE2e.itMapsThePerKeyRateLimit(suite)

  it.live("injected statuses map to their tags", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const failWith = AdapterE2e.failWithFault(client, hello, credentials)

        const daily = yield* failWith("status=429;code=PerDay", true)
        assert(daily._tag === "AuthError")
        assert.strictEqual(daily.reason, "quota_exhausted")

        const invalidKey = yield* failWith("status=400;code=API_KEY_INVALID")
        assert(invalidKey._tag === "AuthError")
        assert.strictEqual(invalidKey.reason, "invalid_key")

        yield* AdapterE2e.unavailableStatuses(failWith, [500, 503, 504], 503)

        yield* AdapterE2e.commonInjectedStatuses(failWith)
      })))

  it.live("a blocked prompt (200, no candidates) -> ContentFilterError", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client()
        const request = { messages: [Message.user(`Something bad ${GeminiFormat.blockedPromptMarker}`)] }
        yield* AdapterE2e.failsWholeAndStreamed(gemini, request, credentials, (error) => {
          assert(error._tag === "ContentFilterError")
          assert.include(error.detail, "SAFETY")
        })
      })))
})

describe("Gemini faults from the simulator", () => {
  AdapterE2e.itMapsAResetMidStream(suite, { fault: "reset=5", maxChunks: 5 })

  AdapterE2e.itSkipsAMalformedEvent(suite)

  it.live("a clean close before any finishReason -> StreamTruncatedError", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client(fault("truncate=4"))
        const chunks: Array<ChatChunk.ChatChunk> = []
        const error = yield* Effect.flip(
          Stream.runForEach(gemini.chatStream(hello, credentials), (c) => Effect.sync(() => chunks.push(c)))
        )
        assert(error._tag === "StreamTruncatedError")
        assert.strictEqual(error.model, MODEL)
        assert.strictEqual(chunks.length, 4)
        const whole = yield* Effect.flip(gemini.chat(hello, credentials))
        assert.strictEqual(whole._tag, "TransportError")
      })))

  it.live("an error event inside a 200 stream fails the stream with its code", () =>
    withGemini({}, ({ client }) =>
      Effect.gen(function*() {
        const gemini = yield* client(fault("stream-error=3"))
        const error = yield* Effect.flip(ChatChunk.collect(gemini.chatStream(hello, credentials)))
        assert(error._tag === "ProviderUnavailableError")
        assert.strictEqual(error.status, 500)
        assert.include(error.detail, "internal error")
        const whole = yield* Effect.flip(gemini.chat(hello, credentials))
        assert.strictEqual(whole._tag, "ProviderUnavailableError")
      })))
})

describe("Gemini timeouts and interruption", () => {
  AdapterE2e.itTimesOutAndAbandonsTheRequest(suite, { on: "client", stream: false })

  AdapterE2e.itClosesTheConnectionOnInterruption(suite)

  AdapterE2e.itClosesTheConnectionAfterAPrefix(suite)
})

describe("Gemini under Llm", () => {
  it.live("a key Gemini rejects with a 400 is disabled and the call succeeds with the next one", () =>
    Effect.gen(function*() {
      const good = "AIza-good-key-0000000001"
      const bad = "AIza-bad-key-00000000002"
      const simulator = yield* Simulator.make({ models, apiKeys: [good] })
      const pool = yield* poolInMemory({ providerId: "gemini-e2e", keys: [bad, good] })
      const llm = yield* AdapterE2e.llmOver(
        Gemini.layer({ baseUrl: simulator.url, model: MODEL }),
        pool,
        { retry: RetryPolicy.make({ maxRetries: 3, baseDelay: "10 millis" }) }
      )
      const responses = yield* Effect.all([llm.chat(hello), ChatChunk.collect(llm.chatStream(hello)), llm.chat(hello)])
      for (const response of responses) assert.strictEqual(response.finishReason, "stop")
      const status = yield* pool.status
      assert.strictEqual(
        status.find((key) => key.keyId === ProviderClient.credentials(bad).keyId)?.disabled,
        "invalid_key"
      )
    }))
})
