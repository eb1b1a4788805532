/**
 * The simulator holds a conversation's tool calls to the APIs' rule: every call answered by its result before the
 * next turn, every result a call's (`toolPairs.ts`, over the whole domain of conversations); and each wire format
 * refuses a turn of two calls answered once, or a result of no call, in its API's words, and reads one answered in
 * any order.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { decode as decodeConverse } from "../../src/internal/simulator/bedrock/request.js"
import { decode as decodeGemini } from "../../src/internal/simulator/gemini/request.js"
import { decode as decodeChat } from "../../src/internal/simulator/openAiChat/request.js"
import { unpaired } from "../../src/internal/simulator/toolPairs.js"
import type { Message } from "../../src/Message.js"
import * as OpenAiResponses from "../../src/simulator/OpenAiResponses.js"
import { failed, read } from "../utils/results.js"

/** A turn of the conversation: a user's text, or the assistant's calls (by id) and their results' order. */
type Turn = { readonly user: string } | {
  readonly calls: ReadonlyArray<string>
  readonly answered: ReadonlyArray<string>
}

// Ids unique across the conversation: a turn's index and the call's.
const turnArbitrary = (index: number): fc.Arbitrary<Turn> =>
  fc.oneof(
    fc.constant({ user: `question ${index}` }),
    fc.integer({ min: 1, max: 3 }).chain((count) => {
      const calls = Array.from({ length: count }, (_, call) => `call-${index}-${call}`)
      return fc.shuffledSubarray(calls, { minLength: count, maxLength: count }).map((answered) => ({ calls, answered }))
    })
  )

const conversationArbitrary = fc.integer({ min: 1, max: 6 }).chain((length) =>
  fc.tuple(...Array.from({ length }, (_, index) => turnArbitrary(index)))
)

const messagesOf = (turns: ReadonlyArray<Turn>): Array<Message> =>
  turns.flatMap((turn): Array<Message> =>
    "user" in turn
      ? [{ role: "user", content: turn.user }]
      : [
        { role: "assistant", content: "", toolCalls: turn.calls.map((id) => ({ id, name: "f", arguments: "{}" })) },
        ...turn.answered.map((id): Message => ({ role: "tool", toolCallId: id, content: `result of ${id}` }))
      ]
  )

describe("tool calls paired with their results", () => {
  it("every call answered, in any order, is the rule held", () => {
    fc.assert(fc.property(conversationArbitrary, (turns) => {
      expect(unpaired([{ role: "user", content: "start" }, ...messagesOf(turns)])).toBeUndefined()
    }))
  })

  it("any one result left out leaves its call unanswered", () => {
    const withCalls = conversationArbitrary.filter((turns) =>
      turns.some((turn) => "calls" in turn && turn.calls.length > 0)
    )
    fc.assert(fc.property(withCalls, (turns) => {
      const at = turns.findIndex((turn) => "calls" in turn && turn.calls.length > 0)
      const turn = turns[at] as Extract<Turn, { calls: unknown }>
      const dropped = turn.answered[0]!
      const cut = [...turns.slice(0, at), { ...turn, answered: turn.answered.slice(1) }, ...turns.slice(at + 1)]
      const messages = [{ role: "user", content: "start" } as const, ...messagesOf(cut)]
      // A request ending with the assistant's calls, none answered, is a prefill.
      const prefill = turn.calls.length === 1 && at === turns.length - 1
      expect(unpaired(messages)).toEqual(prefill ? undefined : { _tag: "Unanswered", ids: [dropped] })
    }))
  })

  it("a result of no open call, at any place after the first message, is unasked, unless calls may be stored", () => {
    fc.assert(fc.property(conversationArbitrary, fc.nat(), (turns, place) => {
      const messages = [{ role: "user", content: "start" } as const, ...messagesOf(turns)]
      const at = 1 + (place % messages.length)
      const stray: Message = { role: "tool", toolCallId: "call-stray", content: "stray" }
      const placed = [...messages.slice(0, at), stray, ...messages.slice(at)]
      const broken = unpaired(placed)
      // Results are read in order: a turn left open before the stray one is the first break.
      expect(broken?._tag).toBe("Unasked")
      expect(unpaired(placed, false)).toBeUndefined()
    }))
  })

  it("text after a turn's calls is the same turn; a request ending with calls is a prefill", () => {
    const call = { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] } as const
    const result = { role: "tool", toolCallId: "c1", content: "done" } as const
    const user = { role: "user", content: "go" } as const
    expect(unpaired([user, call, { role: "assistant", content: "and so" }, result])).toBeUndefined()
    expect(unpaired([user, call])).toBeUndefined()
    expect(unpaired([user, call, user])).toEqual({ _tag: "Unanswered", ids: ["c1"] })
    expect(unpaired([user, call, result, result])).toEqual({ _tag: "Unasked", id: "c1" })
  })
})

