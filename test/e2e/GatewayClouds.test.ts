/**
 * Azure OpenAI, Amazon Bedrock and Vertex AI deployments behind one gateway, over loopback against the simulator
 * speaking each cloud (an Azure API key, Bedrock's SigV4 with the simulator's test credentials and a Bedrock API key,
 * a Google access token from a test credential): each front door's official client (`openai`, `@anthropic-ai/sdk`,
 * `@google/genai`) reaches every cloud, whole, streamed and with a tool call; routers fall back from one cloud to
 * another, before the answer and mid-stream; an Azure entry's keys rotate and a revoked one is disabled; one model
 * spans two Azure resources and a router two Bedrock regions (a second simulator).
 */
import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, layer } from "@effect/vitest"
import { type Content, FunctionCallingConfigMode, type GoogleGenAI, Type } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import { instruction } from "../../src/internal/router/continuation.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { testAdminKey, testAdmins } from "../utils/gatewayHarness.js"

const azureKey = "azure-clouds-key-0123456789"
const azureKeys = [azureKey, "azure-clouds-key-second-01"] as const
// A key of the pool the resource no longer accepts.
const revokedKey = "azure-clouds-key-revoked-01"
const bedrockKey = "bedrock-clouds-key-0123456789"
const token = "ya29.vertex-clouds-token-0123456789"
const replyTokens = 10

const azureDeployment = "gpt4o-prod"
const claudeOnBedrock = "anthropic.claude-3-5-haiku-20241022-v1:0"
const nova = "amazon.nova-micro-v1:0"
const gemini = "gemini-2.5-flash"
const claudeOnVertex = "claude-sonnet-4-5@20250929"

/** A Google credential that hands out `token`; without an expiry, it is asked at every call. */
const googleCredential: Vertex.AuthClient = { getAccessToken: () => Promise.resolve({ token }) }

// Each cloud's entry on the simulator at `url`, with `extra` fields.
const azure = (url: string, extra: Record<string, unknown> = {}) => ({
  model_name: "gpt-4o",
  api: "azure",
  base_url: url,
  deployment: azureDeployment,
  api_version: "2024-10-21",
  api_keys: [azureKey],
  max_retries: 0,
  ...extra
})
const bedrock = (url: string, extra: Record<string, unknown> = {}) => ({
  model_name: claudeOnBedrock,
  api: "bedrock",
  region: "us-east-1",
  base_url: url,
  max_retries: 0,
  ...extra
})
const vertex = (url: string, extra: Record<string, unknown> = {}) => ({
  model_name: gemini,
  api: "vertex",
  project: "my-proj",
  location: "us-central1",
  base_url: url,
  max_retries: 0,
  ...extra
})

/**
 * The deployments every client reaches: the name a client asks for, the deployment's own model (provider.json's
 * `model_name`), and the model the reply says answered (Azure's names the deployment; Bedrock's Converse names none, so
 * the model asked of it).
 */
const targets = [
  { name: "azure/gpt-4o", deployed: "gpt-4o", answered: azureDeployment, cloud: "Azure (API key)" },
  { name: `aws/${claudeOnBedrock}`, deployed: claudeOnBedrock, answered: claudeOnBedrock, cloud: "Bedrock (SigV4)" },
  { name: `aws-key/${nova}`, deployed: nova, answered: nova, cloud: "Bedrock (API key)" },
  { name: `gcp/${gemini}`, deployed: gemini, answered: gemini, cloud: "Vertex (Google)" },
  { name: `gcp/${claudeOnVertex}`, deployed: claudeOnVertex, answered: claudeOnVertex, cloud: "Vertex (Anthropic)" }
] as const

// The simulator's fault on every request of an entry.
const fault = (value: string) => ({ headers: { [Simulator.faultHeader]: value } })

