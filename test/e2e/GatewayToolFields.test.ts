/**
 * The request fields through the gateway: a valid request of each API the gateway takes (Chat Completions, Responses,
 * Anthropic Messages, Gemini), with tools present, empty or absent, every form of its tool choice, its parallel-calls
 * setting, empty stop lists, reasoning and an instruction not to call tools, and the fields a long session sends (a
 * service tier, a prompt cache key, cache hints, `store`, `include`, encrypted reasoning, empty `metadata`, Anthropic's
 * `context_management`), sampling fields and stop sequences to a Claude model or an OpenAI reasoning model (which
 * refuses them on OpenAI's APIs), and the empty contents its API takes (an empty message, an empty text part, an
 * assistant's `""` beside its calls, an empty final assistant turn), goes over loopback to a deployment of each API the
 * simulator speaks (Chat Completions,
 * Responses, Anthropic, Gemini, Bedrock, Ollama), streamed and whole, and each answers it: no translation makes a valid
 * request invalid by the target's rules, which the simulator holds. Where the request rules a tool call out (no tools,
 * a `none` choice, an instruction not to call tools under a choice that does not force one), no backend's reply calls
 * one. A proxy before the simulator keeps what each backend was sent: the tier as the target names it (or none where
 * it has none), the prompt cache key to the OpenAI APIs alone, the cache hints as Anthropic's `cache_control` and
 * Bedrock's `cachePoint` (docs/adapters.md, "Request fields on every wire").
 */
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fc from "fast-check"
import * as Gateway from "../../src/Gateway.js"
import { organization } from "../../src/internal/simulator/openAiResponses/organization.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { recordingProxy } from "../utils/recordingProxy.js"

// A model of the Claude family that refuses a temperature beside a top_p, which OpenAI's and Gemini's APIs take.
const model = "claude-sonnet-4-5"
// An OpenAI reasoning model, which refuses `stop` and a `temperature` or `top_p` but 1 (OpenAI's reasoning guide).
const reasoner = "gpt-5-mini"

