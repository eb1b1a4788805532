import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { type Recorder, recorder } from "../utils/cliHarness.js"
import { faulty, rejection, type Served } from "../utils/gatewayHarness.js"

const key = "sk-gateway-responses-key-01"

// The recorder in front of the simulator (set by the fixture).
let recorded: Recorder

class Fixture extends Context.Service<Fixture, Served<OpenAI>>()("test/GatewayResponsesFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [key],
      replyTokens: 8,
      reasoningTokens: 4,
      models: [...Simulator.defaultModels, "claude-sim"]
    })
    recorded = yield* recorder(simulator.url)
    const config = yield* ProviderConfig.fromJson({
      // Chat Completions behind the gateway.
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }],
      // Anthropic's Messages API behind it.
      claude: [{
        model_name: "claude-sim",
        api: "anthropic",
        base_url: simulator.url,
        api_keys: [key],
        max_retries: 0
      }],
      // The Responses API behind it (without `store`: reasoning comes back encrypted).
      resp: [{
        model_name: "gpt-4o-mini",
        api: "responses",
        base_url: `${simulator.url}/v1`,
        api_keys: [key],
        max_retries: 0
      }],
      // Gemini's and Ollama's native APIs behind it.
      gemini: [{ model_name: "gpt-4o-mini", api: "gemini", base_url: simulator.url, api_keys: [key], max_retries: 0 }],
      ollama: [{ model_name: "gpt-4o-mini", api: "ollama", base_url: simulator.url, api_keys: [key], max_retries: 0 }],
      broken: faulty(simulator, key, "stream-error=3"),
      // The bodies each API's provider gets, recorded on their way.
      "recorded-chat": [{ model_name: "gpt-4o-mini", base_url: recorded.baseUrl, api_keys: [key], max_retries: 0 }],
      "recorded-responses": [{
        model_name: "gpt-4o-mini",
        api: "responses",
        base_url: recorded.baseUrl,
        api_keys: [key],
        max_retries: 0
      }]
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      maxBodyBytes: 64 * 1024
    })
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
    return { gateway, simulator, client }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

// One deployment of each API the gateway speaks to.
const deployments = [
  "sim/gpt-4o-mini",
  "claude/claude-sim",
  "resp/gpt-4o-mini",
  "gemini/gpt-4o-mini",
  "ollama/gpt-4o-mini"
]

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

type Params = OpenAI.Responses.ResponseCreateParamsNonStreaming

const create = (client: OpenAI, params: Params) => promise(() => client.responses.create(params))

// Every event of `create({stream: true})` of `params`, in order.
const events = (client: OpenAI, params: Params) =>
  promise(async () => {
    const stream = await client.responses.create({ ...params, stream: true })
    const out: Array<OpenAI.Responses.ResponseStreamEvent> = []
    for await (const event of stream) out.push(event)
    return out
  })

const tools: Array<OpenAI.Responses.FunctionTool> = [{
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false
}]

// A response's output items sent back as input, as OpenAI's guide replays them (the SDK's output union is wider than
// its input union: computer calls' statuses).
const replayed = (output: ReadonlyArray<OpenAI.Responses.ResponseOutputItem>) =>
  output as unknown as Array<OpenAI.Responses.ResponseInputItem>

