import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Stream from "effect/Stream"
import * as fc from "fast-check"
import { errorBody, errorType } from "../src/internal/wire/bedrock/writer.js"
import * as ProviderClient from "../src/ProviderClient.js"
import * as ProviderConfig from "../src/ProviderConfig.js"
import * as Bedrock from "../src/providers/Bedrock.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { fakeHttpClient, jsonResponse } from "./utils/fakeHttpClient.js"
import { buildError, expectOptionsError } from "./utils/optionsError.js"
import { attributeText, recordingTracer } from "./utils/recordingTracer.js"

const claude = "anthropic.claude-3-5-haiku-20241022-v1:0"
const none = ProviderClient.credentials("none")
const { chatWith, setup, streamWith } = adapterHarness({
  make: Bedrock.make,
  defaults: { region: "us-east-1", model: claude },
  credentials: none
})

const SECRET = "unit/secret/access/key/0000000000000000000"
const SESSION_TOKEN = "IQoJb3JpZ2luX2VjEunit-session-token-0123456789"
const temporary: Bedrock.CredentialProvider = () =>
  Promise.resolve({ accessKeyId: "ASIAUNITTEST00000000", secretAccessKey: SECRET, sessionToken: SESSION_TOKEN })
const signedIn = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Bedrock.Credentials, temporary)

const conversed = () =>
  jsonResponse({
    output: { message: { role: "assistant", content: [{ text: "ok" }] } },
    stopReason: "end_turn",
    usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 },
    metrics: { latencyMs: 5 }
  })

