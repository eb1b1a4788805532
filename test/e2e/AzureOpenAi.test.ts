import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { AzureOpenAI } from "openai"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as AzureOpenAi from "../../src/providers/AzureOpenAi.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import * as AdapterE2e from "../utils/adapterE2e.js"

const KEY = "azure-e2e-key-0123456789abcdef"
const TOKEN = "entra-e2e-token-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const deployment = "gpt4o-prod"
const apiVersion = "2024-10-21"
const hello: ChatRequest.Input = { messages: [Message.user("Tell me about Effect in one paragraph.")] }

/** A TokenCredential that hands out `TOKEN`, counting the times it is asked, valid an hour from `Date.now()`. */
class CountingCredential implements AzureOpenAi.TokenCredential {
  asked: Array<string | Array<string>> = []
  getToken(scopes: string | Array<string>) {
    this.asked.push(scopes)
    return Promise.resolve({ token: TOKEN, expiresOnTimestamp: Date.now() + 3_600_000 })
  }
}

class SignedOutCredential implements AzureOpenAi.TokenCredential {
  getToken() {
    return Promise.reject(new Error("no account is signed in"))
  }
}

const simulated = <A, E, R>(body: (simulator: Simulator.Simulator) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Simulator.make({ apiKeys: [KEY, TOKEN], models: [deployment, "gpt-4.1"], replyTokens: 12 }),
    body
  )

const deploymentClient = (simulator: Simulator.Simulator, options: Partial<AzureOpenAi.Options> = {}) =>
  AzureOpenAi.make({ baseUrl: simulator.url, deployment, apiVersion, model: "gpt-4o", ...options })

const comparable = (response: Parameters<typeof AdapterE2e.comparable>[0]) => AdapterE2e.comparable(response)

describe("AzureOpenAi over the simulator", () => {
  it.live("a deployment's path with api-key: whole and streamed replies are the same, content filters skipped", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* deploymentClient(simulator)
        const { streamed, whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, hello, credentials, comparable)
        assert.strictEqual(whole.provider, "azure")
        assert.strictEqual(whole.model, deployment)
        assert.strictEqual(whole.usage.completionTokens, 12)
        assert.strictEqual(streamed.text, whole.text)
        assert.strictEqual(whole.finishReason, "stop")
        const chunks = yield* Stream.runCollect(chat.chatStream(hello, credentials))
        assert.deepStrictEqual(chunks.slice(-2).map((chunk) => chunk._tag), ["Usage", "Finish"])
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("the v1 path names the deployment in the body; without `deployment`, the request's model", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const named = yield* deploymentClient(simulator, { apiVersion: undefined })
        assert.strictEqual((yield* named.chat(hello, credentials)).model, deployment)
        const byModel = yield* AzureOpenAi.make({ baseUrl: simulator.url, model: "gpt-4.1" })
        const streamed = yield* ChatChunk.collect(byModel.chatStream(hello, credentials))
        assert.strictEqual(streamed.model, "gpt-4.1")
        assert.isAbove(streamed.text.length, 0)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("tools, images and structured output, on both paths", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        for (const version of [apiVersion, undefined]) {
          const chat = yield* deploymentClient(simulator, { apiVersion: version })
          const tools = { ...hello, tools: AdapterE2e.weatherAndTimeTools, toolChoice: { tool: "get_weather" } }
          const call = yield* AdapterE2e.aNamedToolCallStreamedAndWhole(chat, tools, credentials, comparable)
          assert.property(JSON.parse(call.arguments), "city")
          const image = {
            messages: [Message.user([Message.text("What is in it?"), Message.image("https://example.com/cat.png")])]
          }
          assert.isAbove((yield* chat.chat(image, credentials)).usage.promptTokens, 85)
          const Verdict = Schema.Struct({ verdict: Schema.Literals(["yes", "no"]) })
          const structured = {
            ...hello,
            responseFormat: { type: "json_schema" as const, name: "Verdict", schema: Message.jsonSchemaOf(Verdict) }
          }
          const { whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, structured, credentials, comparable)
          Schema.decodeUnknownSync(Verdict)(JSON.parse(whole.text))
        }
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("errors: a bad key, an unknown deployment, a rate limit", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [KEY], models: [deployment] })
      const chat = yield* deploymentClient(simulator)
      const wrong = "azure-wrong-key-0123456789"
      yield* AdapterE2e.rejectedKeyIsAuthError(chat, hello, ProviderClient.credentials(wrong), {
        status: 401,
        provider: "azure",
        key: wrong
      })
      const missing = yield* Effect.flip((yield* deploymentClient(simulator, { deployment: "gone" })).chat(
        hello,
        credentials
      ))
      assert(missing._tag === "ModelNotFoundError")
      assert.strictEqual(missing.status, 404)
      assert.include(missing.detail, "deployment for this resource does not exist")
      const limiting = yield* Simulator.make({ apiKeys: [KEY], models: [deployment], requestsPerMinute: 1 })
      const limited = yield* AdapterE2e.perKeyRateLimitIsRateLimitError(
        yield* deploymentClient(limiting),
        hello,
        credentials
      )
      assert.strictEqual(limited.provider, "azure")
    }).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a key the server echoes back is masked in the error", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* deploymentClient(simulator, AdapterE2e.simulatorFault("echo-key=error"))
        yield* AdapterE2e.failsWholeAndStreamed(chat, hello, credentials, AdapterE2e.noKeyAssertion(KEY))
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("Entra ID: the Credential's token as a bearer, asked once while fresh, the pool's key not sent", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const credential = new CountingCredential()
        const chat = yield* AzureOpenAi.make({ baseUrl: simulator.url, deployment, apiVersion, entraId: true }).pipe(
          Effect.provideService(AzureOpenAi.Credential, credential)
        )
        // The stand-in key of a keyless pool: the simulator would refuse it.
        const none = ProviderClient.credentials("none")
        const whole = yield* chat.chat(hello, none)
        const streamed = yield* ChatChunk.collect(chat.chatStream(hello, none))
        assert.strictEqual(streamed.text, whole.text)
        assert.deepStrictEqual(credential.asked, [["https://cognitiveservices.azure.com/.default"]])
        const v1 = yield* AzureOpenAi.make({ baseUrl: simulator.url, model: deployment, entraId: true }).pipe(
          Effect.provideService(AzureOpenAi.Credential, credential)
        )
        assert.strictEqual((yield* v1.chat(hello, none)).model, deployment)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("Entra ID: a credential that gives no token fails the call with AuthError naming it, before any HTTP", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* AzureOpenAi.make({ baseUrl: simulator.url, deployment, apiVersion, entraId: true }).pipe(
          Effect.provideService(AzureOpenAi.Credential, new SignedOutCredential())
        )
        const before = (yield* simulator.stats).requests
        yield* AdapterE2e.failsWholeAndStreamed(chat, hello, ProviderClient.credentials("none"), (error) => {
          assert(error._tag === "AuthError")
          assert.strictEqual(error.reason, "credential_unavailable")
          assert.strictEqual(error.provider, "azure")
          assert.strictEqual(error.detail, "SignedOutCredential: no account is signed in")
          assert.include(error.message, "Sign in or configure the credential")
        })
        assert.strictEqual((yield* simulator.stats).requests, before)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))
})

