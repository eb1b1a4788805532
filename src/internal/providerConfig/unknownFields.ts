/**
 * The fields of a configuration that no schema knows (`max_retires`): each reported by path with the nearest known
 * name, as a warning rather than a failure, since a file may be shared with SimpleLLMFunc or a newer version.
 */
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import type * as SchemaIssue from "effect/SchemaIssue"

/** An unknown field: where it is, and the known field its name is close to, if any. */
export interface UnknownField {
  readonly path: ReadonlyArray<PropertyKey>
  readonly suggestion: string | undefined
}

// Edit distance, for "did you mean": a file's field names are short, so the quadratic table is small.
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = row
  }
  return previous[b.length]!
}

/** The known name closest to `name`, when it is close enough to be a typo (a third of its length, at most 3 edits). */
const nearest = (name: string, known: ReadonlyArray<string>): string | undefined => {
  const bound = Math.min(3, Math.max(1, Math.floor(name.length / 3)))
  let best: string | undefined
  let bestDistance = bound + 1
  for (const candidate of known) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

const fieldNames = (ast: SchemaAST.AST): ReadonlyArray<string> =>
  ast._tag === "Objects" ? ast.propertySignatures.map((signature) => String(signature.name)) : []

const collect = (issue: SchemaIssue.Issue, path: ReadonlyArray<PropertyKey>, out: Array<UnknownField>): void => {
  switch (issue._tag) {
    case "Pointer":
      return collect(issue.issue, [...path, ...issue.path], out)
    case "Filter":
    case "Encoding":
      return collect(issue.issue, path, out)
    case "Composite":
    case "AnyOf":
      for (const inner of issue.issues) collect(inner, path, out)
      return
    case "UnexpectedKey": {
      const name = path[path.length - 1]
      out.push({ path, suggestion: typeof name === "string" ? nearest(name, fieldNames(issue.ast)) : undefined })
      return
    }
    default:
      return
  }
}

/** Every field of `json` that `schema` does not know, by path (after `prefix`): an object's own before those nested. */
export const unknownFields = (
  schema: Schema.Top,
  json: unknown,
  prefix: ReadonlyArray<PropertyKey>
): ReadonlyArray<UnknownField> => {
  const exit = Schema.decodeUnknownExit(schema as Schema.Codec<unknown, unknown>, {
    errors: "all",
    onExcessProperty: "error"
  })(json)
  if (Exit.isSuccess(exit)) return []
  const out: Array<UnknownField> = []
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Fail" && Schema.isSchemaError(reason.error)) collect(reason.error.issue, prefix, out)
  }
  return out
}
