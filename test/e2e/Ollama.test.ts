import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Simulator from "../../src/simulator/Simulator.js"

// ---------------------------------------------------------------------------
// The simulator's /api/chat, through a plain fetch client.
// ---------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const post = (
  sim: Simulator.Simulator,
  body: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(`${sim.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

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
const request = { model: "sim-small", messages: [{ role: "system", content: "Be brief." }, user("Tell me about Effect.")] }

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
    it.scoped("answers stream:false with one JSON body in Ollama's shape", () =>
      Effect.gen(function*() {
        const sim = yield* start()
        const answer = yield* post(sim, { ...request, stream: false })
        expect(answer.status).toBe(200)
        expect(answer.headers.get("content-type")).toBe("application/json")
        const body = json(answer)
        expect(body).toMatchObject({ model: "sim-small", done: true, done_reason: "stop", message: { role: "assistant" } })
        expect(new Date(body.created_at).toISOString()).toBe(body.created_at)
        expect(body.message.content.split(" ")).toHaveLength(16)
        // "Be brief." and "Tell me about Effect.": 30 characters, 8 tokens.
        expect(body.prompt_eval_count).toBe(8)
        expect(body.eval_count).toBe(16)
        expect(body.total_duration).toBeGreaterThan(body.eval_duration)
        expect("id" in body).toBe(false)
      }))

    it.scoped("streams NDJSON by default, with the same text and counts", () =>
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

  it.scoped("thinks when asked (think: true or a level), streamed as message.thinking", () =>
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

  it.scoped("caps the reply with options.num_predict (done_reason length) and omits zero counts", () =>
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

  it.scoped("sends parallel tool calls whole in one line, arguments as objects, done_reason stop", () =>
    Effect.gen(function*() {
      const sim = yield* start()
      const body = { ...request, messages: [user("Weather and time?")], tools: [weatherTool, timeTool] }
      const whole = json(yield* post(sim, { ...body, stream: false }, { "x-simulator-tool-calls": "3" }))
      expect(whole.done_reason).toBe("stop")
      expect(whole.message.content).toBe("")
      expect(whole.message.tool_calls.map((call: ToolCallJson) => call.function.name)).toEqual(["get_weather", "get_time", "get_weather"])
      expect(whole.message.tool_calls.map((call: ToolCallJson) => call.function.index)).toEqual([0, 1, 2])
      expect(whole.message.tool_calls[0].function.arguments).toEqual({ city: "sim" })
      expect(whole.message.tool_calls[0].id).toMatch(/^call_/)

      const answer = yield* post(sim, body, { "x-simulator-tool-calls": "3" })
      const withCalls = lines(answer.text).filter((line) => line.message.tool_calls !== undefined)
      expect(withCalls).toHaveLength(1)
      const streamed = assemble(answer.text)
      expect(streamed.toolCalls).toEqual(whole.message.tool_calls)
      expect(streamed.done?.done_reason).toBe("stop")
    }))

  it.scoped("answers a tool result sent back with tool_name", () =>
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

  it.scoped("answers errors as {error: text} with Ollama's statuses", () =>
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

      const url = yield* post(sim, { ...request, messages: [{ ...user("Look"), images: ["https://example.com/a.png"] }] }, auth)
      expect(url.status).toBe(400)

      const noModel = yield* post(sim, { messages: request.messages }, auth)
      expect(noModel.status).toBe(400)
      expect(json(noModel)).toEqual({ error: "model is required" })

      const injected = yield* post(sim, request, { ...auth, "x-simulator-fault": "status=502" })
      expect(injected.status).toBe(502)
      expect(typeof json(injected).error).toBe("string")
    }))

  it.scoped("rate-limits per key with 429 and retry-after", () =>
    Effect.gen(function*() {
      const sim = yield* start({ requestsPerMinute: 1 })
      expect((yield* post(sim, request)).status).toBe(200)
      const limited = yield* post(sim, request)
      expect(limited.status).toBe(429)
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0)
      expect(typeof json(limited).error).toBe("string")
    }))

  it.scoped("faults: an error line, a broken line, a body without its done line", () =>
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
