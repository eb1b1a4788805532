/**
 * Values for a JSON Schema, for the simulator's replies: one that conforms (structured output, tool arguments) and one
 * that does not (the `nonconforming` output knob). Schemas are JSON Schema (draft 7 or 2020-12, as Effect's
 * `JSONSchema.make` writes them) or Gemini's upper-case subset.
 */
import type { OutputMode } from "../../simulator/Reply.js"
import { isJsonObject } from "../json.js"
import { makeSchemaWalk, type SchemaWalk } from "../jsonSchemaRef.js"

/** The type a schema names: JSON Schema's lower case or Gemini's upper case; the first non-null of a list. */
const typeOf = (schema: Readonly<Record<string, unknown>>): string | undefined => {
  const type = Array.isArray(schema.type)
    ? schema.type.find((t) => t !== "null" && t !== "NULL") ?? "null"
    : schema.type
  return typeof type === "string" ? type.toLowerCase() : undefined
}

const num = (
  value: unknown
): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined)

/** 1 when the schema's bounds allow it, else the nearest allowed value. */
const numberIn = (schema: Readonly<Record<string, unknown>>, integer: boolean): number => {
  let low = num(schema.minimum) ?? -Infinity
  let high = num(schema.maximum) ?? Infinity
  const exclusiveLow = num(schema.exclusiveMinimum)
  const exclusiveHigh = num(schema.exclusiveMaximum)
  if (exclusiveLow !== undefined) low = Math.max(low, integer ? Math.floor(exclusiveLow) + 1 : exclusiveLow + 0.5)
  if (exclusiveHigh !== undefined) high = Math.min(high, integer ? Math.ceil(exclusiveHigh) - 1 : exclusiveHigh - 0.5)
  if (integer) {
    low = Math.ceil(low)
    high = Math.floor(high)
  }
  return 1 < low ? low : 1 > high ? high : 1
}

/** `"sim"`, padded or cut to the schema's length bounds. */
const stringIn = (schema: Readonly<Record<string, unknown>>): string => {
  const min = num(schema.minLength) ?? 0
  const max = num(schema.maxLength) ?? Infinity
  const text = min > 3 ? "sim".padEnd(Math.min(min, 1024), "x") : "sim"
  return text.length > max ? text.slice(0, Math.max(0, max)) : text
}

/** The first branch of a union that is not `null` (the `null` one, when `orNull` and there is one), or the first. */
const branchOf = (schema: Readonly<Record<string, unknown>>, orNull = false): unknown => {
  for (const key of ["anyOf", "oneOf", "allOf"] as const) {
    const options = schema[key]
    if (Array.isArray(options) && options.length > 0) {
      const isNull = (option: unknown) => isJsonObject(option) && typeOf(option) === "null"
      return (orNull ? options.find(isNull) : undefined) ?? options.find((option) => !isNull(option)) ?? options[0]
    }
  }
  return undefined
}

/**
 * One value's generation: the walk that bounds it, whether it writes the properties an object does not require
 * (`optional`), and whether it is inside a recursion, where it writes the smallest value the schema allows so that the
 * recursion ends.
 */
interface Generation {
  readonly walk: SchemaWalk
  readonly optional: boolean
  readonly minimal: boolean
}

/** A `$ref` node's value by `f` on its target; a recursive one, and all below it, minimal. */
const throughRef = (
  schema: Readonly<Record<string, unknown>>,
  generation: Generation,
  f: (target: Readonly<Record<string, unknown>>, generation: Generation, recursive: boolean) => unknown
): unknown =>
  generation.walk.follow(
    schema,
    ({ recursive, schema: target }) =>
      f(target, recursive && !generation.minimal ? { ...generation, minimal: true } : generation, recursive)
  )

