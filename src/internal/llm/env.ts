/**
 * What every step of an `Llm` call reads: the services `Llm.make` was given
 * and its options, resolved once.
 */
import * as Duration from "effect/Duration"
import type * as KeyPool from "../../KeyPool.js"
import type { Options } from "../../Llm.js"
import type * as Pricing from "../../Pricing.js"
import type * as ProviderClient from "../../ProviderClient.js"
import type * as RateLimiter from "../../RateLimiter.js"
import * as RetryPolicy from "../../RetryPolicy.js"

export interface Env {
  readonly client: ProviderClient.Service
  readonly pool: KeyPool.Service
  readonly limiter: RateLimiter.Service
  readonly policy: RetryPolicy.RetryPolicy
  /** `Options.maxRateLimitWait`. */
  readonly rateLimitWaitMillis: number
  /** The call's own deadline (`Options.deadline`). */
  readonly deadline: Duration.Duration
  readonly deadlineMillis: number
  /** The model of requests that name none. */
  readonly model: string | undefined
  /** `Options.price`: when set, it prices every call. */
  readonly price: Pricing.Price | undefined
  readonly embeddingConcurrency: number
  /** Built-in prices, looked up once per model name. */
  readonly builtInPrices: Map<string, Pricing.Price | undefined>
}

export const make = (
  options: Options | undefined,
  client: ProviderClient.Service,
  pool: KeyPool.Service,
  limiter: RateLimiter.Service
): Env => {
  const deadline = Duration.fromInputUnsafe(options?.deadline ?? "10 minutes")
  return {
    client,
    pool,
    limiter,
    policy: options?.retry ?? RetryPolicy.make(),
    rateLimitWaitMillis: Duration.toMillis(Duration.fromInputUnsafe(options?.maxRateLimitWait ?? "5 seconds")),
    deadline,
    deadlineMillis: Duration.toMillis(deadline),
    model: options?.model,
    price: options?.price,
    embeddingConcurrency: Math.max(1, options?.embeddingConcurrency ?? 4),
    builtInPrices: new Map()
  }
}

/** What the attempt machinery reads of a request (a chat or an embedding batch). */
export interface Attempted {
  readonly model?: string | undefined
  readonly timeout?: Duration.Duration | undefined
}

/** The request with the service's model when it names none. */
export const withModel = <R extends Attempted>(env: Env, request: R): R =>
  request.model !== undefined || env.model === undefined ? request : { ...request, model: env.model }
