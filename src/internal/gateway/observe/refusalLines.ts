/**
 * The lines of the requests refused before they are authenticated (a wrong or missing key, a foreign `Host`), which
 * anyone who reaches the port can send: so many a second, through a `RateLimiter`.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as RateLimiter from "../../../RateLimiter.js"

/**
 * The lines of the requests refused before they are authenticated, at most `refusalLinesPerSecond` a second (a burst of
 * as many); the first written after some were not says how many (`suppressed`). `refused_total` counts every refusal.
 */
export interface RefusalLines {
  /** Whether a refusal's line is written now: the count of those not written since the last one, else undefined. */
  readonly take: Effect.Effect<number | undefined>
}

/** The most lines of requests refused before authentication written in a second. */
export const refusalLinesPerSecond = 10

/** The gateway's `RefusalLines`, for as long as the scope. */
export const refusalLines: Effect.Effect<RefusalLines, never, Scope.Scope> = Effect.map(
  // This process's lines: its own memory store.
  Effect.orDie(RateLimiter.make({ capacity: refusalLinesPerSecond, refillRate: refusalLinesPerSecond })).pipe(
    Effect.provide(RateLimiter.layerStoreMemory)
  ),
  (limiter) => {
    let suppressed = 0
    return {
      take: Effect.match(Effect.scoped(limiter.consume({ onExceeded: "fail" })), {
        onFailure: () => {
          suppressed++
          return undefined
        },
        onSuccess: () => {
          const before = suppressed
          suppressed = 0
          return before
        }
      })
    }
  }
)
