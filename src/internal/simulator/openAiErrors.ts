/**
 * How OpenAI words a bad request field, in both of its wire formats (Chat Completions and Responses): a missing
 * parameter, a value of the wrong type, an empty array where one item at least is required. A field a codec's schema
 * refused is worded from the value found at its path.
 */
import type { ApiError } from "../../simulator/WireFormat.js"
import { invalid, typeName } from "./requestChecks.js"

/** `param` is required and absent (or `null`). */
export const missingParameter = (param: string, code?: string): ApiError =>
  invalid(`Missing required parameter: '${param}'.`, param, code)

/** `param` holds `value`, which is not of the `expected` type (`"an array"`, `"a string"`). */
export const invalidType = (param: string, expected: string, value: unknown): ApiError =>
  invalid(`Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`, param)

/** What is wrong with a body's `model`, absent or not a string. */
export const modelError = (model: unknown): ApiError =>
  model === undefined || model === null
    ? invalid("you must provide a model parameter", "model")
    : invalidType("model", "a string", model)

/** `param` is an empty array where one item at least is required. */
export const emptyArray = (param: string): ApiError =>
  invalid(
    `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
    param
  )

const articles: Readonly<Record<string, string>> = {
  string: "a string",
  number: "a number",
  boolean: "a boolean",
  array: "an array",
  object: "an object"
}

/**
 * A field at `param` holding `value` that a codec's schema refused with `message` (`expected string`): missing, of the
 * wrong type, or not one of the values the field takes.
 */
export const refusedField = (param: string, value: unknown, message: string): ApiError => {
  if (value === undefined) return missingParameter(param)
  const expected = /^expected (\w+)/.exec(message)?.[1]
  const article = expected === undefined ? undefined : articles[expected]
  return article === undefined
    ? invalid(`Invalid value for '${param}': ${message}.`, param, "invalid_value")
    : invalidType(param, article, value)
}
