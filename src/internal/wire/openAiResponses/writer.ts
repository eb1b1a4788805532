/**
 * The one writer of OpenAI Responses answers (OpenAI's Responses API reference: "The response object", "Streaming
 * events"), for the gateway and the simulator: a whole `ChatResponse` as the `response` object, `ChatChunk` batches as
 * the stream's events, and a failure as OpenAI's error body, the stream's `error` event or a failed response.
 *
 * A Responses deployment's reasoning items (with their `encrypted_content`) and items of other types (a hosted tool's
 * call) go out as it gave them, so a client sending them back gives them to it again; the provider's own progress
 * events for hosted tools are not relayed. In a stream, a message or reasoning item closes when another item starts;
 * function calls, whose deltas a provider may interleave, close at the end. A refusal sits where a stream puts it:
 * after the open message's text, or in a message after the function calls.
 *
 * As every writer does (`wire/streamFold.ts`), a stream's writer keeps what it has forwarded: a `Restart` before any
 * item went out is invisible, after one it ends the stream with `response.failed`. Ids are made of a random UUID of the
 * gateway's, never the client's `x-request-id`, which it may choose, so no client can name another's response before it
 * is made.
 */
import type * as Effect from "effect/Effect"
import { type ChatChunk, type Finish, fromResponse, type Restart, type ToolCallDelta } from "../../../ChatChunk.js"
import { type ChatResponse, emptyUsage, type Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../../Message.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { envelopeOf } from "../carried.js"
import { answeringModel, type Encoded, type ErrorAnswer, type ErrorWriter, type StreamEncoder } from "../dialect.js"
import { emit, type EventSink, eventText, FramedText, sse } from "../eventSink.js"
import { errors as openAiErrors } from "../openAiChat/writer.js"
import { foldStream } from "../streamFold.js"
import * as ClientTools from "./clientTools.js"
import {
  eventData,
  type EventFields,
  type EventType,
  functionCallItem,
  type ItemStatus,
  messageItem,
  metadataKey,
  type Outcome,
  type OutputItem,
  outputItemsOf,
  outputText,
  reasoningItem,
  reasoningItemsOf,
  refusalPart,
  type ResponseObject,
  responseObject,
  statusOf,
  summaryText
} from "./codec.js"
import { compactionItem } from "./compaction.js"
import { callFields, type Names } from "./namespace.js"

// ---------------------------------------------------------------------------
// Ids

/** What names a response: its `resp_…` id, the seconds of its creation, and the ids of its items. */
export interface Ids {
  readonly response: string
  readonly createdAt: number
  /** The id of the output item at `index` of `kind`; a function call's with the provider's `callId`. */
  readonly item: (kind: "msg" | "fc" | "ctc" | "tsc" | "rs" | "cmp", index: number, callId?: string) => string
}

/** The ids of the response of id `uuid` (a random UUID), created at `createdAt` seconds. */
export function idsOf(uuid: string, createdAt: number): Ids {
  const hex = uuid.replaceAll("-", "")
  return { response: `resp_${hex}`, createdAt, item: (kind, index) => `${kind}_${hex}${index}` }
}

// ---------------------------------------------------------------------------
// The whole reply

/**
 * The item at `index` of `call`, named as the request's tools (`names`) named its tool: a `function_call`, or the call
 * of the client's tool it stands for (`clientTools.ts`).
 */
function callItem(
  ids: Ids,
  names: Names,
  index: number,
  status: "in_progress" | "completed",
  call: ToolCall
): OutputItem {
  const { kind, ...fields } = callFields(names, call.name)
  return kind === undefined
    ? functionCallItem(ids.item("fc", index, call.id), status, call, fields)
    : ClientTools.callItem(ids.item(kind === "custom" ? "ctc" : "tsc", index, call.id), status, call, {
      ...fields,
      kind
    })
}

/** A reply's metadata that is not a Responses deployment's (whose reasoning items carry themselves). */
function foreignMetadata(metadata: ProviderMetadata | undefined): ProviderMetadata | undefined {
  if (metadata === undefined) return undefined
  const { [metadataKey]: _responses, ...rest } = metadata
  return Object.keys(rest).length === 0 ? undefined : rest
}

/**
 * The carried state of a reply's metadata and its calls', as `encrypted_content` (a Responses deployment's is left out:
 * its reasoning items carry themselves).
 */
function envelope(
  message: ProviderMetadata | undefined,
  calls: Iterable<readonly [string, ProviderMetadata | undefined]>
): string | undefined {
  return envelopeOf(foreignMetadata(message), calls)
}

/** The `encrypted_content` of each reasoning item a Responses deployment left in the reply's metadata, in order. */
function encryptedReasoning(metadata: ChatResponse["providerMetadata"]): ReadonlyArray<string | undefined> {
  return reasoningItemsOf(metadata).map((item) =>
    isJsonObject(item) && typeof item["encrypted_content"] === "string" ? item["encrypted_content"] : undefined
  )
}

/** What a whole reply's writer reads of a reply: a `ChatResponse`, its usage absent when the reply reports none. */
export type Reply =
  & Pick<ChatResponse, "model" | "text" | "reasoning" | "refusal" | "toolCalls" | "finishReason" | "providerMetadata">
  & { readonly usage: Usage | undefined }

// The reasoning items of a whole reply: a Responses deployment's, as it gave them, or one of the reply's reasoning.
function reasoningItems(response: Reply, ids: Ids): Array<OutputItem> {
  const given = reasoningItemsOf(response.providerMetadata).filter(isJsonObject)
  if (given.length > 0) {
    return given.map((item, index) =>
      reasoningItem(
        ids.item("rs", index),
        // As the deployment gave them: its summary parts are the wire's.
        (Array.isArray(item["summary"]) ? item["summary"] : []) as Parameters<typeof reasoningItem>[1],
        typeof item["encrypted_content"] === "string" ? item["encrypted_content"] : undefined
      )
    )
  }
  return response.reasoning === undefined ? [] : [reasoningItem(ids.item("rs", 0), [summaryText(response.reasoning)])]
}

// Whether a Responses deployment's items of other types hold its compaction: the answer, with no message beside it.
function compacted(items: ReadonlyArray<OutputItem>): boolean {
  return items.some((item) => item.type === "compaction")
}

/**
 * How a compaction's answer seals its summary (the reply's text) into the `encrypted_content` of its one `compaction`
 * item, which stands in place of a message (`compaction.ts`' `isTriggered`).
 */
export type Seal = (summary: string) => string

/**
 * A whole reply's output items, in a stream's order: reasoning, a Responses deployment's other items, the message (or a
 * compaction's `compaction` item), function calls, a refusal's message after them, and the carrier of provider state.
 */
export function outputItems(response: Reply, ids: Ids, names: Names, compaction?: Seal): Array<OutputItem> {
  const others = outputItemsOf(response.providerMetadata)
  const output = [...reasoningItems(response, ids), ...others]
  const { refusal, toolCalls } = response
  const { status } = statusOf(response.finishReason)
  const content: Parameters<typeof messageItem>[2][number][] = []
  if (compaction !== undefined) {
    output.push(compactionItem(ids.item("cmp", output.length), compaction(response.text)))
  } else if (response.text !== "" || (toolCalls.length === 0 && refusal === undefined && !compacted(others))) {
    content.push(outputText(response.text))
  }
  // A refusal joins the text's message; after tool calls (which close that message in a stream, where the refusal
  // comes at the end) it is a message of its own.
  if (refusal !== undefined && toolCalls.length === 0) content.push(refusalPart(refusal))
  if (content.length > 0) output.push(messageItem(ids.item("msg", output.length), status, content))
  for (const call of toolCalls) output.push(callItem(ids, names, output.length, "completed", call))
  if (refusal !== undefined && toolCalls.length > 0) {
    output.push(messageItem(ids.item("msg", output.length), status, [refusalPart(refusal)]))
  }
  const carried = envelope(
    response.providerMetadata,
    response.toolCalls.map((call) => [call.id, call.providerMetadata])
  )
  if (carried !== undefined) output.push(carrierItem(ids, output.length, carried))
  return output
}

/** The `reasoning` item at `index` that carries a provider's state for the next turn (`wire/carried.ts`). */
function carrierItem(ids: Ids, index: number, carried: string): OutputItem {
  return reasoningItem(ids.item("rs", index), [], carried)
}

/** A whole reply as the `response` object of `ids`, its calls named as the request's tools (`names`). */
export function response(
  reply: Reply,
  ids: Ids,
  names: Names,
  echo: JsonObject,
  now: number,
  compaction?: Seal
): Finished {
  const { incomplete, status } = statusOf(reply.finishReason)
  return finished(objectOf({ ids, echo }, {
    status,
    model: reply.model,
    output: outputItems(reply, ids, names, compaction),
    usage: reply.usage,
    incomplete,
    completedAt: status === "completed" ? now : null
  }))
}

/** A completed (or incomplete) response: its object's JSON, and its output items. */
export interface Finished {
  readonly body: string
  readonly output: ReadonlyArray<OutputItem>
}

/** A finished `response` object as its JSON and its output items. */
function finished(response: ResponseObject): Finished {
  return { body: JSON.stringify(response), output: response.output }
}

// ---------------------------------------------------------------------------
// Failures

/** OpenAI's error body (Chat Completions'), at the answer's own status. */
export const errors: ErrorWriter = openAiErrors

// An error answer as a failed response's `error`: its code, else its kind.
function failureOf(answer: ErrorAnswer): { readonly code: string; readonly message: string } {
  return { code: answer.code ?? answer.type, message: answer.message }
}

/** What names a response and what it echoes, in every event of its stream. */
export interface Response {
  readonly ids: Ids
  /** The request's settings as the response echoes them (`echoOf`). */
  readonly echo: JsonObject
}

// The `response` object of `response`'s ids and echo, as `outcome` says.
function objectOf({ echo, ids }: Response, outcome: Omit<Outcome, "id" | "createdAt" | "echo">): ResponseObject {
  return responseObject({ id: ids.response, createdAt: ids.createdAt, echo, ...outcome })
}

// The response not yet finished: in progress, or failed with `error`, holding `output` so far.
function snapshot(
  response: Response,
  model: string,
  output: ReadonlyArray<OutputItem>,
  error?: { readonly code: string; readonly message: string }
): ResponseObject {
  return objectOf(response, {
    status: error === undefined ? "in_progress" : "failed",
    completedAt: null,
    model,
    output,
    usage: undefined,
    error
  })
}

/** The failed response object of `answer` (a whole reply's failure, which the API answers with 200). */
export function failedResponse(response: Response, model: string, answer: ErrorAnswer): ResponseObject {
  return snapshot(response, model, [], failureOf(answer))
}

/** An event of the stream whose data does not decode (the simulator's malformed fault). */
export const malformed: string = eventText(sse, "response.output_text.delta", "{not json")

/** The stream's `error` event of `answer`, numbered `sequence`: its code, message and field at the top level. */
export function errorEvent(answer: ErrorAnswer, sequence: number): string {
  const fields = { code: answer.code ?? answer.type, message: answer.message, param: answer.param }
  return eventText(sse, "error", eventData("error", sequence, fields))
}

// ---------------------------------------------------------------------------
// The stream

// An item being filled: its place in the output, its record (kept up to date) and its text so far.
interface OpenItem {
  readonly index: number
  readonly id: string
  readonly item: OutputItem
  text: string
}

// A call being filled, by the engine's call index: a function's, whose arguments stream as they come, or a client
// tool's (`clientTools.ts`), whose item is written again from its whole arguments at the end.
interface OpenCall {
  readonly index: number
  readonly id: string
  readonly callId: string
  /** The function's name, as the model was offered it. */
  readonly name: string
  readonly function: boolean
  /** The provider's metadata for the call (the last seen), carried to the next turn. */
  metadata: ProviderMetadata | undefined
  item: OutputItem
  arguments: string
}

/** What a stream's writer needs besides its response's ids and echo. */
export interface StreamOptions extends Response {
  /** The request's namespaced functions, which its calls are named as. */
  readonly names: Names
  /** The model asked for. */
  readonly model: string
  /** The time in seconds, read when the response completes. */
  readonly now: () => number
  /**
   * Whether reasoning is written as its item's summary (`reasoning.summary` asked for one), or hidden: the item
   * announced and closed with an empty summary, as OpenAI answers a request that asks none. Default: written.
   */
  readonly summary?: boolean | undefined
  /**
   * The reasoning item's `encrypted_content`, made up as it closes (the simulator's stand-in), or `"none"`. Default: a
   * Responses deployment's, known at the reply's end only, where the reasoning items close with it.
   */
  readonly seal?: ((id: string) => string) | "none" | undefined
  /**
   * A compaction's answer (`compaction.ts`' `isTriggered`): the reply's text, withheld as it comes, is the summary this
   * seals into the one `compaction` item written at the end, in place of a message. Default: none.
   */
  readonly compaction?: Seal | undefined
}

/** Writes one stream's batches into its sink, event by event; one per stream (it keeps what was forwarded). */
export interface StreamWriter {
  /**
   * Writes the events of `chunks`; the first batch opens the stream. A `Restart` after part of the answer went out
   * stops there and is returned: the stream must end with `error`.
   */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined
  /** Writes `response.failed` of `answer`, with the items that went out. */
  readonly error: (answer: ErrorAnswer) => void
}

/** The events of one stream, numbered in order, and the output items they announced. */
interface Output {
  /** The items announced so far, by output index. */
  readonly items: Array<OutputItem>
  readonly put: <T extends EventType>(type: T, fields: EventFields<T>) => void
  readonly added: (index: number, item: OutputItem) => void
  /** Closes the item at `index`, as `item`. */
  readonly done: (index: number, item: OutputItem) => void
  /** An item that comes whole: announced and closed at once. */
  readonly whole: (item: OutputItem) => void
}

function makeOutput(out: EventSink): Output {
  let sequence = 0
  const items: Array<OutputItem> = []
  function put<T extends EventType>(type: T, fields: EventFields<T>): void {
    emit(out, type, eventData(type, sequence++, fields))
  }
  function added(index: number, item: OutputItem): void {
    items.push(item)
    put("response.output_item.added", { output_index: index, item })
  }
  function done(index: number, item: OutputItem): void {
    items[index] = item
    put("response.output_item.done", { output_index: index, item })
  }
  function whole(item: OutputItem): void {
    const index = items.length
    added(index, item)
    done(index, item)
  }
  return { items, put, added, done, whole }
}

/** A stream's messages: the open one's `output_text` part, filled by its deltas, and the reply's refusal at its end. */
function makeMessages(output: Output, ids: Ids) {
  const put = output.put
  let text: OpenItem | undefined
  let messages = 0
  function openMessage(): OpenItem {
    const index = output.items.length
    const id = ids.item("msg", index)
    const opened: OpenItem = { index, id, item: messageItem(id, "in_progress", []), text: "" }
    messages++
    output.added(index, opened.item)
    return opened
  }
  // Where the events of `message`'s text part are.
  function textAt(message: OpenItem) {
    return { item_id: message.id, output_index: message.index, content_index: 0 }
  }
  function openText(): OpenItem {
    const opened = openMessage()
    put("response.content_part.added", { ...textAt(opened), part: outputText("") })
    return opened
  }
  // Closes the open message's `output_text` part: the part, written.
  function closeTextPart(message: OpenItem): ReturnType<typeof outputText> {
    const part = outputText(message.text)
    put("response.output_text.done", { ...textAt(message), text: message.text, logprobs: [] })
    put("response.content_part.done", { ...textAt(message), part })
    return part
  }
  function closeMessage(message: OpenItem, status: ItemStatus, content: Parameters<typeof messageItem>[2]): void {
    output.done(message.index, messageItem(message.id, status, content))
  }
  function close(status: ItemStatus = "completed"): void {
    if (text === undefined) return
    closeMessage(text, status, [closeTextPart(text)])
    text = undefined
  }
  // The reply's refusal (known whole, at its end) as a `refusal` part after the open message's text, or in a message
  // of its own, as the whole reply's message holds it: its part opened, its one delta, and the message closed.
  function refuse(refusal: string, status: ItemStatus): void {
    const message = text ?? openMessage()
    const content = text === undefined ? [] : [closeTextPart(text)]
    text = undefined
    const at = { item_id: message.id, output_index: message.index, content_index: content.length }
    put("response.content_part.added", { ...at, part: refusalPart("") })
    put("response.refusal.delta", { ...at, delta: refusal })
    put("response.refusal.done", { ...at, refusal })
    const part = refusalPart(refusal)
    put("response.content_part.done", { ...at, part })
    closeMessage(message, status, [...content, part])
  }
  function delta(delta: string): void {
    text ??= openText()
    text.text += delta
    put("response.output_text.delta", { ...textAt(text), delta, logprobs: [] })
  }
  // No message went out yet.
  function none(): boolean {
    return messages === 0
  }
  function openEmpty(): void {
    text = openText()
  }
  return { delta, close, refuse, none, openEmpty }
}

/**
 * A stream's reasoning item; without `seal`, its `response.output_item.done` is held until `release` at the reply's
 * end, where a Responses deployment's `encrypted_content` is known (Codex keeps each item as that event gives it, and
 * sends it back so).
 */
function makeReasoning(output: Output, ids: Ids, summary: boolean, seal: StreamOptions["seal"]) {
  const put = output.put
  let reasoning: OpenItem | undefined
  let held: Array<number> = []
  // Where the events of the open item's summary part are.
  function summaryAt({ id, index }: OpenItem) {
    return { item_id: id, output_index: index, summary_index: 0 }
  }
  function close(): void {
    if (reasoning === undefined) return
    const { id, index } = reasoning
    const parts = summary ? [summaryText(reasoning.text)] : []
    if (summary) {
      const part = parts[0]!
      put("response.reasoning_summary_text.done", { ...summaryAt(reasoning), text: part.text })
      put("response.reasoning_summary_part.done", { ...summaryAt(reasoning), part })
    }
    reasoning = undefined
    if (seal !== undefined) return output.done(index, reasoningItem(id, parts, seal === "none" ? undefined : seal(id)))
    output.items[index] = reasoningItem(id, parts, undefined)
    held.push(index)
  }
  // Closes the held items, each as the output holds it now (its encrypted content joined).
  function release(): void {
    for (const index of held) output.done(index, output.items[index]!)
    held = []
  }
  function reset(): void {
    reasoning = undefined
    held = []
  }
  function delta(delta: string): void {
    if (reasoning === undefined) {
      const index = output.items.length
      const id = ids.item("rs", index)
      const encrypted = seal === undefined || seal === "none" ? undefined : null
      reasoning = { index, id, item: reasoningItem(id, [], encrypted), text: "" }
      output.added(index, reasoning.item)
      if (summary) put("response.reasoning_summary_part.added", { ...summaryAt(reasoning), part: summaryText("") })
    }
    reasoning.text += delta
    if (!summary) return
    put("response.reasoning_summary_text.delta", { ...summaryAt(reasoning), delta })
  }
  return { delta, close, release, reset }
}

/**
 * A stream's function calls, by the engine's call index: a provider may interleave their deltas, so they close at the
 * end.
 */
function makeCalls(output: Output, ids: Ids, names: Names) {
  let calls = new Map<number, OpenCall>()
  function delta(chunk: ToolCallDelta): void {
    let call = calls.get(chunk.index)
    if (call === undefined) {
      const index = output.items.length
      const callId = chunk.id ?? ""
      const name = chunk.name ?? ""
      const item = callItem(ids, names, index, "in_progress", { id: callId, name, arguments: "" })
      const isFunction = item.type === "function_call"
      call = {
        index,
        id: item["id"] as string,
        callId,
        name,
        function: isFunction,
        item,
        metadata: undefined,
        arguments: ""
      }
      calls.set(chunk.index, call)
      output.added(index, call.item)
    }
    if (chunk.providerMetadata !== undefined) call.metadata = chunk.providerMetadata
    if (chunk.arguments === "") return
    call.arguments += chunk.arguments
    if (!call.function) return
    ;(call.item as { arguments: string }).arguments = call.arguments
    output.put("response.function_call_arguments.delta", {
      item_id: call.id,
      output_index: call.index,
      delta: chunk.arguments
    })
  }
  // Closes every call: each one's provider metadata, by call id.
  function close(): Array<readonly [string, ProviderMetadata | undefined]> {
    const metadata = [...calls.values()].map((call) => [call.callId, call.metadata] as const)
    for (const call of calls.values()) {
      const at = { item_id: call.id, output_index: call.index }
      if (call.function) {
        output.put("response.function_call_arguments.done", { ...at, name: call.name, arguments: call.arguments })
        ;(call.item as { status: string }).status = "completed"
        output.done(call.index, call.item)
        continue
      }
      call.item = callItem(ids, names, call.index, "completed", {
        id: call.callId,
        name: call.name,
        arguments: call.arguments
      })
      if (call.item.type === "custom_tool_call") {
        const input = call.item["input"] as string
        output.put("response.custom_tool_call_input.delta", { ...at, delta: input })
        output.put("response.custom_tool_call_input.done", { ...at, input })
      }
      output.done(call.index, call.item)
    }
    calls = new Map()
    return metadata
  }
  function none(): boolean {
    return calls.size === 0
  }
  function reset(): void {
    calls = new Map()
  }
  return { delta, close, none, reset }
}

/**
 * A writer of the stream `options` names, into `out`; `onFinished` gets the completed response before its terminal
 * event, with the `Finish` chunk of a reply one deployment gave whole (none for one continued mid-way).
 */
export function streamWriter(
  options: StreamOptions,
  out: EventSink,
  onFinished?: (response: Finished, last: Finish | undefined) => void
): StreamWriter {
  const { compaction, ids, names, now } = options
  const output = makeOutput(out)
  const put = output.put
  const message = makeMessages(output, ids)
  const reasoning = makeReasoning(output, ids, options.summary ?? true, options.seal)
  const calls = makeCalls(output, ids, names)
  // The model that produces what follows: the one asked for, until a `Start`, `Restart` or `Continue` names another.
  let producing = options.model
  // A `Continue` after items went out: the finishing deployment holds only the rest of the reply.
  let continuedMidway = false
  // A compaction's summary so far.
  let summarized = ""

  function textDelta(delta: string): void {
    if (compaction !== undefined) {
      summarized += delta
      return
    }
    reasoning.close()
    message.delta(delta)
  }
  function reasoningDelta(delta: string): void {
    message.close()
    reasoning.delta(delta)
  }
  function callDelta(chunk: ToolCallDelta): boolean {
    message.close()
    reasoning.close()
    calls.delta(chunk)
    return true
  }
  function finish(chunk: Finish, usage: Usage | undefined): void {
    const { incomplete, status } = statusOf(chunk.finishReason)
    reasoning.close()
    // A Responses deployment's encrypted reasoning, known at the end only, joins the reasoning items in order, which
    // close with it, before the calls they led to.
    const encrypted = encryptedReasoning(chunk.providerMetadata)
    let next = 0
    output.items.forEach((item, index) => {
      if (item["type"] !== "reasoning") return
      const content = encrypted[next++]
      if (content !== undefined) output.items[index] = { ...item, encrypted_content: content }
    })
    reasoning.release()
    if (chunk.refusal !== undefined) message.refuse(chunk.refusal, status)
    // A reply of no text, no refusal, no call and no compaction: an empty message, as its whole reply has.
    else if (
      message.none() && calls.none() && compaction === undefined &&
      !compacted(outputItemsOf(chunk.providerMetadata))
    ) message.openEmpty()
    message.close(status)
    const carried = envelope(chunk.providerMetadata, calls.close())
    // A Responses deployment's items of other types (a hosted tool's call), known from its terminal event only.
    for (const item of outputItemsOf(chunk.providerMetadata)) output.whole(item)
    if (compaction !== undefined) {
      output.whole(compactionItem(ids.item("cmp", output.items.length), compaction(summarized)))
    }
    if (carried !== undefined) output.whole(carrierItem(ids, output.items.length, carried))
    const response = objectOf(options, {
      status,
      model: chunk.model,
      output: output.items,
      usage,
      incomplete,
      completedAt: status === "completed" ? now() : null
    })
    onFinished?.(finished(response), continuedMidway ? undefined : chunk)
    put(status === "completed" ? "response.completed" : "response.incomplete", { response })
    out.end()
  }

  const { write } = foldStream({
    open(first) {
      producing = answeringModel(first, producing)
      put("response.created", { response: snapshot(options, producing, output.items) })
      put("response.in_progress", { response: snapshot(options, producing, output.items) })
    },
    text: textDelta,
    reasoning: reasoningDelta,
    toolCall: callDelta,
    finish,
    restart() {
      output.items.length = 0
      reasoning.reset()
      calls.reset()
      summarized = ""
    },
    producedBy(next, midway) {
      if (midway) continuedMidway = true
      producing = next
    }
  })

  function error(answer: ErrorAnswer): void {
    put("response.failed", { response: snapshot(options, producing, output.items, failureOf(answer)) })
    out.end()
  }

  return { write, error }
}

/**
 * A warm-up's answer (the WebSocket mode's `generate: false`: no model is called): `response.created`, then
 * `response.completed` with no output and no usage, as `text/event-stream`'s text; and the completed response.
 */
export function warmedUp(
  response: Response,
  model: string,
  now: number
): { readonly events: string; readonly finished: Finished } {
  const completed = objectOf(response, {
    status: "completed",
    model,
    output: [],
    usage: emptyUsage,
    completedAt: now
  })
  const events = eventText(
    sse,
    "response.created",
    eventData("response.created", 0, {
      response: snapshot(response, model, [])
    })
  ) + eventText(sse, "response.completed", eventData("response.completed", 1, { response: completed }))
  return { events, finished: finished(completed) }
}

/** A whole reply as the events of the stream `options` names, written at once (`text/event-stream`'s text). */
export function streamed(reply: ChatResponse, options: StreamOptions): string {
  const out = new FramedText(sse)
  streamWriter(options, out).write(fromResponse(reply))
  return out.string()
}

/**
 * The gateway's encoder for the stream `options` names, each batch one write; what `onFinished` returns is done before
 * the terminal event is written (`streamWriter`).
 */
export function streamEncoder(
  options: StreamOptions & {
    readonly onFinished: (response: Finished, last: Finish | undefined) => Effect.Effect<void>
  }
): StreamEncoder {
  const out = new FramedText(sse)
  let before: Effect.Effect<void> | undefined
  const writer = streamWriter(options, out, (response, last) => {
    before = options.onFinished(response, last)
  })
  function encoded(restarted: Restart | undefined): Encoded {
    const bytes = out.flush()
    const done = before
    before = undefined
    return { bytes, restarted, before: done }
  }
  return {
    contentType: "text/event-stream",
    batch: (chunks) => encoded(writer.write(chunks)),
    error: (answer) => {
      writer.error(answer)
      return encoded(undefined).bytes
    }
  }
}
