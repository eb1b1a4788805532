/**
 * The Bedrock `Converse` request, read with the codec (`wire/bedrock/codec.ts`), held to the API's rules past the shape
 * (docs/simulator.md and each check's doc give them; tool pairing in `toolPairs.ts`) and reduced to a `Reply.Prompt`,
 * with the window a Claude Sonnet 4 or 4.5 prompt has without the 1M-token beta in
 * `additionalModelRequestFields.anthropic_beta` (200,000 tokens); the model comes from the path.
 */
import { isNotNullish } from "effect/Predicate"
import * as Result from "effect/Result"
import type { ApiError, Decoded } from "../../../simulator/WireFormat.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { bracketed } from "../../schemaCheck.js"
import * as Images from "../../tokens/images.js"
import { longContextBeta, needsLongContextBeta, standardContextWindow } from "../../wire/anthropic/request.js"
import * as Codec from "../../wire/bedrock/codec.js"
import { longerAfterShorter } from "../../wire/cacheLifetime.js"
import { isBlank } from "../../wire/emptyText.js"
import { signatureOf } from "../anthropic/render.js"
import { requestPrompt } from "../decoded.js"
import { invalid } from "../requestChecks.js"
import { unpaired } from "../toolPairs.js"

const blank = (text: string | null | undefined): boolean => isNotNullish(text) && isBlank(text)

/**
 * What Converse refuses as empty (its answers to such a request): a message with no content block, and a text block, a
 * tool result's text or a system block that is empty or only white space.
 */
function emptyError(body: Codec.Body): ApiError | undefined {
  const blankAt = (object: string, where: string) =>
    invalid(
      `The text field in the ${object} object at ${where} is blank. Add text to the text field, and try again.`,
      where
    )
  const system = body.system ?? []
  for (let i = 0; i < system.length; i++) {
    if (blank(system[i]!.text)) return blankAt("SystemContentBlock", `system.${i}`)
  }
  for (let i = 0; i < body.messages.length; i++) {
    const content = body.messages[i]!.content
    if (content.length === 0) {
      return invalid(
        `The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the ` +
          "content field and try again.",
        `messages.${i}.content`
      )
    }
    for (let j = 0; j < content.length; j++) {
      const block = content[j]!
      if (blank(block.text)) return blankAt("ContentBlock", `messages.${i}.content.${j}`)
      const results = block.toolResult?.content ?? []
      for (let k = 0; k < results.length; k++) {
        if (blank(results[k]!.text)) {
          return blankAt("ToolResultContentBlock", `messages.${i}.content.${j}.toolResult.content.${k}`)
        }
      }
    }
  }
  return undefined
}

/**
 * A `cachePoint` of an hour after a shorter one (the `CachePointBlock` reference's `ttl`), which Bedrock refuses as
 * Anthropic's prompt caching guide words it for Claude: a longer lifetime only before the shorter ones, in the order
 * tools, system, messages. The wording of the answer is the simulator's.
 */
function lifetimeError(body: unknown): ApiError | undefined {
  const points = Codec.cachePointBlocks(body as JsonObject).map(([list, i]) => (list[i] as JsonObject)["cachePoint"])
  if (longerAfterShorter(points) === undefined) return undefined
  return invalid(
    "A cachePoint with a ttl of 1h must not come after a cachePoint with a shorter ttl. Cache points are " +
      "processed in the order toolConfig, system, messages.",
    "cachePoint"
  )
}

/**
 * What Claude on Bedrock refuses of the reasoning sent back with thinking on, in its words as Bedrock passes them on
 * (Anthropic's extended thinking with tool use): a `reasoningText` without the signature the simulator gave it, and a
 * final assistant turn that calls tools without opening with its reasoning.
 */
function thinkingError(body: Codec.Body): ApiError | undefined {
  const refused = (what: string, where: string) =>
    invalid(`The model returned the following errors: ${where}: ${what}`, where)
  let last = body.messages.length - 1
  while (last >= 0 && body.messages[last]!.role !== "assistant") last--
  for (let i = 0; i <= last; i++) {
    const content = body.messages[i]!.content
    for (let j = 0; j < content.length; j++) {
      const thought = content[j]!.reasoningContent?.reasoningText
      if (isNotNullish(thought) && thought.signature !== signatureOf(thought.text)) {
        return refused("Invalid `signature` in `thinking` block", `messages.${i}.content.${j}`)
      }
    }
  }
  const final = body.messages[last]?.content ?? []
  if (!final.some((block) => isNotNullish(block.toolUse)) || isNotNullish(final[0]?.reasoningContent)) return undefined
  return refused(
    "Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final " +
      "`assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and " +
      "`tool_result` blocks).",
    `messages.${last}.content.0.type`
  )
}

