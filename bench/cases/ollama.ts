/**
 * `Ollama` streaming `/api/chat` from the simulator, versus raw undici doing
 * the same request and the same parsing: the same NDJSON line splitter
 * (`internal/ndjson.ts`) plus `JSON.parse` per line, reading the text, the
 * `done` line and its counts. The reply length (64 tokens) is set by
 * `bench/simulatorProcess.ts`, which prints its URL with `/v1`; Ollama's root
 * is the URL without it.
 */
import * as Effect from "effect/Effect"
import * as Ndjson from "../../src/internal/wire/ollama/ndjson.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as Ollama from "../../src/providers/Ollama.js"
import { poster, prompt, request } from "./call.js"
import { drainReply, fail, hostRoot } from "./reply.js"
import type { BenchCase } from "./types.js"

const model = "sim-small"
const credentials = ProviderClient.credentials("none")

interface Line {
  readonly error?: string
  readonly message?: { readonly content?: string }
  readonly done?: boolean
  readonly done_reason?: string
  readonly prompt_eval_count?: number
  readonly eval_count?: number
}

export const ollamaStream: BenchCase = {
  name: "ollama-stream",
  ours: (url) =>
    Effect.map(
      Ollama.make({ baseUrl: hostRoot(url), model }),
      (client) => drainReply(client.chatStream(request, credentials))
    ),
  baseline: (url, dispatcher) => {
    const body = JSON.stringify({ model, messages: [{ role: "user", content: prompt }], stream: true })
    const send = poster(dispatcher, `${hostRoot(url)}/api/chat`, { "content-type": "application/json" }, body)
    return async () => {
      const response = await send()
      const decoder = new Ndjson.Decoder()
      const lines: Array<string> = []
      let text = ""
      let done: Line | undefined
      const handle = () => {
        for (const raw of lines) {
          if (done !== undefined) break
          const line = JSON.parse(raw) as Line
          if (line.error !== undefined) fail(line.error)
          const content = line.message?.content
          if (typeof content === "string") text += content
          if (line.done === true) done = line
        }
        lines.length = 0
      }
      for await (const bytes of response.body) {
        decoder.push(bytes as Uint8Array, lines)
        handle()
      }
      decoder.end(lines)
      handle()
      if (text.length === 0) fail("empty reply")
      if (done === undefined || done.eval_count === undefined) fail("incomplete stream")
    }
  }
}
