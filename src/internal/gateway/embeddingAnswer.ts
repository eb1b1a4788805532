/**
 * An embedding request's answer on any route: its model admitted for the request's key, the embeddings made by its
 * target, counted, logged and charged, and rendered in the route's wire; a failure answered in the route's words.
 */
import * as Effect from "effect/Effect"
import { emptyUsage } from "../../ChatResponse.js"
import type { EmbeddingResponse, Input as EmbeddingRequest } from "../../Embedding.js"
import type * as ChatAnswer from "./chatAnswer.js"
import * as Request from "./request/context.js"
import * as Outcome from "./request/outcome.js"
import type * as Admission from "./serving/admission.js"
import { json } from "./serving/answers.js"
import type { WithBody } from "./serving/requests.js"

/** An embedding body as its route decoded it, and how the route answers it. */
export interface Embedding {
  readonly model: string
  readonly request: EmbeddingRequest
  readonly failures: ChatAnswer.Failures
  /** The reply's body in the route's wire. */
  readonly render: (response: EmbeddingResponse) => string
}

/** The answer to an embedding body: refused, or the embeddings once its model is admitted. */
export function answered(serving: Admission.Service, { tally }: WithBody, embedding: Embedding) {
  return serving.admitted({
    model: embedding.model,
    request: () => embedding.request,
    handle: (target, sent, context) => {
      tally.model(embedding.model)
      const request = target.address === undefined ? sent : { ...sent, model: target.address }
      return Effect.matchEffect(target.llm.embed(request), {
        onFailure: (error) => {
          tally.failed(error)
          return Effect.succeed(serving.failed(context, embedding.failures, error))
        },
        onSuccess: (response) => {
          tally.embedded(response.usage.promptTokens, response.cost)
          const { estimated, promptTokens, totalTokens } = response.usage
          Outcome.billed(
            context.outcome,
            `${response.provider}/${response.model}`,
            { ...emptyUsage, promptTokens, totalTokens, estimated },
            response.cost
          )
          return Effect.as(Request.settle(context, response.cost), json(200, embedding.render(response)))
        }
      })
    }
  })
}
