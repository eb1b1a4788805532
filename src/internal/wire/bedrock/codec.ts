/**
 * The Amazon Bedrock Converse wire (the Amazon Bedrock API reference: `Converse`, `ConverseStream`), in both
 * directions: the request (`toRequest` for the simulator, `requestBody` for the client; the model is the path's, never
 * the body's), the reply (`reply`, `response`), the stream's events (`StreamReader`; their framing is
 * `eventStream.ts`'s and `writer.ts`'s) and the error body (`{"message": ...}`, its type in the `x-amzn-errortype`
 * header or a stream exception's `:exception-type`).
 *
 * Converse wants roles to alternate, so messages of one role in a row share a turn, and a tool message is a
 * `toolResult` block of the user turn after the calls. It reads images only as bytes (a `data:` URL), requires each
 * document name once in a request, and refuses tool blocks without a `toolConfig`: a request whose tools cannot be
 * called sends its history's calls and results as text. Reasoning goes back only with Bedrock's signature
 * (`providerMetadata.bedrock`), and `reasoningEffort` is carried for Claude only (`thinkingOf`). Usage: `inputTokens`
 * leaves out the cache's reads and writes, so the prompt is all three.
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Mutable } from "effect/Types"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { Input as ChatRequest, ToolChoice } from "../../../ChatRequest.js"
import type { FinishReason, Usage } from "../../../ChatResponse.js"
import type {
  AssistantMessage,
  CacheBreakpoint,
  ContentPart,
  ImagePart,
  Message,
  ProviderMetadata,
  ToolCall,
  ToolDefinition,
  ToolMessage
} from "../../../Message.js"
import { RequestError, ShapeError } from "../../codecError.js"
import { definedFields, pickDefined, requestArguments, requireArray, requireObject } from "../../json.js"
import { isJsonObject, type JsonObject, JsonObjectSchema } from "../../json.js"
import { ownValue } from "../../ownValue.js"
import type { Reply } from "../../providers/adapter.js"
import { checker, maybe, Problem, set } from "../../schemaCheck.js"
import * as Media from "../../tokens/media.js"
import { defaultMaxTokens } from "../anthropic/options.js"
import { finishReason as anthropicFinishReason, stopReason as anthropicStopReason } from "../anthropic/reply.js"
import { longContextBeta, minThinkingBudget, takesOutputFormat, thinkingBudgets } from "../anthropic/request.js"
import { breakpointBlock, breakpointOf, breakpointSchema } from "../breakpoint.js"
import { breakpointPlaces, limitBreakpoints, type Place } from "../cacheLifetime.js"
import { base64Payload, requireImage } from "../contentKinds.js"
import { effortOfBudget } from "../effort.js"
import { isBlank } from "../emptyText.js"
import { mergeOptions } from "../gemini/codec.js"
import { outputFinishReason, outputTool, outputToolName } from "../outputTool.js"
import { problem } from "../problem.js"
import * as ServiceTier from "../serviceTier.js"
import { namedTool } from "../toolDeclaration.js"
import { countAt, reportedUsage, tokenCount } from "../usage.js"

// ---------------------------------------------------------------------------
// What the two directions share

/** The key of Bedrock's entry in `providerMetadata`: the signature of a reply's reasoning. */
export const metadataKey = "bedrock"

/** The reasoning signature `providerMetadata.bedrock` keeps, if any. */
export function signatureOf(metadata: ProviderMetadata | undefined): string | undefined {
  const value = metadata?.[metadataKey]
  return isJsonObject(value) && typeof value["reasoningSignature"] === "string"
    ? value["reasoningSignature"]
    : undefined
}

/** The reply's `providerMetadata` for a reasoning signature, when there is one. */
export function replyMetadata(signature: string | undefined): ProviderMetadata | undefined {
  return signature === undefined ? undefined : { [metadataKey]: { reasoningSignature: signature } }
}

/** The image formats Converse takes, by MIME type. */
const imageFormats: Readonly<Record<string, string>> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/jpg": "jpeg",
  "image/gif": "gif",
  "image/webp": "webp"
}

// ---------------------------------------------------------------------------
// The request body: its schema, and its mapping to the library's request

// The Converse API reference's `CachePointBlock`: its `ttl`, `5m` or `1h`, else the default five minutes.
const CachePoint = breakpointSchema("default")

const ImageBlock = Schema.Struct({
  format: Schema.Literals(["png", "jpeg", "gif", "webp"]),
  source: Schema.Struct({ bytes: Schema.String })
})

// A document by its bytes; the formats Converse names that no dialect of the library carries (Word, Excel) are read
// to be refused by their path.
const DocumentBlock = Schema.Struct({
  format: Schema.Literals(["pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md"]),
  name: Schema.String,
  source: Schema.Struct({ bytes: Schema.String })
})

// Converse's `ToolResultContentBlock`: text, JSON, an image or a document (a video there is not read).
export const ToolResultContent = Schema.Struct({
  text: maybe(Schema.String),
  json: maybe(Schema.Unknown),
  image: maybe(ImageBlock),
  document: maybe(DocumentBlock)
})

/** A content block of a message: one of its fields is set. */
export const ContentBlock = Schema.Struct({
  text: maybe(Schema.String),
  image: maybe(ImageBlock),
  document: maybe(DocumentBlock),
  toolUse: maybe(Schema.Struct({ toolUseId: Schema.String, name: Schema.String, input: Schema.Unknown })),
  toolResult: maybe(Schema.Struct({
    toolUseId: Schema.String,
    content: Schema.Array(ToolResultContent),
    status: maybe(Schema.Literals(["success", "error"]))
  })),
  reasoningContent: maybe(Schema.Struct({
    reasoningText: maybe(Schema.Struct({ text: Schema.String, signature: maybe(Schema.String) })),
    redactedContent: maybe(Schema.String)
  })),
  cachePoint: maybe(CachePoint)
})

const WireMessage = Schema.Struct({
  role: Schema.Literals(["user", "assistant"]),
  content: Schema.Array(ContentBlock)
})

const SystemBlock = Schema.Struct({ text: maybe(Schema.String), cachePoint: maybe(CachePoint) })

