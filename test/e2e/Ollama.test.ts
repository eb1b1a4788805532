import { assert, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Ollama from "../../src/providers/Ollama.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { poolInMemory } from "../utils/memoryStores.js"
import { type Answer, postJson } from "../utils/rawHttp.js"

// ---------------------------------------------------------------------------
// The simulator's /api/chat, through a plain fetch client.
// ---------------------------------------------------------------------------

const post = (
  sim: Simulator.Simulator,
  body: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> => postJson(`${sim.url}/api/chat`, body, headers)

const json = (answer: Answer) => JSON.parse(answer.text)

interface ToolCallJson {
  readonly id?: string
  readonly function: { readonly index?: number; readonly name: string; readonly arguments: unknown }
}

/** One NDJSON line, as far as the tests read it. */
interface Line {
  readonly done?: boolean
  readonly done_reason?: string
  readonly error?: string
  readonly eval_count?: number
  readonly prompt_eval_count?: number
  readonly message: {
    readonly content?: string
    readonly thinking?: string
    readonly tool_calls?: ReadonlyArray<ToolCallJson>
  }
}

/** The NDJSON lines of a body, parsed. */
const lines = (text: string): Array<Line> =>
  text.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Line)

/** Folds an /api/chat stream the way the `ollama` client's callers do. */
const assemble = (text: string) => {
  let content = ""
  let thinking = ""
  const toolCalls: Array<ToolCallJson> = []
  let done: Line | undefined
  for (const line of lines(text)) {
    if (line.done === true) {
      done = line
      continue
    }
    content += line.message.content ?? ""
    thinking += line.message.thinking ?? ""
    toolCalls.push(...(line.message.tool_calls ?? []))
  }
  return { content, thinking, toolCalls, done }
}

const user = (content: string) => ({ role: "user", content })
const request = {
  model: "sim-small",
  messages: [{ role: "system", content: "Be brief." }, user("Tell me about Effect.")]
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  }
}
const timeTool = {
  type: "function",
  function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } } } }
}

for (const server of ["node", "platform"] as const) {
  const start = (options: Simulator.Options = {}) => Simulator.make({ server, ...options })

  describe(`Simulator (Ollama /api/chat, ${server} server)`, () => {
    it.effect("answers stream:false with one JSON body in Ollama's shape", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const answer = yield* post(sim, { ...request, stream: false })
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("application/json")
        const body = json(answer)
        expect(body).toMatchObject({
          model: "sim-small",
          done: true,
          done_reason: "stop",
          message: { role: "assistant" }
        })
        expect(new Date(body.created_at).toISOString()).toBe(body.created_at)
        expect(body.message.content.split(" ")).toHaveLength(16)
        // "Be brief." and "Tell me about Effect.": 30 characters, 8 tokens.
        expect(body.prompt_eval_count).toBe(8)
        expect(body.eval_count).toBe(16)
        expect(body.total_duration).toBeGreaterThan(body.eval_duration)
        expect("id" in body).toBe(false)
      }))

    it.effect("streams NDJSON by default, with the same text and counts", () =>
      Effect.gen(function*() {
        const sim = yield* start({ replyTokens: 24 })
        const whole = json(yield* post(sim, { ...request, stream: false }))
        const answer = yield* post(sim, request)
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("application/x-ndjson")
        expect(answer.text.endsWith("\n")).toBe(true)
        const all = lines(answer.text)
        expect(all).toHaveLength(25)
        for (const line of all.slice(0, -1)) expect(line.done).toBe(false)
        const streamed = assemble(answer.text)
        expect(streamed.content).toBe(whole.message.content)
        expect(streamed.done).toMatchObject({
          done: true,
          done_reason: "stop",
          prompt_eval_count: whole.prompt_eval_count,
          eval_count: 24,
          message: { role: "assistant", content: "" }
        })
      }))
  })
}

