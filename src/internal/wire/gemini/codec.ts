/**
 * The Gemini API wire (the Gemini API reference: `generateContent`, `streamGenerateContent?alt=sse`, `countTokens`),
 * in both directions: the request (`toRequest` for the gateway, `requestBody` for the client), the reply and the
 * streamed chunk, which is a whole `GenerateContentResponse` holding only the new parts (`reply`, `candidateOf`,
 * `partOf` read them; `response`, `chunk` and `blockedResponse` write them), and Google's error body
 * (`google.rpc.Status`). The readers are plain functions over `JSON.parse` output, checked with `typeof`: decoding a
 * schema per stream event costs more than the event. The embedding bodies are `embeddings.ts`'.
 *
 * Thought signatures and Gemini's own call ids are kept in `providerMetadata` so the client sends them back unchanged.
 * Google's own tools (`googleSearch`, `codeExecution`, ...) run on Google's servers only and are refused. Gemini has
 * no tool-call finish reason (a reply with function calls ends with `STOP`), and `candidatesTokenCount` leaves out the
 * thoughts, which are `thoughtsTokenCount`.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Mutable } from "effect/Types"
import { createHash } from "node:crypto"
import type { Input as ChatRequest, ReasoningEffort, ResponseFormat, ToolChoice } from "../../../ChatRequest.js"
import type { ChatResponse, FinishReason, Usage } from "../../../ChatResponse.js"
import type {
  AssistantMessage,
  ContentPart,
  ImagePart,
  Message,
  ProviderMetadata,
  ToolCall,
  ToolDefinition,
  ToolMessage
} from "../../../Message.js"
import { textOf } from "../../../Message.js"
import { RequestError, ShapeError } from "../../codecError.js"
import {
  canonicalJson,
  definedFields,
  isJsonObject,
  type JsonObject,
  JsonObjectSchema,
  replyArguments,
  replyId,
  replyModel,
  requestArguments,
  requireObject
} from "../../json.js"
import type { Reply } from "../../providers/adapter.js"
import { checker, maybe, Problem, problemOf, set } from "../../schemaCheck.js"
import * as Media from "../../tokens/media.js"
import { type Carried, envelopeOf, opened, restoreCall } from "../carried.js"
import { base64Payload } from "../contentKinds.js"
import type { Origin } from "../dialect.js"
import { effortOfBudget } from "../effort.js"
import { isEmpty } from "../emptyText.js"
import { problem } from "../problem.js"
import { namedTool } from "../toolDeclaration.js"
import { countAt, reportedUsage, tokenCount, withReported } from "../usage.js"
import { geminiSchema, jsonSchemaOf } from "./schema.js"

export { Problem }

// ---------------------------------------------------------------------------
// What the two directions share: resource names, call ids, thought signatures

/** `models/{id}` for a bare id; a resource name (`tunedModels/x`) as it is. */
export function resourceOf(model: string): string {
  return model.includes("/") ? model : `models/${model}`
}

// A resource name of the Gemini API: a collection of models and one id in it (the Gemini API reference, `Model.name`).
const resourceName = /^(models|tunedModels)\/([^/]+)$/

/**
 * A model's resource as a URL path: `models/{id}`, or `tunedModels/{id}` for such a resource name, the id one encoded
 * path segment; any other name is one id, encoded whole, so no `/`, `..`, `?` or `#` of it leaves the models' path.
 */
export function resourcePath(model: string): string {
  const named = resourceName.exec(model)
  return named === null ? `models/${encodeURIComponent(model)}` : `${named[1]}/${encodeURIComponent(named[2]!)}`
}

/** What the library keeps in `providerMetadata.gemini` of a tool call or a reply. */
export interface GeminiMetadata {
  /** Sent back unchanged on the same part (the Gemini API docs, thought signatures). */
  readonly thoughtSignature?: string
  /** The call's own id, when the model gave one; echoed in the call and its `functionResponse`. */
  readonly id?: string
  /**
   * The digest of the arguments a signed call came with (`argumentsDigest`): sent back with other arguments (a client
   * that fills in a default the model left out), the call goes as one the API did not sign, its signature left out.
   */
  readonly signedArguments?: string
}

/** The key of Gemini's entry in `providerMetadata`. */
export const metadataKey = "gemini"

/** Gemini's entry in a message's or a call's `providerMetadata`, when there is one. */
export function metadataOf(metadata: ProviderMetadata | undefined): GeminiMetadata | undefined {
  const value = metadata?.[metadataKey]
  return isJsonObject(value) ? value as GeminiMetadata : undefined
}

function withMetadata(
  signature: string | undefined,
  id: string | undefined,
  signedArguments?: string
): ProviderMetadata | undefined {
  return signature === undefined && id === undefined
    ? undefined
    : { [metadataKey]: definedFields({ thoughtSignature: signature, id, signedArguments }) }
}

/** The digest of a call's arguments as the API holds them (a protobuf `Struct`, whose keys keep no order). */
function argumentsDigest(args: unknown): string {
  return createHash("sha256").update(canonicalJson(args ?? {})).digest("base64url")
}

/**
 * The id of a call Gemini gave none (newer models do): the reply's `responseId` (outside `[A-Za-z0-9_-]` as `_`, the
 * ids Anthropic's and OpenAI's clients take) and the call's index, the same in stream and whole reply. The reply's id
 * names the calls of a conversation's turns apart: an agent keeps its history by call id (Claude Code replaces a call
 * whose id an earlier one has), and Anthropic refuses a history whose `tool_use` ids repeat.
 */
export function madeCallId(index: number, reply = ""): string {
  const id = reply.replaceAll(/[^A-Za-z0-9_-]/g, "_")
  return id === "" ? `call_${index}` : `call_${id}_${index}`
}

/** The ids `madeCallId` makes rather than Gemini's own, which are never sent back to Gemini. */
const madeCallIdShape = /^call_(?:[A-Za-z0-9_-]+_)?\d+$/

/**
 * `reasoningEffort` as a thinking budget in tokens (Gemini 2.5 budgets; Gemini 3 models accept them too). `none`
 * turns thinking off where the model allows it; `xhigh` and `max` ask for the largest budget every 2.5 model accepts.
 */
const thinkingBudgets: Readonly<Record<ReasoningEffort, number>> = {
  none: 0,
  minimal: 128,
  low: 1024,
  medium: 8192,
  high: 16384,
  xhigh: 24576,
  max: 24576
}

// ---------------------------------------------------------------------------
// The request body: its schema, and its mapping to the library's request

