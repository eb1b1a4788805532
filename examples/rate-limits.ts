/**
 * Pacing calls below a provider's limits: `RateLimiter`.
 *
 *   npx node --import tsx examples/rate-limits.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message, RateLimiter } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Provider from "./_provider.js"

// A token bucket: bursts of up to `capacity` calls, then `refillRate` calls a
// second; `maxConcurrency` caps calls in flight. Waiting here is cheaper than a
// 429 from the provider, which costs a round trip and cools the key down.
// Its buckets in this process's memory: `RateLimiter.layerStoreRedis(store)` shares them between instances.
const Limiter = RateLimiter.layer({ capacity: 5, refillRate: 10, maxConcurrency: 4 }).pipe(
  Layer.provide(RateLimiter.layerStoreMemory)
)

// `provideMerge` keeps the limiter in the output, so the program can read its status.
const Stack = Llm.layer().pipe(
  Layer.provideMerge(Limiter),
  Layer.provide(Provider.client({ model: "gpt-4o-mini" })),
  Layer.provide(Provider.keyPool)
)

const program = Effect.gen(function*() {
  // Fifteen calls fired at once: five go straight away, the other ten wait
  // their turn in arrival order, so the burst takes about one second.
  const call = (i: number) => Llm.chat({ messages: [Message.user(`Question ${i + 1}`)] }).pipe(Effect.timed)
  const [elapsed, calls] = yield* Effect.all(Array.from({ length: 15 }, (_, i) => call(i)), {
    concurrency: "unbounded"
  }).pipe(Effect.timed)
  const seconds = (duration: Duration.Duration) => Duration.toSeconds(duration).toFixed(1)
  yield* Console.log(`15 calls took ${seconds(elapsed)} s; each call's own time, waiting included:`)
  yield* Console.log(calls.map(([duration]) => seconds(duration)).join(" "))

  // Work of your own can share the bucket: `consume` takes a slot and tokens for
  // as long as its scope is open. With `onExceeded: "fail"` it does not wait
  // when the bucket is short, and says when the tokens will be there.
  const limiter = yield* RateLimiter.RateLimiter
  yield* Effect.scoped(limiter.consume({ cost: 5, onExceeded: "fail" })).pipe(
    Effect.flatMap(({ remaining }) => Console.log(`a side job went at once; ${remaining.toFixed(1)} tokens left`)),
    Effect.catchTag("RateLimiterExceededError", (error) => Console.log(`a side job would wait: ${error.message}`))
  )
  const status = yield* limiter.status
  yield* Console.log(
    `limiter: ${status.available.toFixed(1)}/${status.capacity} tokens available, ${status.refillRate}/s refill, ` +
      `${status.inFlight} in flight (max ${status.maxConcurrency}), ${status.waiting} waiting`
  )
})

program.pipe(
  Effect.provide(Stack),
  Effect.provide(Provider.endpoint()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
