/**
 * Mid-stream continuation (`Router.Options.midStream: "continue"`): a stream
 * broke after part of its reply went out, and the next deployment is asked
 * to go on from exactly that text. A deployment that takes an assistant
 * prefill (`Deployment.prefill`: Anthropic's Messages API, a compatible server
 * that says so) gets the text as the start of its own reply; any other gets a
 * continuation turn: the text as an assistant message, then a user message
 * asking for the rest. A prefill the deployment refuses (an
 * `InvalidRequestError`, a 400) is asked again by the turn, in the same attempt.
 */
import * as Effect from "effect/Effect"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { emptyUsage, type Usage } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import * as Message from "../../Message.js"
import { estimateUsage } from "../tokens/estimate.js"

/** What a continuation turn asks after the text already sent. */
export const instruction = "Your previous message was cut off. Continue it from exactly where it stopped, " +
  "without repeating any of it and without any preamble."

/**
 * What a broken stream had sent when it is continued: its text (the router's
 * only copy is the text it forwarded), and the usage and cost of the attempts
 * that broke, added to the rest's (no cost for one on a deployment without a
 * price).
 */
export interface Sent {
  readonly text: string
  readonly usage: Usage
  readonly cost: number
}

// Anthropic's API refuses a prefill that ends with white space: it goes without it.
const prefillOf = (text: string): string => text.trimEnd()

/** The request that asks for the rest by prefill: the text sent as the start of the assistant's reply. */
export const prefilled = (request: ChatRequest, sent: Sent): ChatRequest => ({
  ...request,
  messages: [...request.messages, Message.assistant(prefillOf(sent.text))]
})

/** The request that asks for the rest by a continuation turn. */
export const turn = (request: ChatRequest, sent: Sent): ChatRequest => ({
  ...request,
  messages: [...request.messages, Message.assistant(sent.text), Message.user(instruction)]
})

/**
 * A continuation's attempt: by prefill where the deployment takes one, its
 * refusal (`InvalidRequestError`) asked again by a turn; else by a turn. With
 * no text sent yet (only reasoning went out), the request as it was.
 */
export const send = <A>(
  request: ChatRequest,
  sent: Sent,
  prefill: boolean,
  attempt: (request: ChatRequest) => Effect.Effect<A, LlmError>
): Effect.Effect<A, LlmError> => {
  if (sent.text === "") return attempt(request)
  if (!prefill || prefillOf(sent.text) === "") return attempt(turn(request, sent))
  return Effect.catchIf(
    attempt(prefilled(request, sent)),
    (error) => error._tag === "InvalidRequestError",
    () => attempt(turn(request, sent))
  )
}

/** Two usages as one: every count added, estimated when either is. */
export const sum = (a: Usage, b: Usage): Usage => ({
  promptTokens: a.promptTokens + b.promptTokens,
  completionTokens: a.completionTokens + b.completionTokens,
  totalTokens: a.totalTokens + b.totalTokens,
  cachedPromptTokens: a.cachedPromptTokens + b.cachedPromptTokens,
  reasoningTokens: a.reasoningTokens + b.reasoningTokens,
  ...(a.cacheWriteTokens !== undefined || b.cacheWriteTokens !== undefined
    ? { cacheWriteTokens: (a.cacheWriteTokens ?? 0) + (b.cacheWriteTokens ?? 0) }
    : {}),
  estimated: a.estimated || b.estimated
})

/**
 * The usage of an attempt that broke: what its stream reported, else counted
 * locally (`estimated`) from its request and the text it sent.
 */
export const brokenUsage = (
  request: ChatRequest,
  reported: Usage | undefined,
  text: string
): Effect.Effect<Usage> =>
  reported !== undefined ? Effect.succeed(reported) : estimateUsage(request, { text, toolCalls: [] })

/** Nothing carried yet. */
export const nothingSent: Sent = { text: "", usage: emptyUsage, cost: 0 }
