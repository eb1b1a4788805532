/**
 * Codex CLI's real first request (0.171.0, `codex exec "say hi"`, default settings: its function tools, the
 * `multi_agent_v1` namespace of five functions and `web_search`; `test/fixtures/codex-0.171.0-first-request.json`, ids
 * replaced) through `/v1/responses` with the official `openai` client, streamed, against the simulator behind a Chat
 * Completions, an Anthropic, a Gemini and a Responses deployment: each answers it; `web_search` is left out for the
 * first three (named in `x-omitted-tools`) and offered to the Responses one; a namespace's function is offered under
 * its qualified name, and its call comes back to the client as the namespace's, which the client sends back as it
 * got it.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { promise } from "../utils/responsesHarness.js"

const key = "sk-gateway-codex-0001"

type Params = OpenAI.Responses.ResponseCreateParamsStreaming

const codexRequest = JSON.parse(
  readFileSync(new URL("../fixtures/codex-0.171.0-first-request.json", import.meta.url), "utf8")
) as Params

class Fixture extends Context.Service<Fixture, {
  readonly client: OpenAI
}>()("test/GatewayCodexFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 6 })
    const deployment = (api: string, baseUrl: string) => [{
      model_name: "gpt-4o-mini",
      api,
      base_url: baseUrl,
      api_keys: [key],
      max_retries: 0
    }]
    const config = yield* ProviderConfig.fromJson({
      chat: deployment("chat-completions", `${simulator.url}/v1`),
      claude: deployment("anthropic", simulator.url),
      google: deployment("gemini", simulator.url),
      resp: deployment("responses", `${simulator.url}/v1`)
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    return { client: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }) }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

/** The streamed answer to `params`: its header naming the tools left out, and its completed response. */
const streamed = (client: OpenAI, params: Params) =>
  promise(async () => {
    const { data, response } = await client.responses.create(params).withResponse()
    let completed: OpenAI.Responses.Response | undefined
    const types: Array<string> = []
    for await (const event of data) {
      types.push(event.type)
      if (event.type === "response.completed") completed = event.response
    }
    return { omitted: response.headers.get("x-omitted-tools"), completed, types }
  })

// Codex's function tools outside its namespace.
const codexFunctions = new Set(codexRequest.tools!.flatMap((tool) => tool.type === "function" ? [tool.name] : []))

const viaOtherApis = ["chat", "claude", "google"]

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway: Codex CLI's first request", (it) => {
  for (const name of [...viaOtherApis, "resp"]) {
    it.effect(`${name}: answered as Codex sent it, web_search left out unless the deployment runs it`, () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const { completed, omitted, types } = yield* streamed(client, { ...codexRequest, model: `${name}/gpt-4o-mini` })
        expect(types[types.length - 1]).toBe("response.completed")
        expect(omitted).toBe(viaOtherApis.includes(name) ? "web_search" : null)
        // "say hi" asks for no tool: the simulated model answers in text, though Codex offers its tools.
        expect(completed!.output.filter((item) => item.type === "function_call")).toEqual([])
        expect(completed!.output.some((item) => item.type === "message")).toBe(true)
        // Asked to call one (`tool_choice: "required"`), it calls one of Codex's own, by the name Codex gave it.
        const required = yield* streamed(client, {
          ...codexRequest,
          model: `${name}/gpt-4o-mini`,
          tool_choice: "required"
        })
        const calls = required.completed!.output.filter((item) => item.type === "function_call")
        expect(calls.length).toBeGreaterThan(0)
        for (const call of calls) {
          expect(codexFunctions.has(call.name) || (call as { namespace?: string }).namespace === "multi_agent_v1")
            .toBe(true)
        }
      }))

    it.effect(`${name}: a namespace's function is called as the namespace's, and its output taken back`, () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const model = `${name}/gpt-4o-mini`
        const choice = { type: "function", name: "spawn_agent", namespace: "multi_agent_v1" }
        const first = yield* streamed(client, {
          ...codexRequest,
          model,
          tool_choice: choice as unknown as NonNullable<Params["tool_choice"]>
        })
        const call = first.completed!.output.find((item) => item.type === "function_call")
        expect(call).toMatchObject({ type: "function_call", name: "spawn_agent", namespace: "multi_agent_v1" })
        if (call?.type !== "function_call") return
        // Codex sends the call back as it got it, with the agent's answer.
        const second = yield* streamed(client, {
          ...codexRequest,
          model,
          input: [
            ...(codexRequest.input as Array<OpenAI.Responses.ResponseInputItem>),
            {
              type: "function_call",
              call_id: call.call_id,
              name: call.name,
              namespace: "multi_agent_v1",
              arguments: call.arguments
            } as OpenAI.Responses.ResponseInputItem,
            { type: "function_call_output", call_id: call.call_id, output: `{"agent_id":"agent-1"}` }
          ]
        })
        expect(second.types[second.types.length - 1]).toBe("response.completed")
        expect(second.completed!.output.some((item) => item.type === "message")).toBe(true)
      }))
  }

  it.effect("a namespace's function named like another tool is refused with 400 naming both", () =>
    Effect.gen(function*() {
      const { client } = yield* Fixture
      const error = yield* promise(() =>
        client.responses.create({
          model: "chat/gpt-4o-mini",
          input: "hi",
          tools: [
            { type: "function", name: "ns__run", parameters: { type: "object", properties: {} }, strict: false },
            {
              type: "namespace",
              name: "ns",
              tools: [{ type: "function", name: "run", parameters: { type: "object", properties: {} } }]
            } as unknown as OpenAI.Responses.Tool
          ]
        }).then(() => undefined, (error: unknown) => error)
      )
      expect(error).toBeInstanceOf(OpenAI.APIError)
      const { error: body, status } = error as InstanceType<typeof OpenAI.APIError>
      expect(status).toBe(400)
      expect(body).toMatchObject({ param: "tools[1].tools[0].name" })
      expect((body as { message: string }).message).toContain("'ns__run' is also the name of tools[0]")
    }))
})