describe("the official AzureOpenAI client against the simulator", () => {
  it.live("whole and streamed, with api-key; the content-filter fields as Azure sends them", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const client = new AzureOpenAI({ endpoint: simulator.url, apiKey: KEY, apiVersion, deployment })
        const messages = [{ role: "user" as const, content: "Hello" }]
        const whole = await client.chat.completions.create({ model: deployment, messages })
        assert.isAbove(whole.choices[0]!.message.content!.length, 0)
        assert.strictEqual(whole.model, deployment)
        assert.property(whole, "prompt_filter_results")
        assert.property(whole.choices[0], "content_filter_results")
        const stream = await client.chat.completions.create({
          model: deployment,
          messages,
          stream: true,
          stream_options: { include_usage: true }
        })
        const chunks = []
        for await (const chunk of stream) chunks.push(chunk)
        assert.deepStrictEqual(chunks[0]!.choices, [])
        assert.property(chunks[0], "prompt_filter_results")
        const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? "").join("")
        assert.strictEqual(text, whole.choices[0]!.message.content)
        assert.strictEqual(chunks.at(-1)!.usage?.completion_tokens, 12)
      })
    ))

  it.live("an Entra ID token as a bearer; a wrong key and an unknown deployment as Azure answers them", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const client = new AzureOpenAI({
          endpoint: simulator.url,
          azureADTokenProvider: () => Promise.resolve(TOKEN),
          apiVersion,
          deployment
        })
        const messages = [{ role: "user" as const, content: "Hello" }]
        const stream = await client.chat.completions.create({ model: deployment, messages, stream: true })
        let text = ""
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? ""
        assert.isAbove(text.length, 0)
        const wrong = new AzureOpenAI({ endpoint: simulator.url, apiKey: "wrong-key-000000", apiVersion, deployment })
        const denied = await wrong.chat.completions.create({ model: deployment, messages }).catch((error) => error)
        assert.strictEqual(denied.status, 401)
        const gone = new AzureOpenAI({ endpoint: simulator.url, apiKey: KEY, apiVersion, deployment: "gone" })
        const missing = await gone.chat.completions.create({ model: "gone", messages }).catch((error) => error)
        assert.strictEqual(missing.status, 404)
        assert.strictEqual(missing.code, "DeploymentNotFound")
      })
    ))

  it.live("a deployment's path without api-version is 404 Resource not found", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const response = await fetch(`${simulator.url}/openai/deployments/${deployment}/chat/completions`, {
          method: "POST",
          headers: { "api-key": KEY, "content-type": "application/json" },
          body: JSON.stringify({ messages: [{ role: "user", content: "Hello" }] })
        })
        assert.strictEqual(response.status, 404)
        assert.deepStrictEqual(await response.json(), { error: { code: "404", message: "Resource not found" } })
      })
    ))
})
