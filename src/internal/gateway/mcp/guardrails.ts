/**
 * The guardrails of an MCP tool call (docs/guardrails.md): its arguments checked before it is sent (`toolArguments`),
 * its result and an error its server answered before the client gets them (`toolResult`), through the library's one
 * engine (`checkJson`). Every key and every string (and number) of the arguments and of the result (its content
 * blocks, `structuredContent` and `_meta`) is a text of its own, so a mask leaves them the JSON they were: a key, or
 * a content block's `type`, is part of the message's shape, and a mask's finding there refuses it. A direction's
 * texts are asked about together: a webhook that takes a list (`batch`) and the moderation endpoint get one post for
 * them all.
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as Effect from "effect/Effect"
import type { Guardrail, GuardrailError } from "../../../Guardrail.js"
import { running } from "../../guardrail/chain.js"
import { checkJson } from "../../guardrail/guarded.js"

type Chain = ReadonlyArray<Guardrail>

// The fields of a content block that name its shape: a mask's finding there refuses the result.
const shapeFields: ReadonlySet<string> = new Set(["type"])

/** A call's arguments through `chain`'s `toolArguments` guardrails: masked, or the first block. */
export function checkArguments(
  chain: Chain,
  payload: Readonly<Record<string, unknown>> | undefined
): Effect.Effect<Readonly<Record<string, unknown>> | undefined, GuardrailError> {
  if (payload === undefined || running(chain, "toolArguments").length === 0) return Effect.succeed(payload)
  return Effect.map(
    checkJson(chain, payload, { path: "arguments" }, { where: "toolArguments" }),
    (checked) => checked as Record<string, unknown>
  )
}

/** A call's result through `chain`'s `toolResult` guardrails: masked, or the first block. */
export function checkResult(
  chain: Chain,
  result: McpSchema.CallToolResult
): Effect.Effect<McpSchema.CallToolResult, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.succeed(result)
  const fields = { ...result }
  return Effect.map(
    checkJson(chain, fields, { path: "result" }, { where: "toolResult" }, shapeFields),
    (checked) => checked === fields ? result : new McpSchema.CallToolResult(checked as typeof fields)
  )
}

/** An error a call's server answered (its message and data) through `chain`'s `toolResult` guardrails. */
export function checkError(
  chain: Chain,
  error: McpSchema.InternalError
): Effect.Effect<McpSchema.InternalError, GuardrailError> {
  if (running(chain, "toolResult").length === 0) return Effect.succeed(error)
  const fields = { message: error.message, ...(error.data === undefined ? {} : { data: error.data }) }
  return Effect.map(
    checkJson(chain, fields, { path: "error" }, { where: "toolResult" }),
    (checked) => checked === fields ? error : new McpSchema.InternalError(checked as typeof fields)
  )
}
