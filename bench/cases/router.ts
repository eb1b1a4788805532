/**
 * Routing overhead: `Router` over two deployments (each the `llm-stack` `Llm`
 * over its own key pool and limiter, weighted random) versus one such `Llm`
 * called directly, both against the simulator, non-streamed. The baseline is
 * our own single `Llm`, not raw undici, so the ratio is the router's own cost
 * per call: the pick, the bookkeeping and the deadline. `router-stream-overhead`
 * is the same, streamed: the router reading a deployment's stream up to its
 * first chunk and handing the rest on.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Router from "../../src/Router.js"
import { request as question } from "./call.js"
import { drainReply } from "./reply.js"
import type { BenchCase } from "./types.js"

const request = { ...question, model: "gpt-4o-mini" }

const deployment = (url: string, providerId: string) =>
  Llm.layer({ model: "gpt-4o-mini" }).pipe(
    Layer.provide(Layer.mergeAll(
      OpenAiChat.layer({ baseUrl: url, model: "gpt-4o-mini" }),
      KeyPool.layer({
        providerId,
        keys: [`sk-bench-${providerId}-0123456789ab1`, `sk-bench-${providerId}-0123456789ab2`]
      }).pipe(
        Layer.provide([KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory])
      ),
      RateLimiter.layer({ capacity: 1_000_000, refillRate: 1_000_000 }).pipe(
        Layer.provide(RateLimiter.layerStoreMemory),
        Layer.orDie
      )
    ))
  )

const check = (text: string) => {
  if (text.length === 0) throw new Error("bench: empty reply")
}

const calling = (service: Llm.Service) => Effect.map(service.chat(request), (response) => check(response.text))

const router = (url: string) =>
  Layer.build(
    Router.layer({
      deployments: [
        { name: "one", model: "gpt-4o-mini", llm: deployment(url, "one") },
        { name: "two", model: "gpt-4o-mini", llm: deployment(url, "two") }
      ]
    }).pipe(Layer.provide(Router.layerStoreMemory))
  ).pipe(Effect.map((context) => Context.get(context, Llm.Llm)))

const single = (url: string) =>
  Layer.build(deployment(url, "single")).pipe(Effect.map((context) => Context.get(context, Llm.Llm)))

export const routerStreamOverhead: BenchCase = {
  name: "router-stream-overhead",
  ours: (url) => Effect.map(router(url), (service) => drainReply(service.chatStream(request))),
  baseline: { effect: (url) => Effect.map(single(url), (service) => drainReply(service.chatStream(request))) }
}

export const routerOverhead: BenchCase = {
  name: "router-overhead",
  ours: (url) =>
    Layer.build(
      Router.layer({
        deployments: [
          { name: "one", model: "gpt-4o-mini", llm: deployment(url, "one") },
          { name: "two", model: "gpt-4o-mini", llm: deployment(url, "two") }
        ]
      }).pipe(Layer.provide(Router.layerStoreMemory))
    ).pipe(Effect.map((context) => calling(Context.get(context, Llm.Llm)))),
  baseline: {
    effect: (url) =>
      Layer.build(deployment(url, "single")).pipe(Effect.map((context) => calling(Context.get(context, Llm.Llm))))
  }
}