/** A `Part`, of a request's contents and of a reply's candidate alike: one data field, and its metadata. */
export const Part = Schema.Struct({
  text: maybe(Schema.String),
  thought: maybe(Schema.Boolean),
  thoughtSignature: maybe(Schema.String),
  inlineData: maybe(Schema.Struct({ mimeType: Schema.String, data: Schema.String })),
  fileData: maybe(Schema.Struct({ mimeType: maybe(Schema.String), fileUri: Schema.String })),
  functionCall: maybe(Schema.Struct({ id: maybe(Schema.String), name: Schema.String, args: maybe(JsonObjectSchema) })),
  functionResponse: maybe(
    Schema.Struct({
      id: maybe(Schema.String),
      name: Schema.String,
      response: maybe(JsonObjectSchema),
      // Media a Gemini 3 model takes with a function's response, each referenced from `response` by its name.
      parts: maybe(Schema.Array(Schema.Struct({
        inlineData: maybe(
          Schema.Struct({ mimeType: Schema.String, data: Schema.String, displayName: maybe(Schema.String) })
        ),
        fileData: maybe(Schema.Struct({
          mimeType: maybe(Schema.String),
          fileUri: Schema.String,
          displayName: maybe(Schema.String)
        }))
      })))
    })
  )
})

// `function`, the role older clients give a turn of function responses, is a user turn.
const Content = Schema.Struct({
  role: maybe(Schema.Literals(["user", "model", "function"])),
  parts: Schema.Array(Part)
})

// Its role, if any, is not read.
const SystemInstruction = Schema.Struct({ parts: Schema.Array(Part) })

const FunctionDeclaration = Schema.Struct({
  name: Schema.String,
  description: maybe(Schema.String),
  parameters: maybe(JsonObjectSchema),
  parametersJsonSchema: maybe(JsonObjectSchema)
})

const GenerationConfig = Schema.Struct({
  temperature: maybe(Schema.Number),
  topP: maybe(Schema.Number),
  maxOutputTokens: maybe(Schema.Number),
  stopSequences: maybe(Schema.Array(Schema.String)),
  seed: maybe(Schema.Number),
  responseMimeType: maybe(Schema.String),
  responseSchema: maybe(JsonObjectSchema),
  responseJsonSchema: maybe(JsonObjectSchema),
  thinkingConfig: maybe(Schema.Struct({
    thinkingBudget: maybe(Schema.Number),
    thinkingLevel: maybe(Schema.Literals(["THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"])),
    includeThoughts: maybe(Schema.Boolean)
  }))
})

/** A `GenerateContentRequest`, as far as the library reads it. */
export const GenerateContentRequest = Schema.Struct({
  contents: Schema.Array(Content),
  systemInstruction: maybe(SystemInstruction),
  // Each tool's kinds are checked one by one (`toolsOf`), so that a kind Google runs itself is named.
  tools: maybe(Schema.Array(JsonObjectSchema)),
  toolConfig: maybe(Schema.Struct({
    functionCallingConfig: maybe(Schema.Struct({
      mode: maybe(Schema.Literals(["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"])),
      allowedFunctionNames: maybe(Schema.Array(Schema.String))
    }))
  })),
  generationConfig: maybe(GenerationConfig)
})

/** A `countTokens` body: the contents alone, or a whole `generateContentRequest`. */
export const CountTokensRequest = Schema.Struct({
  contents: maybe(Schema.Array(Content)),
  generateContentRequest: maybe(GenerateContentRequest)
})

type Body = typeof GenerateContentRequest.Type
type WirePart = typeof Part.Type

/** `GenerateContentRequest`'s check: a parsed body as itself, or what the schema finds wrong with it. */
export const checkGenerateContent = checker(GenerateContentRequest, { errors: "first" })

export const checkCountTokens = checker(CountTokensRequest, { errors: "first" })

// A call of a model turn not answered yet: its id (Gemini's or made) and its name.
interface Pending {
  readonly id: string
  readonly name: string
}

// Gemini's own id is kept to be sent back; one `madeCallId` made is not Gemini's.
function ownMetadata(signature: string | null | undefined, id: string | undefined): ProviderMetadata | undefined {
  return withMetadata(signature ?? undefined, id !== undefined && !madeCallIdShape.test(id) ? id : undefined)
}

// An `inlineData` part: any type goes on as a data URL of it, reserved by what it is, refused by a deployment that
// cannot read it.
function inlineMedia(blob: { readonly mimeType: string; readonly data: string }): ImagePart {
  return { type: "image", url: `data:${blob.mimeType};base64,${blob.data}` }
}

// A `fileData` part: its stated type is kept where the URL does not tell it (a Files API URI, a URL of no extension).
function fileMedia(file: { readonly mimeType?: string | null | undefined; readonly fileUri: string }): ImagePart {
  const { fileUri, mimeType } = file
  return mimeType == null || mimeType.toLowerCase() === Media.mediaTypeOf({ url: fileUri })
    ? { type: "image", url: fileUri }
    : { type: "image", url: fileUri, mediaType: mimeType }
}

// An `inlineData` or `fileData` part as its media part; none for another part.
const mediaOf = (part: ResultPart): ImagePart | undefined =>
  part.inlineData != null ? inlineMedia(part.inlineData) : part.fileData != null ? fileMedia(part.fileData) : undefined

/**
 * The media types Gemini takes in a function response's `parts` (the Gemini API reference, "Function calling",
 * "Multimodal function responses"): PNG, JPEG and WebP images, PDFs and plain text.
 */
const resultMediaTypes: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/webp",
  "application/pdf",
  "text/plain"
])

/** Why a part of `mediaType` cannot go in a Gemini function response, or `undefined` when it can. */
function resultMediaRefusal(mediaType: string | undefined): string | undefined {
  if (mediaType !== undefined && resultMediaTypes.has(mediaType.toLowerCase())) return undefined
  return `${Media.describe(mediaType === undefined ? "unknown" : Media.kindOfType(mediaType), mediaType)}: ` +
    `a Gemini function response's parts take only ${[...resultMediaTypes].join(", ")}`
}

/** Each `{"$ref": name}` of a function response's `response`, in document order, each once. */
function referencesOf(value: unknown, into: Array<string> = []): Array<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencesOf(item, into)
  } else if (isJsonObject(value)) {
    const ref = value["$ref"]
    if (typeof ref === "string" && Object.keys(value).length === 1) {
      if (!into.includes(ref)) into.push(ref)
    } else {
      for (const item of Object.values(value)) referencesOf(item, into)
    }
  }
  return into
}

type ResultPart = NonNullable<NonNullable<WirePart["functionResponse"]>["parts"]>[number]

/** A media part read from the body, and where in the body it is (`contents[2].parts[0].functionResponse.parts[1]`). */
interface Placed {
  readonly part: ImagePart
  readonly at: string
}

