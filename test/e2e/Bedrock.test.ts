import { AnthropicBedrock } from "@anthropic-ai/bedrock-sdk"
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  type ConverseStreamCommandOutput
} from "@aws-sdk/client-bedrock-runtime"
import { assert, describe, it } from "@effect/vitest"
// The SDK's HTTP/1.1 handler (a dependency of the client): it streams over HTTP/2 by default, which the simulator
// does not speak.
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as ChatChunk from "../../src/ChatChunk.js"
import * as ChatRequest from "../../src/ChatRequest.js"
import * as Llm from "../../src/Llm.js"
import * as Message from "../../src/Message.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as SimulatedBedrock from "../../src/simulator/Bedrock.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import * as AdapterE2e from "../utils/adapterE2e.js"
import { scopedDirectory, scopedEnv } from "../utils/env.js"
import { cachedThenRead } from "../utils/promptCacheE2e.js"

const MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
// A Claude model that takes Converse's structured output (`outputConfig.textFormat`).
const STRUCTURED = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
const API_KEY = "bedrock-api-key-0123456789abcdef"
const region = "us-east-1"
const none = ProviderClient.credentials("none")
const hello: ChatRequest.Input = { messages: [Message.user("Tell me about Effect in one paragraph.")] }
const testCredentials = SimulatedBedrock.testCredentials

const simulated = <A, E, R>(body: (simulator: Simulator.Simulator) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Simulator.make({
      apiKeys: [API_KEY, testCredentials.accessKeyId],
      models: [MODEL, "amazon.nova-micro-v1:0", STRUCTURED],
      replyTokens: 12
    }),
    body
  )

/** A provider of the simulator's test credentials, counting the times it is asked. */
const counting = () => {
  const asked = { count: 0 }
  const provider: Bedrock.CredentialProvider = () => {
    asked.count++
    return Promise.resolve(testCredentials)
  }
  return { asked, provider }
}

const signedClient = (
  simulator: Simulator.Simulator,
  provider: Bedrock.CredentialProvider,
  options: Partial<Bedrock.Options> = {}
) =>
  Bedrock.make({ baseUrl: simulator.url, region, model: MODEL, ...options }).pipe(
    Effect.provideService(Bedrock.Credentials, provider)
  )

const comparable = (response: Parameters<typeof AdapterE2e.comparable>[0]) => AdapterE2e.comparable(response)

