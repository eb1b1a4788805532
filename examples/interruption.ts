/**
 * Stopping a reply early: the HTTP request is aborted and the key handed back.
 *
 *   npx node --import tsx examples/interruption.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { KeyPool, Llm, Message, RateLimiter } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Provider from "./_provider.js"

// `provideMerge` keeps the key pool in the output, so the program can watch it.
const Stack = Llm.layer().pipe(
  Layer.provideMerge(Provider.keyPool),
  Layer.provide(Provider.client({ model: "gpt-4o-mini" })),
  Layer.provide(RateLimiter.unlimited)
)

const program = Effect.gen(function*() {
  const pool = yield* KeyPool.KeyPool
  const inFlight = Effect.map(pool.status, (keys) => keys.reduce((sum, key) => sum + key.inFlight, 0))

  // A long reply, of which we only want the first five chunks. `Stream.take`
  // ends the stream there; ending it interrupts the producer, which aborts the
  // request and closes the scope that holds the key and the rate permit.
  // `Effect.timeout` or `Fiber.interrupt` on the consuming fiber do the same.
  yield* Llm.chatStream({ messages: [Message.user("Write a very long story.")], maxTokens: 2000 }).pipe(
    Stream.filter((chunk) => chunk._tag === "TextDelta"),
    Stream.take(5),
    Stream.runForEach((chunk) =>
      Effect.flatMap(inFlight, (n) => Console.log(`chunk ${JSON.stringify(chunk.text)} (keys in flight: ${n})`))
    )
  )

  // The key is free the moment the stream is done: no leak, no waiting for the
  // server to finish a reply nobody reads.
  yield* Console.log(`stopped after 5 chunks; keys in flight: ${yield* inFlight}`)
})

program.pipe(
  Effect.provide(Stack),
  // 500 tokens at 20 a second would take 25 s; we stop after a quarter of a second.
  Effect.provide(Provider.endpoint({ replyTokens: 500, tokensPerSecond: 20 })),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
