/**
 * The Gemini request (`:generateContent`, `:streamGenerateContent`), read with the codec (`wire/gemini/codec.ts`), then
 * checked by hand for what the API refuses beyond its types, with its messages (docs/simulator.md and each check's doc
 * give the rules, a Gemini 3 model's function-call signatures among them), and reduced to a `Reply.Prompt`; the model
 * and method come from the URL (`params`).
 */
import * as Result from "effect/Result"
import type { Extra } from "../../../simulator/Gemini.js"
import type * as Reply from "../../../simulator/Reply.js"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import { bracketed, type Refused } from "../../schemaCheck.js"
import * as Images from "../../tokens/images.js"
import * as Codec from "../../wire/gemini/codec.js"
import { schemaKeywords } from "../../wire/gemini/schema.js"
import { decoded, mediaTokens } from "../decoded.js"
import { invalid, typeName } from "../requestChecks.js"
import { signatureOf } from "./signature.js"

/** The text that, in the last user message, makes the simulator block the prompt. */
export const blockedPromptMarker = "[simulator:block]"

/**
 * Gemini reports bad fields as `Invalid JSON payload received. Unknown name…` or plain sentences; these mimic the
 * latter.
 */
export const badValue = (path: string, expected: string, got: unknown): ApiError =>
  invalid(`Invalid value at '${path}': expected ${expected}, got ${typeName(got)}.`, path)

