/**
 * What the gateway writes into the Messages wire of its own, and takes back from the requests that return it:
 * tool use ids made of another provider's call ids (`toolUseId`, `callId`), and the thinking block whose signature
 * carries a provider's state for the next turn (`wire/carried.ts`'s envelope; `writer.ts` writes it at the end of a
 * reply with tool calls, as clients send thinking blocks back as they came).
 */
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { AssistantMessage, Message } from "../../../Message.js"
import { type Carried, opened, restoreCall } from "../carried.js"
import { metadataKey, metadataOf, thinkingBlocksOf } from "./reply.js"

// The mark of a tool use id the gateway made of a provider's call id (Anthropic's own `toolu_01…` never has it).
const madeToolUse = "toolu_gw_"

/**
 * A provider's tool call id as Anthropic's clients expect one (`toolu_…`): kept when it is one already (an Anthropic
 * deployment's), else marked so that `callId` gives the provider its own id back when the client returns it.
 */
export function toolUseId(callId: string): string {
  return callId.startsWith("toolu_") ? callId : `${madeToolUse}${callId}`
}

/** The provider's call id of a tool use id the client sends back (`toolUseId`'s inverse). */
export function callId(toolUseId: string): string {
  return toolUseId.startsWith(madeToolUse) ? toolUseId.slice(madeToolUse.length) : toolUseId
}

/** The thinking block that carries `carried`, the provider's state for the next turn, as JSON. */
export function carrierBlock(carried: string): { type: "thinking"; thinking: ""; signature: string } {
  return { type: "thinking", thinking: "", signature: carried }
}

// An assistant turn with the provider's ids, and the state its carrier block held put back in place of the block.
function restoredTurn(message: AssistantMessage): AssistantMessage {
  let carried: Carried | undefined
  const signed = thinkingBlocksOf(message.providerMetadata).filter((block) => {
    const state = block["type"] === "thinking" ? opened(block["signature"] as string) : undefined
    if (state !== undefined) carried = state
    return state === undefined
  })
  const { [metadataKey]: _, ...others } = message.providerMetadata ?? {}
  const own = metadataOf(signed)
  const merged = { ...carried?.message, ...others, ...own }
  const { providerMetadata: __, toolCalls, ...rest } = message
  // The reasoning the reply went out with unsigned, where the client sent back only the carrier.
  const reasoning = rest.reasoning ?? carried?.reasoning
  return {
    ...rest,
    ...(reasoning !== undefined ? { reasoning } : {}),
    ...(toolCalls !== undefined
      ? { toolCalls: toolCalls.map((call) => restoreCall({ ...call, id: callId(call.id) }, carried?.calls)) }
      : {}),
    ...(Object.keys(merged).length > 0 ? { providerMetadata: merged } : {})
  }
}

function restored(message: Message): Message {
  switch (message.role) {
    case "assistant":
      return restoredTurn(message)
    case "tool":
      return { ...message, toolCallId: callId(message.toolCallId) }
    default:
      return message
  }
}

/** A decoded request with what the gateway put in its earlier replies given back to the providers' shapes. */
export function restoredRequest(request: ChatRequest): ChatRequest {
  return { ...request, messages: request.messages.map(restored) }
}