class Fixture extends Context.Service<Fixture, {
  readonly gateway: string
  readonly simulator: string
  /** The bodies the backends were sent, in order. */
  readonly sent: ReadonlyArray<string>
}>()("test/GatewayToolFieldsFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      replyTokens: 4,
      reasoningTokens: 2,
      models: [...Simulator.defaultModels, model, reasoner],
      organization: simulatorOrganization
    })
    const proxy = yield* recordingProxy(simulator.url, "/")
    const deployment = (api: string, baseUrl: string) =>
      [model, reasoner].map((name) => ({
        model_name: name,
        api,
        base_url: baseUrl,
        api_keys: ["sk-tool-fields-0001"],
        max_retries: 0
      }))
    const config = yield* ProviderConfig.fromJson({
      chat: deployment("chat-completions", `${proxy.url}/v1`),
      resp: deployment("responses", `${proxy.url}/v1`),
      claude: deployment("anthropic", proxy.url),
      google: deployment("gemini", proxy.url),
      aws: deployment("bedrock", proxy.url),
      ollama: deployment("ollama", proxy.url)
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    return { gateway: gateway.url, simulator: simulator.url, sent: proxy.bodies }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const backends = ["chat", "resp", "claude", "google", "aws", "ollama"]

const shell = "zq_shell"
const read = "zq_read"
const parameters = { type: "object", properties: { command: { type: "string" } }, required: ["command"] }

/**
 * An empty content a client's API takes (docs/adapters.md, "Empty content"): an empty user message before the last
 * one, an empty text part before the last message's text, an assistant turn's `""` (beside its tool calls in a
 * history, else alone), a tool's empty output (in a history), an empty system message after the first, a final
 * assistant turn with no content (Anthropic's prefill, as `""` or `[]`).
 */
type Empty =
  | "none"
  | "userString"
  | "userPart"
  | "assistantString"
  | "toolString"
  | "systemString"
  | "prefillString"
  | "prefillArray"

/** What a generated request says about tools, whatever its API. */
interface ToolState {
  /** The model routed to: the Claude one, or an OpenAI reasoning model (`reasoner`). */
  readonly model: string
  readonly empty: Empty
  /** `absent`, `empty` (`[]`, or Gemini's declarations `[]`), a hosted tool alone (Responses' `web_search`), or two. */
  readonly tools: "absent" | "empty" | "hosted" | "offered"
  /** The choice: unset, `auto`, `none`, `required` (Anthropic's `any`, Gemini's `ANY`), or a named tool. */
  readonly choice: "unset" | "auto" | "none" | "required" | "named"
  /** Where an instruction not to call tools is, if anywhere. */
  readonly told: "nowhere" | "system" | "user"
  readonly reasoning: boolean
  readonly parallel: boolean | undefined
  readonly emptyStop: boolean
  /** Whether an earlier turn called a tool and got its result (with tools offered now or not, as in a compaction). */
  readonly history: boolean
  readonly fields: Fields
}

/** The fields besides the tools' that a request may carry, each where its API has it. */
interface Fields {
  /** The service tier asked for, as the dialect names it. */
  readonly tier: string | undefined
  /** A `prompt_cache_key` (Chat Completions, Responses). */
  readonly cacheKey: boolean
  /** `cache_control` on the system text and the last user text (Chat Completions, Anthropic). */
  readonly cacheHints: boolean
  /** `store` (Chat Completions, Responses; Responses asks for its reasoning encrypted when it is false). */
  readonly store: boolean | undefined
  /** An empty `metadata` (Chat Completions, Responses, Anthropic). */
  readonly emptyMetadata: boolean
  /** `context_management`: Anthropic's beta (clear old tool uses), the Responses API's server-side compaction. */
  readonly contextManagement: boolean
  /** A Responses deployment's encrypted reasoning item before the earlier turn's call (Responses, with history). */
  readonly encryptedReasoning: boolean
  /** A user message before the last one, two in a row (as Codex sends its environment before the prompt). */
  readonly twoUsers: boolean
  /** A temperature, within the dialect's range (Anthropic's up to 1, the others' up to 2). */
  readonly temperature: number | undefined
  /** A top_p beside it (Chat Completions, Responses, Gemini: Anthropic's newer models take one of the two). */
  readonly topP: number | undefined
  /** A reply's limit, from the dialect's least (the Responses API's 16, the others' 1). */
  readonly limit: number | undefined
  /** How many stop sequences, up to the dialect's most (Chat Completions' four, Gemini's five, Anthropic's any). */
  readonly stops: number
}

const plain: Fields = {
  tier: undefined,
  cacheKey: false,
  cacheHints: false,
  store: undefined,
  emptyMetadata: false,
  contextManagement: false,
  encryptedReasoning: false,
  twoUsers: false,
  temperature: undefined,
  topP: undefined,
  limit: undefined,
  stops: 0
}

const cacheKey = "zq-cache-key"
const environment = "<environment_context>cwd: /repo</environment_context>"
// A reasoning item's encrypted content as the simulator's organisation made it: the only kind OpenAI takes back.
const simulatorOrganization = "tool-fields"
const opaqueReasoning = organization(simulatorOrganization).seal("zq-opaque-reasoning")

/** The fields of a dialect: its tiers, temperatures and limits, each of `has` generated, the others left out. */
const fieldsOf = (
  ranges: {
    readonly tiers: ReadonlyArray<string>
    readonly temperatures: ReadonlyArray<number>
    readonly topPs: ReadonlyArray<number>
    readonly limits: ReadonlyArray<number>
    readonly stops: number
  },
  has: ReadonlyArray<Exclude<keyof Fields, "tier" | "twoUsers" | "temperature" | "topP" | "limit" | "stops">>
) =>
  fc.record({
    stops: fc.integer({ min: 0, max: ranges.stops }),
    temperature: fc.constantFrom(undefined, ...ranges.temperatures),
    topP: fc.constantFrom(undefined, ...ranges.topPs),
    limit: fc.constantFrom(undefined, ...ranges.limits),
    tier: fc.constantFrom(undefined, ...ranges.tiers),
    cacheKey: has.includes("cacheKey") ? fc.boolean() : fc.constant(false),
    cacheHints: has.includes("cacheHints") ? fc.boolean() : fc.constant(false),
    store: has.includes("store") ? fc.constantFrom(undefined, true, false) : fc.constant(undefined),
    emptyMetadata: has.includes("emptyMetadata") ? fc.boolean() : fc.constant(false),
    contextManagement: has.includes("contextManagement") ? fc.boolean() : fc.constant(false),
    encryptedReasoning: has.includes("encryptedReasoning") ? fc.boolean() : fc.constant(false),
    twoUsers: fc.boolean()
  })

const openAiTiers = ["auto", "default", "flex", "scale", "priority", "fast"]
const upToTwo = [0, 0.7, 1, 1.5, 2]

// An earlier turn's call and its result.
const earlier = "What is here?"
const called = { name: shell, arguments: "{\"command\":\"ls\"}" }
const output = "a.txt b.md"

const userText = (state: ToolState) =>
  state.told === "user" ? `List the files. Do NOT call any tools.` : `List the files with ${shell}.`

const systemText = (state: ToolState) => state.told === "system" ? "Respond with plain text only." : "Be brief."

/** Whether the request rules a tool call out: no tools, a `none` choice, or told not to under a choice that allows. */
const ruledOut = (state: ToolState) =>
  state.tools !== "offered" || state.choice === "none" ||
  (state.told !== "nowhere" && state.choice !== "required" && state.choice !== "named")

/** A dialect the gateway takes: its request, where it is sent, and the marker of a tool call in its reply. */
interface Dialect {
  readonly name: string
  /** The states a valid request of this API may be in. */
  readonly states: fc.Arbitrary<ToolState>
  readonly body: (state: ToolState, model: string, stream: boolean) => Record<string, unknown>
  readonly path: (model: string, stream: boolean) => string
  /** Text that a reply, whole or streamed, holds only when it calls a tool. */
  readonly callMarker: string
  /** Headers the request goes with besides its key (a beta it uses). */
  readonly headers?: Readonly<Record<string, string>>
  /** How many cache hints its body holds when it has them. */
  readonly hints: number
}

const states = (constraints: {
  readonly tools: ReadonlyArray<ToolState["tools"]>
  readonly choice: (tools: ToolState["tools"]) => ReadonlyArray<ToolState["choice"]>
  readonly parallel: (tools: ToolState["tools"], choice: ToolState["choice"]) => boolean
  readonly reasoning: (choice: ToolState["choice"]) => boolean
  readonly fields: fc.Arbitrary<Fields>
  /** The empty contents its API takes. */
  readonly empties: ReadonlyArray<Empty>
}): fc.Arbitrary<ToolState> =>
  fc.constantFrom(...constraints.tools).chain((tools) =>
    fc.constantFrom(...constraints.choice(tools)).chain((choice) =>
      fc.record({
        model: fc.constantFrom(model, reasoner),
        empty: fc.constantFrom<Empty>("none", ...constraints.empties),
        tools: fc.constant(tools),
        choice: fc.constant(choice),
        told: fc.constantFrom<ToolState["told"]>("nowhere", "system", "user"),
        reasoning: constraints.reasoning(choice) ? fc.boolean() : fc.constant(false),
        parallel: constraints.parallel(tools, choice)
          ? fc.constantFrom(true, false, undefined)
          : fc.constant(undefined),
        emptyStop: fc.boolean(),
        history: fc.boolean(),
        fields: constraints.fields
      })
    )
  )

const every: ReadonlyArray<ToolState["choice"]> = ["unset", "auto", "none", "required", "named"]

const openAiTools = [shell, read].map((name) => ({ type: "function", function: { name, parameters } }))

/** A text as a string, or as one text block with a cache hint when the request has them. */
const hinted = (state: ToolState, text: string) =>
  state.fields.cacheHints ? [{ type: "text", text, cache_control: { type: "ephemeral" } }] : text

/**
 * A text as a string, or with a cache hint on each of five parts when the request has them (OpenRouter's convention,
 * which puts no bound on them): with the system's, six, where Anthropic and Bedrock take four.
 */
const everyPartHinted = (state: ToolState, text: string) =>
  state.fields.cacheHints
    ? [...["Context", "More context", "Files", "Notes"], text].map((part) => ({
      type: "text",
      text: part,
      cache_control: { type: "ephemeral" }
    }))
    : text

/** The request's stop sequences under the dialect's `name`: `stops` of them, else an empty list or none. */
const stopsOf = (state: ToolState, name: string) =>
  state.fields.stops > 0
    ? { [name]: Array.from({ length: state.fields.stops }, (_, i) => `zq-stop-${i}`) }
    : state.emptyStop
    ? { [name]: [] }
    : {}

/** Whether the request goes to an OpenAI reasoning model, which takes no sampling field on OpenAI's APIs. */
const toReasoner = (state: ToolState) => state.model === reasoner

/** The fields Chat Completions and Responses share; no sampling to a reasoning model, which refuses it. */
const openAiFields = (state: ToolState) => {
  const fields = state.fields
  return {
    ...(fields.temperature === undefined || toReasoner(state) ? {} : { temperature: fields.temperature }),
    ...(fields.topP === undefined || toReasoner(state) ? {} : { top_p: fields.topP }),
    ...(fields.tier === undefined ? {} : { service_tier: fields.tier }),
    ...(fields.cacheKey ? { prompt_cache_key: cacheKey } : {}),
    ...(fields.store === undefined ? {} : { store: fields.store }),
    ...(fields.emptyMetadata ? { metadata: {} } : {})
  }
}

/** The last user message's content with an empty text part before it, when the request has one. */
const emptyPartFirst = (state: ToolState, content: string | ReadonlyArray<unknown>, type: string) =>
  state.empty !== "userPart"
    ? content
    : [{ type, text: "" }, ...(typeof content === "string" ? [{ type, text: content }] : content)]

/** A tool's output: none, when the request has an empty one. */
const outputOf = (state: ToolState) => state.empty === "toolString" ? "" : output

/** An empty system message after the first, when the request has one. */
const emptySystem = (state: ToolState, role: string) => state.empty === "systemString" ? [{ role, content: "" }] : []

/** An empty user message before the last one, when the request has one. */
const emptyUser = (state: ToolState) => state.empty === "userString" ? [{ role: "user", content: "" }] : []

/**
 * Chat Completions: no empty `tools` (OpenAI refuses one); without tools, a `none` choice at most; to a reasoning
 * model, no sampling field and its limit as `max_completion_tokens`.
 */
const chat: Dialect = {
  name: "Chat Completions",
  states: states({
    tools: ["absent", "offered"],
    choice: (tools) => tools === "offered" ? every : ["unset", "none"],
    parallel: (tools) => tools === "offered",
    reasoning: () => true,
    fields: fieldsOf({ tiers: openAiTiers, temperatures: upToTwo, topPs: [0.5, 1], limits: [1, 5, 100], stops: 4 }, [
      "cacheKey",
      "cacheHints",
      "store",
      "emptyMetadata"
    ]),
    empties: ["userString", "userPart", "assistantString", "toolString", "systemString"]
  }),
  body: (state, model, stream) => ({
    model,
    stream,
    messages: [
      { role: "system", content: hinted(state, systemText(state)) },
      ...emptySystem(state, "system"),
      ...(state.history
        ? [
          { role: "user", content: earlier },
          {
            role: "assistant",
            content: state.empty === "assistantString" ? "" : null,
            tool_calls: [{ id: "call_1", type: "function", function: called }]
          },
          { role: "tool", tool_call_id: "call_1", content: outputOf(state) }
        ]
        : state.empty === "assistantString"
        ? [{ role: "user", content: earlier }, { role: "assistant", content: "" }]
        : []),
      ...(state.fields.twoUsers ? [{ role: "user", content: environment }] : []),
      ...emptyUser(state),
      { role: "user", content: emptyPartFirst(state, everyPartHinted(state, userText(state)), "text") }
    ],
    ...openAiFields(state),
    ...(state.fields.limit === undefined
      ? {}
      : { [toReasoner(state) ? "max_completion_tokens" : "max_tokens"]: state.fields.limit }),
    ...(state.tools === "offered" ? { tools: openAiTools } : {}),
    ...(state.choice === "unset"
      ? {}
      : { tool_choice: state.choice === "named" ? { type: "function", function: { name: shell } } : state.choice }),
    ...(state.parallel === undefined ? {} : { parallel_tool_calls: state.parallel }),
    ...(state.reasoning ? { reasoning_effort: "medium" } : {}),
    ...(toReasoner(state) ? {} : stopsOf(state, "stop"))
  }),
  path: () => "/v1/chat/completions",
  callMarker: "\"tool_calls\"",
  hints: 6
}

/**
 * Responses: `tools: []` with any choice but a named one (Codex's compaction sends `[]` and `auto`), and a hosted tool
 * alone, which a deployment of another API is sent without (the gateway's `hosted_tools: "omit"`).
 */
const responses: Dialect = {
  name: "Responses",
  states: states({
    tools: ["absent", "empty", "hosted", "offered"],
    choice: (tools) => tools === "offered" ? every : ["unset", "auto", "none", "required"],
    parallel: () => true,
    reasoning: () => true,
    fields: fieldsOf({ tiers: openAiTiers, temperatures: upToTwo, topPs: [0.5, 1], limits: [16, 100], stops: 0 }, [
      "cacheKey",
      "store",
      "emptyMetadata",
      "encryptedReasoning",
      "contextManagement"
    ]),
    empties: ["userString", "userPart", "toolString", "systemString"]
  }),
  body: (state, model, stream) => ({
    model,
    stream,
    store: false,
    ...openAiFields(state),
    ...(state.fields.limit === undefined ? {} : { max_output_tokens: state.fields.limit }),
    // Without stored responses, a reasoning model's reasoning comes back encrypted for the next turn.
    ...(state.fields.store !== true && state.reasoning ? { include: ["reasoning.encrypted_content"] } : {}),
    // Server-side compaction (OpenAI's context management guide).
    ...(state.fields.contextManagement
      ? { context_management: [{ type: "compaction", compact_threshold: 200_000 }] }
      : {}),
    instructions: systemText(state),
    input: [
      ...emptySystem(state, "developer"),
      ...(state.history
        ? [
          { role: "user", content: earlier },
          ...(state.fields.encryptedReasoning
            ? [{ type: "reasoning", id: "rs_1", summary: [], encrypted_content: opaqueReasoning }]
            : []),
          { type: "function_call", call_id: "call_1", ...called },
          { type: "function_call_output", call_id: "call_1", output: outputOf(state) }
        ]
        : []),
      ...(state.fields.twoUsers ? [{ role: "user", content: environment }] : []),
      ...emptyUser(state),
      { role: "user", content: emptyPartFirst(state, userText(state), "input_text") }
    ],
    ...(state.tools === "absent" ? {} : { tools: responsesTools[state.tools] }),
    ...(state.choice === "unset"
      ? {}
      : { tool_choice: state.choice === "named" ? { type: "function", name: shell } : state.choice }),
    ...(state.parallel === undefined ? {} : { parallel_tool_calls: state.parallel }),
    ...(state.reasoning ? { reasoning: { effort: "medium" } } : {})
  }),
  path: () => "/v1/responses",
  callMarker: "\"function_call\"",
  hints: 0
}

const responsesTools = {
  empty: [],
  hosted: [{ type: "web_search" }],
  offered: [shell, read].map((name) => ({ type: "function", name, parameters }))
}

const anthropicChoice = (state: ToolState) => {
  const type = state.choice === "required" ? "any" : state.choice === "named" ? "tool" : state.choice
  return {
    type,
    ...(state.choice === "named" ? { name: shell } : {}),
    ...(state.parallel === undefined ? {} : { disable_parallel_tool_use: !state.parallel })
  }
}

/** An empty final assistant turn (a prefill of nothing), which Anthropic takes without thinking. */
const prefill = (state: ToolState) =>
  state.reasoning || (state.empty !== "prefillString" && state.empty !== "prefillArray")
    ? []
    : [{ role: "assistant", content: state.empty === "prefillString" ? "" : [] }]

/**
 * Anthropic Messages: a choice only with tools, `disable_parallel_tool_use` on a choice but `none`, thinking only
 * with a choice that does not force a tool (Anthropic refuses the rest).
 */
const messages: Dialect = {
  name: "Anthropic Messages",
  states: states({
    tools: ["absent", "empty", "offered"],
    choice: (tools) => tools === "offered" ? every : ["unset"],
    parallel: (tools, choice) => tools === "offered" && choice !== "unset" && choice !== "none",
    reasoning: (choice) => choice !== "required" && choice !== "named",
    fields: fieldsOf({ tiers: ["auto", "standard_only"], temperatures: [0, 0.7, 1], topPs: [], limits: [], stops: 6 }, [
      "cacheHints",
      "emptyMetadata",
      "contextManagement"
    ]),
    empties: ["prefillString", "prefillArray"]
  }),
  body: (state, model, stream) => ({
    model,
    stream,
    max_tokens: 2048,
    system: hinted(state, systemText(state)),
    ...(state.fields.tier === undefined ? {} : { service_tier: state.fields.tier }),
    // With thinking on, Anthropic takes a temperature of 1 alone.
    ...(state.fields.temperature === undefined || (state.reasoning && state.fields.temperature !== 1)
      ? {}
      : { temperature: state.fields.temperature }),
    ...(state.fields.emptyMetadata ? { metadata: {} } : {}),
    ...(state.fields.contextManagement
      ? { context_management: { edits: [{ type: "clear_tool_uses_20250919" }] } }
      : {}),
    messages: [
      ...(state.history
        ? [
          { role: "user", content: earlier },
          { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: shell, input: { command: "ls" } }] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: output }] }
        ]
        : []),
      ...(state.fields.twoUsers ? [{ role: "user", content: environment }] : []),
      { role: "user", content: hinted(state, userText(state)) },
      ...prefill(state)
    ],
    ...(state.tools === "absent"
      ? {}
      : { tools: state.tools === "empty" ? [] : [shell, read].map((name) => ({ name, input_schema: parameters })) }),
    ...(state.choice === "unset" ? {} : { tool_choice: anthropicChoice(state) }),
    ...(state.reasoning ? { thinking: { type: "enabled", budget_tokens: 1024 } } : {}),
    ...stopsOf(state, "stop_sequences")
  }),
  path: () => "/v1/messages",
  callMarker: "\"tool_use\"",
  headers: { "anthropic-beta": "context-management-2025-06-27" },
  hints: 2
}