// A path as Google's errors write it: the proto's snake_case names (`generation_config.max_output_tokens`).
function snakeCase(path: string): string {
  return path.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`)
}

/** A field the API refuses, at `path`, with the `* GenerateContentRequest.` its message starts with. */
const refused = (path: string, message: string): Result.Result<never, ApiError> =>
  Result.fail(invalid(`* GenerateContentRequest.${path}: ${message}`, path))

/** The schema's first refusal, at `at` (the path of the value checked), as Google words a bad value. */
export function refusal(refused: Refused, at = ""): ApiError {
  const { message, path } = refused.refusals[0]
  const inner = bracketed(path)
  const where = snakeCase(at === "" ? inner : inner === "" ? at : inner.startsWith("[") ? at + inner : `${at}.${inner}`)
  return invalid(`Invalid value at '${where}': ${message}.`, where)
}

const signatureMissing = (name: string, position: number): ApiError =>
  invalid(
    `Function call is missing a thought_signature in functionCall parts. This is required for tools to work ` +
      `correctly, and missing thought_signature may lead to degraded model performance. Additional data, ` +
      `function call \`default_api:${name}\` , position ${position}. Please refer to ` +
      `https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
    "contents"
  )

// The Gemini API's answer to a signature it did not make for the call it came back on.
const signatureCorrupted: ApiError = invalid("Corrupted thought signature.", "contents")

/** Whether `model` checks replayed calls' signatures: Gemini 3 and later, as the thought signatures page says. */
const checksSignatures = (model: string): boolean => /^gemini-3/.test(model)

type Body = typeof Codec.GenerateContentRequest.Type
type Part = typeof Codec.Part.Type

/**
 * The function declarations as the generator offers them, and their characters: names, descriptions and schemas.
 * Google's own tools (googleSearch, codeExecution, urlContext...) are accepted and ignored.
 */
function decodeTools(tools: Body["tools"]) {
  const out: Array<Reply.Tool> = []
  let chars = 0
  for (let i = 0; i < (tools ?? []).length; i++) {
    const functions = tools![i]!["functionDeclarations"]
    if (functions === undefined) continue
    const checked = Codec.checkFunctionDeclarations(functions)
    if (Result.isFailure(checked)) return Result.fail(refusal(checked.failure, `tools[${i}].functionDeclarations`))
    const declarations = checked.success
    for (let j = 0; j < declarations.length; j++) {
      const declaration = declarations[j]!
      const path = `tools[${i}].function_declarations[${j}]`
      if (declaration.name === "") {
        return refused(`${path}.name`, "Name cannot be empty.")
      }
      const parameters = declaration.parameters ?? declaration.parametersJsonSchema
      out.push({ name: declaration.name, parameters })
      chars += declaration.name.length + (declaration.description?.length ?? 0) +
        JSON.stringify(parameters ?? {}).length
    }
  }
  return Result.succeed({ tools: out, chars })
}

function decodeToolChoice(
  config: Body["toolConfig"],
  tools: ReadonlyArray<Reply.Tool>
): Result.Result<Reply.ToolChoice, ApiError> {
  const calling = config?.functionCallingConfig
  if (calling === undefined || calling === null) return Result.succeed({ _tag: "Auto" })
  // The API's answer to a mode with nothing to call, whatever the mode (Google's own tools are no declarations).
  if (tools.length === 0) {
    return Result.fail(invalid("Function calling config is set without function_declarations.", "tool_config"))
  }
  const names = calling.allowedFunctionNames ?? []
  switch (calling.mode ?? "AUTO") {
    case "AUTO":
    case "MODE_UNSPECIFIED":
      return Result.succeed({ _tag: "Auto" })
    case "NONE":
      return Result.succeed({ _tag: "None" })
    case "ANY":
    case "VALIDATED": {
      for (const name of names) {
        if (!tools.some((tool) => tool.name === name)) {
          return refused(
            "tool_config.function_calling_config.allowed_function_names",
            `function '${name}' is not declared in tools.`
          )
        }
      }
      return Result.succeed(names.length === 1 ? { _tag: "Named", name: names[0]! } : { _tag: "Required" })
    }
  }
}

/** The text a function response stands for: its `result` or `output` string, or its JSON. */
function responseText(response: Readonly<Record<string, unknown>> | null | undefined): string {
  if (isJsonObject(response)) {
    const inner = response["result"] ?? response["output"]
    if (typeof inner === "string") return inner
    if (inner !== undefined && Object.keys(response).length === 1) return JSON.stringify(inner)
  }
  return JSON.stringify(response ?? {})
}

/** An `inlineData` or `fileData` part as the library's media part, for `mediaTokens`. */
function mediaPart(part: Pick<Part, "inlineData" | "fileData">): { url: string; mediaType?: string } | undefined {
  const inline = part.inlineData
  if (inline !== null && inline !== undefined) {
    return { url: `data:${inline.mimeType};base64,${inline.data}`, mediaType: inline.mimeType }
  }
  const file = part.fileData
  if (file === null || file === undefined) return undefined
  return typeof file.mimeType === "string" ? { url: file.fileUri, mediaType: file.mimeType } : { url: file.fileUri }
}

/**
 * What a part weighs in the prompt: its characters (text but not thoughts, which are not prompt text the reply answers;
 * a function call's name and arguments, a function response's name and text) and its media's tokens (a function
 * response's own media parts too).
 */
export function partSize(part: Part): { readonly chars: number; readonly media: number } {
  if (typeof part.text === "string") return { chars: part.thought === true ? 0 : part.text.length, media: 0 }
  const medium = mediaPart(part)
  if (medium !== undefined) return { chars: 0, media: mediaTokens(medium, Images.gemini) }
  const call = part.functionCall
  if (call !== null && call !== undefined) {
    return { chars: call.name.length + JSON.stringify(call.args ?? {}).length, media: 0 }
  }
  const response = part.functionResponse
  if (response !== null && response !== undefined) {
    let media = 0
    for (const inner of response.parts ?? []) {
      const responseMedium = mediaPart(inner)
      if (responseMedium !== undefined) media += mediaTokens(responseMedium, Images.gemini)
    }
    return { chars: response.name.length + responseText(response.response).length, media }
  }
  return { chars: 0, media: 0 }
}

interface Call {
  readonly name: string
  readonly signed: boolean
  /** Whether its signature is one the simulator made for this call (its name and arguments), or a stand-in. */
  readonly valid: boolean
}

const signed = (part: Part): boolean => typeof part.thoughtSignature === "string" && part.thoughtSignature !== ""

const emptyText = (at: string): ApiError =>
  invalid(
    "Unable to submit request because it has an empty text parameter. Add a value to the parameter and try again.",
    `${at}.text`
  )

/**
 * A content as a turn: its role, its text, its media's tokens, the characters of its function calls and responses
 * (`toolChars`), each `functionCall` part (its name, whether it carries a signature and whether that one is valid), the
 * last function response's text when it holds any (`toolResult`), and how many `functionResponse` parts it holds.
 */
function decodeContent(
  role: "user" | "model" | "function" | null | undefined,
  parts: ReadonlyArray<Part>,
  path: string
) {
  const turnRole = role ?? "user"
  if (turnRole === "function") return Result.fail(invalid(`Please use a valid role: user, model.`, `${path}.role`))
  if (parts.length === 0) {
    return refused(`${path}.parts`, "contents.parts must not be empty.")
  }
  let text = ""
  let hasText = false
  let media = 0
  let toolChars = 0
  let toolResult: string | undefined
  let responses = 0
  const calls: Array<Call> = []
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!
    const at = `${path}.parts[${i}]`
    const size = partSize(part)
    media += size.media
    if (typeof part.text === "string") {
      // A part's text is its data: an empty one, but for a signature's carrier, is refused (the Gemini API's answer).
      if (part.text === "" && part.thought !== true && !signed(part)) return Result.fail(emptyText(at))
      if (part.thought !== true) {
        text += part.text
        hasText = true
      }
    } else if (mediaPart(part) !== undefined) {
      continue
    } else if (part.functionCall !== null && part.functionCall !== undefined) {
      const name = part.functionCall.name
      if (name === "") {
        return refused(`${at}.function_call.name`, "Name cannot be empty.")
      }
      toolChars += size.chars
      const signature = part.thoughtSignature ?? ""
      const valid = Codec.standInSignatures.has(signature) || signature === signatureOf(name, part.functionCall.args)
      calls.push({ name, signed: signed(part), valid })
    } else if (part.functionResponse !== null && part.functionResponse !== undefined) {
      const name = part.functionResponse.name
      if (name === "") {
        return refused(`${at}.function_response.name`, "Name cannot be empty.")
      }
      toolResult = responseText(part.functionResponse.response)
      responses++
      toolChars += size.chars
    } else {
      return refused(`${at}.data`, "required oneof field 'data' must have one initialized field")
    }
  }
  return Result.succeed({ role: turnRole, text, hasText, media, toolChars, calls, toolResult, responses })
}

/**
 * The Gemini API's rule for function responses: they come in the content right after a model's function calls, as many
 * as the calls (a request may end with the calls).
 */
type Turn = Result.Result.Success<ReturnType<typeof decodeContent>>

function unpairedResponses(turns: ReadonlyArray<Turn>): ApiError | undefined {
  for (let i = 0; i < turns.length; i++) {
    const turn = turns[i]!
    const before = turns[i - 1]
    if (turn.responses > 0 && (before === undefined || before.role !== "model" || before.calls.length === 0)) {
      return invalid(
        "Please ensure that function response turn comes immediately after a function call turn.",
        "contents"
      )
    }
    const next = turns[i + 1]
    if (turn.role === "model" && turn.calls.length > 0 && next !== undefined && next.responses !== turn.calls.length) {
      return invalid(
        "Please ensure that the number of function response parts is equal to the number of function call parts of " +
          "the function call turn.",
        "contents"
      )
    }
  }
  return undefined
}

/** The first keyword outside Gemini's `Schema`, with its path, as the API names it. */
const unknownKeyword = (schema: unknown, path: string): ApiError | undefined => {
  if (!isJsonObject(schema)) return undefined
  for (const [key, value] of Object.entries(schema)) {
    if (!schemaKeywords.has(key)) {
      return invalid(`Invalid JSON payload received. Unknown name "${key}" at '${path}': Cannot find field.`, path)
    }
    const nested = key === "properties" && isJsonObject(value)
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

/** A generation config as the generator reads it: its token limit, its reasoning, its response schema or JSON mode. */
function decodeGenerationConfig(config: Body["generationConfig"]) {
  if (config === undefined || config === null) {
    return Result.succeed({ maxTokens: undefined, reasoning: false, responseSchema: undefined, jsonObject: false })
  }
  const max = config.maxOutputTokens ?? undefined
  if (max !== undefined && !(Number.isInteger(max) && max >= 1)) {
    return Result.fail(invalid(
      `Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), ${JSON.stringify(max)}`,
      "generation_config.max_output_tokens"
    ))
  }
  const stops = config.stopSequences?.length ?? 0
  if (stops > Codec.maxStop) {
    return refused("generation_config.stop_sequences", `at most ${Codec.maxStop} stop sequences are allowed`)
  }
  const temperature = config.temperature ?? undefined
  if (temperature !== undefined && !(temperature >= 0 && temperature <= 2)) {
    return refused("generation_config.temperature", "temperature must be in the range [0.0, 2.0]")
  }
  const thinking = config.thinkingConfig
  const reasoning = thinking !== null && thinking !== undefined && thinking.includeThoughts === true &&
    thinking.thinkingBudget !== 0
  const responseSchema = config.responseSchema ?? undefined
  const responseJsonSchema = config.responseJsonSchema ?? undefined
  if (responseSchema !== undefined && responseJsonSchema !== undefined) {
    return Result.fail(
      invalid("responseSchema and responseJsonSchema cannot both be set.", "generation_config.response_schema")
    )
  }
  if (
    (responseSchema !== undefined || responseJsonSchema !== undefined) && config.responseMimeType !== "application/json"
  ) {
    return refused(
      "generation_config.response_mime_type",
      "a response schema needs response_mime_type application/json."
    )
  }
  const badKeyword = unknownKeyword(responseSchema, "generation_config.response_schema")
  if (badKeyword !== undefined) return Result.fail(badKeyword)
  const schema = responseSchema ?? responseJsonSchema
  // A JSON MIME type without a schema is JSON mode: any JSON.
  const jsonObject = schema === undefined && config.responseMimeType === "application/json"
  return Result.succeed({ maxTokens: max, reasoning, responseSchema: schema, jsonObject })
}

export function decode(
  json: unknown,
  params?: Readonly<Record<string, string | undefined>>
): Result.Result<Decoded<Extra>, ApiError> {
  const model = params?.model ?? ""
  const method = params?.method
  if (!isJsonObject(json)) {
    return Result.fail(invalid(`Invalid JSON payload received. Expected an object, got ${typeName(json)}.`))
  }
  const contents = json["contents"]
  if (contents === undefined || contents === null || (Array.isArray(contents) && contents.length === 0)) {
    return refused("contents", "contents is not specified")
  }
  const checked = Codec.checkGenerateContent(json)
  if (Result.isFailure(checked)) return Result.fail(refusal(checked.failure))
  const body = checked.success

  let chars = 0
  let media = 0
  let instructions = ""
  const system = body.systemInstruction
  if (system !== undefined && system !== null) {
    const turn = decodeContent("user", system.parts, "system_instruction")
    if (Result.isFailure(turn)) return Result.fail(turn.failure)
    instructions = turn.success.text
    chars += instructions.length
  }
  const turns: Array<Turn> = []
  for (let i = 0; i < body.contents.length; i++) {
    const content = body.contents[i]!
    const decodedTurn = decodeContent(content.role, content.parts, `contents[${i}]`)
    if (Result.isFailure(decodedTurn)) return Result.fail(decodedTurn.failure)
    const turn = decodedTurn.success
    turns.push(turn)
    chars += turn.text.length + turn.toolChars
    media += turn.media
  }
  const unpaired = unpairedResponses(turns)
  if (unpaired !== undefined) return Result.fail(unpaired)
  // The current turn starts after the last user content with text; on Gemini 3 its function calls must carry their
  // signatures (on the first call part of each content).
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
  for (let i = current; i < turns.length && checksSignatures(model); i++) {
    if (turns[i]!.role !== "model") continue
    const first = turns[i]!.calls[0]
    if (first !== undefined && !first.signed) return Result.fail(signatureMissing(first.name, i))
    if (turns[i]!.calls.some((call) => call.signed && !call.valid)) return Result.fail(signatureCorrupted)
  }
  const last = turns[turns.length - 1]!
  const lastRole = last.role === "model" ? "assistant" : last.toolResult !== undefined ? "tool" : "user"

  // The tools, then their choice and the generation config: the first of them refused is the error.
  return Result.flatMap(decodeTools(body.tools), (declared) =>
    Result.map(
      Result.all([decodeToolChoice(body.toolConfig, declared.tools), decodeGenerationConfig(body.generationConfig)]),
      ([toolChoice, generation]) =>
        decoded(
          {
            model,
            lastUserText,
            instructions,
            lastRole,
            assistantTurns: turns.filter((turn) => turn.role === "model").length,
            texts: [
              ...(instructions === "" ? [] : [instructions]),
              ...turns.map((turn) => turn.toolResult ?? turn.text)
            ],
            toolResult: lastRole === "tool" ? last.toolResult : undefined,
            tools: declared.tools,
            toolChoice,
            parallelToolCalls: true,
            reasoning: generation.reasoning,
            maxTokens: generation.maxTokens,
            responseSchema: generation.responseSchema,
            jsonObject: generation.jsonObject,
            chars: chars + declared.chars,
            media
          },
          method === "streamGenerateContent",
          { blocked: lastUserText.includes(blockedPromptMarker), framing: params?.alt === "sse" ? "sse" : "array" }
        )
    ))
}
