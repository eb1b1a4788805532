/**
 * Coding agents' tool loops through the gateway, as they run them (reasoning on, tools, the reply sent back as the
 * client got it, then the tool's result), with the official clients over loopback: `@anthropic-ai/sdk` on
 * `/v1/messages` (Claude Code), `openai` on `/v1/chat/completions` (opencode) and `/v1/responses` (Codex), streamed
 * and not, each against the simulator behind an Anthropic, a Gemini, an OpenAI chat, a Responses and an Ollama
 * deployment. What a provider needs back in the next turn (Anthropic's signed thinking, Gemini's thought signature
 * on a call) comes back through the client, or the provider is sent what its API takes without it.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import { opened } from "../../src/internal/wire/carried.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { sentBack } from "../utils/anthropicBlocks.js"

const key = "sk-gateway-tool-loop-01"
const gatewayKey = "sk-gw-tool-loop-key-0001"

class Fixture extends Context.Service<Fixture, {
  readonly anthropic: Anthropic
  readonly openai: OpenAI
}>()("test/GatewayToolLoopsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 6 })
    const deployment = (api: string, baseUrl: string) => [{
      model_name: "gpt-4o-mini",
      api,
      base_url: baseUrl,
      api_keys: [key],
      max_retries: 0
    }]
    const config = yield* ProviderConfig.fromJson({
      claude: deployment("anthropic", simulator.url),
      google: deployment("gemini", simulator.url),
      chat: deployment("chat-completions", `${simulator.url}/v1`),
      resp: deployment("responses", `${simulator.url}/v1`),
      ollama: deployment("ollama", simulator.url)
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      keys: [{ name: "agent", key: Redacted.make(gatewayKey) }]
    })
    return {
      anthropic: new Anthropic({ baseURL: gateway.url, apiKey: gatewayKey, maxRetries: 0 }),
      openai: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: gatewayKey, maxRetries: 0 })
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const deployments = ["claude", "google", "chat", "resp", "ollama"].map((name) => `${name}/gpt-4o-mini`)

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const prompt = "List the files with the Bash tool."
const toolOutput = "a.txt b.md"
const parameters = { type: "object", properties: { command: { type: "string" } }, required: ["command"] }

/** A tool loop in one client's API: the first turn's call (its input parsed), then the answer to its result. */
interface Loop {
  readonly name: string
  readonly run: (
    clients: Fixture["Service"],
    model: string,
    streamed: boolean
  ) => Promise<{ readonly call: unknown; readonly answer: string }>
}

const messagesRequest = (model: string, messages: Array<Anthropic.MessageParam>) => ({
  model,
  max_tokens: 4096,
  // Claude Code's thinking: the effort is the gateway's to choose.
  thinking: { type: "adaptive" } as unknown as Anthropic.ThinkingConfigParam,
  tools: [{ name: "Bash", input_schema: parameters as Anthropic.Tool.InputSchema }],
  messages
})

const messages: Loop = {
  name: "@anthropic-ai/sdk messages",
  run: async ({ anthropic }, model, streamed) => {
    const ask = (body: Anthropic.MessageCreateParamsNonStreaming) =>
      streamed ? anthropic.messages.stream(body).finalMessage() : anthropic.messages.create(body)
    const user: Anthropic.MessageParam = { role: "user", content: prompt }
    const first = await ask(messagesRequest(model, [user]))
    const use = first.content.find((block) => block.type === "tool_use")!
    const second = await ask(messagesRequest(model, [
      user,
      { role: "assistant", content: sentBack(first.content) },
      { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: toolOutput }] }
    ]))
    const answer = second.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("")
    return { call: use.input, answer }
  }
}

