/**
 * Bodies that are often right and now and then wrong in one place, for the
 * property tests holding a check's refusals to the place that is wrong.
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

/**
 * Whether a refusal's path (its segments: `["messages", "1", "role"]`) leads into `body`: each segment but the last
 * is there, and the last is there too unless the refusal says it is missing.
 */
export const leadsInto = (body: unknown, path: ReadonlyArray<string>, missing: boolean): boolean => {
  let at: unknown = body
  for (let i = 0; i < path.length; i++) {
    if (typeof at !== "object" || at === null || !Object.hasOwn(at, path[i]!)) return missing && i === path.length - 1
    at = (at as Record<string, unknown>)[path[i]!]
  }
  return !missing || path.length === 0
}

/** The segments of an OpenAI wire path: `messages[1].role` is `["messages", "1", "role"]`. */
export const bracketedSegments = (param: string): ReadonlyArray<string> => param.replace(/\[(\d+)\]/g, ".$1").split(".")
