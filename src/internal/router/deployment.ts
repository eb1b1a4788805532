/**
 * A deployment as the router keeps it, and the bookkeeping of each attempt on it. Plain mutable fields: a call's
 * bookkeeping is a few synchronous writes, not a `Ref` update.
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Budget from "../../Budget.js"
import type { ChatResponse, RateLimitSnapshot } from "../../ChatResponse.js"
import * as KeyPool from "../../KeyPool.js"
import * as Llm from "../../Llm.js"
import type { LlmError } from "../../LlmError.js"
import * as Pricing from "../../Pricing.js"
import * as ProviderClient from "../../ProviderClient.js"
import * as RateLimiter from "../../RateLimiter.js"
import type { Breaker as StoredBreaker, Deployment, Options } from "../../Router.js"
import * as UsageLedger from "../../UsageLedger.js"
import { shownBaseUrl } from "../transport/baseUrl.js"
import * as Breaker from "./breaker.js"
import type * as LearnedLimits from "./learnedLimits.js"
import { replyTokensDefault, type Settings } from "./settings.js"

/** What the picking rules (`routing.ts`) read of a deployment. */
export interface Candidate {
  readonly weight: number
  /** Calls in flight through the router. */
  readonly inFlight: number
  /** Exponentially weighted mean latency in milliseconds; undefined before the first success. */
  readonly latencyMillis: number | undefined
}

/** A deployment's fixed facts and running counters. */
export interface State extends Candidate {
  readonly name: string
  readonly provider: string
  readonly model: string
  readonly weight: number
  readonly contextWindow: number | undefined
  readonly groups: ReadonlyArray<string>
  readonly llm: Llm.Service
  readonly price: Pricing.Price | undefined
  readonly keyPool: KeyPool.Service | undefined
  readonly limiter: RateLimiter.Service | undefined
  /** Where its calls go, credentials removed, when its layer's client says (`ProviderClient.baseUrl`). */
  readonly endpoint: string | undefined
  /** What its client's `embed` takes, when its layer provides the client (`ProviderClient.embeddingInput`). */
  readonly embeddingInput: "none" | "text" | "tokens" | undefined
  /** Its client's cloud credential, asked for a token (`ProviderClient.credential`); none for a client of keys. */
  readonly credential: ProviderClient.Service["credential"]
  /**
   * Whether a broken stream is continued on it by assistant prefill: learned false once it refuses one (a 400), for the
   * router's life (a gateway's reload makes a new router).
   */
  prefill: boolean
  /** Its breaker as the router reads it: what `store` answered last (`breaker.ts`). */
  readonly breaker: Breaker.Mirror
  /** Its breaker in the router's `BreakerStore`. */
  readonly store: StoredBreaker
  inFlight: number
  latencyMillis: number | undefined
  limitedUntil: number
  requests: number
  failures: number
  rateLimited: number
  secondStart: number
  secondCount: number
  /** Hedges started on it (`Options.hedge`). */
  hedges: number
  /** Its attempts interrupted because a hedge's other attempt answered first. */
  hedgesCancelled: number
  /** Malformed stream events its replies skipped (their `skippedEvents`). */
  skippedEvents: number
  /** Its streams' learned phase limits (`Options.learnedLimits`); undefined: learning is off. */
  readonly learned: LearnedLimits.Learned | undefined
}

/** A deployment with the services its layer built. */
export interface Built {
  readonly deployment: Deployment<unknown, unknown>
  readonly context: Context.Context<Llm.Llm>
}

// Wrapped for the budget and the ledger; what the router tells the Llm (`RouterCall`) is in the context the wrappers
// run in, so it reaches it.
function decorate(
  options: Options,
  deployment: Deployment<unknown, unknown>,
  llm: Llm.Service,
  price: Pricing.Price | undefined
) {
  let out = llm
  if (options.budget !== undefined) {
    out = Budget.guarded(out, options.budget, {
      scopes: [deployment.name, ...(deployment.groups ?? [])],
      price,
      defaultMaxTokens: options.replyTokens ?? replyTokensDefault,
      provider: deployment.provider ?? deployment.name
    })
  }
  if (options.ledger !== undefined) out = UsageLedger.tracked(out, options.ledger, deployment.name)
  return out
}

function embeddingInputOf(client: ProviderClient.Service | undefined): State["embeddingInput"] {
  return client === undefined ? undefined : client.embeddingInput ?? "text"
}

/** Whether `state` may be sent an embedding request of token ids (`tokens`) or texts: a client not known may. */
export function embeds(state: State, tokens: boolean): boolean {
  return state.embeddingInput === undefined || state.embeddingInput === "tokens" ||
    (!tokens && state.embeddingInput === "text")
}

