/**
 * The rule the APIs hold a conversation's tool calls to (OpenAI's Chat Completions and Responses, Bedrock's Converse;
 * Anthropic's and Gemini's formats check their own wire): every call an assistant turn makes is answered by a tool
 * result with its id before the next user or assistant turn, or the request's end; and every result answers a call
 * still open. An assistant turn may be read as several messages in a row (text after its calls is a message of its
 * own); they are one turn. A request ending with the assistant's calls (a prefill) is not refused.
 */
import type { Message } from "../../Message.js"

/** The first break of the rule: the calls a turn left unanswered, or a result that answers no open call. */
export type Unpaired =
  | { readonly _tag: "Unanswered"; readonly ids: ReadonlyArray<string> }
  | { readonly _tag: "Unasked"; readonly id: string }

/**
 * The first break of the rule in `messages`, or `undefined`. `unasked: false` lets results answer calls the request
 * does not hold (a Responses request continuing a stored response, whose calls it answers).
 */
export function unpaired(messages: ReadonlyArray<Message>, unasked = true): Unpaired | undefined {
  // The open calls' ids, with how many calls of each id are open.
  const open = new Map<string, number>()
  const unanswered = (): Unpaired | undefined =>
    open.size === 0 ? undefined : { _tag: "Unanswered", ids: [...open.keys()] }
  let previous: Message["role"] | undefined
  for (const message of messages) {
    if (message.role === "system") continue
    if (message.role === "tool") {
      const left = open.get(message.toolCallId)
      if (left === undefined) {
        if (unasked) return { _tag: "Unasked", id: message.toolCallId }
      } else if (left === 1) open.delete(message.toolCallId)
      else open.set(message.toolCallId, left - 1)
    } else {
      const sameTurn = message.role === "assistant" && previous === "assistant"
      if (!sameTurn) {
        const broken = unanswered()
        if (broken !== undefined) return broken
      }
      if (message.role === "assistant") {
        for (const call of message.toolCalls ?? []) open.set(call.id, (open.get(call.id) ?? 0) + 1)
      }
    }
    previous = message.role
  }
  return previous === "assistant" ? undefined : unanswered()
}
