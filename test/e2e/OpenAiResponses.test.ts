import { assert, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import { organization } from "../../src/internal/simulator/openAiResponses/organization.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { poolInMemory } from "../utils/memoryStores.js"
import { type Answer, postJson } from "../utils/rawHttp.js"

// The simulator's Responses format, spoken to with plain fetch and a
// hand-written event reassembler, independent of the library's adapter.

const post = (
  sim: Simulator.Simulator,
  body: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  postJson(`${sim.url}/v1/responses`, body, { authorization: "Bearer sk-test-0001", ...headers })

const json = (answer: Answer) => JSON.parse(answer.text)

/** Parsed JSON, indexed freely by the assertions. */
type Json = ReturnType<typeof JSON.parse>

interface SseEvent {
  readonly event: string
  readonly data: string
}

const sse = (text: string): Array<SseEvent> =>
  text.split("\n\n").filter((block) => block !== "").map((block) => {
    const lines = block.split("\n")
    const event = lines.find((line) => line.startsWith("event: "))?.slice(7) ?? "message"
    const data = lines.filter((line) => line.startsWith("data: ")).map((line) => line.slice(6)).join("\n")
    return { event, data }
  })

interface Assembled {
  readonly text: string
  readonly reasoning: string
  readonly calls: Array<{ call_id: string; name: string; arguments: string }>
  readonly terminal: string | undefined
  readonly response: Json | undefined
  readonly types: Array<string>
}

/** Folds a Responses stream: deltas by item id, the terminal event's response. */
const assemble = (text: string): Assembled => {
  let out = ""
  let reasoning = ""
  const calls = new Map<string, { call_id: string; name: string; arguments: string }>()
  let terminal: string | undefined
  let response: Json | undefined
  const types: Array<string> = []
  let seq = -1
  for (const { data, event } of sse(text)) {
    const value = JSON.parse(data)
    expect(value.type).toBe(event)
    expect(value.sequence_number).toBeGreaterThan(seq)
    seq = value.sequence_number
    types.push(value.type)
    switch (value.type) {
      case "response.output_text.delta":
        out += value.delta
        break
      case "response.reasoning_summary_text.delta":
        reasoning += value.delta
        break
      case "response.output_item.added":
        if (value.item.type === "function_call") {
          calls.set(value.item.id, {
            call_id: value.item.call_id,
            name: value.item.name,
            arguments: value.item.arguments
          })
        }
        break
      case "response.function_call_arguments.delta":
        calls.get(value.item_id)!.arguments += value.delta
        break
      case "response.completed":
      case "response.incomplete":
      case "response.failed":
      case "error":
        terminal = value.type
        response = value.response
    }
  }
  return { text: out, reasoning, calls: [...calls.values()], terminal, response, types }
}

const user = (text: string) => ({ role: "user", content: [{ type: "input_text", text }] })

const request = {
  model: "gpt-4o-mini",
  instructions: "Be brief.",
  input: [user("Tell me about Effect.")],
  store: false
}

const weatherTool = {
  type: "function",
  name: "get_weather",
  description: "Weather for a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: true
}
const timeTool = {
  type: "function",
  name: "get_time",
  parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] },
  strict: null
}

const textOf = (body: Json): string =>
  body.output.filter((item: Json) => item.type === "message").flatMap((item: Json) => item.content).map((part: Json) =>
    part.text
  ).join("")

