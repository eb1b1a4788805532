/**
 * `/v1/responses` with the tools only OpenAI's Responses API runs (`web_search`, `mcp`, custom tools...), with the
 * official `openai` client: passed as they came to a model whose deployments all speak the Responses API (here a
 * loopback stand-in for OpenAI that runs a web search), their output items passed back as it gave them; sent to the
 * Responses deployments of a model (or router) that reaches both kinds; left out, or refused, naming them, for a
 * model that reaches only other APIs.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Http from "node:http"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { rejection } from "../utils/gatewayHarness.js"
import { serve } from "../utils/loopbackServer.js"
import { apiError, create, events, promise, replayed, tools as functionTools } from "../utils/responsesHarness.js"

const providerKey = "sk-gateway-hosted-tools-01"

// The web search the stand-in runs, and its answer.
const searchItem = {
  id: "ws_0001",
  type: "web_search_call",
  status: "completed",
  action: { type: "search", query: "weather in Rome" }
}
const answer = "Sunny in Rome."

const upstreamResponse = (status: "in_progress" | "completed", output: ReadonlyArray<unknown>) => ({
  id: "resp_upstream",
  object: "response",
  created_at: 1,
  status,
  model: "gpt-4o-mini",
  output,
  usage: status === "completed"
    ? {
      input_tokens: 12,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 4,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 16
    }
    : null
})

const messageItem = {
  id: "msg_0001",
  type: "message",
  role: "assistant",
  status: "completed",
  content: [{ type: "output_text", text: answer, annotations: [] }]
}

const sse = (events: ReadonlyArray<Record<string, unknown>>) =>
  events.map((event, index) =>
    `event: ${String(event["type"])}\ndata: ${JSON.stringify({ ...event, sequence_number: index })}\n\n`
  ).join("")

// OpenAI's Responses API as far as these tests need it: every body kept, a web search and its answer.
const standIn = (bodies: Array<Record<string, unknown>>): Http.RequestListener => (req, res) => {
  let text = ""
  req.setEncoding("utf8")
  req.on("data", (chunk: string) => {
    text += chunk
  })
  req.once("end", () => {
    const body = JSON.parse(text) as Record<string, unknown>
    bodies.push(body)
    if (body["stream"] !== true) {
      res.writeHead(200, { "content-type": "application/json" })
      return res.end(JSON.stringify(upstreamResponse("completed", [searchItem, messageItem])))
    }
    res.writeHead(200, { "content-type": "text/event-stream" })
    res.end(sse([
      { type: "response.created", response: upstreamResponse("in_progress", []) },
      { type: "response.output_item.added", output_index: 0, item: { ...searchItem, status: "in_progress" } },
      { type: "response.web_search_call.completed", output_index: 0, item_id: searchItem.id },
      { type: "response.output_item.done", output_index: 0, item: searchItem },
      { type: "response.output_item.added", output_index: 1, item: { ...messageItem, content: [] } },
      { type: "response.output_text.delta", item_id: messageItem.id, output_index: 1, content_index: 0, delta: answer },
      { type: "response.output_item.done", output_index: 1, item: messageItem },
      { type: "response.completed", response: upstreamResponse("completed", [searchItem, messageItem]) }
    ]))
  })
}

class Fixture extends Context.Service<Fixture, {
  readonly client: OpenAI
  /** A client of a gateway whose `hosted_tools` is `"refuse"`. */
  readonly strict: OpenAI
  /** The bodies the stand-in got, in order. */
  readonly bodies: ReadonlyArray<Record<string, unknown>>
}>()("test/GatewayResponsesHostedToolsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const bodies: Array<Record<string, unknown>> = []
    const upstream = yield* serve(standIn(bodies))
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 8 })
    const providers = {
      // `gpt-4o-mini` reaches both: a Chat Completions deployment and a Responses one.
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }],
      hosted: [{
        model_name: "gpt-4o-mini",
        api: "responses",
        base_url: `${upstream.url}/v1`,
        api_keys: [providerKey],
        max_retries: 0
      }],
      router: { mixed: { deployments: ["sim/gpt-4o-mini", "hosted/gpt-4o-mini"], strategy: "priority" } }
    }
    const clientOf = (json: Record<string, unknown>) =>
      Effect.gen(function*() {
        const config = yield* ProviderConfig.fromJson(json)
        const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
        return new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
      })
    const client = yield* clientOf(providers)
    const strict = yield* clientOf({ ...providers, gateway: { hosted_tools: "refuse" } })
    return { client, strict, bodies }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const hostedTools: Array<OpenAI.Responses.Tool> = [
  ...functionTools,
  { type: "web_search", search_context_size: "low" },
  { type: "mcp", server_label: "docs", server_url: "https://mcp.example.com/sse", require_approval: "never" }
]

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1/responses: tools only the Responses API runs, with the official openai client",
  (it) => {
    it.effect("to a model whose deployments all speak it, the tools and the tool choice go as they came", () =>
      Effect.gen(function*() {
        const { bodies, client } = yield* Fixture
        yield* create(client, {
          model: "hosted/gpt-4o-mini",
          input: "Weather in Rome?",
          tools: hostedTools,
          tool_choice: { type: "mcp", server_label: "docs" }
        })
        const sent = bodies[bodies.length - 1]!
        expect(sent["tools"]).toEqual(hostedTools)
        expect(sent["tool_choice"]).toEqual({ type: "mcp", server_label: "docs" })
      }))

    it.effect("a hosted tool's output items come back as the deployment gave them, whole and streamed", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const whole = yield* create(client, {
          model: "hosted/gpt-4o-mini",
          input: "Weather in Rome?",
          tools: hostedTools
        })
        expect(whole.output[0]).toEqual(searchItem)
        expect(whole.output[1]?.type).toBe("message")
        expect(whole.output_text).toBe(answer)
        const seen = yield* events(client, {
          model: "hosted/gpt-4o-mini",
          input: "Weather in Rome?",
          tools: hostedTools
        })
        const announced = seen.filter((event) => event.type === "response.output_item.done").map((event) => event.item)
        expect(announced).toContainEqual(searchItem)
        const last = seen[seen.length - 1]!
        if (last.type !== "response.completed") return expect(last.type).toBe("response.completed")
        expect(last.response.output).toContainEqual(searchItem)
        expect(last.response.output.map((item) => item.type)).toContain("message")
      }))

    it.effect("replayed by the client or by previous_response_id, its items go back as they came", () =>
      Effect.gen(function*() {
        const { bodies, client } = yield* Fixture
        const first = yield* create(client, {
          model: "hosted/gpt-4o-mini",
          input: "Weather in Rome?",
          tools: hostedTools
        })
        yield* create(client, {
          model: "hosted/gpt-4o-mini",
          tools: hostedTools,
          input: [...replayed(first.output), { role: "user", content: "And tomorrow?" }]
        })
        const replay = bodies[bodies.length - 1]!["input"] as ReadonlyArray<unknown>
        expect(replay).toContainEqual(searchItem)
        yield* create(client, {
          model: "hosted/gpt-4o-mini",
          tools: hostedTools,
          previous_response_id: first.id,
          input: [
            { type: "custom_tool_call_output", call_id: "call_custom_1", output: "done" },
            { role: "user", content: "And tomorrow?" }
          ]
        })
        const continued = bodies[bodies.length - 1]!["input"] as ReadonlyArray<unknown>
        expect(continued).toContainEqual(searchItem)
        expect(continued).toContainEqual({ type: "custom_tool_call_output", call_id: "call_custom_1", output: "done" })
      }))

    it.effect(
      "for a model that reaches another API, hosted tools are left out, named in x-omitted-tools, and it answers",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const whole = yield* promise(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", input: "Search", tools: hostedTools }).withResponse()
          )
          expect(whole.response.status).toBe(200)
          expect(whole.response.headers.get("x-omitted-tools")).toBe("web_search, mcp")
          expect(whole.data.status).toBe("completed")
          expect(whole.data.output.length).toBeGreaterThan(0)
          const streamed = yield* promise(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", input: "Search", tools: hostedTools, stream: true })
              .withResponse()
          )
          expect(streamed.response.headers.get("x-omitted-tools")).toBe("web_search, mcp")
          const seen: Array<string> = []
          yield* promise(async () => {
            for await (const event of streamed.data) seen.push(event.type)
          })
          expect(seen[seen.length - 1]).toBe("response.completed")
          // Only function tools ask nothing of the deployment: no header.
          const plain = yield* promise(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", input: "Hi", tools: functionTools }).withResponse()
          )
          expect(plain.response.headers.get("x-omitted-tools")).toBeNull()
        })
    )

    it.effect(
      "for a model that reaches another API, refused with 400: a hosted tool the tool choice requires, a client's tool of " +
        "another type, an item of another type",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const choice = apiError(
            yield* rejection(() =>
              client.responses.create({
                model: "sim/gpt-4o-mini",
                input: "Search",
                tools: [{ type: "file_search", vector_store_ids: ["vs_1"] }],
                tool_choice: { type: "file_search" }
              })
            )
          )
          expect(choice.status).toBe(400)
          expect(choice.param).toBe("tool_choice.type")
          expect(choice.message).toContain("'file_search' is required by tool_choice")
          expect(choice.message).toContain("'sim/gpt-4o-mini'")
          const shell = apiError(
            yield* rejection(() =>
              client.responses.create({
                model: "sim/gpt-4o-mini",
                input: "Run it",
                tools: [...hostedTools, { type: "local_shell" }]
              })
            )
          )
          expect(shell.status).toBe(400)
          expect(shell.param).toBe("tools[3].type")
          expect(shell.message).toContain("'local_shell'")
          const item = apiError(
            yield* rejection(() =>
              client.responses.create({
                model: "sim/gpt-4o-mini",
                input: [{ type: "local_shell_call_output", id: "lsh_1", output: "done" }]
              })
            )
          )
          expect(item.status).toBe(400)
          expect(item.param).toBe("input[0].type")
          expect(item.message).toContain("'local_shell_call_output'")
        })
    )

    it.effect(
      "for a model that reaches another API, a custom tool, the client's tool search and the tools of an " +
        "additional_tools item are offered as functions: their calls come back as the client's items, whole and " +
        "streamed, and their outputs are read back, the tools a search loaded offered from then on",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const model = "sim/gpt-4o-mini"
          const patch: OpenAI.Responses.CustomTool = {
            type: "custom",
            name: "apply_patch",
            description: "Applies a patch.",
            format: { type: "grammar", syntax: "lark", definition: "start: /.+/" }
          }
          const asked = { role: "user" as const, content: "Patch it with apply_patch." }
          const patched = yield* create(client, { model, input: [asked], tools: [patch] })
          const call = patched.output.find((item) => item.type === "custom_tool_call")
          expect(call).toMatchObject({ type: "custom_tool_call", name: "apply_patch", status: "completed" })
          expect(typeof (call as OpenAI.Responses.ResponseCustomToolCall).input).toBe("string")
          const answered = yield* create(client, {
            model,
            input: [asked, call!, { type: "custom_tool_call_output", call_id: call!.call_id, output: "Patched." }],
            tools: [patch]
          })
          expect(answered.output_text).not.toBe("")
          // The client's tool search, streamed, its tools in an `additional_tools` item as Codex sends them.
          const search = {
            type: "tool_search",
            execution: "client",
            description: "Finds deferred tools.",
            parameters: { type: "object", properties: { query: { type: "string" } }, required: ["query"] }
          }
          const held = { type: "additional_tools", role: "developer", tools: [search] }
          const looking = { role: "user" as const, content: "Find a calendar tool with tool_search." }
          const streamed = yield* events(client, {
            model,
            input: [held, looking] as unknown as OpenAI.Responses.ResponseInput
          })
          const done = streamed.flatMap((event) => event.type === "response.output_item.done" ? [event.item] : [])
          const searched = done.find((item) => item.type === "tool_search_call") as
            | OpenAI.Responses.ResponseToolSearchCall
            | undefined
          expect(searched).toMatchObject({ type: "tool_search_call", execution: "client", status: "completed" })
          expect(typeof searched!.arguments).toBe("object")
          const calendar = {
            type: "namespace",
            name: "calendar",
            description: "The calendar.",
            tools: [{ type: "function", name: "read", parameters: { type: "object", properties: {} } }]
          }
          const loaded = yield* create(client, {
            model,
            input: [
              held,
              looking,
              searched,
              { type: "tool_search_output", call_id: searched!.call_id, execution: "client", tools: [calendar] },
              { role: "user", content: "Now read it with calendar__read." }
            ] as unknown as OpenAI.Responses.ResponseInput
          })
          expect(loaded.output.find((item) => item.type === "function_call")).toMatchObject({
            type: "function_call",
            name: "read",
            namespace: "calendar"
          })
        })
    )

    it.effect(
      "a model or router reaching both kinds sends a request with hosted tools to its Responses deployment, whole " +
        "tools and all, even a tool choice requiring one; other requests go anywhere",
      () =>
        Effect.gen(function*() {
          const { bodies, client, strict } = yield* Fixture
          for (
            const [gateway, model] of [[client, "gpt-4o-mini"], [strict, "gpt-4o-mini"], [client, "mixed"]] as const
          ) {
            const before = bodies.length
            const whole = yield* promise(() =>
              gateway.responses.create({
                model,
                input: "Weather in Rome?",
                tools: hostedTools,
                tool_choice: { type: "mcp", server_label: "docs" }
              }).withResponse()
            )
            expect(whole.response.headers.get("x-omitted-tools")).toBeNull()
            expect(whole.data.output[0]).toEqual(searchItem)
            expect(bodies.length).toBe(before + 1)
            expect(bodies[before]!["tools"]).toEqual(hostedTools)
            expect(bodies[before]!["tool_choice"]).toEqual({ type: "mcp", server_label: "docs" })
            const seen = yield* events(gateway, { model, input: "Weather in Rome?", tools: hostedTools })
            expect(seen[seen.length - 1]?.type).toBe("response.completed")
            expect(bodies.length).toBe(before + 2)
            expect(bodies[before + 1]!["stream"]).toBe(true)
          }
          // A client's tool of another type goes there too, rather than being refused.
          const custom = yield* create(client, {
            model: "gpt-4o-mini",
            input: "Patch it",
            tools: [...hostedTools, { type: "custom", name: "apply_patch", description: "Applies a patch." }]
          })
          expect(custom.output_text).toBe(answer)
          // Without them, the router named `mixed` picks by its strategy: its first deployment, the simulator.
          const before = bodies.length
          const plain = yield* create(client, { model: "mixed", input: "Hi", tools: functionTools })
          expect(plain.status).toBe("completed")
          expect(bodies.length).toBe(before)
        })
    )

    it.effect("with hosted_tools \"refuse\", a hosted tool for a model that reaches another API is refused naming each", () =>
      Effect.gen(function*() {
        const { strict } = yield* Fixture
        const tools = apiError(
          yield* rejection(() =>
            strict.responses.create({ model: "sim/gpt-4o-mini", input: "Search", tools: hostedTools })
          )
        )
        expect(tools.status).toBe(400)
        expect(tools.type).toBe("invalid_request_error")
        expect(tools.param).toBe("tools[1].type")
        expect(tools.message).toContain("'web_search', 'mcp'")
        expect(tools.message).toContain("'sim/gpt-4o-mini'")
        // To a model whose deployments all speak the Responses API, they go as ever.
        const hosted = yield* create(strict, { model: "hosted/gpt-4o-mini", input: "Weather?", tools: hostedTools })
        expect(hosted.output_text).toBe(answer)
      }))
  }
)