/**
 * A function response's media parts: the ones `response` references (`{"$ref": displayName}`) first, in its order,
 * then the rest. The names are not kept: written back, the n-th part takes the n-th name `response` references, so a
 * reference to no part, or two parts of one name, are refused, as is a type Gemini does not take there.
 */
function resultMediaInto(
  parts: ReadonlyArray<ResultPart>,
  response: Readonly<Record<string, unknown>>,
  at: string,
  into: Array<Placed>
): Problem | undefined {
  const named = new Map<string, Placed>()
  const rest: Array<Placed> = []
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!
    const where = `${at}.parts[${k}]`
    const media = mediaOf(part)
    if (media === undefined) return problem(where, "expected an inlineData or fileData part")
    const refusal = resultMediaRefusal(Media.mediaTypeOf(media))
    if (refusal !== undefined) return problem(where, refusal)
    const name = (part.inlineData ?? part.fileData)?.displayName
    if (name == null) {
      rest.push({ part: media, at: where })
    } else if (named.has(name)) {
      return problem(`${where}.displayName`, `"${name}" names an earlier part too`)
    } else {
      named.set(name, { part: media, at: where })
    }
  }
  for (const ref of referencesOf(response)) {
    const part = named.get(ref)
    if (part === undefined) return problem(`${at}.response`, `"$ref": "${ref}" names none of the parts`)
    into.push(part)
    named.delete(ref)
  }
  into.push(...named.values(), ...rest)
  return undefined
}

// A user turn: its function responses as tool messages, then the rest as one user message; each one's `Origin` too.
function userTurn(
  parts: ReadonlyArray<WirePart>,
  at: string,
  into: Array<Message>,
  pending: Array<Pending>,
  origins: Array<Origin>
): Problem | undefined {
  const content: Array<ContentPart> = []
  const contentOrigins: Array<string> = []
  let results = 0
  // The responses read, by call id and their JSON: one repeated whole in its turn is read once (Gemini CLI's resumed
  // session repeats each, which the Gemini API refuses as more responses than calls).
  const read = new Set<string>()
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j]!
    const where = `${at}.parts[${j}]`
    if (part.functionResponse != null) {
      const { id, name, parts: media, response } = part.functionResponse
      const whole = id == null ? undefined : JSON.stringify(part.functionResponse)
      if (whole !== undefined && read.has(whole)) continue
      if (whole !== undefined) read.add(whole)
      const attached: Array<Placed> = []
      const refused = resultMediaInto(media ?? [], response ?? {}, `${where}.functionResponse`, attached)
      if (refused !== undefined) return refused
      const index = pending.findIndex((call) => (id != null ? call.id === id : call.name === name))
      if (index < 0 && id == null) {
        return problem(`${where}.functionResponse`, `no earlier functionCall of "${name}" is left to answer`)
      }
      const callId = index < 0 ? id! : pending[index]!.id
      if (index >= 0) pending.splice(index, 1)
      const result = JSON.stringify(response ?? {})
      into.push({
        role: "tool",
        toolCallId: callId,
        name,
        content: attached.length === 0
          ? result
          : [{ type: "text", text: result }, ...attached.map((placed) => placed.part)]
      })
      origins.push({ at: where, parts: [`${where}.functionResponse`, ...attached.map((placed) => placed.at)] })
      results++
    } else {
      const read: ContentPart | undefined = typeof part.text === "string"
        ? { type: "text", text: part.text }
        : mediaOf(part)
      if (read === undefined) {
        return part.functionCall != null
          ? problem(`${where}.functionCall`, "a functionCall part belongs in a model turn")
          : problem(where, "expected a text, inlineData, fileData or functionResponse part")
      }
      content.push(read)
      contentOrigins.push(where)
    }
  }
  if (content.length > 0 || results === 0) {
    into.push({ role: "user", content })
    origins.push({ at, parts: contentOrigins })
  }
  return undefined
}

// A model turn: its text, thoughts and function calls as one assistant message.
function modelTurn(
  parts: ReadonlyArray<WirePart>,
  at: string,
  into: Array<Message>,
  pending: Array<Pending>
): Problem | undefined {
  let text = ""
  let reasoning: string | undefined
  let signature: string | undefined
  // What the gateway carried for another provider in a call's signature (`writer.ts`), put back below.
  let carried: Carried | undefined
  const calls: Array<ToolCall> = []
  for (let j = 0; j < parts.length; j++) {
    const part = parts[j]!
    const call = part.functionCall
    if (call != null) {
      const id = call.id ?? madeCallId(calls.length)
      const state = opened(part.thoughtSignature)
      if (state !== undefined) carried = state
      const meta = ownMetadata(state === undefined ? part.thoughtSignature : undefined, call.id ?? undefined)
      const arguments_ = JSON.stringify(call.args ?? {})
      calls.push({
        id,
        name: call.name,
        arguments: arguments_,
        ...(meta === undefined ? {} : { providerMetadata: meta })
      })
      pending.push({ id, name: call.name })
    } else if (typeof part.text === "string") {
      if (part.thought === true) reasoning = (reasoning ?? "") + part.text
      else text += part.text
      if (typeof part.thoughtSignature === "string") signature = part.thoughtSignature
    } else {
      return problem(`${at}.parts[${j}]`, "a model turn takes text and functionCall parts")
    }
  }
  const own = ownMetadata(signature, undefined)
  const meta = carried?.message === undefined ? own : { ...carried.message, ...own }
  // The thoughts the client sent back, else the reasoning the gateway carried for it.
  const kept = reasoning ?? carried?.reasoning
  into.push({
    role: "assistant",
    content: text,
    ...(calls.length > 0 ? { toolCalls: calls.map((call) => restoreCall(call, carried?.calls)) } : {}),
    ...definedFields({ reasoning: kept, providerMetadata: meta })
  })
  return undefined
}

/** The check of a tool's `functionDeclarations`. */
export const checkFunctionDeclarations = checker(Schema.Array(FunctionDeclaration), { errors: "first" })

// The function declarations of `tools` pushed onto `out`, or the refusal of the kinds Google runs itself.
function toolsInto(
  tools: ReadonlyArray<Readonly<Record<string, unknown>>>,
  out: Array<ToolDefinition>
): Problem | undefined {
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
    const declarations = checkFunctionDeclarations(tool["functionDeclarations"] ?? [])
    if (Result.isFailure(declarations)) {
      const refused = problemOf(declarations.failure)
      return problem(
        `tools[${i}].functionDeclarations${refused.param ?? ""}`,
        declarations.failure.refusals[0].message
      )
    }
    for (const declaration of declarations.success) {
      const definition: Mutable<ToolDefinition> = {
        name: declaration.name,
        parameters: (declaration.parametersJsonSchema ?? jsonSchemaOf(declaration.parameters) ??
          { type: "object", properties: {} }) as ToolDefinition["parameters"]
      }
      set(definition, "description", declaration.description)
      out.push(definition)
    }
  }
  return undefined
}

