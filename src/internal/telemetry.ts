/**
 * The spans of `Llm` and `Router` calls, after OpenTelemetry's GenAI semantic conventions (the attribute names
 * `effect/ai`'s `Telemetry` writes): a call span, `chat {model}` or `embeddings {model}`, with one `Router.attempt`
 * span per deployment a router tries and one `Llm.attempt` span per attempt of an `Llm`; a router's deployment makes no
 * call span, the router's stands for it (docs/telemetry.md).
 *
 * Never a key (an attempt names its key by the masked id), never a prompt or a reply. Spans only under a tracer the
 * application installed (Effect's built-in one exports nothing, and its spans cost a short call a large share of its
 * CPU); attributes only on a span its sampler kept.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"
import type { FinishReason, Usage } from "../ChatResponse.js"
import type { LlmError } from "../LlmError.js"
import type { RouterCall } from "./routerCall.js"

// A span here is this library's, not the caller's: its stack trace would name this file, at the cost of an `Error` per
// span.
const noStackTrace = { captureStackTrace: false } as const

/** The name of an `Llm`'s attempt spans. */
export const llmAttempt = "Llm.attempt"

/** The name of a `Router`'s attempt spans. */
export const routerAttempt = "Router.attempt"

/** The span event a skipped stream event adds to the current span, if any. */
export const skippedEvent = "llm_router.skipped_event"

// The fiber's cache holds a tracer only when one was provided: a property read, not a context lookup, per call.
export function untraced(fiber: Fiber.Fiber<unknown, unknown>): boolean {
  const cache = fiber.cache
  return !cache.tracerEnabled || cache.tracer === undefined || cache.tracer === Tracer.nativeTracer
}

export type Operation = "chat" | "embeddings" | "count_tokens"

/** What a call span says of its request. */
export interface Requested {
  readonly model?: string | undefined
  readonly maxTokens?: number | undefined
  readonly temperature?: number | undefined
  readonly topP?: number | undefined
}

/** What a call span says of its reply (a `ChatResponse`, a stream's `Finish` chunk). */
export interface Replied {
  readonly id: string
  readonly model: string
  readonly provider: string
  readonly finishReason: FinishReason
  readonly cost?: number | undefined
  readonly skippedEvents?: number | undefined
}

/** `chat {model}`, `embeddings {model}`. */
export function callName(operation: Operation, model: string | undefined): string {
  return model === undefined || model === "" ? operation : `${operation} ${model}`
}

function setProvider(span: Tracer.Span, provider: string) {
  span.attribute("gen_ai.provider.name", provider)
  span.attribute("gen_ai.system", provider)
}

/** A call span's first attributes. */
export function describeCall(operation: Operation, provider: string, request: Requested) {
  return (span: Tracer.Span) => {
    span.attribute("gen_ai.operation.name", operation)
    setProvider(span, provider)
    span.attribute("gen_ai.request.model", request.model ?? "")
    if (request.maxTokens !== undefined) span.attribute("gen_ai.request.max_tokens", request.maxTokens)
    if (request.temperature !== undefined) span.attribute("gen_ai.request.temperature", request.temperature)
    if (request.topP !== undefined) span.attribute("gen_ai.request.top_p", request.topP)
  }
}

/** An attempt span's first attributes; `extra`: the masked key id, the deployment. */
export function describeAttempt(
  provider: string,
  model: string | undefined,
  attempt: number,
  extra: string,
  value: string
) {
  return (
    span: Tracer.Span
  ) => {
    setProvider(span, provider)
    span.attribute("gen_ai.request.model", model ?? "")
    span.attribute("llm_router.attempt", attempt)
    span.attribute(extra, value)
  }
}

/** The tokens of a reply; `llm_router.usage_estimated` when counted locally. */
export function annotateUsage(span: Tracer.Span, usage: Usage) {
  if (!span.sampled) return
  span.attribute("gen_ai.usage.input_tokens", usage.promptTokens)
  span.attribute("gen_ai.usage.output_tokens", usage.completionTokens)
  if (usage.estimated === true) span.attribute("llm_router.usage_estimated", true)
}

/** A reply's `gen_ai.response.*`, the provider that gave it, its cost and skipped events. */
export function annotateReply(span: Tracer.Span, reply: Replied) {
  if (!span.sampled) return
  setProvider(span, reply.provider)
  span.attribute("gen_ai.response.id", reply.id)
  span.attribute("gen_ai.response.model", reply.model)
  span.attribute("gen_ai.response.finish_reasons", [reply.finishReason])
  if (reply.cost !== undefined) span.attribute("llm_router.cost_usd", reply.cost)
  if (reply.skippedEvents !== undefined) span.attribute("llm_router.skipped_events", reply.skippedEvents)
}

/** Writes `attribute` when the span was sampled. */
export function annotate(span: Tracer.Span | undefined, key: string, value: unknown) {
  if (span !== undefined && span.sampled) span.attribute(key, value)
}

// `error.type`: the error's tag, `_OTHER` for a defect; nothing for an interruption.
function annotateFailure(span: Tracer.Span, cause: Cause.Cause<unknown>) {
  const error = cause.reasons.find(Cause.isFailReason)?.error as LlmError | undefined
  if (error !== undefined) {
    span.attribute("error.type", error._tag)
    if (error._tag === "TimeoutError" && error.phase !== undefined) {
      span.attribute("llm_router.timeout_phase", error.phase)
    }
  } else if (!Cause.hasInterruptsOnly(cause)) span.attribute("error.type", "_OTHER")
}

/** Ends a span started by hand, with the failure's attributes. */
export function endUnsafe(span: Tracer.Span, exit: Exit.Exit<unknown, unknown>, clock: Clock.Clock) {
  if (span.sampled && exit._tag === "Failure") annotateFailure(span, exit.cause)
  span.end(clock.currentTimeNanosUnsafe(), exit)
}