const conforming = (schema: unknown, generation: Generation, depth: number): unknown => {
  if (!isJsonObject(schema)) return "sim"
  generation.walk.visit(depth)
  if (typeof schema.$ref === "string") {
    return throughRef(schema, generation, (target, inner) => conforming(target, inner, depth + 1))
  }
  if ("const" in schema) return schema.const
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0]
  const { minimal } = generation
  const branch = branchOf(schema, minimal)
  if (branch !== undefined) return conforming(branch, generation, depth + 1)
  const type = typeOf(schema)
  switch (type) {
    case "string":
      return stringIn(schema)
    case "number":
    case "integer":
      return numberIn(schema, type === "integer")
    case "boolean":
      return true
    case "null":
      return null
    case "array": {
      const min = num(schema.minItems) ?? 0
      const length = Math.min(Math.max(minimal ? 0 : 1, min), num(schema.maxItems) ?? Infinity, 8)
      // A tuple: `prefixItems` (2020-12) or an `items` array (draft 7), each position its own schema.
      const tuple = Array.isArray(schema.prefixItems)
        ? schema.prefixItems
        : Array.isArray(schema.items)
        ? schema.items
        : undefined
      if (tuple === undefined) return Array.from({ length }, () => conforming(schema.items, generation, depth + 1))
      const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items
      const head = tuple.map((item) => conforming(item, generation, depth + 1))
      const more = isJsonObject(rest) ? Math.max(0, Math.min(min, 8) - head.length) : 0
      return [...head, ...Array.from({ length: more }, () => conforming(rest, generation, depth + 1))]
    }
    case "object":
    default: {
      if (type !== "object" && !isJsonObject(schema.properties)) return "sim"
      const out: Record<string, unknown> = {}
      if (isJsonObject(schema.properties)) {
        const required = Array.isArray(schema.required) ? schema.required : []
        for (const [name, property] of Object.entries(schema.properties)) {
          const wanted = generation.optional && !minimal
          if (wanted || required.includes(name)) out[name] = conforming(property, generation, depth + 1)
        }
      }
      return out
    }
  }
}

/**
 * A value that satisfies a JSON Schema: `const`, else the first `enum` value, else the first non-null branch; strings
 * `"sim"`, numbers `1`, booleans `true`, arrays of `max(1, minItems)` items, each within the schema's bounds. A
 * recursive `$ref`'s value is the smallest the schema allows (required properties only, `minItems` items, a `null`
 * branch where there is one), so that the recursion ends. With `optional` false an object has its required properties
 * only, at every depth. Throws `SchemaLimitError` when the value needs more than the bounds of a `SchemaWalk`.
 */
export const synthesize = (schema: unknown, optional = true): unknown =>
  conforming(schema, { walk: makeSchemaWalk(schema), optional, minimal: false }, 0)

/** A value of another type than the schema's. */
const wrongType = (schema: Readonly<Record<string, unknown>>): unknown => {
  switch (typeOf(schema)) {
    case "string":
      return 42
    case "array":
    case "object":
      return "not what the schema asks for"
    default:
      return ["not what the schema asks for"]
  }
}

const violating = (schema: unknown, generation: Generation, depth: number): unknown => {
  if (!isJsonObject(schema)) return { unexpected: true }
  generation.walk.visit(depth)
  if (typeof schema.$ref === "string") {
    // Recursion along first properties: a value of the wrong type ends it.
    return throughRef(
      schema,
      generation,
      (target, inner, recursive) => recursive ? wrongType(target) : violating(target, inner, depth + 1)
    )
  }
  if ("const" in schema || Array.isArray(schema.enum)) return "not-one-of-the-allowed-values"
  const branch = branchOf(schema)
  // Fits no branch of a union of non-objects; breaks the first branch of a union of objects.
  if (branch !== undefined) {
    return isJsonObject(branch) && typeOf(branch) === "object"
      ? violating(branch, generation, depth + 1)
      : { unexpected: true }
  }
  if (typeOf(schema) === "object" && isJsonObject(schema.properties)) {
    const names = Object.keys(schema.properties)
    if (names.length > 0) {
      const value = conforming(schema, generation, depth) as Record<string, unknown>
      value[names[0]!] = violating(schema.properties[names[0]!], generation, depth + 1)
      return value
    }
  }
  return wrongType(schema)
}

/**
 * A value that does not satisfy a JSON Schema: an object of the schema's shape whose first property is wrong,
 * recursively, down to a value of the wrong type (at a recursive `$ref` at the latest) or outside an `enum`; bounded as
 * {@link synthesize} is.
 */
export const violate = (schema: unknown, optional = true): unknown =>
  violating(schema, { walk: makeSchemaWalk(schema), optional, minimal: false }, 0)

/**
 * Tool-call arguments for a tool's schema, as a model fills them: the required properties, at every depth, and none of
 * the optional ones; {@link synthesize}'s value, or {@link violate}'s for a nonconforming model; always an object.
 */
export const synthesizeArguments = (schema: unknown, output: OutputMode = "conforming"): unknown => {
  const parameters = schema ?? { type: "object" }
  const value = output === "nonconforming" ? violate(parameters, false) : synthesize(parameters, false)
  return isJsonObject(value) ? value : {}
}
