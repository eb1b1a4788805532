/**
 * What the `/v1/responses` loopback tests share: a gateway in front of the simulator with a deployment of each API
 * (and a recorder of the bodies two of them get), the official `openai` client, and its calls as effects.
 */
import { expect } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { type Recorder, recorder } from "./cliHarness.js"
import { faulty, type Served } from "./gatewayHarness.js"

const key = "sk-gateway-responses-key-01"

/** The gateway, its simulator, the client, and the recorder of the bodies the `recorded-*` deployments get. */
export class Fixture extends Context.Service<Fixture, Served<OpenAI> & { readonly recorded: Recorder }>()(
  "test/GatewayResponsesFixture"
) {}

/** The fixture: a fresh simulator and gateway. */
export const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [key],
      replyTokens: 8,
      reasoningTokens: 4,
      models: [...Simulator.defaultModels, "claude-sim"]
    })
    const recorded = yield* recorder(simulator.url)
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
    return { gateway, simulator, client, recorded }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

/** One deployment of each API the gateway speaks to. */
export const deployments = [
  "sim/gpt-4o-mini",
  "claude/claude-sim",
  "resp/gpt-4o-mini",
  "gemini/gpt-4o-mini",
  "ollama/gpt-4o-mini"
]

export const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

export type Params = OpenAI.Responses.ResponseCreateParamsNonStreaming

/** `responses.create` of `params`. */
export const create = (client: OpenAI, params: Params) => promise(() => client.responses.create(params))

/** Every event of `create({stream: true})` of `params`, in order. */
export const events = (client: OpenAI, params: Params) =>
  promise(async () => {
    const stream = await client.responses.create({ ...params, stream: true })
    const out: Array<OpenAI.Responses.ResponseStreamEvent> = []
    for await (const event of stream) out.push(event)
    return out
  })

/** One function tool. */
export const tools: Array<OpenAI.Responses.FunctionTool> = [{
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  strict: false
}]

/**
 * A response's output items sent back as input, as OpenAI's guide replays them (the SDK's output union is wider than
 * its input union: computer calls' statuses).
 */
export const replayed = (output: ReadonlyArray<OpenAI.Responses.ResponseOutputItem>) =>
  output as unknown as Array<OpenAI.Responses.ResponseInputItem>

/** The error object of a rejected call (`{message, type, param, code}`), with its status. */
export const apiError = (error: unknown) => {
  expect(error).toBeInstanceOf(OpenAI.APIError)
  const { error: body, status } = error as InstanceType<typeof OpenAI.APIError>
  return { status, ...(body as { message: string; type: string; param: string | null; code: string | null }) }
}