// A router over `deployments` tried in order, no breaker opening in these tests; `mid_stream` the gateway's default,
// "continue".
const inOrder = (...deployments: ReadonlyArray<string>) => ({
  deployments,
  strategy: "priority",
  cooldown: { failures: 100 }
})

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly simulator: Simulator.Simulator
  /** A second simulator: another Azure resource, another Bedrock region. */
  readonly west: Simulator.Simulator
  readonly openai: OpenAI
  readonly anthropic: Anthropic
  readonly google: GoogleGenAI
}>()("test/GatewayCloudsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [...azureKeys, bedrockKey, token, Simulator.bedrockCredentials.accessKeyId],
      models: [azureDeployment, claudeOnBedrock, nova, gemini, claudeOnVertex],
      replyTokens
    })
    const west = yield* Simulator.make({
      apiKeys: [azureKey, Simulator.bedrockCredentials.accessKeyId],
      models: [azureDeployment, claudeOnBedrock],
      replyTokens
    })
    const url = simulator.url
    const config = yield* ProviderConfig.fromJson({
      azure: [azure(url)],
      aws: [bedrock(url)],
      "aws-key": [{ model_name: nova, api: "bedrock", base_url: url, api_keys: [bedrockKey], max_retries: 0 }],
      gcp: [vertex(url), vertex(url, { model_name: claudeOnVertex, publisher: "anthropic", location: "us-east5" })],
      // Each cloud failing before its answer: down, throttled, its connection reset.
      "azure-down": [azure(url, fault("status=503"))],
      "aws-throttled": [bedrock(url, fault("status=429;retry-after=none"))],
      "gcp-reset": [vertex(url, fault("reset=0"))],
      // Each cloud's stream cut after five chunks.
      "azure-cut": [azure(url, fault("reset=5"))],
      "aws-cut": [bedrock(url, fault("reset=5"))],
      "gcp-cut": [vertex(url, fault("reset=5"))],
      // Key pools: an Azure entry's keys, one of them revoked; another's, on streams the resource holds open.
      "azure-pool": [azure(url, { api_keys: [...azureKeys, revokedKey], max_retries: 2 })],
      "azure-held": [azure(url, { api_keys: [...azureKeys], ...fault("stall=4") })],
      // One model on two Azure resources, and one Bedrock model in two regions.
      "azure-east": [azure(url, { model_name: "gpt-4.1" })],
      "azure-west": [azure(west.url, { model_name: "gpt-4.1" })],
      "aws-east": [bedrock(url)],
      "aws-west": [bedrock(west.url, { region: "eu-west-1" })],
      router: {
        "bedrock-regions": { deployments: [`aws-east/${claudeOnBedrock}`, `aws-west/${claudeOnBedrock}`] },
        "azure-first": inOrder("azure-down/gpt-4o", `aws/${claudeOnBedrock}`, `gcp/${gemini}`),
        "bedrock-first": inOrder(`aws-throttled/${claudeOnBedrock}`, `gcp/${gemini}`, "azure/gpt-4o"),
        "vertex-first": inOrder(`gcp-reset/${gemini}`, "azure/gpt-4o", `aws/${claudeOnBedrock}`),
        "azure-cut-then-bedrock": inOrder("azure-cut/gpt-4o", `aws/${claudeOnBedrock}`),
        "bedrock-cut-then-vertex": inOrder(`aws-cut/${claudeOnBedrock}`, `gcp/${claudeOnVertex}`),
        "vertex-cut-then-azure": inOrder(`gcp-cut/${gemini}`, "azure/gpt-4o")
      }
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      adminKeys: testAdmins,
      modelLoadDetails: true
    }).pipe(
      Effect.provideService(Bedrock.Credentials, () => Promise.resolve(Simulator.bedrockCredentials)),
      Effect.provideService(Vertex.Credential, googleCredential)
    )
    return { gateway, simulator, west, ...gatewayClients(gateway.url) }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const question = "Hello there"
const weatherQuestion = "What is the weather in Oslo?"
const weatherSchema = {
  type: "object" as const,
  properties: { city: { type: "string" } },
  required: ["city"]
}

/** What a client was answered, in its own terms: the text, the model it was told, the tokens in and out. */
interface Answer {
  readonly text: string
  readonly model: string | undefined
  readonly input: number | undefined
  readonly output: number | undefined
}

/** A tool call as a client read it: the tool's name and its arguments. */
interface Call {
  readonly name: string | undefined
  readonly args: unknown
  readonly model: string | undefined
}