describe("Simulator (Ollama /api/chat)", () => {
  const start = (options: Simulator.Options = {}) => Simulator.make(options)

  it.effect("thinks when asked (think: true or a level), streamed as message.thinking", () =>
    Effect.gen(function*() {
      const sim = yield* start({ reasoningTokens: 6 })
      const whole = json(yield* post(sim, { ...request, think: "low", stream: false }))
      expect(whole.message.thinking.split(" ")).toHaveLength(6)
      expect(whole.eval_count).toBe(22)
      const streamed = assemble((yield* post(sim, { ...request, think: true })).text)
      expect(streamed.thinking).toBe(whole.message.thinking)
      expect(streamed.content).toBe(whole.message.content)
      const plain = json(yield* post(sim, { ...request, think: false, stream: false }))
      expect(plain.message.thinking).toBeUndefined()
    }))

  it.effect("caps the reply with options.num_predict (done_reason length) and omits zero counts", () =>
    Effect.gen(function*() {
      const sim = yield* start()
      const capped = json(yield* post(sim, { ...request, options: { num_predict: 5 }, stream: false }))
      expect(capped.done_reason).toBe("length")
      expect(capped.eval_count).toBe(5)
      const cached = json(yield* post(sim, { ...request, stream: false }, { "x-simulator-cached-tokens": "3" }))
      expect(cached.prompt_eval_count).toBe(5)
      const allCached = json(yield* post(sim, { ...request, stream: false }, { "x-simulator-cached-tokens": "100" }))
      expect("prompt_eval_count" in allCached).toBe(false)
      expect("prompt_eval_duration" in allCached).toBe(false)
    }))

  it.effect("sends parallel tool calls whole in one line, arguments as objects, done_reason stop", () =>
    Effect.gen(function*() {
      const sim = yield* start()
      const body = { ...request, messages: [user("Weather and time?")], tools: [weatherTool, timeTool] }
      // Ollama's API has no tool choice: a model that calls tools on every turn (`output=loop`) calls them in turn.
      const calling = { "x-simulator-tool-calls": "3", [Simulator.faultHeader]: "output=loop" }
      const whole = json(yield* post(sim, { ...body, stream: false }, calling))
      expect(whole.done_reason).toBe("stop")
      expect(whole.message.content).toBe("")
      expect(whole.message.tool_calls.map((call: ToolCallJson) => call.function.name)).toEqual([
        "get_weather",
        "get_time",
        "get_weather"
      ])
      expect(whole.message.tool_calls.map((call: ToolCallJson) => call.function.index)).toEqual([0, 1, 2])
      expect(whole.message.tool_calls[0].function.arguments).toEqual({ city: "sim" })
      expect(whole.message.tool_calls[0].id).toMatch(/^call_/)

      const answer = yield* post(sim, body, calling)
      const withCalls = lines(answer.text).filter((line) => line.message.tool_calls !== undefined)
      expect(withCalls).toHaveLength(1)
      const streamed = assemble(answer.text)
      expect(streamed.toolCalls).toEqual(whole.message.tool_calls)
      expect(streamed.done?.done_reason).toBe("stop")
    }))

  it.effect("answers a tool result sent back with tool_name", () =>
    Effect.gen(function*() {
      const sim = yield* start()
      const reply = json(
        yield* post(sim, {
          ...request,
          stream: false,
          tools: [weatherTool],
          messages: [
            user("Weather?"),
            {
              role: "assistant",
              content: "",
              tool_calls: [{ id: "call_1", function: { name: "get_weather", arguments: { city: "Paris" } } }]
            },
            { role: "tool", tool_name: "get_weather", tool_call_id: "call_1", content: "{\"celsius\":21}" }
          ]
        })
      )
      expect(reply.message.content).toContain("The tool returned")
      expect(reply.message.content).toContain("21")
    }))

  it.effect("answers errors as {error: text} with Ollama's statuses", () =>
    Effect.gen(function*() {
      const sim = yield* start({ contextWindow: 20, apiKeys: ["ollama-cloud-key-0001"] })
      const auth = { authorization: "Bearer ollama-cloud-key-0001" }
      const unauthorized = yield* post(sim, request)
      expect(unauthorized.status).toBe(401)
      expect(json(unauthorized)).toEqual({ error: "unauthorized" })

      const missing = yield* post(sim, { ...request, model: "llama-nope" }, auth)
      expect(missing.status).toBe(404)
      expect(json(missing)).toEqual({ error: "model 'llama-nope' not found" })

      const long = yield* post(sim, { ...request, options: { num_predict: 50 } }, auth)
      expect(long.status).toBe(400)
      expect(json(long).error).toContain("exceeds maximum context length")

      const stringArgs = yield* post(sim, {
        ...request,
        messages: [{ role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: "{}" } }] }]
      }, auth)
      expect(stringArgs.status).toBe(400)
      expect(json(stringArgs).error).toContain("cannot unmarshal string")

      const url = yield* post(sim, {
        ...request,
        messages: [{ ...user("Look"), images: ["https://example.com/a.png"] }]
      }, auth)
      expect(url.status).toBe(400)

      const noModel = yield* post(sim, { messages: request.messages }, auth)
      expect(noModel.status).toBe(400)
      expect(json(noModel)).toEqual({ error: "model is required" })

      const injected = yield* post(sim, request, { ...auth, "x-simulator-fault": "status=502" })
      expect(injected.status).toBe(502)
      expect(typeof json(injected).error).toBe("string")
    }))

  it.effect("rate-limits per key with 429 and retry-after", () =>
    Effect.gen(function*() {
      const sim = yield* start({ requestsPerMinute: 1 })
      expect((yield* post(sim, request)).status).toBe(200)
      const limited = yield* post(sim, request)
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(typeof json(limited).error).toBe("string")
    }))

  it.effect("faults: an error line, a broken line, a body without its done line", () =>
    Effect.gen(function*() {
      const sim = yield* start()
      const errored = lines((yield* post(sim, request, { "x-simulator-fault": "stream-error=3" })).text)
      expect(errored).toHaveLength(4)
      expect(typeof errored[3]?.error).toBe("string")

      const malformed = (yield* post(sim, request, { "x-simulator-fault": "malformed=2" })).text.split("\n")
      expect(malformed[2]).toBe("{not json")
      expect(JSON.parse(malformed.at(-2)!).done).toBe(true)

      const truncated = lines((yield* post(sim, request, { "x-simulator-fault": "truncate=4" })).text)
      expect(truncated).toHaveLength(4)
      expect(truncated.some((line) => line.done === true)).toBe(false)

      const wholeError = yield* post(sim, { ...request, stream: false }, { "x-simulator-fault": "stream-error=0" })
      expect(wholeError.status).toBe(200)
      expect(typeof json(wholeError).error).toBe("string")
    }))
})

