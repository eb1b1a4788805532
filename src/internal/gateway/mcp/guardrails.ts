/**
 * The guardrails of an MCP tool call (docs/guardrails.md): its arguments checked before it is sent (`toolArguments`),
 * its result before it is answered (`toolResult`), through the library's one engine (`checkTexts`). Each string (and
 * number) of the arguments and of a result's `structuredContent` is a text of its own, so a mask leaves them the JSON
 * they were; of the content blocks, the text blocks and an embedded resource's text are checked (images, audio, blobs
 * and links pass as they are). A direction's texts are asked about together: a webhook that takes a list (`batch`)
 * and the moderation endpoint get one post for them all.
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import type { Guardrail, GuardrailError } from "../../../Guardrail.js"
import { running } from "../../guardrail/chain.js"
import { checkTexts } from "../../guardrail/guarded.js"

type Chain = ReadonlyArray<Guardrail>

/** The texts of `value` a guardrail reads, in order, into `out`: each string, and each number as its text. */
function gather(value: unknown, out: Array<string>): void {
  if (typeof value === "string") out.push(value)
  else if (typeof value === "number") out.push(String(value))
  else if (Array.isArray(value)) { for (const item of value) gather(item, out) }
  else if (value !== null && typeof value === "object") { for (const field of Object.values(value)) gather(field, out) }
}

/** `value` with its texts (in `gather`'s order) taken from `texts`, from `cursor.next` on. */
function rebuild(value: unknown, texts: ReadonlyArray<string>, cursor: { next: number }): unknown {
  if (typeof value === "string") return texts[cursor.next++]
  if (typeof value === "number") {
    // A number masked becomes the masked text: a card number sent as a number is not let through whole.
    const text = texts[cursor.next++]!
    return text === String(value) ? value : text
  }
  if (Array.isArray(value)) return value.map((item) => rebuild(item, texts, cursor))
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([name, field]) => [name, rebuild(field, texts, cursor)]))
  }
  return value
}

/** A call's arguments through `chain`'s `toolArguments` guardrails: masked, or the first block. */
export function checkArguments(
  chain: Chain,
  payload: Readonly<Record<string, unknown>> | undefined
): Effect.Effect<Readonly<Record<string, unknown>> | undefined, GuardrailError> {
  if (payload === undefined || running(chain, "toolArguments").length === 0) return Effect.succeed(payload)
  const texts: Array<string> = []
  gather(payload, texts)
  return Effect.map(
    checkTexts(chain, texts, { where: "toolArguments" }),
    (checked) => rebuild(payload, checked, { next: 0 }) as Record<string, unknown>
  )
}

/** The text of a content block a guardrail reads, if it has one. */
function blockText(block: McpSchema.ContentBlock): string | undefined {
  if (block.type === "text") return block.text
  if (block.type === "resource" && "text" in block.resource) return block.resource.text
  return undefined
}

/** `block` with its text (`blockText`) replaced by `text`. */
function withText(block: McpSchema.ContentBlock, text: string): McpSchema.ContentBlock {
  if (block.type === "text") return { ...block, text }
  if (block.type === "resource" && "text" in block.resource) return { ...block, resource: { ...block.resource, text } }
  return block
}

/** A call's result through `chain`'s `toolResult` guardrails: masked, or the first block. */
export function checkResult(
  chain: Chain,
  result: McpSchema.CallToolResult
): Effect.Effect<McpSchema.CallToolResult, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.succeed(result)
  const texts: Array<string> = []
  for (const block of result.content) {
    const text = blockText(block)
    if (text !== undefined) texts.push(text)
  }
  if (result.structuredContent !== undefined) gather(result.structuredContent, texts)
  return Effect.map(checkTexts(chain, texts, { where: "toolResult" }), (checked) => {
    const cursor = { next: 0 }
    const content = result.content.map((block) =>
      blockText(block) === undefined ? block : withText(block, checked[cursor.next++]!)
    )
    const structuredContent = result.structuredContent === undefined
      ? undefined
      : rebuild(result.structuredContent, checked, cursor)
    return new McpSchema.CallToolResult({
      ...result,
      content,
      ...(structuredContent === undefined ? {} : { structuredContent })
    })
  })
}