const Tool = Schema.Struct({
  toolSpec: maybe(Schema.Struct({
    name: Schema.String,
    description: maybe(Schema.String),
    inputSchema: Schema.Struct({ json: JsonObjectSchema })
  })),
  cachePoint: maybe(CachePoint)
})

/** A `Converse` (and `ConverseStream`) body, as far as the library reads it. */
export const ConverseRequest = Schema.Struct({
  messages: Schema.Array(WireMessage),
  system: maybe(Schema.Array(SystemBlock)),
  inferenceConfig: maybe(Schema.Struct({
    maxTokens: maybe(Schema.Number),
    temperature: maybe(Schema.Number),
    topP: maybe(Schema.Number),
    stopSequences: maybe(Schema.Array(Schema.String))
  })),
  toolConfig: maybe(Schema.Struct({
    tools: Schema.Array(Tool),
    toolChoice: maybe(Schema.Struct({
      auto: maybe(JsonObjectSchema),
      any: maybe(JsonObjectSchema),
      tool: maybe(Schema.Struct({ name: Schema.String }))
    }))
  })),
  // The `ServiceTier` reference's values; any other is refused, as the API refuses it.
  serviceTier: maybe(Schema.Struct({ type: Schema.Literals(["priority", "default", "flex", "reserved"]) })),
  // The model's own fields, which Converse passes on (Claude's `thinking` among them).
  additionalModelRequestFields: maybe(JsonObjectSchema),
  // Structured output (the Converse API reference's `OutputConfig`): the schema as a JSON string.
  outputConfig: maybe(Schema.Struct({
    textFormat: Schema.Struct({
      type: Schema.Literal("json_schema"),
      structure: Schema.Struct({
        jsonSchema: Schema.Struct({
          schema: Schema.String,
          name: maybe(Schema.String),
          description: maybe(Schema.String)
        })
      })
    })
  }))
})

/** A `Converse` body as its schema reads it. */
export type Body = typeof ConverseRequest.Type
type Block = typeof ContentBlock.Type

/** The body checked against `ConverseRequest`: the body, or what is wrong with it. */
export const checkConverse = checker(ConverseRequest, { errors: "first" })

/** The last of `list` (a system prompt's messages, a turn's parts or messages, tools) given the breakpoint `point`. */
function cacheLast(list: Array<object>, point: typeof CachePoint.Type): void {
  list[list.length - 1] = { ...list[list.length - 1]!, cache: breakpointOf(point) }
}

/** A `toolResult`'s content as the text of a tool message: its texts, and its JSON values as JSON. */
export function resultText(content: ReadonlyArray<typeof ToolResultContent.Type>): string {
  let text = ""
  for (const part of content) {
    if (typeof part.text === "string") text += part.text
    else if (part.json != null) text += JSON.stringify(part.json)
  }
  return text
}

/** The media types of the document formats Converse takes that the library carries (Media.isCarried). */
const documentTypes: Readonly<Record<string, string>> = {
  pdf: "application/pdf",
  txt: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  html: "text/html"
}

/** The Converse document format of each media type of `documentTypes`. */
const documentFormats: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(documentTypes).map(([format, type]) => [type, format])
)

/** A block that may hold a medium: an `image` or a `document` (of a message, or of a tool result). */
type MediaBlock = Pick<typeof ToolResultContent.Type, "image" | "document">

// The names Converse takes for a document: 1 to 200 letters, digits, spaces, hyphens, parentheses and square brackets,
// no two spaces in a row (the Amazon Bedrock API reference, `DocumentBlock`).
const documentName = /^[A-Za-z0-9()[\]-]+(?: [A-Za-z0-9()[\]-]+)*$/

/**
 * What is wrong with a document name, or `undefined`: one Converse refuses, or one an earlier document holds (`named`;
 * Converse answers "Messages can't contain duplicate document names"). A name it takes is added to `named`.
 */
function nameProblem(name: string, at: string, named: Map<string, string>): string | undefined {
  if (!documentName.test(name) || name.length > 200) {
    return `${at}: "${name}" is no document name Converse takes: 1 to 200 letters, digits, single spaces, hyphens, ` +
      "parentheses and square brackets"
  }
  const other = named.get(name)
  if (other !== undefined) {
    return `${at}: "${name}" names the document at ${other} too; Converse takes each document name once in a request`
  }
  named.set(name, at)
  return undefined
}

/**
 * An `image` or `document` block as a media part (a document's `name` its `document.title`); none for another block,
 * or a document of a format no dialect of the library carries.
 */
export function mediaPart(block: MediaBlock): ImagePart | undefined {
  if (block.image != null) {
    return { type: "image", url: `data:image/${block.image.format};base64,${block.image.source.bytes}` }
  }
  if (block.document == null) return undefined
  const { format, name, source } = block.document
  const type = ownValue(documentTypes, format)
  return type === undefined
    ? undefined
    : { type: "image", url: `data:${type};base64,${source.bytes}`, document: { title: name } }
}

/** An `image` or `document` block pushed onto `parts` (`mediaPart`), or what is wrong with it (`nameProblem`). */
function mediaInto(
  block: MediaBlock,
  at: string,
  parts: Array<ContentPart>,
  named: Map<string, string>
): Problem | undefined {
  const document = block.document
  if (document != null) {
    if (ownValue(documentTypes, document.format) === undefined) {
      return problem(
        `${at}.document.format`,
        `a "${document.format}" document is carried to no provider; send its text, or a PDF`
      )
    }
    const refused = nameProblem(document.name, `${at}.document.name`, named)
    if (refused !== undefined) return new Problem(`${at}.document.name`, refused)
  }
  parts.push(mediaPart(block)!)
  return undefined
}

/**
 * A `toolResult` pushed onto `out` as a tool message, its content (at `at`) its text alone (its texts, and its JSON
 * values as JSON) when it holds no media; else its blocks as parts, an image or a document as `mediaInto` reads it.
 */
function toolResultInto(
  result: NonNullable<Block["toolResult"]>,
  at: string,
  out: Array<Message>,
  named: Map<string, string>
): Problem | undefined {
  const content = result.content
  if (content.every((part) => part.image == null && part.document == null)) {
    out.push({ role: "tool", toolCallId: result.toolUseId, content: resultText(content) })
    return undefined
  }
  const parts: Array<ContentPart> = []
  for (let k = 0; k < content.length; k++) {
    const part = content[k]!
    if (part.image != null || part.document != null) {
      const refused = mediaInto(part, `${at}[${k}]`, parts, named)
      if (refused !== undefined) return refused
    } else {
      parts.push({ type: "text", text: resultText([part]) })
    }
  }
  out.push({ role: "tool", toolCallId: result.toolUseId, content: parts })
  return undefined
}

