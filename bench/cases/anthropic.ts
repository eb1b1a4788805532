/**
 * `Anthropic` streaming against the simulator's `/v1/messages`, versus raw
 * undici doing the same request and the same parsing: `Sse.makeDecoder` plus
 * `JSON.parse` per event, reading the text deltas, the stop reason, the usage
 * of `message_start` and `message_delta`, and `message_stop`.
 * The reply length (64 tokens) is set by `bench/simulatorProcess.ts`.
 */
import * as Effect from "effect/Effect"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Anthropic from "../../src/providers/Anthropic.js"
import type * as Sse from "../../src/Sse.js"
import { poster, prompt, readSse, request } from "./call.js"
import { drainReply, fail, hostRoot } from "./reply.js"
import type { BenchCase } from "./types.js"

const model = "sim-small"
const key = "sk-ant-bench-0123456789abcdef"
const credentials = ProviderClient.credentials(key)

const body = JSON.stringify({
  model,
  max_tokens: Anthropic.defaultMaxTokens,
  messages: [{ role: "user", content: prompt }],
  stream: true
})
const headers = { "content-type": "application/json", "x-api-key": key, "anthropic-version": Anthropic.apiVersion }

interface WireEvent {
  readonly type: string
  readonly message?: { readonly usage?: unknown }
  readonly delta?: { readonly type?: string; readonly text?: string; readonly stop_reason?: string | null }
  readonly usage?: unknown
}

export const anthropicStream: BenchCase = {
  name: "anthropic-stream",
  ours: (url) =>
    Effect.map(
      Anthropic.make({ baseUrl: hostRoot(url), model }),
      (client) => drainReply(client.chatStream(request, credentials))
    ),
  baseline: (url, dispatcher) => {
    // The bench hands over the Chat Completions root (`…/v1`); Anthropic's base URL is the host root.
    const send = poster(dispatcher, `${hostRoot(url)}/v1/messages`, headers, body)
    return async () => {
      const response = await send()
      let text = ""
      let stopReason: string | undefined
      let inputUsage: unknown
      let outputUsage: unknown
      let done = false
      const handle = (events: Array<Sse.Event>) => {
        for (const event of events) {
          if (done || event.event === "ping") continue
          const data = JSON.parse(event.data) as WireEvent
          switch (event.event) {
            case "message_start":
              inputUsage = data.message?.usage
              break
            case "content_block_delta":
              if (data.delta?.type === "text_delta") text += data.delta.text ?? ""
              break
            case "message_delta":
              stopReason = data.delta?.stop_reason ?? stopReason
              outputUsage = data.usage
              break
            case "message_stop":
              done = true
              break
            case "error":
              fail("error event")
          }
        }
      }
      await readSse(response.body, handle)
      if (text.length === 0) fail("empty reply")
      if (!done || stopReason === undefined || inputUsage === undefined || outputUsage === undefined) {
        fail("incomplete stream")
      }
    }
  }
}
