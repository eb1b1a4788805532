/**
 * The call every provider case makes: one prompt, asked through the library
 * as `request` and by the raw undici baseline as a POST of its own wire body,
 * whose SSE reply the baseline reads with `Sse.makeDecoder`.
 */
import type { Dispatcher } from "undici"
import * as Message from "../../src/Message.js"
import * as Sse from "../../src/Sse.js"
import { fail } from "./reply.js"

/** The prompt every case asks. */
export const prompt = "Tell me about Effect in one paragraph."

/** The library's request for `prompt`. */
export const request = { messages: [Message.user(prompt)] }

/** A raw undici POST of `body` to `target` (a full URL, its query kept); the response, rejecting unless it is a 200. */
export const poster = (dispatcher: Dispatcher, target: string, headers: Record<string, string>, body: string) => {
  const url = new URL(target)
  const path = `${url.pathname}${url.search}`
  return async () => {
    const response = await dispatcher.request({ origin: url.origin, path, method: "POST", headers, body })
    if (response.statusCode !== 200) fail(`HTTP ${response.statusCode}: ${await response.body.text()}`)
    return response
  }
}

/** Feeds the SSE events of `body` to `handle` as they are decoded, and the last ones at its end. */
export const readSse = async (body: AsyncIterable<unknown>, handle: (events: Array<Sse.Event>) => void) => {
  const decoder = Sse.makeDecoder()
  for await (const bytes of body) handle(decoder.push(bytes as Uint8Array))
  handle(decoder.end())
}
