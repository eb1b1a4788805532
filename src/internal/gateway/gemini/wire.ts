/**
 * The gateway's Gemini request body: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`
 * (the Gemini API reference, `GenerateContentRequest`), its text parsed as JSON and checked against an Effect Schema
 * of the wire (camelCase, unknown fields ignored, `null` taken as unset), then turned into the library's
 * `ChatRequest`. A body that does not fit is a `Problem` naming the field (`contents[1].role`).
 *
 * The mapping: `systemInstruction`'s text parts become system messages; a `user` turn's `functionResponse` parts
 * become tool messages (their `response` object as the result's JSON), its text, `inlineData` and `fileData` parts one
 * user message; a `model` turn's text (`thought` parts as reasoning), and `functionCall` parts as tool calls, with
 * their thought signatures and Gemini's own call ids kept in `providerMetadata` so the library's Gemini adapter sends
 * them back unchanged. A result is matched to its call by id, else by name. `tools` take `functionDeclarations` only
 * (their `parameters` in Gemini's schema subset, or `parametersJsonSchema`); Google's own tools (`googleSearch`,
 * `codeExecution`, ...) run on Google's servers only and are refused. `toolConfig`'s mode is the tool choice (`ANY`
 * with one allowed name: that tool; with several: the tools kept to those). `generationConfig`: `temperature`,
 * `topP`, `maxOutputTokens`, `stopSequences`, `seed`, a JSON `responseMimeType` with `responseSchema` or
 * `responseJsonSchema` as the response format, and `thinkingConfig` (a level, or a budget, as a reasoning effort; the
 * dynamic budget, `-1`, leaves the effort to the deployment). A non-image `inlineData` or `fileData` part goes on as
 * an image part's data URL or URL: a deployment that cannot read its type refuses it.
 * Not carried: `safetySettings`, `cachedContent`, `topK`, `candidateCount`, penalties, `responseModalities`.
 */
import * as Schema from "effect/Schema"
import type { Input as ChatRequest, ReasoningEffort, ToolChoice } from "../../../ChatRequest.js"
import type { ContentPart, Message, ProviderMetadata, ToolCall, ToolDefinition } from "../../../Message.js"
import { jsonSchemaOf } from "../../providers/gemini/schema.js"
import { isMadeCallId, madeCallId, metadataKey, thinkingBudgets } from "../../providers/gemini/wire.js"
import { checker, maybe, Problem, problemOf, Refused, set } from "../../schemaCheck.js"
import { decodeBody } from "../openai/wire.js"

export { Problem } from "../../schemaCheck.js"

const JsonObject = Schema.Record(Schema.String, Schema.Unknown)

const WirePart = Schema.Struct({
  text: maybe(Schema.String),
  thought: maybe(Schema.Boolean),
  thoughtSignature: maybe(Schema.String),
  inlineData: maybe(Schema.Struct({ mimeType: Schema.String, data: Schema.String })),
  fileData: maybe(Schema.Struct({ mimeType: maybe(Schema.String), fileUri: Schema.String })),
  functionCall: maybe(Schema.Struct({ id: maybe(Schema.String), name: Schema.String, args: maybe(JsonObject) })),
  functionResponse: maybe(
    Schema.Struct({ id: maybe(Schema.String), name: Schema.String, response: maybe(JsonObject) })
  )
})

// `function`, the role older clients give a turn of function responses, is a user turn.
const WireContent = Schema.Struct({
  role: maybe(Schema.Literals(["user", "model", "function"])),
  parts: Schema.Array(WirePart)
})

// Its role, if any, is not read.
const WireSystemInstruction = Schema.Struct({ parts: Schema.Array(WirePart) })

const WireFunction = Schema.Struct({
  name: Schema.String,
  description: maybe(Schema.String),
  parameters: maybe(JsonObject),
  parametersJsonSchema: maybe(JsonObject)
})

