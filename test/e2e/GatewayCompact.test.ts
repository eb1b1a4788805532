/**
 * `POST /v1/responses/compact` through the gateway with the official `openai` client's `responses.compact`, over
 * loopback against the simulator (each deployment behind a recorder of the bodies it gets): a Responses deployment
 * compacts with its own `/responses/compact`, its compaction item passed back to it unchanged on the next turn; a Chat
 * Completions, an Anthropic and a Gemini deployment compact with a call of the model (the conversation, then the
 * compaction prompt, no tool callable), answered as Codex reads a compaction (the input's user messages, then one
 * `compaction` item), whose item a next turn on any deployment reads back as the summary; Codex's own compaction body
 * is compacted on each. A `/v1/responses` call whose input ends with `compaction_trigger` (Codex's compaction through
 * its built-in provider) compacts alike on every backend, Bedrock's too, streamed or whole: answered with one
 * `compaction` item, the Responses deployment's own (the trigger passed to it) or the gateway's. The call is billed,
 * logged and counted in the metrics as any, its summary goes through the model's guardrails, a reply without a summary
 * is 502, a budget it does not fit refuses it, and an unknown model is 404.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { readFileSync } from "node:fs"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as Origin from "../../src/internal/wire/openAiResponses/origin.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminKey,
  call,
  cappedKey,
  client,
  configKey,
  gatewayOn,
  providerKey,
  temporaryDirectory
} from "../utils/adminApi.js"
import { type Recorder, recorder } from "../utils/cliHarness.js"
import { eventually } from "../utils/eventually.js"
import { rejection } from "../utils/gatewayHarness.js"
import { apiError, promise, replayed } from "../utils/responsesHarness.js"

const key = "sk-gateway-compact-0001"

class Fixture extends Context.Service<Fixture, {
  readonly client: OpenAI
  readonly recorded: Recorder
}>()("test/GatewayCompactFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 12 })
    const recorded = yield* recorder(simulator.url)
    const origin = recorded.baseUrl.replace(/\/v1$/, "")
    const deployment = (api: string, baseUrl: string) => [{
      model_name: "gpt-4o-mini",
      api,
      base_url: baseUrl,
      api_keys: [key],
      max_retries: 0
    }]
    const config = yield* ProviderConfig.fromJson({
      chat: deployment("chat-completions", recorded.baseUrl),
      claude: deployment("anthropic", origin),
      google: deployment("gemini", origin),
      aws: deployment("bedrock", origin),
      resp: deployment("responses", recorded.baseUrl)
    })
    const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
    return {
      client: new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 }),
      recorded
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

// A Codex session's history as its compaction sends it: its developer context, the user's task, a tool loop and the
// assistant's answer.
const history: Array<OpenAI.Responses.ResponseInputItem> = [
  { type: "message", role: "developer", content: [{ type: "input_text", text: "<permissions>workspace-write" }] },
  { type: "message", role: "user", content: [{ type: "input_text", text: "Rename foo to bar in main.ts" }] },
  { type: "function_call", call_id: "call_1", name: "shell", arguments: "{\"command\":[\"cat\",\"main.ts\"]}" },
  { type: "function_call_output", call_id: "call_1", output: "const foo = 1" },
  { type: "message", role: "assistant", content: "Renamed: main.ts has bar." }
]

const shell: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "shell",
  description: "Runs a command",
  parameters: { type: "object", properties: { command: { type: "array", items: { type: "string" } } } },
  strict: false
}

// Codex CLI's compaction body (its `CompactionInput`) of its real first request (`GatewayCodex.test.ts`' fixture):
// the request's history, instructions, tools (function, namespace and `web_search`), reasoning and cache key.
const codexFirst = JSON.parse(
  readFileSync(new URL("../fixtures/codex-0.171.0-first-request.json", import.meta.url), "utf8")
) as OpenAI.Responses.ResponseCreateParams
const codexCompaction = (model: string) =>
  ({
    model,
    input: [...codexFirst.input as Array<OpenAI.Responses.ResponseInputItem>, history[4]!],
    instructions: "You are Codex, based on GPT-5.",
    tools: codexFirst.tools,
    parallel_tool_calls: false,
    reasoning: codexFirst.reasoning,
    prompt_cache_key: codexFirst.prompt_cache_key
  }) as OpenAI.Responses.ResponseCompactParams

const compactOf = (client: OpenAI, model: string) =>
  promise(() =>
    client.responses.compact({
      model,
      input: history,
      instructions: "You are Codex, a coding agent.",
      tools: [shell],
      parallel_tool_calls: false
    } as OpenAI.Responses.ResponseCompactParams)
  )

/** The bodies recorded from `from` on, with the path each went to. */
const since = (recorded: Recorder, from: number) =>
  recorded.bodies.slice(from).map((body, i) => ({ body, path: recorded.paths[from + i]! }))

