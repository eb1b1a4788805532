/**
 * What calls cost, and how to spend less: every response carries its `cost`
 * (from `Pricing`'s built-in table here), a `UsageLedger` adds them up, a
 * `Budget` refuses the call that would pass a limit before it is sent, and a
 * `ResponseCache` answers a repeated question without calling the model.
 *
 *   npx node --import tsx examples/cost-and-cache.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Budget, CacheStore, Llm, Message, Pricing, ResponseCache, UsageLedger } from "effect-llm-router"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Provider from "./_provider.js"

const ask = (question: string, maxTokens = 200) => ({ messages: [Message.user(question)], maxTokens, temperature: 0 })
const dollars = (cost: number | undefined) => (cost === undefined ? "no price" : `$${cost.toFixed(6)}`)

const program = Effect.gen(function*() {
  for (const question of ["What is a Layer?", "What is a Layer?", "What is a Scope?"]) {
    const reply = yield* Llm.chat(ask(question))
    yield* Console.log(`${question} ${reply.usage.totalTokens} tokens, ${dollars(reply.cost)}`)
  }

  // Asking for a very long reply: its estimate alone passes the budget, so it is never sent.
  const refused = yield* Effect.flip(Llm.chat(ask("Write a novel.", 1_000_000)))
  yield* Console.log(
    refused._tag === "BudgetExceededError"
      ? `refused before sending: the ${refused.scope} budget of $${refused.limit}, this call about ${
        dollars(refused.estimate)
      }`
      : `unexpected: ${refused._tag}`
  )

  const cache = yield* (yield* ResponseCache.ResponseCache).stats
  yield* Console.log(`cache: ${cache.hits} hit, ${cache.misses} misses`)
  const { overall } = yield* (yield* UsageLedger.UsageLedger).totals
  yield* Console.log(`ledger: ${overall.requests} calls reached the model, ${dollars(overall.cost)} in all`)
})

// From the model outwards: the ledger and the budget sit below the cache, so
// a cache hit is neither recorded nor charged.
const llm = ResponseCache.layer({ ttl: "10 minutes" }).pipe(
  Layer.provide(CacheStore.layerStoreMemory({ capacity: 100 })),
  // The requests name no model (the layer below picks it), so the guard is told its price.
  Layer.provide(Budget.guard({ price: Pricing.lookup("gpt-4o-mini") })),
  Layer.provide(UsageLedger.track("gpt-4o-mini")),
  Layer.provide(Provider.llm("gpt-4o-mini"))
)
const accounts = Layer.merge(
  UsageLedger.layer,
  // Spend kept in this process's memory: `Budget.layerStoreRedis` or `layerStoreSql` share it between instances.
  Budget.layer({ limits: [{ scope: Budget.overall, limit: 0.05, period: "1 day" }] }).pipe(
    Layer.provide(Budget.layerStoreMemory)
  )
)

program.pipe(
  Effect.provide(Layer.provideMerge(llm, accounts)),
  Effect.provide(Provider.endpoint()),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
