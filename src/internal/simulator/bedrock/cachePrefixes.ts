/**
 * The prefixes of a `Converse` request that Bedrock's prompt cache holds (Amazon Bedrock user guide, "Prompt caching"):
 * the prompt in cache order (tools, system, messages) up to each `cachePoint` block, for its `ttl` (`5m` unless `1h`),
 * apart per model, sized as the request decoder counts the prompt.
 */
import * as Result from "effect/Result"
import type { CachePrefix } from "../../../simulator/WireFormat.js"
import * as Images from "../../tokens/images.js"
import * as Codec from "../../wire/bedrock/codec.js"
import { mediaTokens } from "../decoded.js"
import { PrefixBuilder } from "../promptCache.js"

/** A block of the prompt, and the role of the turn it is in (`tool` for a tool definition). */
interface Piece {
  readonly role: string
  readonly block: unknown
}

const identity = ({ block, role }: Piece): string => `${role}:${JSON.stringify(block)}`

// An image or document block's tokens, as the request decoder counts the part the codec reads it as.
function blockTokens(block: typeof Codec.ToolResultContent.Type): number {
  const part = Codec.mediaPart(block)
  return part === undefined ? 0 : mediaTokens(part, Images.anthropic)
}

// A content block's characters and media tokens, as the request decoder counts them.
function sizeOf(block: typeof Codec.ContentBlock.Type): readonly [chars: number, media: number] {
  if (typeof block.text === "string") return [block.text.length, 0]
  if (block.image !== undefined && block.image !== null) return [0, blockTokens(block)]
  if (block.toolUse !== undefined && block.toolUse !== null) {
    return [block.toolUse.name.length + JSON.stringify(block.toolUse.input ?? {}).length, 0]
  }
  if (block.toolResult !== undefined && block.toolResult !== null) {
    const content = block.toolResult.content
    return [Codec.resultText(content).length, content.reduce((tokens, part) => tokens + blockTokens(part), 0)]
  }
  return [block.reasoningContent?.reasoningText?.text.length ?? 0, 0]
}

// A tool definition's characters, as the request decoder counts them.
function toolSize(tool: NonNullable<Codec.Body["toolConfig"]>["tools"][number]): number {
  const spec = tool.toolSpec
  if (spec === undefined || spec === null) return 0
  return spec.name.length + (spec.description?.length ?? 0) + JSON.stringify(spec.inputSchema.json).length
}

type Point = typeof Codec.ContentBlock.Type["cachePoint"]

// A block's `cachePoint`, if any, ends a cached prefix for its lifetime; whether it has one.
function marked(prefixes: PrefixBuilder<Piece>, point: Point): boolean {
  if (point === undefined || point === null) return false
  prefixes.mark(point.ttl === "1h" ? "1h" : "5m")
  return true
}

/** The cached prefixes of a `Converse` body (the model from the path's `params`), shortest first. */
export function cachePrefixes(
  json: unknown,
  params?: Readonly<Record<string, string | undefined>>
): ReadonlyArray<CachePrefix> {
  const checked = Codec.checkConverse(json)
  if (Result.isFailure(checked)) return []
  const body = checked.success
  const prefixes = new PrefixBuilder<Piece>(params?.modelId ?? "", identity)
  for (const tool of body.toolConfig?.tools ?? []) {
    if (!marked(prefixes, tool.cachePoint)) prefixes.add({ role: "tool", block: tool }, toolSize(tool), 0)
  }
  for (const block of body.system ?? []) {
    if (!marked(prefixes, block.cachePoint)) prefixes.add({ role: "system", block }, block.text?.length ?? 0, 0)
  }
  for (const message of body.messages) {
    for (const block of message.content) {
      if (!marked(prefixes, block.cachePoint)) prefixes.add({ role: message.role, block }, ...sizeOf(block))
    }
  }
  return prefixes.prefixes
}
