/** `Llm.chat`: attempts under the retry policy, then the usage (estimated when the provider sent none) and the cost. */
import * as Effect from "effect/Effect"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { LlmError } from "../../LlmError.js"
import * as RateLimiter from "../../RateLimiter.js"
import * as Telemetry from "../telemetry.js"
import { attemptCall, dueOf, inCallSpan, retrying } from "./attempt.js"
import { type Env, invalidChat, withModel } from "./service.js"
import { estimateUsage, isMissing, withCost } from "./usage.js"

export const chat = (env: Env, input: ChatRequest): Effect.Effect<ChatResponse, LlmError> => {
  const invalid = invalidChat(input, env.client.provider, env.model)
  if (invalid !== undefined) return Effect.fail(invalid)
  const request = withModel(env, input)
  return inCallSpan(env, request, { operation: "chat", done: Telemetry.annotateResponse }, (call, clock) => {
    const due = dueOf(env, call.deadline, clock)
    const answer = Effect.flatMap(
      retrying(
        env,
        request,
        due,
        attemptCall(env, request, due, () => RateLimiter.estimateTokens(request), env.client.chat),
        call.oneAttempt
      ),
      (response) =>
        isMissing(response.usage)
          ? Effect.map(estimateUsage(request, response), (usage) => withCost(env, request, { ...response, usage }))
          : Effect.succeed(withCost(env, request, response))
    )
    return () => answer
  })
}
