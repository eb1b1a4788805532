import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import type { ChatChunk } from "../../src/ChatChunk.js"
import { organization } from "../../src/internal/simulator/openAiResponses/organization.js"
import { failedResponse, renderStreamError } from "../../src/internal/simulator/openAiResponses/render.js"
import { usageOf } from "../../src/internal/simulator/usage.js"
import { ResponsesStreamParser } from "../../src/internal/wire/openAiResponses/client.js"
import {
  echoOf,
  eventData,
  type EventFields,
  type EventType,
  functionCallItem,
  hostedCallItem,
  messageItem,
  type OutputItem,
  outputText,
  reasoningItem,
  responseObject,
  statusOf,
  summaryText
} from "../../src/internal/wire/openAiResponses/codec.js"
import { type Extra, format } from "../../src/simulator/OpenAiResponses.js"

// One SSE event of the stream, as the Responses API names and numbers it.
function event<T extends EventType>(type: T, sequence: number, fields: EventFields<T>): string {
  return `event: ${type}\ndata: ${eventData(type, sequence, fields)}\n\n`
}

// The SSE events of a stream's text, each with its blank line (their data is one line of JSON).
function eventsOf(text: string): Array<string> {
  return text.split("\n\n").filter((one) => one !== "").map((one) => `${one}\n\n`)
}
import type * as Reply from "../../src/simulator/Reply.js"
import type { ReplyMeta } from "../../src/simulator/WireFormat.js"
import { simulatedReply } from "../utils/simulatorReplies.js"
import { streamContext } from "../utils/streamContext.js"

// ---------------------------------------------------------------------------
// The simulator's Responses reply as it was written before the one writer: its own grammar from the codec's item
// writers, the oracle the writer's bytes are held to.

function itemIds(meta: ReplyMeta) {
  const suffix = meta.id.startsWith("resp_") ? meta.id.slice(5) : meta.id
  return { message: `msg_${suffix}`, reasoning: `rs_${suffix}`, suffix }
}

function functionCallId(call: Reply.ToolCall): string {
  return `fc_${call.id.startsWith("call_") ? call.id.slice(5) : call.id}`
}

// The encrypted reasoning of the organisation `format` stands for.
function encrypted(id: string, tokens: number): string {
  return organization("simulator").seal(`simulated reasoning ${id} ${tokens}`)
}

function reasoningOutput(reply: Reply.Reply, meta: ReplyMeta, extra: Extra, done: boolean): OutputItem {
  const id = itemIds(meta).reasoning
  const summary = done && extra.summary ? [summaryText(reply.reasoning.join(""))] : []
  const content = !extra.encryptedReasoning ? undefined : done ? encrypted(id, reply.reasoning.length) : null
  return reasoningItem(id, summary, content)
}

function hasMessage(reply: Reply.Reply): boolean {
  return reply.content.length > 0 || reply.toolCalls.length === 0
}

function messageOutput(reply: Reply.Reply, meta: ReplyMeta, text: string | undefined): OutputItem {
  const id = itemIds(meta).message
  if (text === undefined) return messageItem(id, "in_progress", [])
  return messageItem(id, reply.finishReason === "length" ? "incomplete" : "completed", [outputText(text)])
}

function functionCallOutput(call: Reply.ToolCall, done: boolean): OutputItem {
  return functionCallItem(
    functionCallId(call),
    done ? "completed" : "in_progress",
    { id: call.id, name: call.name, arguments: done ? call.arguments : "" },
    { name: call.name }
  )
}

function hostedOutput(meta: ReplyMeta, tool: string, i: number, done: boolean): OutputItem {
  return hostedCallItem(`hc_${itemIds(meta).suffix}_${i}`, tool, done ? "completed" : "in_progress")
}

