/**
 * JSON Schema in Gemini's subset (the OpenAPI 3.0 subset `parameters` and
 * `responseSchema` take), for tool parameters.
 */
import { resolveLocalRef } from "../../jsonSchemaRef.js"
import { isRecord, type JsonRecord } from "../wire.js"

// Gemini's `parameters` is an OpenAPI 3.0 subset: other JSON Schema keywords are rejected.
const schemaKeys = new Set([
  "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
  "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "propertyOrdering", "default",
  "minimum", "maximum"
])

const isNullSchema = (schema: unknown): boolean => isRecord(schema) && schema["type"] === "null"

/**
 * A JSON Schema in Gemini's subset: local `$ref`s inlined (with the keywords
 * beside them), `const` as a one-value `enum`, `oneOf` as `anyOf`, `null`
 * types and branches as `nullable`, a tuple's positions (`prefixItems`, or
 * draft 7's `items` array) as `items` `anyOf` them, exclusive bounds as
 * inclusive ones, and every other keyword (`additionalProperties`, `$schema`,
 * `$defs`, `allOf`, `not`, ...) dropped.
 */
export const geminiSchema = (schema: unknown, root: unknown = schema, depth = 0): unknown => {
  if (!isRecord(schema) || depth > 32) return schema
  const ref = schema["$ref"]
  if (typeof ref === "string") {
    // Keywords beside the `$ref` (`minimum` on a `$ref` to an integer) refine the target.
    const { $ref: _ref, ...siblings } = schema
    const target = resolveLocalRef(root, ref)
    return geminiSchema(isRecord(target) ? { ...target, ...siblings } : siblings, root, depth + 1)
  }
  const out: JsonRecord = {}
  for (const key of Object.keys(schema)) {
    const value = schema[key]
    switch (key) {
      case "properties":
        if (isRecord(value)) {
          const properties: JsonRecord = {}
          for (const name of Object.keys(value)) properties[name] = geminiSchema(value[name], root, depth + 1)
          out["properties"] = properties
        }
        break
      case "items":
        if (Array.isArray(value)) {
          // A tuple (draft 7 `items` array): Gemini has none, so any of the positions' schemas, at most that many.
          const positions = value.map((item) => geminiSchema(item, root, depth + 1))
          out["items"] = positions.length === 1 ? positions[0] : { anyOf: positions }
          if (schema["additionalItems"] === false) out["maxItems"] = positions.length
        } else if (!Array.isArray(schema["prefixItems"])) {
          out["items"] = geminiSchema(value, root, depth + 1)
        }
        break
      case "prefixItems":
        if (Array.isArray(value)) {
          // A tuple (draft 2020-12, as Effect Schema writes it): any of the positions' schemas and the rest's, if any.
          const rest = schema["items"]
          const positions = (isRecord(rest) ? [...value, rest] : value).map((item) => geminiSchema(item, root, depth + 1))
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
          if (branches.length === 1) Object.assign(out, geminiSchema(branches[0], root, depth + 1))
          else if (branches.length > 1) out["anyOf"] = branches.map((branch) => geminiSchema(branch, root, depth + 1))
        }
        break
      default:
        if (schemaKeys.has(key)) out[key] = value
    }
  }
  if (out["enum"] !== undefined && out["type"] === undefined) out["type"] = "string"
  return out
}
