/**
 * The engine's `ChatChunk` batches as the Responses stream (OpenAI's Responses API reference, streaming events):
 * each event an `event:` line and its `data`, numbered by `sequence_number`. `response.created` and
 * `response.in_progress` open it; each output item is announced (`response.output_item.added`), filled by its
 * deltas and closed (`response.output_item.done`): a message's `output_text` part (`response.content_part.added`,
 * `response.output_text.delta`, `.done`, `response.content_part.done`), a reasoning item's summary
 * (`response.reasoning_summary_part.added`, `response.reasoning_summary_text.delta`, `.done`,
 * `response.reasoning_summary_part.done`), a function call's arguments (`response.function_call_arguments.delta`,
 * `.done`). A message or reasoning item closes when another item starts; function calls, whose deltas a provider may
 * interleave, close at the end, followed by a Responses deployment's items of other types (a hosted tool's call, as
 * it gave it, announced and closed at once: the provider's own progress events for them are not relayed) and by the
 * reasoning item that carries the provider's state for the next turn when there is any (`codec/carried.ts`).
 * `response.completed` (or `response.incomplete`) ends it with the whole response, as a whole reply renders it,
 * once the route has kept it; a failure after the stream began ends it with `response.failed`, carrying the error.
 *
 * As the other encoders do, this one keeps what it has forwarded: a `Restart` before any item went out is invisible,
 * after one it ends the stream with `response.failed`; a `Continue` is the stream going on. The response names the
 * model that produced it: from `response.created` on, a router's `Start` chunk's (an `Llm` that is no router: the one
 * asked for), then a `Restart`'s or `Continue`'s deployment's, and at its end the `Finish` chunk's.
 */
import type * as Effect from "effect/Effect"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata } from "../../../Message.js"
import {
  event,
  type EventFields,
  type EventType,
  type JsonRecord,
  messageItem,
  type OutputItem,
  outputItemsOf,
  outputText,
  reasoningItem,
  responseObject,
  statusOf,
  summaryText
} from "../../codec/openAiResponses.js"
import type { Names } from "../../codec/responsesNamespace.js"
import { bytesOf } from "../../wire/bodyText.js"
import { answeringModel, type Encoded, type ErrorAnswer, type StreamEncoder } from "../../wire/dialect.js"
import { callItem, carrierItem, encryptedReasoning, envelope, type Finished, finished, type Ids } from "./render.js"
import { type Upstream, upstreamOf } from "./store.js"

// An item being filled: its place in the output, its record (kept up to date) and its text so far.
interface OpenItem {
  readonly index: number
  readonly id: string
  readonly item: OutputItem
  text: string
}

// A function call being filled, by the engine's call index.
interface OpenCall {
  readonly index: number
  readonly id: string
  /** The provider's metadata for the call (the last seen), carried to the next turn. */
  metadata: ProviderMetadata | undefined
  readonly item: { -readonly [K in "arguments" | "call_id" | "name" | "status"]: string } & OutputItem
}

// An error answer as a failed response's `error`: its code, else its kind.
function failureOf(answer: ErrorAnswer): { readonly code: string; readonly message: string } {
  return { code: answer.code ?? answer.type, message: answer.message }
}

/**
 * An encoder for the stream of the response `ids` to a request naming `model`, echoing `echo`; `now` gives the time
 * in seconds, and `onFinished` is given the response once it has completed, with what its deployment keeps of it
 * upstream (`upstreamOf`; nothing for a reply continued mid-way, which no deployment holds whole): what it returns
 * is done before the terminal event is written. One per stream: it keeps the output items and what was forwarded.
 */