describe("Simulator (Responses over loopback)", () => {
  it.effect("answers a non-streamed request with a response object", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      const answer = yield* post(sim, request)
      expect(answer.status).toBe(200)
      expect(answer.headers.get("x-request-id")).toMatch(/^req_/)
      const body = json(answer)
      expect(body).toMatchObject({
        object: "response",
        status: "completed",
        model: "gpt-4o-mini",
        error: null,
        store: false
      })
      expect(body.id).toMatch(/^resp_/)
      expect(body.output).toHaveLength(1)
      expect(body.output[0]).toMatchObject({ type: "message", role: "assistant", status: "completed" })
      expect(body.output[0].content[0].type).toBe("output_text")
      expect(textOf(body).split(" ")).toHaveLength(16)
      expect("output_text" in body).toBe(false)
      // "Be brief." and "Tell me about Effect.": 30 characters, 8 tokens.
      expect(body.usage).toEqual({
        input_tokens: 8,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: 16,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: 24
      })
      // A string input is one user message.
      const plain = json(yield* post(sim, { model: "gpt-4o-mini", input: "Tell me about Effect." }))
      expect(plain.usage.input_tokens).toBe(6)
    }))

  it.effect("streams named events with the same text and usage, ending with response.completed", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ replyTokens: 24 })
      const whole = json(yield* post(sim, request, { "x-simulator-cached-tokens": "3" }))
      const answer = yield* post(sim, { ...request, stream: true }, { "x-simulator-cached-tokens": "3" })
      expect(answer.headers.get("content-type")).toContain("text/event-stream")
      expect(answer.text).not.toContain("[DONE]")
      const streamed = assemble(answer.text)
      expect(streamed.types.slice(0, 2)).toEqual(["response.created", "response.in_progress"])
      expect(streamed.types.filter((t) => t === "response.output_text.delta")).toHaveLength(24)
      expect(streamed.terminal).toBe("response.completed")
      expect(streamed.types.at(-1)).toBe("response.completed")
      expect(streamed.text).toBe(textOf(whole))
      expect(streamed.response!.usage).toEqual(whole.usage)
      expect(streamed.response!.usage.input_tokens_details.cached_tokens).toBe(3)
      expect(textOf(streamed.response!)).toBe(streamed.text)
    }))

  it.effect("reasoning: a reasoning item first, its summary when asked, encrypted content when included", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ reasoningTokens: 6 })
      const body = {
        ...request,
        reasoning: { effort: "low", summary: "auto" },
        include: ["reasoning.encrypted_content"]
      }
      const whole = json(yield* post(sim, body))
      const [reasoning, message] = whole.output
      expect(reasoning.type).toBe("reasoning")
      expect(reasoning.id).toMatch(/^rs_/)
      expect(reasoning.summary[0].text.split(" ")).toHaveLength(6)
      expect(reasoning.encrypted_content).toMatch(/^gAAAAB/)
      expect(message.type).toBe("message")
      expect(whole.usage.output_tokens_details.reasoning_tokens).toBe(6)
      expect(whole.usage.output_tokens).toBe(22)
      const streamed = assemble((yield* post(sim, { ...body, stream: true })).text)
      expect(streamed.reasoning).toBe(reasoning.summary[0].text)
      expect(streamed.text).toBe(textOf(whole))
      expect(streamed.response!.output[0]).toMatchObject({ type: "reasoning", summary: reasoning.summary })
      expect(streamed.response!.output[0].encrypted_content).toMatch(/^gAAAAB/)

      const bare = json(yield* post(sim, { ...request, reasoning: { effort: "low" } }))
      expect(bare.output[0]).toEqual({ id: bare.output[0].id, type: "reasoning", summary: [] })
      expect(bare.usage.output_tokens_details.reasoning_tokens).toBe(6)
      const off = json(yield* post(sim, { ...request, reasoning: { effort: "none" } }))
      expect(off.output.map((item: Json) => item.type)).toEqual(["message"])
    }))

  it.effect("flat function tools: parallel calls, arguments interleaved across events", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      const body = { ...request, tools: [weatherTool, timeTool], tool_choice: "required" }
      const headers = { "x-simulator-tool-calls": "2" }
      const whole = json(yield* post(sim, body, headers))
      const calls = whole.output.filter((item: Json) => item.type === "function_call")
      expect(whole.output).toHaveLength(2)
      expect(calls.map((c: Json) => c.name)).toEqual(["get_weather", "get_time"])
      expect(calls[0].id).toMatch(/^fc_/)
      expect(calls[0].call_id).toMatch(/^call_/)
      expect(JSON.parse(calls[0].arguments)).toEqual({ city: "sim" })
      const answer = yield* post(sim, { ...body, stream: true }, headers)
      const streamed = assemble(answer.text)
      expect(streamed.calls).toEqual(
        calls.map((c: Json) => ({ call_id: c.call_id, name: c.name, arguments: c.arguments }))
      )
      const deltaOwners = sse(answer.text)
        .map((e) => JSON.parse(e.data))
        .filter((e) => e.type === "response.function_call_arguments.delta")
        .map((e) => e.output_index)
      expect(deltaOwners.slice(0, 4)).toEqual([0, 1, 0, 1])
      expect(streamed.response!.usage).toEqual(whole.usage)

      const named = json(yield* post(sim, { ...body, tool_choice: { type: "function", name: "get_time" } }))
      expect(named.output[0]).toMatchObject({
        type: "function_call",
        name: "get_time",
        arguments: "{\"zone\":\"sim\"}"
      })
      const none = json(yield* post(sim, { ...body, tool_choice: "none" }))
      expect(none.output[0].type).toBe("message")
    }))

  it.effect("answers a function_call_output with text that mentions it", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      const body = {
        ...request,
        tools: [weatherTool],
        input: [
          user("Weather in Paris?"),
          { type: "function_call", call_id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" },
          { type: "function_call_output", call_id: "call_1", output: "{\"temperature\":21}" }
        ]
      }
      const whole = json(yield* post(sim, body))
      expect(textOf(whole)).toMatch(/^The tool returned \{"temperature":21\} /)
      expect(assemble((yield* post(sim, { ...body, stream: true })).text).text).toBe(textOf(whole))
    }))

  it.effect("max_output_tokens: status incomplete, streamed as response.incomplete", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ replyTokens: 40 })
      const body = { ...request, max_output_tokens: 16 }
      const whole = json(yield* post(sim, body))
      expect(whole.status).toBe("incomplete")
      expect(whole.incomplete_details).toEqual({ reason: "max_output_tokens" })
      expect(whole.usage.output_tokens).toBe(16)
      const streamed = assemble((yield* post(sim, { ...body, stream: true })).text)
      expect(streamed.terminal).toBe("response.incomplete")
      expect(streamed.response!.incomplete_details).toEqual({ reason: "max_output_tokens" })
      expect((yield* post(sim, { ...request, max_output_tokens: 5 })).status).toBe(400)
    }))

  it.effect("refuses Chat Completions shapes and broken reasoning replays with 400", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ organization: "replays" })
      const error = (answer: Answer) => {
        expect(answer.status).toBe(400)
        return json(answer).error
      }
      expect(error(yield* post(sim, { model: "gpt-4o-mini", messages: [user("hi")] }))).toMatchObject({
        param: "messages",
        message: "Unknown parameter: 'messages'."
      })
      expect(error(yield* post(sim, { ...request, max_tokens: 20 })).param).toBe("max_tokens")
      const nested = { type: "function", function: { name: "get_weather", parameters: {} } }
      expect(error(yield* post(sim, { ...request, tools: [nested] })).param).toBe("tools[0].name")
      const chatPart = { role: "user", content: [{ type: "text", text: "hi" }] }
      expect(error(yield* post(sim, { ...request, input: [chatPart] })).param).toBe("input[0].content[0].type")
      const chatFormat = { format: { type: "json_schema", json_schema: { name: "x", schema: {} } } }
      expect(error(yield* post(sim, { ...request, text: chatFormat })).param).toBe("text.format.name")
      const unknown = yield* post(sim, { ...request, previous_response_id: "resp_1" })
      expect(unknown.status).toBe(404)
      expect(json(unknown).error).toMatchObject({
        param: "previous_response_id",
        code: "previous_response_not_found",
        message: "Previous response with id 'resp_1' not found."
      })

      const call = { type: "function_call", id: "fc_1", call_id: "call_1", name: "get_weather", arguments: "{}" }
      const output = { type: "function_call_output", call_id: "call_1", output: "21" }
      const sealed = organization("replays").seal("its reasoning")
      const reasoning = { type: "reasoning", id: "rs_1", summary: [], encrypted_content: sealed }
      const replay = (input: Array<unknown>) => ({
        ...request,
        reasoning: { effort: "low" },
        input: [user("hi"), ...input]
      })
      expect(error(yield* post(sim, replay([call, output]))).message).toBe(
        "Item 'fc_1' of type 'function_call' was provided without its required 'reasoning' item."
      )
      expect((yield* post(sim, replay([reasoning, call, output]))).status).toBe(200)
      const { encrypted_content: _, ...stored } = reasoning
      expect(error(yield* post(sim, replay([stored, call, output]))).message).toContain("Items are not persisted")
      expect((yield* post(sim, { ...replay([stored, call, output]), store: true })).status).toBe(200)
      // Encrypted content alone (no id) is a whole reasoning item.
      const { id: _rs, ...inline } = reasoning
      expect((yield* post(sim, replay([inline, call, output]))).status).toBe(200)
      // Without reasoning, or without item ids, nothing is paired.
      expect((yield* post(sim, { ...request, input: [user("hi"), call, output] })).status).toBe(200)
      const { id: _id, ...anonymous } = call
      expect((yield* post(sim, replay([anonymous, output]))).status).toBe(200)
    }))

  it.effect("/v1/responses/compact: the user messages and an opaque compaction item, which a response then takes", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      const compact = (body: unknown) =>
        postJson(`${sim.url}/v1/responses/compact`, body, { authorization: "Bearer sk-test-0001" })
      const input = [
        { role: "user", content: "Tell me about Effect." },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "A library.", annotations: [] }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "More." }] }
      ]
      const tools = [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }]
      const answer = yield* compact({ model: "gpt-4o-mini", instructions: "Be brief.", input, tools })
      expect(answer.status).toBe(200)
      const body = json(answer)
      expect(body).toMatchObject({ object: "response.compaction" })
      expect(body.id).toMatch(/^resp_/)
      expect(body.output).toEqual([
        { type: "message", role: "user", content: [{ type: "input_text", text: "Tell me about Effect." }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "More." }] },
        { id: expect.stringMatching(/^cmp_/), type: "compaction", encrypted_content: expect.stringMatching(/^gAAAAB/) }
      ])
      expect(body.usage.input_tokens).toBeGreaterThan(0)
      expect(body.usage.output_tokens).toBe(16)
      // The next turn replays the compacted output.
      expect(
        (yield* post(sim, { model: "gpt-4o-mini", input: [...body.output, { role: "user", content: "Go on." }] }))
          .status
      ).toBe(200)
      // Refused as the Responses wire refuses: a missing model, and no conversation at all.
      const noModel = yield* compact({ input })
      expect([noModel.status, json(noModel).error.param]).toEqual([400, "model"])
      const empty = yield* compact({ model: "gpt-4o-mini" })
      expect([empty.status, json(empty).error.param]).toEqual([400, "input"])
    }))

  it.effect("encrypted content is read back only by the simulator (organisation) that made it, as OpenAI's is", () =>
    Effect.gen(function*() {
      const [made, elsewhere, sameOrganization] = yield* Effect.all([
        Simulator.make({ organization: "acme" }),
        Simulator.make(),
        Simulator.make({ organization: "acme" })
      ])
      const asked = { ...request, reasoning: { effort: "low" }, include: ["reasoning.encrypted_content"], store: false }
      const first = json(yield* post(made, asked))
      const reasoning = first.output[0]
      expect(reasoning).toMatchObject({ type: "reasoning", encrypted_content: expect.stringMatching(/^gAAAAB/) })
      const compaction = json(
        yield* postJson(`${made.url}/v1/responses/compact`, { model: "gpt-4o-mini", input: [user("Hi")] }, {
          authorization: "Bearer sk-test-0001"
        })
      ).output.at(-1)
      const replays = [
        { ...asked, input: [user("Hi"), reasoning, ...first.output.slice(1), user("And?")] },
        { ...asked, input: [compaction, user("And?")] }
      ]
      for (const replay of replays) {
        expect((yield* post(made, replay)).status).toBe(200)
        expect((yield* post(sameOrganization, replay)).status).toBe(200)
        const refused = yield* post(elsewhere, replay)
        expect(refused.status).toBe(400)
        expect(json(refused).error).toMatchObject({
          type: "invalid_request_error",
          param: null,
          code: "invalid_encrypted_content",
          message: expect.stringMatching(/^The encrypted content .+ could not be verified\./)
        })
      }
    }))

  it.effect("compaction_trigger: one opaque compaction item, no call, read back next turn; a foreign one 400", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      const tools = [{ type: "function", name: "lookup", parameters: { type: "object", properties: {} } }]
      const history = [
        { role: "user", content: "Tell me about Effect." },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "A library.", annotations: [] }] }
      ]
      const trigger = { model: "gpt-4o-mini", input: [...history, { type: "compaction_trigger" }], tools }
      const whole = json(yield* post(sim, trigger))
      expect(whole.output).toEqual([
        { id: expect.stringMatching(/^cmp_/), type: "compaction", encrypted_content: expect.stringMatching(/^gAAAAB/) }
      ])
      const streamed = assemble((yield* post(sim, { ...trigger, stream: true })).text)
      expect(streamed.terminal).toBe("response.completed")
      expect(streamed.calls).toEqual([])
      expect(streamed.response.output.map((item: { type: string }) => item.type)).toEqual(["compaction"])
      // Its item given back is read as the summary: the next turn is answered.
      const next = yield* post(sim, {
        model: "gpt-4o-mini",
        input: [whole.output[0], { role: "user", content: "Go." }]
      })
      expect(next.status).toBe(200)
      // One it did not make (another API's, or a gateway's envelope) cannot be read: 400 naming it.
      const foreign = { type: "compaction", encrypted_content: "gw1.e30" }
      const refused = yield* post(sim, { model: "gpt-4o-mini", input: [foreign, { role: "user", content: "Go." }] })
      expect([refused.status, json(refused).error.code]).toEqual([400, "invalid_encrypted_content"])
    }))

  it.effect("answers errors in OpenAI's error body", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make({ apiKeys: ["sk-test-0001"], contextWindow: 50 })
      const badKey = yield* post(sim, request, { authorization: "Bearer sk-wrong-key-9999" })
      expect(badKey.status).toBe(401)
      expect(json(badKey).error.code).toBe("invalid_api_key")
      const model = yield* post(sim, { ...request, model: "gpt-9" })
      expect(model.status).toBe(404)
      expect(json(model).error.code).toBe("model_not_found")
      const long = yield* post(sim, { ...request, input: "x".repeat(400) })
      expect(long.status).toBe(400)
      expect(json(long).error).toMatchObject({ code: "context_length_exceeded", param: "input" })
      const limited = yield* post(sim, request, { "x-simulator-fault": "status=429" })
      expect(limited.status).toBe(429)
      expect(limited.headers.get("retry-after")).toBe("1")
      expect(json(limited).error.code).toBe("rate_limit_exceeded")
    }))

  it.effect("faults: malformed, truncated, and errors inside a 200 stream", () =>
    Effect.gen(function*() {
      const sim = yield* Simulator.make()
      const fault = (value: string, stream = true) => post(sim, { ...request, stream }, { "x-simulator-fault": value })

      const malformed = sse((yield* fault("malformed=3")).text)
      expect(malformed[3]).toEqual({ event: "response.output_text.delta", data: "{not json" })
      expect(malformed.at(-1)!.event).toBe("response.completed")

      const truncated = yield* fault("truncate=5")
      expect(sse(truncated.text)).toHaveLength(5)
      expect(assemble(truncated.text).terminal).toBeUndefined()

      const openai = sse((yield* fault("stream-error=4")).text)
      expect(openai).toHaveLength(5)
      expect(openai[4]!.event).toBe("error")
      expect(JSON.parse(openai[4]!.data)).toMatchObject({ type: "error", code: "server_error", param: null })

      const failed = sse((yield* fault("stream-error=4;shape=vllm")).text)
      expect(failed[4]!.event).toBe("response.failed")
      expect(JSON.parse(failed[4]!.data).response).toMatchObject({ status: "failed", error: { code: "server_error" } })

      const whole = yield* fault("stream-error=0", false)
      expect(whole.status).toBe(200)
      expect(json(whole)).toMatchObject({ object: "response", status: "failed", error: { code: "server_error" } })
    }))
})