/** The summary the gateway's envelope (`gw1.` and base64url JSON) carries. */
const summaryIn = (encrypted: string) => {
  expect(encrypted.startsWith("gw1.")).toBe(true)
  return (JSON.parse(Buffer.from(encrypted.slice(4), "base64url").toString("utf8")) as { summary: string }).summary
}

const viaModel = [
  { name: "chat", path: "/v1/chat/completions" },
  { name: "claude", path: "/v1/messages" },
  { name: "google", path: "/v1beta/models/gpt-4o-mini:generateContent" }
]

// Codex's compaction through its built-in provider: its history, then the trigger, streamed.
const triggered = (model: string, stream: boolean) =>
  ({
    model,
    input: [...history, { type: "compaction_trigger" }],
    instructions: "You are Codex, a coding agent.",
    tools: [shell],
    tool_choice: "auto",
    stream,
    store: false
  }) as unknown as OpenAI.Responses.ResponseCreateParamsNonStreaming

/** The events of a streamed `responses.create` of `params`. */
const streamedEvents = (client: OpenAI, params: OpenAI.Responses.ResponseCreateParamsNonStreaming) =>
  promise(async () => {
    const stream = await client.responses.create({ ...params, stream: true })
    const out: Array<OpenAI.Responses.ResponseStreamEvent> = []
    for await (const event of stream) out.push(event)
    return out
  })

// The backends the gateway compacts on by the model, with the path each is called on.
const triggeredViaModel = [...viaModel, { name: "aws", path: "/model/gpt-4o-mini/converse" }]

