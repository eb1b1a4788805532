/**
 * The gateway's `/v1/messages` as coding agents (Claude Code) use it, with the official `@anthropic-ai/sdk` over
 * loopback: a system message mid-conversation, the fields and beta headers they send, `count_tokens`, and prompt
 * caching (`cache_control` carried to an Anthropic deployment, its cache reads and writes reported).
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
import { type Recorder, recorder } from "../utils/cliHarness.js"
import { rejection, type Served } from "../utils/gatewayHarness.js"

const key = "sk-gateway-agents-key-01"
// The gateway's keys: the agent's, for every model, and one for the OpenAI chat deployment only.
const agentKey = "sk-gw-agent-key-000001"
const chatOnlyKey = "sk-gw-chat-only-key-0001"

// The recorder in front of the simulator (set by the fixture): what each provider was sent.
let recorded: Recorder

class Fixture extends Context.Service<Fixture, Served<Anthropic>>()("test/GatewayAnthropicAgentsFixture") {}

// An Anthropic deployment of `model` at `baseUrl`, its provider sent `headers`.
const claude = (baseUrl: string, headers?: Record<string, string>, model = "claude-sim") => [{
  model_name: model,
  api: "anthropic",
  base_url: baseUrl,
  api_keys: [key],
  max_retries: 0,
  ...(headers === undefined ? {} : { headers })
}]

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [key],
      replyTokens: 8,
      models: [...Simulator.defaultModels, "claude-sim", "claude-opus-4-8", "claude-sonnet-5-1", "deepseek-reasoner"]
    })
    recorded = yield* recorder(simulator.url)
    const config = yield* ProviderConfig.fromJson({
      // An OpenAI chat deployment and an Anthropic one, each through the recorder.
      chat: [{ model_name: "gpt-4o-mini", base_url: recorded.baseUrl, api_keys: [key], max_retries: 0 }],
      // DeepSeek's thinking model, whose plain `reasoning_content` it wants back on each tool-call turn.
      deepseek: [{ model_name: "deepseek-reasoner", base_url: recorded.baseUrl, api_keys: [key], max_retries: 0 }],
      claude: claude(recorded.baseUrl),
      // A model that takes a system message among the messages.
      opus: claude(recorded.baseUrl, undefined, "claude-opus-4-8"),
      // A model whose thinking is bound to the conversation's prefix.
      bound: claude(recorded.baseUrl, undefined, "claude-sonnet-5-1"),
      // An Anthropic deployment whose provider reports cache reads and writes.
      cached: claude(simulator.url, { "x-simulator-cached-tokens": "40", "x-simulator-cache-write-tokens": "25" }),
      down: claude(simulator.url, { "x-simulator-fault": "status=503;retry-after=none" })
    })
    const gateway = yield* Gateway.make({
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      keys: [
        { name: "agent", key: Redacted.make(agentKey) },
        { name: "chat-only", key: Redacted.make(chatOnlyKey), models: ["chat/gpt-4o-mini"] }
      ]
    })
    const client = new Anthropic({ baseURL: gateway.url, apiKey: agentKey, maxRetries: 0 })
    return { gateway, simulator, client }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

type Params = Anthropic.MessageCreateParamsNonStreaming
type Body = Record<string, unknown>

// The bodies recorded since `before` that went to `path`.
const sentTo = (path: string, before: number): ReadonlyArray<Body> =>
  recorded.bodies.slice(before).filter((_, i) => recorded.paths[before + i] === path)

// A conversation whose instructions change mid-way, with a system message after the assistant's turn.
const midConversation = (model: string): Params => ({
  model,
  max_tokens: 256,
  system: "You are terse.",
  messages: [
    { role: "user", content: "Name a colour." },
    { role: "assistant", content: "Blue." },
    { role: "system", content: "From now on, answer in French." },
    { role: "user", content: "Another one?" }
  ]
})

// A message's whole text, streamed (`client.messages.stream`) or not.
const reply = (client: Anthropic, params: Params, streamed: boolean) =>
  promise(() => streamed ? client.messages.stream(params).finalMessage() : client.messages.create(params))

// A call of `model` with its thinking on and one tool, `lookup`, to call.
const thinkingLookup = (model: string) => ({
  model,
  max_tokens: 4096,
  thinking: { type: "enabled" as const, budget_tokens: 2048 },
  tools: [{ name: "lookup", description: "Looks it up.", input_schema: { type: "object" as const } }]
})

const longText = "The gateway keeps a long, stable prefix for the provider's prompt cache. ".repeat(8)

// The Anthropic error object of an APIError (`{type: "error", error: {type, message}}`).
const errorObject = (error: unknown) =>
  (error as { readonly error: { readonly error: { readonly type: string; readonly message: string } } }).error.error

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1/messages for coding agents, with the official @anthropic-ai/sdk",
  (it) => {
    it.effect("a system message mid-conversation stays in place for an OpenAI chat deployment, streamed and not", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const streamed of [false, true]) {
          const before = recorded.bodies.length
          const answer = yield* reply(client, midConversation("chat/gpt-4o-mini"), streamed)
          expect(answer.stop_reason).toBe("end_turn")
          const [sent] = sentTo("/v1/chat/completions", before)
          expect(sent!["messages"]).toEqual([
            { role: "system", content: "You are terse." },
            { role: "user", content: "Name a colour." },
            { role: "assistant", content: "Blue." },
            { role: "system", content: "From now on, answer in French." },
            { role: "user", content: "Another one?" }
          ])
        }
      }))

    it.effect("a mid-conversation system message joins the system of a model without them, streamed and not", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const streamed of [false, true]) {
          const before = recorded.bodies.length
          const answer = yield* reply(client, midConversation("claude/claude-sim"), streamed)
          expect(answer.stop_reason).toBe("end_turn")
          const [sent] = sentTo("/v1/messages", before)
          expect(sent!["system"]).toEqual([
            { type: "text", text: "You are terse." },
            { type: "text", text: "From now on, answer in French." }
          ])
          expect((sent!["messages"] as ReadonlyArray<Body>).map((message) => message["role"])).toEqual([
            "user",
            "assistant",
            "user"
          ])
        }
      }))

    it.effect("a model that takes mid-conversation system messages gets one in its place where the API allows it", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const roles = (body: Body | undefined) =>
          (body!["messages"] as ReadonlyArray<Body>).map((message) => message["role"])
        // Right after a user message, and last: in its place, streamed and not.
        const last: Params = {
          ...midConversation("opus/claude-opus-4-8"),
          messages: [{ role: "user", content: "Name a colour." }, {
            role: "system",
            content: "From now on, answer in French."
          }]
        }
        for (const streamed of [false, true]) {
          const before = recorded.bodies.length
          expect((yield* reply(client, last, streamed)).stop_reason).toBe("end_turn")
          const [sent] = sentTo("/v1/messages", before)
          expect(sent!["system"]).toBe("You are terse.")
          expect(sent!["messages"]).toEqual([
            { role: "user", content: "Name a colour." },
            { role: "system", content: "From now on, answer in French." }
          ])
        }
        // After an assistant message the API refuses one: it joins the top-level system.
        const before = recorded.bodies.length
        yield* reply(client, midConversation("opus/claude-opus-4-8"), false)
        const [sent] = sentTo("/v1/messages", before)
        expect(roles(sent)).toEqual(["user", "assistant", "user"])
        expect(sent!["system"]).toEqual([
          { type: "text", text: "You are terse." },
          { type: "text", text: "From now on, answer in French." }
        ])
      }))

    it.effect(
      "Claude Code's tool search (deferred tools, a ToolSearch result's tool_reference blocks) reaches an Anthropic " +
        "deployment as sent, with its beta header, and a chat deployment as the loaded tools and a line naming them",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const schema = { type: "object", properties: {} }
          // As Claude Code 2.1.332 sends it: its placeholder and the tool the search loaded both deferred.
          const tools = [
            { name: "ToolSearch", description: "Fetches deferred tools.", input_schema: schema },
            { name: "Read", description: "Reads a file.", input_schema: schema, cache_control: { type: "ephemeral" } },
            { name: "TaskList", description: "Lists tasks.", input_schema: schema, defer_loading: true },
            { name: "DeferredToolPlaceholder", description: "Never call.", input_schema: schema, defer_loading: true }
          ]
          const messages = [
            { role: "user", content: "List the tasks." },
            {
              role: "assistant",
              content: [{ type: "tool_use", id: "toolu_01", name: "ToolSearch", input: { query: "select:TaskList" } }]
            },
            {
              role: "user",
              content: [
                {
                  type: "tool_result",
                  tool_use_id: "toolu_01",
                  content: [{ type: "tool_reference", tool_name: "TaskList" }]
                },
                { type: "text", text: "Tool loaded." }
              ]
            }
          ]
          const params = { max_tokens: 256, tools, messages } as unknown as Omit<Params, "model">
          const before = recorded.bodies.length
          expect((yield* reply(client, { ...params, model: "claude/claude-sim" }, true)).stop_reason).toBe("end_turn")
          const [claude] = sentTo("/v1/messages", before)
          expect(claude!["tools"]).toEqual(tools)
          expect((claude!["messages"] as ReadonlyArray<Body>)[2]).toEqual(messages[2])
          const chatBefore = recorded.bodies.length
          expect((yield* reply(client, { ...params, model: "chat/gpt-4o-mini" }, false)).stop_reason).toBe("end_turn")
          const [chat] = sentTo("/v1/chat/completions", chatBefore)
          expect((chat!["tools"] as ReadonlyArray<{ function: { name: string } }>).map((tool) => tool.function.name))
            .toEqual(["ToolSearch", "Read", "TaskList"])
          expect((chat!["messages"] as ReadonlyArray<Body>).slice(2)).toEqual([
            { role: "tool", tool_call_id: "toolu_01", content: "Loaded tools: TaskList" },
            { role: "user", content: [{ type: "text", text: "Tool loaded." }] }
          ])
        })
    )

    it.effect(
      "thinking bound to the prefix (Claude 5.1): a tool loop sends it back as it came; a system message the " +
        "gateway joins to the top-level system changes its prefix, and the call asks for it dropped, not refused",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const base = thinkingLookup("bound/claude-sonnet-5-1")
          const first = yield* promise(() =>
            client.messages.create({ ...base, messages: [{ role: "user", content: "Look it up with lookup." }] })
          )
          expect(first.content.map((block) => block.type)).toEqual(["thinking", "tool_use"])
          const call = first.content[1] as Anthropic.ToolUseBlock
          const history: Array<Anthropic.MessageParam> = [
            { role: "user", content: "Look it up with lookup." },
            { role: "assistant", content: first.content as Array<Anthropic.ContentBlockParam> },
            { role: "user", content: [{ type: "tool_result", tool_use_id: call.id, content: "found" }] }
          ]
          const thinkingSent = (before: number) => sentTo("/v1/messages", before)[0]!["thinking"]
          // The prefix as it was: the thinking goes back unchanged, and nothing is asked of the binding.
          let before = recorded.bodies.length
          expect((yield* promise(() => client.messages.create({ ...base, messages: history }))).stop_reason)
            .toBe("end_turn")
          expect(thinkingSent(before)).toEqual({ type: "enabled", budget_tokens: 2048 })
          // A system message after the turn: joined to the top-level system, it changes the thinking's prefix.
          before = recorded.bodies.length
          const changed = [...history, { role: "system", content: "Answer in French." }] as Array<
            Anthropic.MessageParam
          >
          expect((yield* promise(() => client.messages.create({ ...base, messages: changed }))).stop_reason)
            .toBe("end_turn")
          expect(sentTo("/v1/messages", before)[0]!["system"]).toBe("Answer in French.")
          expect(thinkingSent(before)).toEqual({
            type: "enabled",
            budget_tokens: 2048,
            block_binding: { prefix_mismatch_behavior: "drop_block" }
          })
        })
    )

    it.effect(
      "DeepSeek's reasoning, streamed unsigned, goes back to it from a client that sends back only signed thinking " +
        "(the AI SDK's Anthropic provider, opencode's): the reply's carrier block holds it",
      () =>
        Effect.gen(function*() {
          const { client } = yield* Fixture
          const base = thinkingLookup("deepseek/deepseek-reasoner")
          const prompt = { role: "user" as const, content: "Look it up with lookup." }
          const first = yield* promise(() => client.messages.stream({ ...base, messages: [prompt] }).finalMessage())
          const thought = first.content.find((block) => block.type === "thinking" && block.thinking !== "")
          const call = first.content.find((block) => block.type === "tool_use")
          expect(thought, JSON.stringify(first.content)).toBeDefined()
          expect(call).toBeDefined()
          // As the AI SDK sends a reply back: a streamed thinking block that no `signature_delta` closed is left out.
          const signedOnly = first.content.filter((block) => block.type !== "thinking" || block.signature !== "")
          expect(signedOnly.some((block) => block.type === "thinking")).toBe(true)
          const before = recorded.bodies.length
          const second = yield* promise(() =>
            client.messages.create({
              ...base,
              messages: [
                prompt,
                { role: "assistant", content: signedOnly as Array<Anthropic.ContentBlockParam> },
                {
                  role: "user",
                  content: [{ type: "tool_result", tool_use_id: (call as Anthropic.ToolUseBlock).id, content: "found" }]
                }
              ]
            })
          )
          expect(second.stop_reason).toBe("end_turn")
          const [sent] = sentTo("/v1/chat/completions", before)
          expect((sent!["messages"] as ReadonlyArray<Body>)[1]).toMatchObject({
            role: "assistant",
            reasoning_content: (thought as Anthropic.ThinkingBlock).thinking
          })
        })
    )

    it.effect("Claude Code's fields and beta headers are taken: effort and user carried, the rest left out", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const before = recorded.bodies.length
        const params = {
          model: "claude/claude-sim",
          max_tokens: 32_000,
          messages: [{ role: "user", content: "Plan the refactor." }],
          thinking: { type: "adaptive" },
          output_config: { effort: "high" },
          context_management: { edits: [{ type: "clear_tool_uses_20250919" }] },
          metadata: { user_id: "user_0f3a_session_42" }
        } as unknown as Params
        const headers = { "anthropic-beta": "context-management-2025-06-27,interleaved-thinking-2025-05-14" }
        // Streamed, as Claude Code asks (the SDK refuses a whole reply this long).
        const answer = yield* promise(() => client.messages.stream(params, { headers }).finalMessage())
        expect(answer.content.some((block) => block.type === "thinking")).toBe(true)
        const [sent] = sentTo("/v1/messages", before)
        expect(sent!["thinking"]).toEqual({ type: "enabled", budget_tokens: 16_384 })
        expect(sent!["metadata"]).toEqual({ user_id: "user_0f3a_session_42" })
        expect(sent!["context_management"]).toBeUndefined()
      }))

    it.effect("count_tokens over an Anthropic deployment is its provider's count, as the reply's input tokens", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const prompt = {
          model: "claude/claude-sim",
          system: "You review Go code.",
          messages: [{ role: "user" as const, content: longText }]
        }
        const before = recorded.bodies.length
        const counted = yield* promise(() => client.messages.countTokens(prompt))
        const [sent] = sentTo("/v1/messages/count_tokens", before)
        expect(sent).toEqual({
          model: "claude-sim",
          system: "You review Go code.",
          messages: [{ role: "user", content: longText }]
        })
        const answer = yield* promise(() => client.messages.create({ ...prompt, max_tokens: 64 }))
        expect(counted.input_tokens).toBeGreaterThan(100)
        expect(counted.input_tokens).toBe(answer.usage.input_tokens)
      }))

    it.effect("count_tokens over an OpenAI chat deployment is counted locally: no call, more for a longer prompt", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const before = recorded.bodies.length
        const short = yield* promise(() =>
          client.messages.countTokens({ model: "chat/gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
        )
        const long = yield* promise(() =>
          client.messages.countTokens({ model: "chat/gpt-4o-mini", messages: [{ role: "user", content: longText }] })
        )
        expect(recorded.bodies.length).toBe(before)
        expect(short.input_tokens).toBeGreaterThan(0)
        expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 100)
      }))

    it.effect("a count that cannot be made is an error in Anthropic's shape, never a number", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const messages = [{ role: "user" as const, content: "Hi" }]
        const down = yield* rejection(() => client.messages.countTokens({ model: "down/claude-sim", messages }))
        expect(down).toBeInstanceOf(Anthropic.APIError)
        expect((down as InstanceType<typeof Anthropic.APIError>).status).toBe(529)
        expect(errorObject(down).type).toBe("overloaded_error")
        const unknown = yield* rejection(() => client.messages.countTokens({ model: "no-such-model", messages }))
        expect(unknown).toBeInstanceOf(Anthropic.NotFoundError)
        expect(errorObject(unknown).type).toBe("not_found_error")
        const bad = yield* rejection(() =>
          client.messages.countTokens({ model: "claude/claude-sim", messages: [{ role: "user", content: 7 }] } as never)
        )
        expect(bad).toBeInstanceOf(Anthropic.BadRequestError)
        expect(errorObject(bad).message).toMatch(/^messages\.0\.content/)
      }))

    it.effect("count_tokens takes the gateway keys as /v1/messages does: 401 for a stranger, 403 off its models", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const count = (apiKey: string, model: string) =>
          rejection(() =>
            new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0 }).messages.countTokens({
              model,
              messages: [{ role: "user", content: "Hi" }]
            })
          )
        const missing = yield* count("sk-not-a-gateway-key-0001", "claude/claude-sim")
        expect(missing).toBeInstanceOf(Anthropic.AuthenticationError)
        expect(errorObject(missing).type).toBe("authentication_error")
        const elsewhere = yield* count(chatOnlyKey, "claude/claude-sim")
        expect(elsewhere).toBeInstanceOf(Anthropic.PermissionDeniedError)
        expect(errorObject(elsewhere).type).toBe("permission_error")
        expect(yield* count(chatOnlyKey, "chat/gpt-4o-mini")).toBeUndefined()
      }))

    it.effect("cache_control on system, tools and message blocks reaches an Anthropic deployment, with its TTL", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const hour = { type: "ephemeral", ttl: "1h" } as const
        const ephemeral = { type: "ephemeral" } as const
        const before = recorded.bodies.length
        yield* promise(() =>
          client.messages.create({
            model: "claude/claude-sim",
            max_tokens: 256,
            system: [{ type: "text", text: "You answer weather questions.", cache_control: hour }],
            tools: [{
              name: "get_weather",
              input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
              // The hour's breakpoints first: the API takes none after a shorter one (tools, system, messages).
              cache_control: hour
            }],
            messages: [
              // Four breakpoints, the most the API takes.
              { role: "user", content: [{ type: "text", text: "Weather in Paris?" }] },
              {
                role: "assistant",
                content: [
                  { type: "text", text: "Let me look.", cache_control: ephemeral },
                  { type: "tool_use", id: "toolu_01", name: "get_weather", input: { city: "Paris" } }
                ]
              },
              {
                role: "user",
                content: [{
                  type: "tool_result",
                  tool_use_id: "toolu_01",
                  content: "Sunny, 21 C",
                  cache_control: { type: "ephemeral", ttl: "5m" }
                }]
              }
            ]
          })
        )
        const [sent] = sentTo("/v1/messages", before)
        expect(sent!["system"]).toEqual([{ type: "text", text: "You answer weather questions.", cache_control: hour }])
        expect((sent!["tools"] as ReadonlyArray<Body>)[0]!["cache_control"]).toEqual(hour)
        const messages = sent!["messages"] as ReadonlyArray<{ readonly content: ReadonlyArray<Body> }>
        expect(messages[0]!.content).toEqual([{ type: "text", text: "Weather in Paris?" }])
        // An assistant turn's breakpoint is on its last block.
        expect(messages[1]!.content.at(-1)).toMatchObject({ type: "tool_use", cache_control: ephemeral })
        expect(messages[2]!.content).toEqual([{
          type: "tool_result",
          tool_use_id: "toolu_01",
          content: "Sunny, 21 C",
          cache_control: { type: "ephemeral", ttl: "5m" }
        }])
      }))

    it.effect("the deployment's cache reads and writes are reported in the usage, streamed and not", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const params = (model: string): Params => ({
          model,
          max_tokens: 64,
          messages: [{ role: "user", content: longText }]
        })
        const plain = yield* reply(client, params("claude/claude-sim"), false)
        for (const streamed of [false, true]) {
          const { usage } = yield* reply(client, params("cached/claude-sim"), streamed)
          expect(usage.cache_read_input_tokens).toBe(40)
          expect(usage.cache_creation_input_tokens).toBe(25)
          expect(usage.input_tokens).toBe(plain.usage.input_tokens - 40 - 25)
        }
      }))
  }
)