function generationConfig(config: NonNullable<Body["generationConfig"]>, request: Mutable<ChatRequest>) {
  set(request, "temperature", config.temperature)
  set(request, "topP", config.topP)
  set(request, "maxTokens", config.maxOutputTokens)
  if (config.stopSequences != null && config.stopSequences.length > 0) request.stop = config.stopSequences
  set(request, "seed", config.seed)
  if (config.responseMimeType === "application/json") {
    const schema = config.responseJsonSchema ?? jsonSchemaOf(config.responseSchema)
    request.responseFormat = schema == null
      ? { type: "json_object" }
      : { type: "json_schema", name: "response", schema: schema as Readonly<Record<string, unknown>> }
  }
  const thinking = config.thinkingConfig
  if (thinking != null) {
    const level = thinking.thinkingLevel
    if (level != null && level !== "THINKING_LEVEL_UNSPECIFIED") {
      request.reasoningEffort = level.toLowerCase() as ReasoningEffort
    } else if (typeof thinking.thinkingBudget === "number" && thinking.thinkingBudget >= 0) {
      // `-1`, Gemini's "as the model decides", is no effort at all.
      const budget = thinking.thinkingBudget
      request.reasoningEffort = budget === 0 ? "none" : effortOfBudget(budget, thinkingBudgets)
    }
  }
}

function toolChoiceOf(
  config: NonNullable<Body["toolConfig"]>["functionCallingConfig"],
  request: Mutable<ChatRequest>
) {
  if (config == null) return
  const allowed = config.allowedFunctionNames ?? []
  if (config.mode === "ANY") {
    request.toolChoice = allowed.length === 1 ? { tool: allowed[0]! } : "required"
    if (allowed.length > 1) request.tools = request.tools?.filter((tool) => allowed.includes(tool.name))
  } else if (config.mode === "NONE") request.toolChoice = "none"
  else if (config.mode === "AUTO" || config.mode === "VALIDATED") request.toolChoice = "auto"
}

/** A checked body as the library's request, or what is wrong with it; `origins` gets where each message came from. */
export function toRequest(body: Body, origins: Array<Origin> = []): Result.Result<ChatRequest, Problem> {
  const messages: Array<Message> = []
  const system = body.systemInstruction?.parts ?? []
  for (let j = 0; j < system.length; j++) {
    const part = system[j]!
    if (typeof part.text === "string") {
      messages.push({ role: "system", content: part.text })
      origins.push({ at: `systemInstruction.parts[${j}]`, parts: [] })
    }
  }
  const pending: Array<Pending> = []
  for (let i = 0; i < body.contents.length; i++) {
    const { parts, role } = body.contents[i]!
    const at = `contents[${i}]`
    if (role === "model") {
      const refused = modelTurn(parts, at, messages, pending)
      if (refused !== undefined) return Result.fail(refused)
      origins.push({ at, parts: [] })
    } else {
      const refused = userTurn(parts, at, messages, pending, origins)
      if (refused !== undefined) return Result.fail(refused)
    }
  }
  const request: Mutable<ChatRequest> = { messages }
  if (body.tools != null) {
    const tools: Array<ToolDefinition> = []
    const refused = toolsInto(body.tools, tools)
    if (refused !== undefined) return Result.fail(refused)
    if (tools.length > 0) request.tools = tools
  }
  toolChoiceOf(body.toolConfig?.functionCallingConfig, request)
  if (body.generationConfig != null) generationConfig(body.generationConfig, request)
  return Result.succeed(request)
}

/** A checked `countTokens` body as the request whose prompt is counted, or what is wrong with it. */
export function countRequest(body: typeof CountTokensRequest.Type): Result.Result<ChatRequest, Problem> {
  return toRequest(body.generateContentRequest ?? { contents: body.contents ?? [] })
}

// The request's fields as the wire names them, where the library's differ.
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
 * A path of the library's request (`maxTokens`, `tools[0].parameters`) as the Gemini body writes it, a message's placed
 * by `origins` (from `toRequest`) at the part it came from (`contents[2].parts[0].functionResponse.parts[1]`), else its
 * content (`contents[2]`); without its origin, `contents`.
 */
export function geminiPath(path: string, origins: ReadonlyArray<Origin> = []): string {
  return path.replace(
    /^messages(?:\[(\d+)\](?:\.content\[(\d+)\](\S*)|\S*))?/,
    (_, i?: string, j?: string, rest?: string) => {
      const origin = i === undefined ? undefined : origins[Number(i)]
      if (origin === undefined) return "contents"
      const part = j === undefined ? undefined : origin.parts[Number(j)]
      return part === undefined ? origin.at : `${part}${rest ?? ""}`
    }
  )
    .replace(
      /^(temperature|topP|maxTokens|stop|seed|reasoningEffort|responseFormat|toolChoice)\b/,
      (name) => renamed[name]!
    )
    .replace(/^tools\[(\d+)\]\.parameters/, "tools[0].functionDeclarations[$1].parameters")
}

// ---------------------------------------------------------------------------
// The request body, written: the library's request as the body a client sends

/**
 * A media part: a `data:` URL becomes `inlineData`, any other URL `fileData`; a `fileData` without a told media type
 * goes without one (a Files API URI, a YouTube URL, whose type Gemini knows).
 */
function imagePart(part: ImagePart, where: string): JsonObject {
  const url = part.url
  const type = Media.mediaTypeOf(part)
  if (url.startsWith("data:")) {
    const comma = url.indexOf(",")
    if (comma < 0) throw new RequestError("an image data: URL has no data", where)
    const mimeType = type ?? "application/octet-stream"
    let data: string
    try {
      data = base64Payload(url.slice(comma + 1), url.slice(5, comma).split(";").includes("base64"))
    } catch {
      throw new RequestError("an image data: URL is not valid percent-encoded text", where)
    }
    return { inlineData: { mimeType, data } }
  }
  return { fileData: type === undefined || type.endsWith("/*") ? { fileUri: url } : { mimeType: type, fileUri: url } }
}

/** A user message's parts, without the empty texts Gemini refuses (`wire/emptyText.ts`): none where all are. */
function userParts(content: string | ReadonlyArray<ContentPart>, where: string): Array<JsonObject> {
  if (typeof content === "string") return isEmpty(content) ? [] : [{ text: content }]
  const parts: Array<JsonObject> = []
  content.forEach((part, i) => {
    if (part.type === "text" && isEmpty(part.text)) return
    parts.push(part.type === "text" ? { text: part.text } : imagePart(part, `${where}.content[${i}].url`))
  })
  return parts
}

