/**
 * `Llm.countTokens`: the provider's count where it has a counting endpoint, attempted as a chat call is but taking no
 * model tokens from a budget; else the local estimate, a quarter of the prompt's characters (`promptSize.ts`) with each
 * message's markers, and its media (`mediaTokens`).
 */
import * as Effect from "effect/Effect"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { TokenCount } from "../../Llm.js"
import type { LlmError } from "../../LlmError.js"
import type { Credentials } from "../../ProviderClient.js"
import { estimatedPromptTokens } from "../promptSize.js"
import { attemptCall, dueOf, inCallSpan, retrying } from "./attempt.js"
import { type Env, invalidChat, withModel } from "./service.js"
import { mediaTokens } from "./usage.js"

// Counting generates nothing: no model tokens are taken from a tokens-per-minute budget.
const noModelTokens = () => 0

export const countTokens = (env: Env, input: ChatRequest): Effect.Effect<TokenCount, LlmError> => {
  const invalid = invalidChat(input, env.client.provider, env.model)
  if (invalid !== undefined) return Effect.fail(invalid)
  const request = withModel(env, input)
  const count = env.client.countTokens
  if (count === undefined) {
    return Effect.succeed({ inputTokens: estimatedPromptTokens(request) + mediaTokens(request), estimated: true })
  }
  // A count reports no usage: the attempt has nothing to settle.
  const counted = (bound: ChatRequest, credentials: Credentials) =>
    Effect.map(count(bound, credentials), (inputTokens) => ({ inputTokens, usage: undefined }))
  return inCallSpan(env, request, { operation: "count_tokens" }, (call, clock) => {
    const due = dueOf(env, call.deadline, clock)
    const answer = Effect.map(
      retrying(env, request, due, attemptCall(env, request, due, noModelTokens, counted), call.oneAttempt),
      ({ inputTokens }): TokenCount => ({ inputTokens, estimated: false })
    )
    return () => answer
  })
}