/** One user turn's messages: its tool results first, then the rest as one user message. */
function userTurn(
  blocks: ReadonlyArray<Block>,
  at: string,
  out: Array<Message>,
  named: Map<string, string>
): Problem | undefined {
  const parts: Array<ContentPart> = []
  // Where the last block went (last), for the cache point after it.
  let last: Array<ContentPart> | Array<Message> | undefined
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!
    if (typeof block.text === "string") {
      parts.push({ type: "text", text: block.text })
      last = parts
    } else if (block.image != null || block.document != null) {
      const refused = mediaInto(block, `${at}.content[${i}]`, parts, named)
      if (refused !== undefined) return refused
      last = parts
    } else if (block.toolResult != null) {
      if (parts.length > 0) return problem(`${at}.content[${i}]`, "a toolResult comes before the turn's text")
      const refused = toolResultInto(block.toolResult, `${at}.content[${i}].toolResult.content`, out, named)
      if (refused !== undefined) return refused
      last = out
    } else if (block.cachePoint != null) {
      if (last === undefined) return problem(`${at}.content[${i}]`, "a cachePoint closes no block")
      cacheLast(last, block.cachePoint)
    } else {
      return problem(`${at}.content[${i}]`, "a user turn holds text, image, document and toolResult")
    }
  }
  if (parts.length === 0) return undefined
  const only = parts[0]!
  out.push({
    role: "user",
    content: parts.length === 1 && only.type === "text" && only.cache === undefined ? only.text : parts
  })
  return undefined
}

function assistantTurn(blocks: ReadonlyArray<Block>, at: string, out: Array<Message>): Problem | undefined {
  let text = ""
  let reasoning: string | undefined
  let signature: string | undefined
  let cache: CacheBreakpoint | undefined
  const toolCalls: Array<ToolCall> = []
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!
    if (typeof block.text === "string") text += block.text
    else if (block.toolUse != null) {
      const use = block.toolUse
      toolCalls.push({ id: use.toolUseId, name: use.name, arguments: JSON.stringify(use.input ?? {}) })
    } else if (block.reasoningContent != null) {
      const thought = block.reasoningContent.reasoningText
      if (thought != null) {
        reasoning = (reasoning ?? "") + thought.text
        if (typeof thought.signature === "string") signature = thought.signature
      }
    } else if (block.cachePoint != null) cache = breakpointOf(block.cachePoint)
    else return problem(`${at}.content[${i}]`, "an assistant turn holds text and toolUse")
  }
  const metadata = replyMetadata(signature)
  out.push({
    role: "assistant",
    content: text,
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    ...definedFields({ reasoning, providerMetadata: metadata, cache })
  })
  return undefined
}

function toolsInto(tools: ReadonlyArray<typeof Tool.Type>, out: Array<ToolDefinition>): Problem | undefined {
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i]!
    const spec = tool.toolSpec
    if (spec != null) {
      out.push({
        name: spec.name,
        ...(typeof spec.description === "string" ? { description: spec.description } : {}),
        parameters: spec.inputSchema.json
      })
    } else if (tool.cachePoint != null && out.length > 0) {
      cacheLast(out, tool.cachePoint)
    } else {
      return problem(`toolConfig.tools[${i}]`, "a tool is a toolSpec or a cachePoint")
    }
  }
  return undefined
}

function toolChoiceOf(choice: NonNullable<NonNullable<Body["toolConfig"]>["toolChoice"]>): ToolChoice | undefined {
  return choice.tool != null ? { tool: choice.tool.name } : choice.any != null ? "required" : choice.auto != null
    ? "auto"
    : undefined
}

/** The library's request of a checked body for `model` (the path's), or the `Problem` of a body that does not fit. */
export function toRequest(body: Body, model: string): Result.Result<ChatRequest, Problem> {
  const messages: Array<Message> = []
  const system = body.system ?? []
  for (let i = 0; i < system.length; i++) {
    const block = system[i]!
    if (typeof block.text === "string") messages.push({ role: "system", content: block.text })
    else if (block.cachePoint != null && messages.length > 0) cacheLast(messages, block.cachePoint)
    else {
      return Result.fail(problem(`system[${i}]`, "a system block is text or a cachePoint after one"))
    }
  }
  const named = new Map<string, string>()
  for (let i = 0; i < body.messages.length; i++) {
    const message = body.messages[i]!
    const at = `messages[${i}]`
    const refused = message.role === "user"
      ? userTurn(message.content, at, messages, named)
      : assistantTurn(message.content, at, messages)
    if (refused !== undefined) return Result.fail(refused)
  }
  const request: Mutable<ChatRequest> = { messages, model }
  const config = body.inferenceConfig
  if (config != null) {
    set(request, "maxTokens", config.maxTokens)
    set(request, "temperature", config.temperature)
    set(request, "topP", config.topP)
    if (config.stopSequences != null && config.stopSequences.length > 0) request.stop = config.stopSequences
  }
  const toolConfig = body.toolConfig
  if (toolConfig != null) {
    const tools: Array<ToolDefinition> = []
    const refused = toolsInto(toolConfig.tools, tools)
    if (refused !== undefined) return Result.fail(refused)
    if (tools.length > 0) request.tools = tools
    const choice = toolConfig.toolChoice == null ? undefined : toolChoiceOf(toolConfig.toolChoice)
    if (choice !== undefined) request.toolChoice = choice
  }
  if (body.serviceTier != null) request.serviceTier = body.serviceTier.type
  if (body.outputConfig != null) {
    const format = formatOf(body.outputConfig.textFormat.structure.jsonSchema)
    if (format instanceof Problem) return Result.fail(format)
    request.responseFormat = format
  }
  const budget = thinkingBudgetOf(body)
  if (budget !== undefined) request.reasoningEffort = effortOfBudget(budget, thinkingBudgets)
  return Result.succeed(request)
}