/**
 * The signature the Gemini API docs (thought signatures) name for a call it did not sign, as from another model or a
 * client that cannot keep signatures: without one, the API refuses the first function call of a step.
 */
const unsignedCallSignature = "skip_thought_signature_validator"

/** The stand-ins the Gemini API docs (thought signatures) name, which it takes for any call without checking them. */
export const standInSignatures: ReadonlySet<string> = new Set([
  unsignedCallSignature,
  "context_engineering_is_the_way_to_go"
])

function modelParts(message: AssistantMessage, where: string): Array<JsonObject> {
  const parts: Array<JsonObject> = []
  const signature = metadataOf(message.providerMetadata)?.thoughtSignature
  if (message.content !== "" || (signature !== undefined && (message.toolCalls?.length ?? 0) === 0)) {
    parts.push(
      signature === undefined ? { text: message.content } : { text: message.content, thoughtSignature: signature }
    )
  }
  message.toolCalls?.forEach((call, i) => {
    const meta = metadataOf(call.providerMetadata)
    const args = requestArguments(call, "Gemini", `${where}.toolCalls[${i}].arguments`)
    const functionCall: JsonObject = { name: call.name, args }
    if (meta?.id !== undefined) functionCall["id"] = meta.id
    const signed = meta?.signedArguments === undefined || meta.signedArguments === argumentsDigest(args)
    // The first call of a step must be signed.
    const thoughtSignature = (signed ? meta?.thoughtSignature : undefined) ??
      (i === 0 ? unsignedCallSignature : undefined)
    parts.push(thoughtSignature === undefined ? { functionCall } : { functionCall, thoughtSignature })
  })
  return parts
}

/** The call a tool result answers: the nearest earlier assistant call with its id. */
function callOf(messages: ReadonlyArray<Message>, index: number, id: string): ToolCall | undefined {
  for (let i = index - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant" || message.toolCalls === undefined) continue
    const call = message.toolCalls.find((c) => c.id === id)
    if (call !== undefined) return call
  }
  return undefined
}

/** `response` must be an object: a JSON object result is sent as it is, anything else as `{result}`. */
function responseOf(content: string): JsonObject {
  const trimmed = content.trim()
  if (
    trimmed.startsWith("{") || trimmed.startsWith("[") || trimmed === "true" || trimmed === "false" ||
    /^-?\d/.test(trimmed)
  ) {
    try {
      const value: unknown = JSON.parse(trimmed)
      return isJsonObject(value) ? value : { result: value }
    } catch {
      // Not JSON after all: sent as text.
    }
  }
  return { result: content }
}

function functionResponse(messages: ReadonlyArray<Message>, index: number, message: ToolMessage): JsonObject {
  const call = callOf(messages, index, message.toolCallId)
  const name = message.name ?? call?.name
  if (name === undefined) {
    throw new RequestError(
      `the tool result for call ${message.toolCallId} names no tool and no earlier assistant message has that call; ` +
        `Gemini matches results by name`,
      `messages[${index}].name`
    )
  }
  const id = metadataOf(call?.providerMetadata)?.id
  const content = typeof message.content === "string" ? [] : message.content
  const response = responseOf(textOf(message.content))
  const out: JsonObject = { name, response }
  if (id !== undefined) out["id"] = id
  const names = referencesOf(response)
  const parts: Array<JsonObject> = []
  content.forEach((part, j) => {
    if (part.type === "text") return
    const where = `messages[${index}].content[${j}]`
    const refusal = resultMediaRefusal(Media.mediaTypeOf(part))
    if (refusal !== undefined) throw new RequestError(`${where} is ${refusal}`, where)
    const written = imagePart(part, `${where}.url`)
    const name = names[parts.length]
    if (name !== undefined) {
      for (const field of ["inlineData", "fileData"]) {
        if (isJsonObject(written[field])) written[field] = { ...written[field], displayName: name }
      }
    }
    parts.push(written)
  })
  if (parts.length > 0) out["parts"] = parts
  return { functionResponse: out }
}

function hasProperties(schema: JsonObject): boolean {
  const properties = schema["properties"]
  return isJsonObject(properties) && Object.keys(properties).length > 0
}

function declarationOf(tool: ToolDefinition, index: number): JsonObject {
  const declaration = namedTool(tool)
  const parameters = geminiSchema(tool.parameters, `tools[${index}].parameters`)
  // Gemini rejects an object schema with no properties: a tool without arguments declares none.
  if (isJsonObject(parameters) && !(parameters["type"] === "object" && !hasProperties(parameters))) {
    declaration["parameters"] = parameters
  }
  return declaration
}

function toolConfig(choice: ToolChoice): JsonObject {
  if (typeof choice !== "string") {
    return { functionCallingConfig: { mode: "ANY", allowedFunctionNames: [choice.tool] } }
  }
  const mode = choice === "auto" ? "AUTO" : choice === "none" ? "NONE" : "ANY"
  return { functionCallingConfig: { mode } }
}

/**
 * `json_schema` goes as `responseSchema`, the schema converted to Gemini's OpenAPI subset (`geminiSchema`), rather than
 * `responseJsonSchema`: every Gemini model takes it, where the JSON Schema field is newer and not on every model; the
 * conversion is the one tool parameters already go through.
 */
function responseFormat(format: ResponseFormat, config: JsonObject): void {
  if (format.type === "text") return
  config["responseMimeType"] = "application/json"
  if (format.type === "json_schema") config["responseSchema"] = geminiSchema(format.schema, "responseFormat.schema")
}

/**
 * Merges `providerOptions` into the body: objects key by key (`{generationConfig: {topK: 40}}` keeps the other
 * generation settings), a `null` removes a key, anything else replaces it.
 */
export function mergeOptions(target: JsonObject, options: Readonly<Record<string, unknown>>): JsonObject {
  for (const key of Object.keys(options)) {
    const value = options[key]
    const current = target[key]
    if (value === null) delete target[key]
    else if (isJsonObject(value) && isJsonObject(current)) target[key] = mergeOptions({ ...current }, value)
    else target[key] = value
  }
  return target
}

/** The most stop sequences Gemini takes (its `GenerationConfig` reference: up to five). */
export const maxStop = 5

/**
 * The JSON body of `:generateContent` and `:streamGenerateContent`; throws `RequestError` for what Gemini cannot be
 * sent. No tools means no `toolConfig`, as Gemini refuses a function calling config without declarations. Gemini has
 * no `parallelToolCalls`, `serviceTier`, `promptCacheKey` nor `previousResponse`, and takes five stop sequences at
 * most (`maxStop`). Empty texts and a message left with nothing are left out, as Gemini refuses them
 * (`wire/emptyText.ts`).
 */
