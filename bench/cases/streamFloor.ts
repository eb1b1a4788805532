/**
 * The ceiling of any client that hands out an Effect `Stream`, measured on
 * this machine: the `openai-chat-stream` baseline's raw undici call does all
 * the work (request, SSE decoding, `JSON.parse` per event), and only then is
 * its reply handed out as a `Stream` of `ChatChunk`s, drained as every case
 * drains ours (`drainReply`). The baseline is the same raw call alone.
 *
 * The stream is the cheapest asynchronous one we found (a `Channel` of the
 * call's effect and one write; `Stream.unwrap`, `Stream.async` and
 * `Stream.fromEffect` cost more), so the ratio is what running any Effect
 * `Stream` costs a 64-token reply, with no client code in it: an adapter's
 * `*-stream` ratio cannot pass it.
 */
import * as Channel from "effect/Channel"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Agent } from "undici"
import type { ChatChunk, Finish } from "../../src/ChatChunk.js"
import { openAiChatStream, type RawReply, rawStream } from "./openAiChat.js"
import { drainReply } from "./reply.js"
import type { BenchCase } from "./types.js"

const chunksOf = (reply: RawReply): Chunk.Chunk<ChatChunk> => {
  const chunks: Array<ChatChunk> = reply.texts.map((text) => ({ _tag: "TextDelta", text }))
  chunks.push({
    _tag: "Finish",
    finishReason: reply.finish as Finish["finishReason"],
    id: "",
    model: "gpt-4o-mini",
    provider: "raw",
    latency: Duration.zero
  })
  return Chunk.unsafeFromArray(chunks)
}

export const effectStreamFloor: BenchCase = {
  name: "effect-stream-floor",
  ours: (url) =>
    Effect.map(
      Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) => Effect.promise(() => agent.close())),
      (agent) => {
        const call = rawStream(url, agent)
        return drainReply(
          Stream.fromChannel(
            Channel.flatMap(Channel.fromEffect(Effect.tryPromise(call)), (reply) => Channel.write(chunksOf(reply)))
          )
        )
      }
    ),
  baseline: openAiChatStream.baseline
}
