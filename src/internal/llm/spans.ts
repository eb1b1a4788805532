/**
 * The spans of an `Llm` call: `Llm.chat`, `Llm.chatStream`, `Llm.embed`, and
 * one `Llm.attempt` per attempt, with GenAI attributes (the provider, the
 * model, the tokens; for an attempt its number and the masked key id, never
 * a key).
 *
 * Spans only when the application installed a tracer: Effect's built-in one
 * exports nothing, and its spans cost a short call a large share of its CPU.
 */
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"
import type { Usage } from "../../ChatResponse.js"
import type { Attempted, Env } from "./env.js"

// A span here is this module's, not the caller's: its stack trace would name this file, at the cost of an `Error` per span.
const noStackTrace = { captureStackTrace: false } as const

export const untraced = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  !fiber.cache.tracerEnabled || fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer

export const spanAttributes = (env: Env, request: Attempted) => ({
  "gen_ai.system": env.client.provider,
  "gen_ai.request.model": request.model ?? ""
})

export const usageAttributes = (usage: Usage) => ({
  "gen_ai.usage.input_tokens": usage.promptTokens,
  "gen_ai.usage.output_tokens": usage.completionTokens
})

/** `effect` in an `Effect.withSpan` span unless `untraced`, with `done`'s attributes (the tokens) added when it succeeds. */
export const traced = <A, E>(
  effect: Effect.Effect<A, E>,
  name: string,
  attributes: Record<string, unknown>,
  done?: (a: A) => Record<string, unknown>
): Effect.Effect<A, E> =>
  Effect.withFiber((fiber) =>
    untraced(fiber) ? effect : Effect.withSpan(
      done === undefined ? effect : Effect.tap(effect, (a) => Effect.annotateCurrentSpan(done(a))),
      name,
      { attributes, ...noStackTrace }
    )
  )

/** A span ended by hand (a stream's, which outlives the effect that opens it); `undefined` when untraced. */
export const startSpan = (
  env: Env,
  name: string,
  request: Attempted,
  parent: Tracer.Span | undefined,
  extra?: Record<string, unknown>
) =>
  Effect.withFiber((fiber) =>
    untraced(fiber)
      ? Effect.succeed<Tracer.Span | undefined>(undefined)
      : Effect.map(
        Effect.makeSpan(name, {
          attributes: { ...spanAttributes(env, request), ...extra },
          ...(parent !== undefined ? { parent } : {})
        }),
        (span): Tracer.Span | undefined => span
      )
  )

export const endSpan = (span: Tracer.Span | undefined, exit: Exit.Exit<unknown, unknown>) =>
  span === undefined ? Effect.void : Effect.clockWith((clock) => Effect.sync(() => span.end(clock.currentTimeNanosUnsafe(), exit)))

export const annotate = (span: Tracer.Span | undefined, attributes: Record<string, unknown>) => {
  if (span !== undefined) for (const [key, value] of Object.entries(attributes)) span.attribute(key, value)
}

export const withParent = <A, E>(effect: Effect.Effect<A, E>, span: Tracer.Span | undefined) =>
  span === undefined ? effect : Effect.withParentSpan(effect, span, noStackTrace)