/**
 * Which model a reply names (docs/gateway.md): the name asked for, the model that answered as the provider named it,
 * or the answering deployment's own model (as provider.json names it, what the request was sent with). A stream's
 * first events go out before the provider names its model, so they name the deployment's (the router's
 * `ChatChunk.Start`): Anthropic's `message_start` does, and OpenAI's and Gemini's streams name the model that
 * answered on their last chunk; Gemini's whole reply keeps the name asked for.
 */
type Named = "asked" | "answered" | "deployed"

/** One front door, driven by its official client; `names` says which model it shows, whole and streamed. */
interface Door {
  readonly client: string
  readonly names: { readonly whole: Named; readonly streamed: Named }
  readonly whole: (fixture: Fixture["Service"], model: string) => Promise<Answer>
  readonly streamed: (fixture: Fixture["Service"], model: string) => Promise<Answer>
  readonly toolCall: (fixture: Fixture["Service"], model: string, stream: boolean) => Promise<Call>
  /** The tool called (not streamed), then its result `toolResult` sent back: the answer's text. */
  readonly toolResultAnswered: (fixture: Fixture["Service"], model: string) => Promise<string>
}

const toolResult = "sunny, 21 degrees"

const openAiTools: Array<OpenAI.ChatCompletionTool> = [{
  type: "function",
  function: { name: "get_weather", description: "The weather in a city", parameters: weatherSchema }
}]

const openAiDoor: Door = {
  client: "openai",
  names: { whole: "answered", streamed: "answered" },
  whole: async ({ openai }, model) => {
    const completion = await openai.chat.completions.create({ model, messages: [{ role: "user", content: question }] })
    return {
      text: completion.choices[0]!.message.content ?? "",
      model: completion.model,
      input: completion.usage?.prompt_tokens,
      output: completion.usage?.completion_tokens
    }
  },
  streamed: async ({ openai }, model) => {
    const stream = await openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: question }],
      stream: true,
      stream_options: { include_usage: true }
    })
    let text = ""
    let seen: string | undefined
    let usage: OpenAI.CompletionUsage | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? ""
      seen = chunk.model
      usage = chunk.usage ?? usage
    }
    return { text, model: seen, input: usage?.prompt_tokens, output: usage?.completion_tokens }
  },
  toolCall: async ({ openai }, model, stream) => {
    const params = {
      model,
      messages: [{ role: "user" as const, content: weatherQuestion }],
      tools: openAiTools,
      tool_choice: { type: "function" as const, function: { name: "get_weather" } }
    }
    if (!stream) {
      const completion = await openai.chat.completions.create(params)
      const call = completion.choices[0]!.message.tool_calls?.[0]
      expect(completion.choices[0]!.finish_reason).toBe("tool_calls")
      return {
        name: call?.type === "function" ? call.function.name : undefined,
        args: call?.type === "function" ? JSON.parse(call.function.arguments) : undefined,
        model: completion.model
      }
    }
    let name = ""
    let args = ""
    let finish: string | null = null
    let seen: string | undefined
    for await (const chunk of await openai.chat.completions.create({ ...params, stream: true })) {
      const call = chunk.choices[0]?.delta.tool_calls?.[0]
      name += call?.function?.name ?? ""
      args += call?.function?.arguments ?? ""
      finish = chunk.choices[0]?.finish_reason ?? finish
      seen = chunk.model
    }
    expect(finish).toBe("tool_calls")
    return { name, args: JSON.parse(args), model: seen }
  },
  toolResultAnswered: async ({ openai }, model) => {
    const ask: Array<OpenAI.ChatCompletionMessageParam> = [{ role: "user", content: weatherQuestion }]
    const called = await openai.chat.completions.create({ model, messages: ask, tools: openAiTools })
    const call = called.choices[0]!.message.tool_calls![0]!
    const answered = await openai.chat.completions.create({
      model,
      messages: [
        ...ask,
        { role: "assistant", content: null, tool_calls: [call] },
        { role: "tool", tool_call_id: call.id, content: toolResult }
      ],
      tools: openAiTools
    })
    expect(answered.choices[0]!.finish_reason).toBe("stop")
    return answered.choices[0]!.message.content ?? ""
  }
}

