/**
 * `Llm.make`: the service over a provider client, a key pool and a rate limiter; what every step of a call reads
 * (`Env`, resolved once); and the check of every request against its schema before it takes a permit or a key
 * (`schemaCheck.ts`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { ChatRequest } from "../../ChatRequest.js"
import { EmbeddingRequest } from "../../Embedding.js"
import * as KeyPool from "../../KeyPool.js"
import type { Options, Service } from "../../Llm.js"
import { InvalidRequestError } from "../../LlmError.js"
import type * as Pricing from "../../Pricing.js"
import { ProviderClient } from "../../ProviderClient.js"
import type * as ProviderClientModule from "../../ProviderClient.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as RetryPolicy from "../../RetryPolicy.js"
import { bracketed, checker, type Refused } from "../schemaCheck.js"
import { chat } from "./chat.js"
import { countTokens } from "./countTokens.js"
import { embed } from "./embed.js"
import { chatStream } from "./stream.js"

export function make(
  options?: Options
): Effect.Effect<Service, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> {
  return Effect.gen(function*() {
    const env = envOf(options, yield* ProviderClient, yield* KeyPool.KeyPool, yield* RateLimiter.RateLimiter)
    const service: Service = {
      chat: (request) => chat(env, request),
      chatStream: (request) => chatStream(env, request),
      embed: (request) => embed(env, request),
      countTokens: (request) => countTokens(env, request)
    }
    return service
  })
}

export interface Env {
  readonly client: ProviderClientModule.Service
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

export function envOf(
  options: Options | undefined,
  client: ProviderClientModule.Service,
  pool: KeyPool.Service,
  limiter: RateLimiter.Service
): Env {
  const deadline = Duration.fromInputUnsafe(options?.deadline ?? "10 minutes")
  return {
    client,
    pool,
    limiter,
    policy: options?.retry ?? RetryPolicy.make(),
    rateLimitWaitMillis: Duration.toMillis(options?.maxRateLimitWait ?? "5 seconds"),
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
export function withModel<R extends Attempted>(env: Env, request: R): R {
  return request.model !== undefined || env.model === undefined ? request : { ...request, model: env.model }
}

const shown = 5

function problem(refused: Refused, provider: string, model: string): InvalidRequestError {
  const issues = refused.refusals.map((refusal) => {
    const path = bracketed(refusal.path)
    return { path, text: `${path === "" ? "the request" : path}: ${refusal.message}` }
  })
  const more = issues.length > shown ? `; and ${issues.length - shown} more` : ""
  return new InvalidRequestError({
    provider,
    model,
    ...(issues[0]!.path === "" ? {} : { param: issues[0]!.path }),
    detail: `${issues.slice(0, shown).map((issue) => issue.text).join("; ")}${more} (nothing was sent)`
  })
}

// The model an error names: the request's own, else the service's.
function modelOf(u: unknown, model: string | undefined): string {
  const own = typeof u === "object" && u !== null ? (u as { readonly model?: unknown }).model : undefined
  return typeof own === "string" ? own : model ?? ""
}

// `undefined` when a request is one `schema` takes; else the error naming what is wrong with it.
const invalidBy = (schema: typeof ChatRequest | typeof EmbeddingRequest) => {
  const check = checker(schema, { errors: "all", reportInput: true })
  return (u: unknown, provider: string, model: string | undefined): InvalidRequestError | undefined => {
    const checked = check(u)
    return Result.isFailure(checked) ? problem(checked.failure, provider, modelOf(u, model)) : undefined
  }
}

/** `undefined` when the request is a `ChatRequest`; else the error naming what is wrong with it. */
export const invalidChat = invalidBy(ChatRequest)

/** `undefined` when the request is an `EmbeddingRequest`; else the error naming what is wrong with it. */
export const invalidEmbedding = invalidBy(EmbeddingRequest)
