/**
 * One `Llm` over several deployments: `Router`. Callers name a group
 * (`"fast"`) or a model as the request's model; the router picks a deployment
 * by weight, falls back on chosen errors, cools failing deployments down, and
 * reports its state with the fields of LLM-API-BalancedCall's `system-capacity`.
 *
 *   npx node --import tsx examples/router.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Llm, Message, Router } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Provider from "./_provider.js"

const router = Router.layer({
  strategy: "weighted",
  deployments: [
    // Two deployments of the same model share the "fast" group 3:1.
    { name: "mini-a", model: "gpt-4o-mini", llm: Provider.llm("gpt-4o-mini"), weight: 3, groups: ["fast"] },
    { name: "mini-b", model: "gpt-4o-mini", llm: Provider.llm("gpt-4o-mini"), weight: 1, groups: ["fast"] },
    // A model the server does not know: its calls fail with ModelNotFoundError.
    { name: "retired", model: "gpt-3.5-retired", llm: Provider.llm("gpt-3.5-retired"), groups: ["legacy"] },
    { name: "big", model: "gpt-4o", llm: Provider.llm("gpt-4o"), groups: ["smart"] }
  ],
  fallbacks: { legacy: [{ to: "smart", on: ["ModelNotFoundError", "ProviderUnavailableError"] }] }
}).pipe(Layer.provide(Router.layerStoreMemory))

const ask = (model: string, text: string) => Llm.chat({ model, messages: [Message.user(text)] })

const program = Effect.gen(function*() {
  // The application code is the same as with a single Llm: only the layer differs.
  yield* Effect.all(Array.from({ length: 200 }, (_, i) => ask("fast", `Question ${i + 1}`)), { concurrency: 16 })

  const answered = yield* ask("legacy", "Are you still there?")
  yield* Console.log(`legacy was answered by ${answered.model}`)

  const { details, loadPercent } = yield* Router.status
  yield* Console.log(`load ${loadPercent}%`)
  for (const [name, load] of Object.entries(details)) {
    yield* Console.log(
      `${name}: weight ${load.weight}, ${load.requests} requests, ${load.failures} failed, cooldown ` +
        `${load.cooldown.state}`
    )
  }
})

program.pipe(
  Effect.provide(router),
  // A seeded Random makes the weighted picks the same on every run.
  Random.withSeed("examples/router"),
  Effect.provide(Provider.endpoint()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