layer(fixture, { timeout: 60_000, excludeTestServices: true })("compaction_trigger on POST /v1/responses", (it) => {
  for (const { name, path } of triggeredViaModel) {
    it.effect(`${name}: compacted by the model, streamed as one compaction item, its summary read back next turn`, () =>
      Effect.gen(function*() {
        const { client, recorded } = yield* Fixture
        const model = `${name}/gpt-4o-mini`
        const before = recorded.bodies.length
        const events = yield* streamedEvents(client, triggered(model, true))
        const done = events.flatMap((event) => event.type === "response.output_item.done" ? [event.item] : [])
        // Exactly one output item, the compaction, as Codex requires of a compaction's stream.
        expect(done.map((item) => item.type)).toEqual(["compaction"])
        const completed = events[events.length - 1]!
        expect(completed.type).toBe("response.completed")
        if (completed.type !== "response.completed") return
        expect(completed.response.output.map((item) => item.type)).toEqual(["compaction"])
        expect(completed.response.usage!.output_tokens).toBeGreaterThan(0)
        const item = done[0] as unknown as OpenAI.Responses.ResponseCompactionItem
        const summary = summaryIn(item.encrypted_content)
        expect(summary.length).toBeGreaterThan(0)

        // One call of the model, whole: the conversation and the compaction prompt, no tool callable, no trigger.
        const sent = since(recorded, before)
        expect(sent.map((one) => one.path)).toEqual([path])
        const text = JSON.stringify(sent[0]!.body)
        expect(text).toContain("Rename foo to bar in main.ts")
        expect(text).toContain("Compact the conversation above")
        expect(text).not.toContain("compaction_trigger")

        // The next turn: the user's messages and the compaction item in place of the history.
        const next = recorded.bodies.length
        const answer = yield* promise(() =>
          client.responses.create({
            model,
            input: [history[1]!, ...replayed([done[0]!]), { role: "user", content: "Now add a test." }]
          })
        )
        expect(answer.status).toBe("completed")
        const turn = JSON.stringify(since(recorded, next)[0]!.body)
        expect(turn).toContain(JSON.stringify(summary).slice(1, -1))
        expect(turn).not.toContain("gw1.")
      }))
  }

  it.effect("chat: a whole compaction is the response object with its one compaction item", () =>
    Effect.gen(function*() {
      const { client } = yield* Fixture
      const answer = yield* promise(() => client.responses.create(triggered("chat/gpt-4o-mini", false)))
      expect(answer.status).toBe("completed")
      expect(answer.output.map((item) => item.type)).toEqual(["compaction"])
      const item = answer.output[0] as unknown as OpenAI.Responses.ResponseCompactionItem
      expect(summaryIn(item.encrypted_content).length).toBeGreaterThan(0)
    }))

  it.effect("resp: the trigger passed to the deployment, its own compaction item given back to it next turn", () =>
    Effect.gen(function*() {
      const { client, recorded } = yield* Fixture
      const before = recorded.bodies.length
      const events = yield* streamedEvents(client, triggered("resp/gpt-4o-mini", true))
      const sent = since(recorded, before)
      expect(sent.map((one) => one.path)).toEqual(["/v1/responses"])
      const input = sent[0]!.body["input"] as ReadonlyArray<{ readonly type?: string }>
      expect(input[input.length - 1]).toEqual({ type: "compaction_trigger" })
      const done = events.flatMap((event) => event.type === "response.output_item.done" ? [event.item] : [])
      expect(done.map((item) => item.type)).toEqual(["compaction"])
      const item = done[0] as unknown as OpenAI.Responses.ResponseCompactionItem
      // The deployment's own compaction, opaque: not the gateway's envelope.
      expect(item.encrypted_content.startsWith("gw1.")).toBe(false)

      const next = recorded.bodies.length
      const answer = yield* promise(() =>
        client.responses.create({
          model: "resp/gpt-4o-mini",
          input: [history[1]!, ...replayed([done[0]!]), { role: "user", content: "Now add a test." }]
        })
      )
      expect(answer.status).toBe("completed")
      // Given back as the deployment made it: the origin the client's copy is marked with taken off.
      expect(since(recorded, next)[0]!.body["input"]).toContainEqual(expect.objectContaining({
        type: "compaction",
        encrypted_content: Origin.opened(item.encrypted_content)!.content
      }))
    }))
})

