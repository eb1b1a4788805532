import { expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type OpenAI from "openai"
import { rejection } from "../utils/gatewayHarness.js"
import {
  apiError,
  create,
  deployments,
  events,
  Fixture,
  fixture,
  type Params,
  promise,
  replayed,
  tools
} from "../utils/responsesHarness.js"

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
          const input: OpenAI.Responses.ResponseInput = [{
            role: "user",
            content: "Weather in Paris? Use get_weather."
          }]
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
          const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Weather in Oslo? Use get_weather." }]
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
        const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Think, then call get_weather" }]
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
        const input: OpenAI.Responses.ResponseInput = [{ role: "user", content: "Think, then call get_weather" }]
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

    it.effect("a reasoning item's encrypted_content goes back to the deployment that made it as made, to no other", () =>
      Effect.gen(function*() {
        const { client, recorded } = yield* Fixture
        const made = yield* create(client, {
          model: "recorded-responses/gpt-4o-mini",
          input: "Weather in Paris?",
          reasoning: { effort: "low" },
          include: ["reasoning.encrypted_content"],
          store: false
        })
        const reasoning = made.output.find((item) => item.type === "reasoning")!
        // What the deployment made, as the client gets it: marked with where it was made.
        const marked = reasoning.encrypted_content!
        expect(marked).toMatch(/^eo1\.[\w-]+\.gAAAAB/)
        const input: OpenAI.Responses.ResponseInput = [
          { role: "user", content: "Weather in Paris?" },
          { ...reasoning, summary: [{ type: "summary_text" as const, text: "Look it up." }] },
          { type: "function_call", call_id: "call_1", name: "get_weather", arguments: `{"city":"Paris"}` },
          { type: "function_call_output", call_id: "call_1", output: "sunny" }
        ]
        const sent = (model: string) =>
          Effect.gen(function*() {
            const before = recorded.bodies.length
            const response = yield* create(client, { model, input, tools })
            expect(response.output_text).toMatch(/^The tool returned sunny/)
            const bodies = recorded.bodies.slice(before)
            expect(bodies).toHaveLength(1)
            return bodies[0]!
          })
        const responses = yield* sent("recorded-responses/gpt-4o-mini")
        expect(responses["input"]).toContainEqual({
          type: "reasoning",
          summary: [{ type: "summary_text", text: "Look it up." }],
          encrypted_content: marked.slice(marked.indexOf(".", "eo1.".length) + 1)
        })
        const chat = yield* sent("recorded-chat/gpt-4o-mini")
        expect(JSON.stringify(chat)).not.toContain("gAAAAB")
        const messages = chat["messages"] as ReadonlyArray<Record<string, unknown>>
        expect(messages.map((message) => message["role"])).toEqual(["user", "assistant", "tool"])
      }))

    it.effect("the request's settings reach the provider, and the response echoes them", () =>
      Effect.gen(function*() {
        const { client, recorded } = yield* Fixture
        const before = recorded.bodies.length
        const response = yield* create(client, {
          model: "recorded-chat/gpt-4o-mini",
          input: "Hello",
          instructions: "Be brief.",
          max_output_tokens: 5,
          temperature: 0.5,
          top_p: 0.9,
          user: "user-42",
          metadata: { ticket: "T-1" },
          parallel_tool_calls: false
        })
        const sent = recorded.bodies.slice(before).at(-1)!
        expect(sent["messages"]).toEqual([{ role: "system", content: "Be brief." }, { role: "user", content: "Hello" }])
        expect(sent).toMatchObject({ temperature: 0.5, top_p: 0.9, user: "user-42" })
        expect(sent["max_completion_tokens"] ?? sent["max_tokens"]).toBe(5)
        // The reply's limit cut it: incomplete, as OpenAI says it.
        expect(response.status).toBe("incomplete")
        expect(response.incomplete_details?.reason).toBe("max_output_tokens")
        expect(response).toMatchObject({
          instructions: "Be brief.",
          max_output_tokens: 5,
          temperature: 0.5,
          top_p: 0.9,
          metadata: { ticket: "T-1" },
          parallel_tool_calls: false
        })
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
            client.responses.create({
              model: "sim/gpt-4o-mini",
              input: "Search",
              tools: [{ type: "local_shell" }]
            })
          )
        )
        expect(error.status).toBe(400)
        expect(error.type).toBe("invalid_request_error")
        expect(error.param).toBe("tools[0].type")
        expect(error.message).toContain("'local_shell'")
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
        // The client's tools count as the functions a deployment of another API is offered: a custom tool, its
        // grammar among them, and the tools of an additional_tools item.
        const patch = {
          type: "custom",
          name: "apply_patch",
          description: "Applies a patch.",
          format: { type: "grammar", syntax: "lark", definition: "start: begin_patch hunk+ end_patch" }
        }
        const clientTools = yield* promise(() =>
          client.responses.inputTokens.count({
            model: "claude/claude-sim",
            input: [
              { type: "message", role: "user", content: "Hello" },
              { type: "additional_tools", tools: [{ type: "function", name: "clock", parameters: { type: "object" } }] }
            ],
            tools: [patch]
          } as never)
        )
        expect(clientTools.input_tokens).toBeGreaterThan(short.input_tokens + 10)
        const unknown = apiError(
          yield* rejection(() => client.responses.inputTokens.count({ model: "nope", input: "x" }))
        )
        expect(unknown.status).toBe(404)
        // Without a model or an input (instructions only), as the API takes it.
        const modelless = yield* promise(() => client.responses.inputTokens.count({ instructions: "Be brief." }))
        expect(modelless.input_tokens).toBeGreaterThan(0)
        const bad = apiError(
          yield* rejection(() => client.responses.inputTokens.count({ model: "sim/gpt-4o-mini", input: 7 } as never))
        )
        expect(bad.status).toBe(400)
        expect(bad.param).toBe("input")
      }))
  }
)
