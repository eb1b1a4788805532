/**
 * Azure OpenAI deployments (`api: "azure"` in provider.json) behind the gateway, reached by the official `openai`
 * client over loopback: one on a deployment's path with an API key, one on the v1 API with an Entra ID token (a test
 * credential in place of `DefaultAzureCredential`), both against the simulator speaking Azure.
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as AzureOpenAi from "../../src/providers/AzureOpenAi.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const azureKey = "azure-gateway-key-0123456789"
const token = "entra-gateway-token-0123456789"

/** A credential that hands out `token`, counting the times it is asked. */
class TestCredential implements AzureOpenAi.TokenCredential {
  asked = 0
  getToken() {
    this.asked += 1
    return Promise.resolve({ token, expiresOnTimestamp: Date.now() + 3_600_000 })
  }
}

class Fixture extends Context.Service<Fixture, {
  readonly client: OpenAI
  readonly credential: TestCredential
}>()("test/GatewayAzureFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [azureKey, token], models: ["gpt4o-prod", "gpt-4.1"] })
    const config = yield* ProviderConfig.fromJson({
      azure: [
        {
          model_name: "gpt-4o",
          api: "azure",
          base_url: simulator.url,
          deployment: "gpt4o-prod",
          api_version: "2024-10-21",
          api_keys: [azureKey],
          max_retries: 0
        },
        { model_name: "gpt-4.1", api: "azure", base_url: simulator.url, max_retries: 0 }
      ]
    })
    const credential = new TestCredential()
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
      Effect.provideService(AzureOpenAi.Credential, credential)
    )
    return { client: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }), credential }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Azure OpenAI deployments behind the gateway", (it) => {
  it.effect("a deployment with an API key, whole and streamed", () =>
    Effect.gen(function*() {
      const { client } = yield* Fixture
      const messages = [{ role: "user" as const, content: "Hello" }]
      const whole = yield* Effect.promise(() => client.chat.completions.create({ model: "azure/gpt-4o", messages }))
      expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0)
      expect(whole.choices[0]!.finish_reason).toBe("stop")
      const text = yield* Effect.promise(async () => {
        const stream = await client.chat.completions.create({ model: "gpt-4o", messages, stream: true })
        let out = ""
        for await (const chunk of stream) out += chunk.choices[0]?.delta.content ?? ""
        return out
      })
      expect(text).toBe(whole.choices[0]!.message.content)
    }))

  it.effect("a deployment without keys on the v1 API with an Entra ID token, whole and streamed", () =>
    Effect.gen(function*() {
      const { client, credential } = yield* Fixture
      const messages = [{ role: "user" as const, content: "Hello" }]
      const whole = yield* Effect.promise(() => client.chat.completions.create({ model: "azure/gpt-4.1", messages }))
      expect(whole.choices[0]!.message.content!.length).toBeGreaterThan(0)
      const chunks = yield* Effect.promise(async () => {
        const stream = await client.chat.completions.create({
          model: "gpt-4.1",
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
      expect(credential.asked).toBe(1)
    }))

  it.effect("an Entra ID deployment whose credential gives no token: 503, saying the gateway's credential failed", () =>
    Effect.scoped(Effect.gen(function*() {
      const simulator = yield* Simulator.make({ models: ["gpt-4.1"] })
      const config = yield* ProviderConfig.fromJson({
        azure: [{ model_name: "gpt-4.1", api: "azure", base_url: simulator.url, max_retries: 0 }]
      })
      const signedOut: AzureOpenAi.TokenCredential = {
        getToken: () => Promise.reject(new Error("no account is signed in"))
      }
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
        Effect.provideService(AzureOpenAi.Credential, signedOut)
      )
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
      const error = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "gpt-4.1", messages: [{ role: "user", content: "Hi" }] }).then(
          () => undefined,
          (failure: unknown) => failure as { readonly status: number; readonly message: string }
        )
      )
      expect(error?.status).toBe(503)
      expect(error).toBeInstanceOf(OpenAI.InternalServerError)
      expect(error?.message).toContain("no working credential for the deployment azure/gpt-4.1")
      expect((yield* simulator.stats).requests).toBe(0)
    })).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.effect("provider.json: an azure entry needs base_url; deployment and api_version are for the azure api", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ProviderConfig.fromJson({
        a: [{ model_name: "gpt-4o", api: "azure", deployment: "prod" }],
        b: [{ model_name: "gpt-4o", api_keys: ["sk-0123456789"], api_version: "2024-10-21" }]
      }))
      expect(error.issues).toEqual([
        {
          path: "a[0].base_url",
          message: "the azure api needs base_url (the resource's endpoint, https://RESOURCE.openai.azure.com)"
        },
        { path: "b[0].api_version", message: "is for the azure api, not chat-completions" }
      ])
    }))
})