const WireGenerationConfig = Schema.Struct({
  temperature: maybe(Schema.Number),
  topP: maybe(Schema.Number),
  maxOutputTokens: maybe(Schema.Number),
  stopSequences: maybe(Schema.Array(Schema.String)),
  seed: maybe(Schema.Number),
  responseMimeType: maybe(Schema.String),
  responseSchema: maybe(JsonObject),
  responseJsonSchema: maybe(JsonObject),
  thinkingConfig: maybe(Schema.Struct({
    thinkingBudget: maybe(Schema.Number),
    thinkingLevel: maybe(Schema.Literals(["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"])),
    includeThoughts: maybe(Schema.Boolean)
  }))
})

/** A `GenerateContentRequest`, as far as the gateway reads it. */
export const WireGenerateRequest = Schema.Struct({
  contents: Schema.Array(WireContent),
  systemInstruction: maybe(WireSystemInstruction),
  // Each tool's kinds are checked one by one (`tools`), so that a kind Google runs itself is named.
  tools: maybe(Schema.Array(JsonObject)),
  toolConfig: maybe(Schema.Struct({
    functionCallingConfig: maybe(Schema.Struct({
      mode: maybe(Schema.Literals(["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"])),
      allowedFunctionNames: maybe(Schema.Array(Schema.String))
    }))
  })),
  generationConfig: maybe(WireGenerationConfig)
})

/** A `countTokens` body: the contents alone, or a whole `generateContentRequest`. */
const WireCountRequest = Schema.Struct({
  contents: maybe(Schema.Array(WireContent)),
  generateContentRequest: maybe(WireGenerateRequest)
})

type Body = typeof WireGenerateRequest.Type
type WirePart = typeof WirePart.Type

const problem = (param: string, detail: string) => new Problem(param, `${param}: ${detail}`)

// A call of a model turn not answered yet: its id (Gemini's or made) and its name.
interface Pending {
  readonly id: string
  readonly name: string
}

const metadata = (signature: string | null | undefined, id: string | undefined): ProviderMetadata | undefined => {
  const own = id !== undefined && !isMadeCallId(id) ? id : undefined
  if ((signature === null || signature === undefined) && own === undefined) return undefined
  return {
    [metadataKey]: {
      ...(signature !== null && signature !== undefined ? { thoughtSignature: signature } : {}),
      ...(own !== undefined ? { id: own } : {})
    }
  }
}

// A user turn: its function responses as tool messages, then the rest as one user message.
function userTurn(
  parts: ReadonlyArray<WirePart>,
  at: string,
  into: Array<Message>,
  pending: Array<Pending>
): Problem | undefined {
  const content: Array<ContentPart> = []
  let results = 0
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j]!
    const where = `${at}.parts[${j}]`
    if (part.functionResponse !== null && part.functionResponse !== undefined) {
      const { id, name, response } = part.functionResponse
      const index = pending.findIndex((call) => (id !== null && id !== undefined ? call.id === id : call.name === name))
      if (index < 0 && (id === null || id === undefined)) {
        return problem(`${where}.functionResponse`, `no earlier functionCall of "${name}" is left to answer`)
      }
      const callId = index < 0 ? id! : pending[index]!.id
      if (index >= 0) pending.splice(index, 1)
      into.push({ role: "tool", toolCallId: callId, name, content: JSON.stringify(response ?? {}) })
      results++
    } else if (typeof part.text === "string") {
      content.push({ type: "text", text: part.text })
    } else if (part.inlineData !== null && part.inlineData !== undefined) {
      content.push({ type: "image", url: `data:${part.inlineData.mimeType};base64,${part.inlineData.data}` })
    } else if (part.fileData !== null && part.fileData !== undefined) {
      content.push({ type: "image", url: part.fileData.fileUri })
    } else if (part.functionCall !== null && part.functionCall !== undefined) {
      return problem(`${where}.functionCall`, "a functionCall part belongs in a model turn")
    } else {
      return problem(where, "expected a text, inlineData, fileData or functionResponse part")
    }
  }
  if (content.length > 0 || results === 0) into.push({ role: "user", content })
  return undefined
}

