/**
 * Vertex AI deployments (`api: "vertex"` in provider.json) behind the gateway, reached by the official `openai` and
 * `@anthropic-ai/sdk` clients over loopback: a Gemini model on Vertex's Gemini paths and a Claude model on
 * `rawPredict`, both with a Google access token (a test credential in place of Application Default Credentials),
 * against the simulator speaking Vertex.
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
          max_retries: 0
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
