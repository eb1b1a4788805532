/**
 * The field schemas of `provider.json`'s entries, with the messages a bad
 * value reports.
 */
import * as Schema from "effect/Schema"

// Exact: an optional field holds its type or is absent, so a bad value reports
// the field's own message rather than "expected undefined".
export const optional: typeof Schema.optionalKey = Schema.optionalKey

export const NonEmpty = Schema.String.check(Schema.isMinLength(1, { message: "expected a non-empty string" }))
export const Positive = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isFinite(n) && n > 0, { message: "expected a positive number" })
)
export const PositiveInt = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isInteger(n) && n > 0, { message: "expected a positive whole number" })
)
export const NonNegativeInt = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isInteger(n) && n >= 0, { message: "expected a whole number, 0 or more" })
)

// A string filter rather than a union of literals: one message listing every choice, not one issue per choice.
export const oneOf = <const A extends string>(choices: ReadonlyArray<A>) =>
  Schema.String.pipe(
    Schema.refine((text: string): text is A => (choices as ReadonlyArray<string>).includes(text), {
      message: `expected one of ${choices.join(", ")}`
    })
  )
