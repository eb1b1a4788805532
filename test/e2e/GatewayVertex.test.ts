/**
 * Vertex AI deployments (`api: "vertex"` in provider.json) behind the gateway, reached by the official `openai` and
 * `@anthropic-ai/sdk` clients over loopback: a Gemini model on Vertex's Gemini paths and a Claude model on
 * `rawPredict`, both with a Google access token (a test credential in place of Application Default Credentials),
 * against the simulator speaking Vertex; the Gemini one's batches made through the gateway's `/v1/batches` as Vertex
 * AI batch prediction jobs over the simulator's Cloud Storage, the Claude one's (no batch group) run by the gateway as
 * calls.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { completedBatch } from "../utils/batchGateways.js"

const token = "ya29.vertex-gateway-token-0123456789"
const claude = "claude-sonnet-4-5@20250929"

/** A Google AuthClient that hands out `token`, counting the times it is asked. */
class TestClient implements Vertex.AuthClient {
  asked = 0
  credentials: { expiry_date?: number } = {}
  getAccessToken() {
    this.asked += 1
    this.credentials = { expiry_date: Date.now() + 3_600_000 }
    return Promise.resolve({ token })
  }
}

class Fixture extends Context.Service<Fixture, {
  readonly openai: OpenAI
  readonly anthropic: Anthropic
  readonly credential: TestClient
}>()("test/GatewayVertexFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [token], models: ["gemini-2.5-flash", claude] })
    const config = yield* ProviderConfig.fromJson({
      gcp: [
        {
          model_name: "gemini-2.5-flash",
          api: "vertex",
          project: "my-proj",
          location: "us-central1",
          base_url: simulator.url,
          max_retries: 0,
          batch: {
            input_uri: "gs://batch-input/requests/",
            output_uri: "gs://batch-output/results",
            storage_endpoint: simulator.url
          }
        },
        {
          model_name: claude,
          api: "vertex",
          publisher: "anthropic",
          project: "my-proj",
          location: "us-east5",
          base_url: simulator.url,
          max_retries: 0
        }
      ]
    })
    const credential = new TestClient()
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
      Effect.provideService(Vertex.Credential, credential)
    )
    return {
      openai: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }),
      anthropic: new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 }),
      credential
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const messages = [{ role: "user" as const, content: "Hello" }]

/** A chat completion line of `model` for a batch's input file. */
const batchLine = (custom_id: string, model: string, content: string) =>
  JSON.stringify({
    custom_id,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model, messages: [{ role: "user", content }], max_tokens: 40 }
  })

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Vertex AI deployments behind the gateway", (it) => {
  it.effect("the openai client reaches both publishers, whole and streamed", () =>
    Effect.gen(function*() {
      const { openai } = yield* Fixture
      for (const model of ["gcp/gemini-2.5-flash", claude]) {
        const whole = yield* Effect.promise(() => openai.chat.completions.create({ model, messages }))
        expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0)
        expect(whole.choices[0]!.finish_reason).toBe("stop")
        const chunks = yield* Effect.promise(async () => {
          const stream = await openai.chat.completions.create({
            model,
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
      }
    }))

  it.effect("the anthropic client reaches both publishers, whole and streamed; one token per deployment", () =>
    Effect.gen(function*() {
      const { anthropic, credential } = yield* Fixture
      for (const model of [claude, "gemini-2.5-flash"]) {
        const whole = yield* Effect.promise(() => anthropic.messages.create({ model, max_tokens: 256, messages }))
        const block = whole.content[0]
        expect(block?.type).toBe("text")
        expect(whole.stop_reason).toBe("end_turn")
        const final = yield* Effect.promise(() =>
          anthropic.messages.stream({ model, max_tokens: 256, messages }).finalMessage()
        )
        expect(final.content).toEqual(whole.content)
        expect(final.usage.output_tokens).toBe(whole.usage.output_tokens)
      }
      expect(credential.asked).toBe(2)
    }))

  it.effect("a batch through /v1/batches on a deployment with a batch group is a Vertex AI batch prediction job", () =>
    Effect.gen(function*() {
      const { openai } = yield* Fixture
      // The gateway passes its clients' own custom ids: upper case and underscores too, which labels do not take.
      const customIds = ["Line_A", "line-b", "LINE_C_".repeat(9)]
      const { done, results } = yield* completedBatch(
        openai,
        customIds.map((custom_id, i) => batchLine(custom_id, "gemini-2.5-flash", `Hello ${i}`)).join("\n")
      )
      expect(done.request_counts).toMatchObject({ total: 3, completed: 3, failed: 0 })
      expect(results.map((result) => result.custom_id).sort()).toEqual([...customIds].sort())
      for (const result of results) {
        expect(result.response.status_code).toBe(200)
        expect(result.response.body.choices[0].message.content.length).toBeGreaterThan(0)
      }
    }))

  it.effect("without a batch group a Vertex deployment has no batch API: the gateway runs its batches as calls", () =>
    Effect.gen(function*() {
      const { openai } = yield* Fixture
      const { done, results: [result] } = yield* completedBatch(openai, batchLine("line-0", claude, "Hello"))
      expect(done.request_counts).toMatchObject({ total: 1, completed: 1, failed: 0 })
      expect(result.custom_id).toBe("line-0")
      expect(result.response.status_code).toBe(200)
      // A call's reply, not a batch prediction job's: the gateway ran the line through the model's router.
      expect(result.response.body.model).toBe(claude)
      expect(result.response.body.choices[0].message.content.length).toBeGreaterThan(0)
    }))

  it.effect("provider.json: a vertex entry's batch group takes the Cloud Storage prefixes, not Bedrock's fields", () =>
    Effect.gen(function*() {
      const entry = { model_name: "gemini-2.5-flash", api: "vertex", project: "my-proj", location: "us-central1" }
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        a: [{ ...entry, batch: { input_uri: "gs://in/", role_arn: "arn:aws:iam::123456789012:role/r" } }],
        b: [{
          model_name: "gpt-4o",
          api_keys: ["sk-0123456789"],
          batch: { input_uri: "gs://in/", output_uri: "gs://o/" }
        }],
        c: [{
          model_name: "m",
          api: "bedrock",
          region: "us-east-1",
          batch: { input_uri: "s3://in/", storage_endpoint: "http://x" }
        }]
      }))
      expect(error.issues).toEqual([
        { path: "a[0].batch.output_uri", message: "is missing" },
        { path: "a[0].batch.role_arn", message: "is for the bedrock api, not vertex" },
        { path: "b[0].batch", message: "is for the bedrock and vertex apis, not chat-completions" },
        { path: "c[0].batch.output_uri", message: "is missing" },
        { path: "c[0].batch.role_arn", message: "is missing" },
        { path: "c[0].batch.storage_endpoint", message: "is for the vertex api, not bedrock" }
      ])
    }))

  it.effect("provider.json: a vertex entry needs project and location and takes no keys; location is vertex's", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        a: [{ model_name: "gemini-2.5-flash", api: "vertex", api_keys: ["k-0123456789"] }],
        b: [{ model_name: "gpt-4o", api_keys: ["sk-0123456789"], location: "us-central1" }]
      }))
      expect(error.issues).toEqual([
        { path: "a[0].project", message: "the vertex api needs project (the Google Cloud project)" },
        { path: "a[0].location", message: "the vertex api needs location (the Google Cloud location)" },
        {
          path: "a[0].api_keys",
          message: "the vertex api signs in with Application Default Credentials, not keys; leave api_keys out"
        },
        { path: "b[0].location", message: "is for the vertex api, not chat-completions" }
      ])
    }))
})
