/**
 * Anthropic's `POST /v1/messages`: the same engine, admission and streams as OpenAI's chat route, in Anthropic's
 * wire (`anthropicWire.ts`, `anthropicRender.ts`); every failure in Anthropic's error shape (`anthropicErrors.ts`).
 * A reply's id is `msg_` and the request's id without its dashes.
 */
import * as Effect from "effect/Effect"
import { estimatedPromptTokens } from "../tokens/promptSize.js"
import * as AnthropicErrors from "./anthropicErrors.js"
import * as AnthropicRender from "./anthropicRender.js"
import * as AnthropicWire from "./anthropicWire.js"
import * as ChatAnswer from "./chatAnswer.js"
import * as Failures from "./failures.js"
import { errorResponse, type Serving, type WithBody } from "./serving.js"

/** The `/v1/messages` route over `serving`. */
export const messages = (serving: Serving) => serving.withBody("/v1/messages", (body) => answer(serving, body))

// A `/v1/messages` body's answer: refused, or streamed or whole once its model is admitted.
function answer(serving: Serving, body: WithBody) {
  const decoded = AnthropicWire.messages(body.text)
  if (decoded._tag === "Problem") {
    return Effect.succeed(errorResponse(AnthropicErrors.problem(decoded)))
  }
  const id = `msg_${body.entry.id.replaceAll("-", "")}`
  return ChatAnswer.answered(serving, body, {
    model: decoded.model,
    request: decoded.request,
    stream: decoded.stream,
    failures: Failures.anthropic(serving.now, decoded.body),
    newEncoder: (request) => AnthropicRender.streamEncoder(id, decoded.model, () => estimatedPromptTokens(request)),
    render: (response) => AnthropicRender.message(response, id)
  })
}
