/**
 * JSON Schema in Gemini's subset (the OpenAPI 3.0 subset `parameters` and `responseSchema` take), for tool parameters.
 */
import { RequestError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { makeSchemaWalk, SchemaLimitError, type SchemaWalk } from "../../jsonSchemaRef.js"

/**
 * The keywords of Gemini's `Schema` (an OpenAPI 3.0 subset, the Gemini API reference): `responseSchema` and a
 * tool's `parameters` take no others.
 */
export const schemaKeywords: ReadonlySet<string> = new Set([
  "type",
  "format",
  "title",
  "description",
  "nullable",
  "enum",
  "maxItems",
  "minItems",
  "properties",
  "required",
  "minProperties",
  "maxProperties",
  "minLength",
  "maxLength",
  "pattern",
  "example",
  "anyOf",
  "propertyOrdering",
  "default",
  "items",
  "minimum",
  "maximum"
])

const isNullSchema = (schema: unknown): boolean => isJsonObject(schema) && schema["type"] === "null"

/**
 * A JSON Schema in Gemini's subset: what the subset can say rewritten into it (local `$ref`s inlined, `oneOf` as
 * `anyOf`, `null` as `nullable`...), every other keyword dropped. Throws `RequestError` at `param` for a schema that
 * refers to itself (the subset has no `$ref`, so recursion has no form in it) or that expands past `SchemaWalk`'s
 * bounds.
 */
export const geminiSchema = (schema: unknown, param: string): unknown => {
  try {
    return converted(schema, makeSchemaWalk(schema), 0)
  } catch (error) {
    if (error instanceof SchemaLimitError) throw new RequestError(`${param} ${error.reason}`, param)
    throw error
  }
}

const converted = (schema: unknown, walk: SchemaWalk, depth: number): unknown => {
  if (!isJsonObject(schema)) return schema
  walk.visit(depth)
  if (typeof schema["$ref"] === "string") {
    return walk.follow(schema, ({ recursive, ref, schema: target }) => {
      if (recursive) {
        throw new SchemaLimitError(
          `refers to itself through \`${ref}\`; Gemini's schema subset has no \`$ref\`, ` +
            "so it cannot state a recursive schema"
        )
      }
      return converted(target, walk, depth + 1)
    })
  }
  const out: JsonObject = {}
  for (const key of Object.keys(schema)) {
    const value = schema[key]
    switch (key) {
      case "properties":
        if (isJsonObject(value)) {
          const properties: JsonObject = {}
          for (const name of Object.keys(value)) properties[name] = converted(value[name], walk, depth + 1)
          out["properties"] = properties
        }
        break
      case "items":
        if (Array.isArray(value)) {
          // A tuple (draft 7 `items` array): Gemini has none, so any of the positions' schemas, at most that many.
          const positions = value.map((item) => converted(item, walk, depth + 1))
          out["items"] = positions.length === 1 ? positions[0] : { anyOf: positions }
          if (schema["additionalItems"] === false) out["maxItems"] = positions.length
        } else if (!Array.isArray(schema["prefixItems"])) {
          out["items"] = converted(value, walk, depth + 1)
        }
        break
      case "prefixItems":
        if (Array.isArray(value)) {
          // A tuple (draft 2020-12, as Effect Schema writes it): any of the positions' schemas and the rest's, if any.
          const rest = schema["items"]
          const positions = (isJsonObject(rest) ? [...value, rest] : value).map((item) =>
            converted(item, walk, depth + 1)
          )
          out["items"] = positions.length === 1 ? positions[0] : { anyOf: positions }
          if (rest === false && typeof schema["maxItems"] !== "number") out["maxItems"] = value.length
        }
        break
      case "type":
        if (Array.isArray(value)) {
          const types = value.filter((t) => t !== "null")
          if (types.length < value.length) out["nullable"] = true
          if (types.length > 0) out["type"] = types[0]
        } else if (value !== "null") {
          out["type"] = value
        } else {
          out["nullable"] = true
        }
        break
      case "const":
        if (typeof value === "string") out["enum"] = [value]
        break
      case "exclusiveMinimum":
      case "exclusiveMaximum":
        // Gemini has inclusive bounds only: the nearest it can say (an explicit inclusive bound wins).
        if (typeof value === "number") {
          const bound = key === "exclusiveMinimum" ? "minimum" : "maximum"
          if (typeof schema[bound] !== "number") out[bound] = value
        }
        break
      case "enum":
        // Gemini's enums are strings.
        if (Array.isArray(value) && value.every((v) => typeof v === "string")) out["enum"] = value
        break
      case "anyOf":
      case "oneOf":
        if (Array.isArray(value)) {
          const branches = value.filter((branch) => !isNullSchema(branch))
          if (branches.length < value.length) out["nullable"] = true
          if (branches.length === 1) Object.assign(out, converted(branches[0], walk, depth + 1))
          else if (branches.length > 1) out["anyOf"] = branches.map((branch) => converted(branch, walk, depth + 1))
        }
        break
      default:
        if (schemaKeywords.has(key)) out[key] = value
    }
  }
  if (out["enum"] !== undefined && out["type"] === undefined) out["type"] = "string"
  return out
}

const droppedKeywords: ReadonlySet<string> = new Set(["nullable", "propertyOrdering", "example"])

/**
 * A schema in Gemini's subset (as `@google/genai` writes it: upper-case `type` names, `nullable`) as JSON Schema: the
 * inverse of `geminiSchema` on what the subset can say.
 */
export const jsonSchemaOf = (schema: unknown): unknown => {
  if (!isJsonObject(schema)) return schema
  const out: JsonObject = {}
  for (const key of Object.keys(schema)) {
    const value = schema[key]
    if (droppedKeywords.has(key)) continue
    if (key === "type" && typeof value === "string") out["type"] = value.toLowerCase()
    else if (key === "items") out["items"] = jsonSchemaOf(value)
    else if (key === "anyOf" && Array.isArray(value)) out["anyOf"] = value.map(jsonSchemaOf)
    else if (key === "properties" && isJsonObject(value)) {
      const properties: JsonObject = {}
      for (const name of Object.keys(value)) properties[name] = jsonSchemaOf(value[name])
      out["properties"] = properties
    } else out[key] = value
  }
  if (schema["nullable"] === true && typeof out["type"] === "string") out["type"] = [out["type"], "null"]
  return out
}
