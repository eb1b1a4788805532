/**
 * The property of a record's lease (`persistence/lease.ts`) that every store keeping one holds on every backend, run by
 * their contracts (`contract/batchSettlements.ts`, `contract/batchRuns.ts`): any sequence of takes, renewals and
 * give-ups, by any holders at any instants, answers as a model of the lease does and leaves it as the model does.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fc from "fast-check"
import { effectProp } from "../utils/effectProp.js"

/** A record of a store whose lease the property drives, open for its whole run. */
export interface Leasing {
  /** Its lease taken, or renewed, by `holder` until `until` when it may be at `now`: whether `holder` holds it. */
  readonly take: (holder: string, now: number, until: number) => Effect.Effect<boolean, unknown>
  readonly giveUp: (holder: string) => Effect.Effect<void, unknown>
}

type Step =
  | { readonly kind: "take"; readonly holder: string; readonly now: number; readonly until: number }
  | { readonly kind: "giveUp"; readonly holder: string }

/** Any instant: often near the others, so that a lease's end and a take's instant meet, else anywhere. */
const instant = fc.oneof(fc.nat({ max: 12 }), fc.nat({ max: 2 ** 42 }))

const holder = fc.constantFrom("a", "b", "c")

const steps = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("take" as const), holder, now: instant, until: instant }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("giveUp" as const), holder }) }
  ),
  { maxLength: 24 }
)

/** The model: one holder at a time, taken when free, its own, or lapsed (its end at or before the take's instant). */
interface Model {
  holder: string | undefined
  until: number
}

function taken(model: Model, step: Extract<Step, { kind: "take" }>): boolean {
  if (model.holder !== undefined && model.holder !== step.holder && model.until > step.now) return false
  model.holder = step.holder
  model.until = step.until
  return true
}

/** The lease property over the records `record` makes (each run a new one), in `numRuns` runs. */
export const leaseProperty = (
  name: string,
  record: Effect.Effect<Leasing, unknown, Scope.Scope>,
  numRuns: number
) =>
  effectProp(
    `${name}: any takes, renewals and give-ups of its lease, by any holders at any instants, answer as its model`,
    steps,
    (run) =>
      Effect.gen(function*() {
        const leasing = yield* record
        const model: Model = { holder: undefined, until: 0 }
        for (const step of run) {
          if (step.kind === "giveUp") {
            yield* leasing.giveUp(step.holder)
            if (model.holder === step.holder) model.holder = undefined
          } else {
            expect(yield* leasing.take(step.holder, step.now, step.until)).toBe(taken(model, step))
          }
        }
        // The lease left as the model's: only its holder (if any) renews it before it lapses.
        for (const other of ["a", "b", "c"]) {
          const held = model.holder === undefined || model.holder === other
          expect(yield* leasing.take(other, model.until - 1, model.until)).toBe(held)
          if (held) model.holder = other
        }
      }).pipe(Effect.orDie),
    numRuns
  )