describe("Bedrock over the simulator", () => {
  it.live("SigV4: whole and streamed replies are the same; credentials asked once while fresh", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const { asked, provider } = counting()
        const chat = yield* signedClient(simulator, provider)
        const { streamed, whole } = yield* AdapterE2e.sameStreamedAndWhole(chat, hello, none, comparable)
        assert.strictEqual(whole.provider, "bedrock")
        assert.strictEqual(whole.model, MODEL)
        assert.strictEqual(whole.usage.completionTokens, 12)
        assert.strictEqual(whole.finishReason, "stop")
        assert.strictEqual(streamed.text, whole.text)
        const chunks = yield* Stream.runCollect(chat.chatStream(hello, none))
        assert.isAbove(chunks.filter((chunk) => chunk._tag === "TextDelta").length, 1)
        assert.deepStrictEqual(chunks.slice(-2).map((chunk) => chunk._tag), ["Usage", "Finish"])
        assert.strictEqual(asked.count, 1)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a Bedrock API key as a bearer, nothing signed", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* Bedrock.make({ baseUrl: simulator.url, model: MODEL, auth: "api-key" })
        const streamed = yield* ChatChunk.collect(chat.chatStream(hello, ProviderClient.credentials(API_KEY)))
        assert.isAbove(streamed.text.length, 0)
        const wrong = "bedrock-wrong-key-0123456789"
        yield* AdapterE2e.rejectedKeyIsAuthError(chat, hello, ProviderClient.credentials(wrong), {
          status: 403,
          provider: "bedrock",
          key: wrong
        })
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("tools: a named call streamed and whole, then its result answered", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* signedClient(simulator, counting().provider)
        const tools = { ...hello, tools: AdapterE2e.weatherAndTimeTools, toolChoice: { tool: "get_weather" } }
        const call = yield* AdapterE2e.aNamedToolCallStreamedAndWhole(chat, tools, none, comparable)
        assert.property(JSON.parse(call.arguments), "city")
        const answered = yield* chat.chat({
          ...tools,
          toolChoice: "auto",
          messages: [
            ...hello.messages,
            Message.assistant("", { toolCalls: [call] }),
            Message.toolResult(call, { temperature: 21 })
          ]
        }, none)
        assert.strictEqual(answered.finishReason, "stop")
        const image = {
          messages: [
            Message.user([Message.text("What is in it?"), Message.image("data:image/png;base64,iVBORw0KGgo=")])
          ]
        }
        assert.isAbove((yield* chat.chat(image, none)).usage.promptTokens, 85)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("Claude's thinking: a reasoning effort thinks, whole and streamed, and goes on after a tool turn sent back", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* signedClient(simulator, counting().provider)
        const asked: ChatRequest.Input = {
          messages: [Message.user("What is the weather in Paris? Call get_weather.")],
          tools: AdapterE2e.weatherAndTimeTools,
          maxTokens: 4096,
          reasoningEffort: "low"
        }
        for (const reply of [yield* chat.chat(asked, none), yield* ChatChunk.collect(chat.chatStream(asked, none))]) {
          assert.isAbove(reply.reasoning?.length ?? 0, 0)
          const call = reply.toolCalls[0]!
          // The turn sent back as it came, its reasoning signed: Claude keeps thinking (the simulator refuses it bare).
          const next = yield* chat.chat({
            ...asked,
            messages: [...asked.messages, Message.fromResponse(reply), Message.toolResult(call, { temperature: 21 })]
          }, none)
          assert.isAbove(next.reasoning?.length ?? 0, 0)
          // Sent back without it (another provider's turn), thinking is left off where Claude would refuse the turn.
          const unsigned = yield* chat.chat({
            ...asked,
            messages: [
              ...asked.messages,
              Message.assistant("", { toolCalls: [call] }),
              Message.toolResult(call, { temperature: 21 })
            ]
          }, none)
          assert.isUndefined(unsigned.reasoning)
        }
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("errors: a wrong secret, an unknown access key, access denied, an unknown model, throttling, an exception frame", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const wrongSecret = yield* signedClient(
          simulator,
          () => Promise.resolve({ ...testCredentials, secretAccessKey: "not-the-secret" })
        )
        const forged = yield* Effect.flip(wrongSecret.chat(hello, none))
        assert(forged._tag === "AuthError")
        assert.strictEqual(forged.status, 403)
        assert.include(forged.detail, "signature we calculated does not match")
        const stranger = yield* signedClient(
          simulator,
          () => Promise.resolve({ accessKeyId: "AKIASTRANGER00000000", secretAccessKey: "x" })
        )
        const unknown = yield* Effect.flip(stranger.chat(hello, none))
        assert(unknown._tag === "AuthError")
        assert.strictEqual(unknown.reason, "invalid_key")
        const chat = yield* signedClient(simulator, counting().provider)
        const missing = yield* Effect.flip(chat.chat({ ...hello, model: "anthropic.claude-gone-v9:0" }, none))
        assert(missing._tag === "ModelNotFoundError")
        assert.strictEqual(missing.status, 400)
        const noAccess = "You don't have access to the model with the specified model ID."
        const denied = yield* Effect.flip(
          (yield* signedClient(
            simulator,
            counting().provider,
            AdapterE2e.simulatorFault(`status=403;code=AccessDeniedException;message=${noAccess}`)
          )).chat(hello, none)
        )
        assert(denied._tag === "AuthError")
        assert.deepInclude(denied, { status: 403, reason: "forbidden", detail: noAccess, provider: "bedrock" })
        assert.isDefined(denied.requestId)
        const throttled = yield* Effect.flip(
          (yield* signedClient(simulator, counting().provider, AdapterE2e.simulatorFault("status=429"))).chat(
            hello,
            none
          )
        )
        assert(throttled._tag === "RateLimitError")
        assert.isDefined(throttled.retryAfter)
        const midStream = yield* signedClient(
          simulator,
          counting().provider,
          AdapterE2e.simulatorFault("stream-error=3")
        )
        const broken = yield* Effect.flip(ChatChunk.collect(midStream.chatStream(hello, none)))
        assert(broken._tag === "ProviderUnavailableError")
        assert.include(broken.detail, "unexpected error during processing")
        const corrupt = yield* signedClient(simulator, counting().provider, AdapterE2e.simulatorFault("malformed=2"))
        const undecodable = yield* Effect.flip(ChatChunk.collect(corrupt.chatStream(hello, none)))
        assert(undecodable._tag === "OutputDecodeError")
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a credential provider that yields nothing fails with AuthError naming it, before any HTTP", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* signedClient(
          simulator,
          function ssoProfile() {
            return Promise.reject(new Error("Could not load credentials from any providers"))
          }
        )
        const before = (yield* simulator.stats).requests
        yield* AdapterE2e.failsWholeAndStreamed(chat, hello, none, (error) => {
          assert(error._tag === "AuthError")
          assert.strictEqual(error.reason, "credential_unavailable")
          assert.strictEqual(
            error.detail,
            "the AWS credential provider ssoProfile: Could not load credentials from any providers"
          )
        })
        assert.strictEqual((yield* simulator.stats).requests, before)
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))
})

describe("Bedrock's Claude and mid-stream continuation", () => {
  it.live("a Claude client takes a prefill, others not; a broken stream goes on from Bedrock Claude by prefill", () =>
    Effect.flatMap(
      Simulator.make({ apiKeys: [API_KEY], models: [MODEL, "gpt-4o-mini"], replyTokens: 12 }),
      (simulator) =>
        Effect.gen(function*() {
          const prefillOf = (model: string) =>
            Effect.map(Bedrock.make({ baseUrl: simulator.url, model, auth: "api-key" }), (client) => client.prefill)
          assert.isTrue(yield* prefillOf(MODEL))
          assert.isTrue(yield* prefillOf(`us.${MODEL}`))
          assert.isTrue(yield* prefillOf(`arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.${MODEL}`))
          assert.isFalse(yield* prefillOf("amazon.nova-micro-v1:0"))

          const config = yield* ProviderConfig.fromJson({
            primary: [{
              model_name: "gpt-4o-mini",
              base_url: `${simulator.url}/v1`,
              api_keys: [API_KEY],
              max_retries: 0,
              headers: { [Simulator.faultHeader]: "reset=5" }
            }],
            aws: [{ model_name: MODEL, api: "bedrock", base_url: simulator.url, api_keys: [API_KEY], max_retries: 0 }]
          })
          const llm = yield* Effect.map(
            Layer.build(
              ProviderConfig.routerLayer(config, {
                midStream: "continue",
                fallbacks: { "primary/gpt-4o-mini": [{ to: `aws/${MODEL}`, on: ["TransportError"] }] }
              }).pipe(Layer.provide(UndiciHttpClient.layer()))
            ),
            (context) => Context.get(context, Llm.Llm)
          )
          const ask = { model: "primary/gpt-4o-mini", messages: [Message.user("Tell me something")] }
          const chunks = yield* Stream.runCollect(llm.chatStream(ask))
          const at = chunks.findIndex((chunk) => chunk._tag === "Continue")
          assert.deepInclude(chunks[at], { _tag: "Continue", deployment: `aws/${MODEL}`, model: MODEL })
          const textOf = (part: ReadonlyArray<ChatChunk.ChatChunk>) =>
            part.map((chunk) => chunk._tag === "TextDelta" ? chunk.text : "").join("")
          const before = textOf(chunks.slice(0, at))
          const after = textOf(chunks.slice(at + 1))
          assert.isAbove(before.length, 0)
          // Claude was sent what went out as its prefill and went on from it: a space, then the next word.
          const rest = yield* llm.chat({
            model: `aws/${MODEL}`,
            messages: [...ask.messages, Message.assistant(before)]
          })
          assert.strictEqual(after, rest.text)
          assert.isTrue(after.startsWith(" "))
        }).pipe(Effect.scoped)
    ).pipe(Effect.provide(UndiciHttpClient.layer())))
})

/** The `Llm` of a provider.json entry `aws` on the simulator, signed with its test credentials, not retried. */
function configured(simulator: Simulator.Simulator) {
  return Layer.unwrap(Effect.map(
    ProviderConfig.fromJson({
      aws: [{ model_name: MODEL, api: "bedrock", region, base_url: simulator.url, max_retries: 0 }]
    }),
    (config) => ProviderConfig.layer(config, "aws", MODEL)
  )).pipe(
    Layer.provide(Layer.succeed(Bedrock.Credentials, counting().provider)),
    Layer.provide(UndiciHttpClient.layer()),
    Layer.orDie
  )
}

describe("Bedrock's 1M-token context window for Claude over the simulator", () => {
  const sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
  // 900,000 characters: 225,000 tokens as the simulator counts them.
  const long: ChatRequest.Input = { messages: [Message.user("x".repeat(900_000))] }

  it.live("Claude Sonnet 4.5 takes a prompt over 200,000 tokens with longContext (anthropic_beta) only", () =>
    Effect.gen(function*() {
      const simulator = yield* Simulator.make({ apiKeys: [API_KEY], models: [sonnet], contextWindow: 1_000_000 })
      const chat = yield* Bedrock.make({ baseUrl: simulator.url, model: sonnet, auth: "api-key" })
      const key = ProviderClient.credentials(API_KEY)
      const refused = yield* Effect.flip(chat.chat(long, key))
      assert(refused._tag === "ContextLengthError")
      assert.include(refused.detail, "Input is too long")
      const taken = yield* chat.chat({ ...long, longContext: true }, key)
      assert.isAbove(taken.usage.promptTokens, 200_000)
    }).pipe(Effect.provide(UndiciHttpClient.layer())))
})

describe("Bedrock prompt caching over the simulator", () => {
  it.live("a repeated prompt with a cachePoint reads its prefix from the cache, whole and streamed, priced as cached", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        yield* cachedThenRead(configured(simulator), "5m", Pricing.lookup(MODEL)!)
      })
    ))
})

