/**
 * `effect/ai`'s request as ours: the `Prompt`, the toolkit's tools, the tool choice and the response format become one
 * `ChatRequest`, over the layer's defaults. What our messages cannot carry (a file of a type no dialect reads, a tool
 * the provider runs itself) fails with an `AiError` that says so.
 */
import { AiError, type LanguageModel, Prompt, Tool } from "effect/ai"
import * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import { type Input as ChatRequest, jsonSchemaFormat, type ToolChoice } from "../../../ChatRequest.js"
import type { ContentPart, Message, ProviderMetadata, ToolCall, ToolDefinition } from "../../../Message.js"
import { definedFields, isJsonObject } from "../../json.js"
import * as Media from "../../tokens/media.js"
import { metadataKey } from "./aiError.js"

/** The fields of a request that the layer sets for every call (the model, the temperature, ...). */
export type Defaults = Omit<ChatRequest, "messages" | "tools" | "toolChoice" | "responseFormat">

/** What a prompt part's options under our key may hold: what the reply it came from needs back. */
export interface CarriedMetadata {
  /** The reply's own `providerMetadata` (Anthropic's signed thinking, Gemini's signature). */
  readonly reply?: ProviderMetadata
  /** A tool call's `providerMetadata`. */
  readonly toolCall?: ProviderMetadata
}

const carried = (options: Prompt.ProviderOptions): CarriedMetadata | undefined => {
  const value = options[metadataKey]
  return isJsonObject(value) ? value as CarriedMetadata : undefined
}

const unsupported = (description: string): Result.Result<never, AiError.AiError> =>
  Result.fail(
    AiError.make({ module: "Llm", method: "languageModel", reason: new AiError.InvalidUserInputError({ description }) })
  )

const toBase64 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")

/** A file part as our media part: a URL as it is (with its type when the URL does not say it), bytes as a data URL. */
const mediaOf = (part: Prompt.FilePart): Result.Result<ContentPart, AiError.AiError> => {
  if (!Media.isCarried(part.mediaType)) {
    return unsupported(
      `a ${part.mediaType} file: a prompt's files can be images, audio, video, PDFs or text documents here`
    )
  }
  const data = part.data
  const url = data instanceof URL
    ? data.toString()
    : data instanceof Uint8Array
    ? `data:${part.mediaType};base64,${toBase64(data)}`
    : /^(https?:|gs:|data:)/.test(data)
    ? data
    : `data:${part.mediaType};base64,${data}`
  return Result.succeed(
    Media.mediaTypeOf({ url }) === part.mediaType.toLowerCase()
      ? { type: "image", url }
      : { type: "image", url, mediaType: part.mediaType }
  )
}

const userMessage = (message: Prompt.UserMessage): Result.Result<Message, AiError.AiError> =>
  Result.gen(function*() {
    const only = message.content[0]
    if (message.content.length === 1 && only?.type === "text") return { role: "user", content: only.text }
    const parts: Array<ContentPart> = []
    for (const part of message.content) {
      parts.push(part.type === "text" ? { type: "text", text: part.text } : yield* mediaOf(part))
    }
    return { role: "user", content: parts }
  })

const assistantMessage = (message: Prompt.AssistantMessage): Result.Result<Message, AiError.AiError> => {
  const texts: Array<string> = []
  const reasonings: Array<string> = []
  let metadata: ProviderMetadata | undefined
  const toolCalls: Array<ToolCall> = []
  for (const part of message.content) {
    const mine = carried(part.options)
    if (mine?.reply !== undefined) metadata = mine.reply
    switch (part.type) {
      case "text":
        texts.push(part.text)
        break
      case "reasoning":
        reasonings.push(part.text)
        break
      case "tool-call":
        if (part.providerExecuted) break
        toolCalls.push({
          id: part.id,
          name: part.name,
          arguments: JSON.stringify(part.params ?? {}),
          ...definedFields({ providerMetadata: mine?.toolCall })
        })
        break
      case "file":
        return unsupported(
          "a file in an assistant message: an assistant turn here holds text, reasoning and tool calls"
        )
      // A result of a tool the provider ran, or an approval request: nothing our messages carry.
      case "tool-result":
      case "tool-approval-request":
        break
    }
  }
  return Result.succeed({
    role: "assistant",
    content: texts.join(""),
    ...(toolCalls.length > 0 ? { toolCalls } : {}),
    ...(reasonings.length > 0 ? { reasoning: reasonings.join("") } : {}),
    ...definedFields({ providerMetadata: metadata })
  })
}

