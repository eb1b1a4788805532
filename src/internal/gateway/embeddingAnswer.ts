/**
 * An embedding request's answer on any route: its model admitted for the request's key, the embeddings made by its
 * target, counted, logged and charged, and rendered in the route's wire; a failure answered in the route's words.
 */
import * as Effect from "effect/Effect"
import { emptyUsage } from "../../ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "../../Embedding.js"
import type { LlmError } from "../../LlmError.js"
import * as ChatAnswer from "./chatAnswer.js"
import * as GovernedCall from "./governedCall.js"
import * as Request from "./request/context.js"
import * as Outcome from "./request/outcome.js"
import type * as Admission from "./serving/admission.js"
import { errorResponse, json } from "./serving/answers.js"
import type { WithBody } from "./serving/requests.js"

/** An embedding body as its route decoded it, and how the route answers it. */
export interface Embedding {
  readonly model: string
  readonly request: EmbeddingRequest
  readonly failures: ChatAnswer.Failures
  /** The reply's body in the route's wire. */
  readonly render: (response: EmbeddingResponse) => string
}

/** The answer to an embedding body: refused, or the embeddings once its model is admitted, as one governed call. */
export function answered(serving: Admission.Service, { tally }: WithBody, embedding: Embedding) {
  const { failures } = embedding
  return serving.admitted({
    model: embedding.model,
    request: () => embedding.request,
    handle: (target, sent, context) => {
      tally.model(embedding.model)
      const request = ChatAnswer.addressed(sent, target)
      const embedded = GovernedCall.governed<EmbeddingRequest, EmbeddingResponse, LlmError, never>({
        reserve: Request.reserved(context),
        // No guardrail reads embeddings' inputs (docs/guardrails.md).
        guardIn: Effect.succeed(request),
        send: (request) => target.llm.embed(request),
        cost: (response) => response.cost,
        record: (ended) => recorded({ context, failures, tally }, ended)
      })
      return Effect.match(embedded, {
        onFailure: (stop) => errorResponse(ChatAnswer.answerOf(failures, stop.error), failures.errors),
        onSuccess: (response) => json(200, embedding.render(response))
      })
    }
  })
}

// How embeddings ended, noted once at their exit: their tokens and cost, or their failure.
function recorded(call: ChatAnswer.Noted, { answered, stop }: GovernedCall.Ended<LlmError, EmbeddingResponse>) {
  if (stop !== undefined) ChatAnswer.noteFailure(call, stop.error)
  if (answered === undefined) return
  call.tally.embedded(answered.usage.promptTokens, answered.cost)
  const { estimated, promptTokens, totalTokens } = answered.usage
  const usage = { ...emptyUsage, promptTokens, totalTokens, estimated }
  Outcome.billed(call.context.outcome, `${answered.provider}/${answered.model}`, usage, answered.cost)
}
