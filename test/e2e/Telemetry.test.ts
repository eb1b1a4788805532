/**
 * The spans a call makes, exported through `@effect/opentelemetry` to an
 * OpenTelemetry SDK's in-memory exporter, over loopback against the simulator:
 * a routed call whose primary fails gives the call span, one attempt span per
 * deployment tried and the deployments' own attempts under them, with the GenAI
 * attributes; never a key.
 */
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { describe, expect, it } from "@effect/vitest"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor
} from "@opentelemetry/sdk-trace-base"
import { ChatChunk, type ChatRequest, type ChatResponse, Message } from "effect-llm-router"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Llm from "../../src/Llm.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"

const primaryKey = "sk-telemetry-primary-key-0001"
const backupKey = "sk-telemetry-backup-key-0002"

const entry = (simulator: Simulator.Simulator, key: string) => [{
  model_name: "gpt-4o-mini",
  base_url: `${simulator.url}/v1`,
  api_keys: [key],
  // One attempt per deployment: the router moves on.
  max_retries: 0
}]

/** An OpenTelemetry SDK exporting to memory, installed as Effect's tracer by `@effect/opentelemetry`. */
const inMemory = () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const tracer = OtelTracer.layer.pipe(Layer.provide(Layer.succeed(OtelTracer.OtelTracerProvider, provider)))
  return { exporter, tracer }
}

/** A router over a primary that answers 503 and a healthy backup, tried in that order. */
const routed = Effect.gen(function*() {
  const failing = yield* Simulator.make({ fault: "status=503" })
  const healthy = yield* Simulator.make()
  const config = yield* ProviderConfig.fromJson({
    primary: entry(failing, primaryKey),
    backup: entry(healthy, backupKey)
  })
  const context = yield* Layer.build(
    ProviderConfig.routerLayer(config, { strategy: "priority" }).pipe(Layer.provide(NodeHttpClient.layerUndici))
  )
  return Context.get(context, Llm.Llm)
})

const request: ChatRequest.Input = {
  model: "gpt-4o-mini",
  messages: [Message.user("What is a span?")],
  maxTokens: 40,
  temperature: 0.5
}

const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId

/** Every attribute and event of every span, as one string to search. */
const everything = (spans: ReadonlyArray<ReadableSpan>) =>
  JSON.stringify(
    spans.map((span) => [span.name, span.attributes, span.events.map((event) => [event.name, event.attributes])])
  )

