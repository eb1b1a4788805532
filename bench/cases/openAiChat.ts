/**
 * `OpenAiChat` against the simulator, versus raw undici doing the same
 * requests and the same parsing: `JSON.parse` of the body, or `Sse.makeDecoder`
 * plus `JSON.parse` per event, reading the text, finish reason and usage.
 * The reply length (64 tokens) is set by `bench/simulatorProcess.ts`.
 */
import * as Effect from "effect/Effect"
import type { Dispatcher } from "undici"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import type * as Sse from "../../src/Sse.js"
import { poster, prompt, readSse, request } from "./call.js"
import { drainReply, fail } from "./reply.js"
import type { BenchCase } from "./types.js"

const model = "gpt-4o-mini"
const key = "sk-bench-0123456789abcdef"
const credentials = ProviderClient.credentials(key)

const wireBody = (stream: boolean) =>
  JSON.stringify({
    model,
    messages: [{ role: "user", content: prompt }],
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {})
  })

const headers = { "content-type": "application/json", authorization: `Bearer ${key}` }

const post = (url: string, dispatcher: Dispatcher, stream: boolean) =>
  poster(dispatcher, `${url}/chat/completions`, headers, wireBody(stream))

const checkText = (text: string) => {
  if (text.length === 0) fail("empty reply")
}

export const openAiChatNonStream: BenchCase = {
  name: "openai-chat-nonstream",
  ours: (url) =>
    Effect.map(
      OpenAiChat.make({ baseUrl: url, model }),
      (client) => Effect.map(client.chat(request, credentials), (response) => checkText(response.text))
    ),
  baseline: (url, dispatcher) => {
    const send = post(url, dispatcher, false)
    return async () => {
      const response = await send()
      const text = await response.body.text()
      const body = JSON.parse(text) as {
        choices: Array<{ message: { content: string | null }; finish_reason: string | null }>
        usage?: { total_tokens: number }
      }
      const choice = body.choices[0] ?? fail("no choice")
      checkText(choice.message.content ?? "")
      if (body.usage === undefined || choice.finish_reason === null) fail("no usage or finish reason")
    }
  }
}

/** What the raw undici stream read: its text pieces, finish reason and usage. */
export interface RawReply {
  readonly texts: Array<string>
  readonly finish: string
  readonly usage: unknown
}

/**
 * The `openai-chat-stream` baseline's call: raw undici, `Sse.makeDecoder` and
 * `JSON.parse` per event; rejects unless the reply is whole.
 */
export const rawStream = (url: string, dispatcher: Dispatcher): () => Promise<RawReply> => {
  const send = post(url, dispatcher, true)
  return async () => {
    const response = await send()
    const texts: Array<string> = []
    let finish: string | undefined
    let usage: unknown
    let done = false
    const handle = (events: Array<Sse.Event>) => {
      for (const event of events) {
        if (done) return
        if (event.data.startsWith("[DONE]")) {
          done = true
          return
        }
        const chunk = JSON.parse(event.data) as {
          choices: Array<{ delta?: { content?: string | null }; finish_reason?: string | null }>
          usage?: unknown
        }
        if (chunk.usage != null) usage = chunk.usage
        const choice = chunk.choices[0]
        if (choice === undefined) continue
        const content = choice.delta?.content
        if (typeof content === "string") texts.push(content)
        if (typeof choice.finish_reason === "string") finish = choice.finish_reason
      }
    }
    await readSse(response.body, handle)
    checkText(texts.join(""))
    if (!done || finish === undefined || usage === undefined) return fail("incomplete stream")
    return { texts, finish, usage }
  }
}

export const openAiChatStream: BenchCase = {
  name: "openai-chat-stream",
  ours: (url) =>
    Effect.map(
      OpenAiChat.make({ baseUrl: url, model }),
      (client) => drainReply(client.chatStream(request, credentials))
    ),
  baseline: rawStream
}