// ---------------------------------------------------------------------------
// The adapter against the simulator, over loopback with undici.
// ---------------------------------------------------------------------------

const KEY = "sk-e2e-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const hello: ChatRequest.Input = {
  messages: [Message.system("Be brief."), Message.user("Tell me about Effect in one paragraph.")]
}

const tools = AdapterE2e.weatherAndTimeTools

const withSimulator = AdapterE2e.adapterHarness<OpenAiResponses.Options>((simulator, options) =>
  OpenAiResponses.make({ baseUrl: `${simulator.url}/v1`, model: "gpt-4o-mini", ...options })
)

const fault = AdapterE2e.simulatorFault

const suite = { withClient: withSimulator, request: hello, key: KEY }

const comparable = (response: ChatResponse) => AdapterE2e.comparable(response)

const assertNoKey = AdapterE2e.noKeyAssertion(KEY)

describe("OpenAiResponses over the simulator", () => {
  it.live("a text reply, and a stream of text deltas, Usage, Finish", () =>
    withSimulator({ replyTokens: 12 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const response = yield* chat.chat(hello, credentials)
        assert.strictEqual(response.text.split(" ").length, 12)
        assert.strictEqual(response.finishReason, "stop")
        assert.strictEqual(response.model, "gpt-4o-mini")
        assert.strictEqual(response.provider, "openai")
        assert.match(response.id, /^resp_/)
        assert.strictEqual(response.usage.completionTokens, 12)
        assert.strictEqual(response.usage.totalTokens, response.usage.promptTokens + 12)
        assert.strictEqual(response.keyId, credentials.keyId)

        const chunks = yield* Stream.runCollect(chat.chatStream(hello, credentials))
        const tags = chunks.map((c) => c._tag)
        assert.strictEqual(tags.filter((t) => t === "TextDelta").length, 12)
        assert.deepStrictEqual(tags.slice(-2), ["Usage", "Finish"])
      })))

  it.live("streamed and whole replies collect to the same response (reasoning summary, cached tokens)", () =>
    withSimulator({ replyTokens: 30, reasoningTokens: 5 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ headers: { "x-simulator-cached-tokens": "4" } })
        const request: ChatRequest.Input = { ...hello, reasoningEffort: "low" }
        const { streamed, whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, request, credentials, comparable)
        assert.strictEqual(whole.reasoning?.split(" ").length, 5)
        assert.strictEqual(whole.usage.reasoningTokens, 5)
        assert.strictEqual(whole.usage.cachedPromptTokens, 4)
        assert.isDefined(whole.providerMetadata)
        assert.isDefined(streamed.providerMetadata)
      })))

  it.live("parallel tool calls, arguments split across events, streamed and whole", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client({ headers: { "x-simulator-tool-calls": "3" } })
        const request: ChatRequest.Input = { ...hello, tools, toolChoice: "required" }
        const whole = yield* chat.chat(request, credentials)
        assert.strictEqual(whole.finishReason, "tool_calls")
        assert.deepStrictEqual(whole.toolCalls.map((c) => c.name), ["get_weather", "get_time", "get_weather"])
        for (const call of whole.toolCalls) {
          assert.match(call.id, /^call_/)
          JSON.parse(call.arguments)
        }
        const chunks = yield* Stream.runCollect(chat.chatStream(request, credentials))
        const deltas = chunks.filter((c) => c._tag === "ToolCallDelta")
        assert.isAbove(deltas.length, 6)
        assert.deepStrictEqual([...new Set(deltas.map((d) => d.index))], [0, 1, 2])
        const streamed = yield* ChatChunk.collect(Stream.fromIterable(chunks))
        assert.deepStrictEqual(comparable(streamed), comparable(whole))

        const named = yield* chat.chat({ ...hello, tools, toolChoice: { tool: "get_time" } }, credentials)
        assert.deepStrictEqual(named.toolCalls.map((c) => c.name), ["get_time", "get_time", "get_time"])
      })))

  it.live("a tool loop with reasoning: encrypted reasoning items go back with the calls", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const request: ChatRequest.Input = { ...hello, tools, toolChoice: "required", reasoningEffort: "medium" }
        const first = yield* chat.chat(request, credentials)
        assert.strictEqual(first.finishReason, "tool_calls")
        assert.isDefined(first.providerMetadata?.["openaiResponses"])
        const call = first.toolCalls[0]!
        const next: ChatRequest.Input = {
          ...request,
          toolChoice: "auto",
          messages: [...hello.messages, Message.fromResponse(first), Message.toolResult(call, { temperature: 21 })]
        }
        const second = yield* chat.chat(next, credentials)
        assert.strictEqual(second.finishReason, "stop")
        assert.include(second.text, "The tool returned")
        assert.include(second.text, "21")
        const streamed = yield* ChatChunk.collect(chat.chatStream(next, credentials))
        assert.strictEqual(streamed.text, second.text)

        // A reasoning item without its encrypted content is refused by the (store: false) server.
        const broken = {
          ...next,
          messages: [
            ...hello.messages,
            Message.fromResponse({
              ...first,
              providerMetadata: {
                openaiResponses: { reasoningItems: [{ type: "reasoning", id: "rs_x", summary: [] }] }
              }
            }),
            Message.toolResult(call, 21)
          ]
        }
        const error = yield* Effect.flip(chat.chat(broken, credentials))
        assert(error._tag === "InvalidRequestError")
        assert.include(error.detail, "not persisted")
      })))

  it.live("max output tokens -> finish reason length, streamed and whole", () =>
    withSimulator({ replyTokens: 40 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const request: ChatRequest.Input = { ...hello, maxTokens: 16 }
        const { whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, request, credentials, comparable)
        assert.strictEqual(whole.finishReason, "length")
        assert.strictEqual(whole.usage.completionTokens, 16)
      })))
})

