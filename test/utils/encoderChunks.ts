/**
 * What the gateway's stream encoders' tests feed them and read back: the chunks
 * that end or restart a reply, and the text of the bytes written.
 */
import * as Duration from "effect/Duration"
import type { ChatChunk } from "../../src/ChatChunk.js"

/** The chunk that ends a reply, for `finishReason`. */
export const finish = (finishReason: "stop" | "tool_calls" | "length" = "stop"): ChatChunk => ({
  _tag: "Finish",
  finishReason,
  id: "r1",
  model: "m",
  provider: "p",
  latency: Duration.millis(5)
})

/** A fallback's restart: what was sent so far is to be dropped. */
export const restart: ChatChunk = {
  _tag: "Restart",
  attempt: 2,
  deployment: "b",
  model: "mb",
  from: "a",
  error: "TransportError"
}

/** The text of bytes an encoder wrote. */
export const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes)