/** The path of a text format's schema, which Converse takes as a JSON string. */
const schemaPath = "outputConfig.textFormat.structure.jsonSchema.schema"

/** The response format of an `outputConfig.textFormat`'s JSON schema, or what is wrong with its schema's string. */
function formatOf(
  jsonSchema: NonNullable<Body["outputConfig"]>["textFormat"]["structure"]["jsonSchema"]
): ChatRequest["responseFormat"] | Problem {
  let schema: unknown
  try {
    schema = JSON.parse(jsonSchema.schema)
  } catch {
    return problem(schemaPath, "not JSON (Converse takes the JSON schema as a string of JSON)")
  }
  if (!isJsonObject(schema)) return problem(schemaPath, "the JSON schema is not an object")
  return {
    type: "json_schema",
    name: jsonSchema.name ?? "output",
    schema,
    ...(typeof jsonSchema.description === "string" ? { description: jsonSchema.description } : {})
  }
}

/** The budget of Claude's thinking a body turns on (`additionalModelRequestFields.thinking`), if it does. */
export function thinkingBudgetOf(body: Pick<Body, "additionalModelRequestFields">): number | undefined {
  const thinking = body.additionalModelRequestFields?.["thinking"]
  if (!isJsonObject(thinking) || thinking["type"] !== "enabled") return undefined
  return typeof thinking["budget_tokens"] === "number" ? thinking["budget_tokens"] : minThinkingBudget
}

// ---------------------------------------------------------------------------
// The request body, written: the library's request as the body a client sends

/** A `data:` URL's type and bytes (base64); Converse takes a medium by its bytes (`what`: its kind, in words). */
function dataBytes(url: string, where: string, what: string): { readonly type: string; readonly bytes: string } {
  const match = /^data:([^;,]*)((?:;[^;,]*)*),(.*)$/s.exec(url)
  if (match === null) {
    throw new RequestError(
      `Bedrock's Converse API takes ${what} as its bytes: give a data: URL (it reads no http or https URL)`,
      where
    )
  }
  return { type: match[1]!.toLowerCase(), bytes: base64Payload(match[3]!, match[2]!.split(";").includes("base64")) }
}

/** An image part as an `image` block: a `data:` URL's bytes (base64) and its format. */
function imageBlock(url: string, where: string): JsonObject {
  const { bytes, type } = dataBytes(url, where, "an image")
  const format = ownValue(imageFormats, type)
  if (format === undefined) {
    throw new RequestError(`Bedrock's Converse API takes png, jpeg, gif and webp images, not "${type}"`, where)
  }
  return { image: { format, source: { bytes } } }
}

/**
 * The document names of one request as it is written: each given name with where it was given, and the titles the
 * request holds (`titles`), which a default name (`document <n>`, `n` counting the untitled documents) passes over.
 */
interface Names {
  readonly named: Map<string, string>
  readonly titles: ReadonlySet<string>
  untitled: number
}

/** The document names `messages` give, for `Names`: every part's `document.title`. */
function givenTitles(messages: ReadonlyArray<Message>): ReadonlySet<string> {
  const titles = new Set<string>()
  for (const message of messages) {
    if ((message.role !== "user" && message.role !== "tool") || typeof message.content === "string") continue
    for (const part of message.content) {
      if (part.type === "image" && part.document?.title !== undefined) titles.add(part.document.title)
    }
  }
  return titles
}

/** The name of the next untitled document: `document <n>`, past any name the request holds. */
function defaultName(names: Names): string {
  let name: string
  do name = `document ${++names.untitled}`
  while (names.titles.has(name) || names.named.has(name))
  return name
}

/** A document part as a `document` block, named by its `document.title` or else `defaultName` (`nameProblem`). */
function documentBlock(part: ImagePart, where: string, names: Names): JsonObject {
  const { bytes, type } = dataBytes(part.url, `${where}.url`, "a document")
  const format = ownValue(documentFormats, Media.mediaTypeOf(part) ?? type)
  if (format === undefined) {
    throw new RequestError(
      `${where} is ${Media.describe(Media.kindOf(part), Media.mediaTypeOf(part))}: Bedrock's Converse API takes ` +
        `${Object.values(documentTypes).join(", ")} documents`,
      where
    )
  }
  const name = part.document?.title ?? defaultName(names)
  const refused = nameProblem(name, `${where}.document.title`, names.named)
  if (refused !== undefined) throw new RequestError(refused, `${where}.document.title`)
  return { document: { format, name, source: { bytes } } }
}

/** A breakpoint as the `cachePoint` block after the block it closes, with its `ttl` where it has one. */
const cachePoint = (cache: CacheBreakpoint): JsonObject => ({ cachePoint: breakpointBlock("default", cache) })

function userBlocks(
  content: string | ReadonlyArray<ContentPart>,
  where: string,
  into: Array<JsonObject>,
  names: Names
): void {
  if (typeof content === "string") {
    if (!isBlank(content)) into.push({ text: content })
    return
  }
  content.forEach((part, i) => {
    // A blank text is refused (`wire/emptyText.ts`), and its breakpoint with it: a cache point follows a block.
    if (part.type === "text" && isBlank(part.text)) return
    into.push(part.type === "text" ? { text: part.text } : mediaBlock(part, `${where}.content[${i}]`, names))
    if (part.cache !== undefined) into.push(cachePoint(part.cache))
  })
}

/**
 * A media part at `where` as the block Converse takes it in a user turn and in a tool result alike: a PDF or a text
 * document a `document` block (named among the request's `names`), an image an `image` block, anything else refused.
 */
function mediaBlock(part: ImagePart, where: string, names: Names): JsonObject {
  const kind = Media.kindOf(part)
  if (kind === "pdf" || kind === "document") return documentBlock(part, where, names)
  requireImage(part, where, "Bedrock's Converse API")
  return imageBlock(part.url, `${where}.url`)
}

/**
 * A tool result as text (its media as blocks) in the user turn `into`, for a request whose tools cannot be called:
 * Converse refuses `toolUse` and `toolResult` blocks without a `toolConfig`.
 */
function resultAsText(message: ToolMessage, where: string, into: Array<JsonObject>, names: Names): void {
  const label = `[result of tool call ${message.toolCallId}]`
  if (typeof message.content === "string") into.push({ text: `${label}\n${message.content}` })
  else {
    into.push({ text: label })
    userBlocks(message.content, where, into, names)
  }
  if (message.cache !== undefined) into.push(cachePoint(message.cache))
}