function outputItems(reply: Reply.Reply, meta: ReplyMeta, extra: Extra): Array<OutputItem> {
  const items: Array<OutputItem> = []
  if (reply.reasoning.length > 0) items.push(reasoningOutput(reply, meta, extra, true))
  ;(extra.hostedCalls ?? []).forEach((tool, i) => items.push(hostedOutput(meta, tool, i, true)))
  if (hasMessage(reply)) items.push(messageOutput(reply, meta, reply.content.join("")))
  for (const call of reply.toolCalls) items.push(functionCallOutput(call, true))
  return items
}

function echoed(extra: Extra) {
  return echoOf({
    previous_response_id: extra.previous,
    reasoning: { effort: extra.effort, summary: extra.summary ? "auto" : undefined },
    store: extra.store
  })
}

function responseOf(
  meta: ReplyMeta,
  extra: Extra,
  reply: Reply.Reply | undefined,
  error?: { readonly code: string; readonly message: string }
) {
  const { incomplete, status } = reply === undefined
    ? { incomplete: null, status: error === undefined ? "in_progress" as const : "failed" as const }
    : statusOf(reply.finishReason)
  return responseObject({
    id: meta.id,
    createdAt: meta.created,
    echo: echoed(extra),
    status,
    completedAt: status === "completed" ? meta.created : null,
    error,
    incomplete,
    model: meta.model,
    output: reply === undefined ? [] : outputItems(reply, meta, extra),
    usage: reply === undefined || meta.usage === "none" ? undefined : usageOf(reply.usage)
  })
}

function oldStream(reply: Reply.Reply, meta: ReplyMeta, extra: Extra) {
  const events: Array<string> = []
  let seq = 0
  const push = <T extends EventType>(type: T, fields: EventFields<T>) => {
    events.push(event(type, seq++, fields))
  }
  const snapshot = responseOf(meta, extra, undefined)
  push("response.created", { response: snapshot })
  push("response.in_progress", { response: snapshot })
  const ids = itemIds(meta)
  let index = 0
  if (reply.reasoning.length > 0) {
    push("response.output_item.added", { output_index: index, item: reasoningOutput(reply, meta, extra, false) })
    if (extra.summary) {
      const at = { item_id: ids.reasoning, output_index: index, summary_index: 0 }
      push("response.reasoning_summary_part.added", { ...at, part: summaryText("") })
      for (const token of reply.reasoning) push("response.reasoning_summary_text.delta", { ...at, delta: token })
      const text = reply.reasoning.join("")
      push("response.reasoning_summary_text.done", { ...at, text })
      push("response.reasoning_summary_part.done", { ...at, part: summaryText(text) })
    }
    push("response.output_item.done", { output_index: index, item: reasoningOutput(reply, meta, extra, true) })
    index++
  }
  for (const [i, tool] of (extra.hostedCalls ?? []).entries()) {
    push("response.output_item.added", { output_index: index, item: hostedOutput(meta, tool, i, false) })
    push("response.output_item.done", { output_index: index, item: hostedOutput(meta, tool, i, true) })
    index++
  }
  if (hasMessage(reply)) {
    const at = { item_id: ids.message, output_index: index, content_index: 0 }
    push("response.output_item.added", { output_index: index, item: messageOutput(reply, meta, undefined) })
    push("response.content_part.added", { ...at, part: outputText("") })
    for (const token of reply.content) push("response.output_text.delta", { ...at, delta: token, logprobs: [] })
    const text = reply.content.join("")
    push("response.output_text.done", { ...at, text, logprobs: [] })
    push("response.content_part.done", { ...at, part: outputText(text) })
    push("response.output_item.done", { output_index: index, item: messageOutput(reply, meta, text) })
    index++
  }
  const calls = reply.toolCalls
  const first = index
  for (let i = 0; i < calls.length; i++) {
    push("response.output_item.added", { output_index: first + i, item: functionCallOutput(calls[i]!, false) })
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < calls.length; i++) {
      const piece = calls[i]!.fragments[r]
      if (piece === undefined) continue
      push("response.function_call_arguments.delta", {
        item_id: functionCallId(calls[i]!),
        output_index: first + i,
        delta: piece
      })
    }
  }
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!
    push("response.function_call_arguments.done", {
      item_id: functionCallId(call),
      output_index: first + i,
      name: call.name,
      arguments: call.arguments
    })
    push("response.output_item.done", { output_index: first + i, item: functionCallOutput(call, true) })
  }
  const response = responseOf(meta, extra, reply)
  const tail = event(response.status === "completed" ? "response.completed" : "response.incomplete", seq, { response })
  return { events, tail }
}