const City = Schema.Struct({
  city: Schema.NonEmptyString,
  population: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 40_000_000 })),
  kind: Schema.Literals(["capital", "port"]),
  districts: Schema.Array(Schema.Struct({ name: Schema.String, area: Schema.Number }))
}).annotate({ identifier: "City" })

describe("Bedrock structured output over the simulator", () => {
  const ask: ChatRequest.Input = { messages: [Message.user("Describe a city as JSON.")] }

  it.live("a json_schema format is a forced tool whose input is the reply: generateObject whole, a chat streamed", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const { response, value } = yield* Llm.generateObject(ask, City)
        assert.deepStrictEqual(Schema.decodeUnknownSync(City)(JSON.parse(response.text)), value)
        assert.include(["capital", "port"], value.kind)
        assert.strictEqual(response.finishReason, "stop")
        assert.deepStrictEqual(response.toolCalls, [])
        const request = { ...ask, responseFormat: ChatRequest.jsonSchemaFormat("City", City) }
        const chunks = yield* Stream.runCollect(Llm.chatStream(request))
        const deltas = chunks.filter((chunk) => chunk._tag === "TextDelta")
        assert.isAbove(deltas.length, 1)
        assert.isFalse(chunks.some((chunk) => chunk._tag === "ToolCallDelta"))
        const streamed = yield* ChatChunk.collect(Llm.chatStream(request))
        assert.strictEqual(streamed.text, response.text)
        assert.strictEqual(streamed.finishReason, "stop")
        assert.deepStrictEqual(streamed.toolCalls, [])
        const withTools = yield* Effect.flip(Llm.chat({ ...request, tools: AdapterE2e.weatherAndTimeTools }))
        // The provider is the provider.json entry's name.
        assert.deepInclude(withTools, { _tag: "InvalidRequestError", provider: "aws", param: "responseFormat" })
        assert.include(withTools.message, "sent to Bedrock as a forced tool")
      }).pipe(Effect.provide(configured(simulator)))
    ))
})

