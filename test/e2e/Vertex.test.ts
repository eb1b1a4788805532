/**
 * The Vertex adapter over the simulator speaking Vertex AI: Google's models on the Gemini paths and Anthropic's on
 * `rawPredict`, whole and streamed, tools, errors, a test credential's token as the bearer, an image and a JSON Schema
 * response format in each publisher's shape (the bodies kept by a proxy in front of the simulator) and
 * `Llm.generateObject`; and the official `@google/genai` (Vertex mode) and `@anthropic-ai/vertex-sdk` clients against
 * the same simulator.
 */
import AnthropicVertex from "@anthropic-ai/vertex-sdk"
import { assert, describe, it } from "@effect/vitest"
import { GoogleGenAI } from "@google/genai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { OAuth2Client } from "google-auth-library"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Reply from "../../src/simulator/Reply.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { recorder } from "../utils/cliHarness.js"
import { cachedThenRead } from "../utils/promptCacheE2e.js"

const TOKEN = "ya29.vertex-e2e-token-0123456789abcdef"
const project = "my-proj"
const location = "us-central1"
const gemini = "gemini-2.5-flash"
const claude = "claude-sonnet-4-5"
// The stand-in key of a keyless pool: never sent, the simulator would refuse it.
const none = ProviderClient.credentials("none")
const hello: ChatRequest.Input = { messages: [Message.user("Tell me about Effect in one paragraph.")] }

/** An AuthClient that hands out `TOKEN`, counting the times it is asked, valid an hour from `Date.now()`. */
class CountingClient implements Vertex.AuthClient {
  asked = 0
  credentials: { expiry_date?: number } = {}
  getAccessToken() {
    this.asked += 1
    this.credentials = { expiry_date: Date.now() + 3_600_000 }
    return Promise.resolve({ token: TOKEN })
  }
}

class SignedOutClient implements Vertex.AuthClient {
  getAccessToken() {
    return Promise.reject(new Error("no account is signed in"))
  }
}

/** A google-auth-library client holding `token`, valid an hour: what the official clients take in place of ADC. */
const signedIn = (token: string) => {
  const client = new OAuth2Client()
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 })
  return client
}

const simulated = <A, E, R>(body: (simulator: Simulator.Simulator) => Effect.Effect<A, E, R>, options = {}) =>
  Effect.flatMap(Simulator.make({ apiKeys: [TOKEN], models: [gemini, claude], replyTokens: 12, ...options }), body)

const vertexClient = (
  simulator: Simulator.Simulator,
  options: Partial<Vertex.Options> = {},
  credential: Vertex.AuthClient = new CountingClient()
) =>
  Vertex.make({ project, location, baseUrl: simulator.url, model: gemini, ...options }).pipe(
    Effect.provideService(Vertex.Credential, credential)
  )

const comparable = (response: Parameters<typeof AdapterE2e.comparable>[0]) =>
  AdapterE2e.comparable(response, { callId: AdapterE2e.simulatedCallId })

