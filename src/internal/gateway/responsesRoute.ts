/**
 * OpenAI's Responses routes over any deployment: `POST /v1/responses` (streamed or whole), through the same engine,
 * admission and stream path as the chat route, in the Responses wire (`responsesWire.ts`, `responsesRender.ts`,
 * `responsesStream.ts`); `POST /v1/responses/input_tokens`, the input's tokens counted with the library's
 * tokenizer, as the engine counts a prompt whose provider reports none; and `GET` and `DELETE /v1/responses/{id}`
 * of the responses kept (`responsesStore.ts`), which a `previous_response_id` continues. Every failure is in
 * OpenAI's error shape; an unknown, expired or another key's response id is 404.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import { promptTokens } from "../tokens/estimate.js"
import * as ChatAnswer from "./chatAnswer.js"
import * as Errors from "./errors.js"
import * as Failures from "./failures.js"
import type * as Logs from "./logs.js"
import * as ResponsesRender from "./responsesRender.js"
import type * as ResponsesStore from "./responsesStore.js"
import * as ResponsesStream from "./responsesStream.js"
import * as ResponsesWire from "./responsesWire.js"
import { decodePath, errorResponse, json, problemResponse, type Serving, type WithBody } from "./serving.js"
import * as Session from "./session.js"

const previousNotFound = (id: string) =>
  Errors.answer(
    404,
    `Previous response with id '${id}' not found.`,
    "invalid_request_error",
    "previous_response_id",
    "previous_response_not_found"
  )

const responseNotFound = (id: string) =>
  Errors.answer(404, `Response with id '${id}' not found.`, "invalid_request_error", null, "response_not_found")

/** The Responses routes over `serving`, keeping responses in `store`. */
export const routes = (serving: Serving, store: ResponsesStore.ResponsesStore) => {
  const failures = Failures.responses(serving.now)
  const seconds = () => Math.floor(serving.now() / 1000)

  // A checked body's previous response, when it names one: the stored response, or the refusal.
  function previousOf(body: ResponsesWire.CountBody, entry: Logs.Entry) {
    const previous = body.previous_response_id
    if (previous === null || previous === undefined) return undefined
    return store.get(previous, entry.caller?.name) ?? errorResponse(previousNotFound(previous))
  }

  // A checked body's conversation: its previous response's, then its input; or the refusal.
  function conversationOf(body: ResponsesWire.CountBody, entry: Logs.Entry) {
    const input = ResponsesWire.inputMessages(body)
    if (input instanceof ResponsesWire.Problem) return problemResponse(input)
    const previous = previousOf(body, entry)
    if (previous === undefined || !("conversation" in previous)) return previous ?? input
    return [...previous.conversation, ...input]
  }

  // The session of a request (`session.ts`): its previous response's, else its `prompt_cache_key`, the client's
  // header or its long prefix, else the response's own id, which the conversation's later turns continue.
  function sessionOf(body: ResponsesWire.Body, withBody: WithBody, request: ChatRequest, response: string) {
    const previous = previousOf(body, withBody.entry)
    const inherited = previous !== undefined && "conversation" in previous ? previous.session : undefined
    const named = inherited ?? body.prompt_cache_key ?? undefined
    const session =
      Session.withSession(named === undefined ? request : { ...request, session: named }, withBody.sessionHeader)
        .session
    return session ?? response
  }

  // A `/v1/responses` body's answer: refused, or streamed or whole once its model is admitted.
  function create(withBody: WithBody) {
    const { entry, text } = withBody
    const body = ResponsesWire.checked(text)
    if (body instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(body))
    const conversation = conversationOf(body, entry)
    if (!Array.isArray(conversation)) return Effect.succeed(conversation)
    const request = ResponsesWire.toRequest(body, conversation)
    if (request instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(request))
    const ids = ResponsesRender.idsOf(entry.id, seconds())
    const session = sessionOf(body, withBody, request, ids.response)
    const echo = ResponsesRender.echoOf(body)
    // Kept, unless the body says not to, with its conversation for a later turn.
    const finished = (response: ResponsesRender.Finished): string => {
      if (body.store !== false) {
        const replied = ResponsesWire.outputMessages(response.output)
        store.put(ids.response, entry.caller?.name, {
          body: response.body,
          conversation: [...conversation, ...replied],
          session
        })
      }
      return response.body
    }
    return ChatAnswer.answered(serving, withBody, {
      model: body.model,
      request: { ...request, session },
      stream: body.stream === true,
      failures,
      newEncoder: () => ResponsesStream.streamEncoder(ids, body.model, echo, seconds, finished),
      render: (response) => finished(ResponsesRender.response(response, ids, echo, seconds()))
    })
  }

  // A `/v1/responses/input_tokens` body's count, for a model the request's key may call when it names one (the
  // tokenizer is the same for every model).
  function inputTokens({ entry, text }: WithBody) {
    const body = ResponsesWire.checkedCount(text)
    if (body instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(body))
    const { model } = body
    const models = entry.caller?.models
    if (model !== null && model !== undefined) {
      if (serving.engine.resolve(model) === undefined || (models !== undefined && !models.has(model))) {
        return Effect.succeed(serving.notFound(model, entry.caller))
      }
      entry.model = model
    }
    const conversation = conversationOf(body, entry)
    if (!Array.isArray(conversation)) return Effect.succeed(conversation)
    const request = ResponsesWire.toRequest(body, conversation)
    if (request instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(request))
    return Effect.map(
      promptTokens(request),
      (tokens) => json(200, JSON.stringify({ object: "response.input_tokens", input_tokens: tokens }))
    )
  }

  // `GET` (the response) or `DELETE` (its deletion) of a kept response, by the id in the path.
  const byId = (answer: (id: string, owner: string | undefined) => string | undefined) =>
    serving.served(({ entry }) =>
      Effect.map(HttpRouter.params, (params) => {
        const id = decodePath(params["id"] ?? "")
        const body = answer(id, entry.caller?.name)
        return body === undefined ? errorResponse(responseNotFound(id)) : json(200, body)
      })
    )

  return {
    create: serving.withBody("/v1/responses", create),
    inputTokens: serving.withBody("/v1/responses/input_tokens", inputTokens),
    retrieve: byId((id, owner) => store.get(id, owner)?.body),
    remove: byId((id, owner) =>
      store.remove(id, owner) ? JSON.stringify({ id, object: "response", deleted: true }) : undefined
    )
  }
}