describe("Bedrock structured output as outputConfig.textFormat, over the simulator", () => {
  const ask: ChatRequest.Input = {
    messages: [Message.user("Describe a city as JSON.")],
    responseFormat: ChatRequest.jsonSchemaFormat("City", City),
    tools: AdapterE2e.weatherAndTimeTools,
    reasoningEffort: "low"
  }
  const key = ProviderClient.credentials(API_KEY)

  it.live("to a Claude that takes it, beside tools and thinking: the reply's text fits the schema, whole and streamed", () =>
    simulated((simulator) =>
      Effect.gen(function*() {
        const chat = yield* Bedrock.make({ baseUrl: simulator.url, model: STRUCTURED, auth: "api-key" })
        const whole = yield* chat.chat(ask, key)
        const streamed = yield* ChatChunk.collect(chat.chatStream(ask, key))
        for (const reply of [whole, streamed]) {
          const city = Schema.decodeUnknownSync(City)(JSON.parse(reply.text))
          assert.include(["capital", "port"], city.kind)
          assert.strictEqual(reply.finishReason, "stop")
          assert.deepStrictEqual(reply.toolCalls, [])
        }
        assert.isDefined(whole.reasoning)
        // A model that does not take it is refused by Bedrock, naming the field.
        const older = yield* Bedrock.make({ baseUrl: simulator.url, model: MODEL, auth: "api-key" })
        const textFormat = { type: "json_schema", structure: { jsonSchema: { schema: "{}", name: "City" } } }
        const refused = yield* Effect.flip(
          older.chat({ ...hello, providerOptions: { outputConfig: { textFormat } } }, key)
        )
        assert.strictEqual(refused._tag, "InvalidRequestError")
        assert.include(refused.message, "outputConfig.textFormat")
      })
    ).pipe(Effect.provide(UndiciHttpClient.layer())))
})

