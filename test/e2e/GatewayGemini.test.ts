/**
 * Google's Gemini API on the gateway (`/v1beta/models/{model}:{method}`), over loopback with the official
 * `@google/genai` client, against the simulator behind an OpenAI chat-completions deployment and a Gemini one.
 */
import { expect, layer } from "@effect/vitest"
import { ApiError, type Content, FunctionCallingConfigMode, GoogleGenAI, Type } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { rejection } from "../utils/gatewayHarness.js"
import { postJsonReads } from "../utils/rawHttp.js"

const providerKey = "sk-gateway-gemini-provider-01"
const gatewayKey = "sk-gateway-gemini-key-0001"
const embeddingModel = "text-embedding-3-small"

class Fixture extends Context.Service<Fixture, {
  /** The gateway's root, without its `/v1`. */
  readonly origin: string
  /** `@google/genai` as it comes (its default API version, `v1`). */
  readonly client: GoogleGenAI
  /** `@google/genai` on `v1beta`, as Gemini CLI asks. */
  readonly beta: GoogleGenAI
}>()("test/GatewayGeminiFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      // Paced, so that a stream's tokens come in several reads, each an event of its own.
      tokensPerSecond: 200,
      models: [...Simulator.defaultModels, "gemini-sim", "claude-sim", embeddingModel]
    })
    const deployment = (model: string, api: string, baseUrl: string, key = providerKey) => [{
      model_name: model,
      api,
      base_url: baseUrl,
      api_keys: [key],
      max_retries: 0
    }]
    const config = yield* ProviderConfig.fromJson({
      sim: deployment("gpt-4o-mini", "chat-completions", `${simulator.url}/v1`),
      google: deployment("gemini-sim", "gemini", simulator.url),
      claude: deployment("claude-sim", "anthropic", simulator.url),
      // A Gemini deployment whose provider key the simulator refuses.
      revoked: deployment("gemini-sim", "gemini", simulator.url, "sk-gateway-gemini-revoked-01"),
      embed: deployment(embeddingModel, "chat-completions", `${simulator.url}/v1`)
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      keys: [{ name: "gemini-cli", key: Redacted.make(gatewayKey) }]
    })
    // Google's clients add `/v1beta/...` to the host's root.
    const origin = new URL(gateway.url).origin
    const client = new GoogleGenAI({
      apiKey: gatewayKey,
      httpOptions: { baseUrl: origin, retryOptions: { attempts: 1 } }
    })
    const beta = new GoogleGenAI({
      apiKey: gatewayKey,
      apiVersion: "v1beta",
      httpOptions: { baseUrl: origin, retryOptions: { attempts: 1 } }
    })
    return { origin, client, beta }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

// Chat completions, Gemini and Anthropic behind the gateway.
const deployments = ["sim/gpt-4o-mini", "google/gemini-sim", "claude/claude-sim"] as const

const weatherTool = {
  functionDeclarations: [{
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] }
  }]
}

// What the raw answers below are read for.
interface Answer {
  readonly error?: { readonly code: number; readonly status: string; readonly message: string }
  readonly candidates?: ReadonlyArray<{ readonly finishReason?: string }>
  readonly embedding?: { readonly values: ReadonlyArray<number> }
  readonly totalTokens?: number
}

// A raw POST to the gateway, for what the client does not send (`?key=`, no key at all, an unknown method).
const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  promise(async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body)
    })
    return { status: response.status, json: await response.json() as Answer }
  })

const hello = [{ role: "user", parts: [{ text: "Hello there" }] }]

/** A streamed `GenerateContentResponse`: its one candidate's parts, read apart from the rest. */
interface Streamed {
  readonly responseId?: unknown
  readonly candidates: readonly [
    { readonly content: { readonly parts: ReadonlyArray<Record<string, unknown>> } },
    ...Array<unknown>
  ]
}