// ---------------------------------------------------------------------------
// The Ollama adapter over loopback against the simulator.
// ---------------------------------------------------------------------------

const KEY = "ollama-e2e-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const hello: ChatRequest.Input = { messages: [Message.user("Tell me about Effect in one paragraph.")] }
const tools = AdapterE2e.weatherAndTimeTools

const withOllama = AdapterE2e.adapterHarness<Ollama.Options>((simulator, options) =>
  Ollama.make({ baseUrl: simulator.url, model: "sim-small", ...options })
)

const fault = AdapterE2e.simulatorFault

const suite = { withClient: withOllama, request: hello, key: KEY }

const comparable = (response: ChatResponse) => AdapterE2e.comparable(response, { id: (id) => id })

const assertNoKey = AdapterE2e.noKeyAssertion(KEY)

describe("Ollama over the simulator", () => {
  it.live("a text reply with usage", () =>
    withOllama({ replyTokens: 12 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const response = yield* chat.chat(hello, credentials)
        expect(response.text.split(" ")).toHaveLength(12)
        expect(response).toMatchObject({ finishReason: "stop", model: "sim-small", provider: "ollama", id: "" })
        expect(response.usage.completionTokens).toBe(12)
        expect(response.usage.promptTokens).toBeGreaterThan(0)
        expect(response.usage.totalTokens).toBe(response.usage.promptTokens + 12)
        expect(response.keyId).toBe(credentials.keyId)
      })))

  it.live("a stream: text deltas, then Usage, then Finish; and it collects to the whole reply", () =>
    withOllama({ replyTokens: 20, reasoningTokens: 5 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const chunks = yield* Stream.runCollect(chat.chatStream(hello, credentials))
        const tags = chunks.map((c) => c._tag)
        expect(tags.filter((t) => t === "TextDelta")).toHaveLength(20)
        expect(tags.slice(-2)).toEqual(["Usage", "Finish"])

        const request: ChatRequest.Input = { ...hello, reasoningEffort: "low" }
        const { whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, request, credentials, comparable)
        expect(whole.reasoning?.split(" ")).toHaveLength(5)
        expect(whole.usage.completionTokens).toBe(25)
      })))

  it.live("usage counts only evaluated prompt tokens, 0 when Ollama omits them", () =>
    withOllama({}, ({ client }) =>
      Effect.gen(function*() {
        const plain = yield* Effect.flatMap(client(), (chat) => chat.chat(hello, credentials))
        const cached = yield* Effect.flatMap(
          client({ headers: { "x-simulator-cached-tokens": "100000" } }),
          (chat) => ChatChunk.collect(chat.chatStream(hello, credentials))
        )
        expect(plain.usage.promptTokens).toBeGreaterThan(0)
        expect(cached.usage.promptTokens).toBe(0)
        expect(cached.usage.completionTokens).toBe(plain.usage.completionTokens)
      })))

  it.live("parallel tool calls, streamed and whole, then a tool result round trip", () =>
    withOllama({}, ({ client }) =>
      Effect.gen(function*() {
        // Ollama's API has no tool choice: a model that calls tools on every turn (`output=loop`) calls them in turn.
        const chat = yield* client({
          headers: { "x-simulator-tool-calls": "3", [Simulator.faultHeader]: "output=loop" }
        })
        const request: ChatRequest.Input = { ...hello, tools }
        const whole = yield* chat.chat(request, credentials)
        expect(whole.finishReason).toBe("tool_calls")
        expect(whole.toolCalls.map((c) => c.name)).toEqual(["get_weather", "get_time", "get_weather"])
        expect(JSON.parse(whole.toolCalls[0]!.arguments)).toEqual({ city: "sim" })
        const chunks = yield* Stream.runCollect(chat.chatStream(request, credentials))
        const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
        expect(deltas.map((d) => d.index)).toEqual([0, 1, 2])
        const streamed = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        expect(comparable(streamed)).toEqual(comparable(whole))

        const call = whole.toolCalls[0]!
        const second = yield* (yield* client()).chat({
          messages: [...hello.messages, Message.fromResponse(whole), Message.toolResult(call, { temperature: 21 })],
          tools
        }, credentials)
        expect(second.finishReason).toBe("stop")
        expect(second.text).toContain("The tool returned")
        expect(second.text).toContain("21")
      })))

  it.live("maxTokens caps the reply through options.num_predict", () =>
    withOllama({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const whole = yield* chat.chat({ ...hello, maxTokens: 4 }, credentials)
        expect(whole.finishReason).toBe("length")
        expect(whole.usage.completionTokens).toBe(4)
        const streamed = yield* ChatChunk.collect(chat.chatStream({ ...hello, maxTokens: 4 }, credentials))
        expect(comparable(streamed)).toEqual(comparable(whole))
      })))
})