/**
 * A tool result's content as a `toolResult`'s: text, images and documents, without a blank text, which Converse
 * refuses (`wire/emptyText.ts`): a result with no output is one without content blocks.
 */
function resultBlocks(content: string | ReadonlyArray<ContentPart>, where: string, names: Names): Array<JsonObject> {
  if (typeof content === "string") return isBlank(content) ? [] : [{ text: content }]
  return content.flatMap((part, i) =>
    part.type === "text"
      ? isBlank(part.text) ? [] : [{ text: part.text }]
      : [mediaBlock(part, `${where}.content[${i}]`, names)]
  )
}

/**
 * The breakpoint after a tool result: its own, else its last part's, as Converse takes a cache point after the
 * result, not inside it.
 */
function resultBreakpoint(message: ToolMessage): CacheBreakpoint | undefined {
  if (message.cache !== undefined || typeof message.content === "string") return message.cache
  let cache: CacheBreakpoint | undefined
  for (const part of message.content) cache = part.cache ?? cache
  return cache
}

/**
 * An assistant turn's blocks: its signed reasoning, its text, and its tool calls as `toolUse` blocks, or as text when
 * the request's tools cannot be called (`callable`, see `requestBody`).
 */
function assistantBlocks(message: AssistantMessage, where: string, callable: boolean): Array<JsonObject> {
  const blocks: Array<JsonObject> = []
  const signature = signatureOf(message.providerMetadata)
  // Bedrock takes reasoning back only with the signature it gave it.
  if (message.reasoning !== undefined && signature !== undefined) {
    blocks.push({ reasoningContent: { reasoningText: { text: message.reasoning, signature } } })
  }
  if (!isBlank(message.content)) blocks.push({ text: message.content })
  message.toolCalls?.forEach((call, j) => {
    if (!callable) {
      blocks.push({ text: `[called tool ${call.name} (${call.id}) with ${call.arguments}]` })
      return
    }
    blocks.push({
      toolUse: {
        toolUseId: call.id,
        name: call.name,
        input: requestArguments(call, "Bedrock", `${where}.toolCalls[${j}].arguments`)
      }
    })
  })
  if (message.cache !== undefined && blocks.length > 0) blocks.push(cachePoint(message.cache))
  return blocks
}

function toolSpec(tool: ToolDefinition): JsonObject {
  return { toolSpec: { ...namedTool(tool), inputSchema: { json: tool.parameters } } }
}

function toolChoiceBody(choice: ToolChoice): JsonObject | undefined {
  if (typeof choice === "object") return { tool: { name: choice.tool } }
  return choice === "auto" ? { auto: {} } : choice === "required" ? { any: {} } : undefined
}

/** What `requestBody` needs besides the request. */
export interface BodyOptions {
  /** Whether the model is Anthropic's Claude (`isClaude`), which takes `reasoningEffort` as its extended thinking. */
  readonly claude?: boolean | undefined
  /**
   * Whether the model takes `outputConfig.textFormat` (`takesTextFormat`): a `json_schema` response format goes
   * there, beside the request's tools and thinking, rather than as a forced tool.
   */
  readonly textFormat?: boolean | undefined
  /** Whether a request to Claude without a cache point gets one after its last block (`Options.cacheConversations`). */
  readonly cacheConversations?: boolean | undefined
}

/**
 * Whether a model id, inference profile id or ARN names Anthropic's Claude, which goes on from a last assistant
 * message on Converse as on Anthropic's Messages API (Amazon Bedrock user guide, Anthropic Claude models).
 */
export const isClaude = (model: string): boolean => /(?:^|[./])anthropic\.claude-/.test(model)

/**
 * Whether a Bedrock model takes Converse's structured output (`outputConfig.textFormat`; Amazon Bedrock user guide,
 * "Get validated JSON results from models"): here Claude, as `takesOutputFormat`. Other models, Bedrock's list of
 * which changes by region, are sent a forced tool.
 */
export const takesTextFormat = (model: string): boolean => isClaude(model) && takesOutputFormat(model)

/**
 * The forced tool whose input is the reply's text (`outputToolName`'s) for a request to `model`; none where the model
 * takes the schema as `outputConfig.textFormat`.
 */
export function forcedOutputTool(request: ChatRequest, model: string): string | undefined {
  return takesTextFormat(model) ? undefined : outputToolName(request)
}

/**
 * Whether the last assistant turn that called tools sent its reasoning back with Bedrock's signature: Claude refuses
 * thinking after a tool turn without it (Anthropic's extended thinking with tool use), as another provider's turn has.
 */
function lastToolTurnSigned(messages: ReadonlyArray<Message>): boolean {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!
    if (message.role !== "assistant") continue
    if ((message.toolCalls?.length ?? 0) === 0) return true
    return message.reasoning !== undefined && signatureOf(message.providerMetadata) !== undefined
  }
  return true
}

/**
 * Claude's extended thinking on Converse (Amazon Bedrock user guide, "Extended thinking"), and its `maxTokens`, as
 * Anthropic's Messages body has them: the model's own default may be below the budget, which Claude refuses. None with
 * a `maxTokens` of the least budget or less, a forced tool, or after a tool turn without signed reasoning.
 */
function thinkingOf(request: ChatRequest): { readonly thinking: JsonObject; readonly maxTokens: number } | undefined {
  const effort = request.reasoningEffort
  const forced = request.toolChoice !== undefined && request.toolChoice !== "auto" && request.toolChoice !== "none"
  if (effort === undefined || effort === "none" || forced || !lastToolTurnSigned(request.messages)) return undefined
  const budget = thinkingBudgets[effort]
  if (request.maxTokens === undefined) {
    return { thinking: { type: "enabled", budget_tokens: budget }, maxTokens: budget + defaultMaxTokens }
  }
  if (request.maxTokens <= minThinkingBudget) return undefined
  const lowered = Math.min(budget, request.maxTokens - 1)
  return { thinking: { type: "enabled", budget_tokens: lowered }, maxTokens: request.maxTokens }
}

