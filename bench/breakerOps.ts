/**
 * What a deployment's breaker costs a call, ours beside effect's `persistence/CircuitBreaker`, both on their memory
 * stores: the store's steps a call runs (on Redis each is one script, one round trip) and the Effect operations
 * (`effectOps.ts`: the same on any machine and at any load) of effect's `execute` and of one step of our
 * `Router.BreakerStore`. Ours is counted through a router over one deployment, as a routed call runs it; effect's
 * around a call that succeeds or fails. Prints a table; docs/performance.md keeps the figures.
 * Run: `npx tsx bench/breakerOps.ts`.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as CircuitBreaker from "effect/persistence/CircuitBreaker"
import * as Llm from "../src/Llm.js"
import { ProviderUnavailableError } from "../src/LlmError.js"
import * as LlmTest from "../src/LlmTest.js"
import * as Message from "../src/Message.js"
import type { OptionsError } from "../src/OptionsError.js"
import * as Router from "../src/Router.js"
import { countOps } from "./effectOps.js"

const calls = 1000
const never = Number.MAX_SAFE_INTEGER
const counted = countOps()

// The operations one run of `effect` takes, as the mean of `calls` runs, less those of running `Effect.void`.
function opsOf(effect: Effect.Effect<unknown, unknown>): number {
  const start = counted().ops
  for (let i = 0; i < calls; i++) Effect.runSync(Effect.exit(Effect.void))
  const baseline = counted().ops - start
  const before = counted().ops
  for (let i = 0; i < calls; i++) Effect.runSync(Effect.exit(effect))
  return (counted().ops - before - baseline) / calls
}

// Each store's steps, counted as they run.
const steps = { ours: 0, effects: 0 }

const countedRouterStore = Layer.effect(
  Router.BreakerStore,
  Effect.map(Router.BreakerStore, (store) => ({
    shared: store.shared,
    breaker: (options: Router.BreakerOptions) =>
      Effect.map(store.breaker(options), (breaker): Router.Breaker => {
        const step = <A>(effect: Effect.Effect<A>) => Effect.andThen(Effect.sync(() => steps.ours++), effect)
        return {
          send: step(breaker.send),
          success: step(breaker.success),
          failure: (probe) => step(breaker.failure(probe)),
          release: step(breaker.release),
          hold: (millis) => step(breaker.hold(millis)),
          peek: step(breaker.peek)
        }
      })
  }))
).pipe(Layer.provide(Router.layerStoreMemory))

const countedEffectStore = Layer.effect(
  CircuitBreaker.CircuitBreakerStore,
  Effect.map(CircuitBreaker.CircuitBreakerStore, (store) => ({
    admit: (key: string) => Effect.andThen(Effect.sync(() => steps.effects++), store.admit(key)),
    record: (options: Parameters<typeof store.record>[0]) =>
      Effect.andThen(Effect.sync(() => steps.effects++), store.record(options)),
    state: store.state
  }))
).pipe(Layer.provide(CircuitBreaker.layerStoreMemory()))

// The store's steps per routed call, over a deployment answering as `answer` does.
function oursPerCall(answer: LlmTest.Answer): Effect.Effect<number, OptionsError> {
  const router = Router.layer({
    cooldown: { failures: never },
    deployments: [{ name: "a", model: "m", llm: LlmTest.fromHandler(() => Effect.succeed(answer)) }]
  })
  const run = Effect.gen(function*() {
    steps.ours = 0
    for (let i = 0; i < calls; i++) yield* Effect.exit(Llm.chat({ messages: [Message.user("hi")] }))
    return steps.ours / calls
  })
  return Effect.scoped(
    Effect.provide(run, router.pipe(Layer.provide(countedRouterStore), Layer.provide(Router.layerStoreMemory)))
  )
}

const measured = Effect.gen(function*() {
  const breaker = yield* CircuitBreaker.make({
    tripPolicy: CircuitBreaker.consecutive(never),
    openDuration: "1 minute"
  })
  function effectsPerCall(call: Effect.Effect<unknown, unknown>) {
    steps.effects = 0
    for (let i = 0; i < calls; i++) Effect.runSync(Effect.exit(breaker.execute(call, { key: "a" })))
    return steps.effects / calls
  }
  const ours = yield* Effect.flatMap(
    Router.BreakerStore,
    (store) => store.breaker({ key: "a", failures: never, windowMillis: 60_000, periodMillis: 30_000 })
  )
  const down = new ProviderUnavailableError({ provider: "test", model: "m", status: 503 })
  return [
    ["effect: store steps a call succeeding", effectsPerCall(Effect.void)],
    ["effect: store steps a call failing", effectsPerCall(Effect.fail(down))],
    ["ours: store steps a routed call succeeding", yield* oursPerCall(LlmTest.reply("ok"))],
    ["ours: store steps a routed call failing", yield* oursPerCall(down)],
    ["effect: ops of execute, call succeeding", opsOf(breaker.execute(Effect.void, { key: "b" }))],
    ["effect: ops of execute, call failing", opsOf(breaker.execute(Effect.fail(down), { key: "c" }))],
    ["ours: ops of one store step (failure)", opsOf(ours.failure(false))]
  ] as const
}).pipe(Effect.scoped, Effect.provide([countedEffectStore, Router.layerStoreMemory]))

for (const [what, figure] of Effect.runSync(measured)) console.log(`${what.padEnd(46)} ${figure.toFixed(1)}`)