// An object without its parts and the reply's id, which each answer draws anew.
function envelope(
  { responseId: _, candidates: [{ content: { parts: __, ...content }, ...candidate }, ...others], ...rest }: Streamed
) {
  return { ...rest, candidates: [{ ...candidate, content }, ...others] }
}

// The empty text a last object holds when nothing else was left to say, as Gemini's own last event does.
const isFiller = (part: Record<string, unknown>) => part.text === "" && Object.keys(part).length === 1

/**
 * What a stream's objects say whatever reads cut them: the gateway writes an object of what each read of its
 * deployment's stream brought, so two answers of one reply may cut it differently. Its parts in order (but the filler
 * text), the fields of the objects before the last (each value once), and the last object's.
 */
const said = (objects: ReadonlyArray<Streamed>) => ({
  parts: objects.flatMap((object) => object.candidates[0].content.parts).filter((part) => !isFiller(part)),
  leading: [...new Set(objects.slice(0, -1).map((object) => JSON.stringify(envelope(object))))].map((text) =>
    JSON.parse(text)
  ),
  last: envelope(objects.at(-1)!)
})

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1beta/models, with the official @google/genai client",
  (it) => {
    for (const model of deployments) {
      it.effect(`generateContent over ${model}: the reply's text, STOP and its usage`, () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const response = yield* promise(() => client.models.generateContent({ model, contents: "Hello there" }))
          expect(response.text?.length).toBeGreaterThan(0)
          expect(response.candidates?.[0]?.finishReason).toBe("STOP")
          expect(response.usageMetadata?.candidatesTokenCount).toBe(8)
          expect(response.usageMetadata?.promptTokenCount).toBeGreaterThan(0)
          expect(response.modelVersion).toBe(model)
        }))

      it.effect(`generateContentStream over ${model} (v1beta): text deltas; finish reason and usage on the last`, () =>
        Effect.gen(function*() {
          const { beta: client } = yield* Fixture
          const chunks = yield* promise(async () => {
            const out = []
            const stream = await client.models.generateContentStream({ model, contents: "Hello there" })
            for await (const chunk of stream) out.push(chunk)
            return out
          })
          expect(chunks.length).toBeGreaterThan(1)
          const whole = yield* promise(() => client.models.generateContent({ model, contents: "Hello there" }))
          expect(chunks.map((chunk) => chunk.text ?? "").join("")).toBe(whole.text)
          const last = chunks[chunks.length - 1]!
          expect(last.candidates?.[0]?.finishReason).toBe("STOP")
          expect(last.usageMetadata?.candidatesTokenCount).toBe(8)
          expect(chunks.slice(0, -1).every((chunk) => chunk.candidates?.[0]?.finishReason === undefined)).toBe(true)
        }))

      it.effect(`a function call round trip over ${model} (v1beta): the call, then its response answered`, () =>
        Effect.gen(function*() {
          const { beta: client } = yield* Fixture
          const ask: Array<Content> = [{ role: "user", parts: [{ text: "What is the weather in Paris?" }] }]
          const called = yield* promise(() =>
            client.models.generateContent({
              model,
              contents: ask,
              config: {
                tools: [weatherTool],
                toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.ANY } }
              }
            })
          )
          const call = called.functionCalls?.[0]
          expect(call?.name).toBe("get_weather")
          expect(typeof call?.args?.["city"]).toBe("string")
          expect(call?.id).toBeDefined()
          const answered = yield* promise(() =>
            client.models.generateContent({
              model,
              contents: [
                ...ask,
                called.candidates![0]!.content!,
                {
                  role: "user",
                  parts: [{ functionResponse: { id: call!.id!, name: "get_weather", response: { output: "sunny" } } }]
                }
              ],
              config: { tools: [weatherTool] }
            })
          )
          expect(answered.candidates?.[0]?.finishReason).toBe("STOP")
          expect(answered.usageMetadata?.promptTokenCount).toBeGreaterThan(called.usageMetadata!.promptTokenCount!)
        }))

      it.effect(`countTokens over ${model}: a count that grows with the prompt, never zero`, () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const short = yield* promise(() => client.models.countTokens({ model, contents: "Hello" }))
          const long = yield* promise(() =>
            client.models.countTokens({ model, contents: "Hello, tell me a long story about the sea. ".repeat(20) })
          )
          expect(short.totalTokens).toBeGreaterThan(0)
          expect(long.totalTokens).toBeGreaterThan(short.totalTokens! + 100)
        }))
    }

    it.effect("countTokens over a Gemini or Anthropic deployment is the provider's count; else a local estimate", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const contents = "Count the tokens of this prompt, please, all of them."
        const counts = yield* Effect.forEach(deployments, (model) =>
          promise(async () => ({
            counted: (await client.models.countTokens({ model, contents })).totalTokens,
            reported: (await client.models.generateContent({ model, contents })).usageMetadata?.promptTokenCount
          })))
        const [chat, gemini, claude] = counts
        // The simulator playing Gemini or Anthropic counts as its generation reports (a token per four characters).
        expect(gemini!.counted).toBe(gemini!.reported)
        expect(gemini!.counted).toBe(Math.ceil(contents.length / 4))
        expect(claude!.counted).toBe(claude!.reported)
        // The local estimate, with each message's markers: not what the simulator reports.
        expect(chat!.counted).not.toBe(chat!.reported)
        expect(chat!.counted).toBeGreaterThan(10)
      }))

    it.effect("thinking over a Gemini deployment: thought parts, and their tokens apart from the reply's", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const response = yield* promise(() =>
          client.models.generateContent({
            model: "google/gemini-sim",
            contents: "Think, then answer.",
            config: { thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } }
          })
        )
        const parts = response.candidates?.[0]?.content?.parts ?? []
        expect(parts[0]?.thought).toBe(true)
        expect(parts[0]?.text?.length).toBeGreaterThan(0)
        expect(parts.slice(1).every((part) => part.thought !== true)).toBe(true)
        expect(response.usageMetadata?.thoughtsTokenCount).toBeGreaterThan(0)
        expect(response.usageMetadata?.candidatesTokenCount).toBe(8)
      }))

    it.effect("embedContent (as batchEmbedContents) and :embedContent over the embeddings path", () =>
      Effect.gen(function*() {
        const { client, origin } = yield* Fixture
        const model = `embed/${embeddingModel}`
        const batch = yield* promise(() => client.models.embedContent({ model, contents: ["first text", "second"] }))
        expect(batch.embeddings).toHaveLength(2)
        expect(batch.embeddings![0]!.values!.length).toBeGreaterThan(0)
        expect(batch.embeddings![0]!.values).not.toEqual(batch.embeddings![1]!.values)
        const one = yield* post(
          `${origin}/v1beta/models/${model}:embedContent`,
          { content: { parts: [{ text: "first text" }] } },
          { "x-goog-api-key": gatewayKey }
        )
        expect(one.status).toBe(200)
        expect(one.json.embedding?.values).toEqual(batch.embeddings![0]!.values)
      }))

    it.effect("a count that cannot be made is an error in Google's shape, never a number", () =>
      Effect.gen(function*() {
        const { origin } = yield* Fixture
        const count = (model: string) =>
          post(`${origin}/v1beta/models/${model}:countTokens`, { contents: hello }, { "x-goog-api-key": gatewayKey })
        const refused = yield* count("revoked/gemini-sim")
        // The provider refused the gateway's own key: Google's 401, its message saying whose key it was.
        expect(refused.status).toBe(401)
        expect(refused.json.error).toMatchObject({ code: 401, status: "UNAUTHENTICATED" })
        expect(refused.json.error?.message).toContain("gateway's own key")
        expect(refused.json.totalTokens).toBeUndefined()
        const unknown = yield* count("no-such-model")
        expect(unknown.status).toBe(404)
        expect(unknown.json.error).toMatchObject({ code: 404, status: "NOT_FOUND" })
        expect(unknown.json.totalTokens).toBeUndefined()
      }))

    it.effect("streamGenerateContent without ?alt=sse: a JSON array, streamed, of the SSE stream's objects", () =>
      Effect.gen(function*() {
        const { origin } = yield* Fixture
        for (const model of ["sim/gpt-4o-mini", "google/gemini-sim"]) {
          const url = `${origin}/v1beta/models/${model}:streamGenerateContent`
          const array = yield* postJsonReads(url, { contents: hello }, { "x-goog-api-key": gatewayKey })
          expect(array.status).toBe(200)
          expect(array.contentType).toContain("application/json")
          // The array's first object came before its end: the paced reply's events in reads of their own.
          expect(array.texts.length).toBeGreaterThan(2)
          expect(array.texts[0]!.startsWith("[{")).toBe(true)
          expect(array.texts[0]!).not.toContain("]\n")
          const text = array.texts.join("")
          expect(text.endsWith("\n]")).toBe(true)
          const objects = JSON.parse(text) as Array<Streamed>
          const sse = yield* postJsonReads(`${url}?alt=sse`, { contents: hello }, { "x-goog-api-key": gatewayKey })
          expect(sse.contentType).toContain("text/event-stream")
          const events = sse.texts.join("").split("\r\n\r\n").filter((event) => event !== "").map((event) =>
            JSON.parse(event.slice("data: ".length)) as Streamed
          )
          expect(objects.length).toBeGreaterThan(1)
          for (const object of [...objects, ...events]) {
            expect(object.candidates[0].content.parts.length).toBeGreaterThan(0)
          }
          expect(said(objects)).toEqual(said(events))
          expect(new Set(objects.map((object) => object.responseId)).size).toBe(1)
        }
      }))

    it.effect("the gateway key by x-goog-api-key or ?key=; without one, 401 in Google's error shape", () =>
      Effect.gen(function*() {
        const { origin } = yield* Fixture
        const url = `${origin}/v1beta/models/sim/gpt-4o-mini:generateContent`
        const byHeader = yield* post(url, { contents: hello }, { "x-goog-api-key": gatewayKey })
        expect(byHeader.status).toBe(200)
        const byQuery = yield* post(`${url}?key=${gatewayKey}`, { contents: hello })
        expect(byQuery.status).toBe(200)
        expect(byQuery.json.candidates?.[0]?.finishReason).toBe("STOP")
        const without = yield* post(url, { contents: hello })
        expect(without.status).toBe(401)
        expect(without.json.error).toMatchObject({ code: 401, status: "UNAUTHENTICATED" })
        const wrong = yield* post(`${url}?key=sk-not-a-gateway-key`, { contents: hello })
        expect(wrong.status).toBe(401)
      }))

    it.effect("a tool Google runs itself is refused with a 400 naming it; an unknown method is a 404", () =>
      Effect.gen(function*() {
        const { client, origin } = yield* Fixture
        const refused = yield* rejection(() =>
          client.models.generateContent({
            model: "sim/gpt-4o-mini",
            contents: "Search the web",
            config: { tools: [{ googleSearch: {} }, weatherTool] }
          })
        )
        expect(refused).toBeInstanceOf(ApiError)
        expect((refused as ApiError).status).toBe(400)
        expect((refused as ApiError).message).toContain("googleSearch")
        const unknown = yield* post(
          `${origin}/v1beta/models/sim/gpt-4o-mini:predict`,
          { instances: [] },
          { "x-goog-api-key": gatewayKey }
        )
        expect(unknown.status).toBe(404)
        expect(unknown.json.error).toMatchObject({ code: 404, status: "NOT_FOUND" })
        const model = yield* post(
          `${origin}/v1beta/models/no-such-model:generateContent`,
          { contents: hello },
          { "x-goog-api-key": gatewayKey }
        )
        expect(model.status).toBe(404)
        expect(model.json.error?.status).toBe("NOT_FOUND")
      }))
  }
)