// A model turn: its text, thoughts and function calls as one assistant message.
function modelTurn(parts: ReadonlyArray<WirePart>, at: string, pending: Array<Pending>): Message | Problem {
  let text = ""
  let reasoning: string | undefined
  let signature: string | undefined
  const calls: Array<ToolCall> = []
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j]!
    const call = part.functionCall
    if (call !== null && call !== undefined) {
      const id = call.id ?? madeCallId(calls.length)
      const meta = metadata(part.thoughtSignature, call.id ?? undefined)
      const arguments_ = JSON.stringify(call.args ?? {})
      calls.push(
        meta === undefined ? { id, name: call.name, arguments: arguments_ } : {
          id,
          name: call.name,
          arguments: arguments_,
          providerMetadata: meta
        }
      )
      pending.push({ id, name: call.name })
    } else if (typeof part.text === "string") {
      if (part.thought === true) reasoning = (reasoning ?? "") + part.text
      else text += part.text
      if (typeof part.thoughtSignature === "string") signature = part.thoughtSignature
    } else {
      return problem(`${at}.parts[${j}]`, "a model turn takes text and functionCall parts")
    }
  }
  const meta = metadata(signature, undefined)
  return {
    role: "assistant",
    content: text,
    ...(calls.length > 0 ? { toolCalls: calls } : {}),
    ...(reasoning !== undefined ? { reasoning } : {}),
    ...(meta !== undefined ? { providerMetadata: meta } : {})
  }
}

const checkFunctions = checker(Schema.Array(WireFunction), { errors: "first" })

// The function declarations of `tools`, or the refusal of the kinds Google runs itself.
function toolsOf(tools: ReadonlyArray<Readonly<Record<string, unknown>>>): Array<ToolDefinition> | Problem {
  const out: Array<ToolDefinition> = []
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i]!
    const others = Object.keys(tool).filter((kind) => kind !== "functionDeclarations" && tool[kind] != null)
    if (others.length > 0) {
      return problem(
        `tools[${i}]`,
        `${others.join(", ")} ${others.length > 1 ? "are tools" : "is a tool"} that Google runs on its own servers, ` +
          "which this gateway cannot run for every deployment; only functionDeclarations are served"
      )
    }
    const declarations = checkFunctions(tool["functionDeclarations"] ?? [])
    if (declarations instanceof Refused) {
      const refused = problemOf(declarations)
      const param = `tools[${i}].functionDeclarations${refused.param ?? ""}`
      return new Problem(param, `${param}: ${declarations.refusals[0].message}`)
    }
    for (const declaration of declarations) {
      const definition: { -readonly [K in keyof ToolDefinition]: ToolDefinition[K] } = {
        name: declaration.name,
        parameters: (declaration.parametersJsonSchema ?? jsonSchemaOf(declaration.parameters) ??
          { type: "object", properties: {} }) as ToolDefinition["parameters"]
      }
      set(definition, "description", declaration.description)
      out.push(definition)
    }
  }
  return out
}

// The effort whose budget is the largest not above `budget`; `-1`, Gemini's "as the model decides", none at all.
const effortOfBudget = (budget: number): ReasoningEffort | undefined => {
  if (budget < 0) return undefined
  if (budget === 0) return "none"
  let effort: ReasoningEffort = "minimal"
  for (const [name, tokens] of Object.entries(thinkingBudgets)) {
    if (tokens > 0 && tokens <= budget) effort = name as ReasoningEffort
  }
  return effort
}

type Mutable<A> = { -readonly [K in keyof A]: A[K] }

function generationConfig(config: NonNullable<Body["generationConfig"]>, request: Mutable<ChatRequest>) {
  set(request, "temperature", config.temperature)
  set(request, "topP", config.topP)
  set(request, "maxTokens", config.maxOutputTokens)
  if (config.stopSequences !== null && config.stopSequences !== undefined && config.stopSequences.length > 0) {
    request.stop = config.stopSequences
  }
  set(request, "seed", config.seed)
  if (config.responseMimeType === "application/json") {
    const schema = config.responseJsonSchema ?? jsonSchemaOf(config.responseSchema)
    request.responseFormat = schema === null || schema === undefined
      ? { type: "json_object" }
      : { type: "json_schema", name: "response", schema: schema as Readonly<Record<string, unknown>> }
  }
  const thinking = config.thinkingConfig
  if (thinking !== null && thinking !== undefined) {
    const level = thinking.thinkingLevel
    if (level !== null && level !== undefined && level !== "THINKING_LEVEL_UNSPECIFIED") {
      request.reasoningEffort = level.toLowerCase() as ReasoningEffort
    } else if (typeof thinking.thinkingBudget === "number") {
      set(request, "reasoningEffort", effortOfBudget(thinking.thinkingBudget))
    }
  }
}

