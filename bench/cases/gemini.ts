/**
 * `Gemini` streaming against the simulator's `:streamGenerateContent?alt=sse`,
 * versus raw undici doing the same request and the same parsing:
 * `Sse.makeDecoder` plus `JSON.parse` per event, reading the text parts, the
 * last `usageMetadata` and the last `finishReason` (there is no end marker).
 * The reply length (64 tokens) is set by `bench/simulatorProcess.ts`; the
 * model is one of the simulator's defaults.
 */
import * as Effect from "effect/Effect"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Gemini from "../../src/providers/Gemini.js"
import type * as Sse from "../../src/Sse.js"
import { poster, prompt, readSse, request } from "./call.js"
import { drainReply, fail, hostRoot } from "./reply.js"
import type { BenchCase } from "./types.js"

const model = "sim-small"
const key = "AIza-bench-0123456789abcdef"
const credentials = ProviderClient.credentials(key)

/** The runner passes the OpenAI-style base URL (with `/v1`); Gemini's paths start at the host. */
interface Event {
  readonly candidates?: ReadonlyArray<{
    readonly content?: { readonly parts?: ReadonlyArray<{ readonly text?: string; readonly thought?: boolean }> }
    readonly finishReason?: string
  }>
  readonly usageMetadata?: unknown
  readonly error?: unknown
}

export const geminiStream: BenchCase = {
  name: "gemini-stream",
  ours: (url) =>
    Effect.map(
      Gemini.make({ baseUrl: hostRoot(url), model }),
      (client) => drainReply(client.chatStream(request, credentials))
    ),
  baseline: (url, dispatcher) => {
    const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: prompt }] }] })
    const headers = { "content-type": "application/json", "x-goog-api-key": key }
    const send = poster(
      dispatcher,
      `${hostRoot(url)}/v1beta/models/${model}:streamGenerateContent?alt=sse`,
      headers,
      body
    )
    return async () => {
      const response = await send()
      let text = ""
      let finish: string | undefined
      let usage: unknown
      const handle = (events: Array<Sse.Event>) => {
        for (const event of events) {
          const chunk = JSON.parse(event.data) as Event
          if (chunk.error !== undefined) fail("error event")
          if (chunk.usageMetadata !== undefined) usage = chunk.usageMetadata
          const candidate = chunk.candidates?.[0]
          if (candidate === undefined) continue
          for (const part of candidate.content?.parts ?? []) {
            if (typeof part.text === "string" && part.thought !== true) text += part.text
          }
          if (typeof candidate.finishReason === "string") finish = candidate.finishReason
        }
      }
      await readSse(response.body, handle)
      if (text.length === 0) fail("empty reply")
      if (finish === undefined || usage === undefined) fail("incomplete stream")
    }
  }
}