// What the model reads of a result: the tool's own text for the model if it gave one, else the result as JSON.
const resultText = (part: Prompt.ToolResultPart): string =>
  part.modelOutput !== undefined
    ? Prompt.toolModelOutputToText(part.modelOutput)
    : typeof part.result === "string"
    ? part.result
    : JSON.stringify(part.result ?? null)

/** The prompt as our messages, or the `AiError` of the first part they cannot carry. */
export const messagesOf = (prompt: Prompt.Prompt): Result.Result<Array<Message>, AiError.AiError> =>
  Result.gen(function*() {
    const messages: Array<Message> = []
    for (const message of prompt.content) {
      switch (message.role) {
        case "system":
          messages.push({ role: "system", content: message.content })
          break
        case "user":
          messages.push(yield* userMessage(message))
          break
        case "assistant":
          messages.push(yield* assistantMessage(message))
          break
        case "tool":
          for (const part of message.content) {
            if (part.type === "tool-result") {
              messages.push({ role: "tool", toolCallId: part.id, name: part.name, content: resultText(part) })
            }
          }
          break
      }
    }
    return messages
  })

const toolOf = (tool: Tool.Any): Result.Result<ToolDefinition, AiError.AiError> => {
  if (Tool.isProviderDefined(tool)) {
    return unsupported(`the tool ${tool.name} runs at its provider: only tools this program runs can be offered here`)
  }
  return Result.succeed({
    name: tool.name,
    ...definedFields({ description: Tool.getDescription(tool) }),
    parameters: Tool.getJsonSchema(tool) as Record<string, unknown>,
    ...definedFields({ strict: Tool.getStrictMode(tool) })
  })
}

/** The tools offered and our tool choice; `oneOf` narrows the tools offered. */
const toolsOf = (
  tools: ReadonlyArray<Tool.Any>,
  choice: LanguageModel.ToolChoice<string>
): Result.Result<{ readonly tools: Array<ToolDefinition>; readonly toolChoice: ToolChoice }, AiError.AiError> =>
  Result.gen(function*() {
    const allowed = typeof choice === "object" && "oneOf" in choice ? new Set(choice.oneOf) : undefined
    const definitions: Array<ToolDefinition> = []
    for (const tool of tools) {
      if (allowed !== undefined && !allowed.has(tool.name)) continue
      definitions.push(yield* toolOf(tool))
    }
    const toolChoice: ToolChoice = typeof choice === "string"
      ? choice
      : "tool" in choice
      ? { tool: choice.tool }
      : choice.mode ?? "auto"
    return { tools: definitions, toolChoice }
  })

/** The whole request of one `generateText`, `generateObject` or `streamText` call. */
export const requestOf = (
  options: Pick<LanguageModel.ProviderOptions, "prompt" | "tools" | "toolChoice" | "responseFormat">,
  defaults: Defaults
): Result.Result<ChatRequest, AiError.AiError> =>
  Result.gen(function*() {
    const messages = yield* messagesOf(options.prompt)
    let request: ChatRequest = { ...defaults, messages }
    if (options.tools.length > 0) {
      const offered = yield* toolsOf(options.tools, options.toolChoice)
      request = { ...request, tools: offered.tools, toolChoice: offered.toolChoice }
    }
    if (options.responseFormat.type === "json") {
      request = {
        ...request,
        responseFormat: jsonSchemaFormat(
          options.responseFormat.objectName,
          options.responseFormat.schema as Schema.Codec<unknown, unknown>
        )
      }
    }
    return request
  })
