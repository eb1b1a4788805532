/**
 * Anthropic's `POST /v1/messages`: the same engine, admission and streams as OpenAI's chat route, in Anthropic's
 * wire (`codec/anthropic/`, with the gateway's own ids and carrier block, `anthropic/carrier.ts`, and
 * `anthropic/render.ts`); every failure in Anthropic's error shape (`anthropic/errors.ts`).
 * A reply's id is `msg_` and a random UUID of the gateway's without its dashes (never the client's `x-request-id`).
 *
 * And `POST /v1/messages/count_tokens` (Anthropic's token counting reference): the prompt's tokens as
 * `{"input_tokens": N}`, counted by the provider of the deployment the model routes to where it has an endpoint
 * for it (Anthropic's), else locally (`Llm.countTokens`). A count that cannot be made (the provider's refusal, no
 * deployment able to take the call) is its error, never a made-up number.
 */
import * as Effect from "effect/Effect"
import { randomUUID } from "node:crypto"
import * as AnthropicWire from "../../codec/anthropic/request.js"
import { estimatedPromptTokens } from "../../tokens/promptSize.js"
import * as ChatAnswer from "../chatAnswer.js"
import { errorResponse, json, type Serving, type WithBody } from "../serving.js"
import { restoredRequest } from "./carrier.js"
import * as AnthropicErrors from "./errors.js"
import * as AnthropicRender from "./render.js"

/** The `/v1/messages` route over `serving`. */
export const messages = (serving: Serving) => serving.withBody("/v1/messages", (body) => answer(serving, body))

/** The `/v1/messages/count_tokens` route over `serving`. */
export const countTokens = (serving: Serving) =>
  serving.withBody("/v1/messages/count_tokens", (body) => count(serving, body))

// A `/v1/messages` body's answer: refused, or streamed or whole once its model is admitted.
function answer(serving: Serving, body: WithBody) {
  const decoded = AnthropicWire.messages(body.text)
  if (decoded._tag === "Problem") {
    return Effect.succeed(errorResponse(AnthropicErrors.problem(decoded), AnthropicErrors.errors))
  }
  const id = `msg_${randomUUID().replaceAll("-", "")}`
  return ChatAnswer.answered(serving, body, {
    model: decoded.model,
    request: restoredRequest(decoded.request),
    stream: decoded.stream,
    failures: AnthropicErrors.failures(serving.now, decoded.body),
    newEncoder: (request) => AnthropicRender.streamEncoder(id, decoded.model, () => estimatedPromptTokens(request)),
    render: (response) => AnthropicRender.message(response, id)
  })
}

// A `/v1/messages/count_tokens` body's answer: refused, or the count once its model is admitted (a count takes a
// request of the key's rate limit, and nothing of its budget).
function count(serving: Serving, { entry, tally, text }: WithBody) {
  const decoded = AnthropicWire.countTokens(text)
  if (decoded._tag === "Problem") {
    return Effect.succeed(errorResponse(AnthropicErrors.problem(decoded), AnthropicErrors.errors))
  }
  const failures = AnthropicErrors.failures(serving.now, decoded.body)
  return serving.admitted({
    model: decoded.model,
    request: undefined,
    entry,
    handle: (target) => {
      tally.model(decoded.model)
      const restored = restoredRequest(decoded.request)
      const request = target.address === undefined ? restored : { ...restored, model: target.address }
      return Effect.matchEffect(target.llm.countTokens(request), {
        onFailure: (error) => {
          tally.failed(error)
          return Effect.succeed(serving.failed(entry, failures, error))
        },
        onSuccess: (counted) => Effect.succeed(json(200, AnthropicWire.countReply(counted.inputTokens)))
      })
    }
  })
}