const geminiModes: Readonly<Record<ToolState["choice"], string>> = {
  unset: "",
  auto: "AUTO",
  none: "NONE",
  required: "ANY",
  named: "ANY"
}

/** Gemini: a function calling config only with declarations (Gemini refuses one without); no parallel setting. */
const gemini: Dialect = {
  name: "Gemini",
  states: states({
    tools: ["absent", "empty", "offered"],
    choice: (tools) => tools === "offered" ? every : ["unset"],
    parallel: () => false,
    reasoning: () => true,
    fields: fieldsOf({ tiers: [], temperatures: upToTwo, topPs: [0.5, 1], limits: [1, 5, 100], stops: 5 }, []),
    // Gemini refuses every empty content.
    empties: []
  }),
  body: (state) => ({
    systemInstruction: { parts: [{ text: systemText(state) }] },
    contents: [
      ...(state.history
        ? [
          { role: "user", parts: [{ text: earlier }] },
          { role: "model", parts: [{ functionCall: { name: shell, args: { command: "ls" } } }] },
          { role: "user", parts: [{ functionResponse: { name: shell, response: { output } } }] }
        ]
        : []),
      ...(state.fields.twoUsers ? [{ role: "user", parts: [{ text: environment }] }] : []),
      { role: "user", parts: [{ text: userText(state) }] }
    ],
    ...(state.tools === "absent"
      ? {}
      : {
        tools: [{
          functionDeclarations: state.tools === "empty" ? [] : [shell, read].map((name) => ({ name, parameters }))
        }]
      }),
    ...(state.choice === "unset"
      ? {}
      : {
        toolConfig: {
          functionCallingConfig: {
            mode: geminiModes[state.choice],
            ...(state.choice === "named" ? { allowedFunctionNames: [shell] } : {})
          }
        }
      }),
    generationConfig: {
      ...(state.fields.temperature === undefined ? {} : { temperature: state.fields.temperature }),
      ...(state.fields.topP === undefined ? {} : { topP: state.fields.topP }),
      ...(state.fields.limit === undefined ? {} : { maxOutputTokens: state.fields.limit }),
      ...(state.reasoning ? { thinkingConfig: { thinkingBudget: 1024 } } : {}),
      ...stopsOf(state, "stopSequences")
    }
  }),
  path: (model, stream) => `/v1beta/models/${model}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`,
  callMarker: "\"functionCall\"",
  hints: 0
}