layer(fixture, { timeout: 60_000, excludeTestServices: true })("POST /v1/responses/compact", (it) => {
  for (const { name, path } of viaModel) {
    it.effect(`${name}: compacted by the model, answered as Codex reads it, its summary read back next turn`, () =>
      Effect.gen(function*() {
        const { client, recorded } = yield* Fixture
        const before = recorded.bodies.length
        const compacted = yield* compactOf(client, `${name}/gpt-4o-mini`)
        expect(compacted.object).toBe("response.compaction")
        expect(compacted.id).toMatch(/^resp_/)
        // The input's user message as it came, then one compaction item.
        expect(compacted.output.length).toBe(2)
        expect(compacted.output[0]).toMatchObject({ type: "message", role: "user" })
        expect(JSON.stringify(compacted.output[0])).toContain("Rename foo to bar in main.ts")
        const item = compacted.output[1] as unknown as OpenAI.Responses.ResponseCompactionItem
        expect(item.type).toBe("compaction")
        expect(item.id).toMatch(/^cmp_/)
        const summary = summaryIn(item.encrypted_content)
        expect(summary.length).toBeGreaterThan(0)
        expect(compacted.usage.input_tokens).toBeGreaterThan(0)
        expect(compacted.usage.output_tokens).toBeGreaterThan(0)
        expect(compacted.usage.total_tokens).toBe(compacted.usage.input_tokens + compacted.usage.output_tokens)

        // One call of the model: the conversation, then the compaction prompt; a tool is offered but not callable.
        const sent = since(recorded, before)
        expect(sent.map((one) => one.path)).toEqual([path])
        const text = JSON.stringify(sent[0]!.body)
        expect(text).toContain("Rename foo to bar in main.ts")
        expect(text).toContain("const foo = 1")
        expect(text).toContain("Compact the conversation above")
        if (name === "chat") expect(sent[0]!.body["tool_choice"]).toBe("none")
        if (name === "claude") expect(sent[0]!.body["tool_choice"]).toEqual({ type: "none" })
        if (name === "google") {
          expect(sent[0]!.body["toolConfig"]).toEqual({ functionCallingConfig: { mode: "NONE" } })
        }

        // Codex's next turn: the compacted output in place of the history, then its new message.
        const next = recorded.bodies.length
        const answer = yield* promise(() =>
          client.responses.create({
            model: `${name}/gpt-4o-mini`,
            input: [...replayed(compacted.output), { role: "user", content: "Now add a test." }]
          })
        )
        expect(answer.status).toBe("completed")
        const turn = JSON.stringify(since(recorded, next)[0]!.body)
        expect(turn).toContain(JSON.stringify(summary).slice(1, -1))
        expect(turn).toContain("The conversation before this point was compacted")
        expect(turn).not.toContain("gw1.")
      }))
  }

  it.effect("resp: passed to the deployment's own /responses/compact, its compaction item given back next turn", () =>
    Effect.gen(function*() {
      const { client, recorded } = yield* Fixture
      const before = recorded.bodies.length
      const compacted = yield* compactOf(client, "resp/gpt-4o-mini")
      expect(compacted.object).toBe("response.compaction")
      const sent = since(recorded, before)
      expect(sent.map((one) => one.path)).toEqual(["/v1/responses/compact"])
      // The fields the endpoint takes, not a response's own.
      const body = sent[0]!.body
      expect(body["model"]).toBe("gpt-4o-mini")
      expect(body["stream"]).toBeUndefined()
      expect(body["store"]).toBeUndefined()
      expect(JSON.stringify(body["input"])).toContain("Rename foo to bar in main.ts")
      // The deployment's answer as it gave it: the user message, then its own (opaque) compaction item, its content
      // marked with where it was made.
      expect(compacted.output.map((item) => item.type)).toEqual(["message", "compaction"])
      const item = compacted.output[1] as unknown as OpenAI.Responses.ResponseCompactionItem
      expect(item.encrypted_content).toMatch(/^eo1\.[\w-]+\.gAAAAB/)
      expect(compacted.usage.input_tokens).toBeGreaterThan(0)

      const next = recorded.bodies.length
      const answer = yield* promise(() =>
        client.responses.create({
          model: "resp/gpt-4o-mini",
          input: [...replayed(compacted.output), { role: "user", content: "Now add a test." }]
        })
      )
      expect(answer.status).toBe("completed")
      const turn = since(recorded, next)[0]!
      expect(turn.path).toBe("/v1/responses")
      // Given back to the deployment that made it, as it made it.
      expect(turn.body["input"]).toContainEqual(expect.objectContaining({
        type: "compaction",
        encrypted_content: item.encrypted_content.slice(item.encrypted_content.indexOf(".", "eo1.".length) + 1)
      }))
    }))

  for (const name of [...viaModel.map((one) => one.name), "resp"]) {
    it.effect(`${name}: Codex's own compaction body is compacted (web_search left out unless the deployment runs it)`, () =>
      Effect.gen(function*() {
        const { client, recorded } = yield* Fixture
        const before = recorded.bodies.length
        const compacted = yield* promise(() => client.responses.compact(codexCompaction(`${name}/gpt-4o-mini`)))
        expect(compacted.output[compacted.output.length - 1]!.type).toBe("compaction")
        const users = (codexFirst.input as Array<{ role?: string }>).filter((item) => item.role === "user")
        expect(compacted.output.length).toBe(users.length + 1)
        const sent = JSON.stringify(since(recorded, before)[0]!.body)
        expect(sent.includes("web_search")).toBe(name === "resp")
      }))
  }

  it.effect("an unknown model is 404 model_not_found, a body without model or conversation 400, before any upstream call", () =>
    Effect.gen(function*() {
      const { client, recorded } = yield* Fixture
      const before = recorded.bodies.length
      const unknown = yield* rejection(() => client.responses.compact({ model: "no-such-model", input: history }))
      expect(apiError(unknown)).toMatchObject({ status: 404, code: "model_not_found" })
      const bad = yield* rejection(() =>
        client.responses.compact({ input: history } as unknown as OpenAI.Responses.ResponseCompactParams)
      )
      expect(apiError(bad)).toMatchObject({ status: 400, param: "model" })
      const empty = yield* rejection(() => client.responses.compact({ model: "chat/gpt-4o-mini" }))
      expect(apiError(empty)).toMatchObject({ status: 400, param: "input" })
      expect(recorded.bodies.length).toBe(before)
    }))
})

