/**
 * The Messages reply: the message object, the stream of named events (one
 * content block after another), and Anthropic's error objects per failure and
 * per injected status (Anthropic's API errors reference).
 */
import type * as Reply from "../../../simulator/Reply.js"
import type { StreamErrorShape } from "../../../simulator/Simulator.js"
import type { ApiError, RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { quoteToken } from "../quoteToken.js"

/** A deterministic stand-in for a thinking block's signature. */
export const signatureOf = (text: string): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return `sim-sig-${(h >>> 0).toString(16).padStart(8, "0")}`
}
const stopReason = (reason: Reply.FinishReason): string =>
  reason === "tool_calls" ? "tool_use" : reason === "length" ? "max_tokens" : "end_turn"

const toolId = (id: string): string => `toolu_${id.startsWith("call_") ? id.slice(5) : id}`

// The prompt's counts as Anthropic splits them: `input_tokens` leaves out the cache reads and writes, and
// `cache_creation` splits the writes by lifetime.
const promptUsageJson = (usage: Reply.Usage): string =>
  `"input_tokens":${usage.promptTokens - usage.cachedTokens - usage.cacheWriteTokens},` +
  `"cache_creation_input_tokens":${usage.cacheWriteTokens},"cache_read_input_tokens":${usage.cachedTokens},` +
  `"cache_creation":{"ephemeral_5m_input_tokens":${usage.cacheWriteTokens - usage.cacheWrite1hTokens},` +
  `"ephemeral_1h_input_tokens":${usage.cacheWrite1hTokens}}`

const usageJson = (usage: Reply.Usage): string =>
  `{${promptUsageJson(usage)},"output_tokens":${usage.completionTokens},` +
  (usage.reasoningTokens > 0 ? `"output_tokens_details":{"thinking_tokens":${usage.reasoningTokens}},` : "") +
  `"service_tier":"standard"}`

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string => {
  const blocks: Array<string> = []
  if (reply.reasoning.length > 0) {
    const thinking = reply.reasoning.join("")
    blocks.push(`{"type":"thinking","thinking":${JSON.stringify(thinking)},"signature":"${signatureOf(thinking)}"}`)
  }
  if (reply.content.length > 0) blocks.push(`{"type":"text","text":${JSON.stringify(reply.content.join(""))}}`)
  for (const call of reply.toolCalls) {
    blocks.push(
      `{"type":"tool_use","id":"${toolId(call.id)}","name":${JSON.stringify(call.name)},"input":${call.arguments}}`
    )
  }
  return `{"id":"${meta.id}","type":"message","role":"assistant","model":${JSON.stringify(meta.model)},` +
    `"content":[${blocks.join(",")}],"stop_reason":"${stopReason(reply.finishReason)}","stop_sequence":null,` +
    `"usage":${usageJson(reply.usage)}}`
}

export const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta): RenderedStream => {
  const usage = reply.usage
  const events: Array<string> = [
    event(
      "message_start",
      `{"type":"message_start","message":{"id":"${meta.id}","type":"message","role":"assistant","model":${
        JSON.stringify(meta.model)
      },"content":[],"stop_reason":null,"stop_sequence":null,"usage":{${
        promptUsageJson(usage)
      },"output_tokens":1,"service_tier":"standard"}}}`
    ),
    event("ping", `{"type":"ping"}`)
  ]
  let index = 0
  const stop = () => event("content_block_stop", `{"type":"content_block_stop","index":${index++}}`)
  const delta = (body: string) =>
    event("content_block_delta", `{"type":"content_block_delta","index":${index},"delta":${body}}`)
  if (reply.reasoning.length > 0) {
    events.push(event(
      "content_block_start",
      `{"type":"content_block_start","index":${index},"content_block":{"type":"thinking","thinking":"","signature":""}}`
    ))
    for (const token of reply.reasoning) events.push(delta(`{"type":"thinking_delta","thinking":${quoteToken(token)}}`))
    events.push(delta(`{"type":"signature_delta","signature":"${signatureOf(reply.reasoning.join(""))}"}`))
    events.push(stop())
  }
  if (reply.content.length > 0) {
    events.push(event(
      "content_block_start",
      `{"type":"content_block_start","index":${index},"content_block":{"type":"text","text":""}}`
    ))
    for (const token of reply.content) events.push(delta(`{"type":"text_delta","text":${quoteToken(token)}}`))
    events.push(stop())
  }
  // Unlike Chat Completions, blocks never interleave: each tool_use block is
  // whole (start, its argument pieces, stop) before the next opens.
  for (const call of reply.toolCalls) {
    events.push(event(
      "content_block_start",
      `{"type":"content_block_start","index":${index},"content_block":{"type":"tool_use","id":"${
        toolId(call.id)
      }","name":${JSON.stringify(call.name)},"input":{}}}`
    ))
    events.push(delta(`{"type":"input_json_delta","partial_json":""}`))
    for (const piece of call.fragments) {
      events.push(delta(`{"type":"input_json_delta","partial_json":${JSON.stringify(piece)}}`))
    }
    events.push(stop())
  }
  const tail = event(
    "message_delta",
    `{"type":"message_delta","delta":{"stop_reason":"${stopReason(reply.finishReason)}","stop_sequence":null},` +
      `"usage":${usageJson(usage)}}`
  ) + event("message_stop", `{"type":"message_stop"}`)
  return { events, tail }
}

/** The `type` of Anthropic's error object per HTTP status (Anthropic's API errors reference). */
const errorTypes: Readonly<Record<number, readonly [type: string, message: string]>> = {
  400: ["invalid_request_error", "The simulator rejected this request (injected fault)."],
  401: ["authentication_error", "invalid x-api-key"],
  402: ["billing_error", "Your credit balance is too low to access the Anthropic API."],
  403: ["permission_error", "Your API key does not have permission to use the specified resource."],
  404: ["not_found_error", "The requested resource could not be found."],
  408: ["timeout_error", "Request timed out."],
  409: ["api_error", "The request conflicted with another one; retry it."],
  413: ["request_too_large", "Request exceeds the maximum allowed number of bytes."],
  429: ["rate_limit_error", "Number of requests has exceeded your per-minute rate limit."],
  500: ["api_error", "Internal server error"],
  504: ["timeout_error", "Gateway timeout."],
  529: ["overloaded_error", "Overloaded"]
}

const errorJson = (type: string, message: string, code?: string | undefined): string =>
  JSON.stringify({ type: "error", error: code === undefined ? { type, message } : { type, message, code } })

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
      const [type, message] = errorTypes[fault.status] ??
        (fault.status >= 500
          ? ["api_error", `Simulated server error (HTTP ${fault.status}).`]
          : ["invalid_request_error", `Simulated client error (HTTP ${fault.status}).`])
      return { status: fault.status, body: errorJson(fault.type ?? type, fault.message ?? message, fault.code) }
    }
  }
}

export const streamErrorJson = (shape: StreamErrorShape): string =>
  shape === "openai" ? errorJson("overloaded_error", "Overloaded") : errorJson("api_error", "Internal server error")
