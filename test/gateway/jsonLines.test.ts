import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as JsonLines from "../../src/internal/gateway/observe/jsonLines.js"

// The lines `JsonLines.logger` and Effect's `Logger.formatJson` write for the same log call, side by side.
const bothLines = (log: Effect.Effect<void>) => {
  const ours: Array<string> = []
  const effects: Array<string> = []
  return log.pipe(
    Effect.provide(Logger.layer([
      JsonLines.logger((line) => ours.push(line)),
      Logger.map(Logger.formatJson, (line) => effects.push(line))
    ])),
    Effect.as({ ours, effects })
  )
}

const scalar = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(-0)
)
// Any value a line may hold: scalars, and what `Formatter.formatJson` changes (a redacted value, a bigint, an error,
// nested objects and arrays holding those).
const value = fc.oneof(
  scalar,
  fc.anything(),
  fc.bigInt().map((n) => n),
  fc.string().map((s) => Redacted.make(s)),
  fc.string().map((s) => new Error(s)),
  fc.string().map((s) => ({ nested: Redacted.make(s), list: [s, 1n] }))
)

describe("serve's JSON lines", () => {
  it.effect("are Logger.formatJson's, byte for byte, whatever the message and annotations", () =>
    Effect.sync(() =>
      fc.assert(
        fc.property(
          fc.oneof(fc.string(), value),
          fc.dictionary(fc.string(), fc.oneof(scalar, value)),
          fc.option(fc.string(), { nil: undefined }),
          (message, annotations, failure) => {
            const log = failure === undefined ? Effect.logInfo(message) : Effect.logWarning(message, new Error(failure))
            const { effects, ours } = Effect.runSync(bothLines(log.pipe(Effect.annotateLogs(annotations))))
            expect(ours).toEqual(effects)
            expect(ours).toHaveLength(1)
          }
        ),
        { numRuns: 500 }
      )
    ))

  it.effect("mask a redacted annotation and cut a cycle as Logger.formatJson does", () =>
    Effect.gen(function*() {
      const cyclic: Record<string, unknown> = { name: "a" }
      cyclic.self = cyclic
      const { effects, ours } = yield* bothLines(
        Effect.logInfo("request").pipe(
          Effect.annotateLogs({ key: Redacted.make("sk-secret"), cyclic, count: 10n, status: 200 })
        )
      )
      expect(ours).toEqual(effects)
      expect(ours[0]).not.toContain("sk-secret")
      expect(JSON.parse(ours[0]!).annotations.status).toBe(200)
    }))

  it.effect("write a request's line, all scalars, as JSON.stringify does", () =>
    Effect.gen(function*() {
      const annotations = {
        request_id: "r-1",
        method: "POST",
        status: 200,
        latency_ms: 3,
        cost: 0.0001,
        mid_stream: false
      }
      const { effects, ours } = yield* bothLines(Effect.logInfo("request").pipe(Effect.annotateLogs(annotations)))
      expect(ours).toEqual(effects)
      expect(JSON.parse(ours[0]!)).toMatchObject({ message: "request", level: "INFO", annotations })
    }))
})