const chatCompletions: Loop = {
  name: "openai chat completions",
  run: async ({ openai }, model, streamed) => {
    const tools: Array<OpenAI.Chat.ChatCompletionTool> = [{ type: "function", function: { name: "Bash", parameters } }]
    const ask = async (history: Array<OpenAI.Chat.ChatCompletionMessageParam>) => {
      const body = { model, messages: history, tools, reasoning_effort: "medium" as const }
      if (!streamed) return (await openai.chat.completions.create(body)).choices[0]!.message
      const stream = openai.chat.completions.stream({ ...body, stream: true })
      return (await stream.finalChatCompletion()).choices[0]!.message
    }
    const user: OpenAI.Chat.ChatCompletionMessageParam = { role: "user", content: prompt }
    const first = await ask([user])
    const call = first.tool_calls![0]!
    if (call.type !== "function") throw new Error(`a ${call.type} tool call`)
    const second = await ask([
      user,
      { role: "assistant", content: first.content, tool_calls: first.tool_calls! },
      { role: "tool", tool_call_id: call.id, content: toolOutput }
    ])
    return { call: JSON.parse(call.function.arguments), answer: second.content ?? "" }
  }
}

const responses: Loop = {
  name: "openai responses",
  run: async ({ openai }, model, streamed) => {
    const ask = async (input: Array<OpenAI.Responses.ResponseInputItem>) => {
      const body = {
        model,
        input,
        store: false,
        reasoning: { effort: "medium" as const },
        include: ["reasoning.encrypted_content" as const],
        tools: [{ type: "function" as const, name: "Bash", parameters, strict: false }]
      }
      return streamed
        ? await openai.responses.stream(body).finalResponse()
        : await openai.responses.create(body)
    }
    const user: OpenAI.Responses.ResponseInputItem = { role: "user", content: prompt }
    const first = await ask([user])
    const call = first.output.find((item) => item.type === "function_call") as OpenAI.Responses.ResponseFunctionToolCall
    // Every output item goes back, as Codex sends them (its reasoning items included).
    const second = await ask([
      user,
      ...(first.output as Array<OpenAI.Responses.ResponseInputItem>),
      { type: "function_call_output", call_id: call.call_id, output: toolOutput }
    ])
    return { call: JSON.parse(call.arguments), answer: second.output_text }
  }
}

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway: coding agents' tool loops, each official client against each API behind",
  (it) => {
    for (const loop of [messages, chatCompletions, responses]) {
      for (const model of deployments) {
        for (const streamed of [false, true]) {
          it.effect(`${loop.name} -> ${model}, ${streamed ? "streamed" : "whole"}: the result is answered in text`, () =>
            Effect.gen(function*() {
              const clients = yield* Fixture
              const { answer, call } = yield* promise(() => loop.run(clients, model, streamed))
              expect(call).toEqual({ command: "sim" })
              expect(answer).toMatch(/^The tool returned a\.txt b\.md/)
            }))
        }
      }
    }

    it.effect("messages: the carrier is a last thinking block, empty, its signature the gateway's, streamed too", () =>
      Effect.gen(function*() {
        const { anthropic } = yield* Fixture
        const user: Anthropic.MessageParam = { role: "user", content: prompt }
        const ask = (body: Anthropic.MessageCreateParamsNonStreaming) => anthropic.messages.stream(body).finalMessage()
        for (const model of ["claude/gpt-4o-mini", "google/gpt-4o-mini"]) {
          const reply = yield* promise(() => ask(messagesRequest(model, [user])))
          expect(reply.content.at(-1)).toEqual({
            type: "thinking",
            thinking: "",
            signature: expect.stringMatching(/^gw1\./)
          })
        }
        // A reply without a tool call ends the turn: nothing is carried, its text is its last block.
        const answer = yield* promise(() => ask({ ...messagesRequest("claude/gpt-4o-mini", [user]), tools: [] }))
        expect(answer.content.at(-1)?.type).toBe("text")
        // An OpenAI chat deployment's reasoning went out unsigned: the carrier keeps only it (DeepSeek's API wants
        // its `reasoning_content` back in a tool loop; the AI SDK's Anthropic provider sends back signed blocks only).
        const chat = yield* promise(() => ask(messagesRequest("chat/gpt-4o-mini", [user])))
        const carrier = chat.content.at(-1)
        expect(carrier).toMatchObject({ type: "thinking", thinking: "", signature: expect.stringMatching(/^gw1\./) })
        const kept = opened(carrier?.type === "thinking" ? carrier.signature : undefined)
        expect(kept?.reasoning).toBeTruthy()
        expect(kept?.calls).toBeUndefined()
      }))
  }
)
