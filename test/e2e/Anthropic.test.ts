import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Simulator from "../../src/simulator/Simulator.js"

// ---------------------------------------------------------------------------
// The simulator's Messages format, read with plain fetch (no library code).
// ---------------------------------------------------------------------------

const KEY = "sk-ant-e2e-0123456789abcdef"
const MODEL = "sim-small"

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

const post = (
  sim: Simulator.Simulator,
  body: unknown,
  headers: Record<string, string> = {}
): Effect.Effect<Answer> =>
  Effect.promise(async () => {
    const response = await fetch(`${sim.url}/v1/messages`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        ...headers
      },
      body: JSON.stringify(body)
    })
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

interface SseEvent {
  readonly event: string
  readonly data: Record<string, unknown>
}

const sseEvents = (text: string): Array<SseEvent> =>
  text.split("\n\n").filter((chunk) => chunk !== "").map((chunk) => {
    const [eventLine, dataLine] = chunk.split("\n")
    return {
      event: eventLine!.replace(/^event: /, ""),
      data: JSON.parse(dataLine!.replace(/^data: /, "")) as Record<string, unknown>
    }
  })

const weather = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
}

const withSim = <A, E>(
  options: Simulator.Options,
  body: (sim: Simulator.Simulator) => Effect.Effect<A, E, Scope.Scope>
) => Effect.flatMap(Simulator.make({ models: [MODEL], ...options }), body)

const hello = { model: MODEL, max_tokens: 1024, messages: [{ role: "user", content: "Hello there" }] }