describe("Ollama errors from the simulator", () => {
  it.live("401, 404 model, context length, 429 with retryAfter", () =>
    withOllama({ apiKeys: ["the-right-key-000000"], contextWindow: 50 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const auth = yield* Effect.flip(chat.chat(hello, credentials))
        expect(auth).toMatchObject({ _tag: "AuthError", reason: "invalid_key", status: 401, provider: "ollama" })
        assertNoKey(auth)
        const streamAuth = yield* Effect.flip(Stream.runDrain(chat.chatStream(hello, credentials)))
        expect(streamAuth._tag).toBe("AuthError")

        const good = ProviderClient.credentials("the-right-key-000000")
        const missing = yield* Effect.flip(chat.chat({ ...hello, model: "llama-nope" }, good))
        expect(missing).toMatchObject({ _tag: "ModelNotFoundError", status: 404, model: "llama-nope" })
        expect(missing.detail).toBe("model 'llama-nope' not found")
        const streamMissing = yield* Effect.flip(
          Stream.runDrain(chat.chatStream({ ...hello, model: "llama-nope" }, good))
        )
        expect(streamMissing._tag).toBe("ModelNotFoundError")

        const long = yield* Effect.flip(chat.chat({ ...hello, maxTokens: 100 }, good))
        expect(long).toMatchObject({ _tag: "ContextLengthError", status: 400 })
      })))

  AdapterE2e.itMapsThePerKeyRateLimit(suite)

  it.live("injected statuses map to their tags", () =>
    withOllama({}, ({ client }) =>
      Effect.gen(function*() {
        const failWith = AdapterE2e.failWithFault(client, hello, credentials)
        expect(yield* failWith("status=400")).toMatchObject({ _tag: "InvalidRequestError", status: 400 })
        expect(yield* failWith("status=400", true)).toMatchObject({ _tag: "InvalidRequestError", status: 400 })
        expect(yield* failWith("status=404")).toMatchObject({ _tag: "ModelNotFoundError", status: 404 })
        expect(yield* failWith("status=429;retry-after=7")).toMatchObject({
          _tag: "RateLimitError",
          retryAfter: Duration.seconds(7)
        })
        for (const status of [500, 502]) {
          expect(yield* failWith(`status=${status}`, status === 502)).toMatchObject({
            _tag: "ProviderUnavailableError",
            status
          })
        }
        const html = yield* failWith("html=502")
        expect(html).toMatchObject({ _tag: "ProviderUnavailableError", status: 502 })
      })))
})

