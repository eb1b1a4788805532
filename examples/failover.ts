/**
 * Failover that never loses an answer: a `Router` over a primary and a
 * fallback deployment, with the failover options set (each commented with its
 * default), and the primary misbehaving a different way in each scene, by the
 * simulator's `x-simulator-fault` header on its requests.
 *
 *   npx node --import tsx examples/failover.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { ChatChunk, KeyPool, Llm, Message, RateLimiter, RetryPolicy, Router } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Provider from "./_provider.js"

// Each deployment has its own pool over the endpoint's keys, in this process's memory.
const keyPool = Layer.effect(
  KeyPool.KeyPool,
  Provider.Endpoint.use(({ keys, provider }) =>
    KeyPool.make({
      providerId: provider,
      keys,
      // A key rate-limited without Retry-After cools 1 s, then 2 s, 4 s... up to `max` (the default).
      rateLimitCooldown: { initial: "1 second", max: "30 seconds" },
      // No cooldown lasts longer, whatever a provider's Retry-After asks (the default).
      maxCooldown: "5 minutes",
      // A key back from a cooldown takes its full share of traffic over this window (default 10 s; 0 disables).
      slowStart: "10 seconds"
    })
  )
).pipe(Layer.provide(KeyPool.layerStoreMemory))

const deployment = (model: string, fault?: string) =>
  Llm.layer({
    // One retry of a 5xx or a timeout (default 3); two moves to another key after a rate limit (default 3).
    retry: RetryPolicy.make({ maxRetries: 1, maxKeyRotations: 2, baseDelay: "100 millis" }),
    // A Retry-After up to this is waited out on the deployment; a longer one, or keys cooling without one, are not
    // waited for: the call fails and the router moves on (default 5 seconds).
    maxRateLimitWait: "2 seconds"
  }).pipe(
    Layer.provide(Provider.client({
      model,
      headers: fault === undefined ? {} : { [Simulator.faultHeader]: fault },
      // No response headers after this: TimeoutError of phase "headers", and the router moves on without retrying the
      // deployment (default 30 seconds).
      headersTimeout: "2 seconds",
      // Headers in, no first token after this: phase "firstToken" (default: none, `timeout` bounds it).
      firstTokenTimeout: "3 seconds",
      // A stream with no bytes for this long: phase "idle", and a routed stream restarts elsewhere (default 30
      // seconds).
      idleTimeout: "1 second"
    })),
    // Provided alongside the Llm, so Router.status shows the deployment's keys.
    Layer.provideMerge(keyPool),
    Layer.provide(RateLimiter.unlimited)
  )

const router = (primaryFault: string) =>
  Router.layer({
    deployments: [
      { name: "primary", model: "gpt-4o", llm: deployment("gpt-4o", primaryFault), groups: ["main"] },
      { name: "fallback", model: "gpt-4o-mini", llm: deployment("gpt-4o-mini"), groups: ["main"] }
    ],
    // The primary while it is usable (default "weighted").
    strategy: "priority",
    // Errors after which another deployment of the address is tried (default: these, OutputDecodeError, AuthError and
    // BudgetExceededError).
    retryOn: [
      "RateLimitError",
      "ProviderUnavailableError",
      "TimeoutError",
      "TransportError",
      "NoCapacityError",
      "StreamTruncatedError"
    ],
    // Other errors go where a fallback lists their tag, and so does a call finding no deployment of the address usable
    // (breakers open, keys cooling), whatever the tags (default: none, the call fails).
    fallbacks: { primary: [{ to: "fallback", on: ["ModelNotFoundError", "ContentFilterError"] }] },
    // A deployment's own retries wait this in all at most while another deployment or a fallback could answer; a
    // longer wait is left to the router, which moves on (the default).
    maxRetryWait: "1 second",
    // One failure opens the primary's breaker (default 3 in 1 minute); after `period` (default 30 s) one call probes
    // it with a single attempt, whatever its retry policy.
    cooldown: { failures: 1, window: "1 minute", period: "1 second" },
    // A stream cut after its first chunk starts over on the fallback, behind a Restart chunk (the default).
    midStream: "restart",
    // No answer after this: the fallback is asked too, the first to answer wins (default: off).
    hedge: { after: "1 second" },
    // One bound on a call, every attempt and fallback included (default 10 minutes).
    deadline: "30 seconds",
    // The longest a provider's Retry-After or rate-limit headers hold a deployment back (the default).
    maxHold: "5 minutes"
  }).pipe(Layer.provide(Router.layerStoreMemory))

const question = { model: "main", messages: [Message.user("Tell me about failover.")] }

const elapsed = (start: number) => Effect.map(Clock.currentTimeMillis, (now) => ((now - start) / 1000).toFixed(1))

const report = Effect.gen(function*() {
  const { details } = yield* Router.status
  for (const [name, load] of Object.entries(details)) {
    const cooling = load.keys.filter((key) => key.coolingUntil !== null).length
    yield* Console.log(
      `  ${name}: ${load.requests} requests, ${load.failures} failed, breaker ${load.cooldown.state}, ` +
        `hedges ${load.hedges.started} started ${load.hedges.cancelled} cancelled, ${cooling} keys cooling`
    )
  }
})

// The primary's stream is cut after 6 chunks: the consumer sees a Restart chunk, then the whole reply from the
// fallback.
const cutStream = Effect.gen(function*() {
  const reply = yield* ChatChunk.collect(
    Llm.chatStream(question).pipe(
      Stream.tap((chunk) =>
        chunk._tag === "Restart"
          ? Console.log(`cut stream: restart, attempt ${chunk.attempt} on ${chunk.deployment} after ${chunk.error}`)
          : Effect.void
      )
    )
  )
  yield* Console.log(
    `cut stream: ${reply.text.split(" ").length} words from ${reply.model}, finish ${reply.finishReason}`
  )
  yield* report
}).pipe(Effect.provide(router("reset=6")))

// The primary's stream stalls after 4 chunks: its idle timeout (1 s) fails the attempt, and the stream restarts on the
// fallback behind a Restart chunk.
const stalledStream = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  const reply = yield* ChatChunk.collect(
    Llm.chatStream(question).pipe(
      Stream.tap((chunk) =>
        chunk._tag === "Restart"
          ? Console.log(`stalled stream: restart on ${chunk.deployment} after ${chunk.error}`)
          : Effect.void
      )
    )
  )
  yield* Console.log(
    `stalled stream: ${reply.text.split(" ").length} words from ${reply.model} in ${yield* elapsed(start)} s`
  )
}).pipe(Effect.provide(router("stall=4")))

// One event of the primary's stream is not JSON: skipped (with a warning log) and counted, the reply still whole.
const malformedEvent = Effect.gen(function*() {
  const reply = yield* ChatChunk.collect(Llm.chatStream(question))
  const { details } = yield* Router.status
  yield* Console.log(
    `malformed event: ${reply.text.split(" ").length} words from ${reply.model}, ${
      reply.skippedEvents ?? 0
    } event skipped, ` +
      `${details["primary"]?.skippedEvents} in the primary's status`
  )
}).pipe(Effect.provide(router("malformed=3")))

// The primary's first token takes 5 s: after 1 s the fallback is asked too, and wins.
const slowPrimary = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  const reply = yield* Llm.chat(question)
  yield* Console.log(`slow primary: answered by ${reply.model} in ${yield* elapsed(start)} s`)
  yield* report
}).pipe(Effect.provide(router("first-token=5000")))

// Every key of the primary is rate-limited for 10 s: three attempts (two key rotations), then the fallback at once.
const rateLimited = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  const reply = yield* Llm.chat(question)
  yield* Console.log(`rate-limited primary: answered by ${reply.model} in ${yield* elapsed(start)} s`)
  yield* report
}).pipe(Effect.provide(router("status=429;retry-after=10")))

// The primary's model is gone: not in retryOn, so the fallback listed for ModelNotFoundError answers.
const modelGone = Llm.chat(question).pipe(
  Effect.flatMap((reply) => Console.log(`model gone: answered by ${reply.model}`)),
  Effect.provide(router("status=404;code=model_not_found"))
)

// The primary is down for 1.5 s, then healthy; a request every 400 ms. Its breaker opens, each probe is one attempt,
// and the first probe after its recovery brings the traffic back.
const flapping = Effect.gen(function*() {
  const start = yield* Clock.currentTimeMillis
  for (let i = 0; i < 10; i++) {
    const reply = yield* Llm.chat(question)
    const { details } = yield* Router.status
    yield* Console.log(
      `flapping primary: ${yield* elapsed(start)} s ${reply.model}, breaker ${details["primary"]?.cooldown.state}`
    )
    yield* Effect.sleep("400 millis")
  }
  yield* report
}).pipe(Effect.provide(router("down=1500;since=first")))

Effect.all([cutStream, stalledStream, malformedEvent, slowPrimary, rateLimited, modelGone, flapping], { discard: true })
  .pipe(
    Effect.provide(Provider.endpoint({ replyTokens: 24 })),
    Effect.provide(NodeHttpClient.layerUndici),
    NodeRuntime.runMain
  )