describe("the simulator speaks Anthropic Messages", () => {
  it.scopedLive("a whole message: text block, stop_reason, usage without cached tokens in input_tokens", () =>
    withSim({ replyTokens: 7 }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, { ...hello, system: "Be brief." }, { "x-simulator-cached-tokens": "2" })
        assert.strictEqual(answer.status, 200)
        const body = JSON.parse(answer.text)
        assert.strictEqual(body.type, "message")
        assert.match(body.id, /^msg_/)
        assert.strictEqual(body.model, MODEL)
        assert.strictEqual(body.stop_reason, "end_turn")
        assert.strictEqual(body.content.length, 1)
        assert.strictEqual(body.content[0].type, "text")
        assert.strictEqual(body.usage.output_tokens, 7)
        assert.strictEqual(body.usage.cache_read_input_tokens, 2)
        assert.isAtLeast(body.usage.input_tokens, 1)
      })))

  it.scopedLive("a stream: every event in order, usage cumulative in message_delta, message_stop last", () =>
    withSim({ replyTokens: 5 }, (sim) =>
      Effect.gen(function*() {
        const answer = yield* post(sim, { ...hello, stream: true })
        assert.strictEqual(answer.status, 200)
        assert.match(answer.headers.get("content-type") ?? "", /^text\/event-stream/)
        const events = sseEvents(answer.text)
        assert.deepStrictEqual(
          events.map((e) => e.event),
          [
            "message_start",
            "ping",
            "content_block_start",
            ...Array(5).fill("content_block_delta"),
            "content_block_stop",
            "message_delta",
            "message_stop"
          ]
        )
        for (const e of events) assert.strictEqual(e.data.type, e.event)
        const text = events.filter((e) => e.event === "content_block_delta")
          .map((e) => (e.data.delta as { text: string }).text).join("")
        const whole = JSON.parse((yield* post(sim, hello)).text)
        assert.strictEqual(text, whole.content[0].text)
        const delta = events.at(-2)!.data as { delta: { stop_reason: string }; usage: { output_tokens: number } }
        assert.strictEqual(delta.delta.stop_reason, "end_turn")
        assert.strictEqual(delta.usage.output_tokens, 5)
      })))

  it.scopedLive("tool_use blocks, parallel, their input streamed as input_json_delta pieces", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const request = { ...hello, tools: [weather], tool_choice: { type: "any" } }
        const whole = JSON.parse((yield* post(sim, request, { "x-simulator-tool-calls": "2" })).text)
        assert.strictEqual(whole.stop_reason, "tool_use")
        assert.strictEqual(whole.content.length, 2)
        for (const block of whole.content) {
          assert.strictEqual(block.type, "tool_use")
          assert.match(block.id, /^toolu_/)
          assert.deepStrictEqual(block.input, { city: "sim" })
        }
        const events = sseEvents(
          (yield* post(sim, { ...request, stream: true }, { "x-simulator-tool-calls": "2" })).text
        )
        const inputs = new Map<number, string>()
        for (const e of events) {
          const delta = e.data.delta as { type?: string; partial_json?: string } | undefined
          if (delta?.type === "input_json_delta") {
            const index = e.data.index as number
            inputs.set(index, (inputs.get(index) ?? "") + delta.partial_json)
          }
        }
        assert.deepStrictEqual([...inputs.values()].map((json) => JSON.parse(json)), [{ city: "sim" }, { city: "sim" }])
        assert.isAbove(events.filter((e) => (e.data.delta as { type?: string } | undefined)?.type === "input_json_delta").length, 4)
      })))

  it.scopedLive("thinking: a signed block, which must come back first in a tool loop", () =>
    withSim({ reasoningTokens: 4 }, (sim) =>
      Effect.gen(function*() {
        const thinking = { type: "enabled", budget_tokens: 1024 }
        const request = { ...hello, max_tokens: 2048, thinking, tools: [weather] }
        const first = JSON.parse((yield* post(sim, request)).text)
        assert.strictEqual(first.content[0].type, "thinking")
        assert.isString(first.content[0].signature)
        assert.strictEqual(first.content[1].type, "tool_use")
        assert.strictEqual(first.usage.output_tokens_details.thinking_tokens, 4)
        const result = { role: "user", content: [{ type: "tool_result", tool_use_id: first.content[1].id, content: "sunny" }] }
        const next = (assistant: ReadonlyArray<unknown>) =>
          post(sim, { ...request, messages: [...hello.messages, { role: "assistant", content: assistant }, result] })
        const good = yield* next(first.content)
        assert.strictEqual(good.status, 200)
        assert.include(JSON.parse(good.text).content.at(-1).text, "The tool returned sunny")
        const missing = yield* next(first.content.slice(1))
        assert.strictEqual(missing.status, 400)
        assert.include(missing.text, "must start with a thinking block")
        const forged = yield* next([{ ...first.content[0], signature: "forged" }, first.content[1]])
        assert.strictEqual(forged.status, 400)
        assert.include(forged.text, "signature")
      })))

  it.scopedLive("errors in Anthropic's shape", () =>
    withSim({ apiKeys: [KEY], contextWindow: 100 }, (sim) =>
      Effect.gen(function*() {
        const errorOf = (answer: Answer) => JSON.parse(answer.text) as { type: string; error: { type: string; message: string } }
        const badKey = yield* post(sim, hello, { "x-api-key": "sk-ant-wrong-000000000" })
        assert.strictEqual(badKey.status, 401)
        assert.deepStrictEqual(errorOf(badKey), { type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } })
        const noMax = yield* post(sim, { model: MODEL, messages: hello.messages })
        assert.strictEqual(noMax.status, 400)
        assert.include(errorOf(noMax).error.message, "max_tokens")
        const system = yield* post(sim, { ...hello, messages: [{ role: "system", content: "x" }] })
        assert.include(errorOf(system).error.message, "top-level `system`")
        const model = yield* post(sim, { ...hello, model: "claude-nope" })
        assert.strictEqual(model.status, 404)
        assert.deepStrictEqual(errorOf(model).error, { type: "not_found_error", message: "model: claude-nope" })
        const long = yield* post(sim, { ...hello, max_tokens: 200 })
        assert.strictEqual(long.status, 400)
        assert.match(errorOf(long).error.message, /^prompt is too long: \d+ tokens > 100 maximum$/)
        const overloaded = yield* post(sim, hello, { "x-simulator-fault": "status=529" })
        assert.strictEqual(overloaded.status, 529)
        assert.strictEqual(errorOf(overloaded).error.type, "overloaded_error")
        const orphan = yield* post(sim, {
          ...hello,
          messages: [...hello.messages, { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "x", input: {} }] }]
        })
        assert.include(errorOf(orphan).error.message, "without `tool_result` blocks")
      })))

  it.scopedLive("a stream-error fault is an `error` event with no message_stop after it", () =>
    withSim({}, (sim) =>
      Effect.gen(function*() {
        const events = sseEvents((yield* post(sim, { ...hello, stream: true }, { "x-simulator-fault": "stream-error=3" })).text)
        assert.strictEqual(events.length, 4)
        assert.deepStrictEqual(events[3], {
          event: "error",
          data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }
        })
      })))
})
