/**
 * The one writer of Anthropic Messages' answers (its Messages API reference, streaming included), for the gateway and
 * the simulator: a `ChatResponse` as a `message`, `ChatChunk` batches as the Messages stream, and a failure as
 * Anthropic's error body, whole or as the stream's `event: error`, which `@anthropic-ai/sdk` raises. Stop reasons,
 * usage and events are written as the codec writes them (`reply.ts`, `stream.ts`); this module decides which blocks a
 * reply has. What only the simulator writes are `SimulatorOptions`.
 *
 * Streamed thinking blocks carry no signature: an Anthropic deployment's comes with the stream's last chunk, after the
 * block has been closed. So what a provider needs back in the next turn ends a reply with tool calls in an empty
 * thinking block whose signature is the gateway's envelope (`wire/carried.ts`): clients send thinking blocks back as
 * they came. The Messages API has no refusal field: a refusal is a text block of its own after the others, and the
 * reply stops with `stop_reason: "refusal"`, which Anthropic's clients read as a refusal.
 *
 * `message_start` reports the prompt's tokens where the provider's first batch has them, else 0: clients keep
 * `message_delta`'s counts above 0 over it, so an estimate there would stay as if the provider's. As every writer does
 * (`wire/streamFold.ts`), a stream's writer keeps what it has forwarded: a `Restart` before any block went out is
 * invisible, after one it ends the stream with an error event. Anthropic's stream names its model once, in
 * `message_start`, so a model that takes over after a break is named in the gateway's log line only.
 */
import type { ChatChunk, Finish, Restart, ToolCallDelta } from "../../../ChatChunk.js"
import { type ChatResponse, emptyUsage, type Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata } from "../../../Message.js"
import { replyArguments } from "../../json.js"
import { asciiJson } from "../asciiJson.js"
import { bytesOf } from "../bodyText.js"
import { envelopeOf } from "../carried.js"
import { answeringModel, batchesOf, type ErrorAnswer, type ErrorWriter, type StreamEncoder } from "../dialect.js"
import { emit, type EventSink, eventText, FramedText, sse } from "../eventSink.js"
import { foldStream } from "../streamFold.js"
import { carrierBlock, toolUseId } from "./carrier.js"
import { errorJson, errorType } from "./errors.js"
import {
  messageJson,
  metadataKey,
  replyStopReason,
  textBlock,
  thinkingBlock,
  thinkingBlocksOf,
  toolUseBlock,
  wireUsage
} from "./reply.js"
import { blockStart, blockStop, deltaHead, deltaTail, messageDelta, messageStart, messageStop, ping } from "./stream.js"

/** What only the simulator writes of a whole `message`, as Anthropic's API answers; the gateway writes none of it. */
export interface MessageOptions {
  /** The thinking block's signature of its text. Default: none (an empty signature). */
  readonly signature?: ((thinking: string) => string) | undefined
  /** An empty reply without tool calls has no block, as the API answers one. Default: an empty text block. */
  readonly noEmptyText?: boolean | undefined
}

/** A whole reply as a `message` body of id `id` (Anthropic's `msg_…`, whatever id the provider gave it). */
export function message(response: ChatResponse, id: string, options: MessageOptions = {}): string {
  const blocks: Array<string> = []
  // An Anthropic deployment's signed thinking blocks go back as they came; another provider's reasoning has no
  // signature.
  const { [metadataKey]: ownMetadata, ...rest } = response.providerMetadata ?? {}
  const signed = ownMetadata === undefined ? [] : thinkingBlocksOf(response.providerMetadata)
  if (signed.length > 0) { for (const block of signed) blocks.push(JSON.stringify(block)) }
  else if (response.reasoning !== undefined) {
    const signature = options.signature === undefined ? "" : options.signature(response.reasoning)
    blocks.push(thinkingBlock(JSON.stringify(response.reasoning), JSON.stringify(signature)))
  }
  const refusal = response.refusal
  if (
    response.text !== "" || (response.toolCalls.length === 0 && refusal === undefined && options.noEmptyText !== true)
  ) {
    blocks.push(textBlock(JSON.stringify(response.text)))
  }
  for (const call of response.toolCalls) {
    blocks.push(
      toolUseBlock(JSON.stringify(toolUseId(call.id)), JSON.stringify(call.name), JSON.stringify(replyArguments(call)))
    )
  }
  // A refusal is a text block of its own, last, where the stream (which knows it at the end) writes it.
  if (refusal !== undefined) blocks.push(textBlock(JSON.stringify(refusal)))
  // Reasoning written without a signature goes back in the carrier too, for clients that drop unsigned thinking.
  const unsigned = signed.length === 0 && options.signature === undefined ? response.reasoning : undefined
  const carried = response.toolCalls.length === 0 ? undefined : envelopeOf(
    Object.keys(rest).length === 0 ? undefined : rest,
    response.toolCalls.map((call) => [call.id, call.providerMetadata]),
    unsigned
  )
  if (carried !== undefined) blocks.push(JSON.stringify(carrierBlock(carried)))
  return messageJson({
    id: JSON.stringify(id),
    model: JSON.stringify(response.model),
    blocks,
    stopReason: replyStopReason(response),
    usage: wireUsage(response.usage)
  })
}

