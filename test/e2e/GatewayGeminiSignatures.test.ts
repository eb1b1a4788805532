/**
 * Gemini's thought signatures through the gateway: a Gemini 3 deployment (the simulator, which refuses a replayed
 * function call without the signature it made for it) behind `serve`, driven through a tool loop of two steps by each
 * official client replaying the calls as it does (Chat Completions' assistant message, Responses' output items,
 * Anthropic's content blocks, Gemini's contents), streamed and not. A proxy before the simulator keeps what the
 * gateway sent it: each replayed step's first call must carry the simulator's own signature, not the stand-in the
 * gateway puts on a call that comes back without one (which Gemini takes, so the answer alone would not tell).
 * And a Gemini client's loop over DeepSeek's thinking model (a Chat Completions deployment, whose API wants each call's
 * `reasoning_content` back in a tool loop), its history without the thought parts, as Gemini CLI keeps it: the
 * gateway carries the reasoning in the call's signature.
 */
import type Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import { type Content, FunctionCallingConfigMode, type GoogleGenAI, type Part, Type } from "@google/genai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { recordingProxy } from "../utils/recordingProxy.js"

const providerKey = "sk-gemini-signatures-provider"
const gatewayKey = "sk-gemini-signatures-gateway"
const gemini3 = "gemini-3-sim"
const model = `google/${gemini3}`
// DeepSeek's thinking model, which thinks on every call and wants its reasoning back on each call of a tool loop.
const deepSeek = "deepseek-reasoner"

class Fixture extends Context.Service<Fixture, {
  readonly clients: ReturnType<typeof gatewayClients>
  /** The bodies the gateway sent the Gemini 3 deployment, in order. */
  readonly sent: ReadonlyArray<string>
}>()("test/GatewayGeminiSignatures") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      models: [...Simulator.defaultModels, gemini3, deepSeek]
    })
    const proxy = yield* recordingProxy(simulator.url, `/v1beta/models/${gemini3}:`)
    const config = yield* ProviderConfig.fromJson({
      google: [{
        model_name: gemini3,
        api: "gemini",
        base_url: proxy.url,
        api_keys: [providerKey],
        max_retries: 0,
        // Two calls a step: only the first of a step is signed, as Gemini 3 signs them.
        headers: { "x-simulator-tool-calls": "2" }
      }],
      deepseek: [{
        model_name: deepSeek,
        api: "chat-completions",
        base_url: `${simulator.url}/v1`,
        api_keys: [providerKey],
        max_retries: 0
      }]
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      keys: [{ name: "signatures", key: Redacted.make(gatewayKey) }]
    })
    return { clients: gatewayClients(gateway.url, gatewayKey), sent: proxy.bodies }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const question = "What is the weather in Paris?"
const result = "sunny"
const parameters = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }

// Two steps that must call the tool, then one that may answer.
const steps = ["required", "required", "auto"] as const
type Choice = typeof steps[number]

/** A client's tool loop: the final answer's text, after the calls of the steps before it were replayed. */
type Loop = (stream: boolean) => Promise<string>

interface GeminiBody {
  readonly contents: ReadonlyArray<{ readonly role?: string; readonly parts: ReadonlyArray<Part> }>
}

/** Each model content's first function call's signature, as the gateway replayed it to Gemini. */
const replayedSignatures = (body: string) =>
  (JSON.parse(body) as GeminiBody).contents
    .filter((content) => content.role === "model")
    .map((content) => content.parts.find((part) => part.functionCall !== undefined)?.thoughtSignature)

/** What Gemini's thought signatures page lets a caller send for a call it has no signature of. */
const standIn = "skip_thought_signature_validator"

