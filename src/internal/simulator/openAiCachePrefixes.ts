/**
 * The prefixes of an OpenAI request (Chat Completions or Responses) that the simulator's prompt cache holds: OpenAI
 * caches a prompt of 1024 tokens or more on its own, and a `prompt_cache_key` keeps requests that share one together
 * (OpenAI's prompt caching guide). The simulator caches a request without a key at every message (or input item)
 * boundary past 1024 tokens, apart per model; one with a key at every boundary, apart per model and key. Each is held
 * five minutes. Sizes are counted as the request decoders count the prompt.
 */
import type { CachePrefix } from "../../simulator/WireFormat.js"
import { isJsonObject } from "../json.js"
import * as Images from "../tokens/images.js"
import { mediaTokens } from "./decoded.js"
import { implicitMinimum, PrefixBuilder, textLength as length } from "./promptCache.js"

// A media part's URL as the decoders read it: Chat's `image_url.url` and `file.file_data`, Responses' `image_url`,
// `file_data` and `file_url`.
const mediaUrl = (part: Readonly<Record<string, unknown>>): string => {
  if (typeof part.image_url === "string") return part.image_url
  if (isJsonObject(part.image_url)) return String(part.image_url.url)
  if (isJsonObject(part.file)) return String(part.file.file_data)
  return typeof part.file_data === "string" ? part.file_data : typeof part.file_url === "string" ? part.file_url : ""
}

// An image part's detail as the decoders read it: Chat's `image_url.detail`, Responses' `detail`.
const detailOf = (part: Readonly<Record<string, unknown>>): { detail?: "auto" | "low" | "high" } => {
  const detail = isJsonObject(part.image_url) ? part.image_url.detail : part.detail
  return detail === "auto" || detail === "low" || detail === "high" ? { detail } : {}
}

// A content (a string, or parts) as characters of text and media tokens: the text and media parts of either API.
const contentSize = (content: unknown): readonly [chars: number, media: number] => {
  if (typeof content === "string") return [content.length, 0]
  if (!Array.isArray(content)) return [0, 0]
  let chars = 0
  let media = 0
  for (const part of content as ReadonlyArray<unknown>) {
    if (!isJsonObject(part)) continue
    if (typeof part.text === "string") chars += part.text.length
    else media += mediaTokens({ url: mediaUrl(part), ...detailOf(part) }, Images.openAi)
  }
  return [chars, media]
}

// A Chat Completions message's size: its content and an assistant's tool calls.
const chatMessageSize = (message: Readonly<Record<string, unknown>>): readonly [chars: number, media: number] => {
  const [chars, media] = contentSize(message.content)
  let calls = 0
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls as ReadonlyArray<unknown>) {
      if (isJsonObject(call) && isJsonObject(call.function)) {
        calls += length(call.function.name) + length(call.function.arguments)
      }
    }
  }
  return [chars + calls, media]
}

// A Responses input item's size: a message's content, a function call's name and arguments, a call's output.
const responsesItemSize = (item: Readonly<Record<string, unknown>>): readonly [chars: number, media: number] => {
  switch (item.type ?? "message") {
    case "message":
      return contentSize(item.content)
    case "function_call":
      return [length(item.name) + length(item.arguments), 0]
    case "function_call_output":
      return contentSize(item.output)
    default:
      return [0, 0]
  }
}

/** A body's prompt as pieces: each added with its size, a breakpoint after it where it is cached. */
class Prefixes {
  private readonly builder: PrefixBuilder<unknown>
  private readonly minimum: number

  constructor(body: Readonly<Record<string, unknown>>) {
    const key = body.prompt_cache_key
    const model = String(body.model)
    this.builder = new PrefixBuilder(typeof key === "string" ? `${model}\u0000${key}` : model, JSON.stringify)
    this.minimum = typeof key === "string" ? 0 : implicitMinimum
  }

  add(piece: unknown, [chars, media]: readonly [chars: number, media: number]): void {
    this.builder.add(piece, chars, media)
    this.builder.markPast(this.minimum)
  }

  /** Each of `items` added with its size. */
  addAll(
    items: ReadonlyArray<unknown>,
    sizeOf: (item: Readonly<Record<string, unknown>>) => readonly [chars: number, media: number]
  ): ReadonlyArray<CachePrefix> {
    for (const item of items) if (isJsonObject(item)) this.add(item, sizeOf(item))
    return this.builder.prefixes
  }
}

/** The cached prefixes of a decoded Chat Completions body, shortest first. */
export const chatCachePrefixes = (body: unknown): ReadonlyArray<CachePrefix> =>
  isJsonObject(body) && Array.isArray(body.messages)
    ? new Prefixes(body).addAll(body.messages, chatMessageSize)
    : []

/** The cached prefixes of a decoded Responses body (`instructions` first), shortest first. */
export const responsesCachePrefixes = (body: unknown): ReadonlyArray<CachePrefix> => {
  if (!isJsonObject(body)) return []
  const prefixes = new Prefixes(body)
  if (typeof body.instructions === "string") {
    prefixes.add({ instructions: body.instructions }, [body.instructions.length, 0])
  }
  const items = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input
  return prefixes.addAll(Array.isArray(items) ? items : [], responsesItemSize)
}
