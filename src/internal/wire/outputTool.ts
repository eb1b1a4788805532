/**
 * Structured output as a forced tool, for the wires whose models can be made to call a named tool but take no JSON
 * Schema response format every model honours (Anthropic's Messages API, Bedrock's Converse). The model's input to the
 * tool is the reply's text, not a tool call, and its turn ended with the answer (`stop`). The forced tool would shut
 * out the request's own tools, so a request with both is refused. `json_object` has no equivalent.
 */
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { FinishReason } from "../../ChatResponse.js"
import type { ToolDefinition } from "../../Message.js"
import { RequestError } from "../codecError.js"

/** The tool's description when the format gives none: what the model is to do with it. */
const defaultDescription = "Give the answer as this tool's input, which follows the required schema."

/**
 * The name of the forced tool `request`'s response format is sent as (the format's `name`), which marks the reply's
 * text; undefined when the request asks for no schema.
 */
export function outputToolName(request: ChatRequest): string | undefined {
  const format = request.responseFormat
  return format === undefined || format.type !== "json_schema" ? undefined : format.name
}

/**
 * The forced tool `request`'s `json_schema` response format is sent to `provider` as; undefined when the request asks
 * for no schema. Throws `RequestError` at `responseFormat` when the request has tools of its own.
 */
export function outputTool(request: ChatRequest, provider: string): ToolDefinition | undefined {
  const format = request.responseFormat
  if (format === undefined || format.type !== "json_schema") return undefined
  if (request.tools !== undefined && request.tools.length > 0) {
    throw new RequestError(
      `a json_schema response format is sent to ${provider} as a forced tool, which would shut out the request's ` +
        "tools; ask for the structured answer in a call without tools",
      "responseFormat"
    )
  }
  return { name: format.name, description: format.description ?? defaultDescription, parameters: format.schema }
}

/**
 * The finish reason of a reply to a request whose forced tool is `outputTool` (`outputToolName`'s; undefined for
 * none): the forced tool's call is the answer, so `tool_calls` is `stop`.
 */
export function outputFinishReason(reason: FinishReason, outputTool: string | undefined): FinishReason {
  return outputTool !== undefined && reason === "tool_calls" ? "stop" : reason
}