function chatLoop(openai: OpenAI): Loop {
  const tools = [{ type: "function" as const, function: { name: "get_weather", parameters } }]
  // A streamed reply's message, put together from its deltas as a client does: text, and each call by its index.
  async function streamed(messages: Array<OpenAI.ChatCompletionMessageParam>, choice: Choice) {
    const stream = await openai.chat.completions.create({ model, messages, tools, tool_choice: choice, stream: true })
    let content = ""
    const calls: Array<OpenAI.ChatCompletionMessageFunctionToolCall> = []
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta
      content += delta?.content ?? ""
      for (const fragment of delta?.tool_calls ?? []) {
        const call = calls[fragment.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } }
        call.id += fragment.id ?? ""
        call.function.name += fragment.function?.name ?? ""
        call.function.arguments += fragment.function?.arguments ?? ""
      }
    }
    return { role: "assistant" as const, content, ...(calls.length > 0 ? { tool_calls: calls } : {}) }
  }
  return async (stream) => {
    const messages: Array<OpenAI.ChatCompletionMessageParam> = [{ role: "user", content: question }]
    for (const choice of steps) {
      const message = stream
        ? await streamed(messages, choice)
        : (await openai.chat.completions.create({ model, messages, tools, tool_choice: choice })).choices[0]!.message
      messages.push(message)
      if (message.tool_calls === undefined || message.tool_calls.length === 0) return message.content ?? ""
      for (const call of message.tool_calls) messages.push({ role: "tool", tool_call_id: call.id, content: result })
    }
    throw new Error("the model still calls tools")
  }
}

function responsesLoop(openai: OpenAI): Loop {
  const tools = [{ type: "function" as const, name: "get_weather", parameters, strict: false }]
  async function streamed(input: Array<OpenAI.Responses.ResponseInputItem>, choice: Choice) {
    const stream = await openai.responses.create({ model, input, tools, tool_choice: choice, stream: true })
    for await (const event of stream) if (event.type === "response.completed") return event.response
    throw new Error("the stream ended without response.completed")
  }
  return async (stream) => {
    const input: Array<OpenAI.Responses.ResponseInputItem> = [{ role: "user", content: question }]
    for (const choice of steps) {
      const response = stream
        ? await streamed(input, choice)
        : await openai.responses.create({ model, input, tools, tool_choice: choice })
      // The reply's items go back as they came, reasoning items among them.
      input.push(...response.output as Array<OpenAI.Responses.ResponseInputItem>)
      const calls = response.output.filter((item) => item.type === "function_call")
      // The text of its message items (a stream's last response has no `output_text`: the SDK adds it to a whole one).
      if (calls.length === 0) {
        return response.output.flatMap((item) =>
          item.type === "message" ? item.content.flatMap((part) => part.type === "output_text" ? [part.text] : []) : []
        ).join("")
      }
      for (const call of calls) input.push({ type: "function_call_output", call_id: call.call_id, output: result })
    }
    throw new Error("the model still calls tools")
  }
}

function messagesLoop(anthropic: Anthropic): Loop {
  const tools = [{ name: "get_weather", input_schema: { ...parameters, type: "object" as const } }]
  const choices = { required: { type: "any" }, auto: { type: "auto" } } as const
  return async (stream) => {
    const messages: Array<Anthropic.MessageParam> = [{ role: "user", content: question }]
    for (const choice of steps) {
      const body = { model, max_tokens: 1024, messages, tools, tool_choice: choices[choice] }
      const message = stream
        ? await anthropic.messages.stream(body).finalMessage()
        : await anthropic.messages.create(body)
      // The reply's blocks go back as they came, thinking blocks among them.
      messages.push({ role: "assistant", content: message.content })
      const uses = message.content.filter((block) => block.type === "tool_use")
      if (uses.length === 0) {
        return message.content.flatMap((block) => block.type === "text" ? [block.text] : []).join("")
      }
      messages.push({
        role: "user",
        content: uses.map((use) => ({ type: "tool_result" as const, tool_use_id: use.id, content: result }))
      })
    }
    throw new Error("the model still calls tools")
  }
}

