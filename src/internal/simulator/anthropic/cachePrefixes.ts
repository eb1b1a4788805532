/**
 * The prefixes of a Messages request that Anthropic's prompt cache holds (its prompt caching reference): the prompt in
 * cache order (tools, system, messages) up to each block with a `cache_control`, for its `ttl` (`5m` unless `1h`),
 * sized as the request decoder counts the prompt.
 */
import type { CachePrefix } from "../../../simulator/WireFormat.js"
import { isJsonObject } from "../../json.js"
import * as Images from "../../tokens/images.js"
import { mediaTokens } from "../decoded.js"
import { PrefixBuilder, textLength as length } from "../promptCache.js"

/** A block of the prompt, and the role of the turn it is in (`tool` for a tool definition). */
interface Piece {
  readonly role: string
  readonly block: Readonly<Record<string, unknown>>
}

// A block as it is cached: its content, not its breakpoint.
const identity = ({ block, role }: Piece): string => {
  const { cache_control: _, ...content } = block
  return `${role}:${JSON.stringify(content)}`
}

// An image or document block's tokens, as the decoder reads its source: base64 as a `data:` URL of its type, or a URL
// (a document's a PDF's).
const blockTokens = (block: Readonly<Record<string, unknown>>): number => {
  const source = isJsonObject(block.source) ? block.source : {}
  const pdf = block.type === "document" ? { mediaType: "application/pdf" } : {}
  return source.type === "url"
    ? mediaTokens({ url: String(source.url), ...pdf }, Images.anthropic)
    : mediaTokens({ url: `data:${String(source.media_type)};base64,${String(source.data)}` }, Images.anthropic)
}

// A tool result's characters and media tokens: its text blocks, and its image and document blocks.
const resultSize = (content: unknown): readonly [chars: number, media: number] => {
  if (typeof content === "string") return [content.length, 0]
  if (!Array.isArray(content)) return [0, 0]
  let chars = 0
  let media = 0
  for (const block of content as ReadonlyArray<unknown>) {
    if (!isJsonObject(block)) continue
    if (block.type === "text" && typeof block.text === "string") chars += block.text.length
    else if (block.type === "image" || block.type === "document") media += blockTokens(block)
  }
  return [chars, media]
}

// A tool definition's characters, as the request decoder counts them: a deferred one's none.
const toolSize = (tool: Readonly<Record<string, unknown>>): number =>
  tool.defer_loading === true
    ? 0
    : length(tool.name) + length(tool.description) + JSON.stringify(tool.input_schema ?? {}).length

// A block's characters and media tokens, as the request decoder counts them.
const sizeOf = (block: Readonly<Record<string, unknown>>): readonly [chars: number, media: number] => {
  switch (block.type) {
    case "text":
      return [length(block.text), 0]
    case "image":
    case "document":
      return [0, blockTokens(block)]
    case "tool_use":
      return [String(block.name).length + JSON.stringify(block.input ?? {}).length, 0]
    case "tool_result":
      return resultSize(block.content)
    case "thinking":
      return [length(block.thinking), 0]
    case "redacted_thinking":
      return [length(block.data), 0]
    default:
      return [0, 0]
  }
}

// A block's `cache_control` ends a cached prefix.
const markBreakpoint = (prefixes: PrefixBuilder<Piece>, block: Readonly<Record<string, unknown>>): void => {
  const breakpoint = block.cache_control
  if (isJsonObject(breakpoint)) prefixes.mark(breakpoint.ttl === "1h" ? "1h" : "5m")
}

// A string content is cached as the text block it stands for.
const addBlocks = (prefixes: PrefixBuilder<Piece>, role: string, content: unknown): void => {
  const blocks = typeof content === "string" ? [{ type: "text", text: content }] : content
  if (!Array.isArray(blocks)) return
  for (const block of blocks as ReadonlyArray<unknown>) {
    if (!isJsonObject(block)) continue
    const [chars, media] = sizeOf(block)
    prefixes.add({ role, block }, chars, media)
    markBreakpoint(prefixes, block)
  }
}

/** The cached prefixes of a decoded Messages body, shortest first. */
export const cachePrefixes = (body: unknown): ReadonlyArray<CachePrefix> => {
  if (!isJsonObject(body)) return []
  const prefixes = new PrefixBuilder(String(body.model), identity)
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools as ReadonlyArray<unknown>) {
      if (!isJsonObject(tool)) continue
      prefixes.add({ role: "tool", block: tool }, toolSize(tool), 0)
      markBreakpoint(prefixes, tool)
    }
  }
  addBlocks(prefixes, "system", body.system)
  if (Array.isArray(body.messages)) {
    for (const message of body.messages as ReadonlyArray<unknown>) {
      if (isJsonObject(message)) addBlocks(prefixes, String(message.role), message.content)
    }
  }
  return prefixes.prefixes
}
