/**
 * The Messages reply: the message object, the stream of named events (one
 * content block after another), and Anthropic's error objects per failure and
 * per injected status (Anthropic's API errors reference), all written with the
 * codec's writers (`codec/anthropic/`); this module decides what a reply holds.
 */
import type * as Reply from "../../../simulator/Reply.js"
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError, RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { errorJson, errorType } from "../../codec/anthropic/errors.js"
import {
  messageJson,
  stopReason,
  textBlock,
  thinkingBlock,
  toolUseBlock,
  wireUsage
} from "../../codec/anthropic/reply.js"
import {
  blockStart,
  blockStop,
  deltaHead,
  deltaTail,
  messageEnd,
  messageStart,
  ping
} from "../../codec/anthropic/stream.js"
import { quoteToken } from "../quoteToken.js"
import { usageOf } from "../usage.js"

/** A deterministic stand-in for a thinking block's signature. */
export const signatureOf = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return `sim-sig-${(h >>> 0).toString(16).padStart(8, "0")}`
}
const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string => {
  const blocks: Array<string> = []
  if (reply.reasoning.length > 0) {
    const thinking = reply.reasoning.join("")
    blocks.push(thinkingBlock(JSON.stringify(thinking), `"${signatureOf(thinking)}"`))
  }
  if (reply.content.length > 0) blocks.push(textBlock(JSON.stringify(reply.content.join(""))))
  for (const call of reply.toolCalls) {
    blocks.push(toolUseBlock(`"${toolId(call.id)}"`, JSON.stringify(call.name), call.arguments))
  }
  return messageJson({
    id: `"${meta.id}"`,
    model: JSON.stringify(meta.model),
    blocks,
    stopReason: stopReason(reply.finishReason),
    usage: wireUsage(usageOf(reply.usage))
  })
}

const emptyText = textBlock(`""`)
const emptyThinking = thinkingBlock(`""`, `""`)

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta): RenderedStream => {
  const usage = wireUsage(usageOf(reply.usage))
  const events: Array<string> = [
    messageStart(`"${meta.id}"`, JSON.stringify(meta.model), { ...usage, output: 1, thinking: 0 }),
    ping
  ]
  let index = 0
  if (reply.reasoning.length > 0) {
    events.push(blockStart(index, emptyThinking))
    for (const token of reply.reasoning) {
      events.push(deltaHead(index, "thinking_delta") + quoteToken(token) + deltaTail)
    }
    events.push(deltaHead(index, "signature_delta") + `"${signatureOf(reply.reasoning.join(""))}"` + deltaTail)
    events.push(blockStop(index++))
  }
  if (reply.content.length > 0) {
    events.push(blockStart(index, emptyText))
    for (const token of reply.content) events.push(deltaHead(index, "text_delta") + quoteToken(token) + deltaTail)
    events.push(blockStop(index++))
  }
  // Unlike Chat Completions, blocks never interleave: each tool_use block is
  // whole (start, its argument pieces, stop) before the next opens.
  for (const call of reply.toolCalls) {
    events.push(blockStart(index, toolUseBlock(`"${toolId(call.id)}"`, JSON.stringify(call.name), "{}")))
    events.push(deltaHead(index, "input_json_delta") + `""` + deltaTail)
    for (const piece of call.fragments) {
      events.push(deltaHead(index, "input_json_delta") + JSON.stringify(piece) + deltaTail)
    }
    events.push(blockStop(index++))
  }
  return { events, tail: messageEnd(stopReason(reply.finishReason), usage) }
}

/** The message of an injected fault's error object per HTTP status, as Anthropic words them. */
const faultMessages: Readonly<Record<number, string>> = {
  400: "The simulator rejected this request (injected fault).",
  401: "invalid x-api-key",
  402: "Your credit balance is too low to access the Anthropic API.",
  403: "Your API key does not have permission to use the specified resource.",
  404: "The requested resource could not be found.",
  408: "Request timed out.",
  409: "The request conflicted with another one; retry it.",
  413: "Request exceeds the maximum allowed number of bytes.",
  429: "Number of requests has exceeded your per-minute rate limit.",
  500: "Internal server error",
  504: "Gateway timeout.",
  529: "Overloaded"
}

export const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidRequest":
      return { status: error.status ?? 400, body: errorJson("invalid_request_error", error.message) }
    case "InvalidKey":
      return { status: 401, body: errorJson("authentication_error", "invalid x-api-key") }
    case "RateLimited":
      return {
        status: 429,
        body: errorJson(
          "rate_limit_error",
          `This request would exceed the rate limit for your organization of ${error.limit} requests per minute.`
        )
      }
    case "ModelNotFound":
      return { status: 404, body: errorJson("not_found_error", `model: ${error.model}`) }
    case "ContextLength":
      return {
        status: 400,
        body: errorJson(
          "invalid_request_error",
          `prompt is too long: ${error.promptTokens + error.completionTokens} tokens > ${error.limit} maximum`
        )
      }
    case "NotFound":
      return { status: 404, body: errorJson("not_found_error", `Not found: ${error.method} ${error.path}`) }
    case "Injected": {
      const { fault } = error
      const message = faultMessages[fault.status] ??
        `Simulated ${fault.status >= 500 ? "server" : "client"} error (HTTP ${fault.status}).`
      return {
        status: fault.status,
        body: errorJson(fault.type ?? errorType(fault.status), fault.message ?? message, fault.code)
      }
    }
  }
}

export const streamErrorJson = (shape: StreamErrorShape): string =>
  shape === "openai" ? errorJson("overloaded_error", "Overloaded") : errorJson("api_error", "Internal server error")