const anthropicTools: Array<Anthropic.Tool> = [{
  name: "get_weather",
  description: "The weather in a city",
  input_schema: weatherSchema
}]

const textOf = (message: Anthropic.Message) =>
  message.content.map((block) => (block.type === "text" ? block.text : "")).join("")

const anthropicDoor: Door = {
  client: "@anthropic-ai/sdk",
  names: { whole: "answered", streamed: "deployed" },
  whole: async ({ anthropic }, model) => {
    const message = await anthropic.messages.create({
      model,
      max_tokens: 256,
      messages: [{ role: "user", content: question }]
    })
    expect(message.stop_reason).toBe("end_turn")
    return {
      text: textOf(message),
      model: message.model,
      input: message.usage.input_tokens,
      output: message.usage.output_tokens
    }
  },
  streamed: async ({ anthropic }, model) => {
    const stream = anthropic.messages.stream({
      model,
      max_tokens: 256,
      messages: [{ role: "user", content: question }]
    })
    let text = ""
    stream.on("text", (delta) => {
      text += delta
    })
    const final = await stream.finalMessage()
    expect(textOf(final)).toBe(text)
    return { text, model: final.model, input: final.usage.input_tokens, output: final.usage.output_tokens }
  },
  toolCall: async ({ anthropic }, model, stream) => {
    const params = {
      model,
      max_tokens: 256,
      messages: [{ role: "user" as const, content: weatherQuestion }],
      tools: anthropicTools,
      tool_choice: { type: "tool" as const, name: "get_weather" }
    }
    const message = stream
      ? await anthropic.messages.stream(params).finalMessage()
      : await anthropic.messages.create(params)
    expect(message.stop_reason).toBe("tool_use")
    const use = message.content.find((block) => block.type === "tool_use")
    return { name: use?.name, args: use?.input, model: message.model }
  },
  toolResultAnswered: async ({ anthropic }, model) => {
    const ask: Array<Anthropic.MessageParam> = [{ role: "user", content: weatherQuestion }]
    const called = await anthropic.messages.create({ model, max_tokens: 256, messages: ask, tools: anthropicTools })
    const use = called.content.find((block) => block.type === "tool_use")!
    const answered = await anthropic.messages.create({
      model,
      max_tokens: 256,
      messages: [
        ...ask,
        { role: "assistant", content: called.content },
        { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: toolResult }] }
      ],
      tools: anthropicTools
    })
    expect(answered.stop_reason).toBe("end_turn")
    return textOf(answered)
  }
}

const googleTools = [{
  functionDeclarations: [{
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] }
  }]
}]

const googleDoor: Door = {
  client: "@google/genai",
  names: { whole: "asked", streamed: "answered" },
  whole: async ({ google }, model) => {
    const response = await google.models.generateContent({ model, contents: question })
    expect(response.candidates?.[0]?.finishReason).toBe("STOP")
    return {
      text: response.text ?? "",
      model: response.modelVersion,
      input: response.usageMetadata?.promptTokenCount,
      output: response.usageMetadata?.candidatesTokenCount
    }
  },
  streamed: async ({ google }, model) => {
    let text = ""
    let last: Awaited<ReturnType<GoogleGenAI["models"]["generateContent"]>> | undefined
    for await (const chunk of await google.models.generateContentStream({ model, contents: question })) {
      text += chunk.text ?? ""
      last = chunk
    }
    expect(last?.candidates?.[0]?.finishReason).toBe("STOP")
    return {
      text,
      model: last?.modelVersion,
      input: last?.usageMetadata?.promptTokenCount,
      output: last?.usageMetadata?.candidatesTokenCount
    }
  },
  toolCall: async ({ google }, model, stream) => {
    const params = {
      model,
      contents: weatherQuestion,
      config: {
        tools: googleTools,
        toolConfig: {
          functionCallingConfig: { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: ["get_weather"] }
        }
      }
    }
    if (!stream) {
      const response = await google.models.generateContent(params)
      const call = response.functionCalls?.[0]
      return { name: call?.name, args: call?.args, model: response.modelVersion }
    }
    const calls = []
    let seen: string | undefined
    for await (const chunk of await google.models.generateContentStream(params)) {
      calls.push(...(chunk.functionCalls ?? []))
      seen = chunk.modelVersion
    }
    expect(calls).toHaveLength(1)
    return { name: calls[0]?.name, args: calls[0]?.args, model: seen }
  },
  toolResultAnswered: async ({ google }, model) => {
    const ask: Array<Content> = [{ role: "user", parts: [{ text: weatherQuestion }] }]
    const called = await google.models.generateContent({ model, contents: ask, config: { tools: googleTools } })
    const call = called.functionCalls![0]!
    const answered = await google.models.generateContent({
      model,
      contents: [
        ...ask,
        called.candidates![0]!.content!,
        {
          role: "user",
          parts: [{ functionResponse: { id: call.id!, name: call.name!, response: { output: toolResult } } }]
        }
      ],
      config: { tools: googleTools }
    })
    expect(answered.candidates?.[0]?.finishReason).toBe("STOP")
    return answered.text ?? ""
  }
}