describe("Vertex over the simulator", () => {
  it.live("Google's and Anthropic's models: whole and streamed replies are the same, the token asked once", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const credential = new CountingClient()
        for (const model of [gemini, claude]) {
          const chat = yield* vertexClient(simulator, { model }, credential)
          const { streamed, whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, hello, none, comparable)
          assert.strictEqual(whole.provider, "vertex")
          assert.strictEqual(whole.model, model)
          assert.strictEqual(whole.usage.completionTokens, 12)
          assert.strictEqual(streamed.text, whole.text)
          assert.strictEqual(whole.finishReason, "stop")
        }
        // One client per model, each with its own held token.
        assert.strictEqual(credential.asked, 2)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a claude- model named by the request goes to rawPredict; publisher pins the wire", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* vertexClient(simulator)
        const streamed = yield* ChatChunk.collect(chat.chatStream({ ...hello, model: claude }, none))
        assert.strictEqual(streamed.model, claude)
        assert.isAbove(streamed.text.length, 0)
        // Google publishes no claude- model: pinned to Google, the request is sent to Google's path and not found.
        const pinned = yield* vertexClient(simulator, { model: claude, publisher: "google" })
        const error = yield* Effect.flip(pinned.chat(hello, none))
        assert(error._tag === "ModelNotFoundError")
        assert.strictEqual(error.status, 404)
        assert.include(error.detail, "Publisher Model")
        assert.strictEqual(chat.prefill, false)
        assert.strictEqual((yield* vertexClient(simulator, { model: claude })).prefill, true)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("tools on both publishers, and Google's countTokens", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        for (const model of [gemini, claude]) {
          const chat = yield* vertexClient(simulator, { model })
          const tools = { ...hello, tools: AdapterE2e.weatherAndTimeTools, toolChoice: { tool: "get_weather" } }
          const call = yield* AdapterE2e.aNamedToolCallStreamedAndWhole(chat, tools, none, comparable)
          assert.property(JSON.parse(call.arguments), "city")
          const followUp = {
            ...tools,
            toolChoice: "none" as const,
            messages: [
              ...tools.messages,
              Message.assistant("", { toolCalls: [call] }),
              Message.toolResult(call, { celsius: 21 })
            ]
          }
          const answer = yield* chat.chat(followUp, none)
          assert.strictEqual(answer.finishReason, "stop")
        }
        const counting = yield* vertexClient(simulator)
        const whole = yield* counting.chat(hello, none)
        assert.strictEqual(yield* counting.countTokens!(hello, none), whole.usage.promptTokens)
        const refused = yield* Effect.flip(counting.countTokens!({ ...hello, model: claude }, none))
        assert.strictEqual(refused._tag, "InvalidRequestError")
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("errors: a token the server refuses, a rate limit, a permission denied, an unknown model, on both publishers", () =>
    Effect.gen(function*() {
      const refusing = yield* Simulator.make({ apiKeys: ["another-token-0123456789"], models: [gemini, claude] })
      for (const model of [gemini, claude]) {
        const limiting = yield* Simulator.make({ apiKeys: [TOKEN], models: [model], requestsPerMinute: 1 })
        yield* AdapterE2e.failsWholeAndStreamed(yield* vertexClient(refusing, { model }), hello, none, (error) => {
          assert(error._tag === "AuthError")
          assert.strictEqual(error.status, 401)
          assert.strictEqual(error.provider, "vertex")
          AdapterE2e.noKeyAssertion(TOKEN)(error)
        })
        const limited = yield* AdapterE2e.perKeyRateLimitIsRateLimitError(
          yield* vertexClient(limiting, { model }),
          hello,
          none
        )
        assert.strictEqual(limited.provider, "vertex")
      }
      yield* simulated((simulator) =>
        Effect.gen(function*() {
          for (const model of [gemini, claude]) {
            const denied = yield* vertexClient(simulator, { model, ...AdapterE2e.simulatorFault("status=403") })
            yield* AdapterE2e.failsWholeAndStreamed(denied, hello, none, (error) => {
              assert(error._tag === "AuthError")
              assert.strictEqual(error.status, 403)
              assert.include(error.detail, "aiplatform.endpoints.predict")
            })
          }
          for (const model of ["gemini-0-gone", "claude-0-gone"]) {
            const missing = yield* Effect.flip((yield* vertexClient(simulator, { model })).chat(hello, none))
            assert(missing._tag === "ModelNotFoundError")
            assert.strictEqual(missing.model, model)
          }
        })
      )
    }).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a credential that gives no token fails the call with AuthError naming it, before any HTTP", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const before = (yield* simulator.stats).requests
        for (const model of [gemini, claude]) {
          const chat = yield* vertexClient(simulator, { model }, new SignedOutClient())
          yield* AdapterE2e.failsWholeAndStreamed(chat, hello, none, (error) => {
            assert(error._tag === "AuthError")
            assert.strictEqual(error.reason, "credential_unavailable")
            assert.strictEqual(error.provider, "vertex")
            assert.strictEqual(error.detail, "SignedOutClient: no account is signed in")
          })
        }
        assert.strictEqual((yield* simulator.stats).requests, before)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("Anthropic's prompt caching on rawPredict: a cache_control prefix written, then read, priced as cached", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const llm = Layer.unwrap(Effect.map(
          ProviderConfig.fromJson({
            gcp: [{ model_name: claude, api: "vertex", project, location, base_url: simulator.url, max_retries: 0 }]
          }),
          (config) => ProviderConfig.layer(config, "gcp", claude)
        )).pipe(
          Layer.provide(Layer.succeed(Vertex.Credential, new CountingClient())),
          Layer.provide(UndiciHttpClient.layer()),
          Layer.orDie
        )
        yield* cachedThenRead(llm, "1h", Pricing.lookup(claude)!)
      })
    ))

  it.live("the stream ends with Usage and Finish on both publishers", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        for (const model of [gemini, claude]) {
          const chunks = yield* Stream.runCollect((yield* vertexClient(simulator, { model })).chatStream(hello, none))
          assert.strictEqual(chunks.at(-1)?._tag, "Finish")
          assert.isTrue(chunks.some((chunk) => chunk._tag === "Usage"))
        }
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))
})

