// The other TypeScript snippets of README.md and of the pages under docs/, word for word inside
// the scaffolding they assume (test/Readme.test.ts checks that each appears here), so they typecheck.
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Duration, Effect, Layer, Schema } from "effect"
import {
  AzureOpenAi,
  Bedrock,
  Budget,
  CacheStore,
  type ChatRequest,
  KeyPool,
  Llm,
  LlmError,
  Message,
  Pricing,
  ProviderConfig,
  RateLimiter,
  ResponseCache,
  RetryPolicy,
  Router,
  Store,
  UsageLedger,
  Vertex
} from "effect-llm-router"
import { LlmTest } from "effect-llm-router/testing"
import { LanguageModel } from "effect/ai"
import type * as SqlClient from "effect/sql/SqlClient"

declare const request: ChatRequest.Input
declare const program: Effect.Effect<void, LlmError.LlmError, Llm.Llm>
declare const myApp: Effect.Effect<string, LlmError.LlmError, Llm.Llm>
declare const exporter: SpanExporter

export const structuredOutput = Effect.gen(function*() {
  const Recipe = Schema.Struct({ title: Schema.String, servings: Schema.Int }).annotate({ identifier: "Recipe" })
  const { value, response } = yield* Llm.generateObject({ messages: [Message.user("A pancake recipe")] }, Recipe)
  // value: { title: string; servings: number }; response: the ChatResponse, with usage and cost
  return { value, response }
})

export const embeddings = Effect.gen(function*() {
  const { embeddings, usage } = yield* Llm.embed({
    input: ["first text", "second text"],
    model: "text-embedding-3-small"
  })
  return { embeddings, usage }
})

const answer = Llm.chat(request).pipe(
  Effect.retry({ schedule: RetryPolicy.backoff({ baseDelay: "1 second" }), times: 2 }),
  Effect.catchTag("RateLimitError", () => Llm.chat({ ...request, model: "gpt-4o-mini" }))
)
export { answer }

export const tracing = () => {
  const Tracing = OtelTracer.layer.pipe(
    Layer.provide(Layer.effect(
      OtelTracer.OtelTracerProvider,
      Effect.acquireRelease(
        Effect.sync(() => new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] })),
        (provider) => Effect.promise(() => provider.shutdown()) // flushes the spans still held
      )
    ))
  )
  const traced = program.pipe(Effect.provide(Tracing))
  return traced
}

export const configured = Effect.gen(function*() {
  const config = yield* ProviderConfig.load("provider.json") // needs a FileSystem (NodeFileSystem.layer)
  const gpt4o = ProviderConfig.layer(config, "openai", "gpt-4o") // an Llm layer; needs an HttpClient
  const answered = program.pipe(Effect.provide(gpt4o))
  const models = yield* ProviderConfig.layers(config) // every model's: models.openai?.["gpt-4o"]
  // From the model outwards: the ledger and the budget sit below the cache, so hits are free.
  const llm = ResponseCache.layer({ ttl: "10 minutes" }).pipe(
    Layer.provide(CacheStore.layerStoreMemory({ capacity: 1000 })),
    Layer.provide(Budget.guard({ price: Pricing.lookup("gpt-4o-mini") })),
    Layer.provide(UsageLedger.track("gpt-4o-mini")),
    Layer.provide(ProviderConfig.layer(config, "openai", "gpt-4o-mini"))
  )
  const accounts = Layer.merge(
    UsageLedger.layer,
    Budget.layer({ limits: [{ scope: Budget.overall, limit: 5, period: "1 day" }] })
  )
  const cached = program.pipe(Effect.provide(Layer.provideMerge(llm, accounts)))
  const router = Router.layer({
    strategy: "lowest-latency", // or "weighted" (default), "least-busy", "lowest-cost", "priority"
    deployments: [
      {
        name: "mini-a",
        model: "gpt-4o-mini",
        llm: ProviderConfig.layer(config, "openai", "gpt-4o-mini"),
        weight: 3,
        groups: ["fast"]
      },
      {
        name: "groq",
        model: "llama-3.1-8b-instant",
        llm: ProviderConfig.layer(config, "groq", "llama-3.1-8b-instant"),
        groups: ["fast"]
      },
      {
        name: "claude",
        model: "claude-sonnet-4-5",
        llm: ProviderConfig.layer(config, "anthropic", "claude-sonnet-4-5"),
        groups: ["smart"],
        contextWindow: 200_000
      }
    ],
    fallbacks: { fast: [{ to: "smart", on: ["ContextLengthError", "ProviderUnavailableError", "RateLimitError"] }] },
    cooldown: { failures: 3, window: "1 minute", period: "30 seconds" },
    deadline: "2 minutes"
  })
  const reply = yield* Llm.chat({ model: "fast", messages: [Message.user("Hi")] })
  // { loadPercent, totalMax, details: { "mini-a": { type, current, max, weight, keys, ... } } }
  const status = yield* Router.status
  return { answered, models, cached, router, reply, status }
})

