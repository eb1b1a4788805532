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
 * streams one) is the gateway's envelope (`codec/carried.ts`): clients send
 * thinking blocks back as they came.
 * The whole message carries the signed blocks as they came, and the carrier
 * for the rest.
 *
 * Stop reasons and usage are written as the codec writes them (`codec/anthropic/reply.ts`), and so are the
 * events (`codec/anthropic/stream.ts`); this module decides which blocks a reply has.
 *
 * Ids are Anthropic's shapes: the gateway's `msg_…` for a message, a tool
 * use's `toolu_…` (`anthropic/carrier.ts`'s `toolUseId`). `message_start`
 * reports the prompt's tokens, estimated when the provider has not said yet.
 *
 * As the OpenAI encoder does, a stream's encoder keeps what it has forwarded:
 * a `Restart` before any block went out is invisible (the blocks of the new
 * attempt follow), after one it ends the stream with an error event; after a
 * `Continue` the text goes on in the block it was in. Anthropic's stream names
 * its model once, in `message_start`, which goes out with the first batch: the
 * model of a router's `Start` chunk there (the deployment that answers, as the
 * whole message names it), else (an `Llm` that is no router) the one asked
 * for; a model that takes over after a break is named in the gateway's log
 * line only.
 */
import type { ChatChunk } from "../../../ChatChunk.js"
import { type ChatResponse, emptyUsage, type Usage } from "../../../ChatResponse.js"
import type { ProviderMetadata } from "../../../Message.js"
import {
  argumentsRecord,
  messageJson,
  metadataKey,
  stopReason,
  textBlock,
  thinkingBlock,
  thinkingBlocksOf,
  toolUseBlock,
  wireUsage
} from "../../codec/anthropic/reply.js"
import {
  blockStart,
  blockStop,
  deltaHead,
  deltaTail,
  event,
  messageEnd,
  messageStart
} from "../../codec/anthropic/stream.js"
import { envelopeOf } from "../../codec/carried.js"
import { asciiJson } from "../../wire/asciiJson.js"
import { BodyText, bytesOf } from "../../wire/bodyText.js"
import { answeringModel, type Encoded, type StreamEncoder } from "../../wire/dialect.js"
import { carrierBlock, toolUseId } from "./carrier.js"
import { errors } from "./errors.js"

/** A whole reply as a `message` body of id `id` (Anthropic's `msg_…`, whatever id the provider gave it). */
export function message(response: ChatResponse, id: string): string {
  const blocks: Array<string> = []
  // An Anthropic deployment's signed thinking blocks go back as they came; another provider's reasoning has no
  // signature.
  const { [metadataKey]: ownMetadata, ...rest } = response.providerMetadata ?? {}
  const signed = ownMetadata === undefined ? [] : thinkingBlocksOf(response.providerMetadata)
  if (signed.length > 0) { for (const block of signed) blocks.push(JSON.stringify(block)) }
  else if (response.reasoning !== undefined) blocks.push(thinkingBlock(JSON.stringify(response.reasoning), `""`))
  if (response.text !== "" || response.toolCalls.length === 0) blocks.push(textBlock(JSON.stringify(response.text)))
  for (const call of response.toolCalls) {
    blocks.push(
      toolUseBlock(JSON.stringify(toolUseId(call.id)), JSON.stringify(call.name), JSON.stringify(argumentsRecord(call)))
    )
  }
  const carried = response.toolCalls.length === 0 ? undefined : envelopeOf(
    Object.keys(rest).length === 0 ? undefined : rest,
    response.toolCalls.map((call) => [call.id, call.providerMetadata])
  )
  if (carried !== undefined) blocks.push(JSON.stringify(carrierBlock(carried)))
  return messageJson({
    id: JSON.stringify(id),
    model: JSON.stringify(response.model),
    blocks,
    stopReason: stopReason(response.finishReason),
    usage: wireUsage(response.usage)
  })
}

const emptyText = textBlock(`""`)
const emptyThinking = thinkingBlock(`""`, `""`)

/**
 * An encoder for the stream `id` of `model`; one per stream (it keeps the open block and what was forwarded).
 * `message_start` reports the prompt's tokens: the provider's when its first batch has them, else
 * `estimatedInput()`, an estimate from the request.
 */
export function streamEncoder(id: string, model: string, estimatedInput: () => number): StreamEncoder {
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
    out.template(blockStop(open))
    open = -1
  }
  // Opens a block of `next` whose JSON is `block` (once a block: checked as any text).
  const start = (next: typeof kind, block: string): void => {
    stop()
    open = blocks++
    kind = next
    forwarded = true
    out.text(blockStart(open, block))
  }
  // A delta of block `index`: its head, the JSON string of `value`, and the delta's end.
  const delta = (index: number, type: Parameters<typeof deltaHead>[1], value: string): void => {
    out.template(deltaHead(index, type))
    out.json(value)
    out.template(deltaTail)
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
        ? { ...wireUsage(emptyUsage), input: estimatedInput() }
        : { ...wireUsage(reported), output: 0, thinking: 0 }
      out.template(messageStart(asciiJson(id), asciiJson(answeringModel(chunks, model)), prompt))
    }
    for (const chunk of chunks) {
      switch (chunk._tag) {
        case "TextDelta":
          if (chunk.text === "") break
          if (open === -1 || kind !== "text") start("text", emptyText)
          delta(open, "text_delta", chunk.text)
          break
        case "ReasoningDelta":
          if (chunk.text === "") break
          if (open === -1 || kind !== "thinking") start("thinking", emptyThinking)
          delta(open, "thinking_delta", chunk.text)
          break
        case "ToolCallDelta": {
          let index = tools[chunk.index]
          if (index === undefined) {
            const use = chunk.id === undefined ? "" : toolUseId(chunk.id)
            start("tool", toolUseBlock(JSON.stringify(use), JSON.stringify(chunk.name ?? ""), "{}"))
            index = open
            tools[chunk.index] = index
            calls[chunk.index] = [chunk.id ?? "", undefined]
          }
          if (chunk.providerMetadata !== undefined) {
            calls[chunk.index] = [calls[chunk.index]![0], chunk.providerMetadata]
          }
          if (chunk.arguments !== "") delta(index, "input_json_delta", chunk.arguments)
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
            start("thinking", emptyThinking)
            delta(open, "signature_delta", carried)
          }
          stop()
          out.template(messageEnd(stopReason(chunk.finishReason), wireUsage(usage ?? emptyUsage)))
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

  return { contentType: "text/event-stream", batch, error: (answer) => bytesOf(event("error", errors.body(answer))) }
}
