/**
 * The Gemini request (`:generateContent`, `:streamGenerateContent`), checked by
 * hand with the API's messages, with the function-call signature rule of
 * Gemini 3, and reduced to a `Reply.Prompt`; the model and method come from
 * the URL (`params`).
 */
import type { Extra } from "../../../simulator/Gemini.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { schemaKeywords } from "../../providers/gemini/schema.js"
import { decoded } from "../decoded.js"
import { invalid, isRecord, typeName } from "../requestChecks.js"

/** The text that, in the last user message, makes the simulator block the prompt. */
export const blockedPromptMarker = "[simulator:block]"

/**
 * Gemini reports bad fields as `Invalid JSON payload received. Unknown name…` or plain sentences; these mimic the
 * latter.
 */
export const badValue = (path: string, expected: string, got: unknown): ApiError =>
  invalid(`Invalid value at '${path}': expected ${expected}, got ${typeName(got)}.`, path)

const signatureMissing = (name: string, position: number): ApiError =>
  invalid(
    `Function call is missing a thought_signature in functionCall parts. This is required for tools to work ` +
      `correctly, and missing thought_signature may lead to degraded model performance. Additional data, ` +
      `function call \`default_api:${name}\` , position ${position}. Please refer to ` +
      `https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
    "contents"
  )

const decodeTools = (tools: unknown): ReadonlyArray<Reply.Tool> | ApiError => {
  if (tools === undefined || tools === null) return []
  if (!Array.isArray(tools)) return badValue("tools", "a list", tools)
  const out: Array<Reply.Tool> = []
  for (let i = 0; i < tools.length; i++) {
    const tool: unknown = tools[i]
    if (!isRecord(tool)) return badValue(`tools[${i}]`, "an object", tool)
    const declarations = tool.functionDeclarations
    // googleSearch, codeExecution, urlContext... are accepted and ignored.
    if (declarations === undefined) continue
    if (!Array.isArray(declarations)) return badValue(`tools[${i}].function_declarations`, "a list", declarations)
    for (let j = 0; j < declarations.length; j++) {
      const declaration: unknown = declarations[j]
      const path = `tools[${i}].function_declarations[${j}]`
      if (!isRecord(declaration) || typeof declaration.name !== "string" || declaration.name === "") {
        return invalid(`* GenerateContentRequest.${path}.name: Name cannot be empty.`, `${path}.name`)
      }
      out.push({ name: declaration.name, parameters: declaration.parameters ?? declaration.parametersJsonSchema })
    }
  }
  return out
}

const decodeToolChoice = (config: unknown, tools: ReadonlyArray<Reply.Tool>): Reply.ToolChoice | ApiError => {
  if (config === undefined || config === null) return { _tag: "Auto" }
  if (!isRecord(config)) return badValue("tool_config", "an object", config)
  const calling = config.functionCallingConfig
  if (calling === undefined || calling === null) return { _tag: "Auto" }
  if (!isRecord(calling)) return badValue("tool_config.function_calling_config", "an object", calling)
  const allowed = calling.allowedFunctionNames
  if (allowed !== undefined && !(Array.isArray(allowed) && allowed.every((name) => typeof name === "string"))) {
    return badValue("tool_config.function_calling_config.allowed_function_names", "a list of strings", allowed)
  }
  const names = (allowed ?? []) as ReadonlyArray<string>
  switch (calling.mode ?? "AUTO") {
    case "AUTO":
    case "MODE_UNSPECIFIED":
      return { _tag: "Auto" }
    case "NONE":
      return { _tag: "None" }
    case "ANY":
    case "VALIDATED": {
      for (const name of names) {
        if (!tools.some((tool) => tool.name === name)) {
          return invalid(
            `* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: ` +
              `function '${name}' is not declared in tools.`,
            "tool_config.function_calling_config.allowed_function_names"
          )
        }
      }
      return names.length === 1 ? { _tag: "Named", name: names[0]! } : { _tag: "Required" }
    }
    default:
      return invalid(
        "Invalid value at 'tool_config.function_calling_config.mode' " +
          `(type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), ${
            JSON.stringify(calling.mode)
          }`,
        "tool_config.function_calling_config.mode"
      )
  }
}

/** The text a function response stands for: its `result` or `output` string, or its JSON. */
const responseText = (response: unknown): string => {
  if (isRecord(response)) {
    const inner = response.result ?? response.output
    if (typeof inner === "string") return inner
    if (inner !== undefined && Object.keys(response).length === 1) return JSON.stringify(inner)
  }
  return JSON.stringify(response ?? {})
}

interface Turn {
  readonly role: "user" | "model"
  readonly text: string
  readonly hasText: boolean
  readonly media: number
  /** Characters of function calls and responses. */
  readonly toolChars: number
  /** Each `functionCall` part: its name and whether it carries a signature. */
  readonly calls: ReadonlyArray<{ readonly name: string; readonly signed: boolean }>
  /** The last function response's text, when the content holds any. */
  readonly toolResult: string | undefined
}

const decodeContent = (content: unknown, path: string): Turn | ApiError => {
  if (!isRecord(content)) return badValue(path, "an object", content)
  const role = content.role ?? "user"
  if (role !== "user" && role !== "model") {
    return invalid(`Please use a valid role: user, model.`, `${path}.role`)
  }
  const parts = content.parts
  if (!Array.isArray(parts) || parts.length === 0) {
    return invalid(
      `* GenerateContentRequest.${path}.parts: contents.parts must not be empty.`,
      `${path}.parts`
    )
  }
  let text = ""
  let hasText = false
  let media = 0
  let toolChars = 0
  let toolResult: string | undefined
  const calls: Array<{ readonly name: string; readonly signed: boolean }> = []
  for (let i = 0; i < parts.length; i++) {
    const part: unknown = parts[i]
    const at = `${path}.parts[${i}]`
    if (!isRecord(part)) return badValue(at, "an object", part)
    if (typeof part.text === "string") {
      // Thought summaries sent back are not prompt text the reply answers.
      if (part.thought !== true) {
        text += part.text
        hasText = true
      }
    } else if (isRecord(part.inlineData) || isRecord(part.fileData)) {
      media++
    } else if (isRecord(part.functionCall)) {
      const call = part.functionCall
      if (typeof call.name !== "string" || call.name === "") {
        return invalid(
          `* GenerateContentRequest.${at}.function_call.name: Name cannot be empty.`,
          `${at}.function_call.name`
        )
      }
      if (call.args !== undefined && !isRecord(call.args)) {
        return badValue(`${at}.function_call.args`, "an object", call.args)
      }
      toolChars += call.name.length + JSON.stringify(call.args ?? {}).length
      calls.push({ name: call.name, signed: typeof part.thoughtSignature === "string" && part.thoughtSignature !== "" })
    } else if (isRecord(part.functionResponse)) {
      const response = part.functionResponse
      if (typeof response.name !== "string" || response.name === "") {
        return invalid(
          `* GenerateContentRequest.${at}.function_response.name: Name cannot be empty.`,
          `${at}.function_response.name`
        )
      }
      if (response.response !== undefined && !isRecord(response.response)) {
        return badValue(`${at}.function_response.response`, "an object", response.response)
      }
      toolResult = responseText(response.response)
      toolChars += response.name.length + toolResult.length
    } else {
      return invalid(
        `* GenerateContentRequest.${at}.data: required oneof field 'data' must have one initialized field`,
        `${at}.data`
      )
    }
  }
  return { role, text, hasText, media, toolChars, calls, toolResult }
}

/** The first keyword outside Gemini's `Schema`, with its path, as the API names it. */
const unknownKeyword = (schema: unknown, path: string): ApiError | undefined => {
  if (!isRecord(schema)) return undefined
  for (const [key, value] of Object.entries(schema)) {
    if (!schemaKeywords.has(key)) {
      return invalid(`Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`, path)
    }
    const nested = key === "properties" && isRecord(value)
      ? Object.entries(value).map(([name, property]) => unknownKeyword(property, `${path}.properties[${name}].value`))
      : key === "items"
      ? [unknownKeyword(value, `${path}.items`)]
      : key === "anyOf" && Array.isArray(value)
      ? value.map((branch, i) => unknownKeyword(branch, `${path}.any_of[${i}]`))
      : []
    const found = nested.find((error) => error !== undefined)
    if (found !== undefined) return found
  }
  return undefined
}

const decodeGenerationConfig = (config: unknown): {
  readonly maxTokens: number | undefined
  readonly reasoning: boolean
  readonly responseSchema: unknown
  readonly jsonObject: boolean
} | ApiError => {
  if (config === undefined || config === null) {
    return { maxTokens: undefined, reasoning: false, responseSchema: undefined, jsonObject: false }
  }
  if (!isRecord(config)) return badValue("generation_config", "an object", config)
  const max = config.maxOutputTokens
  if (max !== undefined && !(typeof max === "number" && Number.isInteger(max) && max >= 1)) {
    return invalid(
      `Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), ${JSON.stringify(max)}`,
      "generation_config.max_output_tokens"
    )
  }
  const temperature = config.temperature
  if (temperature !== undefined && !(typeof temperature === "number" && temperature >= 0 && temperature <= 2)) {
    return invalid(
      `* GenerateContentRequest.generation_config.temperature: temperature must be in the range [0.0, 2.0]`,
      "generation_config.temperature"
    )
  }
  const thinking = config.thinkingConfig
  if (thinking !== undefined && !isRecord(thinking)) {
    return badValue("generation_config.thinking_config", "an object", thinking)
  }
  const reasoning = isRecord(thinking) && thinking.includeThoughts === true && thinking.thinkingBudget !== 0
  const { responseJsonSchema, responseSchema } = config
  if (responseSchema !== undefined && responseJsonSchema !== undefined) {
    return invalid("responseSchema and responseJsonSchema cannot both be set.", "generation_config.response_schema")
  }
  if (
    (responseSchema !== undefined || responseJsonSchema !== undefined) && config.responseMimeType !== "application/json"
  ) {
    return invalid(
      "* GenerateContentRequest.generation_config.response_mime_type: a response schema needs response_mime_type " +
        "application/json.",
      "generation_config.response_mime_type"
    )
  }
  const badKeyword = unknownKeyword(responseSchema, "generation_config.response_schema")
  if (badKeyword !== undefined) return badKeyword
  const schema = responseSchema ?? responseJsonSchema
  // A JSON MIME type without a schema is JSON mode: any JSON.
  const jsonObject = schema === undefined && config.responseMimeType === "application/json"
  return { maxTokens: max as number | undefined, reasoning, responseSchema: schema, jsonObject }
}

export const decode = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): Decoded<Extra> | ApiError => {
  const model = params?.model ?? ""
  const method = params?.method
  if (method === "streamGenerateContent" && params?.alt !== "sse") {
    return invalid(
      "The simulator streams only as server-sent events: add ?alt=sse to :streamGenerateContent.",
      "alt"
    )
  }
  if (!isRecord(body)) return invalid(`Invalid JSON payload received. Expected an object, got ${typeName(body)}.`)
  const contents = body.contents
  if (contents === undefined || contents === null || (Array.isArray(contents) && contents.length === 0)) {
    return invalid("* GenerateContentRequest.contents: contents is not specified", "contents")
  }
  if (!Array.isArray(contents)) return badValue("contents", "a list", contents)

  let chars = 0
  let media = 0
  const system = body.systemInstruction
  if (system !== undefined && system !== null) {
    const turn = decodeContent({ role: "user", ...(isRecord(system) ? system : {}) }, "system_instruction")
    if ("_tag" in turn) return turn
    chars += turn.text.length
  }
  const turns: Array<Turn> = []
  for (let i = 0; i < contents.length; i++) {
    const turn = decodeContent(contents[i], `contents[${i}]`)
    if ("_tag" in turn) return turn
    turns.push(turn)
    chars += turn.text.length + turn.toolChars
    media += turn.media
  }
  // The current turn starts after the last user content with text; its function
  // calls must carry their signatures (on the first call part of each content).
  let lastUserText = ""
  let current = 0
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!
    if (turn.role === "user" && turn.hasText) {
      lastUserText = turn.text
      current = i + 1
      break
    }
  }
  for (let i = current; i < turns.length; i++) {
    const first = turns[i]!.calls[0]
    if (turns[i]!.role === "model" && first !== undefined && !first.signed) return signatureMissing(first.name, i)
  }
  const last = turns[turns.length - 1]!
  const lastRole = last.role === "model" ? "assistant" : last.toolResult !== undefined ? "tool" : "user"

  const tools = decodeTools(body.tools)
  if ("_tag" in tools) return tools
  const toolChoice = decodeToolChoice(body.toolConfig, tools)
  if ("_tag" in toolChoice && toolChoice._tag === "InvalidRequest") return toolChoice
  const generation = decodeGenerationConfig(body.generationConfig)
  if ("_tag" in generation) return generation

  return decoded(
    {
      model,
      lastUserText,
      lastRole,
      toolResult: lastRole === "tool" ? last.toolResult : undefined,
      tools,
      toolChoice: toolChoice as Reply.ToolChoice,
      parallelToolCalls: true,
      reasoning: generation.reasoning,
      maxTokens: generation.maxTokens,
      responseSchema: generation.responseSchema,
      jsonObject: generation.jsonObject,
      chars,
      media
    },
    method === "streamGenerateContent",
    { blocked: lastUserText.includes(blockedPromptMarker) }
  )
}
