import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as GeminiFormat from "../../src/simulator/Gemini.js"
import * as Simulator from "../../src/simulator/Simulator.js"

const KEY = "AIza-e2e-0123456789abcdef"
const MODEL = "gemini-2.5-flash"
const models = [MODEL, "gemini-3-pro-preview"]

// ---------------------------------------------------------------------------
// The simulator's Gemini format, with plain fetch
// ---------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const rawCall = (
  sim: Simulator.Simulator,
  body: unknown,
  options: { readonly path?: string; readonly headers?: Record<string, string>; readonly key?: string | null } = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const key = options.key === undefined ? KEY : options.key
    const response = await fetch(`${sim.url}${options.path ?? `/v1beta/models/${MODEL}:generateContent`}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(key === null ? {} : { "x-goog-api-key": key }),
        ...options.headers
      },
      body: JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

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
  it.scopedLive("generateContent: text, finishReason, usageMetadata, modelVersion", () =>
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

  it.scopedLive("keys: ?key= works, a bad key is 400 API_KEY_INVALID, a missing one 403", () =>
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

  it.scopedLive("streamGenerateContent?alt=sse: deltas, running usage, finishReason last, no end marker", () =>
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
        const noAlt = yield* rawCall(sim, request, { path: `/v1beta/models/${MODEL}:streamGenerateContent` })
        assert.strictEqual(noAlt.status, 400)
      })))

  it.scopedLive("thoughts when includeThoughts is set, counted in thoughtsTokenCount", () =>
    withSim({ replyTokens: 6, reasoningTokens: 4 }, (sim) =>
      Effect.gen(function*() {
        const body = JSON.parse((yield* rawCall(sim, {
          contents: [userTurn("Think")],
          generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 1024 } }
        })).text)
        const parts = body.candidates[0].content.parts
        assert.isTrue(parts[0].thought)
        assert.strictEqual(body.usageMetadata.thoughtsTokenCount, 4)
        assert.strictEqual(body.usageMetadata.candidatesTokenCount, 6)
        const off = JSON.parse((yield* rawCall(sim, {
          contents: [userTurn("Think")],
          generationConfig: { thinkingConfig: { includeThoughts: true, thinkingBudget: 0 } }
        })).text)
        assert.strictEqual(off.candidates[0].content.parts.length, 1)
      })))

  it.scopedLive("function calls: whole, no id, a signature on the first; the signature is required back", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const request = {
          contents: [userTurn("Weather?")],
          tools: [weatherTool],
          toolConfig: { functionCallingConfig: { mode: "ANY" } }
        }
        const answer = yield* rawCall(sim, request, { headers: { "x-simulator-tool-calls": "3" } })
        const parts = JSON.parse(answer.text).candidates[0].content.parts
        assert.deepStrictEqual(parts.map((p: PartJson) => p.functionCall?.name), ["get_weather", "get_time", "get_weather"])
        assert.isString(parts[0].thoughtSignature)
        assert.isUndefined(parts[1].thoughtSignature)
        assert.isUndefined(parts[0].functionCall.id)
        assert.deepStrictEqual(parts[0].functionCall.args, { city: "sim" })

        const stream = sseEvents((yield* rawCall(sim, request, {
          path: streamPath(),
          headers: { "x-simulator-tool-calls": "3" }
        })).text)
        const streamedCalls = stream.flatMap((e) => e.candidates[0]!.content.parts.filter((p: PartJson) => p.functionCall))
        assert.deepStrictEqual(streamedCalls, parts)

        const unsigned = yield* rawCall(sim, {
          contents: [
            userTurn("Weather?"),
            { role: "model", parts: [{ functionCall: parts[0].functionCall }] },
            { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }] }
          ],
          tools: [weatherTool]
        })
        assert.strictEqual(unsigned.status, 400)
        assert.include(JSON.parse(unsigned.text).error.message, "thought_signature")

        const signed = yield* rawCall(sim, {
          contents: [
            userTurn("Weather?"),
            { role: "model", parts: [parts[0]] },
            { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }] }
          ],
          tools: [weatherTool]
        })
        assert.strictEqual(signed.status, 200)
        assert.match(JSON.parse(signed.text).candidates[0].content.parts[0].text, /^The tool returned sunny/)
      })))

  it.scopedLive("a blocked prompt: 200, promptFeedback, no candidates", () =>
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

  it.scopedLive("errors: unknown model, unknown method, context, rate limits and quotas", () =>
    withSim({ contextWindows: { [MODEL]: 20 } }, (sim) =>
      Effect.gen(function*() {
        const hi = { contents: [userTurn("hi")] }
        const unknown = yield* rawCall(sim, hi, { path: "/v1beta/models/gemini-nope:generateContent" })
        assert.strictEqual(unknown.status, 404)
        assert.include(JSON.parse(unknown.text).error.message, "models/gemini-nope is not found")
        const method = yield* rawCall(sim, hi, { path: `/v1beta/models/${MODEL}:countTokens` })
        assert.strictEqual(method.status, 404)
        const long = yield* rawCall(sim, { ...hi, generationConfig: { maxOutputTokens: 100 } })
        assert.strictEqual(long.status, 400)
        assert.include(JSON.parse(long.text).error.message, "exceeds the maximum number of tokens allowed (20)")
        const limited = JSON.parse((yield* rawCall(sim, hi, { headers: { "x-simulator-fault": "status=429;retry-after=9" } })).text)
        assert.strictEqual(limited.error.status, "RESOURCE_EXHAUSTED")
        assert.strictEqual(limited.error.details.at(-1).retryDelay, "9s")
        const daily = JSON.parse((yield* rawCall(sim, hi, { headers: { "x-simulator-fault": "status=429;code=PerDay" } })).text)
        assert.match(daily.error.details[0].violations[0].quotaId, /PerDay/)
        const unavailable = yield* rawCall(sim, hi, { headers: { "x-simulator-fault": "status=503" } })
        assert.strictEqual(unavailable.status, 503)
        assert.strictEqual(JSON.parse(unavailable.text).error.status, "UNAVAILABLE")
      })))

  it.scopedLive("stream faults: an error event, a cut before finishReason", () =>
    withSim({ replyTokens: 8 }, (sim) =>
      Effect.gen(function*() {
        const hi = { contents: [userTurn("hi")] }
        const errored = sseEvents((yield* rawCall(sim, hi, {
          path: streamPath(),
          headers: { "x-simulator-fault": "stream-error=2" }
        })).text)
        assert.strictEqual(errored.length, 3)
        assert.strictEqual(errored[2]!.error!.status, "INTERNAL")
        const cut = sseEvents((yield* rawCall(sim, hi, {
          path: streamPath(),
          headers: { "x-simulator-fault": "truncate=3" }
        })).text)
        assert.strictEqual(cut.length, 3)
        assert.isTrue(cut.every((e) => e.candidates[0]!.finishReason === undefined))
      })))

  it.scopedLive("the platform server serves the same routes", () =>
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
