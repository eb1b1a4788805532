/**
 * The engine's replies in Anthropic's wire shapes (its Messages API reference,
 * streaming included): a `ChatResponse` as a `message` (thinking, text and
 * `tool_use` blocks, the tool input parsed), and `ChatChunk` batches as the
 * Messages stream: `message_start`, per block `content_block_start`, its deltas
 * (`thinking_delta`, `text_delta`, `input_json_delta`) and
 * `content_block_stop`, then `message_delta` (stop reason and usage) and
 * `message_stop`. A failure is an `event: error`, which `@anthropic-ai/sdk`
 * raises.
 *
 * Streamed thinking blocks carry no signature: an Anthropic deployment's
 * comes with the stream's last chunk, after the block has been closed. So
 * what a provider needs back in the next turn (Anthropic's signed thinking
 * blocks, Gemini's thought signatures on calls) ends a reply with tool calls
 * (the turns that go on, where providers want it back) in a thinking
 * block of its own, empty, whose signature (a `signature_delta`, as Anthropic
 * streams one) is the gateway's envelope (`carried.ts`): clients send
 * thinking blocks back as they came.
 * The whole message carries the signed blocks as they came, and the carrier
 * for the rest.
 *
 * Stop reasons: `stop` is `end_turn`, `length` `max_tokens`, `tool_calls`
 * `tool_use`, `content_filter` `refusal`. The engine's `stop` does not say
 * whether a stop sequence ended the reply, so `stop_sequence` is not sent.
 *
 * Usage reports the cache reads and writes the provider reported (`cache_read_input_tokens`,
 * `cache_creation_input_tokens`, and the writes by lifetime in `cache_creation`), out of `input_tokens` as
 * Anthropic counts them.
 *
 * Ids are Anthropic's shapes: the gateway's `msg_…` for a message, a tool
 * use's `toolu_…` (`anthropic/wire.ts`'s `toolUseId`). `message_start`
 * reports the prompt's tokens, estimated when the provider has not said yet.
 *
 * As the OpenAI encoder does, a stream's encoder keeps what it has forwarded:
 * a `Restart` before any block went out is invisible (the blocks of the new
 * attempt follow), after one it ends the stream with an error event; after a
 * `Continue` the text goes on in the block it was in. Anthropic's stream names
 * its model once, in `message_start`, which goes out with the first batch: the
 * model of a `Continue` there (a reply whose first deployments
 * failed before their first chunk), else the one asked for; a model that takes
 * over later is named in the gateway's log line only.
 */
import type { ChatChunk } from "../../../ChatChunk.js"
import { type ChatResponse, emptyUsage, type FinishReason, type Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata, ToolCall } from "../../../Message.js"
import { isRecord, metadataKey, thinkingBlocksOf } from "../../providers/anthropic/wire.js"
import { asciiJson, BodyText, bytesOf } from "../bodyText.js"
import { envelopeOf } from "../carried.js"
import { answeringModel, type Encoded, type StreamEncoder } from "../openai/render.js"
import { toolUseId } from "./wire.js"

const stopReason = (reason: FinishReason): string => {
  switch (reason) {
    case "length":
      return "max_tokens"
    case "tool_calls":
      return "tool_use"
    case "content_filter":
      return "refusal"
    default:
      return "end_turn"
  }
}

// Anthropic's `input_tokens` leaves out the tokens read from and written to the cache, which it reports apart, the
// writes also by lifetime (`cache_creation`).
const usageObject = (usage: Usage) => {
  const written = usage.cacheWriteTokens ?? 0
  const writtenForAnHour = usage.cacheWrite1hTokens ?? 0
  return {
    input_tokens: usage.promptTokens - usage.cachedPromptTokens - written,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: usage.cachedPromptTokens,
    cache_creation: {
      ephemeral_5m_input_tokens: written - writtenForAnHour,
      ephemeral_1h_input_tokens: writtenForAnHour
    },
    output_tokens: usage.completionTokens
  }
}

// A tool call's arguments as `tool_use`'s `input` object; arguments that are not one are kept under `arguments`.
const input = (call: ToolCall): unknown => {
  if (call.arguments.trim() === "") return {}
  try {
    const value: unknown = JSON.parse(call.arguments)
    return isRecord(value) ? value : { arguments: call.arguments }
  } catch {
    return { arguments: call.arguments }
  }
}

/** The thinking block that carries `carried`, the provider's state for the next turn (see the module's docs). */
const carrierBlock = (carried: string) => ({ type: "thinking", thinking: "", signature: carried })

/** A whole reply as a `message` body of id `id` (Anthropic's `msg_…`, whatever id the provider gave it). */
export const message = (response: ChatResponse, id: string): string => {
  const content: Array<unknown> = []
  // An Anthropic deployment's signed thinking blocks go back as they came; another provider's reasoning has no
  // signature.
  const { [metadataKey]: ownMetadata, ...rest } = response.providerMetadata ?? {}
  const signed = ownMetadata === undefined ? [] : thinkingBlocksOf(response.providerMetadata)
  if (signed.length > 0) content.push(...signed)
  else if (response.reasoning !== undefined) {
    content.push({ type: "thinking", thinking: response.reasoning, signature: "" })
  }
  if (response.text !== "" || response.toolCalls.length === 0) content.push({ type: "text", text: response.text })
  for (const call of response.toolCalls) {
    content.push({ type: "tool_use", id: toolUseId(call.id), name: call.name, input: input(call) })
  }
  const carried = response.toolCalls.length === 0 ? undefined : envelopeOf(
    Object.keys(rest).length === 0 ? undefined : rest,
    response.toolCalls.map((call) => [call.id, call.providerMetadata])
  )
  if (carried !== undefined) content.push(carrierBlock(carried))
  return JSON.stringify({
    id,
    type: "message",
    role: "assistant",
    model: response.model,
    content,
    stop_reason: stopReason(response.finishReason),
    stop_sequence: null,
    usage: usageObject(response.usage)
  })
}

