/**
 * What every case does with a reply: fail loudly when it is not whole, and
 * drain a stream the way an application would (`Stream.runForEachArray`),
 * keeping its text and watching for the `Finish` chunk.
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { ChatChunk } from "../../src/ChatChunk.js"

/** A failed check: the case's call rejects or fails with it. */
export const fail = (what: string): never => {
  throw new Error(`bench: ${what}`)
}

/** The host root of a simulator URL that ends in `/v1` (Anthropic, Gemini and Ollama are served there). */
export const hostRoot = (url: string): string => url.replace(/\/v1\/?$/, "")

/** Drains `stream`; fails unless it brought text and ended with a `Finish` chunk. */
export const drainReply = <E>(stream: Stream.Stream<ChatChunk, E>): Effect.Effect<void, E> =>
  Effect.suspend(() => {
    let text = ""
    let finished = false
    return Effect.map(
      Stream.runForEachArray(stream, (chunks) =>
        Effect.sync(() => {
          for (const chunk of chunks) {
            if (chunk._tag === "TextDelta") text += chunk.text
            else if (chunk._tag === "Finish") finished = true
          }
        })),
      () => {
        if (text.length === 0) fail("empty reply")
        if (!finished) fail("no Finish chunk")
      }
    )
  })