describe("each wire format's rule for tool results", () => {
  it("Chat Completions: two calls answered once are refused in OpenAI's words; answered in either order, read", () => {
    const call = (id: string) => ({ id, type: "function", function: { name: "f", arguments: "{}" } })
    const tools = [{ type: "function", function: { name: "f", parameters: { type: "object" } } }]
    const result = (id: string) => ({ role: "tool", tool_call_id: id, content: "done" })
    const body = (results: ReadonlyArray<unknown>) => ({
      model: "gpt-4o-mini",
      tools,
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: null, tool_calls: [call("a"), call("b")] },
        ...results
      ]
    })
    expect(failed(decodeChat(body([result("a")])))).toEqual({
      _tag: "InvalidRequest",
      message: "An assistant message with 'tool_calls' must be followed by tool messages responding to each " +
        "'tool_call_id'. The following tool_call_ids did not have response messages: b",
      param: "messages",
      code: undefined
    })
    expect(failed(decodeChat(body([result("a"), result("b"), result("c")])))).toMatchObject({
      message: "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with " +
        "'tool_calls'."
    })
    read(decodeChat(body([result("b"), result("a")])))
  })

  it("Responses: a function_call without its output, or an output of no call, is refused; one answering a stored response's call is read", () => {
    const call = (id: string) => ({ type: "function_call", call_id: id, name: "f", arguments: "{}" })
    const output = (id: string) => ({ type: "function_call_output", call_id: id, output: "done" })
    const tools = [{ type: "function", name: "f", parameters: { type: "object" } }]
    const body = (input: ReadonlyArray<unknown>, previous?: string) => ({
      model: "gpt-4o-mini",
      tools,
      input: [{ role: "user", content: "hi" }, ...input],
      ...(previous === undefined ? {} : { previous_response_id: previous })
    })
    const decode = (body: unknown) => OpenAiResponses.format.decode(body)
    expect(failed(decode(body([call("a"), call("b"), output("b"), { role: "user", content: "and?" }])))).toEqual({
      _tag: "InvalidRequest",
      message: "No tool output found for function call a.",
      param: "input",
      code: undefined
    })
    expect(failed(decode(body([output("z")])))).toMatchObject({
      message: "No tool call found for function call output with call_id z."
    })
    read(decode(body([call("a"), call("b"), output("b"), output("a")])))
  })

  it("Gemini: as many function responses as the calls, right after them", () => {
    const call = { functionCall: { name: "f", args: {} } }
    const response = { functionResponse: { name: "f", response: { result: "done" } } }
    const tools = [{ functionDeclarations: [{ name: "f" }] }]
    const body = (parts: ReadonlyArray<unknown>) => ({
      contents: [
        { role: "user", parts: [{ text: "hi" }] },
        { role: "model", parts: [call, call] },
        { role: "user", parts }
      ],
      tools
    })
    expect(failed(decodeGemini(body([response]), { model: "gemini-2.5-flash" }))).toEqual({
      _tag: "InvalidRequest",
      message: "Please ensure that the number of function response parts is equal to the number of function call " +
        "parts of the function call turn.",
      param: "contents",
      code: undefined
    })
    const stray = { contents: [{ role: "user", parts: [response] }], tools }
    expect(failed(decodeGemini(stray, { model: "gemini-2.5-flash" }))).toMatchObject({
      message: "Please ensure that function response turn comes immediately after a function call turn."
    })
    read(decodeGemini(body([response, response]), { model: "gemini-2.5-flash" }))
  })

  it("Bedrock: each toolUse answered by a toolResult in the next turn, and no result of no use", () => {
    const use = (id: string) => ({ toolUse: { toolUseId: id, name: "f", input: {} } })
    const result = (id: string) => ({ toolResult: { toolUseId: id, content: [{ text: "done" }] } })
    const tools = [{ toolSpec: { name: "f", inputSchema: { json: { type: "object" } } } }]
    const body = (results: ReadonlyArray<unknown>) => ({
      messages: [
        { role: "user", content: [{ text: "hi" }] },
        { role: "assistant", content: [use("a"), use("b")] },
        { role: "user", content: results }
      ],
      toolConfig: { tools }
    })
    expect(failed(decodeConverse(body([result("a")]), { modelId: "m" }))).toEqual({
      _tag: "InvalidRequest",
      message: "Expected toolResult blocks for the following Ids: b",
      param: "messages",
      code: undefined
    })
    expect(failed(decodeConverse(body([result("a"), result("b"), result("c")]), { modelId: "m" }))).toMatchObject({
      message: "The number of toolResult blocks exceeds the number of toolUse blocks of previous turn."
    })
    read(decodeConverse(body([result("b"), result("a")]), { modelId: "m" }))
  })
})
