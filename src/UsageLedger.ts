/**
 * The `UsageLedger` records each call's token usage and cost, and returns totals overall, per deployment, per key
 * (masked id) and per model. It is not called `Usage`, which already names one call's token counts
 * (`ChatResponse.Usage`, `ChatChunk.Usage`). Recording is on every call's path, so it is one synchronous update of
 * mutable totals; `totals` copies them.
 *
 * ```ts
 * const app = Effect.gen(function*() {
 *   yield* Llm.chat({ messages: [Message.user("Hi")] })
 *   const ledger = yield* UsageLedger.UsageLedger
 *   const { overall } = yield* ledger.totals
 *   console.log(overall.requests, overall.cost)
 * })
 * // Every call of the inner Llm is recorded under the deployment "primary".
 * app.pipe(
 *   Effect.provide(UsageLedger.track("primary").pipe(Layer.provide(llmLayer), Layer.provideMerge(UsageLedger.layer)))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { type ChatResponse, emptyUsage, type Usage } from "./ChatResponse.js"
import { Llm, type Service as LlmService } from "./Llm.js"

/**
 * One call as the ledger records it.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Call {
  /** The deployment that served the call (a router's deployment name, or any label). */
  readonly deployment: string
  /** The model that answered. */
  readonly model: string
  /** The masked id of the key that served the call; calls without one are not counted per key. */
  readonly keyId?: string | undefined
  readonly usage: Usage
  /** The cost in US dollars; a call without one counts in `unpriced`, not as free. */
  readonly cost?: number | undefined
  /**
   * What the provider's prompt cache saved the call, in US dollars (`ChatResponse.cacheSavings`).
   *
   * @since 0.3.0
   */
  readonly cacheSavings?: number | undefined
}

/**
 * The `Call` of a response served by `deployment`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message, UsageLedger } from "effect-llm-router"
 *
 * // Record one call by hand, under a label of your own.
 * const onboarding = Effect.gen(function*() {
 *   const ledger = yield* UsageLedger.UsageLedger
 *   const reply = yield* Llm.chat({ messages: [Message.user("Welcome the new user")] })
 *   yield* ledger.record(UsageLedger.callOf("onboarding", reply))
 *   return reply.text
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const callOf = (deployment: string, response: ChatResponse): Call => ({
  deployment,
  model: response.model,
  keyId: response.keyId,
  usage: response.usage,
  cost: response.cost,
  cacheSavings: response.cacheSavings
})

/**
 * Sums over recorded calls. `cost` adds the priced calls only; `unpriced` counts the calls with no cost, so a total
 * is never silently short. The prompt cache's tokens are inside `promptTokens`, as in `Usage`. `cacheSavings` adds
 * what the cache saved the priced calls, net of the premiums of its writes.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Totals {
  readonly requests: number
  readonly promptTokens: number
  readonly completionTokens: number
  readonly cachedPromptTokens: number
  readonly cacheWriteTokens: number
  readonly cacheWrite1hTokens: number
  readonly reasoningTokens: number
  readonly totalTokens: number
  readonly cost: number
  /** @since 0.3.0 */
  readonly cacheSavings: number
  readonly unpriced: number
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Snapshot {
  readonly overall: Totals
  readonly byDeployment: Readonly<Record<string, Totals>>
  /** Keyed by masked key id. */
  readonly byKey: Readonly<Record<string, Totals>>
  readonly byModel: Readonly<Record<string, Totals>>
}

/**
 * @since 0.1.0
 * @category Models
 */
export interface Service {
  /** Adds one call to every total it belongs to. */
  readonly record: (call: Call) => Effect.Effect<void>
  /** A copy of the totals so far. */
  readonly totals: Effect.Effect<Snapshot>
  /** Forgets every recorded call. */
  readonly reset: Effect.Effect<void>
}