// A one-pixel PNG, as a `data:` URL's base64.
const pixel = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

const Recipe = Schema.Struct({ title: Schema.String, servings: Schema.Int, tags: Schema.Array(Schema.String) })

// The question, with the pixel after it when `image`, asking for a `Recipe`.
const recipeRequest = (image: boolean): ChatRequest.Input => ({
  messages: [
    Message.user([
      Message.text("Which recipe does this picture show?"),
      ...(image ? [Message.image(`data:image/png;base64,${pixel}`)] : [])
    ])
  ],
  responseFormat: { type: "json_schema", name: "Recipe", schema: Message.jsonSchemaOf(Recipe) }
})

describe("Vertex: Claude's 1M-token context window", () => {
  it.live("Claude Sonnet 4.5 on rawPredict takes a prompt over 200,000 tokens with longContext only", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const sonnet = "claude-sonnet-4-5@20250929"
        const chat = yield* vertexClient(simulator, { model: sonnet })
        // 900,000 characters: 225,000 tokens as the simulator counts them.
        const long: ChatRequest.Input = { messages: [Message.user("x".repeat(900_000))] }
        const refused = yield* Effect.flip(chat.chat(long, none))
        assert(refused._tag === "ContextLengthError")
        const taken = yield* chat.chat({ ...long, longContext: true }, none)
        assert.isAbove(taken.usage.promptTokens, 200_000)
      }), { models: ["claude-sonnet-4-5@20250929"], contextWindow: 1_000_000 }).pipe(
        Effect.provide(UndiciHttpClient.layer())
      ))
})

describe("Vertex: images and structured output on both publishers", () => {
  it.live("an image part and a json_schema format go in each publisher's shape; the simulator counts the image", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        // A proxy in front of the simulator keeps each body the adapter sent.
        const recorded = yield* recorder(simulator.url)
        const baseUrl = recorded.baseUrl.slice(0, -"/v1".length)
        const image = { mimeType: "image/png", data: pixel }
        for (const model of [gemini, claude]) {
          const chat = yield* vertexClient(simulator, { model, baseUrl })
          const plain = yield* chat.chat(recipeRequest(false), none)
          const sent = recorded.bodies.length
          const { streamed, whole } = yield* AdapterE2e.sameStreamedAndWhole(
            chat,
            recipeRequest(true),
            none,
            comparable
          )
          // The simulator read the image as an image (its tokens by the publisher's rule for a 1 x 1 image: Gemini's
          // one tile, Anthropic's area over 750) and answered JSON that follows the schema.
          assert.strictEqual(whole.usage.promptTokens - plain.usage.promptTokens, model === gemini ? 258 : 1)
          assert.strictEqual(streamed.text, whole.text)
          assert.isArray(Schema.decodeUnknownSync(Recipe)(JSON.parse(whole.text)).tags)
          const [wholeBody, streamedBody] = recorded.bodies.slice(sent)
          const [wholePath, streamedPath] = recorded.paths.slice(sent)
          if (model === gemini) {
            const resource = `/v1/projects/${project}/locations/${location}/publishers/google/models/${gemini}`
            assert.deepStrictEqual([wholePath, streamedPath], [
              `${resource}:generateContent`,
              `${resource}:streamGenerateContent?alt=sse`
            ])
            for (const body of [wholeBody, streamedBody]) {
              assert.deepStrictEqual(body, {
                contents: [{
                  role: "user",
                  parts: [{ text: "Which recipe does this picture show?" }, { inlineData: image }]
                }],
                generationConfig: {
                  responseMimeType: "application/json",
                  // Gemini's Schema: the JSON Schema's types and bounds, without additionalProperties.
                  responseSchema: {
                    type: "object",
                    properties: {
                      title: { type: "string" },
                      servings: {
                        type: "integer",
                        minimum: Number.MIN_SAFE_INTEGER,
                        maximum: Number.MAX_SAFE_INTEGER
                      },
                      tags: { type: "array", items: { type: "string" } }
                    },
                    required: ["title", "servings", "tags"]
                  }
                }
              })
            }
          } else {
            const resource = `/v1/projects/${project}/locations/${location}/publishers/anthropic/models/${claude}`
            assert.deepStrictEqual([wholePath, streamedPath], [
              `${resource}:rawPredict`,
              `${resource}:streamRawPredict`
            ])
            for (const [body, stream] of [[wholeBody, false], [streamedBody, true]] as const) {
              // Anthropic's Messages body on Vertex: its version and no model; the schema as a forced tool's input.
              assert.deepStrictEqual(body, {
                anthropic_version: "vertex-2023-10-16",
                max_tokens: 4096,
                messages: [{
                  role: "user",
                  content: [
                    { type: "text", text: "Which recipe does this picture show?" },
                    { type: "image", source: { type: "base64", media_type: image.mimeType, data: pixel } }
                  ]
                }],
                tools: [{
                  name: "Recipe",
                  description: "Give the answer as this tool's input, which follows the required schema.",
                  input_schema: Message.jsonSchemaOf(Recipe)
                }],
                tool_choice: { type: "tool", name: "Recipe" },
                ...(stream ? { stream: true } : {})
              })
            }
          }
        }
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("generateObject through provider.json decodes the reply on both publishers", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const config = yield* ProviderConfig.fromJson({
          gcp: [
            { model_name: gemini, api: "vertex", project, location, base_url: simulator.url },
            { model_name: claude, api: "vertex", project, location: "us-east5", base_url: simulator.url }
          ]
        })
        for (const model of [gemini, claude]) {
          const { response, value } = yield* Llm.generateObject(recipeRequest(true), Recipe).pipe(
            Effect.provide(ProviderConfig.layer(config, "gcp", model))
          )
          assert.strictEqual(response.provider, "gcp")
          assert.strictEqual(response.model, model)
          assert.deepStrictEqual(value, Schema.decodeUnknownSync(Recipe)(JSON.parse(response.text)))
          assert.isAbove(response.usage.promptTokens, Reply.imageTokens)
        }
      })
    ).pipe(Effect.provideService(Vertex.Credential, new CountingClient()), Effect.provide(UndiciHttpClient.layer())))
})