const local = Effect.scoped(Effect.gen(function*() {
  const first = yield* RateLimiter.make({ capacity: 20, refillRate: 5, key: "openai/gpt-4o" })
  const second = yield* RateLimiter.make({ capacity: 20, refillRate: 5, key: "openai/gpt-4o" })
  return [first, second]
})).pipe(Effect.provide(RateLimiter.layerStoreMemory))
export { local as localStores }

const shared = Effect.scoped(Effect.gen(function*() {
  const store = yield* Store.make({ redis: "redis://127.0.0.1:6379", onUnavailable: "fail-open", instances: 3 })
  const limiter = yield* RateLimiter.make({ capacity: 20, refillRate: 5, key: "openai/gpt-4o" }).pipe(
    Effect.provide(RateLimiter.layerStoreRedis(store))
  )
  const pool = yield* KeyPool.make({ providerId: "openai", keys: ["sk-one", "sk-two"], key: "openai" }).pipe(
    Effect.provide(KeyPool.layerStoreRedis(store))
  )
  return { limiter, pool }
}))
export { shared as scaleOut }

const localPools = Effect.scoped(Effect.gen(function*() {
  const options = { providerId: "openai", keys: [{ key: "sk-one", maxConcurrency: 2 }], key: "openai" }
  const first = yield* KeyPool.make(options)
  const second = yield* KeyPool.make(options)
  return [first, second]
})).pipe(Effect.provide(KeyPool.layerStoreMemory))
export { localPools }

const sharedPools = Effect.scoped(Effect.gen(function*() {
  const store = yield* Store.make({ redis: "redis://127.0.0.1:6379" })
  return yield* KeyPool.make({ providerId: "openai", keys: ["sk-one", "sk-two"], key: "openai" }).pipe(
    Effect.provide(KeyPool.layerStoreRedis(store))
  )
}))
export { sharedPools }

declare const deployments: ReadonlyArray<Router.Deployment>

const localRouters = Effect.scoped(Effect.gen(function*() {
  const first = yield* Router.make({ deployments, key: "main" })
  const second = yield* Router.make({ deployments, key: "main" })
  return [first, second] as const
})).pipe(Effect.provide(Router.layerStoreMemory))
export { localRouters }

const sharedRouter = Effect.scoped(Effect.gen(function*() {
  const store = yield* Store.make({ redis: "redis://127.0.0.1:6379" })
  return yield* Router.make({ deployments, affinity: true }).pipe(Effect.provide(Router.layerStoreRedis(store)))
}))
export { sharedRouter }

const limits = [{ scope: Budget.overall, limit: 50, period: "month" as const }]
const localBudgets = Effect.gen(function*() {
  const first = yield* Budget.make({ limits, key: "team" })
  const second = yield* Budget.make({ limits, key: "team" })
  return [first, second]
}).pipe(Effect.provide(Budget.layerStoreMemory))
export { localBudgets }

const sharedBudget = Effect.scoped(Effect.gen(function*() {
  const store = yield* Store.make({ redis: "redis://127.0.0.1:6379" })
  return yield* Budget.make({ limits, key: "team" }).pipe(Effect.provide(Budget.layerStoreRedis(store)))
}))
export { sharedBudget }

declare const Database: Layer.Layer<SqlClient.SqlClient>

