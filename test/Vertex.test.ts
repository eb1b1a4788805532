import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import { customIdPattern } from "../src/internal/wire/batch.js"
import * as VertexBatch from "../src/internal/wire/gemini/vertexBatch.js"
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

describe("Vertex batch prediction", () => {
  const batch: Vertex.BatchOptions = { inputUri: "gs://batch-input/requests/", outputUri: "gs://batch-output/results" }
  const job = {
    name: "projects/123/locations/us-central1/batchPredictionJobs/456",
    state: "JOB_STATE_PENDING",
    model: "publishers/google/models/gemini-2.5-flash"
  }
  const answer = (request: { readonly url: string }) =>
    request.url.includes("/upload/storage/") ? jsonResponse({ kind: "storage#object" }) : jsonResponse(job)

  it.effect("a batch's file goes to Cloud Storage and its job to the location, each with the Google token", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(answer, { batch })
      const client = yield* signedIn(service)
      // A label of the request's own (a billing label, through providerOptions) is kept beside the line's.
      const request = { ...hello, providerOptions: { labels: { team: "research" } } }
      const status = yield* client.batch!.submit(
        [{ customId: "Line_7", request }],
        "gemini-2.5-flash",
        credentials
      )
      assert.deepStrictEqual(status, { id: job.name, state: "running", total: 1, succeeded: 0, failed: 0 })
      const [upload, create] = requests
      const file =
        /^https:\/\/storage\.googleapis\.com\/upload\/storage\/v1\/b\/batch-input\/o\?uploadType=media&name=(requests%2Feffect-llm-router-[a-z0-9-]+\.jsonl)$/
          .exec(upload!.url)
      assert.isNotNull(file)
      assert.strictEqual(upload!.method, "POST")
      assert.strictEqual(upload!.headers["authorization"], `Bearer ${TOKEN}`)
      // One line: the request's generateContent body, its custom id in its labels.
      assert.deepStrictEqual((upload!.body.request as Record<string, unknown>).labels, {
        team: "research",
        ...VertexBatch.labelsOf("Line_7")
      })
      assert.deepInclude(upload!.body.request as Record<string, unknown>, {
        contents: [{ role: "user", parts: [{ text: "Hello" }] }]
      })
      assert.strictEqual(
        create!.url,
        "https://us-central1-aiplatform.googleapis.com/v1/projects/my-proj/locations/us-central1/batchPredictionJobs"
      )
      assert.strictEqual(create!.headers["authorization"], `Bearer ${TOKEN}`)
      assert.deepInclude(create!.body, {
        model: "publishers/google/models/gemini-2.5-flash",
        inputConfig: {
          instancesFormat: "jsonl",
          gcsSource: { uris: [`gs://batch-input/${decodeURIComponent(file![1]!)}`] }
        },
        outputConfig: { predictionsFormat: "jsonl", gcsDestination: { outputUriPrefix: "gs://batch-output/results" } }
      })
    }))

  it.effect("refuses a batch of Anthropic's model before sending anything: Vertex's jobs carry Google's here", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(answer, { batch })
      const client = yield* signedIn(service)
      const error = yield* Effect.flip(
        client.batch!.submit([{ customId: "line-0", request: hello }], "claude-sonnet-4-5@20250929", credentials)
      )
      assert.strictEqual(error._tag, "InvalidRequestError")
      assert.include(error.message, "Google's models")
      assert.lengthOf(requests, 0)
    }))

  it.effect("without batch options the client has no batch API, and Batch runs its requests as calls", () =>
    Effect.gen(function*() {
      const client = yield* signedIn(setup(generated).service)
      assert.isUndefined(client.batch)
    }))

  // Each field of the group right, missing, or wrong; and the publisher, which must be Google.
  const fields = {
    inputUri: [batch.inputUri, "s3://batch-input/requests/"],
    outputUri: [batch.outputUri, "gs://B/"],
    storageEndpoint: ["http://127.0.0.1:4443", "gcs:4443"]
  } as const
  const required = new Set(["inputUri", "outputUri"])
  const group = fc.record({
    ...Object.fromEntries(
      Object.keys(fields).map((name) => [name, fc.constantFrom("right", "missing", "wrong")])
    ) as Record<keyof typeof fields, fc.Arbitrary<"right" | "missing" | "wrong">>,
    publisher: fc.constantFrom(undefined, "google", "anthropic")
  })

  it("names every field of the batch group missing or wrong in one OptionsError", () =>
    fc.assert(fc.asyncProperty(group, ({ publisher, ...fates }) =>
      Effect.runPromise(Effect.gen(function*() {
        const options: Record<string, unknown> = {}
        const bad: Array<string> = publisher === "anthropic" ? ["batch"] : []
        for (const [name, fate] of Object.entries(fates)) {
          const [right, wrong] = fields[name as keyof typeof fields]
          if (fate !== "missing") options[name] = fate === "right" ? right : wrong
          if (fate === "wrong" || (fate === "missing" && required.has(name))) bad.push(`batch.${name}`)
        }
        const built = yield* Effect.result(signedIn(setup(generated, { batch: options as never, publisher }).service))
        if (bad.length === 0) {
          assert.isTrue(built._tag === "Success" && built.success.batch !== undefined)
          return
        }
        assert.strictEqual(built._tag, "Failure")
        const error = built._tag === "Failure" ? built.failure : undefined
        expectOptionsError(error, { module: "Vertex" })
        const named = [error!, ...(error!.others ?? [])].map((problem) => problem.option)
        assert.deepStrictEqual(named.sort(), bad.sort())
      })))))

  // Every custom id the batch APIs take: letters of either case, digits, `_` and `-`, 1 to 64 of them.
  const customIds = fc.stringMatching(customIdPattern)

  it("carries every custom id in labels Vertex takes, and reads the same id back", () =>
    fc.assert(
      fc.property(customIds, (customId) => {
        const labels = VertexBatch.labelsOf(customId)
        assert.isUndefined(VertexBatch.labelsProblem({ labels }))
        assert.strictEqual(VertexBatch.customIdOf({ contents: [], labels }), customId)
      }),
      { numRuns: 2_000 }
    ))
})