function toolChoice(
  config: NonNullable<Body["toolConfig"]>["functionCallingConfig"],
  request: Mutable<ChatRequest>
) {
  if (config === null || config === undefined) return
  const allowed = config.allowedFunctionNames ?? []
  let choice: ToolChoice | undefined
  switch (config.mode) {
    case "NONE":
      choice = "none"
      break
    case "ANY":
      choice = allowed.length === 1 ? { tool: allowed[0]! } : "required"
      if (allowed.length > 1) request.tools = request.tools?.filter((tool) => allowed.includes(tool.name))
      break
    case "AUTO":
    case "VALIDATED":
      choice = "auto"
  }
  if (choice !== undefined) request.toolChoice = choice
}

/** A checked body as the engine's request, or what is wrong with it. */
export const toRequest = (body: Body): ChatRequest | Problem => {
  const messages: Array<Message> = []
  for (const part of body.systemInstruction?.parts ?? []) {
    if (typeof part.text === "string") messages.push({ role: "system", content: part.text })
  }
  const pending: Array<Pending> = []
  for (let i = 0; i < body.contents.length; i++) {
    const { parts, role } = body.contents[i]!
    const at = `contents[${i}]`
    if (role === "model") {
      const turn = modelTurn(parts, at, pending)
      if (turn instanceof Problem) return turn
      messages.push(turn)
    } else {
      const refused = userTurn(parts, at, messages, pending)
      if (refused !== undefined) return refused
    }
  }
  const request: Mutable<ChatRequest> = { messages }
  if (body.tools !== null && body.tools !== undefined) {
    const tools = toolsOf(body.tools)
    if (tools instanceof Problem) return tools
    if (tools.length > 0) request.tools = tools
  }
  toolChoice(body.toolConfig?.functionCallingConfig, request)
  if (body.generationConfig !== null && body.generationConfig !== undefined) {
    generationConfig(body.generationConfig, request)
  }
  return request
}

const checkGenerate = checker(WireGenerateRequest, { errors: "first" })
const checkCount = checker(WireCountRequest, { errors: "first" })

/** A `generateContent` body (its text) as the engine's request, or what is wrong with it. */
export const generate = (text: string): ChatRequest | Problem => {
  const body = decodeBody(text, checkGenerate)
  return body instanceof Problem ? body : toRequest(body)
}

/** A `countTokens` body (its text) as the request whose prompt is counted, or what is wrong with it. */
export const count = (text: string): ChatRequest | Problem => {
  const body = decodeBody(text, checkCount)
  if (body instanceof Problem) return body
  if (body.generateContentRequest !== null && body.generateContentRequest !== undefined) {
    return toRequest(body.generateContentRequest)
  }
  return toRequest({ contents: body.contents ?? [] })
}

// The request's fields as the wire names them, where the engine's differ.
const renamed: Readonly<Record<string, string>> = {
  temperature: "generationConfig.temperature",
  topP: "generationConfig.topP",
  maxTokens: "generationConfig.maxOutputTokens",
  stop: "generationConfig.stopSequences",
  seed: "generationConfig.seed",
  reasoningEffort: "generationConfig.thinkingConfig",
  responseFormat: "generationConfig.responseSchema",
  toolChoice: "toolConfig"
}

/**
 * A path of the engine's request (`maxTokens`, `tools[0].parameters`) as the Gemini body writes it; a message's path
 * is `contents` (the engine's messages do not follow the body's turns one to one).
 */
export const geminiPath = (path: string): string =>
  path.replace(/^messages(\[\d+\]\S*)?/, "contents")
    .replace(/^(temperature|topP|maxTokens|stop|seed|reasoningEffort|responseFormat|toolChoice)\b/, (name) =>
      renamed[name]!)
    .replace(/^tools\[(\d+)\]\.parameters/, "tools[0].functionDeclarations[$1].parameters")
