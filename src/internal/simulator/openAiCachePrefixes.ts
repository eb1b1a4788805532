/**
 * The prefixes of an OpenAI request (Chat Completions or Responses) that the simulator's prompt cache holds: OpenAI
 * caches prompt prefixes on its own, and a `prompt_cache_key` keeps requests that share one together (OpenAI's prompt
 * caching guide). The simulator caches only for a request with a key: at every message (or input item) boundary,
 * for five minutes, apart per model and key. Sizes are counted as the request decoders count the prompt.
 */
import type { CachePrefix } from "../../simulator/WireFormat.js"
import { isJsonObject } from "../json.js"
import * as Images from "../tokens/images.js"
import { mediaTokens } from "./decoded.js"
import { PrefixBuilder } from "./promptCache.js"

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

const length = (value: unknown): number => (typeof value === "string" ? value.length : 0)

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

/** The builder of a body with a `prompt_cache_key`, scoped to its model and key; undefined without a key. */
const builderOf = (body: Readonly<Record<string, unknown>>): PrefixBuilder<unknown> | undefined =>
  typeof body.prompt_cache_key === "string"
    ? new PrefixBuilder<unknown>(`${String(body.model)}\u0000${body.prompt_cache_key}`, JSON.stringify)
    : undefined

/** Every boundary of `items`, each item added with its size, shortest prefix first. */
const boundaries = (
  prefixes: PrefixBuilder<unknown>,
  items: ReadonlyArray<unknown>,
  sizeOf: (item: Readonly<Record<string, unknown>>) => readonly [chars: number, media: number]
): ReadonlyArray<CachePrefix> => {
  for (const item of items) {
    if (!isJsonObject(item)) continue
    const [chars, media] = sizeOf(item)
    prefixes.add(item, chars, media)
    prefixes.mark("5m")
  }
  return prefixes.prefixes
}

/** The cached prefixes of a decoded Chat Completions body, shortest first; none without a `prompt_cache_key`. */
export const chatCachePrefixes = (body: unknown): ReadonlyArray<CachePrefix> => {
  if (!isJsonObject(body) || !Array.isArray(body.messages)) return []
  const prefixes = builderOf(body)
  return prefixes === undefined ? [] : boundaries(prefixes, body.messages, chatMessageSize)
}

/** The cached prefixes of a decoded Responses body (`instructions` first), shortest first; none without a key. */
export const responsesCachePrefixes = (body: unknown): ReadonlyArray<CachePrefix> => {
  if (!isJsonObject(body)) return []
  const prefixes = builderOf(body)
  if (prefixes === undefined) return []
  if (typeof body.instructions === "string") {
    prefixes.add({ instructions: body.instructions }, body.instructions.length, 0)
    prefixes.mark("5m")
  }
  const items = typeof body.input === "string" ? [{ role: "user", content: body.input }] : body.input
  return Array.isArray(items) ? boundaries(prefixes, items, responsesItemSize) : prefixes.prefixes
}
