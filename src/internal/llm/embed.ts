/**
 * `Llm.embed`: the inputs split into batches of the provider's size, each attempted as a chat call is, a few at a time,
 * the vectors joined in input order with the usage summed and priced.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "../../Embedding.js"
import type { LlmError } from "../../LlmError.js"
import * as EmbeddingBatches from "../providers/embeddingBatches.js"
import type { RouterCall } from "../routerCall.js"
import * as Telemetry from "../telemetry.js"
import { attemptCall, dueOf, inCallSpan, retrying } from "./attempt.js"
import { type Env, invalidEmbedding, withModel } from "./service.js"
import { estimateEmbeddingUsage, isMissing, withEmbeddingCost } from "./usage.js"

// One batch, attempted as a chat call is, under its own deadline; usage the
// provider did not report is counted locally.
const embedBatch = (
  env: Env,
  request: EmbeddingRequest,
  call: RouterCall,
  inputs: ReadonlyArray<EmbeddingBatches.Piece>
) =>
  Effect.clockWith((clock) => {
    const batch: EmbeddingRequest = { ...request, input: EmbeddingBatches.asInput(inputs) }
    const due = dueOf(env, call.deadline, clock)
    const attempt = attemptCall(env, batch, due, () => EmbeddingBatches.estimateTokens(inputs), env.client.embed)
    return Effect.flatMap(retrying(env, batch, due, attempt, call.oneAttempt), (response) =>
      isMissing(response.usage)
        ? Effect.map(estimateEmbeddingUsage(inputs), (usage) => ({ ...response, usage }))
        : Effect.succeed(response))
  })

export const embed = (env: Env, input: EmbeddingRequest): Effect.Effect<EmbeddingResponse, LlmError> => {
  const invalid = invalidEmbedding(input, env.client.provider, env.model)
  if (invalid !== undefined) return Effect.fail(invalid)
  const request = withModel(env, input)
  const inputs = EmbeddingBatches.inputsOf(request, env.client.provider, request.model ?? "")
  if (Result.isFailure(inputs)) return Effect.fail(inputs.failure)
  const batches = EmbeddingBatches.split(inputs.success, env.client.maxEmbeddingInputs)
  return inCallSpan(env, request, { operation: "embeddings", done: Telemetry.annotateEmbedding }, (call) => {
    const embedded = Effect.map(
      Effect.timed(Effect.forEach(batches, (batch) => embedBatch(env, request, call, batch), {
        concurrency: env.embeddingConcurrency
      })),
      ([latency, parts]) => withEmbeddingCost(env, request.model, EmbeddingBatches.combine(parts, latency))
    )
    return () => embedded
  })
}
