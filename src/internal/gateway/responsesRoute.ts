/**
 * OpenAI's Responses routes over any deployment: `POST /v1/responses` (streamed or whole), through the same engine,
 * admission and stream path as the chat route, in the Responses wire (`responsesWire.ts`, `responsesRender.ts`,
 * `responsesStream.ts`); and `POST /v1/responses/input_tokens`, the input's tokens counted with the library's
 * tokenizer, as the engine counts a prompt whose provider reports none. Every failure is in OpenAI's error shape.
 */
import * as Effect from "effect/Effect"
import { promptTokens } from "../tokens/estimate.js"
import * as ChatAnswer from "./chatAnswer.js"
import * as Failures from "./failures.js"
import * as ResponsesRender from "./responsesRender.js"
import * as ResponsesStream from "./responsesStream.js"
import * as ResponsesWire from "./responsesWire.js"
import { json, problemResponse, type Serving, type WithBody } from "./serving.js"

/** The Responses routes over `serving`. */
export const routes = (serving: Serving) => {
  const failures = Failures.responses(serving.now)
  const seconds = () => Math.floor(serving.now() / 1000)

  // A `/v1/responses` body's answer: refused, or streamed or whole once its model is admitted.
  function create(body: WithBody) {
    const decoded = ResponsesWire.responses(body.text)
    if (decoded._tag === "Problem") return Effect.succeed(problemResponse(decoded))
    const ids = ResponsesRender.idsOf(body.entry.id, seconds())
    const echo = ResponsesRender.echoOf(decoded.body)
    return ChatAnswer.answered(serving, body, {
      model: decoded.model,
      request: decoded.request,
      stream: decoded.stream,
      failures,
      newEncoder: () => ResponsesStream.streamEncoder(ids, decoded.model, echo, seconds),
      render: (response) => ResponsesRender.response(response, ids, echo, seconds())
    })
  }

  // A `/v1/responses/input_tokens` body's count, for a model the request's key may call (when it names one).
  function inputTokens({ entry, text }: WithBody) {
    const body = ResponsesWire.checked(text)
    if (body instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(body))
    const models = entry.caller?.models
    if (serving.engine.resolve(body.model) === undefined || (models !== undefined && !models.has(body.model))) {
      return Effect.succeed(serving.notFound(body.model, entry.caller))
    }
    entry.model = body.model
    const request = ResponsesWire.toRequest(body)
    if (request instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(request))
    return Effect.map(
      promptTokens(request),
      (tokens) => json(200, JSON.stringify({ object: "response.input_tokens", input_tokens: tokens }))
    )
  }

  return {
    create: serving.withBody("/v1/responses", create),
    inputTokens: serving.withBody("/v1/responses/input_tokens", inputTokens)
  }
}