describe("Bedrock requests", () => {
  it.effect("the region's runtime host and the Converse path, signed with SigV4 for the region and bedrock", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(conversed, hello, { region: "eu-west-3" })
      const response = yield* signedIn(run)
      assert.strictEqual(response.text, "ok")
      assert.strictEqual(response.provider, "bedrock")
      assert.deepInclude(response.usage, { promptTokens: 3, completionTokens: 1 })
      const [request] = requests
      assert.strictEqual(
        request!.url,
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
      )
      assert.match(
        request!.headers["authorization"]!,
        /^AWS4-HMAC-SHA256 Credential=ASIAUNITTEST00000000\/\d{8}\/eu-west-3\/bedrock\/aws4_request, /
      )
      assert.strictEqual(request!.headers["x-amz-security-token"], SESSION_TOKEN)
      assert.isDefined(request!.headers["x-amz-content-sha256"])
    }))

  it.effect("model ids, inference profile ids and ARNs are URL-encoded into the path, streamed or not", () =>
    Effect.gen(function*() {
      const cases = [
        [claude, "anthropic.claude-3-5-haiku-20241022-v1%3A0"],
        [`us.${claude}`, "us.anthropic.claude-3-5-haiku-20241022-v1%3A0"],
        [`global.${claude}`, "global.anthropic.claude-3-5-haiku-20241022-v1%3A0"],
        [
          `arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.${claude}`,
          "arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-haiku-" +
          "20241022-v1%3A0"
        ],
        [
          "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0",
          "arn%3Aaws%3Abedrock%3Aus-east-1%3A%3Afoundation-model%2Famazon.nova-micro-v1%3A0"
        ]
      ] as const
      for (const [model, encoded] of cases) {
        const whole = chatWith(conversed, { ...hello, model })
        yield* signedIn(whole.run)
        assert.strictEqual(
          whole.requests[0]!.url,
          `https://bedrock-runtime.us-east-1.amazonaws.com/model/${encoded}/converse`
        )
        const streamed = streamWith(conversed, { ...hello, model })
        // The JSON answer is no event stream: only the request is looked at.
        yield* Effect.exit(signedIn(Stream.runDrain(streamed.stream)))
        assert.strictEqual(
          streamed.requests[0]!.url,
          `https://bedrock-runtime.us-east-1.amazonaws.com/model/${encoded}/converse-stream`
        )
      }
    }))

  it.effect("baseUrl replaces the host root; the signature keeps the region, us-east-1 when none is given", () =>
    Effect.gen(function*() {
      const proxied = chatWith(conversed, hello, { baseUrl: "http://vpce.local:8080/", region: "ap-south-1" })
      yield* signedIn(proxied.run)
      assert.strictEqual(
        proxied.requests[0]!.url,
        "http://vpce.local:8080/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
      )
      assert.include(proxied.requests[0]!.headers["authorization"], "/ap-south-1/bedrock/aws4_request")
      const bare = chatWith(conversed, hello, { baseUrl: "http://vpce.local", region: undefined })
      yield* signedIn(bare.run)
      assert.include(bare.requests[0]!.headers["authorization"], "/us-east-1/bedrock/aws4_request")
    }))

  it.effect("the Converse body: system blocks, turns, inferenceConfig and toolConfig; no model", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(conversed, {
        maxTokens: 64,
        temperature: 0.2,
        topP: 0.9,
        stop: ["END"],
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Weather in Paris?" }
        ],
        tools: [{ name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } }],
        toolChoice: { tool: "get_weather" }
      })
      yield* signedIn(run)
      assert.deepStrictEqual(requests[0]!.body, {
        messages: [{ role: "user", content: [{ text: "Weather in Paris?" }] }],
        system: [{ text: "Be brief." }],
        inferenceConfig: { maxTokens: 64, temperature: 0.2, topP: 0.9, stopSequences: ["END"] },
        toolConfig: {
          tools: [{
            toolSpec: {
              name: "get_weather",
              inputSchema: { json: { type: "object", properties: { city: { type: "string" } } } }
            }
          }],
          toolChoice: { tool: { name: "get_weather" } }
        }
      })
    }))

  it.effect("auth: \"api-key\" sends the call's key as a bearer and signs nothing", () =>
    Effect.gen(function*() {
      const key = "bedrock-api-key-unit-0123456789"
      const { requests, run } = chatWith(conversed, hello, { auth: "api-key" }, ProviderClient.credentials(key))
      yield* run
      assert.strictEqual(requests[0]!.headers["authorization"], `Bearer ${key}`)
      assert.isUndefined(requests[0]!.headers["x-amz-date"])
      assert.isUndefined(requests[0]!.headers["x-amz-security-token"])
    }))

  it.effect("HTTP spans carry neither the signature, the session token nor the secret key", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const { requests, run } = chatWith(conversed)
      yield* run.pipe(
        signedIn,
        Effect.withTracer(tracer),
        Effect.provideService(HttpClient.TracerHeaderFilter, () => true)
      )
      const values = attributeText(spans)
      assert.include(values, "http.request.header.authorization")
      assert.include(values, "http.request.header.x-amz-security-token")
      const signature = /Signature=([0-9a-f]{64})/.exec(requests[0]!.headers["authorization"]!)![1]!
      for (const secret of [SESSION_TOKEN, SECRET, signature]) assert.notInclude(values, secret)
    }))

  it.effect("a region, baseUrl or profile that cannot be is an OptionsError", () =>
    Effect.gen(function*() {
      for (
        const [options, option] of [
          [{ region: "us_east_1" }, "region"],
          [{ region: undefined }, "region"],
          [{ baseUrl: "bedrock-runtime" }, "baseUrl"],
          [{ profile: "" }, "profile"],
          [{ profile: "staging", auth: "api-key" }, "profile"]
        ] as const
      ) {
        const error = yield* Effect.flip(signedIn(setup(conversed, options).service))
        expectOptionsError(error, { module: "Bedrock", option })
      }
    }))
})