describe("the official BedrockRuntimeClient against the simulator", () => {
  const sdk = (simulator: Simulator.Simulator) =>
    new BedrockRuntimeClient({
      endpoint: simulator.url,
      region,
      credentials: testCredentials,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler()
    })

  it.live("ConverseCommand and ConverseStreamCommand, with a tool", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const client = sdk(simulator)
        const messages = [{ role: "user" as const, content: [{ text: "Hello" }] }]
        const whole = await client.send(
          new ConverseCommand({
            modelId: MODEL,
            messages,
            system: [{ text: "Be brief." }],
            inferenceConfig: { maxTokens: 50 }
          })
        )
        const text = whole.output?.message?.content?.map((block) => block.text ?? "").join("") ?? ""
        assert.isAbove(text.length, 0)
        assert.strictEqual(whole.stopReason, "end_turn")
        assert.strictEqual(whole.usage?.outputTokens, 12)
        const streamed: ConverseStreamCommandOutput = await client.send(
          new ConverseStreamCommand({ modelId: MODEL, messages })
        )
        let streamedText = ""
        let stopReason: string | undefined
        let outputTokens: number | undefined
        for await (const event of streamed.stream!) {
          streamedText += event.contentBlockDelta?.delta?.text ?? ""
          stopReason = event.messageStop?.stopReason ?? stopReason
          outputTokens = event.metadata?.usage?.outputTokens ?? outputTokens
        }
        assert.strictEqual(streamedText, text)
        assert.strictEqual(stopReason, "end_turn")
        assert.strictEqual(outputTokens, 12)
        const tools = await client.send(
          new ConverseCommand({
            modelId: MODEL,
            messages,
            toolConfig: {
              tools: [{
                toolSpec: {
                  name: "get_weather",
                  inputSchema: {
                    json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
                  }
                }
              }],
              toolChoice: { tool: { name: "get_weather" } }
            }
          })
        )
        assert.strictEqual(tools.stopReason, "tool_use")
        const use = tools.output?.message?.content?.find((block) => block.toolUse !== undefined)?.toolUse
        assert.strictEqual(use?.name, "get_weather")
        assert.property(use?.input, "city")
      })
    ))

  it.live("with Claude's thinking on, a tool turn sent back without its reasoning, or with a forged signature, is refused", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const client = sdk(simulator)
        const use = { toolUse: { toolUseId: "tooluse_1", name: "get_weather", input: { city: "Paris" } } }
        const turns = (assistant: ReadonlyArray<Record<string, unknown>>) => [
          { role: "user" as const, content: [{ text: "The weather in Paris?" }] },
          { role: "assistant" as const, content: assistant },
          { role: "user" as const, content: [{ toolResult: { toolUseId: "tooluse_1", content: [{ text: "21 C" }] } }] }
        ]
        const converse = (assistant: ReadonlyArray<Record<string, unknown>>) =>
          client.send(
            new ConverseCommand({
              modelId: MODEL,
              messages: turns(assistant) as never,
              inferenceConfig: { maxTokens: 4096 },
              toolConfig: {
                tools: [{ toolSpec: { name: "get_weather", inputSchema: { json: { type: "object" } } } }]
              },
              additionalModelRequestFields: { thinking: { type: "enabled", budget_tokens: 2048 } }
            })
          ).catch((error) => error)
        const bare = await converse([use])
        assert.strictEqual(bare.name, "ValidationException")
        assert.include(bare.message, "a final `assistant` message must start with a thinking block")
        const forged = await converse([{
          reasoningContent: { reasoningText: { text: "It is Paris.", signature: "forged" } }
        }, use])
        assert.strictEqual(forged.name, "ValidationException")
        assert.include(forged.message, "Invalid `signature` in `thinking` block")
      })
    ))

  it.live("errors as the SDK names them: a wrong secret, an unknown model, throttling", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const messages = [{ role: "user" as const, content: [{ text: "Hello" }] }]
        const wrong = new BedrockRuntimeClient({
          endpoint: simulator.url,
          region,
          credentials: { ...testCredentials, secretAccessKey: "not-the-secret" },
          requestHandler: new NodeHttpHandler()
        })
        const denied = await wrong.send(new ConverseCommand({ modelId: MODEL, messages })).catch((error) => error)
        assert.strictEqual(denied.$metadata.httpStatusCode, 403)
        assert.include(denied.message, "signature we calculated does not match")
        const client = sdk(simulator)
        const missing = await client.send(new ConverseCommand({ modelId: "gone", messages })).catch((error) => error)
        assert.strictEqual(missing.name, "ValidationException")
        client.middlewareStack.add((next) => (args) => {
          ;(args.request as { headers: Record<string, string> }).headers["x-simulator-fault"] = "status=429"
          return next(args)
        }, { step: "build" })
        const throttled = await client.send(new ConverseCommand({ modelId: MODEL, messages }), {}).catch((error) =>
          error
        )
        assert.strictEqual(throttled.name, "ThrottlingException")
      })
    ))
})