describe("POST /v1/responses/compact is governed as any call", () => {
  it.live(
    "billed and logged for its key; refused (429) by a budget it does not fit, before the provider",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 6 })
        const directory = yield* temporaryDirectory("gateway-compact-")
        const gateway = yield* gatewayOn(simulator, { sqlite: `${directory}/gateway.db` }, {
          // A deployment whose reply holds an email, behind a router whose guardrail masks it.
          personal: [{
            model_name: "sim-small",
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            max_retries: 0,
            headers: { "x-simulator-reply": encodeURIComponent("Write to ann@example.com when done.") }
          }],
          // A deployment that answers with no text.
          mute: [{
            model_name: "sim-large",
            base_url: `${simulator.url}/v1`,
            api_keys: [providerKey],
            max_retries: 0,
            headers: { "x-simulator-reply-tokens": "0" }
          }],
          guardrails: { pii: { checks: ["email"], on: ["request", "reply"], action: "mask", mode: "buffer" } },
          router: { masked: { deployments: ["personal/sim-small"], guardrails: ["pii"] } }
        })
        const compacted = yield* promise(() =>
          client(gateway, configKey).responses.compact({ model: "gpt-4o-mini", input: history })
        )
        const rows = yield* eventually(
          "the compaction's row in the request log",
          Effect.map(
            call(gateway.url, "GET", "/admin/requests"),
            (answer) => (answer.body as { data?: ReadonlyArray<Record<string, unknown>> }).data ?? []
          ),
          (data) => data.length === 1
        )
        const row = rows[0]!
        expect(row).toMatchObject({ route: "/v1/responses/compact", model: "gpt-4o-mini", status: 200 })
        expect(row["input_tokens"]).toBe(compacted.usage.input_tokens)
        expect(row["output_tokens"]).toBe(compacted.usage.output_tokens)
        // A dollar for every thousand tokens, in and out.
        expect(row["cost"]).toBeCloseTo(compacted.usage.total_tokens / 1000, 9)

        // Counted in the metrics as any call of its route and model.
        const metrics = yield* promise(() =>
          fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } }).then((r) => r.text())
        )
        expect(metrics).toContain(
          `llm_gateway_requests_total{route="/v1/responses/compact",model="gpt-4o-mini",status="200"} 1`
        )
        expect(metrics).toMatch(
          new RegExp(
            `llm_gateway_tokens_total\\{model="gpt-4o-mini",direction="output"\\} ${compacted.usage.output_tokens}\\b`
          )
        )

        // The guardrails of the model run on the summary as on any reply: the email is masked in it.
        const guarded = yield* promise(() =>
          client(gateway, configKey).responses.compact({ model: "masked", input: history })
        )
        const sealed = guarded.output[guarded.output.length - 1] as unknown as OpenAI.Responses.ResponseCompactionItem
        const masked = summaryIn(sealed.encrypted_content)
        expect(masked).toContain("Write to")
        expect(masked).not.toContain("ann@example.com")

        // A model that writes no summary: the client is told (502), and keeps its history.
        const silent = yield* rejection(() =>
          client(gateway, configKey).responses.compact({ model: "sim-large", input: history })
        )
        expect(apiError(silent)).toMatchObject({ status: 502, code: "empty_summary" })

        // A conversation whose reservation is more than the capped key's $0.03 never reaches the provider.
        const requests = (yield* simulator.stats).requests
        const long = [{ role: "user" as const, content: "word ".repeat(20_000) }]
        const refused = yield* rejection(() =>
          client(gateway, cappedKey).responses.compact({ model: "gpt-4o-mini", input: long })
        )
        expect(apiError(refused)).toMatchObject({ status: 429, code: "insufficient_quota" })
        expect((yield* simulator.stats).requests).toBe(requests)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
