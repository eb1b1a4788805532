/**
 * Bodies that are often right and now and then wrong in one place, for the
 * property tests holding a compiled check to the schema it stands for.
 */
import * as fc from "fast-check"

/** Values of every JSON kind, most of them the wrong one for any given field. */
export const junk = fc.constantFrom<unknown>(null, 0, 1.5, "", "x", true, [], [1], {}, { type: "text" })

/**
 * Each field present or not, drawn from `right` or now and then from junk, so a body is often wrong in one place only.
 */
export const loose = (right: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record(
    Object.fromEntries(
      Object.entries(right).map((
        [key, value]
      ) => [key, fc.oneof({ arbitrary: value, weight: 30 }, { arbitrary: junk, weight: 1 })])
    ),
    { requiredKeys: [] }
  )