describe("the official AnthropicBedrock client (InvokeModel) against the simulator", () => {
  const anthropic = (simulator: Simulator.Simulator, secret = testCredentials.secretAccessKey) =>
    new AnthropicBedrock({
      baseURL: simulator.url,
      awsAccessKey: testCredentials.accessKeyId,
      awsSecretKey: secret,
      awsRegion: region,
      apiKey: null,
      maxRetries: 0
    })
  const weather = {
    name: "get_weather",
    description: "The weather in a city",
    input_schema: { type: "object" as const, properties: { city: { type: "string" } }, required: ["city"] }
  }

  it.live("messages.create whole and streamed, and a forced tool call both ways", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const client = anthropic(simulator)
        const params = {
          model: MODEL,
          max_tokens: 100,
          system: "Be brief.",
          messages: [{ role: "user" as const, content: "Tell me about Effect in one paragraph." }]
        }
        const whole = await client.messages.create(params)
        assert.match(whole.id, /^msg_bdrk_/)
        assert.strictEqual(whole.model, MODEL)
        assert.strictEqual(whole.stop_reason, "end_turn")
        assert.strictEqual(whole.usage.output_tokens, 12)
        const text = whole.content.map((block) => block.type === "text" ? block.text : "").join("")
        assert.isAbove(text.length, 0)

        const stream = await client.messages.create({ ...params, stream: true })
        const types: Array<string> = []
        let streamedText = ""
        for await (const event of stream) {
          types.push(event.type)
          if (event.type === "content_block_delta" && event.delta.type === "text_delta") {
            streamedText += event.delta.text
          }
        }
        assert.strictEqual(streamedText, text)
        assert.strictEqual(types[0], "message_start")
        assert.deepStrictEqual(types.slice(-2), ["message_delta", "message_stop"])
        assert.isAbove(types.filter((type) => type === "content_block_delta").length, 1)

        const forced = { ...params, tools: [weather], tool_choice: { type: "tool" as const, name: "get_weather" } }
        const called = await client.messages.create(forced)
        assert.strictEqual(called.stop_reason, "tool_use")
        const use = called.content.find((block) => block.type === "tool_use")
        assert(use?.type === "tool_use")
        assert.strictEqual(use.name, "get_weather")
        assert.property(use.input, "city")
        const final = await client.messages.stream(forced).finalMessage()
        const streamedUse = final.content.find((block) => block.type === "tool_use")
        assert(streamedUse?.type === "tool_use")
        assert.strictEqual(streamedUse.name, "get_weather")
        assert.deepStrictEqual(streamedUse.input, use.input)
        assert.strictEqual(final.stop_reason, "tool_use")

        const answered = await client.messages.create({
          ...params,
          tools: [weather],
          messages: [
            ...params.messages,
            { role: "assistant", content: [use] },
            { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "21 degrees" }] }
          ]
        })
        assert.strictEqual(answered.stop_reason, "end_turn")

        // A cache_control breakpoint: written by the first call, read by the next.
        const cached = {
          model: MODEL,
          max_tokens: 16,
          system: [{ type: "text" as const, text: "r".repeat(400), cache_control: { type: "ephemeral" as const } }],
          messages: params.messages
        }
        const first = await client.messages.create(cached)
        const second = await client.messages.create(cached)
        assert.strictEqual(first.usage.cache_creation_input_tokens, 100)
        assert.strictEqual(second.usage.cache_read_input_tokens, 100)
      })
    ))

  it.live("errors as the SDK sees them: a wrong secret, a model the simulator lacks, an exception frame", () =>
    simulated((simulator) =>
      Effect.promise(async () => {
        const messages = [{ role: "user" as const, content: "Hello" }]
        const denied = await anthropic(simulator, "not-the-secret").messages.create({
          model: MODEL,
          max_tokens: 50,
          messages
        }).catch((error: unknown) => error)
        assert.instanceOf(denied, AnthropicBedrock.PermissionDeniedError)
        assert.include(String(denied), "signature we calculated does not match")
        const client = anthropic(simulator)
        const missing = await client.messages.create({ model: "anthropic.claude-gone-v9:0", max_tokens: 50, messages })
          .catch((error: unknown) => error)
        assert.instanceOf(missing, AnthropicBedrock.BadRequestError)
        assert.include(String(missing), "model identifier is invalid")
        const broken = await client.messages.create(
          { model: MODEL, max_tokens: 50, messages, stream: true },
          { headers: { [Simulator.faultHeader]: "stream-error=3" } }
        ).then(async (stream) => {
          for await (const _ of stream) {
            // drained until the exception frame
          }
          return undefined
        }).catch((error: unknown) => error)
        assert.instanceOf(broken, AnthropicBedrock.APIError)
        assert.include(String(broken), "unexpected error during processing")
      })
    ))
})