const doors: ReadonlyArray<Door> = [openAiDoor, anthropicDoor, googleDoor]

type Turn = { readonly role: "user" | "assistant"; readonly content: string }

// `model`'s whole answer to the question and then `turns`, through the openai client.
const answerTo = (openai: OpenAI, model: string, ...turns: ReadonlyArray<Turn>) =>
  Effect.promise(() =>
    openai.chat.completions.create({ model, messages: [{ role: "user", content: question }, ...turns] })
  ).pipe(Effect.map((completion) => ({ text: completion.choices[0]!.message.content ?? "", model: completion.model })))

// The question streamed to `model` through the openai client: each chunk's model and text.
const chunksOf = (openai: OpenAI, model: string) =>
  Effect.promise(async () => {
    const stream = await openai.chat.completions.create({
      model,
      messages: [{ role: "user", content: question }],
      stream: true
    })
    const chunks: Array<{ readonly model: string; readonly text: string }> = []
    for await (const chunk of stream) chunks.push({ model: chunk.model, text: chunk.choices[0]?.delta.content ?? "" })
    return chunks
  })

const textOfChunks = (chunks: ReadonlyArray<{ readonly text: string }>) => chunks.map((chunk) => chunk.text).join("")

// The question's answer from `model` through the openai client, streamed or not.
const answerText = (openai: OpenAI, model: string, stream: boolean) =>
  stream
    ? Effect.map(chunksOf(openai, model), textOfChunks)
    : Effect.map(answerTo(openai, model), (answer) => answer.text)

/** Routers whose first cloud fails before answering: the deployment that fails, and the next cloud's. */
const fallbacks = [
  { router: "azure-first", failing: "azure-down/gpt-4o", next: `aws/${claudeOnBedrock}`, answered: claudeOnBedrock },
  {
    router: "bedrock-first",
    failing: `aws-throttled/${claudeOnBedrock}`,
    next: `gcp/${gemini}`,
    answered: gemini
  },
  { router: "vertex-first", failing: `gcp-reset/${gemini}`, next: "azure/gpt-4o", answered: azureDeployment }
] as const

/**
 * Routers whose first cloud's stream is cut mid-way: the same model unbroken, and the next cloud's deployment, which
 * goes on by prefill (Anthropic's models, on Bedrock and on Vertex) or else by a continuation turn.
 */
const continuations = [
  {
    router: "azure-cut-then-bedrock",
    unbroken: "azure/gpt-4o",
    next: `aws/${claudeOnBedrock}`,
    answered: claudeOnBedrock,
    prefill: true
  },
  {
    router: "bedrock-cut-then-vertex",
    unbroken: `aws/${claudeOnBedrock}`,
    next: `gcp/${claudeOnVertex}`,
    answered: claudeOnVertex,
    prefill: true
  },
  {
    router: "vertex-cut-then-azure",
    unbroken: `gcp/${gemini}`,
    next: "azure/gpt-4o",
    answered: azureDeployment,
    prefill: false
  }
] as const

/** A deployment's keys, as `/llm/model-load/<deployment>` shows them (`/llm/system-capacity` without `disabled`). */
interface Keys {
  readonly keys: ReadonlyArray<{ readonly key: string; readonly current: number; readonly disabled?: string | null }>
}