/**
 * The JSON body of `Converse` and `ConverseStream`; throws `RequestError` for what Bedrock cannot be sent. Per the
 * Converse API reference: `toolConfig.tools` holds one tool at least and there is no `none` choice (that sends no
 * `toolConfig`, and the history's tool calls and results as text); there is no `parallelToolCalls`; a temperature is
 * at most 1; reasoning goes back only with Bedrock's signature; blank texts and empty messages are refused, so left
 * out. Of more than four breakpoints the last four are sent; an hour's after a shorter one gets no `ttl`
 * (`wire/cacheLifetime.ts`). A `json_schema` format is `outputConfig.textFormat` where `textFormat`, else a forced
 * tool, refused with the request's own tools (`wire/outputTool.ts`).
 */
export function requestBody(request: ChatRequest, options: BodyOptions = {}): JsonObject {
  const messages = request.messages
  const system: Array<JsonObject> = []
  const turns: Array<{ readonly role: "user" | "assistant"; readonly content: Array<JsonObject> }> = []
  // Converse wants the roles to alternate: a message of the last turn's role joins that turn (a user message after
  // tool results, two user messages in a row, an assistant message after another).
  const turnOf = (role: "user" | "assistant"): Array<JsonObject> => {
    const last = turns.at(-1)
    if (last?.role === role) return last.content
    const content: Array<JsonObject> = []
    turns.push({ role, content })
    return content
  }
  const names: Names = { named: new Map(), titles: givenTitles(messages), untitled: 0 }
  const tools = request.tools ?? []
  const output = options.textFormat === true ? undefined : outputTool(request, "Bedrock")
  // Whether the request's tools may be called: Converse has no choice that calls none.
  const callable = output !== undefined || (tools.length > 0 && request.toolChoice !== "none")
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    const where = `messages[${i}]`
    switch (message.role) {
      case "system":
        if (isBlank(message.content)) break
        system.push({ text: message.content })
        if (message.cache !== undefined) system.push(cachePoint(message.cache))
        break
      case "user": {
        const blocks: Array<JsonObject> = []
        userBlocks(message.content, where, blocks, names)
        if (blocks.length > 0) turnOf("user").push(...blocks)
        break
      }
      case "tool": {
        const open = turnOf("user")
        if (callable) {
          open.push({
            toolResult: { toolUseId: message.toolCallId, content: resultBlocks(message.content, where, names) }
          })
          const cache = resultBreakpoint(message)
          if (cache !== undefined) open.push(cachePoint(cache))
        } else {
          resultAsText(message, where, open, names)
        }
        break
      }
      case "assistant": {
        const blocks = assistantBlocks(message, where, callable)
        if (blocks.length > 0) turnOf("assistant").push(...blocks)
      }
    }
  }
  const body: JsonObject = { messages: turns }
  if (system.length > 0) body["system"] = system
  const thinking = options.claude === true && output === undefined ? thinkingOf(request) : undefined
  const config: JsonObject = {}
  const maxTokens = thinking?.maxTokens ?? request.maxTokens
  if (maxTokens !== undefined) config["maxTokens"] = maxTokens
  // Converse's `InferenceConfiguration` takes a temperature up to 1 (OpenAI's and Gemini's APIs up to 2).
  if (request.temperature !== undefined) config["temperature"] = Math.min(request.temperature, 1)
  if (request.topP !== undefined) config["topP"] = request.topP
  if (request.stop !== undefined && request.stop.length > 0) config["stopSequences"] = request.stop
  if (Object.keys(config).length > 0) body["inferenceConfig"] = config
  if (output !== undefined) {
    body["toolConfig"] = { tools: [toolSpec(output)], toolChoice: toolChoiceBody({ tool: output.name }) }
  } else if (callable) {
    const specs = tools.flatMap((tool) =>
      tool.cache === undefined ? [toolSpec(tool)] : [toolSpec(tool), cachePoint(tool.cache)]
    )
    const choice = request.toolChoice === undefined ? undefined : toolChoiceBody(request.toolChoice)
    body["toolConfig"] = choice === undefined ? { tools: specs } : { tools: specs, toolChoice: choice }
  }
  const format = request.responseFormat
  if (options.textFormat === true && format?.type === "json_schema") {
    const jsonSchema = {
      schema: JSON.stringify(format.schema),
      name: format.name,
      ...(format.description === undefined ? {} : { description: format.description })
    }
    body["outputConfig"] = { textFormat: { type: "json_schema", structure: { jsonSchema } } }
  }
  const tier = ServiceTier.toBedrock(request.serviceTier)
  if (tier !== undefined) body["serviceTier"] = tier
  // Claude on Bedrock takes Anthropic's betas in the body (Bedrock's Anthropic Claude Messages API parameters).
  const betas = options.claude === true && request.longContext === true ? [longContextBeta] : []
  const additional: JsonObject = {
    ...(thinking === undefined ? {} : { thinking: thinking.thinking }),
    ...(betas.length === 0 ? {} : { anthropic_beta: betas })
  }
  if (Object.keys(additional).length > 0) body["additionalModelRequestFields"] = additional
  limitBreakpoints(() => cachePointBlocks(body), "cachePoint", true)
  const cached = request.promptCacheKey !== undefined || options.cacheConversations === true
  if (cached && options.claude === true) cacheConversation(turns, body)
  if (request.providerOptions !== undefined) mergeOptions(body, request.providerOptions)
  return body
}

/**
 * A cache point after the last turn's last block, for Claude with `promptCacheKey` or `cacheConversations`: Converse
 * caches only at cache points (Amazon Bedrock user guide, prompt caching), and one there lets the next turn read the
 * conversation so far. Reasoning takes none (Anthropic's prompt caching reference).
 */
function cacheConversation(turns: ReadonlyArray<{ readonly content: Array<JsonObject> }>, body: JsonObject): void {
  const last = turns.at(-1)?.content
  const block = last?.at(-1)
  if (block === undefined || block["reasoningContent"] !== undefined || cachePointBlocks(body).length > 0) return
  last!.push({ cachePoint: { type: "default" } })
}

/** The fields of a Converse body `CountTokens` counts (its `ConverseTokensRequest`, Amazon Bedrock API reference). */
const countedFields = ["messages", "system", "toolConfig", "additionalModelRequestFields"] as const