export const streamEncoder = ({ echo, ids, model, names, now, onFinished }: {
  readonly ids: Ids
  /** The request's namespaced functions, which its calls are named as. */
  readonly names: Names
  readonly model: string
  readonly echo: JsonRecord
  readonly now: () => number
  readonly onFinished: (response: Finished, upstream: Upstream | undefined) => Effect.Effect<void>
}): StreamEncoder => {
  // The model that produces what follows: the one asked for, until a `Start`, `Restart` or `Continue` names another.
  let producing = model
  let sequence = 0
  let started = false
  let forwarded = false
  // A `Continue` after items went out: the finishing deployment holds only the rest of the reply.
  let continuedMidway = false
  let usage: Usage | undefined
  let output: Array<OutputItem> = []
  let text: OpenItem | undefined
  let reasoning: OpenItem | undefined
  let calls = new Map<number, OpenCall>()
  let out = ""
  let before: Effect.Effect<void> | undefined

  const emit = <T extends EventType>(type: T, fields: EventFields<T>): void => {
    out += event(type, sequence++, fields)
  }
  const snapshot = (status: "in_progress" | "failed", error?: { readonly code: string; readonly message: string }) =>
    responseObject({
      id: ids.response,
      createdAt: ids.createdAt,
      echo,
      status,
      model: producing,
      output,
      usage: undefined,
      error
    })

  const added = (index: number, item: OutputItem): void => {
    forwarded = true
    output.push(item)
    emit("response.output_item.added", { output_index: index, item })
  }
  const closeText = (): void => {
    if (text === undefined) return
    const { id, index } = text
    const part = outputText(text.text)
    emit("response.output_text.done", {
      item_id: id,
      output_index: index,
      content_index: 0,
      text: text.text,
      logprobs: []
    })
    emit("response.content_part.done", { item_id: id, output_index: index, content_index: 0, part })
    output[index] = messageItem(id, "completed", [part])
    emit("response.output_item.done", { output_index: index, item: output[index]! })
    text = undefined
  }
  const closeReasoning = (): void => {
    if (reasoning === undefined) return
    const { id, index } = reasoning
    const part = summaryText(reasoning.text)
    emit("response.reasoning_summary_text.done", {
      item_id: id,
      output_index: index,
      summary_index: 0,
      text: part.text
    })
    emit("response.reasoning_summary_part.done", { item_id: id, output_index: index, summary_index: 0, part })
    output[index] = reasoningItem(id, [part])
    emit("response.output_item.done", { output_index: index, item: output[index]! })
    reasoning = undefined
  }
  const closeCalls = (): void => {
    for (const call of calls.values()) {
      const { arguments: args, name } = call.item
      emit("response.function_call_arguments.done", {
        item_id: call.id,
        output_index: call.index,
        arguments: args,
        name
      })
      call.item.status = "completed"
      emit("response.output_item.done", { output_index: call.index, item: call.item })
    }
    calls = new Map()
  }

  const textDelta = (delta: string): void => {
    closeReasoning()
    if (text === undefined) {
      const index = output.length
      const id = ids.item("msg", index)
      text = { index, id, item: messageItem(id, "in_progress", []), text: "" }
      added(index, text.item)
      emit("response.content_part.added", {
        item_id: text.id,
        output_index: index,
        content_index: 0,
        part: outputText("")
      })
    }
    text.text += delta
    emit("response.output_text.delta", {
      item_id: text.id,
      output_index: text.index,
      content_index: 0,
      delta,
      logprobs: []
    })
  }
  const reasoningDelta = (delta: string): void => {
    closeText()
    if (reasoning === undefined) {
      const index = output.length
      const id = ids.item("rs", index)
      reasoning = { index, id, item: reasoningItem(id, []), text: "" }
      added(index, reasoning.item)
      emit("response.reasoning_summary_part.added", {
        item_id: reasoning.id,
        output_index: index,
        summary_index: 0,
        part: summaryText("")
      })
    }
    reasoning.text += delta
    emit("response.reasoning_summary_text.delta", {
      item_id: reasoning.id,
      output_index: reasoning.index,
      summary_index: 0,
      delta
    })
  }
  const callDelta = (chunk: Extract<ChatChunk, { _tag: "ToolCallDelta" }>): void => {
    closeText()
    closeReasoning()
    let call = calls.get(chunk.index)
    if (call === undefined) {
      const index = output.length
      const started = callItem(ids, names, index, "in_progress", {
        id: chunk.id ?? "",
        name: chunk.name ?? "",
        arguments: ""
      })
      call = { index, id: ids.item("fc", index), item: started as OpenCall["item"], metadata: undefined }
      calls.set(chunk.index, call)
      added(index, call.item)
    }
    if (chunk.providerMetadata !== undefined) call.metadata = chunk.providerMetadata
    if (chunk.arguments === "") return
    call.item.arguments += chunk.arguments
    emit("response.function_call_arguments.delta", {
      item_id: call.id,
      output_index: call.index,
      delta: chunk.arguments
    })
  }
  // An item that comes whole: announced and closed at once.
  const whole = (item: OutputItem): void => {
    const index = output.length
    added(index, item)
    emit("response.output_item.done", { output_index: index, item })
  }
  const finish = (chunk: Extract<ChatChunk, { _tag: "Finish" }>): void => {
    closeText()
    closeReasoning()
    const carried = envelope(
      chunk.providerMetadata,
      [...calls.values()].map((call) => [call.item.call_id, call.metadata] as const)
    )
    closeCalls()
    // A Responses deployment's encrypted reasoning, known at the end only, joins the reasoning items in order.
    const encrypted = encryptedReasoning(chunk.providerMetadata)
    let next = 0
    output = output.map((item) => {
      if (item["type"] !== "reasoning") return item
      const content = encrypted[next++]
      return content === undefined ? item : { ...item, encrypted_content: content }
    })
    // A Responses deployment's items of other types (a hosted tool's call), known from its terminal event only.
    for (const item of outputItemsOf(chunk.providerMetadata)) whole(item)
    if (carried !== undefined) whole(carrierItem(ids, output.length, carried))
    const { incomplete, status } = statusOf(chunk.finishReason)
    const response = responseObject({
      id: ids.response,
      createdAt: ids.createdAt,
      echo,
      status,
      model: chunk.model,
      output,
      usage,
      incomplete,
      completedAt: now()
    })
    emit(status === "completed" ? "response.completed" : "response.incomplete", { response })
    before = onFinished(finished(response), continuedMidway ? undefined : upstreamOf(chunk))
  }

  const encoded = (restarted: Encoded["restarted"]): Encoded => {
    const bytes = bytesOf(out)
    out = ""
    const done = before
    before = undefined
    return { bytes, restarted, before: done }
  }

  const batch = (chunks: ReadonlyArray<ChatChunk>): Encoded => {
    if (!started) {
      started = true
      producing = answeringModel(chunks, producing)
      emit("response.created", { response: snapshot("in_progress") })
      emit("response.in_progress", { response: snapshot("in_progress") })
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
          if (chunk.text !== "") textDelta(chunk.text)
          break
        case "ReasoningDelta":
          if (chunk.text !== "") reasoningDelta(chunk.text)
          break
        case "ToolCallDelta":
          callDelta(chunk)
          break
        case "Usage":
          usage = chunk.usage
          break
        case "Finish":
          finish(chunk)
          break
        case "Restart":
          if (forwarded) return encoded(chunk)
          // Nothing of the broken attempt went out: the new one's items follow as if they were the first.
          usage = undefined
          output = []
          calls = new Map()
          producing = chunk.model
          break
        case "Start":
          producing = chunk.model
          break
        case "Continue":
          if (forwarded) continuedMidway = true
          producing = chunk.model
          break
      }
    }
    return encoded(undefined)
  }

  // The error answer as `response.failed`, with the items that went out.
  const error = (answer: ErrorAnswer): Uint8Array => {
    emit("response.failed", { response: snapshot("failed", failureOf(answer)) })
    return encoded(undefined).bytes
  }

  return { contentType: "text/event-stream", batch, error }
}
