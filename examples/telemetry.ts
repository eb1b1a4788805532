/**
 * Tracing: every call is a span after OpenTelemetry's GenAI conventions
 * (`chat gpt-4o-mini`, with `gen_ai.*` attributes), its attempts spans under
 * it, exported through `@effect/opentelemetry` to any OpenTelemetry SDK. Here
 * the SDK prints each span to the console as it ends; an application would
 * give it an OTLP exporter instead. No span holds a key, a prompt or a reply.
 *
 *   npx node --import tsx examples/telemetry.ts
 */
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { ChatChunk, Llm, Message, RateLimiter, RetryPolicy, Router } from "effect-llm-router"
import { Simulator } from "effect-llm-router/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Provider from "./_provider.js"

// The OpenTelemetry SDK (shut down, so flushed, when the program ends), installed as Effect's tracer.
const Tracing = OtelTracer.layer.pipe(
  Layer.provide(Layer.effect(
    OtelTracer.OtelTracerProvider,
    Effect.acquireRelease(
      Effect.sync(() =>
        new BasicTracerProvider({
          resource: resourceFromAttributes({ "service.name": "telemetry-example" }),
          spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())]
        })
      ),
      (provider) => Effect.promise(() => provider.shutdown())
    )
  ))
)

// One retry inside a deployment: two `Llm.attempt` spans under its `Router.attempt` when it fails.
const deployment = (model: string, fault?: string) =>
  Llm.layer({ retry: RetryPolicy.make({ maxRetries: 1, baseDelay: "50 millis" }) }).pipe(
    Layer.provide(Provider.client({ model, headers: fault === undefined ? {} : { [Simulator.faultHeader]: fault } })),
    Layer.provide(Provider.keyPool),
    Layer.provide(RateLimiter.unlimited)
  )

// The primary answers 503: the call goes on to the fallback.
const router = Router.layer({
  deployments: [
    { name: "primary", model: "gpt-4o", llm: deployment("gpt-4o", "status=503"), groups: ["main"] },
    { name: "fallback", model: "gpt-4o-mini", llm: deployment("gpt-4o-mini"), groups: ["main"] }
  ],
  strategy: "priority"
}).pipe(Layer.provide(Router.layerStoreMemory))

const question = { model: "main", messages: [Message.user("What does a span hold?")], maxTokens: 24 }

const program = Effect.gen(function*() {
  // The spans of this call: "chat main" (the call), two "Router.attempt" and three "Llm.attempt" under them.
  const reply = yield* Llm.chat(question)
  yield* Console.log(`chat: answered by ${reply.model}, ${reply.usage.totalTokens} tokens`)
  // A stream's call span lasts until the stream ends, with its time to the first token.
  const streamed = yield* ChatChunk.collect(Llm.chatStream(question))
  yield* Console.log(`stream: answered by ${streamed.model}, ${streamed.usage.totalTokens} tokens`)
})

program.pipe(
  Effect.provide(router),
  Effect.provide(Tracing),
  Effect.provide(Provider.endpoint({ replyTokens: 24 })),
  Effect.provide(NodeHttpClient.layerUndici),
  NodeRuntime.runMain
)
