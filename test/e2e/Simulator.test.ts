import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Simulator from "../../src/simulator/Simulator.js"
import { eventually } from "../utils/eventually.js"

// ---------------------------------------------------------------------------
// A plain fetch client and an SSE reassembler, independent of the library.
// ---------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const user = (content: string) => ({ role: "user", content })

const call = (
  sim: Simulator.Simulator,
  body: unknown,
  headers: Record<string, string> = {},
  init: { readonly path?: string; readonly method?: string; readonly raw?: string; readonly signal?: AbortSignal } = {}
): Effect.Effect<Answer, unknown> =>
  Effect.tryPromise({
    try: async () => {
      const response = await fetch(`${sim.url}${init.path ?? "/v1/chat/completions"}`, {
        method: init.method ?? "POST",
        headers: { "content-type": "application/json", authorization: "Bearer sk-test-0001", ...headers },
        ...(init.method === "GET" ? {} : { body: init.raw ?? JSON.stringify(body) }),
        ...(init.signal === undefined ? {} : { signal: init.signal })
      })
      return { status: response.status, headers: response.headers, text: await response.text() }
    },
    catch: (error) => error
  })

const post = (sim: Simulator.Simulator, body: unknown, headers: Record<string, string> = {}) =>
  Effect.orDie(call(sim, body, headers))

/** The body, parsed; the tests index into it freely. */
const json = (answer: Answer) => JSON.parse(answer.text)

interface ToolCallJson {
  readonly id: string
  readonly function: { readonly name: string; readonly arguments: string }
}

/** The `data:` payloads of an SSE body, in order. */
const events = (text: string): Array<string> =>
  text.split("\n\n").filter((event) => event !== "").map((event) => event.replace(/^data: /, ""))

interface Assembled {
  readonly id: string | undefined
  readonly created: ReadonlyArray<number>
  readonly role: string | undefined
  readonly content: string
  readonly reasoning: string
  readonly toolCalls: Array<{ id: string; name: string; arguments: string }>
  readonly finishReason: string | undefined
  readonly usage: unknown
  readonly done: boolean
}

/** Folds a Chat Completions stream the way the official SDK's accumulator does. */
const assemble = (text: string): Assembled => {
  let id: string | undefined
  const created: Array<number> = []
  let role: string | undefined
  let content = ""
  let reasoning = ""
  const toolCalls: Array<{ id: string; name: string; arguments: string }> = []
  let finishReason: string | undefined
  let usage: unknown
  let done = false
  for (const data of events(text)) {
    if (data === "[DONE]") {
      done = true
      continue
    }
    const chunk = JSON.parse(data)
    expect(chunk.object).toBe("chat.completion.chunk")
    id ??= chunk.id
    expect(chunk.id).toBe(id)
    created.push(chunk.created)
    if (chunk.usage !== null && chunk.usage !== undefined) usage = chunk.usage
    for (const choice of chunk.choices) {
      const delta = choice.delta
      role ??= delta.role
      content += delta.content ?? ""
      reasoning += delta.reasoning_content ?? ""
      for (const call of delta.tool_calls ?? []) {
        const slot = (toolCalls[call.index] ??= { id: "", name: "", arguments: "" })
        if (call.id !== undefined) slot.id = call.id
        if (call.function?.name !== undefined) slot.name = call.function.name
        slot.arguments += call.function?.arguments ?? ""
      }
      if (choice.finish_reason !== null) finishReason = choice.finish_reason
    }
  }
  return { id, created, role, content, reasoning, toolCalls, finishReason, usage, done }
}

const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Weather for a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string" },
        days: { type: "integer" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        hourly: { type: "boolean" },
        tags: { type: "array", items: { type: "string" } }
      },
      required: ["city", "days", "unit", "hourly"]
    }
  }
}
const timeTool = {
  type: "function",
  function: {
    name: "get_time",
    parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] }
  }
}

const request = {
  model: "gpt-4o-mini",
  messages: [{ role: "system", content: "Be brief." }, user("Tell me about Effect.")]
}

// ---------------------------------------------------------------------------

