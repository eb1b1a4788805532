/**
 * The ceiling of any client that hands out an Effect `Stream`, measured on
 * this machine: the `openai-chat-stream` baseline's raw undici call does all
 * the work (request, SSE decoding, `JSON.parse` per event), and only then is
 * its reply handed out as a `Stream` of `ChatChunk`s, drained as every case
 * drains ours (`drainReply`). The baseline is the same raw call alone.
 *
 * The stream is the least an asynchronous Stream can be: one
 * `Channel.fromEffect` that emits the whole reply as one array of chunks (a
 * Stream's channel carries arrays), so the ratio is what running any Effect
 * `Stream` costs a 64-token reply, with no client code in it: an adapter's
 * `*-stream` ratio cannot pass it.
 */
import * as Arr from "effect/Array"
import * as Channel from "effect/Channel"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Agent } from "undici"
import type { ChatChunk, Finish } from "../../src/ChatChunk.js"
import { openAiChatStream, type RawReply, rawStream } from "./openAiChat.js"
import { drainReply } from "./reply.js"
import type { BenchCase } from "./types.js"

const chunksOf = (reply: RawReply): Arr.NonEmptyReadonlyArray<ChatChunk> => {
  const chunks: Array<ChatChunk> = reply.texts.map((text) => ({ _tag: "TextDelta", text }))
  return Arr.append(chunks, {
    _tag: "Finish",
    finishReason: reply.finish as Finish["finishReason"],
    id: "",
    model: "gpt-4o-mini",
    provider: "raw",
    latency: Duration.zero
  })
}

export const effectStreamFloor: BenchCase = {
  name: "effect-stream-floor",
  ours: (url) =>
    Effect.map(
      Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) => Effect.promise(() => agent.close())),
      (agent) => {
        const call = rawStream(url, agent)
        return drainReply(
          Stream.fromChannel(Channel.fromEffect(Effect.map(Effect.tryPromise(call), chunksOf)))
        )
      }
    ),
  baseline: openAiChatStream.baseline
}