// The gateway's JSON answer to `GET path` with the admin key.
const getJson = <A>(gateway: Gateway.Service, path: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${testAdminKey}` } })
    expect(response.status).toBe(200)
    return await response.json() as A
  })

// A stream of the question to `model` read to its first chunk and held open until the scope closes.
const heldStream = (openai: OpenAI, model: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const controller = new AbortController()
      const stream = await openai.chat.completions.create({
        model,
        messages: [{ role: "user", content: question }],
        stream: true
      }, { signal: controller.signal })
      await stream[Symbol.asyncIterator]().next()
      return controller
    }),
    (controller) => Effect.sync(() => controller.abort())
  )

// Requests each simulator received while `effect` ran.
const receivedDuring = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const { simulator, west } = yield* Fixture
    const before = [yield* simulator.requestCount, yield* west.requestCount]
    yield* effect
    return { east: (yield* simulator.requestCount) - before[0]!, west: (yield* west.requestCount) - before[1]! }
  })

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway over Azure, Bedrock and Vertex", (it) => {
  describe("every cloud behind every front door", () => {
    for (const door of doors) {
      for (const target of targets) {
        it.effect(
          `${door.client} → ${target.cloud}: whole and streamed, the same text, model and usage; a tool call both ` +
            "ways, its result answered",
          () =>
            Effect.gen(function*() {
              const served = yield* Fixture
              const named = (stream: boolean) => {
                const names = door.names[stream ? "streamed" : "whole"]
                return names === "asked" ? target.name : names === "deployed" ? target.deployed : target.answered
              }
              const whole = yield* Effect.promise(() => door.whole(served, target.name))
              const streamed = yield* Effect.promise(() => door.streamed(served, target.name))
              // The same question through any door is the same prompt to the cloud: the same answer.
              const reference = yield* Effect.promise(() => openAiDoor.whole(served, target.name))
              expect(whole.text.length).toBeGreaterThan(0)
              expect(whole.text).toBe(reference.text)
              expect(whole.input).toBe(reference.input)
              expect(streamed.text).toBe(whole.text)
              expect(whole.model).toBe(named(false))
              expect(streamed.model).toBe(named(true))
              expect(whole.output).toBe(replyTokens)
              expect(streamed.output).toBe(replyTokens)
              expect(whole.input).toBeGreaterThan(0)
              expect(streamed.input).toBe(whole.input)
              for (const stream of [false, true]) {
                const call = yield* Effect.promise(() => door.toolCall(served, target.name, stream))
                expect(call).toEqual({ name: "get_weather", args: { city: "sim" }, model: named(stream) })
              }
            })
        )
      }
    }
  })

  describe("a router falls back across clouds", () => {
    for (const { answered, failing, next, router } of fallbacks) {
      it.effect(`${router}: ${failing} fails, ${next} answers, whole and streamed`, () =>
        Effect.gen(function*() {
          const { gateway, openai } = yield* Fixture
          const direct = yield* answerTo(openai, next)
          const whole = yield* answerTo(openai, router)
          expect(whole).toEqual({ text: direct.text, model: answered })
          const chunks = yield* chunksOf(openai, router)
          expect(textOfChunks(chunks)).toBe(direct.text)
          expect(chunks.at(-1)!.model).toBe(answered)
          // Both calls tried the failing cloud first; only Bedrock's throttling holds it back as rate-limited.
          const status = (yield* gateway.status).details[failing]!
          expect(status).toMatchObject({ requests: 2, failures: 2 })
          expect(status.rateLimited > 0).toBe(router === "bedrock-first")
        }))
    }

    for (const { answered, next, prefill, router, unbroken } of continuations) {
      it.effect(
        `${router}: the stream cut mid-way is continued on the next cloud (${prefill ? "prefill" : "a turn"}), one ` +
          "whole answer, nothing repeated",
        () =>
          Effect.gen(function*() {
            const { openai } = yield* Fixture
            const chunks = yield* chunksOf(openai, router)
            // The chunks before the break name the first cloud's model, from the first; the next cloud's name its own.
            expect(chunks[0]!.model).not.toBe(router)
            const at = chunks.findIndex((chunk) => chunk.model !== chunks[0]!.model)
            const before = textOfChunks(chunks.slice(0, at))
            const after = textOfChunks(chunks.slice(at))
            const whole = (yield* answerTo(openai, unbroken)).text
            expect(before.length).toBeGreaterThan(0)
            expect(whole.startsWith(before) && whole !== before).toBe(true)
            const rest = prefill
              ? yield* answerTo(openai, next, { role: "assistant", content: before })
              : yield* answerTo(openai, next, { role: "assistant", content: before }, {
                role: "user",
                content: instruction
              })
            expect(after).toBe(rest.text)
            expect(chunks.at(-1)!.model).toBe(answered)
            const text = before + after
            expect(text.indexOf(before)).toBe(text.lastIndexOf(before))
          })
      )
    }
  })

  describe("key pools and deployments on clouds", () => {
    it.effect("an Azure entry's keys: the revoked one is tried once, disabled, and every call succeeds on another", () =>
      Effect.gen(function*() {
        const { gateway, openai } = yield* Fixture
        const calls = 6
        const received = yield* receivedDuring(Effect.forEach(
          Array.from({ length: calls }, (_, i) => i % 2 === 0),
          (stream) => answerText(openai, "azure-pool/gpt-4o", stream),
          { discard: true }
        ))
        // Rotation reached the revoked key once (its 401), and never again.
        expect(received).toEqual({ east: calls + 1, west: 0 })
        const load = yield* getJson<Keys>(gateway, "/llm/model-load/azure-pool/gpt-4o")
        expect(load.keys.map((key) => key.disabled === null)).toEqual([true, true, false])
        expect(load.keys.every((key) => key.current === 0)).toBe(true)
      }))

    it.effect("an Azure entry's keys: streams held open each take the least-loaded key, one key each", () =>
      Effect.gen(function*() {
        const { gateway, openai } = yield* Fixture
        const held = Effect.map(
          getJson<{ readonly details: Record<string, Keys> }>(gateway, "/llm/system-capacity"),
          (body) => body.details["azure-held/gpt-4o"]!.keys.map((key) => key.current)
        )
        yield* Effect.scoped(Effect.gen(function*() {
          for (let i = 0; i < azureKeys.length; i++) yield* heldStream(openai, "azure-held/gpt-4o")
          // The second stream went to the key the first left free, not to the first's again.
          expect(yield* held).toEqual([1, 1])
        }))
        yield* eventually(
          "the streams' keys freed once their clients left",
          held,
          (current) => current.every((n) => n === 0)
        )
      }))

    // The gateway picks among a model's deployments by weight at random: both get some of the calls, all but surely.
    const spreadOver = (address: string, deployments: readonly [east: string, west: string], stream: boolean) =>
      Effect.gen(function*() {
        const { gateway, openai, simulator, west } = yield* Fixture
        const calls = 24
        const received = yield* receivedDuring(Effect.forEach(
          Array.from({ length: calls }, (_, i) => stream && i % 2 === 0),
          (streamed) => answerText(openai, address, streamed),
          { discard: true }
        ))
        expect(received.east + received.west).toBe(calls)
        expect(received.east).toBeGreaterThan(0)
        expect(received.west).toBeGreaterThan(0)
        // The gateway's status names each deployment's endpoint and counts what its simulator received.
        const { details } = yield* gateway.status
        expect([details[deployments[0]]!.endpoint, details[deployments[1]]!.endpoint]).toEqual([
          simulator.url,
          west.url
        ])
        expect([details[deployments[0]]!.requests, details[deployments[1]]!.requests]).toEqual([
          received.east,
          received.west
        ])
      })

    it.effect("one model on two Azure resources: calls go to both", () =>
      spreadOver("gpt-4.1", ["azure-east/gpt-4.1", "azure-west/gpt-4.1"], false))

    it.effect("a router over one Bedrock model in two regions: calls go to both, whole and streamed", () =>
      spreadOver("bedrock-regions", [`aws-east/${claudeOnBedrock}`, `aws-west/${claudeOnBedrock}`], true))
  })
})