/**
 * A Gemini client's tool loop on `on` (default the Gemini 3 deployment); with `dropsThoughts`, its history keeps no
 * thought part, as Gemini CLI's does.
 */
function geminiLoop(google: GoogleGenAI, { dropsThoughts = false, on = model } = {}): Loop {
  const tools = [{
    functionDeclarations: [{
      name: "get_weather",
      parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] }
    }]
  }]
  const modes = { required: FunctionCallingConfigMode.ANY, auto: FunctionCallingConfigMode.AUTO }
  return async (stream) => {
    const contents: Array<Content> = [{ role: "user", parts: [{ text: question }] }]
    for (const choice of steps) {
      const request = {
        model: on,
        contents,
        config: { tools, toolConfig: { functionCallingConfig: { mode: modes[choice] } } }
      }
      // A stream's parts, in order, make the model's content, as Gemini CLI keeps it.
      const parts: Array<Part> = []
      if (stream) {
        for await (const chunk of await google.models.generateContentStream(request)) {
          parts.push(...chunk.candidates?.[0]?.content?.parts ?? [])
        }
      } else {
        parts.push(...(await google.models.generateContent(request)).candidates?.[0]?.content?.parts ?? [])
      }
      contents.push({ role: "model", parts: dropsThoughts ? parts.filter((part) => part.thought !== true) : parts })
      const calls = parts.flatMap((part) => part.functionCall === undefined ? [] : [part.functionCall])
      if (calls.length === 0) return parts.map((part) => part.text ?? "").join("")
      contents.push({
        role: "user",
        parts: calls.map((call) => ({ functionResponse: { name: call.name ?? "", response: { result } } }))
      })
    }
    throw new Error("the model still calls tools")
  }
}

const loops = {
  "openai Chat Completions": ({ openai }: ReturnType<typeof gatewayClients>) => chatLoop(openai),
  "openai Responses": ({ openai }: ReturnType<typeof gatewayClients>) => responsesLoop(openai),
  "@anthropic-ai/sdk Messages": ({ anthropic }: ReturnType<typeof gatewayClients>) => messagesLoop(anthropic),
  "@google/genai generateContent": ({ google }: ReturnType<typeof gatewayClients>) => geminiLoop(google)
}

layer(fixture, { timeout: 60_000 })("Gemini 3's thought signatures through the gateway", (it) => {
  for (const [client, loop] of Object.entries(loops)) {
    for (const stream of [false, true]) {
      it.effect(`${client}${stream ? ", streamed" : ""}: a two-step tool loop replays each step's signature`, () =>
        Effect.gen(function*() {
          const { clients, sent } = yield* Fixture
          const before = sent.length
          const answer = yield* Effect.promise(() => loop(clients)(stream))
          expect(answer).toMatch(/The tool returned sunny/)
          const bodies = sent.slice(before)
          expect(bodies).toHaveLength(3)
          // The second request replays the first step; the third, both.
          const [, second, third] = bodies.map(replayedSignatures)
          expect(second).toHaveLength(1)
          expect(third).toHaveLength(2)
          expect(third![0]).toBe(second![0])
          for (const signature of third!) {
            expect(signature).toEqual(expect.any(String))
            expect(signature).not.toBe(standIn)
          }
        }))
    }
  }
})

layer(fixture, { timeout: 60_000 })("DeepSeek's reasoning through the gateway to a Gemini client", (it) => {
  for (const stream of [false, true]) {
    it.effect(
      `@google/genai generateContent${stream ? ", streamed" : ""}: a tool loop without thought parts on ` +
        `${deepSeek} sends each call's reasoning back`,
      () =>
        Effect.gen(function*() {
          const { clients } = yield* Fixture
          const answer = yield* Effect.promise(() =>
            geminiLoop(clients.google, { dropsThoughts: true, on: deepSeek })(stream)
          )
          expect(answer).toMatch(/The tool returned .*sunny/)
        })
    )
  }
})
