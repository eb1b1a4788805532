/**
 * A coding agent's tool loop through the gateway's `/v1/messages` (as Claude Code runs it: thinking on, tools, the
 * reply sent back as the client got it, then the tool's result), with the official `@anthropic-ai/sdk` over loopback,
 * streamed and not, against the simulator behind an Anthropic, a Gemini and an OpenAI chat deployment. What a
 * provider needs back in the next turn (Anthropic's signed thinking, Gemini's thought signature on a call) goes
 * through the client in the gateway's carrier block, so the turn after the tool's result is answered.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"

const key = "sk-gateway-tool-loop-01"
const gatewayKey = "sk-gw-tool-loop-key-0001"

class Fixture extends Context.Service<Fixture, Anthropic>()("test/GatewayAnthropicToolLoopFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [key],
      replyTokens: 6,
      models: [...Simulator.defaultModels, "claude-sim", "gemini-sim"]
    })
    const deployment = (model: string, api: string, baseUrl: string) => [{
      model_name: model,
      api,
      base_url: baseUrl,
      api_keys: [key],
      max_retries: 0
    }]
    const config = yield* ProviderConfig.fromJson({
      claude: deployment("claude-sim", "anthropic", simulator.url),
      google: deployment("gemini-sim", "gemini", simulator.url),
      chat: deployment("gpt-4o-mini", "chat-completions", `${simulator.url}/v1`)
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      keys: [{ name: "agent", key: Redacted.make(gatewayKey) }]
    })
    return new Anthropic({ baseURL: gateway.url, apiKey: gatewayKey, maxRetries: 0 })
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const bash: Anthropic.Tool = {
  name: "Bash",
  input_schema: { type: "object", properties: { command: { type: "string" } }, required: ["command"] }
}

const request = (
  model: string,
  messages: Array<Anthropic.MessageParam>
): Anthropic.MessageCreateParamsNonStreaming => ({
  model,
  max_tokens: 4096,
  thinking: { type: "adaptive" } as unknown as Anthropic.ThinkingConfigParam,
  tools: [bash],
  messages
})

const ask = (client: Anthropic, params: Anthropic.MessageCreateParamsNonStreaming, streamed: boolean) =>
  promise(() => streamed ? client.messages.stream(params).finalMessage() : client.messages.create(params))

// A reply's blocks as a client sends them back: the fields it got, as parameters.
const sentBack = (content: ReadonlyArray<Anthropic.ContentBlock>): Array<Anthropic.ContentBlockParam> =>
  content.flatMap((block): Array<Anthropic.ContentBlockParam> => {
    switch (block.type) {
      case "text":
        return [{ type: "text", text: block.text }]
      case "thinking":
        return [{ type: "thinking", thinking: block.thinking, signature: block.signature }]
      case "tool_use":
        return [{ type: "tool_use", id: block.id, name: block.name, input: block.input }]
      default:
        return []
    }
  })

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1/messages: a coding agent's tool loop, with the official @anthropic-ai/sdk",
  (it) => {
    for (const model of ["claude/claude-sim", "google/gemini-sim", "chat/gpt-4o-mini"]) {
      for (const streamed of [false, true]) {
        it.effect(`${model}, ${streamed ? "streamed" : "whole"}: the tool's result is answered in text`, () =>
          Effect.gen(function*() {
            const client = yield* Fixture
            const user: Anthropic.MessageParam = { role: "user", content: "List the files with the Bash tool." }
            const first = yield* ask(client, request(model, [user]), streamed)
            expect(first.stop_reason).toBe("tool_use")
            const use = first.content.find((block) => block.type === "tool_use")!
            expect(use).toMatchObject({ name: "Bash", input: { command: "sim" } })
            const second = yield* ask(
              client,
              request(model, [
                user,
                { role: "assistant", content: sentBack(first.content) },
                { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "a.txt b.md" }] }
              ]),
              streamed
            )
            expect(second.stop_reason).toBe("end_turn")
            const text = second.content.flatMap((block) => (block.type === "text" ? [block.text] : [])).join("")
            expect(text).toMatch(/^The tool returned a\.txt b\.md/)
          }))
      }
    }

    it.effect("the carrier: a last thinking block, empty, its signature the gateway's envelope, streamed as a delta", () =>
      Effect.gen(function*() {
        const client = yield* Fixture
        const user: Anthropic.MessageParam = { role: "user", content: "List the files with the Bash tool." }
        for (const model of ["claude/claude-sim", "google/gemini-sim"]) {
          const streamed = yield* ask(client, request(model, [user]), true)
          expect(streamed.content.at(-1)).toEqual({
            type: "thinking",
            thinking: "",
            signature: expect.stringMatching(/^gw1\./)
          })
        }
        // A reply without a tool call ends the turn: nothing is carried, its text is its last block.
        const answer = yield* ask(client, { ...request("claude/claude-sim", [user]), tools: [] }, true)
        expect(answer.content.at(-1)?.type).toBe("text")
        // An OpenAI chat deployment needs nothing back.
        const chat = yield* ask(client, request("chat/gpt-4o-mini", [user]), true)
        expect(chat.content.some((block) => block.type === "thinking" && block.signature !== "")).toBe(false)
      }))
  }
)
