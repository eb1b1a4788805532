/**
 * What both of OpenAI's wire formats read the same way, each placing the
 * fields its own way: the function tools of `tools` (Chat Completions nests a
 * tool's name and parameters in `function`, Responses keeps them flat), and
 * the structured-output format (`response_format`, `text.format`), with
 * OpenAI's wording of what is wrong with it.
 */
import type * as Reply from "../../simulator/Reply.js"
import type { ApiError } from "../../simulator/WireFormat.js"
import { invalidType } from "./openAiErrors.js"
import { invalid, isRecord } from "./requestChecks.js"

/**
 * The tools offered: none when `tools` is absent or `null`, OpenAI's error when
 * it is not an array of objects; `functionOf` reads one item (the tool,
 * `undefined` for one the simulator never calls, or what is wrong with it).
 */
export const decodeTools = (
  tools: unknown,
  functionOf: (tool: Readonly<Record<string, unknown>>, path: string) => Reply.Tool | ApiError | undefined
): ReadonlyArray<Reply.Tool> | ApiError => {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) return invalidType("tools", "an array", tools)
  const out: Array<Reply.Tool> = []
  for (let i = 0; i < tools.length; i++) {
    const path = `tools[${i}]`
    const tool: unknown = tools[i]
    if (!isRecord(tool)) return invalid(`Invalid type for '${path}': expected an object.`, path)
    const read = functionOf(tool, path)
    if (read === undefined) continue
    if ("_tag" in read) return read
    out.push(read)
  }
  return out
}

/** What a structured-output format asks of the reply: a JSON Schema to follow, or any JSON object (JSON mode). */
export interface OutputFormat {
  readonly schema: unknown
  readonly jsonObject?: boolean
}

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
  if (!isRecord(format)) return invalid(`Invalid type for '${path}': expected an object.`, path)
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

const noSchema: OutputFormat = { schema: undefined }

const jsonObject: OutputFormat = { schema: undefined, jsonObject: true }

/**
 * What a structured-output format at `path` asks of the reply (`schema`
 * undefined for none, `text` and `json_object` included; `jsonObject` for
 * `json_object`), or OpenAI's error; `schemaOf` reads a `json_schema` format.
 */
export const decodeOutputFormat = (
  format: unknown,
  path: string,
  schemaOf: (format: Readonly<Record<string, unknown>>) => OutputFormat | ApiError
): OutputFormat | ApiError => {
  const error = outputFormatError(format, path, () => undefined)
  if (error !== undefined) return error
  if (!isRecord(format)) return noSchema
  return format.type === "json_object" ? jsonObject : format.type === "json_schema" ? schemaOf(format) : noSchema
}
