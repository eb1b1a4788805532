/**
 * A generation request as a wire format decoded it: the prompt with its tokens counted, and the tokens it asks for,
 * which the engine checks against the model's context window; the transcript a format tallies its messages in; and the
 * prompt of a request a codec read, its tools and tool choice as the generator takes them.
 */
import * as Result from "effect/Result"
import type { Input as ChatRequest, ToolChoice } from "../../ChatRequest.js"
import type { ImagePart, Message } from "../../Message.js"
import * as Pricing from "../../Pricing.js"
import * as Reply from "../../simulator/Reply.js"
import type { Decoded } from "../../simulator/WireFormat.js"
import { toolTexts } from "../promptSize.js"
import type * as Images from "../tokens/images.js"
import * as Media from "../tokens/media.js"
import { opaqueReasoning } from "../wire/signedReasoning.js"
import type { InvalidRequest } from "./requestChecks.js"

/** What a wire format read from a request: the prompt, and the prompt's size before counting. */
export interface ReadPrompt extends Omit<Reply.Prompt, "promptTokens"> {
  /** Characters of prompt text, counted with `Reply.countTokens`. */
  readonly chars: number
  /** Tokens of image, audio and file parts, each counted by `mediaTokens` with the API's image rule. */
  readonly media: number
}

// The rates the simulator bills media other than images at, the budgets' defaults; a part by URL is never fetched, so
// none has a size.
const simulatedRates: Media.Rates = {
  imageTokens: Reply.imageTokens,
  audioTokensPerSecond: Pricing.defaultAudioTokensPerSecond,
  videoTokensPerSecond: Pricing.defaultVideoTokensPerSecond,
  pdfPageTokens: Pricing.defaultPdfPageTokens,
  urls: "fetched"
}

/**
 * The prompt tokens of one media part: an image by `images`, its API's rule, any other medium as `tokens/media.ts`
 * measures it; a part by URL, whose bytes the simulator never fetches, by the rule's fixed figure.
 */
export function mediaTokens(part: Pick<ImagePart, "url" | "mediaType" | "detail">, images: Images.Rule): number {
  return Media.partTokens(part, images, simulatedRates)
}

/** A decoded request: prompt tokens counted (at least 1), and requested tokens as the prompt's plus `maxTokens`. */
export const decoded = <Extra>(
  { chars, media, ...read }: ReadPrompt,
  stream: boolean,
  extra: Extra
): Decoded<Extra> => {
  const promptTokens = Math.max(1, Reply.countTokens(chars) + media)
  return { prompt: { ...read, promptTokens }, stream, requestedTokens: promptTokens + (read.maxTokens ?? 0), extra }
}

/**
 * The messages of a request as a format reads them, in order: the prompt's size, the last user text (the reply's seed),
 * and the last message's role and text (a tool result when the role is `"tool"`).
 */
class Transcript {
  chars = 0
  media = 0
  lastUserText = ""
  // The system and developer text, joined.
  instructions = ""
  lastRole = ""
  lastText = ""
  assistantTurns = 0
  readonly texts: Array<string> = []
  // The user text the last assistant message answered, and, when a user message follows it, that reply.
  answered = ""
  continued: Reply.Prompt["continued"] = undefined

  /** `images`: the API's rule for an image's tokens. */
  constructor(readonly images: Images.Rule) {}

  /**
   * A system or developer message is an instruction, not a turn: the last message is still the one before it (a user's
   * request followed by a note is answered).
   */
  add(role: string, text: string, media: number): void {
    this.chars += text.length
    this.media += media
    this.texts.push(text)
    if (role === "system" || role === "developer") {
      this.instructions = this.instructions === "" ? text : `${this.instructions}\n${text}`
      return
    }
    if (role === "assistant") {
      this.answered = this.lastUserText
      this.assistantTurns++
    }
    if (role === "user") {
      this.continued = this.lastRole === "assistant"
        ? { userText: this.answered, assistantText: this.lastText }
        : undefined
      this.lastUserText = text
    }
    this.lastRole = role
    this.lastText = text
  }