/**
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { UsageLedger } from "effect-llm-router"
 *
 * const report = Effect.gen(function*() {
 *   const ledger = yield* UsageLedger.UsageLedger
 *   const { overall, byModel } = yield* ledger.totals
 *   yield* Effect.log(`${overall.requests} calls, $${overall.cost.toFixed(4)}, ${overall.unpriced} unpriced`, byModel)
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export class UsageLedger extends Context.Service<UsageLedger, Service>()("effect-llm-router/UsageLedger") {}

type MutableTotals = { -readonly [K in keyof Totals]: Totals[K] }

const zero = (): MutableTotals => ({
  requests: 0,
  promptTokens: 0,
  completionTokens: 0,
  cachedPromptTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  reasoningTokens: 0,
  totalTokens: 0,
  cost: 0,
  cacheSavings: 0,
  unpriced: 0
})

const add = (totals: MutableTotals, call: Call) => {
  totals.requests += 1
  totals.promptTokens += call.usage.promptTokens
  totals.completionTokens += call.usage.completionTokens
  totals.cachedPromptTokens += call.usage.cachedPromptTokens
  totals.cacheWriteTokens += call.usage.cacheWriteTokens ?? 0
  totals.cacheWrite1hTokens += call.usage.cacheWrite1hTokens ?? 0
  totals.reasoningTokens += call.usage.reasoningTokens
  totals.totalTokens += call.usage.totalTokens
  if (call.cost === undefined) totals.unpriced += 1
  else totals.cost += call.cost
  totals.cacheSavings += call.cacheSavings ?? 0
}

const addTo = (table: Map<string, MutableTotals>, name: string, call: Call) => {
  let totals = table.get(name)
  if (totals === undefined) table.set(name, totals = zero())
  add(totals, call)
}

const copy = (table: Map<string, MutableTotals>): Record<string, Totals> => {
  const out: Record<string, Totals> = {}
  for (const [name, totals] of table) out[name] = { ...totals }
  return out
}

/**
 * An in-memory ledger.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message, UsageLedger } from "effect-llm-router"
 *
 * // A ledger of its own for one job, apart from the application's.
 * const nightly = Effect.gen(function*() {
 *   const ledger = yield* UsageLedger.make
 *   const reply = yield* Llm.chat({ messages: [Message.user("Summarize today's tickets")] })
 *   yield* ledger.record(UsageLedger.callOf("nightly", reply))
 *   const { overall } = yield* ledger.totals
 *   return overall.cost
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make: Effect.Effect<Service> = Effect.sync(() => {
  let overall = zero()
  const byDeployment = new Map<string, MutableTotals>()
  const byKey = new Map<string, MutableTotals>()
  const byModel = new Map<string, MutableTotals>()
  return UsageLedger.of({
    record: (call) =>
      Effect.sync(() => {
        add(overall, call)
        addTo(byDeployment, call.deployment, call)
        addTo(byModel, call.model, call)
        if (call.keyId !== undefined) addTo(byKey, call.keyId, call)
      }),
    totals: Effect.sync(() => ({
      overall: { ...overall },
      byDeployment: copy(byDeployment),
      byKey: copy(byKey),
      byModel: copy(byModel)
    })),
    reset: Effect.sync(() => {
      overall = zero()
      byDeployment.clear()
      byKey.clear()
      byModel.clear()
    })
  })
})

/**
 * An in-memory `UsageLedger`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { type Llm, UsageLedger } from "effect-llm-router"
 *
 * declare const OpenAi: Layer.Layer<Llm.Llm>
 *
 * // Every call of OpenAi recorded as "openai"; the ledger is provided to the program too.
 * const Tracked = UsageLedger.track("openai").pipe(Layer.provide(OpenAi), Layer.provideMerge(UsageLedger.layer))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer: Layer.Layer<UsageLedger> = Layer.effect(UsageLedger, make)

/**
 * Wraps an `Llm` so that each of its completed calls is recorded under `deployment`: `chat` on success, `chatStream`
 * at its `Finish` chunk. Failed calls, streams that end without a `Finish` and embeddings are not recorded.

 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Llm, Message, UsageLedger } from "effect-llm-router"
 *
 * const program = Effect.gen(function*() {
 *   const ledger = yield* UsageLedger.make
 *   const llm = UsageLedger.tracked(yield* Llm.Llm, ledger, "primary")
 *   yield* llm.chat({ messages: [Message.user("Hi")] })
 *   const { byDeployment } = yield* ledger.totals
 *   return byDeployment["primary"]?.requests // 1
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const tracked = (llm: LlmService, ledger: Service, deployment: string): LlmService =>
  Llm.of({
    chat: (request) => Effect.tap(llm.chat(request), (response) => ledger.record(callOf(deployment, response))),
    chatStream: (request) =>
      Stream.suspend(() => {
        let usage: Usage | undefined
        return Stream.mapArrayEffect(llm.chatStream(request), (chunk) => {
          for (const item of chunk) {
            if (item._tag === "Usage") usage = item.usage
            else if (item._tag === "Finish") {
              return Effect.as(
                ledger.record({
                  deployment,
                  model: item.model,
                  keyId: item.keyId,
                  usage: usage ?? emptyUsage,
                  cost: item.cost,
                  cacheSavings: item.cacheSavings
                }),
                chunk
              )
            }
          }
          return Effect.succeed(chunk)
        })
      }),
    // Embeddings and token counts are not chat calls: they pass through unrecorded.
    embed: llm.embed,
    countTokens: llm.countTokens
  })

/**
 * A layer that decorates the `Llm` below it with `tracked`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { type Llm, UsageLedger } from "effect-llm-router"
 *
 * declare const OpenAi: Layer.Layer<Llm.Llm>
 * declare const Anthropic: Layer.Layer<Llm.Llm>
 *
 * // Two Llms recording into one ledger, each under its own name; provide
 * // UsageLedger.layer once, to the program that uses them.
 * const TrackedOpenAi = UsageLedger.track("openai").pipe(Layer.provide(OpenAi))
 * const TrackedAnthropic = UsageLedger.track("anthropic").pipe(Layer.provide(Anthropic))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const track = (deployment: string): Layer.Layer<Llm, never, Llm | UsageLedger> =>
  Layer.effect(Llm, Effect.zipWith(Llm, UsageLedger, (llm, ledger) => tracked(llm, ledger, deployment)))