const sqlBudget = Budget.make({ limits, key: "team" }).pipe(
  Effect.provide(Budget.layerStoreSql({ address: "postgres on db.internal" })),
  Effect.provide(Database)
)
export { sqlBudget }

export const testing = Effect.gen(function*() {
  const test = LlmTest.layer([
    new LlmError.RateLimitError({ provider: "test", model: "gpt-4o" }), // the first call is rate-limited...
    LlmTest.reply("Paris") // ...so the app's fallback gets this
  ])
  const answer = yield* myApp.pipe(Effect.provide(test))
  const seen = yield* LlmTest.requests.pipe(Effect.provide(test))
  return { answer, seen }
})

declare const router: Layer.Layer<Llm.Llm>

const Model = Llm.languageModel({ model: "fast" }).pipe(Layer.provide(router))

const reply = LanguageModel.generateText({ prompt: "Summarize Effect in a line." }).pipe(
  Effect.map((response) => response.text),
  Effect.catchReason(
    "AiError",
    "RateLimitError",
    (reason) => Effect.succeed(`busy, retry in ${Duration.format(reason.retryAfter ?? Duration.zero)}`)
  ),
  Effect.provide(Model)
)
export { reply }

// A deployment's path, dated by its API version; keys from the pool go as `api-key`.
const keyed = AzureOpenAi.layer({
  baseUrl: "https://my-resource.openai.azure.com",
  deployment: "gpt4o-prod",
  apiVersion: "2024-10-21"
})
// The v1 API with Microsoft Entra ID; the pool holds one stand-in key, "none".
const entra = AzureOpenAi.layer({ baseUrl: "https://my-resource.openai.azure.com", model: "gpt-4.1", entraId: true })
export { entra as azureEntraId, keyed as azureKeyed }

// Gemini on a region; a claude- model named by a request goes to Anthropic's path on its own.
const flash = Vertex.layer({ project: "my-proj", location: "us-central1", model: "gemini-2.5-flash" })
// Claude on the global endpoint; the pool holds one stand-in key, "none".
const claude = Vertex.layer({ project: "my-proj", location: "global", model: "claude-sonnet-4-5@20250929" })
export { claude as vertexClaude, flash as vertexFlash }

// Claude in a region, signed with SigV4 by AWS's default credential chain; the pool holds one stand-in key, "none".
const haiku = Bedrock.layer({ region: "us-east-1", model: "us.anthropic.claude-3-5-haiku-20241022-v1:0" })
// Another account's role, by a profile of the shared config files; or Bedrock API keys from the pool as a bearer.
const staging = Bedrock.layer({ region: "eu-west-1", model: "amazon.nova-micro-v1:0", profile: "staging" })
const nova = Bedrock.layer({ region: "us-west-2", model: "amazon.nova-micro-v1:0", auth: "api-key" })
export { haiku as bedrockHaiku, nova as bedrockNova, staging as bedrockStaging }

declare const OpenAi: Layer.Layer<Llm.Llm>

const localCache = ResponseCache.layer({ ttl: "1 hour" }).pipe(
  Layer.provide(OpenAi),
  Layer.provide(CacheStore.layerStoreMemory({ capacity: 10_000 }))
)

const sharedCache = Layer.unwrap(
  Effect.map(Store.make({ redis: "redis://127.0.0.1:6379" }), (store) =>
    ResponseCache.layer({ ttl: "1 hour" }).pipe(
      Layer.provide(OpenAi),
      Layer.provide(CacheStore.layerStoreRedis(store, { key: "replies" }))
    ))
)
export { localCache, sharedCache }

// docs/mcp.md: the official MCP SDK's client of the gateway's /mcp (imports may come last: they are hoisted).
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"

export async function listAndCall() {
  const client = new Client({ name: "my-agent", version: "1.0.0" })
  await client.connect(
    new StreamableHTTPClientTransport(new URL("http://127.0.0.1:4000/mcp"), {
      requestInit: { headers: { authorization: `Bearer ${process.env.GATEWAY_KEY_AGENT}` } }
    })
  )
  const { tools } = await client.listTools() // files__read, calc__add, calc__mul
  const result = await client.callTool({ name: "calc__add", arguments: { a: 2, b: 3 } })
  return { tools, result }
}
