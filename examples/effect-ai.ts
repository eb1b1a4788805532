/**
 * Code written against Effect's own `effect/ai` (`Chat`, `LanguageModel`, a
 * `Toolkit`) running on this library: `Llm.languageModel` provides a `Router`
 * as `effect/ai`'s `LanguageModel`, so the same program gets key pools,
 * retries, failover and typed errors without a line of it changing. Here the
 * router's primary (Chat Completions) always answers 503 and its backup
 * (the Anthropic Messages API) serves every call, all against the built-in
 * simulator, which calls the first tool it is offered. Last, a model that is
 * rate-limited, caught by its `AiError` reason.
 *
 *   npx node --import tsx examples/effect-ai.ts
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import {
  Anthropic,
  KeyPool,
  Llm,
  OpenAiChat,
  type OptionsError,
  type ProviderClient,
  RateLimiter,
  RetryPolicy,
  Router
} from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import { Chat, LanguageModel, Tool, Toolkit } from "effect/ai"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

// ---------------------------------------------------------------------------
// The application: effect/ai only

const GetWeather = Tool.make("GetWeather", {
  description: "The current weather in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.String
})

const GetTime = Tool.make("GetTime", {
  description: "The local time in a city",
  parameters: Schema.Struct({ city: Schema.String }),
  success: Schema.Struct({ hour: Schema.Int, minute: Schema.Int })
})

const Tools = Toolkit.make(GetWeather, GetTime)

const ToolsLive = Tools.toLayer(Tools.of({
  GetWeather: ({ city }) => Effect.succeed(`sunny and 21 C in ${city}`),
  GetTime: () => Effect.succeed({ hour: 9, minute: 30 })
}))

const Recipe = Schema.Struct({
  title: Schema.String,
  servings: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 12 }))
}).annotate({ identifier: "Recipe" })

/** A tool loop with effect/ai's `Chat`: the model calls tools until it answers in text. */
const agent = Effect.gen(function*() {
  const toolkit = yield* Tools
  const chat = yield* Chat.fromPrompt([{ role: "user", content: "What is the weather in Lisbon? Use GetWeather." }])
  for (let turn = 0; turn < 5; turn++) {
    const response = yield* chat.generateText({ prompt: [], toolkit })
    for (const call of response.toolCalls) yield* Console.log(`tool call: ${call.name}(${JSON.stringify(call.params)})`)
    if (response.toolCalls.length === 0) {
      const finish = response.content.find((part) => part.type === "finish")
      const served = finish?.metadata["effect-llm-router"] as { readonly provider?: string } | undefined
      return yield* Console.log(`answer from ${served?.provider}: ${response.text}`)
    }
  }
})

/** The same question streamed, and whole: the same text. */
const streaming = Effect.gen(function*() {
  const prompt = "Tell me about Lisbon."
  const parts = yield* LanguageModel.streamText({ prompt }).pipe(Stream.runCollect)
  const deltas = parts.flatMap((part) => part.type === "text-delta" ? [part.delta] : [])
  const whole = yield* LanguageModel.generateText({ prompt })
  yield* Console.log(
    `streamed ${deltas.length} text deltas, the same text as generateText: ${deltas.join("") === whole.text}`
  )
})

/** A structured output, decoded by effect/ai with the schema. */
const structured = Effect.gen(function*() {
  const { value } = yield* LanguageModel.generateObject({ prompt: "A pancake recipe", schema: Recipe })
  yield* Console.log(`object: a Recipe for ${value.servings} (${typeof value.title} title)`)
})

/** Our RateLimitError is effect/ai's, with the provider's Retry-After. */
const rateLimited = LanguageModel.generateText({ prompt: "Hi" }).pipe(
  Effect.andThen(Console.log("answered")),
  Effect.catchReason(
    "AiError",
    "RateLimitError",
    (reason) => Console.log(`rate limited: retry after ${Duration.format(reason.retryAfter ?? Duration.zero)}`)
  )
)

// ---------------------------------------------------------------------------
// Where the model lives: a router over two APIs of the simulator

const deployment = (
  name: string,
  client: Layer.Layer<ProviderClient.ProviderClient, OptionsError.OptionsError, HttpClient.HttpClient>
) =>
  Llm.layer({ retry: RetryPolicy.make({ maxRetries: 0 }), maxRateLimitWait: "1 second" }).pipe(
    Layer.provide(client),
    Layer.provide(KeyPool.layer({ providerId: name, keys: ["sk-simulated-example-key-0001"] })),
    Layer.provide(RateLimiter.unlimited)
  )

const program = Effect.gen(function*() {
  const sim = yield* Simulator.make({ replyTokens: 12 })
  yield* Console.error(`effect-ai: using the built-in simulator at ${sim.url}`)
  const router = Router.layer({
    deployments: [
      {
        name: "primary",
        model: "gpt-4o-mini",
        groups: ["main"],
        llm: deployment(
          "primary",
          OpenAiChat.layer({ baseUrl: `${sim.url}/v1`, headers: { [Simulator.faultHeader]: "status=503" } })
        )
      },
      {
        name: "backup",
        model: "gpt-4o",
        groups: ["main"],
        llm: deployment("backup", Anthropic.layer({ baseUrl: sim.url }))
      }
    ],
    strategy: "priority"
  }).pipe(Layer.provide(Router.layerStoreMemory))
  const Model = Llm.languageModel({ model: "main" }).pipe(Layer.provide(router))
  yield* Effect.all([agent, streaming, structured]).pipe(Effect.provide([Model, ToolsLive]))

  const limited = deployment(
    "limited",
    OpenAiChat.layer({
      baseUrl: `${sim.url}/v1`,
      headers: { [Simulator.faultHeader]: "status=429;retry-after=30" }
    })
  )
  yield* rateLimited.pipe(Effect.provide(Llm.languageModel({ model: "gpt-4o-mini" }).pipe(Layer.provide(limited))))
})

program.pipe(
  Effect.scoped,
  Effect.provide([NodeHttpClient.layerUndici, KeyPool.KeyPoolRegistry.layer, KeyPool.layerStoreMemory]),
  NodeRuntime.runMain
)