// An event's lines up to its data.
const eventHead = (name: string): string => `event: ${name}\ndata: `
const event = (name: string, data: string): string => `${eventHead(name)}${data}\n\n`

/**
 * An encoder for the stream `id` of `model`; one per stream (it keeps the open block and what was forwarded).
 * `message_start` reports the prompt's tokens: the provider's when its first batch has them, else
 * `estimatedInput()`, an estimate from the request.
 */
export const streamEncoder = (id: string, model: string, estimatedInput: () => number): StreamEncoder => {
  let started = false
  let forwarded = false
  let usage: Usage | undefined
  // The block open now (-1: none), what it is, and the number of blocks opened.
  let open = -1
  let kind: "text" | "thinking" | "tool" = "text"
  let blocks = 0
  // The block of each tool call, by the call's index, and its id and metadata (`carried`).
  let tools: Array<number> = []
  let calls: Array<readonly [string, ProviderMetadata | undefined]> = []
  // The text of the batch being encoded.
  let out = new BodyText()

  const stop = (): void => {
    if (open === -1) return
    out.template(event("content_block_stop", `{"type":"content_block_stop","index":${open}}`))
    open = -1
  }
  // Opens a block of `next` whose JSON is `block` (once a block: checked as any text).
  const start = (next: typeof kind, block: string): void => {
    stop()
    open = blocks++
    kind = next
    forwarded = true
    out.template(`${eventHead("content_block_start")}{"type":"content_block_start","index":${open},"content_block":`)
    out.text(block)
    out.template("}\n\n")
  }
  // A delta of block `index`: `head`, the JSON string of `value`, and the delta's end.
  const delta = (index: number, head: string, value: string): void => {
    out.template(`${eventHead("content_block_delta")}{"type":"content_block_delta","index":${index},"delta":${head}`)
    out.json(value)
    out.template("}}\n\n")
  }

  // The batch's bytes, and a fresh text for the next one (none kept between batches).
  const encoded = (restarted: Encoded["restarted"]): Encoded => {
    const bytes = out.bytes()
    out = new BodyText()
    return { bytes, restarted }
  }

  const batch = (chunks: ReadonlyArray<ChatChunk>): Encoded => {
    if (!started) {
      started = true
      let reported: Usage | undefined
      for (const chunk of chunks) if (chunk._tag === "Usage") reported = chunk.usage
      const prompt = reported === undefined
        ? { ...usageObject(emptyUsage), input_tokens: estimatedInput() }
        : { ...usageObject(reported), output_tokens: 0 }
      out.template(event(
        "message_start",
        `{"type":"message_start","message":{"id":${asciiJson(id)},"type":"message","role":"assistant","model":${
          asciiJson(answeringModel(chunks, model))
        },"content":[],"stop_reason":null,"stop_sequence":null,"usage":${JSON.stringify(prompt)}}}`
      ))
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
          if (chunk.text === "") break
          if (open === -1 || kind !== "text") start("text", `{"type":"text","text":""}`)
          delta(open, `{"type":"text_delta","text":`, chunk.text)
          break
        case "ReasoningDelta":
          if (chunk.text === "") break
          if (open === -1 || kind !== "thinking") start("thinking", `{"type":"thinking","thinking":"","signature":""}`)
          delta(open, `{"type":"thinking_delta","thinking":`, chunk.text)
          break
        case "ToolCallDelta": {
          let index = tools[chunk.index]
          if (index === undefined) {
            const use = chunk.id === undefined ? "" : toolUseId(chunk.id)
            const name = JSON.stringify(chunk.name ?? "")
            start("tool", `{"type":"tool_use","id":${JSON.stringify(use)},"name":${name},"input":{}}`)
            index = open
            tools[chunk.index] = index
            calls[chunk.index] = [chunk.id ?? "", undefined]
          }
          if (chunk.providerMetadata !== undefined) {
            calls[chunk.index] = [calls[chunk.index]![0], chunk.providerMetadata]
          }
          if (chunk.arguments !== "") delta(index, `{"type":"input_json_delta","partial_json":`, chunk.arguments)
          break
        }
        case "Usage":
          usage = chunk.usage
          break
        case "Finish": {
          // The provider's state for the next turn (its thinking went out unsigned, so all of it), when the turn goes
          // on with tool results.
          const carried = calls.length === 0
            ? undefined
            : envelopeOf(chunk.providerMetadata, calls.filter((call) => call !== undefined))
          if (carried !== undefined) {
            // As Anthropic streams a signature: a `signature_delta` before the block's stop, which clients read.
            start("thinking", `{"type":"thinking","thinking":"","signature":""}`)
            delta(open, `{"type":"signature_delta","signature":`, carried)
          }
          stop()
          out.template(
            event(
              "message_delta",
              `{"type":"message_delta","delta":{"stop_reason":"${
                stopReason(chunk.finishReason)
              }","stop_sequence":null},"usage":${JSON.stringify(usageObject(usage ?? emptyUsage))}}`
            ) + event("message_stop", `{"type":"message_stop"}`)
          )
          break
        }
        case "Restart":
          if (forwarded) return encoded(chunk)
          // Nothing of the broken attempt went out: the new one's blocks follow as if they were the first.
          usage = undefined
          tools = []
          calls = []
          break
      }
    }
    return encoded(undefined)
  }

  return { contentType: "text/event-stream", batch, error: (body) => bytesOf(event("error", body)) }
}