const dialects = [chat, responses, messages, gemini]

/** A POST of `body` as JSON, its status and its whole text (a stream's every event). */
const post = async (url: string, body: unknown, headers: Readonly<Record<string, string>> = {}) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer sk-any", ...headers },
    body: JSON.stringify(body)
  })
  return { status: response.status, text: await response.text() }
}

/** The service tier a client asked for, in the OpenAI names the library reads every dialect's into. */
const asked = (tier: string) => tier === "standard_only" ? "default" : tier

// What Anthropic and Bedrock are sent for each tier; a tier not here is not sent to them.
const anthropicTier: Readonly<Record<string, string>> = {
  auto: "auto",
  default: "standard_only",
  flex: "standard_only",
  priority: "auto",
  fast: "auto",
  scale: "auto"
}
const bedrockTier: Readonly<Record<string, string>> = {
  default: "default",
  flex: "flex",
  priority: "priority",
  fast: "priority"
}

/** The body `backend` was sent holds the request's fields as the target takes them (docs/adapters.md). */
const sentAsTheTableSays = (dialect: Dialect, backend: string, fields: Fields, text: string, where: string) => {
  const body = JSON.parse(text) as Record<string, unknown>
  const tier = fields.tier === undefined ? undefined : asked(fields.tier)
  const sentTier = backend === "aws"
    ? (body["serviceTier"] as { type?: string } | undefined)?.type
    : body["service_tier"]
  const expected = tier === undefined || backend === "google" || backend === "ollama"
    ? undefined
    : backend === "claude"
    ? anthropicTier[tier]
    : backend === "aws"
    ? bedrockTier[tier]
    : tier
  expect(sentTier, `${where}: the tier sent`).toBe(expected)
  if (backend === "google" || backend === "ollama") expect(text, where).not.toMatch(/service_?[tT]ier/)
  const openAi = backend === "chat" || backend === "resp"
  expect(text.includes(cacheKey), `${where}: the prompt cache key sent`).toBe(fields.cacheKey && openAi)
  // Anthropic and Bedrock are sent the hints, at most four of them (the last ones); Anthropic, without hints, one on
  // the last block for a prompt cache key.
  const hints = text.split(backend === "aws" ? "\"cachePoint\"" : "\"cache_control\"").length - 1
  const keyed = backend === "claude" && fields.cacheKey ? 1 : 0
  if (backend === "claude" || backend === "aws") {
    expect(hints, `${where}: the cache hints sent`).toBe(
      fields.cacheHints ? Math.min(4, dialect.hints) || keyed : keyed
    )
  }
  if (backend !== "resp") expect(text, where).not.toContain(opaqueReasoning)
  expect(text, where).not.toContain("context_management")
}