/** `endUnsafe` as an effect; nothing for no span. */
export function end(span: Tracer.Span | undefined, exit: Exit.Exit<unknown, unknown>) {
  return span === undefined ? Effect.void : Effect.clockWith((clock) => Effect.sync(() => endUnsafe(span, exit, clock)))
}

/** A whole reply's attributes (a `ChatResponse`'s). */
export function annotateResponse(span: Tracer.Span, response: Replied & { readonly usage: Usage }) {
  annotateReply(span, response)
  annotateUsage(span, response.usage)
}

/** An embedding's attributes: the model and provider that answered, the input tokens. */
export function annotateEmbedding(
  span: Tracer.Span,
  response: { readonly model: string; readonly provider: string; readonly usage: { readonly promptTokens: number } }
) {
  if (!span.sampled) return
  setProvider(span, response.provider)
  span.attribute("gen_ai.response.model", response.model)
  span.attribute("gen_ai.usage.input_tokens", response.usage.promptTokens)
}

/** `effect` with `span` as its parent span; `effect` itself for no span. */
export function under<A, E>(effect: Effect.Effect<A, E>, span: Tracer.AnySpan | undefined): Effect.Effect<A, E> {
  return span === undefined ? effect : Effect.withParentSpan(effect, span, noStackTrace)
}

/** One span of an `Llm` or a `Router` (`spanned`'s). */
export interface SpanOf<A> {
  readonly name: string
  /** Writes its first attributes when it is sampled. */
  readonly describe: (span: Tracer.Span) => void
  /** A call span (kind client). Default: an attempt's (kind internal). */
  readonly call?: boolean | undefined
  /** Its parent. Default: the current span. */
  readonly parent?: Tracer.AnySpan | undefined
  /** Writes what a success adds, when it is sampled. */
  readonly done?: ((span: Tracer.Span, a: A) => void) | undefined
  /**
   * The success carries the span on, and whoever holds it ends it (`end`): a stream's outlives the effect opening it.
   */
  readonly handedOn?: boolean | undefined
  /** No span even when traced (an `Llm` call inside a router's attempt span). */
  readonly skip?: boolean | undefined
}

/**
 * The effect `use` makes, in its span when the fiber is traced: the one way this library makes a span. A failure writes
 * `error.type` and ends it; a success ends it with `done`'s attributes, or hands it on.
 */
export function spanned<A, E>(
  options: SpanOf<A>,
  use: (span: Tracer.Span | undefined) => Effect.Effect<A, E>
): Effect.Effect<A, E> {
  return Effect.withFiber((fiber) =>
    options.skip === true || untraced(fiber)
      ? use(undefined)
      : options.handedOn === true
      ? handedOn(options, use)
      : endsWith(options, use)
  )
}

/**
 * `spanned` when `traced`, else `use(undefined)` in this same step: the caller read `untraced` once for a call and its
 * attempts, so an untraced call makes neither the span's options nor the step `spanned` takes to read the fiber.
 */
export function spannedWhen<A, E>(
  traced: boolean,
  options: () => SpanOf<A>,
  use: (span: Tracer.Span | undefined) => Effect.Effect<A, E>
): Effect.Effect<A, E> {
  return traced ? spanned(options(), use) : use(undefined)
}

function spanOptions(options: SpanOf<unknown>): Tracer.SpanOptionsNoTrace {
  const kind: Tracer.SpanKind = options.call === true ? "client" : "internal"
  return options.parent === undefined ? { kind } : { kind, parent: options.parent }
}

// A span that ends with the effect.
function endsWith<A, E>(options: SpanOf<A>, use: (span: Tracer.Span) => Effect.Effect<A, E>): Effect.Effect<A, E> {
  return Effect.useSpan(options.name, spanOptions(options as SpanOf<unknown>), (span) => {
    if (!span.sampled) return under(use(span), span)
    options.describe(span)
    const done = options.done
    return under(
      Effect.onExit(use(span), (exit) =>
        Effect.sync(() => {
          if (exit._tag === "Failure") annotateFailure(span, exit.cause)
          else if (done !== undefined) done(span, exit.value)
        })),
      span
    )
  })
}

// A span whose success hands it on; a failure ends it.
function handedOn<A, E>(options: SpanOf<A>, use: (span: Tracer.Span) => Effect.Effect<A, E>): Effect.Effect<A, E> {
  return Effect.flatMap(Effect.makeSpan(options.name, spanOptions(options as SpanOf<unknown>)), (span) => {
    if (span.sampled) options.describe(span)
    return Effect.onError(under(use(span), span), (cause) => end(span, Exit.failCause(cause)))
  })
}

/** How an `Llm`'s call span is named and described, and what its answer adds to it (`llmCallSpan`'s). */
export interface LlmCall<A> {
  readonly operation: Operation
  readonly provider: string
  readonly request: Requested
  /** The call the router runs, if any: under a router's attempt span, the call makes no span of its own. */
  readonly router: RouterCall
  readonly done?: ((span: Tracer.Span, a: A) => void) | undefined
  /** A stream's: its span handed on with the stream, which ends it when it closes. */
  readonly handedOn?: boolean | undefined
}

/** An `Llm`'s call span (`spanned`'s options): none under a router's attempt span. */
export function llmCallSpan<A>(call: LlmCall<A>): SpanOf<A> {
  return {
    name: callName(call.operation, call.request.model),
    describe: describeCall(call.operation, call.provider, call.request),
    call: true,
    done: call.done,
    handedOn: call.handedOn,
    skip: call.router.inAttemptSpan
  }
}