describe("OpenAiResponses errors and faults from the simulator", () => {
  it.live("bad key, unknown model, rate limit", () =>
    withSimulator(
      { apiKeys: [KEY, "sk-the-other-key-0000"], requestsPerMinute: 1 },
      ({ client }) =>
        Effect.gen(function*() {
          const chat = yield* client()
          const auth = yield* Effect.flip(chat.chat(hello, ProviderClient.credentials("sk-wrong-key-00000000")))
          assert(auth._tag === "AuthError")
          assert.strictEqual(auth.reason, "invalid_key")
          assert.strictEqual(auth.status, 401)
          assert.notInclude(JSON.stringify(auth), "sk-wrong-key-00000000")

          const other = ProviderClient.credentials("sk-the-other-key-0000")
          const model = yield* Effect.flip(chat.chat({ ...hello, model: "gpt-nope" }, other))
          assert(model._tag === "ModelNotFoundError")
          assert.strictEqual(model.model, "gpt-nope")

          const limited = yield* AdapterE2e.perKeyRateLimitIsRateLimitError(chat, hello, credentials)
          assertNoKey(limited)
        })
    ))

  it.live("context length, and injected statuses, whole and streamed", () =>
    withSimulator({ contextWindow: 60 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const long = yield* Effect.flip(chat.chat({ ...hello, maxTokens: 100 }, credentials))
        assert(long._tag === "ContextLengthError")
        assert.strictEqual(long.status, 400)
        const longStream = yield* Effect.flip(
          Stream.runDrain(chat.chatStream({ ...hello, maxTokens: 100 }, credentials))
        )
        assert.strictEqual(longStream._tag, "ContextLengthError")

        const failWith = AdapterE2e.failWithFault(client, hello, credentials)
        const quota = yield* failWith("status=429;code=insufficient_quota")
        assert(quota._tag === "AuthError")
        assert.strictEqual(quota.reason, "quota_exhausted")
        const limited = yield* failWith("status=429;retry-after=7", true)
        assert(limited._tag === "RateLimitError")
        assert.deepStrictEqual(limited.retryAfter, Duration.seconds(7))
        const forbidden = yield* failWith("status=403")
        assert(forbidden._tag === "AuthError")
        assert.strictEqual(forbidden.reason, "forbidden")
        for (const status of [500, 503]) {
          const error = yield* failWith(`status=${status}`, status === 503)
          assert(error._tag === "ProviderUnavailableError")
          assert.strictEqual(error.status, status)
        }
        const html = yield* failWith("html=502")
        assert.strictEqual(html._tag, "ProviderUnavailableError")
        const bad = yield* failWith("status=400", true)
        assert.strictEqual(bad._tag, "InvalidRequestError")
      })))

  it.live("errors inside a 200 stream: the error event and response.failed; a failed whole response", () =>
    withSimulator({}, ({ client }) =>
      Effect.gen(function*() {
        const streamError = (shape: string) =>
          Effect.flatMap(client(fault(`stream-error=6;shape=${shape}`)), (c) =>
            Effect.gen(function*() {
              const seen: Array<ChatChunk.ChatChunk> = []
              const error = yield* Effect.flip(
                Stream.runForEach(c.chatStream(hello, credentials), (chunk) => Effect.sync(() => seen.push(chunk)))
              )
              return { seen, error }
            }))
        const event = yield* streamError("openai")
        assert(event.error._tag === "ProviderUnavailableError")
        assert.isUndefined(event.error.status)
        assert.include(event.error.detail, "The server had an error")
        assert.isAbove(event.seen.length, 0)
        assert.isFalse(event.seen.some((c) => c._tag === "Finish"))
        const failed = yield* streamError("vllm")
        assert(failed.error._tag === "ProviderUnavailableError")
        assert.include(failed.error.detail, "The server had an error")
        const whole = yield* Effect.flatMap(client(fault("stream-error=0")), (c) =>
          Effect.flip(c.chat(hello, credentials)))
        assert.strictEqual(whole._tag, "ProviderUnavailableError")
      })))

  it.live("a reset mid-stream -> TransportError; a malformed event is skipped; truncated -> StreamTruncatedError", () =>
    withSimulator({ replyTokens: 20 }, ({ client }) =>
      Effect.gen(function*() {
        yield* AdapterE2e.resetMidStreamIsTransportError(yield* client(fault("reset=8")), hello, credentials, {
          key: KEY
        })
        yield* AdapterE2e.malformedEventIsSkipped(
          yield* client(fault("malformed=5")),
          yield* client(),
          hello,
          credentials
        )

        const truncated = yield* client(fault("truncate=10"))
        const cut = yield* Effect.flip(ChatChunk.collect(truncated.chatStream(hello, credentials)))
        assert(cut._tag === "StreamTruncatedError")
        assert.strictEqual(cut.model, "gpt-4o-mini")
      })))
})