/** A stream's failure after its start: an error event of any of the dialects. */
const failedInStream = (text: string) => /"error":\s*\{|response\.failed|event: error/.test(text)

/**
 * The request in `state` sent to the simulator as it is (it must be valid by its API's rules: the generator's check),
 * then through the gateway to every backend, streamed and whole: each answers, and a call the request rules out is
 * never made.
 */
const acceptedEverywhere = async (dialect: Dialect, urls: Fixture["Service"], state: ToolState) => {
  const model = state.model
  for (const stream of [false, true]) {
    const direct = await post(
      `${urls.simulator}${dialect.path(model, stream)}`,
      dialect.body(state, model, stream),
      dialect.headers
    )
    expect(direct.status, `${dialect.name} itself: ${direct.text}`).toBe(200)
    for (const backend of backends) {
      const name = `${backend}/${model}`
      const before = urls.sent.length
      const answer = await post(
        `${urls.gateway}${dialect.path(name, stream)}`,
        dialect.body(state, name, stream),
        dialect.headers
      )
      const where = `${dialect.name} -> ${backend}, ${stream ? "streamed" : "whole"}, ${JSON.stringify(state)}`
      expect(answer.status, `${where}: ${answer.text}`).toBe(200)
      expect(failedInStream(answer.text), `${where}: ${answer.text}`).toBe(false)
      if (ruledOut(state)) expect(answer.text.includes(dialect.callMarker), `${where}: ${answer.text}`).toBe(false)
      const sent = urls.sent.slice(before)
      expect(sent.length, where).toBe(1)
      sentAsTheTableSays(dialect, backend, state.fields, sent[0]!, where)
    }
  }
}

layer(fixture, { timeout: 120_000, excludeTestServices: true })(
  "Gateway: every API's request fields kept valid on every backend",
  (it) => {
    for (const dialect of dialects) {
      it.effect(`a valid ${dialect.name} request, whatever its tool fields, is answered by every backend`, () =>
        Effect.gen(function*() {
          const urls = yield* Fixture
          yield* Effect.promise(() =>
            fc.assert(fc.asyncProperty(dialect.states, (state) => acceptedEverywhere(dialect, urls, state)), {
              numRuns: 25
            })
          )
        }))
    }

    it.effect("Codex's compaction request (Responses, tools: [], tool_choice auto) is answered everywhere", () =>
      Effect.gen(function*() {
        const urls = yield* Fixture
        const state: ToolState = {
          model,
          empty: "none",
          tools: "empty",
          choice: "auto",
          told: "nowhere",
          reasoning: true,
          parallel: false,
          emptyStop: false,
          history: true,
          fields: plain
        }
        yield* Effect.promise(() => acceptedEverywhere(responses, urls, state))
      }))

    it.effect("a stored Responses turn continued by previous_response_id is answered by every backend", () =>
      Effect.gen(function*() {
        const urls = yield* Fixture
        for (const backend of backends) {
          for (const stream of [false, true]) {
            const name = `${backend}/${model}`
            const first = yield* Effect.promise(() =>
              post(`${urls.gateway}/v1/responses`, { model: name, store: true, input: "Remember the word zq-kept." })
            )
            expect(first.status, `${backend}: ${first.text}`).toBe(200)
            const id = (JSON.parse(first.text) as { readonly id: string }).id
            const before = urls.sent.length
            const next = yield* Effect.promise(() =>
              post(`${urls.gateway}/v1/responses`, {
                model: name,
                stream,
                store: true,
                previous_response_id: id,
                include: ["reasoning.encrypted_content"],
                input: [{ role: "user", content: "Which word?" }]
              })
            )
            const where = `${backend}, ${stream ? "streamed" : "whole"}`
            expect(next.status, `${where}: ${next.text}`).toBe(200)
            expect(failedInStream(next.text), `${where}: ${next.text}`).toBe(false)
            // The kept turn is sent as messages: no deployment is given the gateway's own id.
            const sent = urls.sent.slice(before)
            expect(sent.length, where).toBe(1)
            expect(sent[0], where).toContain("zq-kept")
            expect(sent[0], where).not.toContain(id)
          }
        }
      }))

    it.effect("with tools, an auto choice and nothing said against it, every backend's reply calls a tool", () =>
      Effect.gen(function*() {
        const urls = yield* Fixture
        const state: ToolState = {
          model,
          empty: "none",
          tools: "offered",
          choice: "auto",
          told: "nowhere",
          reasoning: false,
          parallel: undefined,
          emptyStop: false,
          history: false,
          fields: plain
        }
        for (const dialect of dialects) {
          for (const backend of backends) {
            const name = `${backend}/${model}`
            const answer = yield* Effect.promise(() =>
              post(`${urls.gateway}${dialect.path(name, false)}`, dialect.body(state, name, false))
            )
            expect(answer.text.includes(dialect.callMarker), `${dialect.name} -> ${backend}: ${answer.text}`).toBe(true)
          }
        }
      }))
  }
)
