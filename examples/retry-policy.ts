/**
 * Retries and fallbacks: the policy `Llm` applies to every call, and a
 * pipeline of your own at the call site.
 *
 *   npx node --import tsx examples/retry-policy.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, LlmError, Message, RateLimiter, RetryPolicy } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Provider from "./_provider.js"

// The layer's policy is a plain `Schedule`, so it can be wrapped like any
// other: here to log every failed attempt, the last one (which the policy stops
// on, and `Schedule.tap` would not see) included. Two budgets of two: moves
// to another key after a rate limit, at once (the pool holds the limited one
// back for its retry-after), and retries of a 5xx or a timeout, after a
// backoff from 100 ms.
const logEveryFailure = (policy: RetryPolicy.RetryPolicy): RetryPolicy.RetryPolicy =>
  Schedule.fromStep(
    Effect.map(Schedule.toStep(policy), (step) => (now: number, error: LlmError.LlmError) =>
      Effect.andThen(Console.error(`  gpt-4o attempt failed: ${error._tag}`), step(now, error)))
  )
const policy = logEveryFailure(RetryPolicy.make({ maxRetries: 2, maxKeyRotations: 2, baseDelay: "100 millis" }))

const deployment = (model: string, retry: RetryPolicy.RetryPolicy, headers: Record<string, string> = {}) =>
  Llm.layer({ retry }).pipe(
    Layer.provide(Provider.client({ model, headers })),
    Layer.provide(Provider.keyPool),
    Layer.provide(RateLimiter.unlimited)
  )

// The preferred model is over its limit: the simulator answers its requests
// 429 with retry-after 0.2 s (a real API ignores this header).
const Preferred = deployment("gpt-4o", policy, { [Simulator.faultHeader]: "status=429;retry-after=0.2" })
// The backup has no policy of its own: the call site below decides. (Each
// `Effect.provide` of a deployment builds it afresh: right for one call; an
// application builds its deployments once, or lets a Router own them.)
const Backup = deployment("gpt-4o-mini", RetryPolicy.none)

const question = { messages: [Message.user("Summarise Hamlet in one line.")] }

const program = Llm.chat(question).pipe(
  Effect.provide(Preferred),
  Effect.map((reply) => `gpt-4o answered: ${reply.text}`),
  // Still rate-limited after the layer's retries: rather than wait, ask the
  // backup model, retrying its transient failures with the same backoff.
  Effect.catchTag("RateLimitError", (error) =>
    Effect.andThen(
      Console.error(error.message),
      Llm.chat(question).pipe(
        Effect.retry({
          schedule: RetryPolicy.backoff({ baseDelay: "200 millis" }),
          times: 3,
          while: LlmError.isRetryable
        }),
        Effect.provide(Backup),
        Effect.map((reply) => `recovered: gpt-4o-mini answered: ${reply.text}`)
      )
    )),
  Effect.flatMap(Console.log)
)

program.pipe(
  Effect.provide(Provider.endpoint()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
