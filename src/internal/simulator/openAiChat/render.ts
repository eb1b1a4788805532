/**
 * The Chat Completions reply: the `chat.completion` object, and the stream of
 * `chat.completion.chunk` events, built by string concatenation around the
 * generated tokens.
 */
import type { Extra } from "../../../simulator/OpenAiChat.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { RenderedStream, ReplyMeta } from "../../../simulator/WireFormat.js"
import { quoteToken } from "../quoteToken.js"

const usageJson = (usage: Reply.Usage): string =>
  `{"prompt_tokens":${usage.promptTokens},"completion_tokens":${usage.completionTokens},` +
  `"total_tokens":${usage.totalTokens},` +
  `"prompt_tokens_details":{"cached_tokens":${usage.cachedTokens},"audio_tokens":0},` +
  `"completion_tokens_details":{"reasoning_tokens":${usage.reasoningTokens},"audio_tokens":0,` +
  `"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`

export const renderReply = (reply: Reply.Reply, meta: ReplyMeta): string => {
  const hasCalls = reply.toolCalls.length > 0
  let message = `{"role":"assistant","content":${hasCalls ? "null" : JSON.stringify(reply.content.join(""))}`
  if (reply.reasoning.length > 0) message += `,"reasoning_content":${JSON.stringify(reply.reasoning.join(""))}`
  message += `,"refusal":null`
  if (hasCalls) {
    message += `,"tool_calls":[${
      reply.toolCalls.map((call) =>
        `{"id":"${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":${
          JSON.stringify(call.arguments)
        }}}`
      ).join(",")
    }]`
  }
  message += `,"annotations":[]}`
  return `{"id":"${meta.id}","object":"chat.completion","created":${meta.created},"model":${
    JSON.stringify(meta.model)
  },` +
    `"choices":[{"index":0,"message":${message},"logprobs":null,"finish_reason":"${reply.finishReason}"}],` +
    `"usage":${usageJson(reply.usage)},"service_tier":"default","system_fingerprint":"fp_sim"}`
}

export const renderStream = (reply: Reply.Reply, meta: ReplyMeta, extra: Extra): RenderedStream => {
  const head = `data: {"id":"${meta.id}","object":"chat.completion.chunk","created":${meta.created},` +
    `"model":${JSON.stringify(meta.model)},"system_fingerprint":"fp_sim","choices":[{"index":0,"delta":`
  const usageNull = extra.includeUsage ? `,"usage":null` : ""
  const mid = `,"logprobs":null,"finish_reason":null}]${usageNull}}\n\n`
  const calls = reply.toolCalls
  const events: Array<string> = [
    `${head}{"role":"assistant","content":${calls.length > 0 ? "null" : `""`},"refusal":null}${mid}`
  ]
  for (const token of reply.reasoning) events.push(`${head}{"reasoning_content":${quoteToken(token)}}${mid}`)
  for (const token of reply.content) events.push(`${head}{"content":${quoteToken(token)}}${mid}`)
  // Parallel calls interleave: every call's opening fragment, then argument
  // pieces round-robin, so a client must merge by index.
  for (let i = 0; i < calls.length; i++) {
    const call = calls[i]!
    events.push(
      `${head}{"tool_calls":[{"index":${i},"id":"${call.id}","type":"function","function":{"name":${
        JSON.stringify(call.name)
      },"arguments":""}}]}${mid}`
    )
  }
  const rounds = calls.reduce((n, call) => Math.max(n, call.fragments.length), 0)
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < calls.length; i++) {
      const piece = calls[i]!.fragments[r]
      if (piece === undefined) continue
      events.push(`${head}{"tool_calls":[{"index":${i},"function":{"arguments":${JSON.stringify(piece)}}}]}${mid}`)
    }
  }
  let tail = `${head}{},"logprobs":null,"finish_reason":"${reply.finishReason}"}]${usageNull}}\n\n`
  if (extra.includeUsage) {
    tail += `data: {"id":"${meta.id}","object":"chat.completion.chunk","created":${meta.created},` +
      `"model":${JSON.stringify(meta.model)},"system_fingerprint":"fp_sim","choices":[],"usage":${
        usageJson(reply.usage)
      }}\n\n`
  }
  tail += "data: [DONE]\n\n"
  return { events, tail }
}