/** The call span, the router's two attempts under it, and each deployment's attempt under those. */
const expectRouted = (spans: ReadonlyArray<ReadableSpan>, reply: Pick<ChatResponse.ChatResponse, "id" | "usage">) => {
  const calls = spans.filter((span) => span.name.startsWith("chat "))
  expect(calls.map((span) => span.name)).toEqual(["chat gpt-4o-mini"])
  const call = calls[0]!
  expect(call.kind).toBe(SpanKind.CLIENT)
  expect(parentOf(call)).toBeUndefined()
  expect(call.attributes).toMatchObject({
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "backup",
    "gen_ai.system": "backup",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.request.max_tokens": 40,
    "gen_ai.request.temperature": 0.5,
    "gen_ai.response.id": reply.id,
    "gen_ai.response.model": "gpt-4o-mini",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.usage.input_tokens": reply.usage.promptTokens,
    "gen_ai.usage.output_tokens": reply.usage.completionTokens,
    "llm_router.deployment": "backup/gpt-4o-mini",
    "llm_router.attempts": 2
  })
  expect(call.attributes["error.type"]).toBeUndefined()
  expect(call.status.code).toBe(SpanStatusCode.OK)

  const attempts = spans.filter((span) => span.name === "Router.attempt")
    .sort((a, b) => Number(a.attributes["llm_router.attempt"]) - Number(b.attributes["llm_router.attempt"]))
  expect(attempts.map(parentOf)).toEqual([call.spanContext().spanId, call.spanContext().spanId])
  expect(attempts.map((span) => span.attributes)).toEqual([
    expect.objectContaining({
      "llm_router.attempt": 1,
      "llm_router.deployment": "primary/gpt-4o-mini",
      "gen_ai.provider.name": "primary",
      "gen_ai.request.model": "gpt-4o-mini",
      "error.type": "ProviderUnavailableError"
    }),
    expect.objectContaining({
      "llm_router.attempt": 2,
      "llm_router.deployment": "backup/gpt-4o-mini",
      "gen_ai.provider.name": "backup"
    })
  ])
  expect(attempts[1]!.attributes["error.type"]).toBeUndefined()
  expect(attempts.map((span) => span.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.OK])

  // Each deployment's own attempt (its retries would be more of them), under the router's, naming its key masked.
  const inner = attempts.map((attempt) =>
    spans.filter((span) => span.name === "Llm.attempt" && parentOf(span) === attempt.spanContext().spanId)
  )
  expect(inner.map((list) => list.length)).toEqual([1, 1])
  expect(inner[0]![0]!.attributes).toMatchObject({ "llm_router.attempt": 1, "error.type": "ProviderUnavailableError" })
  expect(inner[0]![0]!.attributes["llm_router.key_id"]).toMatch(/^sk-…0001#[0-9a-f]{4}$/)
  expect(inner[1]![0]!.attributes["llm_router.key_id"]).toMatch(/^sk-…0002#[0-9a-f]{4}$/)

  const text = everything(spans)
  expect(text).not.toContain(primaryKey)
  expect(text).not.toContain(backupKey)
  // Nor the prompt.
  expect(text).not.toContain("What is a span?")
}

describe("spans through @effect/opentelemetry", () => {
  it.live("a routed call whose primary fails: the call span, two attempt spans, their attributes; never a key", () =>
    Effect.gen(function*() {
      const llm = yield* routed
      const { exporter, tracer } = inMemory()
      const reply = yield* llm.chat(request).pipe(Effect.provide(tracer))
      expectRouted(exporter.getFinishedSpans(), reply)
      expect(
        exporter.getFinishedSpans().find((span) => span.name === "chat gpt-4o-mini")!.attributes["llm_router.cost_usd"]
      )
        .toBe(reply.cost)
    }))

  it.live("a routed stream: the call span lasts until the stream ends, with the time to its first token", () =>
    Effect.gen(function*() {
      const llm = yield* routed
      const { exporter, tracer } = inMemory()
      const reply = yield* ChatChunk.collect(llm.chatStream(request)).pipe(Effect.provide(tracer))
      const spans = exporter.getFinishedSpans()
      expectRouted(spans, reply)
      const call = spans.find((span) => span.name === "chat gpt-4o-mini")!
      expect(call.attributes["llm_router.time_to_first_token_ms"]).toBeTypeOf("number")
      // Ended after every attempt span: the stream was read to its end inside it.
      // (An `HrTime` is [seconds, nanoseconds]: compared as one number, not as arrays, which compare as strings.)
      const nanos = ([seconds, fraction]: readonly [number, number]) =>
        BigInt(seconds) * 1_000_000_000n + BigInt(fraction)
      for (const span of spans) expect(nanos(span.endTime) <= nanos(call.endTime)).toBe(true)
    }))

  it.live("an Llm of its own: a call span per call, its attempts under it; a failed call says its error", () =>
    Effect.gen(function*() {
      const healthy = yield* Simulator.make()
      const config = yield* ProviderConfig.fromJson({ openai: entry(healthy, backupKey) })
      const context = yield* Layer.build(
        ProviderConfig.layer(config, "openai", "gpt-4o-mini").pipe(Layer.provide(NodeHttpClient.layerUndici))
      )
      const llm = Context.get(context, Llm.Llm)
      const { exporter, tracer } = inMemory()
      const reply = yield* ChatChunk.collect(llm.chatStream(request)).pipe(Effect.provide(tracer))
      const failure = yield* Effect.flip(llm.chat({ ...request, model: "no-such-model" }).pipe(Effect.provide(tracer)))
      const spans = exporter.getFinishedSpans()
      const stream = spans.find((span) => span.name === "chat gpt-4o-mini")!
      expect(stream.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": reply.usage.promptTokens,
        "gen_ai.usage.output_tokens": reply.usage.completionTokens,
        "gen_ai.response.finish_reasons": ["stop"]
      })
      expect(stream.attributes["llm_router.time_to_first_token_ms"]).toBeTypeOf("number")
      const streamAttempts = spans.filter((span) =>
        span.name === "Llm.attempt" && parentOf(span) === stream.spanContext().spanId
      )
      expect(streamAttempts.map((span) => span.attributes["llm_router.attempt"])).toEqual([1])
      const failed = spans.find((span) => span.name === "chat no-such-model")!
      expect(failed.attributes["error.type"]).toBe(failure._tag)
      expect(failed.status.code).toBe(SpanStatusCode.ERROR)
      expect(everything(spans)).not.toContain(backupKey)
    }))
})
