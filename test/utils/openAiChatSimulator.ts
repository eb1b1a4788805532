/**
 * e2e helpers: a simulator on loopback and `OpenAiChat` clients pointed at
 * it over real HTTP (`UndiciHttpClient.layer()`).
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import type * as Scope from "effect/Scope"
import type { OptionsError } from "../../src/OptionsError.js"
import type * as ProviderClient from "../../src/ProviderClient.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "./eventually.js"

export interface SimulatorEnv {
  readonly simulator: Simulator.Simulator
  /** A client of the simulator; extra headers select faults (`x-simulator-fault`). */
  readonly client: (
    options?: Partial<OpenAiChat.Options>
  ) => Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>
}

/** Runs `body` with a fresh simulator and an undici HTTP client, both closed afterwards. */
export const withSimulator = <A, E>(
  options: Simulator.Options,
  body: (env: SimulatorEnv) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
): Effect.Effect<A, E | Simulator.SimulatorStartError | OptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make(options)
    return yield* body({
      simulator,
      client: (clientOptions) =>
        OpenAiChat.make({ baseUrl: `${simulator.url}/v1`, model: "gpt-4o-mini", ...clientOptions })
    })
  }).pipe(Effect.provide(UndiciHttpClient.layer()))

/** Headers selecting a simulator fault. */
export const fault = (value: string): Partial<OpenAiChat.Options> => ({ headers: { "x-simulator-fault": value } })

/**
 * Waits (polling) until the simulator's stats satisfy `done`, or fails after `within`: by default 30 s, which a
 * loaded machine never needs to see a connection close, and a test waits out only when it fails.
 */
export const awaitStats = (
  simulator: Simulator.Simulator,
  done: (stats: Simulator.Stats) => boolean,
  within: Duration.Input = "30 seconds"
): Effect.Effect<Simulator.Stats> =>
  eventually("the simulator's stats to match", simulator.stats, done, { every: "20 millis", within })
