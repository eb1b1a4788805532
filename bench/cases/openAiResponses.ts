/**
 * `OpenAiResponses` streaming against the simulator's `/v1/responses`, versus
 * raw undici doing the same request and the plain parsing a hand-written
 * client would do: `Sse.makeDecoder`, then `JSON.parse` of every event and a
 * switch on its `type`, reading the text deltas and the terminal event's
 * status and usage. The reply length (64 tokens) is set by
 * `bench/simulatorProcess.ts`.
 */
import * as Effect from "effect/Effect"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as OpenAiResponses from "../../src/providers/OpenAiResponses.js"
import type * as Sse from "../../src/Sse.js"
import { poster, prompt, readSse, request } from "./call.js"
import { drainReply, fail } from "./reply.js"
import type { BenchCase } from "./types.js"

const model = "gpt-4o-mini"
const key = "sk-bench-0123456789abcdef"
const credentials = ProviderClient.credentials(key)

// The body the adapter sends for `request`.
const wireBody = JSON.stringify({
  model,
  input: [{ type: "message", role: "user", content: [{ type: "input_text", text: prompt }] }],
  store: false,
  stream: true
})

const headers = { "content-type": "application/json", authorization: `Bearer ${key}` }

export const openAiResponsesStream: BenchCase = {
  name: "responses-stream",
  ours: (url) =>
    Effect.map(
      OpenAiResponses.make({ baseUrl: url, model }),
      (client) => drainReply(client.chatStream(request, credentials))
    ),
  baseline: (url, dispatcher) => {
    const send = poster(dispatcher, `${url}/responses`, headers, wireBody)
    return async () => {
      const response = await send()
      let text = ""
      let status: string | undefined
      let usage: unknown
      const handle = (events: Array<Sse.Event>) => {
        for (const event of events) {
          if (status !== undefined) return
          const data = JSON.parse(event.data) as {
            type: string
            delta?: string
            response?: { status: string; usage: unknown }
            message?: string
          }
          switch (data.type) {
            case "response.output_text.delta":
              text += data.delta ?? ""
              break
            case "response.completed":
            case "response.incomplete":
              status = data.response?.status
              usage = data.response?.usage
              break
            case "response.failed":
            case "error":
              fail(`stream failed: ${event.data}`)
          }
        }
      }
      await readSse(response.body, handle)
      if (text.length === 0) fail("empty reply")
      if (status === undefined || usage === undefined) fail("incomplete stream")
    }
  }
}