// Both servers (the plain node:http listener and @effect/platform) must send the same bytes.
for (const server of ["node", "platform"] as const) {
  const start = (options: Simulator.Options = {}) => Simulator.make({ server, ...options })

  describe(`Simulator (Chat Completions over loopback, ${server} server)`, () => {
    it.effect("answers a non-streamed request in OpenAI's shape", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        expect(sim.url).toBe(`http://127.0.0.1:${sim.port}`)
        const answer = yield* post(sim, request)
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("application/json")
        expect(answer.headers.get("x-request-id")).toMatch(/^req_/)
        const body = json(answer)
        expect(body).toMatchObject({ object: "chat.completion", model: "gpt-4o-mini" })
        expect(body.id).toMatch(/^chatcmpl-/)
        expect(typeof body.created).toBe("number")
        const [choice] = body.choices
        expect(choice).toMatchObject({ index: 0, finish_reason: "stop", logprobs: null })
        expect(choice.message.role).toBe("assistant")
        expect(choice.message.content.split(" ")).toHaveLength(16)
        expect(choice.message.content).toMatch(/^[A-Z][a-z]+( [a-z]+)*\.$/)
        // "Be brief." and "Tell me about Effect.": 30 characters, ceil(30 / 4) = 8 tokens.
        expect(body.usage).toEqual({
          prompt_tokens: 8,
          completion_tokens: 16,
          total_tokens: 24,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0
          }
        })
      }))

    it.effect("streams the same text and usage as the non-streamed reply", () =>
      Effect.gen(function*() {
        const sim = yield* start({ replyTokens: 24 })
        const whole = json(yield* post(sim, request))
        const answer = yield* post(sim, { ...request, stream: true })
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("text/event-stream")
        const payloads = events(answer.text)
        expect(payloads.at(-1)).toBe("[DONE]")
        const first = JSON.parse(payloads[0]!)
        expect(first.choices[0]).toMatchObject({
          index: 0,
          delta: { role: "assistant", content: "" },
          finish_reason: null
        })
        expect("usage" in first).toBe(false)
        // role chunk, 24 tokens, finish chunk, [DONE]
        expect(payloads).toHaveLength(27)
        const streamed = assemble(answer.text)
        expect(new Set(streamed.created).size).toBe(1)
        expect(streamed.content).toBe(whole.choices[0].message.content)
        expect(streamed.finishReason).toBe("stop")
        expect(streamed.usage).toBeUndefined()

        const withUsage = yield* post(sim, { ...request, stream: true, stream_options: { include_usage: true } })
        const usagePayloads = events(withUsage.text)
        const last = JSON.parse(usagePayloads.at(-2)!)
        expect(last.choices).toEqual([])
        expect(last.usage).toEqual(whole.usage)
        for (const payload of usagePayloads.slice(0, -2)) expect(JSON.parse(payload).usage).toBeNull()
        expect(assemble(withUsage.text).content).toBe(whole.choices[0].message.content)
      }))

    it.effect("derives the reply from the request, and honours the reply-length header and max tokens", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const a = json(yield* post(sim, request)).choices[0].message.content
        const b = json(yield* post(sim, request)).choices[0].message.content
        const other =
          json(yield* post(sim, { ...request, messages: [user("Something else")] })).choices[0].message.content
        expect(a).toBe(b)
        expect(other).not.toBe(a)

        const short = json(yield* post(sim, request, { "x-simulator-reply-tokens": "3" }))
        expect(short.choices[0].message.content.split(" ")).toHaveLength(3)
        expect(short.usage.completion_tokens).toBe(3)

        const capped = json(yield* post(sim, { ...request, max_completion_tokens: 5 }))
        expect(capped.choices[0].finish_reason).toBe("length")
        expect(capped.usage.completion_tokens).toBe(5)

        const cached = json(yield* post(sim, request, { "x-simulator-cached-tokens": "4" }))
        expect(cached.usage.prompt_tokens_details.cached_tokens).toBe(4)

        const bad = yield* post(sim, request, { "x-simulator-reply-tokens": "lots" })
        expect(bad.status).toBe(400)
        expect(json(bad).error.message).toContain("x-simulator-reply-tokens")
      }))

    it.effect("a bad knob header is a 400 naming it; of several bad ones, the first the simulator reads", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const integer = (name: string, min: number, max: number, text: string) =>
          `Invalid ${name} header "${text}": expected an integer from ${min} to ${max}.`
        const text = (name: string) =>
          `Invalid ${name} header: expected text, percent-encoded as encodeURIComponent writes it.`
        const most = Number.MAX_SAFE_INTEGER
        // In the order the simulator reads them.
        const knobs: ReadonlyArray<readonly [string, string, string]> = [
          ["x-simulator-reply-tokens", "100001", integer("x-simulator-reply-tokens", 0, 100_000, "100001")],
          ["x-simulator-reply", "%E0%A4%A", text("x-simulator-reply")],
          ["x-simulator-reasoning", "%", text("x-simulator-reasoning")],
          ["x-simulator-tool-calls", "0", integer("x-simulator-tool-calls", 1, 64, "0")],
          ["x-simulator-cached-tokens", "-1", integer("x-simulator-cached-tokens", 0, most, "-1")],
          ["x-simulator-cache-write-tokens", "1.5", integer("x-simulator-cache-write-tokens", 0, most, "1.5")]
        ]
        for (let i = 0; i < knobs.length; i++) {
          const [name, value, message] = knobs[i]!
          const alone = yield* post(sim, request, { [name]: value })
          expect(alone.status, name).toBe(400)
          expect(json(alone).error, name).toMatchObject({ type: "invalid_request_error", message, param: name })
          const later = Object.fromEntries(knobs.slice(i).map(([name, value]) => [name, value]))
          expect(json(yield* post(sim, request, later)).error.message, name).toBe(message)
        }
      }))

    it.effect("adds reasoning when reasoning_effort is set, streamed as reasoning_content", () =>
      Effect.gen(function*() {
        const sim = yield* start({ reasoningTokens: 6 })
        const body = { ...request, reasoning_effort: "low" }
        const whole = json(yield* post(sim, body))
        expect(whole.choices[0].message.reasoning_content.split(" ")).toHaveLength(6)
        expect(whole.usage.completion_tokens_details.reasoning_tokens).toBe(6)
        expect(whole.usage.completion_tokens).toBe(22)
        const streamed = assemble(
          (yield* post(sim, { ...body, stream: true, stream_options: { include_usage: true } })).text
        )
        expect(streamed.reasoning).toBe(whole.choices[0].message.reasoning_content)
        expect(streamed.content).toBe(whole.choices[0].message.content)
        expect(streamed.usage).toEqual(whole.usage)
      }))

    it.effect("lists its models", () =>
      Effect.gen(function*() {
        const sim = yield* start({ models: ["sim-small", "sim-large"] })
        const list = yield* Effect.orDie(call(sim, undefined, {}, { path: "/v1/models", method: "GET" }))
        expect(list.status).toBe(200)
        expect(json(list)).toMatchObject({
          object: "list",
          data: [{ id: "sim-small", object: "model", owned_by: "simulator" }, { id: "sim-large", object: "model" }]
        })
        const one = yield* Effect.orDie(call(sim, undefined, {}, { path: "/v1/models/sim-large", method: "GET" }))
        expect(json(one).id).toBe("sim-large")
        const missing = yield* Effect.orDie(call(sim, undefined, {}, { path: "/v1/models/gpt-x", method: "GET" }))
        expect(missing.status).toBe(404)
        const route = yield* Effect.orDie(call(sim, {}, {}, { path: "/v1/nope" }))
        expect(route.status).toBe(404)
        expect(json(route).error.message).toBe("Invalid URL (POST /v1/nope)")
      }))

    it.effect("rejects unknown keys with 401 invalid_api_key", () =>
      Effect.gen(function*() {
        const sim = yield* start({ apiKeys: ["sk-good-key-1234"] })
        const wrong = yield* post(sim, request, { authorization: "Bearer sk-wrong-key-9999" })
        expect(wrong.status).toBe(401)
        const error = json(wrong).error
        expect(error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", param: null })
        expect(error.message).toContain("Incorrect API key provided: sk-…9999")
        expect(error.message).not.toContain("sk-wrong-key-9999")
        const missing = yield* Effect.orDie(Effect.tryPromise(() =>
          fetch(`${sim.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify(request) })
        ))
        expect(missing.status).toBe(401)
        expect((yield* post(sim, request, { authorization: "Bearer sk-good-key-1234" })).status).toBe(200)
        const models = yield* Effect.orDie(call(sim, undefined, {}, { path: "/v1/models", method: "GET" }))
        expect(models.status).toBe(401)
      }))

    it.effect("answers 404 model_not_found for an unknown model", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const answer = yield* post(sim, { ...request, model: "gpt-9" })
        expect(answer.status).toBe(404)
        expect(json(answer).error).toEqual({
          message: "The model `gpt-9` does not exist or you do not have access to it.",
          type: "invalid_request_error",
          param: null,
          code: "model_not_found"
        })
      }))

    it.effect("answers 400 context_length_exceeded past the context window", () =>
      Effect.gen(function*() {
        const sim = yield* start({ contextWindow: 100, contextWindows: { "sim-large": 1000 } })
        const long = { model: "sim-small", messages: [user("x".repeat(360))], max_tokens: 20 }
        const answer = yield* post(sim, long)
        expect(answer.status).toBe(400)
        expect(json(answer).error).toMatchObject({
          type: "invalid_request_error",
          param: "messages",
          code: "context_length_exceeded"
        })
        expect(json(answer).error.message).toBe(
          "This model's maximum context length is 100 tokens. However, you requested 110 tokens " +
            "(90 in the messages, 20 in the completion). Please reduce the length of the messages or completion."
        )
        expect((yield* post(sim, { ...long, max_tokens: 10 })).status).toBe(200)
        expect((yield* post(sim, { ...long, model: "sim-large" })).status).toBe(200)
      }))

    it.effect("limits requests per minute per key, with OpenAI's headers, on Clock time", () =>
      Effect.gen(function*() {
        const sim = yield* start({ requestsPerMinute: 2 })
        const key = (k: string) => ({ authorization: `Bearer ${k}` })
        const first = yield* post(sim, request, key("sk-key-aaaa"))
        expect(first.status).toBe(200)
        expect(first.headers.get("x-ratelimit-limit-requests")).toBe("2")
        expect(first.headers.get("x-ratelimit-remaining-requests")).toBe("1")
        expect(first.headers.get("x-ratelimit-reset-requests")).toBe("30s")
        const second = yield* post(sim, request, key("sk-key-aaaa"))
        expect(second.headers.get("x-ratelimit-remaining-requests")).toBe("0")
        expect(second.headers.get("x-ratelimit-reset-requests")).toBe("1m0s")
        const third = yield* post(sim, request, key("sk-key-aaaa"))
        expect(third.status).toBe(429)
        expect(json(third).error).toMatchObject({ code: "rate_limit_exceeded", type: "requests" })
        expect(third.headers.get("retry-after")).toBe("30")
        expect(third.headers.get("retry-after-ms")).toBe("30000")
        expect(third.headers.get("x-ratelimit-remaining-requests")).toBe("0")
        expect(third.headers.get("x-ratelimit-reset-requests")).toBe("1m0s")
        // Another key has its own bucket.
        expect((yield* post(sim, request, key("sk-key-bbbb"))).status).toBe(200)
        // The window is read from Clock: the TestClock refills one request in 30 s.
        yield* TestClock.adjust(Duration.seconds(30))
        const later = yield* post(sim, request, key("sk-key-aaaa"))
        expect(later.status).toBe(200)
        expect(later.headers.get("x-ratelimit-reset-requests")).toBe("1m0s")
        expect((yield* post(sim, request, key("sk-key-aaaa"))).status).toBe(429)
      }))

    it.effect("calls the first tool with its required arguments from its schema, whole or in fragments", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        // A call is asked for: without it the model answers in text.
        const body = { ...request, tools: [weatherTool, timeTool], tool_choice: "required" }
        const whole = json(yield* post(sim, body))
        const [choice] = whole.choices
        expect(choice.finish_reason).toBe("tool_calls")
        expect(choice.message.content).toBeNull()
        expect(choice.message.tool_calls).toHaveLength(1)
        const [toolCall] = choice.message.tool_calls
        expect(toolCall).toMatchObject({ type: "function", function: { name: "get_weather" } })
        expect(toolCall.id).toMatch(/^call_[A-Za-z0-9]{24}$/)
        // `tags` is optional: left out.
        expect(JSON.parse(toolCall.function.arguments)).toEqual({ city: "sim", days: 1, unit: "celsius", hourly: true })

        const answer = yield* post(sim, { ...body, stream: true, stream_options: { include_usage: true } })
        const payloads = events(answer.text).slice(0, -1).map((p) => JSON.parse(p))
        const opening = payloads[1].choices[0].delta.tool_calls[0]
        expect(opening).toEqual({
          index: 0,
          id: toolCall.id,
          type: "function",
          function: { name: "get_weather", arguments: "" }
        })
        const fragments = payloads.filter((p) => p.choices[0]?.delta.tool_calls?.[0]?.function.arguments)
        expect(fragments.length).toBeGreaterThan(2)
        for (const fragment of fragments) {
          expect(Object.keys(fragment.choices[0].delta.tool_calls[0])).toEqual(["index", "function"])
        }
        const streamed = assemble(answer.text)
        expect(streamed.toolCalls).toEqual([{
          id: toolCall.id,
          name: "get_weather",
          arguments: toolCall.function.arguments
        }])
        expect(streamed.finishReason).toBe("tool_calls")
        expect(streamed.usage).toEqual(whole.usage)

        const forced = json(
          yield* post(sim, { ...body, tool_choice: { type: "function", function: { name: "get_time" } } })
        )
        expect(forced.choices[0].message.tool_calls[0].function).toEqual({
          name: "get_time",
          arguments: "{\"zone\":\"sim\"}"
        })
        const none = json(yield* post(sim, { ...body, tool_choice: "none" }))
        expect(none.choices[0].finish_reason).toBe("stop")
        expect(typeof none.choices[0].message.content).toBe("string")
        const unknown = yield* post(sim, { ...body, tool_choice: { type: "function", function: { name: "nope" } } })
        expect(unknown.status).toBe(400)
      }))

    it.effect("makes parallel tool calls on request, their fragments interleaved", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const body = { ...request, tools: [weatherTool, timeTool], tool_choice: "required" }
        const headers = { "x-simulator-tool-calls": "2" }
        const whole = json(yield* post(sim, body, headers)).choices[0].message.tool_calls
        expect(whole.map((c: ToolCallJson) => c.function.name)).toEqual(["get_weather", "get_time"])
        expect(whole[0].id).not.toBe(whole[1].id)
        const answer = yield* post(sim, { ...body, stream: true }, headers)
        const indexes = events(answer.text)
          .filter((p) => p !== "[DONE]")
          .flatMap((p) => (JSON.parse(p).choices[0]?.delta.tool_calls ?? []).map((c: { index: number }) => c.index))
        // Opening fragments, then arguments alternating between the calls.
        expect(indexes.slice(0, 4)).toEqual([0, 1, 0, 1])
        expect(assemble(answer.text).toolCalls).toEqual(
          whole.map((c: ToolCallJson) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }))
        )
        const serial = json(yield* post(sim, { ...body, parallel_tool_calls: false }, headers))
        expect(serial.choices[0].message.tool_calls).toHaveLength(1)
      }))

    it.effect("answers a tool result with text that mentions it", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const body = {
          ...request,
          tools: [weatherTool],
          messages: [
            user("Weather in Paris?"),
            {
              role: "assistant",
              content: null,
              tool_calls: [{
                id: "call_1",
                type: "function",
                function: { name: "get_weather", arguments: "{\"city\":\"Paris\"}" }
              }]
            },
            { role: "tool", tool_call_id: "call_1", content: "{\"temperature\":21}" }
          ]
        }
        const whole = json(yield* post(sim, body))
        expect(whole.choices[0].finish_reason).toBe("stop")
        expect(whole.choices[0].message.content).toMatch(/^The tool returned \{"temperature":21\} /)
        expect(assemble((yield* post(sim, { ...body, stream: true })).text).content).toBe(
          whole.choices[0].message.content
        )
      }))

    it.effect("answers bad input with 400 invalid_request_error", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const notJson = yield* Effect.orDie(call(sim, undefined, {}, { raw: "{\"model\": " }))
        expect(notJson.status).toBe(400)
        expect(json(notJson).error.type).toBe("invalid_request_error")
        expect(json(notJson).error.message).toContain("could not parse the JSON body")
        const noModel = json(yield* post(sim, { messages: [user("hi")] })).error
        expect(noModel).toMatchObject({ param: "model", message: "you must provide a model parameter" })
        const noMessages = json(yield* post(sim, { model: "gpt-4o" })).error
        expect(noMessages).toMatchObject({ param: "messages", message: "Missing required parameter: 'messages'." })
        const empty = yield* post(sim, { model: "gpt-4o", messages: [] })
        expect(empty.status).toBe(400)
        const badRole = json(yield* post(sim, { model: "gpt-4o", messages: [{ role: "robot", content: "x" }] })).error
        expect(badRole.param).toBe("messages[0].role")
        const streamOptions = json(yield* post(sim, { ...request, stream_options: { include_usage: true } })).error
        expect(streamOptions.param).toBe("stream_options")
      }))
  })

  describe(`Simulator faults (x-simulator-fault, ${server} server)`, () => {
    const fault = (sim: Simulator.Simulator, value: string, stream = false) =>
      post(sim, { ...request, stream }, { "x-simulator-fault": value })

    it.effect("answers an injected status with an OpenAI error body", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const unavailable = yield* fault(sim, "status=503")
        expect(unavailable.status).toBe(503)
        expect(json(unavailable).error).toMatchObject({ type: "server_error", code: null })
        expect(unavailable.headers.get("retry-after")).toBeNull()

        const limited = yield* fault(sim, "status=429", true)
        expect(limited.status).toBe(429)
        expect(json(limited).error.code).toBe("rate_limit_exceeded")
        expect(limited.headers.get("retry-after")).toBe("1")
        expect(limited.headers.get("retry-after-ms")).toBe("1000")
        const later = yield* fault(sim, "status=429; retry-after=2.5")
        expect(later.headers.get("retry-after")).toBe("3")
        expect(later.headers.get("retry-after-ms")).toBe("2500")

        const bare = yield* fault(sim, "status=429;retry-after=none")
        expect(bare.status).toBe(429)
        expect(json(bare).error.code).toBe("rate_limit_exceeded")
        expect(bare.headers.get("retry-after")).toBeNull()
        expect(bare.headers.get("retry-after-ms")).toBeNull()

        const quota = yield* fault(sim, "status=429;code=insufficient_quota")
        expect(quota.status).toBe(429)
        expect(json(quota).error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota" })
        expect(json(quota).error.message).toContain("exceeded your current quota")
        expect(quota.headers.get("retry-after")).toBeNull()

        expect((yield* fault(sim, "status=402")).status).toBe(402)
        const overloaded = yield* fault(sim, "status=529")
        expect(overloaded.status).toBe(529)
        expect(json(overloaded).error.type).toBe("overloaded_error")
        const custom = yield* fault(sim, "status=400;code=unsupported_parameter;message=No max_tokens here")
        expect(json(custom).error).toMatchObject({ code: "unsupported_parameter", message: "No max_tokens here" })
      }))

    it.live("chaos=<rate>: a seeded share of requests gets a fault of chaosFaults, counted in stats", () =>
      Effect.gen(function*() {
        // The faults of the mix that never answer (or never end their answer), and how many the simulator picked.
        const hanging = ["stall=0", "stall=3", "silent=forever"]
        const hung = (stats: Simulator.Stats) => hanging.reduce((sum, fault) => sum + (stats.injected[fault] ?? 0), 0)
        // Gives up on the request in flight once the simulator has picked a fault that never answers for it: the
        // requests go one at a time, so a new pick is this request's. No timer: a loaded machine is slow, not silent.
        const giveUp = (sim: Simulator.Simulator, before: number, controller: AbortController) =>
          sim.stats.pipe(
            Effect.filterOrFail((stats) => hung(stats) > before),
            Effect.retry(Schedule.spaced("5 millis")),
            Effect.andThen(Effect.sync(() => controller.abort()))
          )
        // The outcome of each of `n` requests sent one after another: a status, or "no answer".
        const run = (sim: Simulator.Simulator, value: string, n: number) =>
          Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
            Effect.gen(function*() {
              const controller = new AbortController()
              const watch = yield* Effect.forkChild(giveUp(sim, hung(yield* sim.stats), controller))
              return yield* call(sim, { ...request, stream: i % 2 === 0 }, { "x-simulator-fault": value }, {
                signal: controller.signal
              }).pipe(Effect.ensuring(Fiber.interrupt(watch)))
            }).pipe(
              // Read to its end (a cut or stalled body fails the call): a whole stream, or a whole reply.
              Effect.map((answer) =>
                answer.status !== 200
                  ? String(answer.status)
                  : (i % 2 === 0 ? isStream(answer.text) : isReply(answer.text))
                  ? "ok"
                  : "200, broken"
              ),
              Effect.orElseSucceed(() => "no answer")
            ))
        const isStream = (text: string) => {
          const payloads = events(text)
          return payloads.at(-1) === "[DONE]" && payloads.slice(0, -1).every((payload) => {
            try {
              return JSON.parse(payload).object === "chat.completion.chunk"
            } catch {
              return false
            }
          })
        }
        const isReply = (text: string) => {
          try {
            return JSON.parse(text).choices?.[0]?.finish_reason === "stop"
          } catch {
            return false
          }
        }
        const sim = yield* start()
        const outcomes = yield* run(sim, "chaos=0.3;seed=11", 120)
        const { injected } = yield* sim.stats
        const picked = Object.values(injected).reduce((a, b) => a + b, 0)
        // About 30% faulted; every picked fault is one of the mix.
        expect(picked).toBeGreaterThan(15)
        expect(picked).toBeLessThan(60)
        expect(Object.keys(injected).every((fault) => Simulator.chaosFaults.includes(fault))).toBe(true)
        // A fault the client notices for all but a late first token (which still answers).
        const healthy = outcomes.filter((outcome) => outcome === "ok").length
        expect(healthy).toBe(120 - picked + (injected["first-token=100"] ?? 0))
        // The same seed, in the same order, picks the same faults; another seed others.
        const again = yield* start()
        expect(yield* run(again, "chaos=0.3;seed=11", 120)).toEqual(outcomes)
        expect((yield* again.stats).injected).toEqual(injected)
        const other = yield* start()
        yield* run(other, "chaos=0.3;seed=12", 120)
        expect((yield* other.stats).injected).not.toEqual(injected)
        // Rate 0 injects nothing; rate 1 faults every request.
        const none = yield* start({ fault: "chaos=0" })
        yield* run(none, "chaos=0", 10)
        expect((yield* none.stats).injected).toEqual({})
        const all = yield* start()
        yield* run(all, "chaos=1;seed=5", 10)
        expect(Object.values((yield* all.stats).injected).reduce((a, b) => a + b, 0)).toBe(10)
      }))

    it.effect("answers non-JSON error bodies", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const html = yield* fault(sim, "html=502")
        expect(html.status).toBe(502)
        expect(html.headers.get("content-type")).toBe("text/html")
        expect(html.text).toContain("<title>502 Bad Gateway</title>")
        const empty = yield* fault(sim, "empty=400", true)
        expect(empty.status).toBe(400)
        expect(empty.text).toBe("")
      }))

    it.effect("resets the connection after n chunks", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const received: Array<string> = []
        const error = yield* Effect.flip(Effect.tryPromise({
          try: async () => {
            const response = await fetch(`${sim.url}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json", "x-simulator-fault": "reset=3" },
              body: JSON.stringify({ ...request, stream: true })
            })
            expect(response.status).toBe(200)
            const decoder = new TextDecoder()
            for await (const bytes of response.body!) received.push(decoder.decode(bytes as Uint8Array))
          },
          catch: (error) => error as Error & { cause?: { code?: string } }
        }))
        expect(error.message).toBe("terminated")
        expect(error.cause?.code).toBe("UND_ERR_SOCKET")
        expect(events(received.join(""))).toHaveLength(3)
        // A non-streamed request gets no answer at all.
        const plain = yield* Effect.flip(call(sim, request, { "x-simulator-fault": "reset=0" }))
        expect(String(plain)).toContain("fetch failed")
        // The server closed those connections, not the client.
        expect((yield* sim.stats).clientClosed).toBe(0)
      }))

    it.effect("sends a malformed event after n chunks", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const payloads = events((yield* fault(sim, "malformed=2", true)).text)
        expect(payloads[2]).toBe("{not json")
        expect(payloads.at(-1)).toBe("[DONE]")
        expect(payloads).toHaveLength(16 + 4)
        const whole = yield* fault(sim, "malformed=0")
        expect(whole.status).toBe(200)
        expect(() => JSON.parse(whole.text)).toThrow()
      }))

    it.effect("cuts a stream before any finish_reason and [DONE]", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const answer = yield* fault(sim, "truncate=4", true)
        expect(answer.status).toBe(200)
        const cut = assemble(answer.text)
        expect(events(answer.text)).toHaveLength(4)
        expect(cut.finishReason).toBeUndefined()
        expect(cut.done).toBe(false)
        const plain = yield* Effect.flip(call(sim, request, { "x-simulator-fault": "truncate=0" }))
        expect(String(plain)).toContain("terminated")
      }))

    it.effect("sends an error inside a 200 stream, in each shape", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const last = (text: string) => {
          const payloads = events(text)
          expect(payloads).toHaveLength(3)
          expect(payloads).not.toContain("[DONE]")
          return JSON.parse(payloads[2]!)
        }
        const openai = last((yield* fault(sim, "stream-error=2", true)).text)
        expect(openai).toEqual({
          error: {
            message: "The server had an error while processing your request. Sorry about that!",
            type: "server_error",
            param: null,
            code: null
          }
        })
        const vllm = last((yield* fault(sim, "stream-error=2;shape=vllm", true)).text)
        expect(vllm).toMatchObject({ object: "error", type: "InternalServerError", code: 500 })
        const openrouter = last((yield* fault(sim, "stream-error=2;shape=openrouter", true)).text)
        expect(openrouter.error).toMatchObject({ code: 502 })
        expect(openrouter.choices[0].finish_reason).toBe("error")
        const whole = yield* fault(sim, "stream-error=0")
        expect(whole.status).toBe(200)
        expect(json(whole).error.type).toBe("server_error")
      }))

    it.live("stalls after n chunks, and counts the client closing the connection", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const controller = new AbortController()
        const firstChunk = yield* Effect.promise(async () => {
          const response = await fetch(`${sim.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-simulator-fault": "stall=1" },
            body: JSON.stringify({ ...request, stream: true }),
            signal: controller.signal
          })
          const reader = response.body!.getReader()
          const { value } = await reader.read()
          return new TextDecoder().decode(value)
        })
        expect(events(firstChunk)).toHaveLength(1)
        expect((yield* sim.stats).inFlight).toBe(1)
        expect((yield* sim.stats).clientClosed).toBe(0)
        controller.abort()
        const stats = yield* eventually("the client's close seen", sim.stats, (s) => s.clientClosed === 1)
        expect(stats).toMatchObject({ clientClosed: 1, inFlight: 0 })
      }))

    it.live("never answers a silent=forever request, streamed or not; silent=<ms> answers after the wait", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        for (const stream of [true, false]) {
          const silent = yield* Effect.flip(
            call(sim, { ...request, stream }, { "x-simulator-fault": "silent=forever" }, {
              signal: AbortSignal.timeout(150)
            })
          )
          // No headers arrived: fetch itself was aborted, not the body read.
          expect(String(silent)).toContain("TimeoutError")
        }
        const started = performance.now()
        const late = yield* fault(sim, "silent=80", true)
        expect(performance.now() - started).toBeGreaterThanOrEqual(75)
        expect(assemble(late.text).done).toBe(true)
        const stats = yield* eventually("nothing in flight", sim.stats, (s) => s.inFlight === 0)
        expect(stats.clientClosed).toBe(2)
      }))

    it.live("sends a stream's headers at once and its first token after first-token=<ms>", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        // The platform server sends a stream's headers with its first chunk; the node server sends them at once:
        // with the first token a minute away, they arrive (the fetch resolves) long before it.
        if (server === "node") {
          const controller = new AbortController()
          const headers = yield* Effect.promise(() =>
            fetch(`${sim.url}/v1/chat/completions`, {
              method: "POST",
              headers: { "content-type": "application/json", "x-simulator-fault": "first-token=60000" },
              body: JSON.stringify({ ...request, stream: true }),
              signal: controller.signal
            }).then((response) => response.status, (error: unknown) => String(error))
          ).pipe(
            Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.succeed("no headers within 30 s") })
          )
          controller.abort()
          expect(headers).toBe(200)
        }
        const timing = yield* Effect.promise(async () => {
          const started = performance.now()
          const response = await fetch(`${sim.url}/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", "x-simulator-fault": "first-token=150" },
            body: JSON.stringify({ ...request, stream: true })
          })
          const text = await response.text()
          return { totalMs: performance.now() - started, text }
        })
        expect(timing.totalMs).toBeGreaterThanOrEqual(145)
        expect(assemble(timing.text).done).toBe(true)
        const started = performance.now()
        expect((yield* fault(sim, "first-token=60")).status).toBe(200)
        expect(performance.now() - started).toBeGreaterThanOrEqual(55)
      }))

    it.effect("is down for a window from its start, or from the first request carrying the fault, then healthy", () =>
      Effect.gen(function*() {
        const sim = yield* start({ fault: "down=60000" })
        const first = yield* post(sim, { ...request, stream: true })
        expect(first.status).toBe(503)
        expect(json(first).error.type).toBe("server_error")
        yield* TestClock.adjust("59 seconds")
        expect((yield* post(sim, request)).status).toBe(503)
        yield* TestClock.adjust("1 second")
        expect(assemble((yield* post(sim, { ...request, stream: true })).text).done).toBe(true)

        // Opened by the first request that carries the value, in the status asked for.
        const marked = "down=10000;since=first;status=502"
        expect((yield* fault(sim, marked)).status).toBe(502)
        yield* TestClock.adjust("9 seconds")
        expect((yield* fault(sim, marked)).status).toBe(502)
        // Another value is another window.
        expect((yield* fault(sim, "down=10000; since=first")).status).toBe(503)
        yield* TestClock.adjust("1 second")
        expect((yield* fault(sim, marked)).status).toBe(200)
        // From the start: the window (60 s) is long over.
        expect((yield* fault(sim, "down=60000")).status).toBe(200)
      }))

    it.effect("applies a default fault from the options, and names a bad header value", () =>
      Effect.gen(function*() {
        const sim = yield* start({ fault: "status=500" })
        expect((yield* post(sim, request)).status).toBe(500)
        expect((yield* fault(sim, "truncate=1", true)).status).toBe(200)
        for (
          const value of [
            "explode=1",
            "status=200",
            "reset=x",
            "stream-error=1;shape=grpc",
            "reset=1;after=2",
            "silent=soon",
            "first-token=-1",
            "down=1000;status=200",
            "down=1000;since=later"
          ]
        ) {
          const answer = yield* fault(sim, value)
          expect(answer.status).toBe(400)
          expect(json(answer).error).toMatchObject({ param: "x-simulator-fault", code: "invalid_simulator_fault" })
          expect(json(answer).error.message).toContain(`"${value}"`)
        }
      }))
  })

  describe(`Simulator knobs and lifecycle (${server} server)`, () => {
    it.live("paces a stream: time to first token, then tokens per second", () =>
      Effect.gen(function*() {
        const sim = yield* start({ timeToFirstToken: "60 millis", tokensPerSecond: 200, replyTokens: 10 })
        const started = performance.now()
        const answer = yield* post(sim, { ...request, stream: true })
        const elapsed = performance.now() - started
        expect(assemble(answer.text).done).toBe(true)
        // 60 ms, then 10 gaps of 5 ms between the 11 chunks.
        expect(elapsed).toBeGreaterThanOrEqual(100)
        const whole = yield* post(sim, request)
        expect(json(whole).choices[0].message.content).toBe(assemble(answer.text).content)
      }))

    it.live("waits the latency before answering", () =>
      Effect.gen(function*() {
        const sim = yield* start({ latency: Duration.millis(80) })
        const started = performance.now()
        expect((yield* post(sim, request)).status).toBe(200)
        expect(performance.now() - started).toBeGreaterThanOrEqual(75)
      }))

    it.live("closes its connections and stops listening when its scope closes", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sim = yield* start().pipe(Scope.provide(scope))
        const stalled = yield* Effect.forkChild(
          call(sim, { ...request, stream: true }, { "x-simulator-fault": "stall=0" })
        )
        yield* eventually("the stalled stream in flight", sim.stats, (s) => s.inFlight === 1)
        yield* Scope.close(scope, Exit.void)
        const exit = yield* Fiber.await(stalled)
        expect(Exit.isFailure(exit)).toBe(true)
        const refused = yield* Effect.flip(call(sim, request))
        expect(String((refused as Error & { cause?: unknown }).cause)).toContain("ECONNREFUSED")
      }))

    it.live("fails to start on a port in use, and on invalid options", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const sim = yield* start().pipe(Scope.provide(scope))
        const busy = yield* Effect.flip(Effect.scoped(start({ port: sim.port })))
        expect(busy).toMatchObject({ _tag: "SimulatorStartError", reason: "Listen" })
        expect(busy.message).toContain("EADDRINUSE")
        const invalid = yield* Effect.flip(Effect.scoped(start({ fault: "boom" })))
        expect(invalid).toMatchObject({ _tag: "OptionsError", module: "Simulator", option: "fault", value: "\"boom\"" })
        const negative = yield* Effect.flip(Effect.scoped(start({ replyTokens: -1 })))
        expect(negative).toMatchObject({ _tag: "OptionsError", option: "replyTokens", value: "-1" })
        const backlog = yield* Effect.flip(Effect.scoped(start({ backlog: 0 })))
        expect(backlog).toMatchObject({ _tag: "OptionsError", option: "backlog", value: "0" })
        expect(backlog.message).toBe("Simulator: backlog must be an integer of at least 1, got 0")
        const windows = yield* Effect.flip(
          Effect.scoped(start({ contextWindows: { "sim-small": 0 }, latency: "-1 second" }))
        )
        expect(windows).toMatchObject({ _tag: "OptionsError", option: "latency" })
        const built = yield* Effect.flip(
          Effect.scoped(Layer.build(Simulator.layer({ contextWindows: { "sim-small": 1.5 } })))
        )
        expect(built).toMatchObject({ _tag: "OptionsError", option: "contextWindows[\"sim-small\"]", value: "1.5" })
        const queued = yield* start({ backlog: 4096 }).pipe(Scope.provide(scope))
        expect((yield* post(queued, request)).status).toBe(200)
        yield* Scope.close(scope, Exit.void)
      }))

    it.live("runs as a layer", () =>
      Effect.gen(function*() {
        const sim = yield* Simulator.Simulator
        expect((yield* post(sim, request)).status).toBe(200)
        expect(yield* sim.requestCount).toBe(1)
      }).pipe(Effect.provide(Simulator.layer({ server, replyTokens: 2 }))))
  })
}
