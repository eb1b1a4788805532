/**
 * One benchmark case: the same work done by this library ("ours") and by raw
 * undici ("baseline"), both against the simulator at `url`; or, for a case
 * that measures one layer of ours over another (`router-overhead`), by two
 * Effects built alike.
 */
import type * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Scope from "effect/Scope"
import type { Dispatcher } from "undici"
import type { OptionsError } from "../../src/OptionsError.js"

export interface BenchCase {
  /** The name in the results list (`openai-chat-stream`). */
  readonly name: string
  /** Builds, once, the Effect that makes one call; it must fail when the call does. */
  readonly ours: (url: string) => Effect.Effect<Effect.Effect<unknown, unknown>, OptionsError, HttpClient.HttpClient | Scope.Scope>
  /**
   * Builds, once, the function that makes one call with raw undici; it must
   * reject when the call fails. Or `{ effect }`: a baseline built and run like
   * `ours`.
   */
  readonly baseline:
    | ((url: string, dispatcher: Dispatcher) => () => Promise<unknown>)
    | { readonly effect: BenchCase["ours"] }
  /** Why the case cannot run on this machine (a server it needs is not installed); it is then skipped, not failed. */
  readonly unavailable?: () => string | undefined
}
