/**
 * OpenAI's Responses routes over any deployment: `POST /v1/responses` (streamed or whole), through the same engine,
 * admission and stream path as the chat route, in the Responses wire (`codec/openAiResponses.ts`,
 * `responses/render.ts`, `responses/stream.ts`); `POST /v1/responses/input_tokens`, the input's tokens counted with
 * the library's tokenizer, as the engine counts a prompt whose provider reports none; and `GET` and
 * `DELETE /v1/responses/{id}`
 * of the responses kept (`responses/store.ts`: in memory, or in the shared store's Redis), which a
 * `previous_response_id` continues. Every failure is in OpenAI's error shape; an unknown, expired or another key's
 * response id is 404, and a shared store that cannot be read 503. A response is kept before it is answered (before
 * its stream's `response.completed`), so the client may name it at once, to any instance. A response its Responses
 * deployment keeps upstream is continued there by that deployment's own id (`responses/store.ts`), the client seeing
 * only the gateway's ids.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { Message } from "../../../Message.js"
import type { StoreUnavailableError } from "../../../Store.js"
import * as ResponsesWire from "../../codec/openAiResponses.js"
import type { Placed } from "../../codec/responsesNamespace.js"
import { promptTokens } from "../../llm/usage.js"
import { decodeBody } from "../../schemaCheck.js"
import { errors as openAiErrors } from "../../wire/openAiChat/writer.js"
import * as ChatAnswer from "../chatAnswer.js"
import type { Target } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import * as Session from "../intake.js"
import * as Logs from "../observe/record.js"
import { decodePath, errorResponse, json, problemResponse, type Serving, type WithBody } from "../serving.js"
import * as ResponsesHosted from "./hosted.js"
import * as ResponsesRender from "./render.js"
import * as ResponsesStore from "./store.js"
import * as ResponsesStream from "./stream.js"

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

// The shared store that keeps the responses failed: a lookup cannot tell a kept response from none.
const storeAway = (error: StoreUnavailableError): Errors.ErrorAnswer => ({
  ...Errors.answer(
    503,
    "The shared store that keeps this gateway's responses is unreachable. Retry shortly.",
    "server_error",
    null,
    "store_unavailable",
    1
  ),
  logged: error.message
})

// A request continuing a chain that is at the store's bound on its length, or whose conversation would pass its bound
// on one response's bytes: the response it makes could not be kept, so it is refused before anything is sent.
const chainTooLong = (id: string, reason: string) =>
  Errors.answer(
    400,
    `Response '${id}' cannot be continued: ${reason}. Start a new conversation: send the turns it needs as input, ` +
      "without previous_response_id.",
    "invalid_request_error",
    "previous_response_id",
    "conversation_too_long"
  )

/** The refusal of a request continuing `previous` (`id`) to `conversation`, when the chain would pass `bounds`. */
const pastBounds = (
  id: string,
  previous: ResponsesStore.StoredResponse,
  conversation: ReadonlyArray<Message>,
  bounds: ResponsesStore.Bounds
): Errors.ErrorAnswer | undefined => {
  const chain = previous.chain ?? 1
  if (chain >= bounds.maxChain) {
    return chainTooLong(
      id,
      `its chain holds ${chain} responses, as many as this gateway keeps in one (gateway.responses_max_chain)`
    )
  }
  const bytes = ResponsesStore.bytesOf({ body: "", conversation })
  return bytes <= bounds.maxResponseBytes ? undefined : chainTooLong(
    id,
    `its conversation with this input takes ${bytes} bytes, more than this gateway keeps of one response ` +
      `(${bounds.maxResponseBytes}, gateway.responses_max_response_bytes)`
  )
}

// A refusal made on the way (a failure of its effect) as the answer.
const refused = (answer: HttpServerResponse.HttpServerResponse) => Effect.succeed(answer)

