/**
 * What both of OpenAI's wire formats word the same way, each placing the field its own way: a value not among those a
 * field takes, what is wrong with the structured-output format (`response_format`, `text.format`), a `service_tier`
 * neither takes, and `stream_options` without `stream`.
 */
import type { ApiError } from "../../simulator/WireFormat.js"
import { isJsonObject } from "../json.js"
import { fixedSampling } from "../wire/openAiChat/codec.js"
import { invalid } from "./requestChecks.js"

/** `value` at `param`, which takes only `values` (their list as OpenAI writes it). */
export const supported = (value: unknown, values: string, param: string): ApiError =>
  invalid(
    `Invalid value: ${JSON.stringify(value) ?? "nothing"}. Supported values are: ${values}.`,
    param,
    "invalid_value"
  )

/** `stream_options` sent without `stream`. */
export const streamOptionsError = invalid(
  "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
  "stream_options"
)

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
      return supported(format.type, "'text', 'json_object' and 'json_schema'", `${path}.type`)
  }
}

// The tiers OpenAI's Chat Completions and Responses references list for `service_tier`.
const serviceTiers = new Set(["auto", "default", "flex", "scale", "priority", "fast"])

/** What is wrong with a body's `service_tier`, as OpenAI words it; undefined when it is unset or one it takes. */
export const serviceTierError = (tier: string | null | undefined): ApiError | undefined =>
  tier === undefined || tier === null || serviceTiers.has(tier)
    ? undefined
    : supported(tier, "'auto', 'default', 'flex', 'scale', 'priority' and 'fast'", "service_tier")

/**
 * Whether a GPT-5.1 or later model takes sampling fields at the reasoning effort asked: at `none`, its default
 * (OpenAI's GPT-5.1 guide), it does not reason and samples as any model.
 */
const samplesUnreasoned = (model: string, effort: string | null | undefined): boolean =>
  /^gpt-5\.[1-9]/.test(model.slice(model.lastIndexOf("/") + 1)) &&
  (effort === undefined || effort === null || effort === "none")

/**
 * What a reasoning model (`fixedSampling`) refuses, as OpenAI answers it: `stop` (Chat Completions' only), and a
 * `temperature` or `top_p` but the default, 1; but a GPT-5.1 or later model that does not reason takes them.
 */
export const fixedSamplingError = (
  model: string,
  effort: string | null | undefined,
  fields: {
    readonly stop?: string | ReadonlyArray<string> | null | undefined
    readonly temperature?: number | null | undefined
    readonly top_p?: number | null | undefined
  }
): ApiError | undefined => {
  if (!fixedSampling(model) || samplesUnreasoned(model, effort)) return undefined
  if (fields.stop !== undefined && fields.stop !== null) {
    return invalid("Unsupported parameter: 'stop' is not supported with this model.", "stop", "unsupported_parameter")
  }
  for (const param of ["temperature", "top_p"] as const) {
    const value = fields[param]
    if (value !== undefined && value !== null && value !== 1) {
      return invalid(
        `Unsupported value: '${param}' does not support ${value} with this model. Only the default (1) value is ` +
          "supported.",
        param,
        "unsupported_value"
      )
    }
  }
  return undefined
}