describe("the official Vertex clients against the simulator", () => {
  it.live("@google/genai in Vertex mode: whole and streamed, the token of a google-auth-library client", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const authClient = signedIn(TOKEN)
        const ai = new GoogleGenAI({
          vertexai: true,
          project,
          location,
          googleAuthOptions: { authClient },
          httpOptions: { baseUrl: simulator.url }
        })
        const whole = await ai.models.generateContent({ model: gemini, contents: "Hello" })
        assert.isAbove(whole.text!.length, 0)
        assert.strictEqual(whole.usageMetadata?.candidatesTokenCount, 12)
        let text = ""
        for await (const chunk of await ai.models.generateContentStream({ model: gemini, contents: "Hello" })) {
          text += chunk.text ?? ""
        }
        assert.strictEqual(text, whole.text)
        const counted = await ai.models.countTokens({ model: gemini, contents: "Hello" })
        assert.isAbove(counted.totalTokens!, 0)
        const missing = await ai.models.generateContent({ model: "gemini-0-gone", contents: "Hello" }).catch((e) => e)
        assert.strictEqual(missing.status, 404)
      })
    ))

  it.live("@anthropic-ai/vertex-sdk: whole and streamed, the token of a google-auth-library client; a wrong one is 401", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const client = new AnthropicVertex({
          baseURL: `${simulator.url}/v1`,
          region: location,
          projectId: project,
          authClient: signedIn(TOKEN)
        })
        const messages = [{ role: "user" as const, content: "Hello" }]
        const whole = await client.messages.create({ model: claude, max_tokens: 256, messages })
        const block = whole.content[0]
        assert(block?.type === "text")
        assert.isAbove(block.text.length, 0)
        assert.strictEqual(whole.usage.output_tokens, 12)
        const stream = client.messages.stream({ model: claude, max_tokens: 256, messages })
        const final = await stream.finalMessage()
        assert.deepStrictEqual(final.content, whole.content)
        const wrong = new AnthropicVertex({
          baseURL: `${simulator.url}/v1`,
          region: location,
          projectId: project,
          authClient: signedIn("ya29.wrong-token-0000")
        })
        const denied = await wrong.messages.create({ model: claude, max_tokens: 16, messages }).catch((e) => e)
        assert.strictEqual(denied.status, 401)
      })
    ))
})
