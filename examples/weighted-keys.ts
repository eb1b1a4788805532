/**
 * Several keys of one provider, sharing the load by weight: `KeyPool`.
 *
 *   OPENAI_API_KEY=sk-a,sk-b,sk-c npx node --import tsx examples/weighted-keys.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { KeyPool, Llm, Message, RateLimiter } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Provider from "./_provider.js"

const program = Effect.gen(function*() {
  const { keys, provider } = yield* Provider.Endpoint
  // A weight is a share of the requests in flight: every call goes to the key
  // with the fewest in flight per unit of weight, so 3:2:1 gives the first key
  // half of a busy moment's calls. (Keys are Redacted; they never leave the pool.)
  const weights = [3, 2, 1]
  const pool = yield* KeyPool.make({
    providerId: provider,
    keys: keys.map((key, i) => ({ key, weight: weights[i] ?? 1 }))
  })
  const llm = Llm.layer().pipe(
    Layer.provide(Layer.succeed(KeyPool.KeyPool, pool)),
    Layer.provide(Provider.client({ model: "gpt-4o-mini" })),
    Layer.provide(RateLimiter.unlimited)
  )

  // Twelve calls at once: all are in flight together, so the weights decide.
  yield* Effect.all(
    Array.from({ length: 12 }, (_, i) => Llm.chat({ messages: [Message.user(`Question ${i + 1}`)] })),
    { concurrency: "unbounded" }
  ).pipe(Effect.provide(llm))

  // `status` shows masked ids only (`sk-…0001#2263`): safe to log or serve on a dashboard.
  for (const key of yield* pool.status) {
    yield* Console.log(`${key.keyId}  weight ${key.weight}  in flight ${key.inFlight}  total ${key.totalRequests}`)
  }
})

program.pipe(
  // Slow enough replies that the twelve calls overlap.
  Effect.provide(Provider.endpoint({ latency: "200 millis" })),
  // The pool's state in this process's memory; `KeyPool.layerStoreRedis(store)` shares it between instances.
  Effect.provide(KeyPool.layerStoreMemory),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