describe("Bedrock batch inference", () => {
  const batch: Bedrock.BatchOptions = {
    roleArn: "arn:aws:iam::123456789012:role/batch-inference",
    inputUri: "s3://batch-input/requests/",
    outputUri: "s3://batch-output/results"
  }

  it.effect("a batch's file goes to its bucket's own S3 host and its job to the region's control plane, each signed", () =>
    Effect.gen(function*() {
      const arn = "arn:aws:bedrock:eu-west-3:123456789012:model-invocation-job/abcdef012345"
      const { requests, service } = setup(
        (request) => request.method === "PUT" ? new Response("", { status: 200 }) : jsonResponse({ jobArn: arn }),
        { region: "eu-west-3", batch }
      )
      const client = yield* signedIn(service)
      const status = yield* signedIn(client.batch!.submit([{ customId: "line-0", request: hello }], claude, none))
      assert.deepStrictEqual(status, { id: arn, state: "running", total: 1, succeeded: 0, failed: 0 })
      const [put, create] = requests
      const file =
        /^https:\/\/batch-input\.s3\.eu-west-3\.amazonaws\.com\/requests\/(effect-llm-router-[a-z0-9-]+\.jsonl)$/
          .exec(put!.url)
      assert.strictEqual(put!.method, "PUT")
      assert.isNotNull(file)
      assert.match(
        put!.headers["authorization"]!,
        /Credential=ASIAUNITTEST00000000\/\d{8}\/eu-west-3\/s3\/aws4_request/
      )
      assert.strictEqual(create!.url, "https://bedrock.eu-west-3.amazonaws.com/model-invocation-job")
      assert.match(create!.headers["authorization"]!, /\/eu-west-3\/bedrock\/aws4_request/)
      assert.deepInclude(create!.body, {
        roleArn: batch.roleArn,
        modelId: claude,
        modelInvocationType: "Converse",
        inputDataConfig: { s3InputDataConfig: { s3Uri: `s3://batch-input/requests/${file![1]}` } },
        outputDataConfig: { s3OutputDataConfig: { s3Uri: "s3://batch-output/results" } }
      })
    }))

  it.effect("without batch options the client has no batch API, and Batch runs its requests as calls", () =>
    Effect.gen(function*() {
      const client = yield* signedIn(setup(conversed).service)
      assert.isUndefined(client.batch)
    }))

  // Each field of the group right, missing, or wrong.
  const fields = {
    roleArn: [batch.roleArn, "batch-inference"],
    inputUri: [batch.inputUri, "https://batch-input.s3.amazonaws.com/requests/"],
    outputUri: [batch.outputUri, "s3://B/"],
    endpoint: ["https://bedrock.vpce.example.com", "bedrock.vpce"],
    s3Endpoint: ["http://127.0.0.1:9000", "minio:9000"],
    timeoutHours: [72, 12]
  } as const
  const required = new Set(["roleArn", "inputUri", "outputUri"])
  const group = fc.record(
    Object.fromEntries(
      Object.keys(fields).map((name) => [name, fc.constantFrom("right", "missing", "wrong")])
    ) as Record<keyof typeof fields, fc.Arbitrary<"right" | "missing" | "wrong">>
  )

  function checkGroup(fates: Record<keyof typeof fields, "right" | "missing" | "wrong">) {
    return Effect.gen(function*() {
      const options: Record<string, unknown> = {}
      const bad: Array<string> = []
      for (const [name, fate] of Object.entries(fates)) {
        const [right, wrong] = fields[name as keyof typeof fields]
        if (fate !== "missing") options[name] = fate === "right" ? right : wrong
        if (fate === "wrong" || (fate === "missing" && required.has(name))) bad.push(`batch.${name}`)
      }
      const built = yield* Effect.result(signedIn(setup(conversed, { batch: options as never }).service))
      if (bad.length === 0) {
        assert.isTrue(built._tag === "Success" && built.success.batch !== undefined)
        return
      }
      assert.strictEqual(built._tag, "Failure")
      const error = built._tag === "Failure" ? built.failure : undefined
      expectOptionsError(error, { module: "Bedrock" })
      const named = [error!, ...(error!.others ?? [])].map((problem) => problem.option)
      assert.deepStrictEqual(named.sort(), bad.sort())
    })
  }

  it("names every field of the batch group missing or wrong in one OptionsError", () =>
    fc.assert(fc.asyncProperty(group, (fates) => Effect.runPromise(checkGroup(fates)))))

  it.effect("a batch group with a Bedrock API key is an OptionsError: S3 takes only SigV4", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(setup(conversed, { batch, auth: "api-key" }).service)
      expectOptionsError(error, { module: "Bedrock", option: "batch" })
    }))
})

