import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { type ChatRequest, type Embedding, Message } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Llm from "../../src/Llm.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"

const entry = (simulator: Simulator.Simulator) => [{
  model_name: "gpt-4o-mini",
  base_url: `${simulator.url}/v1`,
  api_keys: ["sk-validation-key-000001"]
}]

// Requests a caller without types (JSON from elsewhere, JavaScript) could send, each with the path it breaks.
const badChats: ReadonlyArray<readonly [unknown, string, string]> = [
  [{ messages: [Message.user("hi")], temperature: 5 }, "temperature", "expected a value between 0 and 2, got 5"],
  [{ messages: [Message.user("hi")], temperature: Number.NaN }, "temperature", "got NaN"],
  [{ messages: [Message.user("hi")], topP: 1.5 }, "topP", "expected a value between 0 and 1"],
  [{ messages: [Message.user("hi")], maxTokens: 0 }, "maxTokens", "expected a value greater than 0"],
  [{ messages: [] }, "messages", "a request needs at least one message"],
  [{ prompt: "hi" }, "messages", "messages: missing"],
  [
    { messages: [Message.user("a"), Message.assistant("b"), { role: "user", content: 42 }] },
    "messages[2].content",
    "messages[2].content: expected a string or an array of parts, got 42"
  ]
]

const badEmbeddings: ReadonlyArray<readonly [unknown, string, string]> = [
  [
    { input: 42 },
    "input",
    "input: expected a string, an array of strings, an array of token ids or an array of arrays of token ids, got 42"
  ],
  [{ input: ["a", null] }, "input[1]", "input[1]: expected string, got null"],
  [{ input: "a", dimensions: 1.5 }, "dimensions", "dimensions: expected an integer, got 1.5"]
]

describe("requests checked before they are sent", () => {
  it.live(
    "Llm and Router: chat, chatStream and embed fail with InvalidRequestError naming the path; the simulator " +
      "sees nothing",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({})
        const config = yield* ProviderConfig.fromJson({ a: entry(simulator), b: entry(simulator) })
        const build = <E>(layer: Layer.Layer<Llm.Llm, E, HttpClient.HttpClient>) =>
          Effect.map(Layer.build(layer.pipe(Layer.provide(NodeHttpClient.layerUndici))), Context.get(Llm.Llm))
        const entries: ReadonlyArray<readonly [string, Llm.Service]> = [
          ["llm", yield* build(ProviderConfig.layer(config, "a", "gpt-4o-mini"))],
          ["router", yield* build(ProviderConfig.routerLayer(config))]
        ]
        for (const [name, llm] of entries) {
          for (const [request, param, text] of badChats) {
            const typed = request as ChatRequest.Input
            const failures = [
              yield* Effect.flip(llm.chat(typed)),
              yield* Effect.flip(Stream.runDrain(llm.chatStream(typed)))
            ]
            for (const error of failures) {
              expect(error, `${name} ${JSON.stringify(request)}`).toMatchObject({ _tag: "InvalidRequestError", param })
              expect(error.message).toContain(text)
              expect(error.message).toContain("nothing was sent")
            }
          }
          for (const [request, param, text] of badEmbeddings) {
            const error = yield* Effect.flip(llm.embed(request as Embedding.Input))
            expect(error, `${name} ${JSON.stringify(request)}`).toMatchObject({ _tag: "InvalidRequestError", param })
            expect(error.message).toContain(text)
          }
        }
        // Not even an object: the Llm names no path (a router spreads the request into one before its deployment sees
        // it).
        const notObject = yield* Effect.flip(entries[0]![1].chat("hi" as unknown as ChatRequest.Input))
        expect(notObject._tag).toBe("InvalidRequestError")
        expect(notObject).not.toHaveProperty("param")
        expect(notObject.message).toContain("the request: expected object, got \"hi\"")
        expect(yield* simulator.requestCount).toBe(0)

        // The same layers send a valid request, so the count above means something.
        for (const [, llm] of entries) yield* llm.chat({ messages: [Message.user("hi")], temperature: 2 })
        expect(yield* simulator.requestCount).toBe(2)
      })
  )
})
