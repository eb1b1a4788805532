/**
 * Azure OpenAI, Amazon Bedrock and Vertex AI deployments behind one gateway, over loopback against the simulator
 * speaking each cloud (an Azure API key, Bedrock's SigV4 with the simulator's test credentials and a Bedrock API key,
 * a Google access token from a test credential): each front door's official client (`openai`, `@anthropic-ai/sdk`,
 * `@google/genai`) reaches every cloud, whole, streamed and with a tool call.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import { FunctionCallingConfigMode, GoogleGenAI, Type } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const azureKey = "azure-clouds-key-0123456789"
const bedrockKey = "bedrock-clouds-key-0123456789"
const token = "ya29.vertex-clouds-token-0123456789"
const replyTokens = 10

const azureDeployment = "gpt4o-prod"
const claudeOnBedrock = "anthropic.claude-3-5-haiku-20241022-v1:0"
const nova = "amazon.nova-micro-v1:0"
const gemini = "gemini-2.5-flash"
const claudeOnVertex = "claude-sonnet-4-5@20250929"

/** A Google AuthClient that hands out `token`, valid an hour. */
class TestClient implements Vertex.AuthClient {
  credentials: { expiry_date?: number } = {}
  getAccessToken() {
    this.credentials = { expiry_date: Date.now() + 3_600_000 }
    return Promise.resolve({ token })
  }
}

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
 * The deployments every client reaches: the name a client asks for, and the model the provider says answered (Azure
 * names the deployment; Bedrock's Converse names none, nor do Vertex's paths, so the model asked of them).
 */
const targets = [
  { name: "azure/gpt-4o", answered: azureDeployment, cloud: "Azure (API key)" },
  { name: `aws/${claudeOnBedrock}`, answered: claudeOnBedrock, cloud: "Bedrock (SigV4)" },
  { name: `aws-key/${nova}`, answered: nova, cloud: "Bedrock (API key)" },
  { name: `gcp/${gemini}`, answered: gemini, cloud: "Vertex (Google)" },
  { name: `gcp/${claudeOnVertex}`, answered: claudeOnVertex, cloud: "Vertex (Anthropic)" }
] as const

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly simulator: Simulator.Simulator
  readonly openai: OpenAI
  readonly anthropic: Anthropic
  readonly google: GoogleGenAI
}>()("test/GatewayCloudsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [azureKey, bedrockKey, token, Simulator.bedrockCredentials.accessKeyId],
      models: [azureDeployment, claudeOnBedrock, nova, gemini, claudeOnVertex],
      replyTokens
    })
    const url = simulator.url
    const config = yield* ProviderConfig.fromJson({
      azure: [azure(url)],
      aws: [bedrock(url)],
      "aws-key": [{ model_name: nova, api: "bedrock", base_url: url, api_keys: [bedrockKey], max_retries: 0 }],
      gcp: [vertex(url), vertex(url, { model_name: claudeOnVertex, publisher: "anthropic", location: "us-east5" })]
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 }).pipe(
      Effect.provideService(Bedrock.Credentials, () => Promise.resolve(Simulator.bedrockCredentials)),
      Effect.provideService(Vertex.Credential, new TestClient())
    )
    return {
      gateway,
      simulator,
      openai: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }),
      anthropic: new Anthropic({ baseURL: gateway.url, apiKey: "unused", maxRetries: 0 }),
      // Google's clients add `/v1beta/...` to the host's root.
      google: new GoogleGenAI({
        apiKey: "unused",
        apiVersion: "v1beta",
        httpOptions: { baseUrl: new URL(gateway.url).origin, retryOptions: { attempts: 1 } }
      })
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const question = "Hello there"
const weatherQuestion = "What is the weather in Oslo?"
const weatherSchema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] } as const

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
 * Which model a reply names (docs/gateway.md): the name asked for, or the model that answered. A stream's first
 * events go out before the answer names its model, so OpenAI's and Gemini's streams name the answering model on their
 * last chunk, and Anthropic's `message_start` the name asked for; Gemini's whole reply keeps the name asked for.
 */
type Named = "asked" | "answered"

/** One front door, driven by its official client; `names` says which model it shows, whole and streamed. */
interface Door {
  readonly client: string
  readonly names: { readonly whole: Named; readonly streamed: Named }
  readonly whole: (fixture: Fixture["Service"], model: string) => Promise<Answer>
  readonly streamed: (fixture: Fixture["Service"], model: string) => Promise<Answer>
  readonly toolCall: (fixture: Fixture["Service"], model: string, stream: boolean) => Promise<Call>
}

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
  names: { whole: "answered", streamed: "asked" },
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
  }
}

const doors: ReadonlyArray<Door> = [openAiDoor, anthropicDoor, googleDoor]

layer(fixture, { timeout: 60_000, excludeTestServices: true })("every cloud behind every front door", (it) => {
  for (const door of doors) {
    for (const target of targets) {
      it.effect(
        `${door.client} → ${target.cloud}: whole and streamed, the same text, model and usage; a tool call both ways`,
        () =>
          Effect.gen(function*() {
            const served = yield* Fixture
            const named = (stream: boolean) =>
              door.names[stream ? "streamed" : "whole"] === "asked" ? target.name : target.answered
            const whole = yield* Effect.promise(() => door.whole(served, target.name))
            const streamed = yield* Effect.promise(() => door.streamed(served, target.name))
            expect(whole.text.length).toBeGreaterThan(0)
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
