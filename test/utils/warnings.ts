/**
 * The warnings an effect logs, for tests of what the library reports without failing (a skipped
 * stream event).
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as References from "effect/References"

export interface Warning {
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** Runs `effect` with a logger that keeps its warnings; returns its outcome with them. */
export const withWarnings = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<[A, ReadonlyArray<Warning>], E, R> =>
  Effect.suspend(() => {
    const warnings: Array<Warning> = []
    const logger = Logger.make((options) => {
      if (options.logLevel !== "Warn") return
      const message = Array.isArray(options.message) ? options.message.join(" ") : String(options.message)
      warnings.push({ message, annotations: options.fiber.getRef(References.CurrentLogAnnotations) })
    })
    return Effect.map(Effect.provide(effect, Logger.layer([logger])), (a): [A, ReadonlyArray<Warning>] => [a, warnings])
  })

/** The skipped-event counts the warnings report, in order. */
export const skippedCounts = (warnings: ReadonlyArray<Warning>): ReadonlyArray<unknown> =>
  warnings.map((warning) => warning.annotations["skippedEvents"])