/** The Responses routes over `serving`, keeping responses in the `StoredResponses` provided. */
export const routes = Effect.fnUntraced(function*(serving: Serving) {
  const store = yield* ResponsesStore.StoredResponses
  const failures = Errors.failures(serving.now, openAiErrors, ResponsesWire.responsesPath)
  const seconds = () => Math.floor(serving.now() / 1000)

  // The answer to a request whose store failed, its reason in the request's log line.
  const away = (entry: Logs.Entry) => (error: StoreUnavailableError): Errors.ErrorAnswer => {
    const answer = storeAway(error)
    Logs.failed(entry, error._tag, answer)
    return answer
  }
  // The response `id` kept for the request's key, or the answer of a store that failed.
  const read = (id: string, entry: Logs.Entry) => Effect.mapError(store.get(id, entry.caller?.id), away(entry))

  // A checked body's previous response, when it names one; or the refusal (unknown, or the store away).
  function previousOf(
    body: ResponsesWire.CountBody,
    entry: Logs.Entry
  ): Effect.Effect<ResponsesStore.StoredResponse | undefined, HttpServerResponse.HttpServerResponse> {
    const previous = body.previous_response_id
    if (previous === null || previous === undefined) return Effect.succeed(undefined)
    return Effect.matchEffect(read(previous, entry), {
      onFailure: (answer) => Effect.fail(errorResponse(answer)),
      onSuccess: (stored) =>
        stored === undefined ? Effect.fail(errorResponse(previousNotFound(previous))) : Effect.succeed(stored)
    })
  }

  // A checked body's conversation: its previous response's, then its input; with the previous response; or the
  // refusal.
  function conversationOf(body: ResponsesWire.CountBody, entry: Logs.Entry): Effect.Effect<
    { readonly messages: Array<Message>; readonly previous: ResponsesStore.StoredResponse | undefined },
    HttpServerResponse.HttpServerResponse
  > {
    const input = ResponsesWire.inputMessages(body)
    if (input instanceof ResponsesWire.Problem) return Effect.fail(problemResponse(input))
    return Effect.map(previousOf(body, entry), (previous) => ({
      messages: previous === undefined ? input : [...previous.conversation, ...input],
      previous
    }))
  }

  // A request continuing `previous`, kept upstream by its deployment: with that deployment's id of it, and how many
  // of the request's first messages it holds (`instructions`, which it does not keep, and its conversation).
  function continuing(
    request: ChatRequest | ResponsesWire.Problem,
    conversation: ReadonlyArray<Message>,
    previous: ResponsesStore.StoredResponse | undefined
  ): ChatRequest | ResponsesWire.Problem {
    const upstream = previous?.upstream
    if (previous === undefined || upstream === undefined || request instanceof ResponsesWire.Problem) return request
    const input = conversation.length - previous.conversation.length
    return { ...request, previousResponse: { ...upstream, messages: request.messages.length - input } }
  }

  // The session of a request (`intake.ts`): its previous response's, else its `prompt_cache_key`, the client's
  // header or its long prefix, else the response's own id, which the conversation's later turns continue.
  function sessionOf(
    body: ResponsesWire.Body,
    withBody: WithBody,
    request: ChatRequest,
    previous: ResponsesStore.StoredResponse | undefined,
    response: string
  ): string {
    const named = previous?.session ?? body.prompt_cache_key ?? undefined
    return Session.named(named === undefined ? request : { ...request, session: named }, withBody.sessionHeader) ??
      response
  }

  // The tools a body's model is sent (its namespaces flattened), and the target sent them when it is not the model's:
  // all of them for a model whose deployments all speak the Responses API (or one admission refuses: unknown, or not
  // the key's); for a model reaching both kinds, all of them, to its Responses deployments, when the body has what
  // only they run; for another, all but the hosted tools left out (`responses/hosted.ts`), or the refusal of what it
  // cannot run.
  function served(
    body: ResponsesWire.Body,
    tools: ReadonlyArray<Placed<ResponsesWire.FlatTool>>,
    entry: Logs.Entry
  ): (ResponsesHosted.Served & { readonly target?: Target | undefined }) | ResponsesWire.Problem {
    const target = serving.engine.resolve(body.model)
    if (target === undefined || target.speaksResponses || !serving.options.auth.allows(entry.caller, body.model)) {
      return { tools, omitted: [] }
    }
    if (target.responses !== undefined && ResponsesHosted.responsesOnly(body, tools).length > 0) {
      return { tools, omitted: [], target: target.responses }
    }
    return ResponsesHosted.servedElsewhere(body.model, body, tools, serving.engine.hostedTools)
  }

  // A `/v1/responses` body's answer: refused, or streamed or whole once its model is admitted.
  function create(withBody: WithBody) {
    const { entry, text } = withBody
    const body = decodeBody(text, ResponsesWire.checkBody)
    if (body instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(body))
    const flat = ResponsesWire.flatTools(body)
    if (flat instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(flat))
    const sent = served(body, flat.tools, entry)
    if (sent instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(sent))
    if (sent.omitted.length > 0) entry.omittedTools = sent.omitted
    const { names } = flat
    return Effect.flatMap(conversationOf(body, entry), ({ messages: conversation, previous }) => {
      const past = previous === undefined || body.store === false
        ? undefined
        : pastBounds(body.previous_response_id!, previous, conversation, store.bounds)
      if (past !== undefined) {
        Logs.failed(entry, past.code ?? undefined, past)
        return Effect.succeed(errorResponse(past))
      }
      const request = continuing(ResponsesWire.toRequest(body, conversation, sent.tools), conversation, previous)
      if (request instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(request))
      const ids = ResponsesRender.idsOf(randomUUID(), seconds())
      const session = sessionOf(body, withBody, request, previous, ids.response)
      const echo = ResponsesWire.echoOf(body)
      // Kept, unless the body says not to, with its conversation for a later turn; a store that fails leaves the
      // answer as it is (the reply is whole, and paid for) and the response unknown to a later turn.
      const keep = (
        response: ResponsesRender.Finished,
        upstream: ResponsesStore.Upstream | undefined
      ): Effect.Effect<void> => {
        if (body.store === false) return Effect.void
        const replied = ResponsesWire.outputMessages(response.output)
        const kept: ResponsesStore.StoredResponse = {
          body: response.body,
          conversation: [...conversation, ...replied],
          session,
          upstream,
          chain: previous === undefined ? 1 : (previous.chain ?? 1) + 1
        }
        return store.put(ids.response, entry.caller?.id, kept).pipe(
          Effect.flatMap((stored) =>
            stored ? Effect.void : Effect.logWarning(
              "a response larger than the gateway keeps was not kept; a later turn naming it will not find it"
            ).pipe(
              Effect.annotateLogs({
                requestId: entry.id,
                bytes: ResponsesStore.bytesOf(kept),
                maxResponseBytes: store.bounds.maxResponseBytes
              })
            )
          ),
          Effect.catchTag(
            "StoreUnavailableError",
            (error) =>
              Effect.logWarning("a response could not be kept; a later turn naming it will not find it").pipe(
                Effect.annotateLogs({ requestId: entry.id, reason: error.message })
              )
          )
        )
      }
      return ChatAnswer.answered(serving, withBody, {
        model: body.model,
        request: { ...request, session },
        stream: body.stream === true,
        failures,
        newEncoder: () =>
          ResponsesStream.streamEncoder({ ids, names, model: body.model, echo, now: seconds, onFinished: keep }),
        render: (response) => ResponsesRender.response(response, ids, names, echo, seconds()).body,
        beforeAnswer: (response, rendered) =>
          keep(
            { body: rendered, output: ResponsesRender.outputItems(response, ids, names) },
            ResponsesStore.upstreamOf(response)
          ),
        target: sent.target
      })
    }).pipe(Effect.catch(refused))
  }

  // A `/v1/responses/input_tokens` body's count, for a model the request's key may call when it names one (the
  // tokenizer is the same for every model).
  function inputTokens({ entry, text }: WithBody) {
    const body = decodeBody(text, ResponsesWire.checkCountBody)
    if (body instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(body))
    const { model } = body
    const models = entry.caller?.models
    if (model !== null && model !== undefined) {
      if (serving.engine.resolve(model) === undefined || (models !== undefined && !models.has(model))) {
        return Effect.succeed(serving.notFound(model, entry.caller))
      }
      entry.model = model
    }
    const flat = ResponsesWire.flatTools(body)
    if (flat instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(flat))
    return Effect.flatMap(conversationOf(body, entry), ({ messages }) => {
      const request = ResponsesWire.toRequest(body, messages, flat.tools)
      if (request instanceof ResponsesWire.Problem) return Effect.succeed(problemResponse(request))
      return Effect.map(
        promptTokens(request),
        (tokens) => json(200, JSON.stringify({ object: "response.input_tokens", input_tokens: tokens }))
      )
    }).pipe(Effect.catch(refused))
  }

  // `GET` (the response) or `DELETE` (its deletion) of a kept response, by the id in the path.
  const byId = (answer: (id: string, entry: Logs.Entry) => Effect.Effect<string | undefined, Errors.ErrorAnswer>) =>
    serving.served(({ entry }) =>
      Effect.flatMap(HttpRouter.params, (params) => {
        const id = decodePath(params["id"] ?? "")
        return Effect.match(answer(id, entry), {
          onFailure: errorResponse,
          onSuccess: (body) => body === undefined ? errorResponse(responseNotFound(id)) : json(200, body)
        })
      })
    )

  return {
    create: serving.withBody("/v1/responses", create),
    inputTokens: serving.withBody("/v1/responses/input_tokens", inputTokens),
    retrieve: byId((id, entry) => Effect.map(read(id, entry), (stored) => stored?.body)),
    remove: byId((id, entry) =>
      Effect.map(
        Effect.mapError(store.remove(id, entry.caller?.id), away(entry)),
        (removed) => removed ? JSON.stringify({ id, object: "response", deleted: true }) : undefined
      )
    )
  }
})