const emptyText = textBlock(`""`)
const emptyThinking = thinkingBlock(`""`, `""`)

/**
 * Anthropic's status for an answer: a provider that is unavailable (503) is its 529 `overloaded_error`, a deployment
 * without a credential stays 503 (nothing is overloaded).
 */
function status(answer: ErrorAnswer): number {
  return answer.status === 503 && answer.code !== "credential_unavailable" ? 529 : answer.status
}

/** What only the simulator words of an error body: a `type` other than its status's, a `code` a fault injects. */
export interface ErrorOptions {
  readonly type?: string | undefined
  readonly code?: string | undefined
}

/** Anthropic's error body of `answer` at `answer.status`, its `type` that of the status unless `options` name one. */
export function errorBody(answer: Pick<ErrorAnswer, "status" | "message">, options: ErrorOptions = {}): string {
  return errorJson(options.type ?? errorType(answer.status), answer.message, options.code)
}

/** Anthropic's error body, its `type` that of its status (529 for a 503). */
export const errors: ErrorWriter = {
  status,
  body: (answer) => errorBody({ status: status(answer), message: answer.message })
}

/** One SSE event of the Messages stream, named `name`, carrying `data`. */
export function event(name: string, data: string): string {
  return eventText(sse, name, data)
}

/** An event of the stream whose data does not decode (the simulator's malformed fault). */
export const malformed: string = event("content_block_delta", "{not json")

/** The stream's `error` event, which `@anthropic-ai/sdk` raises. */
export function errorEvent(answer: ErrorAnswer): string {
  return event("error", errors.body(answer))
}

/** What names a stream: its message id and the model asked for. */
export interface StreamMeta {
  readonly id: string
  readonly model: string
}

/** What only the simulator writes, as Anthropic's API streams it; the gateway writes none of it. */
export interface SimulatorOptions {
  /** A `ping` after `message_start`. Default: none. */
  readonly ping?: boolean | undefined
  /** The output tokens `message_start` reports (Anthropic's API reports 1). Default 0. */
  readonly startOutput?: number | undefined
  /** Each thinking block closed by a `signature_delta` of this signature of its text. Default: none. */
  readonly signature?: ((thinking: string) => string) | undefined
  /** Each tool_use block's input opened by an empty `input_json_delta`, as the API streams it. Default: none. */
  readonly openInput?: boolean | undefined
}

/** Writes one stream's batches into its sink, event by event; one per stream (it keeps its open block). */
export interface StreamWriter {
  /**
   * Writes the events of `chunks`; the first batch opens the stream with `message_start`. A `Restart` after a block
   * went out stops there and is returned: the stream must end with an error event.
   */
  readonly write: (chunks: ReadonlyArray<ChatChunk>) => Restart | undefined
}