// The error object of a rejected call (`{message, type, param, code}`), with its status.
const apiError = (error: unknown) => {
  expect(error).toBeInstanceOf(OpenAI.APIError)
  const { error: body, status } = error as InstanceType<typeof OpenAI.APIError>
  return { status, ...(body as { message: string; type: string; param: string | null; code: string | null }) }
}

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1/responses, with the official openai client",
  (it) => {
    it.effect("responses.create: a string input over a Chat Completions deployment", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const response = yield* create(client, { model: "sim/gpt-4o-mini", input: "Hello there" })
        expect(response.id).toMatch(/^resp_[0-9a-f]{32}$/)
        expect(response.object).toBe("response")
        expect(response.status).toBe("completed")
        expect(response.model).toBe("gpt-4o-mini")
        expect(response.output).toHaveLength(1)
        const message = response.output[0]!
        expect(message.type).toBe("message")
        expect(message.type === "message" && message.content[0]?.type).toBe("output_text")
        expect(response.output_text.split(" ").length).toBe(8)
        expect(response.usage?.output_tokens).toBe(8)
        expect(response.usage?.input_tokens).toBeGreaterThan(0)
        expect(response.usage?.total_tokens).toBe(response.usage!.input_tokens + response.usage!.output_tokens)
        expect(response.usage?.input_tokens_details.cached_tokens).toBe(0)
        expect(response.usage?.output_tokens_details.reasoning_tokens).toBe(0)
      }))

    it.effect("responses.create: items with instructions over an Anthropic deployment", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const input: OpenAI.Responses.ResponseInput = [
          { role: "developer", content: "Answer briefly." },
          { role: "user", content: [{ type: "input_text", text: "Hi" }] },
          { role: "assistant", content: "Hello! How can I help?" },
          { role: "user", content: "What is the weather like?" }
        ]
        const short = yield* create(client, { model: "claude/claude-sim", input: "What is the weather like?" })
        const response = yield* create(client, { model: "claude/claude-sim", instructions: "Be kind.", input })
        expect(response.status).toBe("completed")
        expect(response.model).toBe("claude-sim")
        expect(response.instructions).toBe("Be kind.")
        expect(response.output_text.length).toBeGreaterThan(0)
        // Every item reached the provider: the prompt is longer than the last message alone.
        expect(response.usage!.input_tokens).toBeGreaterThan(short.usage!.input_tokens + 10)
      }))

    it.effect("create({stream: true}) over each API: every event in order, numbered, and the final response", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const model of deployments) {
          const seen = yield* events(client, { model, input: "Tell me a story" })
          expect(seen.map((event) => event.sequence_number)).toEqual(seen.map((_, i) => i))
          const types = seen.map((event) => event.type)
          expect(types.slice(0, 4)).toEqual([
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
          ])
          expect(types.slice(-4)).toEqual([
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
          ])
          const deltas = seen.flatMap((event) => event.type === "response.output_text.delta" ? [event.delta] : [])
          expect(deltas.length).toBeGreaterThan(1)
          const last = seen[seen.length - 1]!
          // A raw event's response has no `output_text` (the SDK adds it to whole replies): its message's part.
          const item = last.type === "response.completed" ? last.response.output[0] : undefined
          const part = item?.type === "message" ? item.content[0] : undefined
          expect(part?.type === "output_text" && part.text).toBe(deltas.join(""))
          expect(last.type === "response.completed" && last.response.usage?.output_tokens).toBe(8)
        }
      }))

    it.effect("responses.stream: output_text deltas and finalResponse", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const stream = client.responses.stream({ model: "sim/gpt-4o-mini", input: "Hello" })
        const pieces: Array<string> = []
        stream.on("response.output_text.delta", (event) => pieces.push(event.delta))
        const final = yield* promise(() => stream.finalResponse())
        expect(pieces.length).toBeGreaterThan(1)
        expect(final.output_text).toBe(pieces.join(""))
        expect(final.status).toBe("completed")
      }))

    it.effect("a function tool round trip: function_call, then function_call_output, over each API", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const model of deployments) {
          const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Weather in Paris?" }]
          const first = yield* create(client, { model, input, tools })
          const call = first.output.find((item) => item.type === "function_call")
          expect(call?.type).toBe("function_call")
          if (call?.type !== "function_call") return
          expect(call.name).toBe("get_weather")
          expect(call.id).toMatch(/^fc_/)
          expect(JSON.parse(call.arguments)).toHaveProperty("city")
          const second = yield* create(client, {
            model,
            tools,
            input: [...input, ...replayed(first.output), {
              type: "function_call_output",
              call_id: call.call_id,
              output: "sunny"
            }]
          })
          expect(second.output.some((item) => item.type === "function_call")).toBe(false)
          expect(second.output_text).toMatch(/^The tool returned sunny/)
        }
      }))

    it.effect("text.format json_schema: the reply is JSON of the schema; tool_choice none: no call", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const schema = {
          type: "object",
          properties: { city: { type: "string" }, celsius: { type: "number" } },
          required: ["city", "celsius"],
          additionalProperties: false
        }
        for (const model of ["sim/gpt-4o-mini", "claude/claude-sim", "resp/gpt-4o-mini"]) {
          const response = yield* create(client, {
            model,
            input: "The weather?",
            text: { format: { type: "json_schema", name: "weather", schema, strict: true } }
          })
          const value = JSON.parse(response.output_text) as Record<string, unknown>
          expect(typeof value["city"]).toBe("string")
          expect(typeof value["celsius"]).toBe("number")
          expect(response.text?.format?.type).toBe("json_schema")
          const none = yield* create(client, { model, input: "Weather in Paris?", tools, tool_choice: "none" })
          expect(none.output.map((item) => item.type)).toEqual(["message"])
        }
      }))

    it.effect("a streamed function call over each API: argument deltas, the final item, and its round trip", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const model of deployments) {
          const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Weather in Oslo?" }]
          const seen = yield* events(client, { model, input, tools })
          const deltas = seen.flatMap((event) =>
            event.type === "response.function_call_arguments.delta" ? [event.delta] : []
          )
          const done = seen.find((event) => event.type === "response.function_call_arguments.done")
          expect(done?.type === "response.function_call_arguments.done" && done.arguments).toBe(deltas.join(""))
          const last = seen[seen.length - 1]!
          if (last.type !== "response.completed") return expect(last.type).toBe("response.completed")
          const call = last.response.output.find((item) => item.type === "function_call")
          if (call?.type !== "function_call") return expect(call?.type).toBe("function_call")
          expect(call.arguments).toBe(deltas.join(""))
          // Sent back as the client got them (a Gemini deployment's thought signature rides along).
          const next = yield* create(client, {
            model,
            tools,
            input: [
              ...input,
              ...replayed(last.response.output),
              { type: "function_call_output", call_id: call.call_id, output: "snowy" }
            ]
          })
          expect(next.output_text).toMatch(/^The tool returned snowy/)
        }
      }))

    it.effect("reasoning: summaries out, and encrypted_content back to a Responses deployment", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Think, then call" }]
        const first = yield* create(client, { model: "resp/gpt-4o-mini", input, tools, reasoning: { effort: "low" } })
        const reasoning = first.output[0]
        expect(reasoning?.type).toBe("reasoning")
        if (reasoning?.type !== "reasoning") return
        expect(reasoning.summary[0]?.text.length).toBeGreaterThan(0)
        expect(reasoning.encrypted_content).toEqual(expect.any(String))
        expect(first.usage?.output_tokens_details.reasoning_tokens).toBe(4)
        const call = first.output.find((item) => item.type === "function_call")
        if (call?.type !== "function_call") return expect(call?.type).toBe("function_call")
        // The simulator refuses a reasoning item that is neither stored nor carried encrypted.
        const second = yield* create(client, {
          model: "resp/gpt-4o-mini",
          reasoning: { effort: "low" },
          input: [...input, ...replayed(first.output), {
            type: "function_call_output",
            call_id: call.call_id,
            output: "done"
          }]
        })
        expect(second.output_text).toMatch(/The tool returned done/)
      }))

    it.effect("thinking over an Anthropic deployment: its summary out, its signed blocks back, whole or streamed", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Think, then call" }]
        const params = { model: "claude/claude-sim", input, tools, reasoning: { effort: "low" as const } }
        const whole = yield* create(client, params)
        const seen = yield* events(client, params)
        const last = seen[seen.length - 1]!
        if (last.type !== "response.completed") return expect(last.type).toBe("response.completed")
        for (const output of [whole.output, last.response.output]) {
          const summary = output.find((item) => item.type === "reasoning")
          expect(summary?.type === "reasoning" && summary.summary[0]?.text.length).toBeGreaterThan(0)
          const call = output.find((item) => item.type === "function_call")
          if (call?.type !== "function_call") return expect(call?.type).toBe("function_call")
          // Anthropic refuses a tool loop's assistant turn without its signed thinking first.
          const next = yield* create(client, {
            ...params,
            input: [...input, ...replayed(output), {
              type: "function_call_output",
              call_id: call.call_id,
              output: "ok"
            }]
          })
          expect(next.output_text).toMatch(/The tool returned ok/)
        }
      }))

    it.effect("a reasoning item's encrypted_content goes to a Responses deployment unchanged, and to no other", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const input: OpenAI.Responses.ResponseInput = [
          { role: "user", content: "Weather in Paris?" },
          {
            type: "reasoning",
            id: "rs_earlier",
            summary: [{ type: "summary_text", text: "Look it up." }],
            encrypted_content: "opaque-reasoning-1"
          },
          { type: "function_call", call_id: "call_1", name: "get_weather", arguments: `{"city":"Paris"}` },
          { type: "function_call_output", call_id: "call_1", output: "sunny" }
        ]
        const sent = (model: string) =>
          Effect.gen(function*() {
            const before = recorded.bodies.length
            const response = yield* create(client, { model, input, tools })
            expect(response.output_text).toMatch(/^The tool returned sunny/)
            return recorded.bodies.slice(before).at(-1)!
          })
        const responses = yield* sent("recorded-responses/gpt-4o-mini")
        expect(responses["input"]).toContainEqual({
          type: "reasoning",
          summary: [{ type: "summary_text", text: "Look it up." }],
          encrypted_content: "opaque-reasoning-1"
        })
        const chat = yield* sent("recorded-chat/gpt-4o-mini")
        expect(JSON.stringify(chat)).not.toContain("opaque-reasoning-1")
        const messages = chat["messages"] as ReadonlyArray<Record<string, unknown>>
        expect(messages.map((message) => message["role"])).toEqual(["user", "assistant", "tool"])
      }))

    it.effect("a failure after the stream began is response.failed", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const seen = yield* events(client, { model: "broken/gpt-4o-mini", input: "Hello" })
        const last = seen[seen.length - 1]!
        expect(seen.some((event) => event.type === "response.output_text.delta")).toBe(true)
        expect(last.type).toBe("response.failed")
        expect(last.type === "response.failed" && last.response.status).toBe("failed")
        expect(last.type === "response.failed" && last.response.error?.message.length).toBeGreaterThan(0)
      }))

    it.effect("a tool type the gateway cannot run is refused with 400 naming it", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const error = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", input: "Search", tools: [{ type: "web_search" }] })
          )
        )
        expect(error.status).toBe(400)
        expect(error.type).toBe("invalid_request_error")
        expect(error.param).toBe("tools[0].type")
        expect(error.message).toContain("'web_search'")
      }))

    it.effect("a bad body is 400 naming the field, in OpenAI's error shape", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const bad = (body: Record<string, unknown>) =>
          Effect.map(rejection(() => client.responses.create(body as unknown as Params)), apiError)
        const input = yield* bad({ model: "sim/gpt-4o-mini", input: 42 })
        expect(input.status).toBe(400)
        expect(input.param).toBe("input")
        const role = yield* bad({ model: "sim/gpt-4o-mini", input: [{ type: "message", role: "robot", content: "x" }] })
        expect(role.param).toBe("input[0].role")
        const temperature = yield* bad({ model: "sim/gpt-4o-mini", input: "x", temperature: "hot" })
        expect(temperature.param).toBe("temperature")
        const unknown = apiError(yield* rejection(() => client.responses.create({ model: "nope", input: "x" })))
        expect(unknown.status).toBe(404)
        expect(unknown.code).toBe("model_not_found")
      }))

    it.effect("responses.inputTokens.count: the input counted with the tokenizer", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const count = (input: string) =>
          promise(() => client.responses.inputTokens.count({ model: "claude/claude-sim", input }))
        const short = yield* count("Hello")
        expect(short.object).toBe("response.input_tokens")
        expect(short.input_tokens).toBeGreaterThan(0)
        const long = yield* count("Hello ".repeat(50))
        expect(long.input_tokens).toBeGreaterThanOrEqual(short.input_tokens + 49)
        const withTools = yield* promise(() =>
          client.responses.inputTokens.count({ model: "sim/gpt-4o-mini", input: "Hello", tools })
        )
        expect(withTools.input_tokens).toBeGreaterThan(short.input_tokens)
        const unknown = apiError(
          yield* rejection(() => client.responses.inputTokens.count({ model: "nope", input: "x" }))
        )
        expect(unknown.status).toBe(404)
      }))

    it.effect("previous_response_id: a stored conversation continued on another deployment", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const first = yield* create(client, {
          model: "sim/gpt-4o-mini",
          instructions: "Remember names.",
          input: "My name is Ada Lovelace and I was born in London in the winter of 1815."
        })
        const fresh = yield* create(client, { model: "claude/claude-sim", input: "What is my name?" })
        const next = yield* create(client, {
          model: "claude/claude-sim",
          previous_response_id: first.id,
          input: "What is my name?"
        })
        expect(next.previous_response_id).toBe(first.id)
        expect(next.status).toBe("completed")
        // The first turn (its input and its reply, not its instructions) came before the new input.
        expect(next.usage!.input_tokens).toBeGreaterThan(fresh.usage!.input_tokens + 20)
        const counted = yield* promise(() =>
          client.responses.inputTokens.count({
            model: "claude/claude-sim",
            previous_response_id: first.id,
            input: "What is my name?"
          })
        )
        const alone = yield* promise(() =>
          client.responses.inputTokens.count({ model: "claude/claude-sim", input: "What is my name?" })
        )
        expect(counted.input_tokens).toBeGreaterThan(alone.input_tokens + 20)
      }))

    it.effect("previous_response_id carries a streamed tool call: only the function_call_output is sent next", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const first of ["sim/gpt-4o-mini", "gemini/gpt-4o-mini"]) {
          const seen = yield* events(client, { model: first, input: "Weather in Rome?", tools })
          const last = seen[seen.length - 1]!
          if (last.type !== "response.completed") return expect(last.type).toBe("response.completed")
          const call = last.response.output.find((item) => item.type === "function_call")
          if (call?.type !== "function_call") return expect(call?.type).toBe("function_call")
          // The same deployment (a Gemini one gets its thought signature back) or another.
          for (const model of [first, "claude/claude-sim"]) {
            const next = yield* create(client, {
              model,
              tools,
              previous_response_id: last.response.id,
              input: [{ type: "function_call_output", call_id: call.call_id, output: "cloudy" }]
            })
            expect(next.output_text).toMatch(/^The tool returned cloudy/)
          }
        }
      }))

    it.effect("an unknown previous_response_id is 404, as is one not stored (store: false)", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const unknown = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", previous_response_id: "resp_nope", input: "x" })
          )
        )
        expect(unknown.status).toBe(404)
        expect(unknown.param).toBe("previous_response_id")
        expect(unknown.code).toBe("previous_response_not_found")
        expect(unknown.message).toContain("resp_nope")
        const unstored = yield* create(client, { model: "sim/gpt-4o-mini", input: "Hi", store: false })
        const refused = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", previous_response_id: unstored.id, input: "x" })
          )
        )
        expect(refused.status).toBe(404)
        expect(apiError(yield* rejection(() => client.responses.retrieve(unstored.id))).status).toBe(404)
      }))

    it.effect("GET and DELETE /v1/responses/{id}: a stored response, then none", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const created = yield* create(client, { model: "claude/claude-sim", input: "Keep this" })
        const retrieved = yield* promise(() => client.responses.retrieve(created.id))
        expect(retrieved.id).toBe(created.id)
        expect(retrieved.output_text).toBe(created.output_text)
        expect(retrieved.usage).toEqual(created.usage)
        yield* promise(() => client.responses.delete(created.id))
        const gone = apiError(yield* rejection(() => client.responses.retrieve(created.id)))
        expect(gone.status).toBe(404)
        expect(gone.message).toContain(created.id)
        expect(apiError(yield* rejection(() => client.responses.delete(created.id))).status).toBe(404)
      }))
  }
)