/** A `Converse` body for the path's model (`params.modelId`), streamed when `params.stream` is set. */
export const decode = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): Result.Result<Decoded<undefined>, ApiError> => {
  const result = Codec.checkConverse(body)
  if (Result.isFailure(result)) {
    const { message, path } = result.failure.refusals[0]
    const where = bracketed(path)
    return Result.fail(
      invalid(`1 validation error detected: Value at '${where}' failed to satisfy constraint: ${message}`, where)
    )
  }
  const checked = result.success
  // The Converse API reference: `toolConfig.tools` has one member at least (and `toolChoice` is only inside it).
  if (checked.toolConfig?.tools.length === 0) {
    return Result.fail(invalid(
      "1 validation error detected: Value at 'toolConfig.tools' failed to satisfy constraint: Member must have " +
        "length greater than or equal to 1",
      "toolConfig.tools"
    ))
  }
  // The API's answer to tool calls or results in a conversation that offers no tool.
  const toolBlocks = checked.messages.some((message) =>
    message.content.some((block) => isNotNullish(block.toolUse) || isNotNullish(block.toolResult))
  )
  if (toolBlocks && !isNotNullish(checked.toolConfig)) {
    return Result.fail(invalid(
      "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
      "toolConfig"
    ))
  }
  // The Converse reference's `InferenceConfiguration`: a temperature and a topP from 0 to 1.
  for (const name of ["temperature", "topP"] as const) {
    const value = checked.inferenceConfig?.[name]
    if (isNotNullish(value) && !(value >= 0 && value <= 1)) {
      return Result.fail(invalid(
        `1 validation error detected: Value '${value}' at 'inferenceConfig.${name}' failed to satisfy constraint: ` +
          "Member must have value less than or equal to 1",
        `inferenceConfig.${name}`
      ))
    }
  }
  if (checked.messages.length === 0) {
    return Result.fail(invalid("A conversation must start with a user message.", "messages"))
  }
  if (checked.messages[0]!.role !== "user") {
    return Result.fail(invalid(
      "A conversation must start with a user message. Try again with a conversation that starts " +
        "with a user message.",
      "messages"
    ))
  }
  for (let i = 1; i < checked.messages.length; i++) {
    if (checked.messages[i]!.role === checked.messages[i - 1]!.role) {
      return Result.fail(invalid(
        "A conversation must alternate between user and assistant roles. Make sure the conversation alternates " +
          "between user and assistant roles and try again.",
        `messages[${i}]`
      ))
    }
  }
  const empty = emptyError(checked)
  if (empty !== undefined) return Result.fail(empty)
  const lifetimes = lifetimeError(body)
  if (lifetimes !== undefined) return Result.fail(lifetimes)
  const model = params?.modelId ?? ""
  // Structured output is a model's (the Bedrock user guide's supported models): the simulated Claude's that take it.
  if (isNotNullish(checked.outputConfig) && !Codec.takesTextFormat(model)) {
    return Result.fail(invalid(
      `The model ${model} does not support structured output (outputConfig.textFormat).`,
      "outputConfig.textFormat"
    ))
  }
  const request = Codec.toRequest(checked, model)
  if (Result.isFailure(request)) return Result.fail(invalid(request.failure.message, request.failure.param))
  const broken = unpaired(request.success.messages)
  if (broken?._tag === "Unanswered") {
    return Result.fail(
      invalid(`Expected toolResult blocks for the following Ids: ${broken.ids.join(", ")}`, "messages")
    )
  }
  if (broken?._tag === "Unasked") {
    return Result.fail(invalid(
      "The number of toolResult blocks exceeds the number of toolUse blocks of previous turn.",
      "messages"
    ))
  }
  const thinking = Codec.thinkingBudgetOf(checked) === undefined ? undefined : thinkingError(checked)
  if (thinking !== undefined) return Result.fail(thinking)
  const decoded = requestPrompt(request.success, {
    model,
    stream: params?.stream === "true",
    extra: undefined,
    parallelToolCalls: true,
    reasoning: request.success.reasoningEffort !== undefined,
    // The models Converse is simulated for are Claude's: Anthropic's rule for an image.
    images: Images.anthropic
  })
  return asksLongContext(checked) || !needsLongContextBeta(model)
    ? decoded
    : Result.map(decoded, (decoded) => ({ ...decoded, window: standardContextWindow }))
}

/** Whether a body asks for Claude's 1M-token window (its beta in `additionalModelRequestFields.anthropic_beta`). */
function asksLongContext(body: Codec.Body): boolean {
  const betas = body.additionalModelRequestFields?.["anthropic_beta"]
  return Array.isArray(betas) && betas.includes(longContextBeta)
}

/**
 * A `CountTokens` body (`POST /model/{modelId}/count-tokens`) as the Converse body its `input.converse` holds
 * (`messages`, `system`, `toolConfig`, `additionalModelRequestFields`); the simulator counts no `invokeModel` input.
 */
export const decodeCount = (
  body: unknown,
  params?: Readonly<Record<string, string | undefined>>
): Result.Result<Decoded<undefined>, ApiError> => {
  const input = isJsonObject(body) ? body["input"] : undefined
  const converse = isJsonObject(input) ? input["converse"] : undefined
  if (!isJsonObject(converse)) {
    return Result.fail(invalid(
      "1 validation error detected: Value at 'input.converse' failed to satisfy constraint: Member must not be null",
      "input.converse"
    ))
  }
  const { additionalModelRequestFields: _, ...counted } = converse
  return decode(counted, params)
}