/** A writer for the stream `meta` names, into `out`. */
export function streamWriter(meta: StreamMeta, out: EventSink, options: SimulatorOptions = {}): StreamWriter {
  // The block open now (-1: none), what it is, and the number of blocks opened.
  let open = -1
  let kind: "text" | "thinking" | "tool" = "text"
  let blocks = 0
  // The thinking block's text, for the simulator's signature; the reply's reasoning, unsigned without it (`carried`).
  let thinking = ""
  let reasoning = ""
  // The block of each tool call, by the call's index, and its id and metadata (`carried`).
  let tools: Array<number> = []
  let calls: Array<readonly [string, ProviderMetadata | undefined]> = []
  // Calls that started while another call's arguments were not whole (a provider may interleave them, as Chat
  // Completions' stream may), by index: written whole once that block is done.
  let held = new Map<number, { id: string | undefined; name: string | undefined; arguments: string }>()
  // The arguments of the call whose block is open, so far.
  let openArguments = ""

  // An event named `name` whose data is the template `data`.
  function whole(name: string, data: string): void {
    out.open(name)
    out.template(data)
    out.close()
  }
  function stop(): void {
    if (open === -1) return
    if (kind === "thinking" && thinking !== "" && options.signature !== undefined) {
      delta(open, "signature_delta", options.signature(thinking))
    }
    whole("content_block_stop", blockStop(open))
    open = -1
  }
  // Opens a block of `next` whose JSON is `block` (once a block: checked as any text).
  function start(next: typeof kind, block: string): void {
    stop()
    open = blocks++
    kind = next
    thinking = ""
    emit(out, "content_block_start", blockStart(open, block))
  }
  // A delta of block `index`: its head, the JSON string of `value`, and the delta's end.
  function delta(index: number, type: Parameters<typeof deltaHead>[1], value: string): void {
    out.open("content_block_delta")
    out.template(deltaHead(index, type))
    out.json(value)
    out.template(deltaTail)
    out.close()
  }

  function opening(chunks: ReadonlyArray<ChatChunk>): void {
    let reported: Usage | undefined
    for (const chunk of chunks) if (chunk._tag === "Usage") reported = chunk.usage
    const prompt = { ...wireUsage(reported ?? emptyUsage), output: options.startOutput ?? 0, thinking: 0 }
    whole("message_start", messageStart(asciiJson(meta.id), asciiJson(answeringModel(chunks, meta.model)), prompt))
    if (options.ping === true) whole("ping", ping)
  }

  // Opens the block of call `call` (its index in the reply).
  function openTool(call: number, id: string | undefined, name: string | undefined): void {
    start("tool", toolUseBlock(JSON.stringify(id === undefined ? "" : toolUseId(id)), JSON.stringify(name ?? ""), "{}"))
    if (options.openInput === true) delta(open, "input_json_delta", "")
    tools[call] = open
  }

  // Each held call as a block of its own, its arguments whole, in the order the calls started.
  function writeHeld(): void {
    const waiting = [...held]
    held = new Map()
    for (const [call, { arguments: input, id, name }] of waiting) {
      openTool(call, id, name)
      if (input !== "") delta(open, "input_json_delta", input)
    }
  }

  function toolDelta(chunk: ToolCallDelta): boolean {
    const seen = calls[chunk.index]
    // A call's id comes with its first delta; its metadata may come later, and only then is its entry made anew.
    if (seen === undefined) calls[chunk.index] = [chunk.id ?? "", chunk.providerMetadata]
    else if (chunk.providerMetadata !== undefined) calls[chunk.index] = [seen[0], chunk.providerMetadata]
    const block = tools[chunk.index]
    const waiting = held.get(chunk.index)
    if (block !== undefined) {
      if (block === open) openArguments += chunk.arguments
      // A closed call's arguments were whole: only white space can follow them, which changes nothing.
      if (chunk.arguments.trim() !== "" || (block === open && chunk.arguments !== "")) {
        delta(block, "input_json_delta", chunk.arguments)
      }
    } else if (waiting !== undefined) {
      waiting.arguments += chunk.arguments
    } else if (open !== -1 && kind === "tool" && !isWholeObject(openArguments)) {
      // Anthropic's blocks come one after another: a call that starts while the open call's arguments are not yet a
      // whole JSON object (more may come) waits.
      held.set(chunk.index, { id: chunk.id, name: chunk.name, arguments: chunk.arguments })
    } else {
      openTool(chunk.index, chunk.id, chunk.name)
      openArguments = chunk.arguments
      if (chunk.arguments !== "") delta(open, "input_json_delta", chunk.arguments)
    }
    return true
  }

  function finish(chunk: Finish, usage: Usage | undefined): void {
    writeHeld()
    // A refusal, which the library holds whole on the `Finish` chunk: a text block of its own, as the whole message's.
    if (chunk.refusal !== undefined) {
      start("text", emptyText)
      if (chunk.refusal !== "") delta(open, "text_delta", chunk.refusal)
    }
    // The provider's state and the unsigned reasoning, for the next turn when it goes on with tool results.
    const unsigned = options.signature === undefined ? reasoning : undefined
    const made = calls.filter((call) => call !== undefined)
    const carried = calls.length === 0 ? undefined : envelopeOf(chunk.providerMetadata, made, unsigned)
    if (carried !== undefined) {
      // As Anthropic streams a signature: a `signature_delta` before the block's stop, which clients read.
      start("thinking", emptyThinking)
      delta(open, "signature_delta", carried)
    }
    stop()
    whole("message_delta", messageDelta(replyStopReason(chunk), wireUsage(usage ?? emptyUsage)))
    whole("message_stop", messageStop)
    out.end()
  }

  const { write } = foldStream({
    open: opening,
    text(text) {
      writeHeld()
      if (open === -1 || kind !== "text") start("text", emptyText)
      delta(open, "text_delta", text)
    },
    reasoning(text) {
      writeHeld()
      if (open === -1 || kind !== "thinking") start("thinking", emptyThinking)
      if (options.signature !== undefined) thinking += text
      reasoning += text
      delta(open, "thinking_delta", text)
    },
    toolCall: toolDelta,
    finish,
    restart() {
      tools = []
      calls = []
      reasoning = ""
      held = new Map()
    }
  })
  return { write }
}

/** The gateway's encoder for the stream `id` of `model`, each batch one write. */
export function streamEncoder(id: string, model: string): StreamEncoder {
  const out = new FramedText(sse)
  const writer = streamWriter({ id, model }, out)
  const batch = batchesOf(writer.write, out)
  return { contentType: "text/event-stream", batch, error: (answer) => bytesOf(errorEvent(answer)) }
}

/** Whether `text` is a whole JSON object: a call's arguments, which no further piece but white space can extend. */
function isWholeObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === "object" && value !== null
  } catch {
    return false
  }
}