/** The state of a built deployment, its `Llm` wrapped for the router's budget and ledger. */
export function make(
  options: Options,
  { context, deployment }: Built,
  store: StoredBreaker,
  learned: LearnedLimits.Learned | undefined
): State {
  const price = deployment.price ?? Pricing.lookup(deployment.model)
  const client = Context.getOrUndefined(context as Context.Context<unknown>, ProviderClient.ProviderClient)
  return {
    name: deployment.name,
    provider: deployment.provider ?? deployment.name,
    model: deployment.model,
    weight: deployment.weight ?? 1,
    contextWindow: deployment.contextWindow,
    groups: deployment.groups ?? [],
    llm: decorate(options, deployment, Context.get(context, Llm.Llm), price),
    price,
    keyPool: Context.getOrUndefined(context as Context.Context<unknown>, KeyPool.KeyPool),
    limiter: Context.getOrUndefined(context as Context.Context<unknown>, RateLimiter.RateLimiter),
    endpoint: client?.baseUrl === undefined ? undefined : shownBaseUrl(client.baseUrl),
    embeddingInput: embeddingInputOf(client),
    credential: client?.credential,
    prefill: deployment.prefill ?? client?.prefill === true,
    breaker: Breaker.mirror(),
    store,
    inFlight: 0,
    latencyMillis: undefined,
    limitedUntil: 0,
    requests: 0,
    failures: 0,
    rateLimited: 0,
    secondStart: 0,
    secondCount: 0,
    hedges: 0,
    hedgesCancelled: 0,
    skippedEvents: 0,
    learned
  }
}

/** Holds the deployment back until `until`, at most `Options.maxHold` from `now`. */
function holdUntil(settings: Settings, state: State, now: number, until: number) {
  until = Math.min(until, now + settings.maxHoldMillis)
  if (until <= state.limitedUntil) return
  state.limitedUntil = until
  state.rateLimited++
}

/**
 * What the provider's rate-limit headers said of a reply: none left holds the deployment back. A request refills in
 * reset / limit (buckets refill continuously); tokens wait for the whole reset.
 */
export function holdFor(settings: Settings, state: State, rateLimit: RateLimitSnapshot, now: number): void {
  const requests = rateLimit.remainingRequests === 0 && rateLimit.resetRequests !== undefined
    ? now + Duration.toMillis(rateLimit.resetRequests) / Math.max(1, rateLimit.limitRequests ?? 1)
    : 0
  const tokens = rateLimit.remainingTokens === 0 && rateLimit.resetTokens !== undefined
    ? now + Duration.toMillis(rateLimit.resetTokens)
    : 0
  holdUntil(settings, state, now, Math.max(requests, tokens))
}

/** Bookkeeping when an attempt starts; says whether it would be a cooldown's probe, which the store has to grant. */
export function enter(state: State, now: number): boolean {
  const probe = Breaker.probeDue(state.breaker, now)
  state.inFlight++
  state.requests++
  if (now - state.secondStart >= 1000) {
    state.secondStart = now
    state.secondCount = 0
  }
  state.secondCount++
  return probe
}

/** A successful attempt, as `settleSuccess` books it. */
export interface Success {
  /** When the attempt started (`Clock` milliseconds). */
  readonly startMillis: number
  readonly now: number
  /** The answer; a chat response's rate-limit headers and skipped events are read. */
  readonly reply: unknown
  /** A stream, which keeps its deployment busy until the consumer's stream ends. */
  readonly held: boolean
}

export function settleSuccess(settings: Settings, state: State, success: Success): void {
  const { held, now, reply, startMillis } = success
  if (!held) state.inFlight--
  state.latencyMillis = ewma(state.latencyMillis, now - startMillis, settings.alpha)
  // A stream is settled at its first chunk.
  if (held) state.learned?.firstChunk.add(now - startMillis)
  const { rateLimit, skippedEvents } = reply as Partial<ChatResponse>
  if (rateLimit !== undefined) holdFor(settings, state, rateLimit, now)
  if (skippedEvents !== undefined) state.skippedEvents += skippedEvents
}

/** Bookkeeping when an attempt fails (`error` undefined: interrupted or died); its verdict goes to the store. */
export function settleFailure(settings: Settings, state: State, now: number, error: LlmError | undefined): void {
  state.inFlight--
  if (error === undefined) return
  state.failures++
  if (error._tag === "RateLimitError" && error.retryAfter !== undefined) {
    holdUntil(settings, state, now, now + Duration.toMillis(error.retryAfter))
  } else if (error._tag === "NoCapacityError" && error.availableAt !== undefined) {
    // Its keys all cool until then (its `Llm` left them at once): no call tries it before.
    holdUntil(settings, state, now, error.availableAt)
  }
}

/** A stream failing after its first chunk has succeeded already: only an error about the deployment's health counts. */
export function settleStreamFailure(settings: Settings, state: State, error: LlmError): void {
  if (settings.cooldownOn.has(error._tag)) state.failures++
}

/** The end of a stream's hold on its deployment (its consumer closed it). */
export function release(state: State): void {
  state.inFlight--
}

/** The next mean after a sample: `alpha` is the weight of the newest sample. */
export function ewma(previous: number | undefined, sample: number, alpha: number): number {
  return previous === undefined ? sample : previous + alpha * (sample - previous)
}