describe("Bedrock's error answers, as the wire's writer writes them, read by the client", () => {
  // Each status with its type (the writer's for the status, or one the header names apart from it), and the error
  // the library maps it to.
  const cases: ReadonlyArray<readonly [number, string | undefined, string, string | undefined]> = [
    [400, undefined, "InvalidRequestError", undefined],
    [400, "ThrottlingException", "RateLimitError", undefined],
    [403, undefined, "AuthError", "forbidden"],
    [403, "UnrecognizedClientException", "AuthError", "invalid_key"],
    [404, undefined, "ModelNotFoundError", undefined],
    [408, undefined, "TimeoutError", undefined],
    [424, undefined, "InvalidRequestError", undefined],
    [429, undefined, "RateLimitError", undefined],
    [500, undefined, "ProviderUnavailableError", undefined],
    [503, undefined, "ProviderUnavailableError", undefined]
  ]

  it.effect("each status: its type from the x-amzn-errortype header, its message the error's detail", () =>
    Effect.gen(function*() {
      for (const [status, named, tag, reason] of cases) {
        const type = named ?? errorType(status, "InternalServerException")
        const message = `the answer of ${status} (${type})`
        const written = errorBody(status, type, message)
        assert.deepStrictEqual(JSON.parse(written.body), { message })
        const { run } = chatWith(() =>
          new Response(written.body, {
            status: written.status,
            headers: { "content-type": "application/json", "x-amzn-requestid": "req-1", ...written.headers }
          })
        )
        const error = yield* Effect.flip(signedIn(run))
        assert.strictEqual(error._tag, tag, `${status} ${type}`)
        if (error._tag === "OptionsError") continue
        assert.strictEqual(error.status, status)
        assert.strictEqual(error.detail, message)
        assert.strictEqual(error.requestId, "req-1")
        if (reason !== undefined) assert.strictEqual(error._tag === "AuthError" ? error.reason : undefined, reason)
      }
    }))
})

describe("provider.json's bedrock entries", () => {
  it.effect("profile: a string, for the bedrock api, not with api_keys; each fault named by its path", () =>
    Effect.gen(function*() {
      const shape = yield* Effect.flip(ProviderConfig.fromJson({
        aws: [{ model_name: claude, api: "bedrock", region: "us-east-1", profile: 42 }]
      }))
      assert.strictEqual(shape._tag, "ProviderConfigError")
      assert.deepStrictEqual(shape.issues, [{ path: "aws[0].profile", message: "Expected string" }])
      const misplaced = yield* Effect.flip(ProviderConfig.fromJson({
        b: [{ model_name: "gpt-4o", api_keys: ["sk-0123456789"], profile: "staging" }],
        c: [{ model_name: claude, api: "bedrock", region: "us-east-1", profile: "staging", api_keys: ["k-0123456"] }]
      }))
      assert.deepStrictEqual(misplaced.issues, [
        { path: "b[0].profile", message: "is for the bedrock api, not chat-completions" },
        {
          path: "c[0].profile",
          message: "a profile signs with SigV4, Bedrock API keys need none; give one of profile and api_keys"
        }
      ])
      const config = yield* ProviderConfig.fromJson({
        aws: [{ model_name: claude, api: "bedrock", region: "us-east-1", profile: "staging" }]
      })
      assert.strictEqual(config.providers.aws![claude]!.entry.profile, "staging")
    }))

  it.effect("batch: for the bedrock api with SigV4, each field missing named by its path; the adapter checks shapes", () =>
    Effect.gen(function*() {
      const group = {
        role_arn: "arn:aws:iam::123456789012:role/batch-inference",
        input_uri: "s3://batch-input/requests/",
        output_uri: "s3://batch-output/results/"
      }
      const entry = { model_name: claude, api: "bedrock", region: "us-east-1" } as const
      const missing = yield* Effect.flip(ProviderConfig.fromJson({
        aws: [{ ...entry, batch: { input_uri: group.input_uri } }]
      }))
      assert.sameDeepMembers(missing.issues.map((issue) => issue.path), [
        "aws[0].batch.role_arn",
        "aws[0].batch.output_uri"
      ])
      for (const issue of missing.issues) assert.include(issue.message, "is missing")
      const misplaced = yield* Effect.flip(ProviderConfig.fromJson({
        b: [{ model_name: "gpt-4o", api_keys: ["sk-0123456789"], batch: group }],
        c: [{ ...entry, api_keys: ["k-0123456"], batch: group }]
      }))
      assert.deepStrictEqual(misplaced.issues.map((issue) => issue.path), ["b[0].batch", "c[0].batch"])
      const config = yield* ProviderConfig.fromJson({ aws: [{ ...entry, batch: group }] })
      const built = config.providers.aws![claude]!.entry
      const client = yield* signedIn(
        Effect.provide(ProviderClient.ProviderClient, ProviderConfig.clientLayer("aws", built)).pipe(
          Effect.provideService(HttpClient.HttpClient, fakeHttpClient(conversed).client)
        )
      )
      assert.isDefined(client.batch)
      const wrong = yield* buildError(
        ProviderConfig.clientLayer("aws", { ...built, batch: { ...group, role_arn: "batch-inference" } })
      )
      expectOptionsError(wrong, { module: `Bedrock (aws/${claude})`, option: "batch.roleArn" })
    }))
})
