/**
 * `Llm.generateObject` end to end through each of the six adapters over
 * loopback: the JSON Schema of an Effect Schema goes out as each provider's
 * structured-output option, the simulator answers JSON that follows it, and
 * the reply decodes; a fault that makes the simulator break the schema (or
 * ignore it) gives `OutputDecodeError` with the raw text.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as ChatChunk from "../../src/ChatChunk.js"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import type { OptionsError } from "../../src/OptionsError.js"
import type * as ProviderClient from "../../src/ProviderClient.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as Gemini from "../../src/providers/Gemini.js"
import * as Ollama from "../../src/providers/Ollama.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { registryInMemory } from "../utils/memoryStores.js"

class Address extends Schema.Class<Address>("Address")({
  street: Schema.String,
  // Code points, which JSON Schema's `minLength` counts: Effect 4 exports `isMinLength(5)` (UTF-16
  // units) as the looser `minLength: 3`, which a model may meet with a string that fails the decode.
  zip: Schema.String.check(Schema.isMinCodePoints(5))
}) {}

const Person = Schema.Struct({
  name: Schema.NonEmptyString,
  age: Schema.Int.check(Schema.isBetween({ minimum: 18, maximum: 120 })),
  role: Schema.Literals(["admin", "user"]),
  tags: Schema.Array(Schema.String),
  address: Address,
  nickname: Schema.NullOr(Schema.String),
  score: Schema.Number,
  active: Schema.Boolean,
  pet: Schema.Union([
    Schema.Struct({ kind: Schema.Literal("cat"), lives: Schema.Int }),
    Schema.Struct({ kind: Schema.Literal("dog"), good: Schema.Boolean })
  ])
}).annotate({ identifier: "Person" })

const model = "sim-small"
const ask = { messages: [Message.user("Describe a person as JSON.")] }

type Client = Layer.Layer<ProviderClient.ProviderClient, OptionsError, HttpClient.HttpClient>

const adapters: ReadonlyArray<
  readonly [name: string, client: (url: string, headers?: Record<string, string>) => Client]
> = [
  ["chat-completions", (url, headers) => OpenAiChat.layer({ baseUrl: `${url}/v1`, model, headers })],
  ["responses", (url, headers) => OpenAiResponses.layer({ baseUrl: `${url}/v1`, model, headers })],
  ["anthropic", (url, headers) => Anthropic.layer({ baseUrl: url, model, headers })],
  ["gemini", (url, headers) => Gemini.layer({ baseUrl: url, model, headers })],
  ["ollama", (url, headers) => Ollama.layer({ baseUrl: url, model, headers })],
  ["bedrock", (url, headers) => Bedrock.layer({ baseUrl: url, model, headers, auth: "api-key" })]
]

const llmOver = (client: Client) =>
  Llm.layer({ retry: RetryPolicy.make({ maxRetries: 0 }) }).pipe(
    Layer.provide(client),
    Layer.provide(KeyPool.layer({ providerId: "structured-e2e", keys: ["sk-structured-e2e-000001"] })),
    Layer.provide(registryInMemory),
    Layer.provide(RateLimiter.unlimited),
    Layer.provide(NodeHttpClient.layerUndici)
  )

describe("Llm.generateObject over the simulator", () => {
  for (const [name, client] of adapters) {
    describe(name, () => {
      it.live("a nested schema comes back decoded, with the response and its usage", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make()
          const { response, value } = yield* Llm.generateObject(ask, Person).pipe(
            Effect.provide(llmOver(client(simulator.url)))
          )
          expect(value.address).toBeInstanceOf(Address)
          expect(value.age).toBeGreaterThanOrEqual(18)
          expect(value.address.zip.length).toBeGreaterThanOrEqual(5)
          expect(["admin", "user"]).toContain(value.role)
          expect(["cat", "dog"]).toContain(value.pet.kind)
          expect(Schema.decodeUnknownSync(Person)(JSON.parse(response.text))).toEqual(value)
          expect(response.finishReason).toBe("stop")
          expect(response.toolCalls).toEqual([])
          expect(response.usage.completionTokens).toBeGreaterThan(0)
          expect(response.usage.estimated).toBe(false)
        }))

      it.live("a streamed reply carries the same JSON", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make()
          const llm = llmOver(client(simulator.url))
          const request = {
            ...ask,
            responseFormat: { type: "json_schema" as const, name: "Person", schema: Message.jsonSchemaOf(Person) }
          }
          const whole = yield* Llm.chat(request).pipe(Effect.provide(llm))
          const streamed = yield* ChatChunk.collect(Llm.chatStream(request)).pipe(Effect.provide(llm))
          expect(streamed.text).toBe(whole.text)
          expect(streamed.finishReason).toBe("stop")
          expect(Schema.decodeUnknownSync(Person)(JSON.parse(streamed.text)).role).toBe("admin")
        }))

      it.live("JSON that breaks the schema fails with OutputDecodeError carrying the raw text", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make()
          const llm = llmOver(client(simulator.url, { "x-simulator-fault": "output=nonconforming" }))
          const error = yield* Effect.flip(Llm.generateObject(ask, Person).pipe(Effect.provide(llm)))
          expect(error._tag).toBe("OutputDecodeError")
          if (error._tag !== "OutputDecodeError") return
          expect(error.detail).toContain("does not match its schema")
          expect(error.detail).toContain("name")
          expect(() => JSON.parse(error.raw)).not.toThrow()
          expect(JSON.parse(error.raw)).toMatchObject({ name: 42 })
        }))

      it.live("a model that ignores the schema and answers prose fails with OutputDecodeError: not JSON", () =>
        Effect.gen(function*() {
          const simulator = yield* Simulator.make({ replyTokens: 6 })
          const llm = llmOver(client(simulator.url, { "x-simulator-fault": "output=text" }))
          const error = yield* Effect.flip(Llm.generateObject(ask, Person).pipe(Effect.provide(llm)))
          expect(error).toMatchObject({ _tag: "OutputDecodeError" })
          if (error._tag !== "OutputDecodeError") return
          expect(error.detail).toContain("not JSON")
          expect(error.raw.split(" ")).toHaveLength(6)
        }))
    })
  }
})