const failure = {
  code: "server_error",
  message: "The server had an error while processing your request. Sorry about that!"
}

const failedExtra: Extra = { store: false, encryptedReasoning: false, summary: false, effort: undefined }

// ---------------------------------------------------------------------------
// What the simulator renders a reply for: its response id, clock and model, with or without usage; the request's
// settings, with or without hosted tools' calls.

const meta: fc.Arbitrary<ReplyMeta> = fc.record({
  id: fc.stringMatching(/^resp_[a-z0-9]{1,12}$/),
  created: fc.nat(),
  model: fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }),
  usage: fc.constantFrom(undefined, "none" as const)
}).map(({ usage, ...rest }) => usage === undefined ? rest : { ...rest, usage })

const tools = ["web_search", "web_search_preview", "file_search", "code_interpreter", "image_generation", "mcp"]

const extra = (hosted: boolean): fc.Arbitrary<Extra> =>
  fc.record({
    store: fc.boolean(),
    encryptedReasoning: fc.boolean(),
    summary: fc.boolean(),
    effort: fc.constantFrom(undefined, "low", "high"),
    previous: fc.constantFrom(undefined, "resp_before"),
    hostedCalls: hosted ? fc.array(fc.constantFrom(...tools), { minLength: 1, maxLength: 3 }) : fc.constant(undefined)
  })

// An event's data without its number and place, which the hosted calls' items move.
function unplaced(text: string) {
  const { output_index: _index, sequence_number: _sequence, ...rest } = JSON.parse(
    text.slice(text.indexOf("data: ") + 6)
  )
  return rest
}

const isHostedEvent = (text: string) =>
  /"type":"(?!function_call")[a-z_]+_call","status"/.test(text) && text.includes("output_item")

