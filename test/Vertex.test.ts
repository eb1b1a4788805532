import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Stream from "effect/Stream"
import * as Pricing from "../src/Pricing.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as Vertex from "../src/providers/Vertex.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { jsonResponse } from "./utils/fakeHttpClient.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { attributeText, recordingTracer } from "./utils/recordingTracer.js"

const TOKEN = "ya29.vertex-unit-token-0123456789abcdef"
const credentials = ProviderClient.credentials("none")
const { chatWith, setup, streamWith } = adapterHarness({
  make: Vertex.make,
  defaults: { project: "my-proj", location: "us-central1" },
  credentials
})

const authClient: Vertex.AuthClient = {
  getAccessToken: () => Promise.resolve({ token: TOKEN }),
  credentials: { expiry_date: Number.MAX_SAFE_INTEGER }
}
const signedIn = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Vertex.Credential, authClient)

const generated = () =>
  jsonResponse({
    candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }],
    usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 1, totalTokenCount: 4 },
    modelVersion: "gemini-2.5-flash"
  })

const message = () =>
  jsonResponse({
    id: "msg_1",
    type: "message",
    role: "assistant",
    model: "claude-sonnet-4-5",
    content: [{ type: "text", text: "ok" }],
    stop_reason: "end_turn",
    usage: { input_tokens: 3, output_tokens: 1 }
  })

const models = "/v1/projects/my-proj/locations/us-central1/publishers"

describe("Vertex requests", () => {
  it.effect("Google's models: the location's host and Gemini path, the token as a bearer, no key header", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(generated, hello, { model: "gemini-2.5-flash" })
      const response = yield* signedIn(run)
      assert.strictEqual(response.text, "ok")
      assert.strictEqual(response.provider, "vertex")
      const [request] = requests
      assert.strictEqual(
        request!.url,
        `https://us-central1-aiplatform.googleapis.com${models}/google/models/gemini-2.5-flash:generateContent`
      )
      assert.strictEqual(request!.headers["authorization"], `Bearer ${TOKEN}`)
      assert.isUndefined(request!.headers["x-goog-api-key"])
      assert.property(request!.body, "contents")
      const streamed = streamWith(() => generated(), hello, { model: "gemini-2.5-flash", location: "global" })
      yield* signedIn(Stream.runDrain(streamed.stream))
      assert.strictEqual(
        streamed.requests[0]!.url,
        "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global/publishers/google/models/" +
          "gemini-2.5-flash:streamGenerateContent?alt=sse"
      )
      // A name with a path in it stays one segment of the models' path.
      const escaping = chatWith(generated, hello, { model: "a/../../admin?x=1#f" })
      yield* signedIn(escaping.run)
      assert.strictEqual(
        escaping.requests[0]!.url,
        `https://us-central1-aiplatform.googleapis.com${models}/google/models/a%2F..%2F..%2Fadmin%3Fx%3D1%23f:generateContent`
      )
    }))

  it.effect("Anthropic's models: rawPredict and streamRawPredict, the version in the body and no model", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(message, hello, { model: "claude-sonnet-4-5@20250929", beta: ["b-1"] })
      const response = yield* signedIn(run)
      assert.strictEqual(response.text, "ok")
      const [request] = requests
      assert.strictEqual(
        request!.url,
        `https://us-central1-aiplatform.googleapis.com${models}/anthropic/models/claude-sonnet-4-5%4020250929:rawPredict`
      )
      assert.strictEqual(request!.body["anthropic_version"], "vertex-2023-10-16")
      assert.notProperty(request!.body, "model")
      assert.strictEqual(request!.body["max_tokens"], 4096)
      assert.isUndefined(request!.headers["anthropic-version"])
      assert.isUndefined(request!.headers["x-api-key"])
      assert.strictEqual(request!.headers["anthropic-beta"], "b-1")
      assert.strictEqual(request!.headers["authorization"], `Bearer ${TOKEN}`)
      const pinned = chatWith(message, hello, { model: "tuned-model", publisher: "anthropic" })
      yield* signedIn(pinned.run)
      assert.isTrue(pinned.requests[0]!.url.endsWith("/publishers/anthropic/models/tuned-model:rawPredict"))
      const named = streamWith(() => message(), { ...hello, model: "claude-haiku-4-5" }, {
        baseUrl: "http://proxy.local"
      })
      yield* signedIn(Stream.runDrain(named.stream))
      assert.strictEqual(
        named.requests[0]!.url,
        "http://proxy.local/v1/projects/my-proj/locations/us-central1/publishers/anthropic/models/" +
          "claude-haiku-4-5:streamRawPredict"
      )
      assert.strictEqual(named.requests[0]!.body["stream"], true)
    }))

  it.effect("embeddings are refused before any HTTP", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(generated, { model: "gemini-embedding-001" })
      const client = yield* signedIn(service)
      const error = yield* Effect.flip(client.embed({ input: ["a"] }, credentials))
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, ":predict")
      assert.strictEqual(requests.length, 0)
    }))

  it.effect("HTTP spans do not carry the token", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      yield* chatWith(generated, hello, { model: "gemini-2.5-flash" }).run.pipe(
        signedIn,
        Effect.withTracer(tracer),
        Effect.provideService(HttpClient.TracerHeaderFilter, () => true)
      )
      const values = attributeText(spans)
      assert.include(values, "http.request.header.authorization")
      assert.notInclude(values, TOKEN)
    }))

  it.effect("a project or location that is not an id, or a baseUrl that is not a URL, is an OptionsError", () =>
    Effect.gen(function*() {
      for (
        const [options, option] of [
          [{ project: "" }, "project"],
          [{ location: "us-central1/../x" }, "location"],
          [{ baseUrl: "aiplatform" }, "baseUrl"],
          [{ maxTokens: 0 }, "maxTokens"]
        ] as const
      ) {
        const error = yield* Effect.flip(signedIn(setup(generated, options).service))
        expectOptionsError(error, { module: "Vertex", option })
      }
    }))

  it("Vertex's model ids price through the built-in table (a `@date` version as its model)", () => {
    assert.deepStrictEqual(Pricing.lookup("claude-sonnet-4-5@20250929"), Pricing.lookup("claude-sonnet-4-5"))
    assert.isDefined(Pricing.lookup("claude-sonnet-4-5"))
    assert.isDefined(Pricing.lookup("gemini-2.5-flash"))
  })
})