describe("OpenAiResponses timeouts and interruption", () => {
  AdapterE2e.itTimesOutAndAbandonsTheRequest(suite, { on: "request", stream: false })

  AdapterE2e.itClosesTheConnectionOnInterruption(suite)

  AdapterE2e.itClosesTheConnectionAfterAPrefix(suite)
})

describe("Llm over OpenAiResponses", () => {
  it.live("a rejected key is rotated away; chat, chatStream and a reasoning tool loop go through the whole stack", () =>
    Effect.gen(function*() {
      const good = "sk-good-key-00000000001"
      const simulator = yield* Simulator.make({ apiKeys: [good], replyTokens: 6 })
      const pool = yield* poolInMemory({ providerId: "responses-sim", keys: ["sk-revoked-key-0000002", good] })
      const llm = yield* AdapterE2e.llmOver(
        OpenAiResponses.layer({ baseUrl: `${simulator.url}/v1`, model: "gpt-4o-mini" }),
        pool,
        { retry: RetryPolicy.make({ maxRetries: 3, baseDelay: "10 millis" }) }
      )
      yield* AdapterE2e.aRejectedKeyIsRotatedAway(llm, pool, "openai")

      const request: ChatRequest.Input = {
        messages: [Message.user("Weather? Use get_weather.")],
        tools,
        reasoningEffort: "low"
      }
      const first = yield* ChatChunk.collect(llm.chatStream(request))
      assert.strictEqual(first.finishReason, "tool_calls")
      assert.isDefined(first.providerMetadata?.["openaiResponses"])
      const answer = yield* llm.chat({
        ...request,
        messages: [...request.messages, Message.fromResponse(first), Message.toolResult(first.toolCalls[0]!, "sunny")]
      })
      assert.include(answer.text, "The tool returned sunny")
    }))
})