describe("the simulator's Responses stream, written by the one writer", () => {
  it("each event is the one the simulator's own grammar wrote, byte for byte, each its own write", () => {
    fc.assert(fc.property(simulatedReply, meta, extra(false), (reply, meta, extra) => {
      const rendered = format.renderStream(reply, meta, extra)
      const expected = oldStream(reply, meta, extra)
      // The tail is what the usage and the finish write: the open items' ends, then the terminal event.
      const all = [...expected.events, expected.tail]
      expect(rendered.events).toEqual(all.slice(0, rendered.events.length))
      expect(rendered.tail).toBe(all.slice(rendered.events.length).join(""))
      expect(rendered.tail.endsWith(expected.tail)).toBe(true)
    }))
  })

  // Where the bytes differ, and why: a hosted tool's call reaches a writer as the library's types carry it, an item
  // of a Responses deployment's reply on its `Finish` chunk (as the client reads one from the terminal event). So the
  // one writer writes it at the end, announced and closed at once (its `output_item.added` already `completed`),
  // where the old grammar wrote it after the reasoning, announced `in_progress`: the events after it are numbered and
  // placed (`sequence_number`, `output_index`) one item earlier. Every other event, and every item, is the same.
  it("with hosted tools' calls, the same events and items, the calls' items written whole at the end", () => {
    fc.assert(fc.property(simulatedReply, meta, extra(true), (reply, meta, extra) => {
      const rendered = format.renderStream(reply, meta, extra)
      const expected = oldStream(reply, meta, extra)
      const all = eventsOf([...rendered.events, rendered.tail].join(""))
      const old = [...expected.events, expected.tail]
      expect(all).toHaveLength(old.length)
      expect(all.filter((text) => !isHostedEvent(text)).map(unplaced))
        .toEqual(old.filter((text) => !isHostedEvent(text)).map(unplaced).map(withHostedLast))
      const calls = 2 * extra.hostedCalls!.length
      const hosted = all.slice(-1 - calls, -1).map(unplaced)
      expect(hosted).toEqual(
        old.filter(isHostedEvent).map(unplaced).map((fields) => ({
          ...fields,
          item: { ...fields.item, status: "completed" }
        }))
      )
      // Numbered in order from 0, each placed where its item is in the final response.
      const data = all.map((text) => JSON.parse(text.slice(text.indexOf("data: ") + 6)))
      expect(data.map((one) => one.sequence_number)).toEqual(data.map((_, i) => i))
      const final = data.at(-1).response.output
      for (const one of data) if (one.item !== undefined) expect(final[one.output_index].id).toBe(one.item.id)
    }))
  })

  it("the client's parser reads back the reply's text, reasoning, tool calls, hosted calls and finish", () => {
    fc.assert(fc.property(simulatedReply, meta, fc.oneof(extra(false), extra(true)), (reply, meta, extra) => {
      const rendered = format.renderStream(reply, meta, extra)
      const chunks: Array<ChatChunk> = []
      const parser = new ResponsesStreamParser({ ...streamContext(), store: false, maxEventSize: undefined })
      const failed = parser.push([new TextEncoder().encode(rendered.events.join("") + rendered.tail)], chunks)
      expect(failed).toBeUndefined()
      const text = chunks.flatMap((chunk) => chunk._tag === "TextDelta" ? [chunk.text] : []).join("")
      expect(text).toBe(reply.content.join(""))
      const reasoning = chunks.flatMap((chunk) => chunk._tag === "ReasoningDelta" ? [chunk.text] : []).join("")
      expect(reasoning).toBe(extra.summary ? reply.reasoning.join("") : "")
      const finish = chunks.find((chunk) => chunk._tag === "Finish")
      expect(finish?._tag === "Finish" ? finish.finishReason : undefined).toBe(reply.finishReason)
      const usage = chunks.find((chunk) => chunk._tag === "Usage")
      const hosted = (extra.hostedCalls ?? []).length
      if (hosted > 0) {
        expect(usage?._tag === "Usage" && Object.values(usage.usage.hostedToolCalls ?? {}).reduce((a, b) => a + b))
          .toBe(hosted)
      }
    }))
  })

  it("the whole reply is the old grammar's object, byte for byte", () => {
    fc.assert(fc.property(simulatedReply, meta, fc.oneof(extra(false), extra(true)), (reply, meta, extra) => {
      expect(format.renderReply(reply, meta, extra)).toBe(JSON.stringify(responseOf(meta, extra, reply)))
    }))
  })

  it("the failures: a failed response, and the stream's error event in each shape", () => {
    fc.assert(fc.property(meta, (meta) => {
      const failed = responseOf(meta, failedExtra, undefined, failure)
      expect(failedResponse(meta)).toBe(JSON.stringify(failed))
      expect(renderStreamError("openai", meta)).toBe(event("error", 0, { ...failure, param: null }))
      for (const shape of ["vllm", "openrouter"] as const) {
        expect(renderStreamError(shape, meta)).toBe(event("response.failed", 0, { response: failed }))
      }
    }))
  })
})

// The old grammar's final response with its hosted calls' items last, where the one writer writes them.
function withHostedLast(fields: Record<string, unknown>) {
  const response = fields["response"] as { readonly output: ReadonlyArray<OutputItem> } | undefined
  if (response === undefined || response.output.length === 0) return fields
  const isHosted = (item: OutputItem) => item.type !== "function_call" && String(item.type).endsWith("_call")
  const hosted = response.output.filter(isHosted)
  const rest = response.output.filter((item: OutputItem) => !isHosted(item))
  return { ...fields, response: { ...response, output: [...rest, ...hosted] } }
}
