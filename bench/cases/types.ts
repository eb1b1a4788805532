/**
 * One benchmark case: the same work done by this library ("ours") and by raw
 * undici ("baseline"), both against the simulator at `url`; or, for a case
 * that measures one layer of ours over another (`router-overhead`), by two
 * Effects built alike; and, for a case that has one, by a third side, the
 * floor: the least any design of ours could cost (`redis-limiter-overhead`).
 */
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Scope from "effect/Scope"
import type { Dispatcher } from "undici"
import type { OptionsError } from "../../src/OptionsError.js"

/** A side's call with a reader of the CPU time, in microseconds so far, of a `redis-server` only that side loads. */
export interface RedisSide {
  readonly call: Effect.Effect<unknown, unknown>
  readonly redisCpuMicros: Effect.Effect<number>
}

/** Builds, once, the Effect that makes one call, failing when the call does; or that with its Redis' CPU. */
export type Side = (
  url: string
) => Effect.Effect<Effect.Effect<unknown, unknown> | RedisSide, OptionsError, HttpClient.HttpClient | Scope.Scope>

export interface BenchCase {
  /** The name in the results list (`openai-chat-stream`). */
  readonly name: string
  readonly ours: Side
  /**
   * Builds, once, the function that makes one call with raw undici; it must
   * reject when the call fails. Or `{ effect }`: a baseline built and run like
   * `ours`.
   */
  readonly baseline:
    | ((url: string, dispatcher: Dispatcher) => () => Promise<unknown>)
    | { readonly effect: Side }
  /** A third side, built and run like `ours`, measured in the same rounds: the floor ours is held to. */
  readonly floor?: Side
  /** Why the case cannot run on this machine (a server it needs is not installed); it is then skipped, not failed. */
  readonly unavailable?: () => string | undefined
}
