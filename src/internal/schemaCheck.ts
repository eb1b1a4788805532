/**
 * The one source of the request rules: a value checked by its schema's own guard (`Schema.is`), and, only when the
 * guard refuses, by the schema's decode for what is wrong. The `Llm`'s request checks, the gateway's wire bodies and
 * `batch`'s input lines all go through here, each naming paths in its own way (`messages[2].content`, Anthropic's
 * `messages.2.content`).
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaJITCompiler from "effect/schema/SchemaJITCompiler"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import { parseJson } from "./json.js"

/** One thing wrong with a value: where (no segments for the value itself) and what, as the schema says it. */
export interface Refusal {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

/** What the schema's decode found wrong with a value its guard refused: at least one refusal. */
export class Refused {
  constructor(readonly refusals: readonly [Refusal, ...Array<Refusal>]) {}
}

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1({
  leafHook: (issue) => issue._tag === "MissingKey" ? "missing" : SchemaIssue.defaultLeafHook(issue)
})

// A message quotes the bad value: cut it short (a whole history can be one).
function shortened(text: string): string {
  return (text.length > 160 ? `${text.slice(0, 157)}...` : text)
}

function refusalsOf(issue: SchemaIssue.Issue): Refused {
  const refusals = formatIssues(issue).issues.map((found): Refusal => ({
    path: (found.path ?? []).map((segment) => typeof segment === "object" ? segment.key : segment),
    message: shortened(found.message.replace(/^Expected /, "expected "))
  }))
  return new Refused(
    refusals.length > 0 ? refusals as [Refusal, ...Array<Refusal>] : [{ path: [], message: "does not fit its schema" }]
  )
}

/**
 * `schema`'s check: the value itself (no copy) when the schema accepts it, else `Refused` with the issues its decode
 * finds under `options`.
 *
 * The guard is compiled by Effect's schema compiler (`SchemaJITCompiler`): every request goes through it, and
 * interpreted it costs several times the rest of its check (docs/performance.md). Where code cannot be generated at run
 * time the compiler leaves the interpreter in place, which accepts the same.
 */
export function checker<S extends Schema.ConstraintDecoder<unknown>>(
  schema: S,
  options: SchemaAST.ParseOptions
): (u: unknown) => Result.Result<S["Type"], Refused> {
  const typeSide = SchemaAST.toType(schema.ast)
  SchemaJITCompiler.enable(typeSide)
  if (typeSide !== schema.ast) SchemaJITCompiler.enable(schema.ast)
  const is = SchemaParser.is(schema)
  const decode = SchemaParser.decodeUnknownResult(schema, options)
  return (u) => {
    if (is(u)) return Result.succeed(u)
    const decoded = decode(u)
    return Result.isSuccess(decoded) ? Result.succeed(decoded.success) : Result.fail(refusalsOf(decoded.failure))
  }
}

/** A path as the request is written in JavaScript and OpenAI's wire: `messages[2].content`. */
export function bracketed(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>(
    (out, key) => typeof key === "number" ? `${out}[${key}]` : out === "" ? String(key) : `${out}.${String(key)}`,
    ""
  )
}

// ---------------------------------------------------------------------------
// What every dialect's request codec shares when it reads a wire body

// OpenAI's clients send `null` for an unset field as often as they leave it out.
/** An optional wire field: missing, `undefined`, `null` or an `S`. */
export function maybe<S extends Schema.Top>(schema: S) {
  return Schema.optional(Schema.NullOr(schema))
}

/**
 * A body refused before anything is sent: the wire field (none for the body as a whole) and what is wrong; a decode
 * returns it as the failure of a `Result`, never beside the value.
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

const notJson = new Problem(
  undefined,
  "We could not parse the JSON body of your request. The body must be a JSON object."
)

/**
 * A request body's text as JSON, checked by `check`, or what is wrong with it: `unparsed` for text that is not JSON,
 * `problem` of what the check refused (its path bracketed unless the dialect writes its own).
 */
export function decodeBody<A>(
  text: string,
  check: (u: unknown) => Result.Result<A, Refused>,
  problem: (refused: Refused) => Problem = problemOf,
  unparsed: Problem = notJson
): Result.Result<A, Problem> {
  const body = parseJson(text)
  return Option.isNone(body) ? Result.fail(unparsed) : Result.mapError(check(body.value), problem)
}