/** A `CountTokens` body (`POST /model/{modelId}/count-tokens`) for the Converse body of `request`. */
export function countBody(request: ChatRequest): JsonObject {
  return { input: { converse: pickDefined(requestBody(request), countedFields) } }
}

/** A `CountTokens` reply: the prompt's `tokens`. */
export const countReply = (tokens: number): string => JSON.stringify({ inputTokens: tokens })

/** The count of a `CountTokens` reply (`{inputTokens}`); throws `ShapeError` when it has none. */
export const countOf = (body: JsonObject): number => countAt(body, "inputTokens")

/** Where each `cachePoint` block of `body` is (its list and index), in the prompt's order: tools, system, messages. */
export const cachePointBlocks = (body: JsonObject): ReadonlyArray<Place> =>
  breakpointPlaces(
    "cachePoint",
    isJsonObject(body["toolConfig"]) ? body["toolConfig"]["tools"] : undefined,
    body["system"],
    body["messages"]
  )

// ---------------------------------------------------------------------------
// The reply: schema, stop reasons and usage both ways

const WireUsage = Schema.Struct({
  inputTokens: Schema.Number,
  outputTokens: Schema.Number,
  totalTokens: Schema.Number,
  cacheReadInputTokens: maybe(Schema.Number),
  cacheWriteInputTokens: maybe(Schema.Number),
  cacheDetails: maybe(Schema.Array(Schema.Struct({ ttl: Schema.String, inputTokens: Schema.Number })))
})

/** A `Converse` reply, as far as the library reads it. */
export const ConverseResponse = Schema.Struct({
  output: Schema.Struct({ message: WireMessage }),
  stopReason: Schema.String,
  usage: maybe(WireUsage),
  metrics: maybe(Schema.Struct({ latencyMs: Schema.Number }))
})

// A filter's `stopReason`s: Converse spells the others as Anthropic's `stop_reason`, and names no `refusal`.
const filtered: ReadonlySet<string> = new Set(["guardrail_intervened", "content_filtered"])

/** The finish reason of a `stopReason`. */
export function finishReason(reason: string): FinishReason {
  return filtered.has(reason) ? "content_filter" : reason === "refusal" ? "other" : anthropicFinishReason(reason)
}

/** The `stopReason` of a finish reason (`other` is an ended turn). */
export function stopReason(reason: FinishReason): string {
  return reason === "content_filter" ? "content_filtered" : anthropicStopReason(reason)
}

/**
 * The tokens of `cacheDetails` written for an hour (Bedrock's `TokenUsage` reference: the cache writes by lifetime,
 * each a `CacheDetail` of `ttl` `5m` or `1h` and its `inputTokens`); undefined when the usage has no such list.
 */
function writtenForAnHour(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined
  let hour = 0
  for (const detail of details) {
    if (isJsonObject(detail) && detail["ttl"] === "1h") hour += tokenCount(detail["inputTokens"])
  }
  return hour
}

/**
 * The domain's usage of a `usage` object. `inputTokens` leaves out the cache's reads and writes; `cacheDetails` tells
 * the hour's writes from the five minutes' (Bedrock prices them apart, as Anthropic does).
 */
export function usageOf(value: unknown): Usage | undefined {
  if (!isJsonObject(value)) return undefined
  const read = tokenCount(value["cacheReadInputTokens"])
  const written = value["cacheWriteInputTokens"]
  const writes = tokenCount(written)
  const usage = reportedUsage(
    tokenCount(value["inputTokens"]) + read + writes,
    tokenCount(value["outputTokens"]),
    value["totalTokens"],
    read,
    0
  )
  if (typeof written !== "number") return usage
  const hour = writtenForAnHour(value["cacheDetails"])
  return {
    ...usage,
    cacheWriteTokens: writes,
    ...(hour === undefined ? {} : { cacheWrite1hTokens: Math.min(hour, writes) })
  }
}

/** `usage` as the wire counts it (`usageOf`'s inverse): the writes by lifetime in `cacheDetails`, an hour's first. */
export function wireUsage(usage: Usage): JsonObject {
  const written = usage.cacheWriteTokens ?? 0
  const out: JsonObject = {
    inputTokens: Math.max(0, usage.promptTokens - usage.cachedPromptTokens - written),
    outputTokens: usage.completionTokens,
    totalTokens: usage.totalTokens
  }
  if (usage.cachedPromptTokens > 0 || usage.cacheWriteTokens !== undefined) {
    out["cacheReadInputTokens"] = usage.cachedPromptTokens
    out["cacheWriteInputTokens"] = written
  }
  // Empty when nothing was written, as the reference has it; left out where the usage does not say the lifetimes.
  if (usage.cacheWriteTokens !== undefined && usage.cacheWrite1hTokens !== undefined) {
    const hour = Math.min(usage.cacheWrite1hTokens, written)
    out["cacheDetails"] = [
      ...(hour > 0 ? [{ ttl: "1h", inputTokens: hour }] : []),
      ...(written > hour ? [{ ttl: "5m", inputTokens: written - hour }] : [])
    ]
  }
  return out
}

/**
 * A whole `Converse` reply for the client; throws `ShapeError` when the body is not one. The input of a `toolUse` of
 * `outputTool` (the forced tool of a `json_schema` response format) is the reply's text, as JSON, not a tool call.
 */
export function reply(body: JsonObject, outputTool?: string): Reply {
  const message = requireObject(requireObject(body["output"], "output")["message"], "output.message")
  const content = requireArray(message["content"], "output.message.content")
  if (typeof body["stopReason"] !== "string") throw new ShapeError("stopReason is not a string")
  let text = ""
  let reasoning: string | undefined
  let signature: string | undefined
  const toolCalls: Array<ToolCall> = []
  for (const block of content) {
    if (!isJsonObject(block)) continue
    if (typeof block["text"] === "string") text += block["text"]
    const use = block["toolUse"]
    if (isJsonObject(use) && typeof use["toolUseId"] === "string" && typeof use["name"] === "string") {
      const json = JSON.stringify(use["input"] ?? {})
      if (use["name"] === outputTool) text += json
      else toolCalls.push({ id: use["toolUseId"], name: use["name"], arguments: json })
    }
    const thought = isJsonObject(block["reasoningContent"]) ? block["reasoningContent"]["reasoningText"] : undefined
    if (isJsonObject(thought) && typeof thought["text"] === "string") {
      reasoning = (reasoning ?? "") + thought["text"]
      if (typeof thought["signature"] === "string") signature = thought["signature"]
    }
  }
  const metadata = replyMetadata(signature)
  return {
    // Converse names no reply; its request id is the response's `x-amzn-requestid` header.
    id: "",
    model: undefined,
    text,
    ...(reasoning !== undefined ? { reasoning } : {}),
    toolCalls,
    finishReason: outputFinishReason(finishReason(body["stopReason"]), outputTool),
    usage: usageOf(body["usage"]),
    ...(metadata !== undefined ? { providerMetadata: metadata } : {})
  }
}

