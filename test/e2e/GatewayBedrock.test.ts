/**
 * Amazon Bedrock deployments (`api: "bedrock"` in provider.json) behind the gateway, reached by the official `openai`
 * client over loopback: one signed with SigV4 (the simulator's test credentials in place of AWS's default chain), one
 * with a Bedrock API key, both against the simulator speaking Bedrock's Converse API; the SigV4 one's batches made
 * through the gateway's `/v1/batches` as Bedrock batch inference jobs over the simulator's S3.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as SimulatedBedrock from "../../src/simulator/Bedrock.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { completedBatch } from "../utils/batchGateways.js"

const apiKey = "bedrock-gateway-key-0123456789"
const claude = "anthropic.claude-3-5-haiku-20241022-v1:0"
const nova = "amazon.nova-micro-v1:0"

class Fixture extends Context.Service<Fixture, {
  readonly client: OpenAI
  readonly asked: { count: number }
}>()("test/GatewayBedrockFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [apiKey, SimulatedBedrock.testCredentials.accessKeyId],
      models: [claude, nova]
    })
    const config = yield* ProviderConfig.fromJson({
      aws: [
        {
          model_name: claude,
          api: "bedrock",
          region: "us-east-1",
          base_url: simulator.url,
          max_retries: 0,
          batch: {
            role_arn: "arn:aws:iam::123456789012:role/batch-inference",
            input_uri: "s3://batch-input/requests/",
            output_uri: "s3://batch-output/results",
            endpoint: simulator.url,
            s3_endpoint: `${simulator.url}/s3`
          }
        },
        { model_name: nova, api: "bedrock", base_url: simulator.url, api_keys: [apiKey], max_retries: 0 }
      ]
    })
    const asked = { count: 0 }
    const credentials: Bedrock.CredentialProvider = () => {
      asked.count++
      return Promise.resolve(SimulatedBedrock.testCredentials)
    }
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
      Effect.provideService(Bedrock.Credentials, credentials)
    )
    return { client: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }), asked }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Bedrock deployments behind the gateway", (it) => {
  it.effect("a SigV4 deployment, whole and streamed; credentials asked once", () =>
    Effect.gen(function*() {
      const { asked, client } = yield* Fixture
      const messages = [{ role: "user" as const, content: "Hello" }]
      const whole = yield* Effect.promise(() => client.chat.completions.create({ model: `aws/${claude}`, messages }))
      expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0)
      expect(whole.choices[0]!.finish_reason).toBe("stop")
      const chunks = yield* Effect.promise(async () => {
        const stream = await client.chat.completions.create({
          model: claude,
          messages,
          stream: true,
          stream_options: { include_usage: true }
        })
        const out = []
        for await (const chunk of stream) out.push(chunk)
        return out
      })
      expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")).toBe(
        whole.choices[0]!.message.content
      )
      expect(chunks.at(-1)!.usage?.prompt_tokens).toBeGreaterThan(0)
      expect(asked.count).toBe(1)
    }))

  it.effect("a batch through /v1/batches on a deployment with a batch group is a Bedrock batch inference job", () =>
    Effect.gen(function*() {
      const { client } = yield* Fixture
      const lines = [0, 1, 2].map((i) =>
        JSON.stringify({
          custom_id: `line-${i}`,
          method: "POST",
          url: "/v1/chat/completions",
          body: { model: claude, messages: [{ role: "user", content: `Hello ${i}` }], max_tokens: 40 }
        })
      )
      const { done, results } = yield* completedBatch(client, lines.join("\n"))
      expect(done.request_counts).toMatchObject({ total: 3, completed: 3, failed: 0 })
      expect(results.map((result) => result.custom_id).sort()).toEqual(["line-0", "line-1", "line-2"])
      for (const result of results) {
        expect(result.response.status_code).toBe(200)
        expect(result.response.body.choices[0].message.content.length).toBeGreaterThan(0)
      }
    }))

  it.effect("a deployment with a Bedrock API key, a tool call streamed", () =>
    Effect.gen(function*() {
      const { client } = yield* Fixture
      const calls = yield* Effect.promise(async () => {
        const stream = await client.chat.completions.create({
          model: nova,
          messages: [{ role: "user", content: "Weather in Oslo?" }],
          tools: [{
            type: "function",
            function: {
              name: "get_weather",
              parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
            }
          }],
          tool_choice: { type: "function", function: { name: "get_weather" } },
          stream: true
        })
        let name = ""
        let args = ""
        let finish: string | null = null
        for await (const chunk of stream) {
          const call = chunk.choices[0]?.delta.tool_calls?.[0]
          name += call?.function?.name ?? ""
          args += call?.function?.arguments ?? ""
          finish = chunk.choices[0]?.finish_reason ?? finish
        }
        return { name, args, finish }
      })
      expect(calls.name).toBe("get_weather")
      expect(JSON.parse(calls.args)).toHaveProperty("city")
      expect(calls.finish).toBe("tool_calls")
    }))

  it.effect("provider.json: a bedrock entry needs region or base_url; region is for the bedrock api", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        a: [{ model_name: claude, api: "bedrock" }],
        b: [{ model_name: "gpt-4o", api_keys: ["sk-0123456789"], region: "us-east-1" }]
      }))
      expect(error.issues).toEqual([
        { path: "a[0].region", message: "the bedrock api needs region (us-east-1) or base_url" },
        { path: "b[0].region", message: "is for the bedrock api, not chat-completions" }
      ])
      // Anthropic's price, its batch tier too: Bedrock's batch inference is half the on-demand price as Anthropic's is.
      expect(Pricing.lookup(claude)).toEqual(Pricing.lookup("claude-3-5-haiku"))
      expect(Pricing.lookup(nova)?.input).toBe(0.035)
    }))
})
