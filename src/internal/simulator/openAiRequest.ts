/**
 * What both of OpenAI's wire formats word the same way, each placing the field its own way: what is wrong with the
 * structured-output format (`response_format`, `text.format`), and a `service_tier` neither takes.
 */
import type { ApiError } from "../../simulator/WireFormat.js"
import { isJsonObject } from "../wire/json.js"
import { invalid } from "./requestChecks.js"

/**
 * What is wrong with a structured-output format at `path`, as OpenAI words it: not an object, a `type` it does not
 * take, or (`schemaError`) a `json_schema` format without what it needs; undefined when nothing is.
 */
export const outputFormatError = (
  format: unknown,
  path: string,
  schemaError: (format: Readonly<Record<string, unknown>>) => ApiError | undefined
): ApiError | undefined => {
  if (format === undefined || format === null) return undefined
  if (!isJsonObject(format)) return invalid(`Invalid type for '${path}': expected an object.`, path)
  switch (format.type) {
    case "text":
    case "json_object":
      return undefined
    case "json_schema":
      return schemaError(format)
    default:
      return invalid(
        `Invalid value: ${
          JSON.stringify(format.type) ?? "nothing"
        }. Supported values are: 'text', 'json_object' and 'json_schema'.`,
        `${path}.type`,
        "invalid_value"
      )
  }
}

// The tiers OpenAI's Chat Completions and Responses references list for `service_tier`.
const serviceTiers = new Set(["auto", "default", "flex", "scale", "priority", "fast"])

/** What is wrong with a body's `service_tier`, as OpenAI words it; undefined when it is unset or one it takes. */
export const serviceTierError = (tier: string | null | undefined): ApiError | undefined =>
  tier === undefined || tier === null || serviceTiers.has(tier)
    ? undefined
    : invalid(
      `Invalid value: ${JSON.stringify(tier)}. Supported values are: 'auto', 'default', 'flex', 'scale', 'priority' ` +
        "and 'fast'.",
      "service_tier",
      "invalid_value"
    )