/** AWS's shared config and credentials files for the scope: `credentials` (an INI file's text) and an empty config. */
const sharedCredentialsFile = (credentials: string) =>
  Effect.gen(function*() {
    const dir = yield* scopedDirectory("bedrock-profiles-")
    Fs.writeFileSync(Path.join(dir, "credentials"), credentials)
    Fs.writeFileSync(Path.join(dir, "config"), "")
    yield* scopedEnv({
      AWS_SHARED_CREDENTIALS_FILE: Path.join(dir, "credentials"),
      AWS_CONFIG_FILE: Path.join(dir, "config")
    })
  })

describe("AWS profiles as deployments", () => {
  const alpha = { accessKeyId: "AKIAALPHA00000000000", secretAccessKey: "alpha/secret/access/key/0000000000000000" }
  const beta = { accessKeyId: "AKIABETA000000000000", secretAccessKey: "beta/secret/access/key/00000000000000000" }
  const credentials = [
    "[alpha]",
    `aws_access_key_id = ${alpha.accessKeyId}`,
    `aws_secret_access_key = ${alpha.secretAccessKey}`,
    "[beta]",
    `aws_access_key_id = ${beta.accessKeyId}`,
    `aws_secret_access_key = ${beta.secretAccessKey}`,
    "aws_session_token = beta-session-token",
    ""
  ].join("\n")

  it.live("two profiles of one credentials file sign for two deployments of one router, each its own", () =>
    Effect.gen(function*() {
      yield* sharedCredentialsFile(credentials)
      const east = yield* Simulator.make({ models: [MODEL], bedrockCredentials: [alpha], replyTokens: 5 })
      const west = yield* Simulator.make({ models: [MODEL], bedrockCredentials: [beta], replyTokens: 7 })
      const entry = (url: string, profile: string) => ({
        model_name: MODEL,
        api: "bedrock",
        region,
        base_url: url,
        profile,
        max_retries: 0
      })
      const router = (eastProfile: string, westProfile: string) =>
        Layer.unwrap(Effect.map(
          ProviderConfig.fromJson({ east: [entry(east.url, eastProfile)], west: [entry(west.url, westProfile)] }),
          (config) => ProviderConfig.routerLayer(config, { retryOn: [] })
        )).pipe(Layer.provide(UndiciHttpClient.layer()), Layer.orDie)
      const ask = (model: string) => Llm.chat({ ...hello, model })
      const [fromEast, fromWest] = yield* Effect.all([ask(`east/${MODEL}`), ask(`west/${MODEL}`)]).pipe(
        Effect.provide(router("alpha", "beta"))
      )
      assert.strictEqual(fromEast.usage.completionTokens, 5)
      assert.strictEqual(fromWest.usage.completionTokens, 7)
      assert.strictEqual((yield* east.stats).requests, 1)
      assert.strictEqual((yield* west.stats).requests, 1)
      // Swapped, each deployment signs as the account the other simulator knows, and is refused.
      const refused = yield* Effect.flip(ask(`east/${MODEL}`).pipe(Effect.provide(router("beta", "alpha"))))
      assert(refused._tag === "AuthError")
      assert.strictEqual(refused.reason, "invalid_key")
      assert.strictEqual(refused.status, 403)
    }))

  it.live("a profile the files lack fails with AuthError naming it, before any HTTP", () =>
    Effect.gen(function*() {
      yield* sharedCredentialsFile(credentials)
      const simulator = yield* Simulator.make({ models: [MODEL], bedrockCredentials: [alpha] })
      const chat = yield* Bedrock.make({ baseUrl: simulator.url, region, model: MODEL, profile: "gamma" })
      yield* AdapterE2e.failsWholeAndStreamed(chat, hello, none, (error) => {
        assert(error._tag === "AuthError")
        assert.strictEqual(error.reason, "credential_unavailable")
        assert.include(error.detail, `the AWS profile "gamma" (fromIni: the shared config and credentials files)`)
      })
      assert.strictEqual((yield* simulator.stats).requests, 0)
    }).pipe(Effect.provide(UndiciHttpClient.layer())))

  it.live("a failing credential_process: neither its command line nor its output reaches the error", () =>
    Effect.gen(function*() {
      yield* sharedCredentialsFile(
        [
          "[proc]",
          "credential_process = sh -c 'echo printed-secret-0123456789 >&2; exit 3' --token argument-secret-0123456789",
          ""
        ].join("\n")
      )
      const simulator = yield* Simulator.make({ models: [MODEL], bedrockCredentials: [alpha] })
      const chat = yield* Bedrock.make({ baseUrl: simulator.url, region, model: MODEL, profile: "proc" })
      yield* AdapterE2e.failsWholeAndStreamed(chat, hello, none, (error) => {
        assert(error._tag === "AuthError")
        assert.strictEqual(error.reason, "credential_unavailable")
        assert.include(error.detail, `the AWS profile "proc"`)
        assert.include(error.detail, "its credential_process failed (the command line and its output are not shown)")
        for (const text of [error.message, JSON.stringify(error)]) {
          assert.notInclude(text, "argument-secret")
          assert.notInclude(text, "printed-secret")
          assert.notInclude(text, "sh -c")
        }
      })
      assert.strictEqual((yield* simulator.stats).requests, 0)
    }).pipe(Effect.provide(UndiciHttpClient.layer())))
})