  /**
   * The messages of a request a codec read, every role alike; an assistant's reasoning counts its text or the opaque
   * payload it travels in.
   */
  addMessages(messages: ReadonlyArray<Message>): void {
    for (const message of messages) {
      const content = message.content
      if (typeof content !== "string") {
        let text = ""
        let media = 0
        for (const part of content) {
          if (part.type === "text") text += part.text
          else media += mediaTokens(part, this.images)
        }
        this.add(message.role, text, media)
        continue
      }
      this.add(message.role, content, 0)
      if (message.role !== "assistant") continue
      this.chars += message.reasoning?.length ?? 0
      for (const payload of opaqueReasoning(message.providerMetadata)) this.chars += payload.length
      for (const call of message.toolCalls ?? []) this.chars += call.name.length + call.arguments.length
    }
  }
}

/** What a format reads off its wire besides the request its codec made. */
export interface RequestRead<Extra> {
  readonly model: string
  readonly stream: boolean
  readonly extra: Extra
  /** `false` when the caller forbids parallel tool calls. */
  readonly parallelToolCalls: boolean
  /** Whether the caller asked for reasoning (and not effort `"none"`). */
  readonly reasoning: boolean
  readonly prefillFlags?: ReadonlyArray<Reply.PrefillFlag> | undefined
  /** The API's error for a tool choice that names none of the tools; without it, such a choice is taken. */
  readonly unknownTool?: ((name: string) => InvalidRequest) | undefined
  /** The API's rule for an image's tokens. */
  readonly images: Images.Rule
}

/** A request a codec read as the prompt it asks about, or the API's error for a choice of a tool not offered. */
export function requestPrompt<Extra>(
  request: ChatRequest,
  read: RequestRead<Extra>
): Result.Result<Decoded<Extra>, InvalidRequest> {
  const tools = (request.tools ?? []).map((tool): Reply.Tool => ({ name: tool.name, parameters: tool.parameters }))
  const chosen = toolChoiceOf(request.toolChoice, tools, read.unknownTool)
  if (Result.isFailure(chosen)) return Result.fail(chosen.failure)
  const format = request.responseFormat
  const transcript = new Transcript(read.images)
  transcript.addMessages(request.messages)
  const { lastRole, lastText } = transcript
  return Result.succeed(decoded(
    {
      model: read.model,
      // The tool definitions' characters: `internal/promptSize.ts`' texts of each.
      chars: toolTexts(request.tools).reduce((chars, text) => chars + text.length, transcript.chars),
      media: transcript.media,
      lastUserText: transcript.lastUserText,
      instructions: transcript.instructions,
      lastRole,
      assistantTurns: transcript.assistantTurns,
      texts: transcript.texts,
      toolResult: lastRole === "tool" ? lastText : undefined,
      continued: lastRole === "user" ? transcript.continued : undefined,
      tools,
      toolChoice: chosen.success,
      parallelToolCalls: read.parallelToolCalls,
      reasoning: read.reasoning,
      maxTokens: request.maxTokens,
      responseSchema: format?.type === "json_schema" ? format.schema : undefined,
      jsonObject: format?.type === "json_object" ? true : undefined,
      prefillFlags: read.prefillFlags
    },
    read.stream,
    read.extra
  ))
}

// The generator's tool choice of each a codec's choice may be by name.
const choices = { auto: { _tag: "Auto" }, none: { _tag: "None" }, required: { _tag: "Required" } } as const

// A codec's tool choice as the generator's, or `unknownTool`'s error when it names none of `tools`.
function toolChoiceOf(
  choice: ToolChoice | undefined,
  tools: ReadonlyArray<Reply.Tool>,
  unknownTool: ((name: string) => InvalidRequest) | undefined
): Result.Result<Reply.ToolChoice, InvalidRequest> {
  if (choice === undefined || typeof choice === "string") return Result.succeed(choices[choice ?? "auto"])
  const name = choice.tool
  return unknownTool === undefined || tools.some((tool) => tool.name === name)
    ? Result.succeed({ _tag: "Named", name })
    : Result.fail(unknownTool(name))
}
