/**
 * `Llm.make`: the service over a provider client, a key pool and a rate limiter.
 */
import * as Effect from "effect/Effect"
import * as KeyPool from "../../KeyPool.js"
import type { Options, Service } from "../../Llm.js"
import { ProviderClient } from "../../ProviderClient.js"
import * as RateLimiter from "../../RateLimiter.js"
import { chat } from "./chat.js"
import { countTokens } from "./countTokens.js"
import { embed } from "./embed.js"
import * as Env from "./env.js"
import { chatStream } from "./stream.js"

export const make = (
  options?: Options
): Effect.Effect<Service, never, ProviderClient | KeyPool.KeyPool | RateLimiter.RateLimiter> =>
  Effect.gen(function*() {
    const env = Env.make(options, yield* ProviderClient, yield* KeyPool.KeyPool, yield* RateLimiter.RateLimiter)
    const service: Service = {
      chat: (request) => chat(env, request),
      chatStream: (request) => chatStream(env, request),
      embed: (request) => embed(env, request),
      countTokens: (request) => countTokens(env, request)
    }
    return service
  })
