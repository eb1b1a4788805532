/**
 * How OpenAI words a bad request field, in both of its wire formats (Chat
 * Completions and Responses): a missing parameter, a value of the wrong type,
 * an empty array where one item at least is required; and the check of a
 * required array (`messages`, `input`) that answers with them.
 */
import type { ApiError } from "../../simulator/WireFormat.js"
import { invalid, typeName } from "./requestChecks.js"

/** `param` is required and absent (or `null`). */
export const missingParameter = (param: string, code?: string): ApiError =>
  invalid(`Missing required parameter: '${param}'.`, param, code)

/** `param` holds `value`, which is not of the `expected` type (`"an array"`, `"a string"`). */
export const invalidType = (param: string, expected: string, value: unknown): ApiError =>
  invalid(`Invalid type for '${param}': expected ${expected}, but got ${typeName(value)} instead.`, param)

/** `param` is an empty array where one item at least is required. */
const emptyArray = (param: string): ApiError =>
  invalid(
    `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
    param
  )

/**
 * `value`, the required array `param`, or OpenAI's error when it is missing, not an array (`expected` names what is),
 * or empty.
 */
export const requiredArray = (param: string, value: unknown, expected: string): Array<unknown> | ApiError => {
  if (value === undefined || value === null) return missingParameter(param)
  if (!Array.isArray(value)) return invalidType(param, expected, value)
  if (value.length === 0) return emptyArray(param)
  return value
}