export function requestBody(request: ChatRequest): JsonObject {
  const messages = request.messages
  const system: Array<JsonObject> = []
  const contents: Array<JsonObject> = []
  // The user content that holds the latest run of tool results, while it lasts.
  let results: Array<JsonObject> | undefined
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const where = `messages[${i}]`
    switch (message.role) {
      case "system":
        if (!isEmpty(message.content)) system.push({ text: message.content })
        continue
      case "user":
      case "assistant": {
        // A message with no part Gemini takes is left out: it refuses a content without parts.
        const user = message.role === "user"
        const parts = user ? userParts(message.content, where) : modelParts(message, where)
        if (parts.length === 0) continue
        contents.push({ role: user ? "user" : "model", parts })
        break
      }
      case "tool": {
        const part = functionResponse(messages, i, message)
        if (results !== undefined) {
          results.push(part)
        } else {
          results = [part]
          contents.push({ role: "user", parts: results })
        }
        continue
      }
    }
    results = undefined
  }
  const body: JsonObject = { contents }
  if (system.length > 0) body["systemInstruction"] = { parts: system }
  if (request.tools !== undefined && request.tools.length > 0) {
    body["tools"] = [{ functionDeclarations: request.tools.map(declarationOf) }]
    if (request.toolChoice !== undefined) body["toolConfig"] = toolConfig(request.toolChoice)
  }
  const config: JsonObject = {}
  if (request.temperature !== undefined) config["temperature"] = request.temperature
  if (request.topP !== undefined) config["topP"] = request.topP
  if (request.maxTokens !== undefined) config["maxOutputTokens"] = request.maxTokens
  if (request.stop !== undefined && request.stop.length > 0) config["stopSequences"] = request.stop.slice(0, maxStop)
  if (request.seed !== undefined) config["seed"] = request.seed
  if (request.responseFormat !== undefined) responseFormat(request.responseFormat, config)
  if (request.reasoningEffort !== undefined) {
    const budget = thinkingBudgets[request.reasoningEffort]
    config["thinkingConfig"] = budget === 0 ? { thinkingBudget: 0 } : { thinkingBudget: budget, includeThoughts: true }
  }
  if (Object.keys(config).length > 0) body["generationConfig"] = config
  if (request.providerOptions !== undefined) mergeOptions(body, request.providerOptions)
  return body
}

// ---------------------------------------------------------------------------
// The reply and the streamed chunk: the schema, finish reasons and usage both ways

