/**
 * What a provider needs back unchanged in a later turn (Gemini's thought signature on a function call, Anthropic's
 * signed thinking blocks), carried through a client in the one place every client sends back as it came: a Responses
 * `reasoning` item's `encrypted_content`, an Anthropic `thinking` block's `signature`. The gateway adds such an item at
 * the end of a reply's output and reads it back from the input (an envelope marked `gw1.`, never sent to a provider).
 *
 * A Chat Completions client sends back nothing of a reply but its text and its calls: there, what a call needs back
 * rides in the call's id (`idCarrying`), which every client returns as it came on the call and in its tool result's
 * `tool_call_id`. The same envelope carries the summary of a `compaction` item the gateway's `/v1/responses/compact`
 * made (`gateway/responses/compaction.ts`), so a later turn gets it as a message on any deployment.
 */
import type { AssistantMessage, Message, ProviderMetadata, ToolCall } from "../../Message.js"
import { isJsonObject } from "../json.js"

/** What a reply leaves for its next turn: its own metadata, and each call's by its id. */
export interface Carried {
  readonly message?: ProviderMetadata | undefined
  readonly calls?: Readonly<Record<string, ProviderMetadata>> | undefined
  /** A compacted conversation's summary, which stands for the conversation before it. */
  readonly summary?: string | undefined
  /**
   * The reply's reasoning text, which a client that sends back no reasoning or only signed thinking would lose
   * (Gemini's drop their thought parts; the AI SDK's Anthropic provider drops unsigned thinking), and which a provider
   * wants back in a tool loop (DeepSeek's `reasoning_content`, Bedrock's signed reasoning).
   */
  readonly reasoning?: string | undefined
}

const mark = "gw1."

const sealed = (carried: Carried): string => mark + Buffer.from(JSON.stringify(carried)).toString("base64url")

/**
 * The carried state of `own`, a reply's metadata, its calls' (by id), and its `reasoning` where given; none if none.
 */
export const envelopeOf = (
  own: ProviderMetadata | undefined,
  calls: Iterable<readonly [string, ProviderMetadata | undefined]>,
  reasoning?: string
): string | undefined => {
  const byId: Record<string, ProviderMetadata> = {}
  let any = false
  for (const [id, metadata] of calls) {
    if (metadata === undefined) continue
    byId[id] = metadata
    any = true
  }
  const thought = reasoning !== undefined && reasoning !== ""
  if (own === undefined && !any && !thought) return undefined
  return sealed({
    ...(own !== undefined ? { message: own } : {}),
    ...(any ? { calls: byId } : {}),
    ...(thought ? { reasoning } : {})
  })
}

/** The envelope of a compacted conversation's `summary`. */
export const summaryEnvelope = (summary: string): string => sealed({ summary })

/**
 * The id a client gets for a call of `id` whose provider needs `metadata` back on it: the envelope of that one call
 * (as `envelopeOf` seals a reply's); `id` itself without any.
 */
export const idCarrying = (id: string, metadata: ProviderMetadata | undefined): string =>
  metadata === undefined ? id : sealed({ calls: { [id]: metadata } })

/** The carried state of an `encrypted_content` of the gateway's; undefined for any other (a provider's own). */
export const opened = (encrypted: string | null | undefined): Carried | undefined => {
  if (typeof encrypted !== "string" || !encrypted.startsWith(mark)) return undefined
  try {
    const value: unknown = JSON.parse(Buffer.from(encrypted.slice(mark.length), "base64url").toString("utf8"))
    if (!isJsonObject(value)) return {}
    const message = isJsonObject(value["message"]) ? value["message"] : undefined
    const calls = isJsonObject(value["calls"]) ? value["calls"] as Record<string, ProviderMetadata> : undefined
    const summary = typeof value["summary"] === "string" ? value["summary"] : undefined
    const reasoning = typeof value["reasoning"] === "string" ? value["reasoning"] : undefined
    return { message, calls, summary, reasoning }
  } catch {
    // A damaged envelope carries nothing; the provider says what it misses.
    return {}
  }
}

/** A call id a client sent back: the provider's id, and the metadata it carried when it is one of `idCarrying`'s. */
export const carriedBy = (sent: string): { readonly id: string; readonly metadata?: ProviderMetadata } => {
  const calls = Object.entries(opened(sent)?.calls ?? {})
  if (calls.length !== 1) return { id: sent }
  const [id, metadata] = calls[0]!
  return isJsonObject(metadata) ? { id, metadata } : { id: sent }
}

const withCarried = (call: ToolCall, metadata: ProviderMetadata | undefined): ToolCall =>
  metadata === undefined ? call : { ...call, providerMetadata: { ...call.providerMetadata, ...metadata } }

/** `call` with the metadata carried for its id, if any, put back. */
export const restoreCall = (call: ToolCall, calls: Readonly<Record<string, ProviderMetadata>> | undefined): ToolCall =>
  withCarried(call, calls?.[call.id])

/** `messages` with the carried call metadata put back on the calls of their ids. */
export const restoreCalls = (messages: Array<Message>, calls: ReadonlyMap<string, ProviderMetadata>): void => {
  if (calls.size === 0) return
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!
    if (message.role !== "assistant" || message.toolCalls === undefined) continue
    const toolCalls = message.toolCalls.map((call) => withCarried(call, calls.get(call.id)))
    messages[i] = { ...message, toolCalls } satisfies AssistantMessage
  }
}