/** What a reply is written from (a `ChatResponse`'s content, or the simulator's reply). */
export interface ReplyContent {
  readonly text: string
  readonly reasoning?: string | undefined
  /** Converse has no refusal field: its words are a text block of its own, last. */
  readonly refusal?: string | undefined
  readonly toolCalls: ReadonlyArray<Pick<ToolCall, "id" | "name" | "arguments">>
  readonly finishReason: FinishReason
  readonly usage: Usage
  readonly providerMetadata?: ProviderMetadata | undefined
}

function inputOf(call: Pick<ToolCall, "arguments">): unknown {
  return call.arguments.trim() === "" ? {} : JSON.parse(call.arguments)
}

/** A `Converse` reply of `content`, taking `latencyMs` to answer. */
export function response(content: ReplyContent, latencyMs: number): JsonObject {
  const blocks: Array<JsonObject> = []
  if (content.reasoning !== undefined) {
    const signature = signatureOf(content.providerMetadata)
    blocks.push({
      reasoningContent: {
        reasoningText: signature === undefined ? { text: content.reasoning } : { text: content.reasoning, signature }
      }
    })
  }
  if (content.text !== "" || (content.toolCalls.length === 0 && content.refusal === undefined)) {
    blocks.push({ text: content.text })
  }
  for (const call of content.toolCalls) {
    blocks.push({ toolUse: { toolUseId: call.id, name: call.name, input: inputOf(call) } })
  }
  if (content.refusal !== undefined) blocks.push({ text: content.refusal })
  return {
    output: { message: { role: "assistant", content: blocks } },
    stopReason: stopReason(content.finishReason),
    usage: wireUsage(content.usage),
    metrics: { latencyMs }
  }
}

// ---------------------------------------------------------------------------
// The stream's events, both ways

/** One event of a `ConverseStream`: its `:event-type` and its JSON payload. */
export interface StreamEvent {
  readonly type: string
  readonly payload: JsonObject
}

/**
 * One stream's reading, each event's chunks appended to `out`. The block of `outputTool` (the forced tool of a
 * `json_schema` response format) is no tool call: its input streams as `TextDelta`s, `{}` when none came by its end.
 */
export class StreamReader {
  stopReason: string | undefined
  usage: Usage | undefined
  signature: string | undefined
  private readonly calls = new Map<number, number>()
  // The forced tool's block, once it started, and whether any of its input came.
  private output: { readonly index: number; json: boolean } | undefined

  constructor(readonly outputTool?: string) {}

  /** Reads one event; throws `ShapeError` for an event of the wrong shape. Unknown events are skipped. */
  read(type: string, payload: JsonObject, out: Array<ChatChunk>): void {
    switch (type) {
      case "contentBlockDelta": {
        const delta = requireObject(payload["delta"], "contentBlockDelta.delta")
        if (typeof delta["text"] === "string") {
          if (delta["text"] !== "") out.push({ _tag: "TextDelta", text: delta["text"] })
          return
        }
        const use = delta["toolUse"]
        if (isJsonObject(use)) {
          const index = Number(payload["contentBlockIndex"])
          if (this.output !== undefined && this.output.index === index) {
            if (typeof use["input"] === "string" && use["input"] !== "") {
              this.output.json = true
              out.push({ _tag: "TextDelta", text: use["input"] })
            }
            return
          }
          const call = this.calls.get(index)
          if (call === undefined) throw new ShapeError("a toolUse delta of a block that did not start")
          out.push({
            _tag: "ToolCallDelta",
            index: call,
            arguments: typeof use["input"] === "string" ? use["input"] : ""
          })
          return
        }
        const thought = delta["reasoningContent"]
        if (isJsonObject(thought)) {
          if (typeof thought["text"] === "string" && thought["text"] !== "") {
            out.push({ _tag: "ReasoningDelta", text: thought["text"] })
          }
          if (typeof thought["signature"] === "string") this.signature = thought["signature"]
        }
        return
      }
      case "contentBlockStart": {
        const use = requireObject(payload["start"], "contentBlockStart.start")["toolUse"]
        if (!isJsonObject(use) || typeof use["toolUseId"] !== "string" || typeof use["name"] !== "string") return
        if (use["name"] === this.outputTool) {
          this.output = { index: Number(payload["contentBlockIndex"]), json: false }
          return
        }
        const index = this.calls.size
        this.calls.set(Number(payload["contentBlockIndex"]), index)
        out.push({ _tag: "ToolCallDelta", index, id: use["toolUseId"], name: use["name"], arguments: "" })
        return
      }
      case "contentBlockStop":
        if (this.output !== undefined && this.output.index === Number(payload["contentBlockIndex"])) {
          if (!this.output.json) out.push({ _tag: "TextDelta", text: "{}" })
          this.output.json = true
        }
        return
      case "messageStop":
        if (typeof payload["stopReason"] !== "string") throw new ShapeError("messageStop.stopReason is not a string")
        this.stopReason = payload["stopReason"]
        return
      case "metadata":
        this.usage = usageOf(payload["usage"])
    }
  }
}

// ---------------------------------------------------------------------------
// Errors

/** An error body as Bedrock writes it. */
export function errorJson(message: string): string {
  return JSON.stringify({ message })
}

/** A stream exception's payload as the error mapping reads it: its type (`:exception-type`) and message. */
export function exceptionBody(type: string, payload: JsonObject): JsonObject {
  const name = type.charAt(0).toUpperCase() + type.slice(1)
  return { __type: name, message: typeof payload["message"] === "string" ? payload["message"] : name }
}
