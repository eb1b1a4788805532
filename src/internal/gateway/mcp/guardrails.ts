/**
 * The guardrails of an MCP tool call (docs/guardrails.md): its arguments checked before it is sent (`toolArguments`),
 * its result before it is answered (`toolResult`), through the library's one engine (`checkText`). Each string (and
 * number) of the arguments and of a result's `structuredContent` is a text of its own, so a mask leaves them the JSON
 * they were; of the content blocks, the text blocks and an embedded resource's text are checked (images, audio, blobs
 * and links pass as they are).
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import type { Guardrail, GuardrailError, Where } from "../../../Guardrail.js"
import { running } from "../../guardrail/chain.js"
import { checkText } from "../../guardrail/guarded.js"

type Chain = ReadonlyArray<Guardrail>

/** `value` with each string and number in it (not the names of its fields) through `chain` where `where` says. */
function checkValues(chain: Chain, value: unknown, where: Where): Effect.Effect<unknown, GuardrailError> {
  if (typeof value === "string") return checkText(chain, value, { where })
  if (typeof value === "number") {
    // A number masked becomes the masked text: a card number sent as a number is not let through whole.
    return Effect.map(checkText(chain, String(value), { where }), (text) => text === String(value) ? value : text)
  }
  if (Array.isArray(value)) return Effect.forEach(value, (item) => checkValues(chain, item, where))
  if (value !== null && typeof value === "object") {
    return Effect.map(
      Effect.forEach(
        Object.entries(value),
        ([name, field]) => Effect.map(checkValues(chain, field, where), (checked) => [name, checked] as const)
      ),
      Object.fromEntries
    )
  }
  return Effect.succeed(value)
}

/** A call's arguments through `chain`'s `toolArguments` guardrails: masked, or the first block. */
export function checkArguments(
  chain: Chain,
  payload: Readonly<Record<string, unknown>> | undefined
): Effect.Effect<Readonly<Record<string, unknown>> | undefined, GuardrailError> {
  if (payload === undefined || running(chain, "toolArguments").length === 0) return Effect.succeed(payload)
  return Effect.map(checkValues(chain, payload, "toolArguments"), (checked) => checked as Record<string, unknown>)
}

/** One content block of a result through `chain`'s `toolResult` guardrails. */
function checkBlock(
  chain: Chain,
  block: McpSchema.ContentBlock
): Effect.Effect<McpSchema.ContentBlock, GuardrailError> {
  if (block.type === "text") {
    return Effect.map(checkText(chain, block.text, { where: "toolResult" }), (text) => ({ ...block, text }))
  }
  if (block.type === "resource" && "text" in block.resource) {
    const resource = block.resource
    return Effect.map(
      checkText(chain, resource.text, { where: "toolResult" }),
      (text) => ({ ...block, resource: { ...resource, text } })
    )
  }
  return Effect.succeed(block)
}

/** A call's result through `chain`'s `toolResult` guardrails: masked, or the first block. */
export function checkResult(
  chain: Chain,
  result: McpSchema.CallToolResult
): Effect.Effect<McpSchema.CallToolResult, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.succeed(result)
  return Effect.gen(function*() {
    const content = yield* Effect.forEach(result.content, (block) => checkBlock(chain, block))
    const structuredContent = result.structuredContent === undefined
      ? undefined
      : yield* checkValues(chain, result.structuredContent, "toolResult")
    return new McpSchema.CallToolResult({
      ...result,
      content,
      ...(structuredContent === undefined ? {} : { structuredContent })
    })
  })
}