describe("Ollama faults from the simulator", () => {
  it.live("an error line mid-stream fails the stream after the chunks before it", () =>
    withOllama({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client(fault("stream-error=3"))
        const seen: Array<ChatChunk.ChatChunk> = []
        const exit = yield* Stream.runForEach(
          chat.chatStream(hello, credentials),
          (c) => Effect.sync(() => seen.push(c))
        ).pipe(
          Effect.result
        )
        assert(Result.isFailure(exit))
        expect(exit.failure._tag).toBe("ProviderUnavailableError")
        expect(exit.failure.detail).toContain("running the model")
        expect(seen.map((c) => c._tag)).toEqual(["TextDelta", "TextDelta", "TextDelta"])
        const whole = yield* Effect.flip(chat.chat(hello, credentials))
        expect(whole._tag).toBe("ProviderUnavailableError")
      })))

  it.live("a malformed line in a healthy stream is skipped and counted; a malformed body -> OutputDecodeError", () =>
    withOllama({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client(fault("malformed=2"))
        const { whole } = yield* AdapterE2e.malformedEventIsSkipped(chat, yield* client(), hello, credentials)
        expect(whole.raw.length).toBeGreaterThan(0)
      })))

  it.live("a body without its done line -> StreamTruncatedError; a reset -> TransportError", () =>
    withOllama({ replyTokens: 20 }, ({ client }) =>
      Effect.gen(function*() {
        const truncated = yield* Effect.flatMap(client(fault("truncate=4")), (chat) =>
          Effect.flip(ChatChunk.collect(chat.chatStream(hello, credentials))))
        expect(truncated).toMatchObject({ _tag: "StreamTruncatedError", model: "sim-small", provider: "ollama" })
        yield* AdapterE2e.resetMidStreamIsTransportError(yield* client(fault("reset=5")), hello, credentials, {
          key: KEY
        })
      })))
})

describe("Ollama timeouts and interruption", () => {
  AdapterE2e.itClosesTheConnectionOnInterruption(suite)

  AdapterE2e.itTimesOutAndAbandonsTheRequest(suite, {
    name: "no answer within the timeout -> TimeoutError, and the request is abandoned",
    on: "client",
    stream: true
  })
})

describe("Llm over Ollama", () => {
  it.live("a local server with the key \"none\": chat, chatStream and a tool loop through the whole stack", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ replyTokens: 6 })
      const pool = yield* poolInMemory({ providerId: "ollama-local", keys: ["none"] })
      const llm = yield* AdapterE2e.llmOver(Ollama.layer({ baseUrl: simulator.url, model: "sim-small" }), pool)
      const whole = yield* llm.chat(hello)
      expect(whole.provider).toBe("ollama")
      expect(whole.usage.completionTokens).toBe(6)
      const streamed = yield* ChatChunk.collect(llm.chatStream(hello))
      expect(streamed.text).toBe(whole.text)
      expect(streamed.usage).toEqual(whole.usage)

      // The call asked for by name (Ollama's API has no tool choice).
      const asked = [Message.user("What is the weather in Paris? Use get_weather.")]
      const first = yield* llm.chat({ messages: asked, tools })
      expect(first.finishReason).toBe("tool_calls")
      const second = yield* llm.chat({
        messages: [...asked, Message.fromResponse(first), Message.toolResult(first.toolCalls[0]!, "sunny")],
        tools
      })
      expect(second.text).toContain("The tool returned sunny")
    }))
})
