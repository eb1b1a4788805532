/**
 * What every dialect's request codec shares when it reads a body: the optional
 * wire field (missing or `null`), the `Problem` a refused body is, and setting
 * a field only when the body set it.
 */
import * as Schema from "effect/Schema"
import { bracketed, type Refused } from "../schemaCheck.js"

// OpenAI's clients send `null` for an unset field as often as they leave it out.
/** An optional wire field: missing, `undefined`, `null` or an `S`. */
export const maybe = <S extends Schema.Top>(schema: S) => Schema.optional(Schema.NullOr(schema))

/**
 * A body refused before anything is sent: the wire field (`messages[2].role`,
 * none for the body as a whole) and what is wrong. A class, so a body that
 * writes its own `_tag` is never taken for one.
 */
export class Problem {
  readonly _tag = "Problem"
  constructor(readonly param: string | undefined, readonly message: string) {}
}

/** A wire body's refusal (its first issue) as a `Problem`, its path as `written` writes it. */
export function problemOf(refused: Refused, written: (path: ReadonlyArray<PropertyKey>) => string = bracketed) {
  const { message, path } = refused.refusals[0]
  const param = written(path)
  return param === "" ? new Problem(undefined, message) : new Problem(param, `${param}: ${message}`)
}

/** Sets `out[key]` when the body sets it (not null): unset fields are not sent. */
export function set<A, K extends keyof A>(out: A, key: K, value: A[K] | null | undefined) {
  if (value !== null && value !== undefined) out[key] = value
}
