/**
 * Canned Chat Completions bodies for tests: SSE framing, stream chunks, a stream that stalls, and
 * the equivalent non-streaming reply.
 */
import { ChatStreamParser } from "../../src/internal/wire/openAiChat/client.js"
import { streamContext } from "./streamContext.js"

/** One stream's parser as the OpenAI Chat adapter makes it, for model `gpt-test`; its errors are decode errors. */
export const chatStreamParser = (maxEventSize?: number): ChatStreamParser =>
  new ChatStreamParser({ ...streamContext(), maxEventSize })

/** `data: <json>\n\n` for each event; strings are sent as they are (`[DONE]`, broken JSON). */
export const sse = (...events: ReadonlyArray<unknown>): string =>
  events.map((event) => `data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`).join("")

/** A stream chunk with one choice. */
export const chunk = (
  delta: Record<string, unknown>,
  extra?: { readonly finish_reason?: string | null; readonly usage?: unknown; readonly [key: string]: unknown }
): Record<string, unknown> => {
  const { finish_reason = null, ...rest } = extra ?? {}
  return {
    id: "chatcmpl-1",
    object: "chat.completion.chunk",
    created: 1,
    model: "gpt-test",
    choices: [{ index: 0, delta, finish_reason }],
    ...rest
  }
}

/** The usage chunk OpenAI sends last with `include_usage`. */
export const usageChunk = (usage: Record<string, unknown>): Record<string, unknown> => ({
  id: "chatcmpl-1",
  object: "chat.completion.chunk",
  created: 1,
  model: "gpt-test",
  choices: [],
  usage
})

export const usage = (prompt: number, completion: number, details?: { cached?: number; reasoning?: number }) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
  ...(details?.cached !== undefined ? { prompt_tokens_details: { cached_tokens: details.cached } } : {}),
  ...(details?.reasoning !== undefined ? { completion_tokens_details: { reasoning_tokens: details.reasoning } } : {})
})

/** A non-streaming reply. */
export const completion = (
  message: Record<string, unknown>,
  extra?: { readonly finish_reason?: string | null; readonly usage?: unknown; readonly [key: string]: unknown }
): Record<string, unknown> => {
  const { finish_reason = "stop", ...rest } = extra ?? {}
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "gpt-test",
    choices: [{ index: 0, message: { role: "assistant", ...message }, finish_reason }],
    ...rest
  }
}

/** Splits a text's UTF-8 bytes at the given offsets (sorted, deduplicated, in range). */
export const splitBytes = (text: string, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const bytes = new TextEncoder().encode(text)
  const points = [...new Set(cuts.map((cut) => Math.max(0, Math.min(bytes.length, cut))))].sort((a, b) => a - b)
  const out: Array<Uint8Array> = []
  let from = 0
  for (const point of points) {
    if (point > from) out.push(bytes.subarray(from, point))
    from = Math.max(from, point)
  }
  if (from < bytes.length) out.push(bytes.subarray(from))
  return out
}

/** A web `Response` of an event stream that sends `pieces`, then never another byte (a stalled provider). */
export const stalling = (pieces: ReadonlyArray<string>): Response => {
  const encoder = new TextEncoder()
  let i = 0
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(controller) {
        const piece = pieces[i++]
        if (piece === undefined) return new Promise<void>(() => {})
        controller.enqueue(encoder.encode(piece))
      }
    }),
    { headers: { "content-type": "text/event-stream" } }
  )
}
