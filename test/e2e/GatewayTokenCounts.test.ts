/**
 * `POST /v1/messages/count_tokens` through the gateway with `@anthropic-ai/sdk`, as Claude Code asks it before deciding
 * to compact, over every backend dialect: the count of a tool loop's next request (tools, an image, a PDF where the
 * API takes one, the earlier turn's thinking and tool call sent back) is the prompt the simulator then bills for that
 * request. Exact where the backend has a counting endpoint (Anthropic's `count_tokens`, Gemini's `countTokens`,
 * Bedrock's `CountTokens`, the Responses API's `input_tokens`); for Chat Completions, which has none, the local
 * estimate, never below the billed prompt and above it by at most its markers (4 a message) and the tool definitions'
 * JSON keys.
 */
import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { sentBack } from "../utils/anthropicBlocks.js"
import { pdf, png } from "../utils/media.js"

const providerKey = "sk-gateway-counts-provider-01"
const clientKey = "sk-gateway-counts-client-0001"
const bedrockClaude = "anthropic.claude-sonnet-4-5-20250929-v1:0"

// The 1600 x 900 image's tokens by each API's documented rule. OpenAI's: its shortest side brought to 768 (1365 x 768),
// six 512-pixel tiles at 170 and 85. Anthropic's: a long edge of 1568 (1568 x 882), then 1,600 tokens at most (1460 x
// 821, / 750). Gemini's: six 768-pixel tiles at 258.
const openAiImage = 85 + 170 * 6
const anthropicImage = 1599
const geminiImage = 258 * 6
// A PDF's page at the simulator's rate (the Gemini API's figure).
const pdfPage = 258

/**
 * Each backend dialect's model; whether its API takes a PDF in a message, has a counting endpoint, and is sent the
 * request's thinking (Converse is sent no reasoning effort, so its replies have no thinking to send back).
 */
const backends = [
  { api: "chat-completions", model: "gpt-4o-mini", pdf: false, counts: false, thinks: true, image: openAiImage },
  { api: "responses", model: "gpt-4.1-mini", pdf: false, counts: true, thinks: true, image: openAiImage },
  { api: "anthropic", model: "claude-sonnet-4-5", pdf: true, counts: true, thinks: true, image: anthropicImage },
  { api: "gemini", model: "gemini-2.5-flash", pdf: true, counts: true, thinks: true, image: geminiImage },
  { api: "bedrock", model: bedrockClaude, pdf: true, counts: true, thinks: true, image: anthropicImage }
] as const

// The OpenAI APIs' base URL ends in `/v1`; the others' is the host.
const baseUrlOf = (simulator: Simulator.Simulator, api: string): string =>
  api === "chat-completions" || api === "responses" ? `${simulator.url}/v1` : simulator.url

class Fixture extends Context.Service<Fixture, {
  readonly anthropic: Anthropic
  readonly simulator: Simulator.Simulator
}>()("test/GatewayTokenCountsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      models: backends.map((backend) => backend.model)
    })
    // One provider a backend, its one model on the simulator.
    const config = yield* ProviderConfig.fromJson(Object.fromEntries(backends.map(({ api, model }) => [api, [{
      model_name: model,
      api,
      base_url: baseUrlOf(simulator, api),
      api_keys: [providerKey],
      max_retries: 0
    }]])))
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    return { anthropic: new Anthropic({ baseURL: gateway.url, apiKey: clientKey, maxRetries: 0 }), simulator }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const tools: Array<Anthropic.Tool> = [{
  name: "read_file",
  description: "Reads a file of the workspace and answers its text, with line numbers, for the model to quote.",
  input_schema: {
    type: "object",
    properties: { path: { type: "string", description: "The file's path, from the workspace's root" } },
    required: ["path"]
  }
}]

const system = "You review pull requests: read the files you need, then say what should change and why."

/** The first turn: a question with an image (1600 x 900) and, where the API reads one, a three-page PDF. */
const question = (withPdf: boolean): Anthropic.MessageParam => ({
  role: "user",
  content: [
    {
      type: "text",
      text: "What does this screenshot of the diff change, and is the design note right about it? Use read_file."
    },
    { type: "image", source: { type: "base64", media_type: "image/png", data: png(1600, 900).toString("base64") } },
    ...(withPdf
      ? [{
        type: "document" as const,
        source: { type: "base64" as const, media_type: "application/pdf" as const, data: pdf(3).toString("base64") }
      }]
      : [])
  ]
})

const thinking: Anthropic.ThinkingConfigParam = { type: "enabled", budget_tokens: 1024 }

/** A prompt's tokens as a reply's usage bills them: the uncached input, the cache's reads and writes. */
const billed = (usage: Anthropic.Usage): number =>
  usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0)

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway: count_tokens of a tool loop's request is the prompt each backend bills",
  (it) => {
    for (const backend of backends) {
      it.effect(`${backend.api}: ${backend.counts ? "the provider's count" : "the local estimate"}`, () =>
        Effect.gen(function*() {
          const { anthropic, simulator } = yield* Fixture
          const base = { model: backend.model, system, tools, thinking }
          const user = question(backend.pdf)
          const first = yield* promise(() => anthropic.messages.create({ ...base, max_tokens: 2048, messages: [user] }))
          const use = first.content.find((block) => block.type === "tool_use")!
          expect(first.content.some((block) => block.type === "thinking" && block.thinking !== "")).toBe(backend.thinks)
          const messages: Array<Anthropic.MessageParam> = [
            user,
            { role: "assistant", content: sentBack(first.content) },
            { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "1: # Design\n2: ..." }] }
          ]
          const before = (yield* simulator.stats).requests
          const counted = yield* promise(() => anthropic.messages.countTokens({ ...base, messages }))
          const asked = (yield* simulator.stats).requests - before
          const reply = yield* promise(() => anthropic.messages.create({ ...base, max_tokens: 2048, messages }))
          const prompt = billed(reply.usage)
          // The simulator bills every block: the image by its dimensions, the PDF's pages, the tool's definition.
          const described = tools[0]!.name.length + tools[0]!.description!.length
          expect(prompt).toBeGreaterThan(backend.image + (backend.pdf ? 3 * pdfPage : 0) + Math.ceil(described / 4))
          expect(asked).toBe(backend.counts ? 1 : 0)
          if (backend.counts) {
            expect(counted.input_tokens).toBe(prompt)
          } else {
            expect(counted.input_tokens).toBeGreaterThanOrEqual(prompt)
            // Each message's markers (the system's too), and the JSON keys and punctuation of each tool's definition
            // (`{"name":…,"description":…,"parameters":…}`), which the budgets' bound counts as sent.
            expect(counted.input_tokens - prompt).toBeLessThanOrEqual(4 * (messages.length + 1) + 16 * tools.length)
          }
        }))
    }
  }
)
