/**
 * Whether an earlier assistant turn's reasoning is signed: its provider metadata holds what the provider checks the
 * text against, or its own copy sent back in place of `reasoning` (Anthropic's signed thinking, Bedrock's reasoning
 * signature, a Responses item's `encrypted_content`). A mask of `reasoning` would not reach such a copy, or would break
 * its signature. Gemini's thought signature is not over the thought text, which the Gemini API never takes back (the
 * Gemini API docs, thought signatures).
 */
import type { AssistantMessage, ProviderMetadata } from "../../Message.js"
import { isJsonObject } from "../json.js"
import { thinkingBlocksOf } from "./anthropic/reply.js"
import { signatureOf } from "./bedrock/codec.js"
import { reasoningItemsOf } from "./openAiResponses/codec.js"

/** Whether `message`'s reasoning is held, signed or copied, in its provider metadata (above). */
export function signedReasoning(message: AssistantMessage): boolean {
  const metadata = message.providerMetadata
  if (metadata === undefined || message.reasoning === undefined) return false
  return thinkingBlocksOf(metadata).some((block) => block["type"] === "thinking") ||
    signatureOf(metadata) !== undefined ||
    reasoningItemsOf(metadata).length > 0
}

/**
 * The payloads an earlier turn's reasoning travels in without its text (Anthropic's `redacted_thinking` data, a
 * Responses reasoning item's `encrypted_content`): the prompt holds that reasoning, which no text of the turn shows.
 */
export function opaqueReasoning(metadata: ProviderMetadata | undefined): ReadonlyArray<string> {
  if (metadata === undefined) return []
  const payloads: Array<string> = []
  for (const block of thinkingBlocksOf(metadata)) {
    if (block["type"] === "redacted_thinking" && typeof block["data"] === "string") payloads.push(block["data"])
  }
  for (const item of reasoningItemsOf(metadata)) {
    if (isJsonObject(item) && typeof item["encrypted_content"] === "string") payloads.push(item["encrypted_content"])
  }
  return payloads
}