/** A `ModalityTokenCount`: the tokens of one modality (`TEXT`, `IMAGE`, `VIDEO`, `AUDIO`, `DOCUMENT`). */
const ModalityTokenCount = Schema.Struct({
  modality: maybe(Schema.Literals(["MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "VIDEO", "AUDIO", "DOCUMENT"])),
  tokenCount: maybe(Schema.Number)
})

const UsageMetadata = Schema.Struct({
  promptTokenCount: maybe(Schema.Number),
  candidatesTokenCount: maybe(Schema.Number),
  thoughtsTokenCount: maybe(Schema.Number),
  cachedContentTokenCount: maybe(Schema.Number),
  toolUsePromptTokenCount: maybe(Schema.Number),
  totalTokenCount: maybe(Schema.Number),
  promptTokensDetails: maybe(Schema.Array(ModalityTokenCount)),
  candidatesTokensDetails: maybe(Schema.Array(ModalityTokenCount))
})

const Candidate = Schema.Struct({
  content: maybe(Schema.Struct({ role: maybe(Schema.String), parts: maybe(Schema.Array(Part)) })),
  finishReason: maybe(Schema.String),
  index: maybe(Schema.Number)
})

/** A `GenerateContentResponse`, a whole reply or a streamed chunk, as far as the hand readers below read it. */
export const GenerateContentResponse = Schema.Struct({
  candidates: maybe(Schema.Array(Candidate)),
  promptFeedback: maybe(Schema.Struct({ blockReason: maybe(Schema.String), blockReasonMessage: maybe(Schema.String) })),
  usageMetadata: maybe(UsageMetadata),
  modelVersion: maybe(Schema.String),
  responseId: maybe(Schema.String)
})

const filterReasons: ReadonlySet<string> = new Set([
  "SAFETY",
  "RECITATION",
  "BLOCKLIST",
  "PROHIBITED_CONTENT",
  "SPII",
  "IMAGE_SAFETY",
  "IMAGE_PROHIBITED_CONTENT",
  "IMAGE_RECITATION"
])

/** Gemini has no tool-call reason: a reply with function calls ends with `STOP`. */
export function finishReason(reason: unknown, hasCalls: boolean): FinishReason {
  if (reason === "STOP") return hasCalls ? "tool_calls" : "stop"
  if (reason === "MAX_TOKENS") return "length"
  if (typeof reason === "string" && filterReasons.has(reason)) return "content_filter"
  return "other"
}

// Each finish reason as the wire's.
const wireFinishReasons: Readonly<Record<FinishReason, string>> = {
  stop: "STOP",
  tool_calls: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
  other: "OTHER"
}

/** The library's finish reason as the wire's: `stop` and `tool_calls` are both `STOP`. */
export function wireFinishReason(reason: FinishReason): string {
  return wireFinishReasons[reason]
}

/** The `AUDIO` entry's count of a list of `ModalityTokenCount`s; undefined when it has none. */
function audioOf(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined
  for (const entry of details) {
    if (isJsonObject(entry) && entry["modality"] === "AUDIO") return tokenCount(entry["tokenCount"])
  }
  return undefined
}

/**
 * Usage from `usageMetadata`: thoughts are part of the completion, as OpenAI counts reasoning.
 * `toolUsePromptTokenCount` (a tool Gemini runs itself, such as Google Search, read back to the model) is not in
 * `promptTokenCount` but is billed as input (the Gemini API's `UsageMetadata` reference), so it counts as prompt.
 */
export function usage(value: unknown): Usage | undefined {
  if (!isJsonObject(value)) return undefined
  const promptTokens = tokenCount(value["promptTokenCount"]) + tokenCount(value["toolUsePromptTokenCount"])
  const reasoningTokens = tokenCount(value["thoughtsTokenCount"])
  const completionTokens = tokenCount(value["candidatesTokenCount"]) + reasoningTokens
  const usage = reportedUsage(
    promptTokens,
    completionTokens,
    value["totalTokenCount"],
    tokenCount(value["cachedContentTokenCount"]),
    reasoningTokens
  )
  return withReported(usage, {
    audioPrompt: audioOf(value["promptTokensDetails"]),
    audioCompletion: audioOf(value["candidatesTokensDetails"])
  })
}

/** The counts `usageMetadata` writes. */
export type UsageCounts = Pick<
  Usage,
  | "promptTokens"
  | "completionTokens"
  | "totalTokens"
  | "cachedPromptTokens"
  | "reasoningTokens"
  | "audioPromptTokens"
  | "audioCompletionTokens"
>

/**
 * `usage` as `usageMetadata`: `candidatesTokenCount` leaves out the thoughts; zero counts are left out, as Gemini
 * leaves them out.
 */
export function usageMetadata(usage: UsageCounts): typeof UsageMetadata.Type {
  const heard = usage.audioPromptTokens ?? 0
  const spoken = usage.audioCompletionTokens ?? 0
  return {
    promptTokenCount: usage.promptTokens,
    candidatesTokenCount: usage.completionTokens - usage.reasoningTokens,
    totalTokenCount: usage.totalTokens,
    ...(usage.cachedPromptTokens > 0 ? { cachedContentTokenCount: usage.cachedPromptTokens } : {}),
    ...(usage.reasoningTokens > 0 ? { thoughtsTokenCount: usage.reasoningTokens } : {}),
    ...(heard > 0 ? { promptTokensDetails: [{ modality: "AUDIO", tokenCount: heard }] } : {}),
    ...(spoken > 0 ? { candidatesTokensDetails: [{ modality: "AUDIO", tokenCount: spoken }] } : {})
  }
}

// ---------------------------------------------------------------------------
// The reply and the streamed chunk, read

/** The count of a `countTokens` reply (`{totalTokens}`); throws `ShapeError` when it has none. */
export function totalTokensOf(body: JsonObject): number {
  return countAt(body, "totalTokens")
}

/** Whether a parsed body or event is `{"error": {...}}`. */
export function isErrorPayload(value: JsonObject): boolean {
  return value["error"] != null
}

/** The first candidate, or undefined when there is none. */
export function candidateOf(body: JsonObject): JsonObject | undefined {
  const candidates = body["candidates"]
  if (candidates == null) return undefined
  if (!Array.isArray(candidates)) throw new ShapeError("candidates is not an array")
  const first: unknown = candidates[0]
  if (first === undefined) return undefined
  return requireObject(first, "candidates[0]")
}

/** Why the prompt was blocked (`promptFeedback.blockReason`), with Gemini's message when it sent one. */
export function blockedDetail(body: JsonObject): string | undefined {
  const feedback = body["promptFeedback"]
  if (!isJsonObject(feedback)) return undefined
  const reason = feedback["blockReason"]
  if (typeof reason !== "string" || reason === "") return undefined
  const message = feedback["blockReasonMessage"]
  return `the prompt was blocked (${reason})${typeof message === "string" && message !== "" ? `: ${message}` : ""}`
}

/** The parts of a candidate's content (an empty list when it has none, as after SAFETY). */
export function partsOf(candidate: JsonObject): ReadonlyArray<unknown> {
  const content = candidate["content"]
  if (content == null) return []
  const parts = requireObject(content, "candidate.content")["parts"]
  if (parts == null) return []
  if (!Array.isArray(parts)) throw new ShapeError("candidate.content.parts is not an array")
  return parts
}

/** What one part is, for the reply and for stream chunks alike. */
export type ReadPart =
  | { readonly _tag: "Text"; readonly text: string; readonly thought: boolean; readonly signature: string | undefined }
  | { readonly _tag: "Call"; readonly call: (index: number, reply: string) => ToolCall }
  | { readonly _tag: "Other"; readonly signature: string | undefined }

function optionalSignature(part: JsonObject): string | undefined {
  const signature = part["thoughtSignature"]
  return typeof signature === "string" && signature !== "" ? signature : undefined
}

/** Reads a part; a function call becomes a `ToolCall` once its index in the reply and the reply's id are known. */
export function partOf(raw: unknown): ReadPart {
  if (!isJsonObject(raw)) throw new ShapeError("a part is not an object")
  const signature = optionalSignature(raw)
  const text = raw["text"]
  if (typeof text === "string") return { _tag: "Text", text, thought: raw["thought"] === true, signature }
  const fn = raw["functionCall"]
  if (isJsonObject(fn)) {
    const name = fn["name"]
    if (typeof name !== "string") throw new ShapeError("functionCall.name is not a string")
    const args = fn["args"]
    const id = typeof fn["id"] === "string" && fn["id"] !== "" ? fn["id"] : undefined
    const json = args == null ? "{}" : JSON.stringify(args)
    return {
      _tag: "Call",
      call: (index, reply) => {
        const metadata = withMetadata(signature, id, signature === undefined ? undefined : argumentsDigest(args))
        return metadata === undefined
          ? { id: id ?? madeCallId(index, reply), name, arguments: json }
          : { id: id ?? madeCallId(index, reply), name, arguments: json, providerMetadata: metadata }
      }
    }
  }
  return { _tag: "Other", signature }
}

/** The reply-level metadata: the signature Gemini put on a part other than a function call. */
export function replyMetadata(signature: string | undefined): ProviderMetadata | undefined {
  return signature === undefined ? undefined : { [metadataKey]: { thoughtSignature: signature } }
}

/** Reads a non-streaming reply with a candidate; throws `ShapeError` when it is not one. */
export function reply(body: JsonObject, candidate: JsonObject): Reply {
  let text = ""
  let reasoning: string | undefined
  let signature: string | undefined
  const toolCalls: Array<ToolCall> = []
  for (const raw of partsOf(candidate)) {
    const part = partOf(raw)
    switch (part._tag) {
      case "Text":
        if (part.thought) reasoning = (reasoning ?? "") + part.text
        else text += part.text
        break
      case "Call":
        toolCalls.push(part.call(toolCalls.length, replyId(body["responseId"])))
        continue
    }
    if (part.signature !== undefined) signature = part.signature
  }
  return {
    id: replyId(body["responseId"]),
    model: replyModel(body["modelVersion"]),
    text,
    reasoning,
    toolCalls,
    finishReason: finishReason(candidate["finishReason"], toolCalls.length > 0),
    usage: usage(body["usageMetadata"]),
    providerMetadata: replyMetadata(signature)
  }
}

// ---------------------------------------------------------------------------
// The reply and the streamed chunk, written

/** A part as the writers build it. */
export type WrittenPart = Record<string, unknown>

/** `part` with the thought signature `metadata` holds, if any, on it. */
export function signed(part: WrittenPart, metadata: ProviderMetadata | undefined): WrittenPart {
  const signature = metadataOf(metadata)?.thoughtSignature
  return signature === undefined ? part : { ...part, thoughtSignature: signature }
}

/** A tool call as the writers take it: without an id, the call is written as the models that give none write it. */
export type WrittenCall = Pick<ToolCall, "name" | "arguments" | "providerMetadata"> & { readonly id?: string }

/** A tool call as a `functionCall` part, its arguments as an object, its signature beside it. */
export function callPart(call: WrittenCall): WrittenPart {
  const args = replyArguments(call)
  const functionCall = call.id === undefined ? { name: call.name, args } : { id: call.id, name: call.name, args }
  return signed({ functionCall }, call.providerMetadata)
}

// Metadata that is not a Gemini deployment's own (another provider's state, which no Gemini part holds).
function foreignMetadata(metadata: ProviderMetadata | undefined): ProviderMetadata | undefined {
  if (metadata === undefined) return undefined
  const { [metadataKey]: _own, ...rest } = metadata
  return Object.keys(rest).length === 0 ? undefined : rest
}

/**
 * A reply's calls as `functionCall` parts. Another provider's state for the next turn (signed thinking, encrypted
 * reasoning) and the reply's `reasoning` ride in the gateway's envelope (`wire/carried.ts`) as the first call's
 * `thoughtSignature`: Gemini's clients send a call's signature back, as the Gemini API's thought signatures page asks,
 * but keep no thought part in their history.
 */
export function callParts(
  calls: ReadonlyArray<WrittenCall>,
  metadata: ProviderMetadata | undefined,
  reasoning: string | undefined
): Array<WrittenPart> {
  // A Gemini deployment's reply (its signatures, its call ids) carries itself: nothing of another provider's to carry,
  // and no thought text, which the Gemini API never takes back.
  const own = metadataOf(metadata) !== undefined ||
    calls.some((call) => metadataOf(call.providerMetadata) !== undefined)
  const carried = calls.length === 0 || own ? undefined : envelopeOf(
    foreignMetadata(metadata),
    calls.flatMap((call) => call.id === undefined ? [] : [[call.id, foreignMetadata(call.providerMetadata)] as const]),
    reasoning
  )
  return calls.map((call, i) =>
    i === 0 && carried !== undefined ? { ...callPart(call), thoughtSignature: carried } : callPart(call)
  )
}

/**
 * What a chunk says of the reply so far: its usage (Gemini writes the running counts on every chunk, a writer may
 * leave them to the last), and, on the last chunk, its finish reason.
 */
export interface End {
  readonly reason?: FinishReason | undefined
  readonly usage: UsageCounts
}

/** A `GenerateContentResponse` of `parts` (a whole reply, or a chunk of only new parts), with its end if it ends. */
export function chunk(parts: ReadonlyArray<WrittenPart>, id: string, model: string, end?: End): string {
  return JSON.stringify({
    candidates: [{
      content: { role: "model", parts },
      ...(end?.reason !== undefined ? { finishReason: wireFinishReason(end.reason) } : {}),
      index: 0
    }],
    ...(end !== undefined ? { usageMetadata: usageMetadata(end.usage) } : {}),
    modelVersion: model,
    responseId: id
  })
}

/** What a whole reply writes: the library's reply, or the simulator's in its terms. */
export interface WrittenReply
  extends Pick<ChatResponse, "text" | "reasoning" | "refusal" | "finishReason" | "providerMetadata">
{
  readonly toolCalls: ReadonlyArray<WrittenCall>
  readonly usage: UsageCounts
}

/**
 * A reply's refusal (OpenAI's `refusal`) as a part: Gemini has no field for one, so its words are a text part of their
 * own after the reply's text, which clients read as the reply's text, whole and streamed.
 */
export function refusalPart(refusal: string): WrittenPart {
  return { text: refusal }
}

/** A whole reply as a `GenerateContentResponse` of id `id`, under the model the client asked for. */
export function response(reply: WrittenReply, id: string, model: string): string {
  const parts: Array<WrittenPart> = []
  if (reply.reasoning !== undefined) parts.push({ text: reply.reasoning, thought: true })
  if (reply.text !== "" || reply.toolCalls.length === 0) {
    parts.push(signed({ text: reply.text }, reply.providerMetadata))
  }
  if (reply.refusal !== undefined) parts.push(refusalPart(reply.refusal))
  parts.push(...callParts(reply.toolCalls, reply.providerMetadata, reply.reasoning))
  return chunk(parts, id, model, { reason: reply.finishReason, usage: reply.usage })
}

/** Why a prompt was blocked, as `promptFeedback` says it. */
export interface PromptFeedback {
  /** `SAFETY`, `BLOCKLIST`, `PROHIBITED_CONTENT`... */
  readonly blockReason: string
  readonly blockReasonMessage?: string
  /** The ratings that blocked it (`{category, probability, blocked}`). */
  readonly safetyRatings?: ReadonlyArray<JsonObject>
}

/**
 * A reply to a blocked prompt as a `GenerateContentResponse` of id `id` under `model`: its `promptFeedback` and no
 * candidates, only the prompt's `promptTokens` counted. The stream sends it as its only event.
 */
export function blockedResponse(feedback: PromptFeedback, promptTokens: number, id: string, model: string): string {
  return JSON.stringify({
    promptFeedback: feedback,
    usageMetadata: { promptTokenCount: promptTokens, totalTokenCount: promptTokens },
    modelVersion: model,
    responseId: id
  })
}

/** A `countTokens` reply: the prompt's `tokens`. */
export function countReply(tokens: number): string {
  return JSON.stringify({ totalTokens: tokens })
}

// ---------------------------------------------------------------------------
// The error body (`google.rpc.Status`)

/** Google's error body, as far as the library reads it. */
export const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    code: Schema.Number,
    message: Schema.String,
    status: Schema.String,
    details: maybe(Schema.Array(JsonObjectSchema))
  })
})

const statusNames: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  412: "FAILED_PRECONDITION",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED"
}

/**
 * The gRPC code name Google's APIs give an HTTP status in an error body (`error.status`): a request they cannot take
 * is `INVALID_ARGUMENT`, an unnamed server failure `INTERNAL`.
 */
export function statusName(code: number): string {
  return statusNames[code] ?? (code >= 500 ? "INTERNAL" : "INVALID_ARGUMENT")
}

/** The JSON text of Google's error body for HTTP status `code`, with its `details` (`google.rpc.ErrorInfo`, ...). */
export function errorJson(code: number, message: string, details?: ReadonlyArray<unknown>): string {
  return JSON.stringify({
    error: { code, message, status: statusName(code), ...(details !== undefined ? { details } : {}) }
  })
}
