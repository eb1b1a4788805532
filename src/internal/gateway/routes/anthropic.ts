/**
 * Anthropic's `POST /v1/messages`: the same engine, admission and streams as OpenAI's chat route, failures in
 * Anthropic's error shape. The client's `anthropic-beta` header asks for the 1M-token window (`longContext`), which the
 * deployment's client sends as its API asks for it.
 *
 * And `POST /v1/messages/count_tokens` (Anthropic's token counting reference), counted by the provider of the
 * deployment the model routes to where it has an endpoint for it, else locally (`Llm.countTokens`); a count that cannot
 * be made is an error, never a made-up number.
 */
import * as Effect from "effect/Effect"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import { restoredRequest } from "../../wire/anthropic/carrier.js"
import * as Anthropic from "../../wire/anthropic/dialect.js"
import { betasOf, countReply, countTokens as decodeCount, longContextBeta } from "../../wire/anthropic/request.js"
import * as ChatAnswer from "../chatAnswer.js"
import * as Errors from "../errorAnswer.js"
import { problemOr } from "../serving/answers.js"
import { Requests, type WithBody } from "../serving/requests.js"

const { errors } = Anthropic.dialect

/** Anthropic's routes over the configuration served: `/v1/messages` and `/v1/messages/count_tokens`. */
export const routes = Effect.gen(function*() {
  const serving = yield* ChatAnswer.answering
  const { withBody } = yield* Requests
  return {
    messages: withBody("/v1/messages", (body) => answer(serving, body)),
    countTokens: withBody("/v1/messages/count_tokens", (body) => count(serving, body))
  }
})

// A `/v1/messages` body's answer: refused, or streamed or whole once its model is admitted.
function answer(serving: ChatAnswer.Answering, body: WithBody) {
  return problemOr(Anthropic.dialect.decode(body.text, serving.now), (decoded) =>
    ChatAnswer.answered(serving, body, {
      ...decoded,
      request: withBetas(decoded.request, body.betaHeader),
      failures: Errors.failures(serving.now, errors, decoded.path)
    }), errors)
}

/** `request` with what the client's `anthropic-beta` header asks for that is no field of the body: the 1M window. */
function withBetas(request: ChatRequest, header: string | undefined): ChatRequest {
  return betasOf(header).includes(longContextBeta) ? { ...request, longContext: true } : request
}

// A `/v1/messages/count_tokens` body's answer: refused, or the count once its model is admitted
// (`ChatAnswer.counted`).
function count(serving: ChatAnswer.Answering, { betaHeader, tally, text }: WithBody) {
  return problemOr(decodeCount(text), ({ body, model, request }) =>
    ChatAnswer.counted(
      serving,
      tally,
      model,
      withBetas(restoredRequest(request), betaHeader),
      Errors.failures(serving.now, errors, Anthropic.placed(body)),
      countReply
    ), errors)
}
