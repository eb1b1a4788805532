/**
 * OpenAI's Responses routes over any deployment, failures in OpenAI's error shape: `POST /v1/responses` through the
 * core (`chatAnswer.ts`); `POST /v1/responses/input_tokens`, counted with the library's tokenizer as the engine counts
 * a prompt whose provider reports none; `POST /v1/responses/compact` (`responses/compaction.ts`); `GET` and `DELETE` of
 * a kept response, which a `previous_response_id` continues (`responses/continuation.ts`); and `GET /v1/responses`
 * upgraded to the WebSocket mode (`responses/socket.ts`), each `response.create` frame answered as a `POST` of its own.
 * What of a body only a Responses deployment runs goes to one, or is refused or left out (`responses/hosted.ts`).
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { promptTokens } from "../../llm/usage.js"
import type { Problem } from "../../schemaCheck.js"
import * as ClientTools from "../../wire/openAiResponses/clientTools.js"
import { type Body, type BodyTool, type CountBody, countReply } from "../../wire/openAiResponses/codec.js"
import * as Responses from "../../wire/openAiResponses/dialect.js"
import { idsOf } from "../../wire/openAiResponses/writer.js"
import * as ChatAnswer from "../chatAnswer.js"
import type { Drain } from "../drain.js"
import * as Errors from "../errorAnswer.js"
import * as Intake from "../intake.js"
import { RequestContext } from "../request/context.js"
import type * as Request from "../request/context.js"
import * as Outcome from "../request/outcome.js"
import * as Compaction from "../responses/compaction.js"
import * as Continuation from "../responses/continuation.js"
import * as Hosted from "../responses/hosted.js"
import * as Socket from "../responses/socket.js"
import { decodePath, errorResponse, json, notedFailure, problemResponse, refusal } from "../serving/answers.js"
import { ModelNames } from "../serving/modelNames.js"
import { Requests, type WithBody } from "../serving/requests.js"

/** The responses kept, and the conversations continued from them (`responses/continuation.ts`). */
type Kept = Effect.Success<ReturnType<typeof Continuation.make>>

// A body's previous response read from `kept` (the socket's `held` first), the client's tools offered as `offer` makes
// them (given the tools its conversation made available before) and its conversation made, then answered by
// `answer`; a refusal of any as OpenAI words it.
function conversed<S extends { readonly body: CountBody; readonly clientTools: ReadonlyArray<BodyTool> }, E, R>(
  kept: Kept,
  body: CountBody,
  held: Continuation.Held | undefined,
  context: Request.Service,
  offer: (earlier: ReadonlyArray<BodyTool>) => Result.Result<S, Problem>,
  answer: (
    sent: S,
    conversation: Continuation.Conversation
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> {
  return Effect.flatMap(Effect.result(kept.previousOf(body, context, held)), (read) => {
    if (Result.isFailure(read)) return Effect.succeed(errorResponse(read.failure))
    const previous = read.success
    const offered = offer(previous?.tools ?? [])
    if (Result.isFailure(offered)) return Effect.succeed(problemResponse(offered.failure))
    const conversation = kept.conversationWith(offered.success.body, previous, offered.success.clientTools, held)
    if (Result.isFailure(conversation)) return Effect.succeed(errorResponse(conversation.failure))
    return answer(offered.success, conversation.success)
  })
}

/** How a body placed (`placed`) is answered: as it is sent, its conversation, in its request's context. */
type Placing<B extends CountBody, E, R> = (
  sent: Hosted.ServedTo<B>,
  conversation: Continuation.Conversation,
  context: Request.Service
) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>

/** The Responses routes, keeping responses in the `StoredResponses` provided, their WebSockets counted in `sockets`. */
export const routes = Effect.fnUntraced(function*(sockets: Socket.Sockets) {
  const serving = yield* ChatAnswer.answering
  const { served, withBody } = yield* Requests
  const { notFound } = yield* ModelNames
  const kept = yield* Continuation.make()
  const failures = Errors.failures(serving.now, Responses.errors, Responses.path)
  const seconds = () => Math.floor(serving.now() / 1000)

  // A body's text decoded, then `conversed`, what only a Responses deployment runs placed (`responses/hosted.ts`).
  function placed<B extends CountBody & { readonly model: string }, E, R>(
    checked: Result.Result<Responses.Checked<B>, Problem>,
    held: Continuation.Held | undefined,
    answer: Placing<B, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | RequestContext> {
    if (Result.isFailure(checked)) return Effect.succeed(problemResponse(checked.failure))
    return RequestContext.use((context) =>
      conversed(kept, checked.success.body, held, context, (earlier) => {
        const hosted = Hosted.served(serving.engine, serving.options.auth, checked.success, context.caller, earlier)
        if (Result.isSuccess(hosted) && hosted.success.omitted.length > 0) {
          context.omittedTools.set(hosted.success.omitted)
        }
        return hosted
      }, (sent, conversation) => answer(sent, conversation, context))
    )
  }

  // A `/v1/responses` body's answer: refused, or streamed or whole once its model is admitted. A body asking for a
  // compaction its model does not make itself (`Compaction.triggeredHere`) is compacted by the model, its trigger out.
  function create(withBody: WithBody, held?: Continuation.Held) {
    const checked = Responses.decode(withBody.text)
    const compacting = Result.isSuccess(checked) && Compaction.triggeredHere(serving.engine, checked.success.body)
    const decodedBody = compacting ? Result.map(checked, Compaction.untriggered) : checked
    return placed(decodedBody, held, (sent, conversation, context) => {
      const { body } = sent
      const past = kept.refusal(body, conversation)
      if (past !== undefined) return Effect.succeed(notedFailure(context, past))
      const made = Responses.request(body, conversation.messages, sent.tools)
      if (Result.isFailure(made)) return Effect.succeed(problemResponse(made.failure))
      const continued = kept.continuing(made.success, conversation)
      const request = compacting ? Compaction.byModel(continued) : continued
      const ids = idsOf(randomUUID(), seconds())
      const session = kept.sessionOf(body, withBody.sessionHeader, request, conversation.previous, ids.response)
      const keeper = kept.keeper(body, context, conversation, session, ids.response, held)
      // A later turn reads the client tools' calls a deployment of another API made as it reads the client's.
      const keep: Responses.Keep = sent.asFunctions
        ? (response, reply) => keeper({ ...response, output: ClientTools.asFunctionItems(response.output) }, reply)
        : keeper
      const answer = compacting
        ? { ...Responses.compactionAnswer(sent, ids, seconds, keep, Compaction.seal), refusal: Compaction.refusal }
        : Responses.answer(sent, ids, seconds, keep)
      const call = { model: body.model, request: { ...request, session }, failures, target: sent.target }
      return ChatAnswer.answered(serving, withBody, {
        ...call,
        ...answer,
        stream: !compacting && body.stream === true
      })
    })
  }

  // A `/v1/responses/compact` body's compacted response: its deployment's own compaction for a model that speaks the
  // Responses API (or its Responses deployments, for a body only they take) and a caller with no spend limit, else one
  // made by the model (`responses/compaction.ts`); governed, priced and logged as any call.
  function compact(withBody: WithBody) {
    return placed(Responses.decodeCompact(withBody.text), undefined, (sent, conversation, context) => {
      const { body } = sent
      if (conversation.messages.length === 0) return Effect.succeed(problemResponse(Compaction.nothingToCompact))
      const made = Responses.request(body, conversation.messages, sent.tools)
      if (Result.isFailure(made)) return Effect.succeed(problemResponse(made.failure))
      const speaksResponses = (sent.target ?? serving.engine.resolve(body.model))?.speaksResponses === true
      const request = Compaction.passesThrough(speaksResponses, context.caller)
        ? Compaction.passedThrough(kept.continuing(made.success, conversation))
        : Compaction.byModel(made.success)
      const hex = randomUUID().replaceAll("-", "")
      const named = { id: `resp_${hex}`, hex, createdAt: seconds() }
      const session = kept.sessionOf(body, withBody.sessionHeader, request, conversation.previous, named.id)
      return ChatAnswer.answered(serving, withBody, {
        model: body.model,
        request: { ...request, session },
        stream: false,
        failures,
        render: (reply) => Compaction.answer(body, named, reply),
        refusal: Compaction.refusal,
        target: sent.target
      })
    })
  }

  // A `/v1/responses/input_tokens` body's count, for a model the request's key may call when it names one (the
  // tokenizer is the same for every model).
  function inputTokens({ text }: WithBody) {
    const checked = Responses.decodeCount(text)
    if (Result.isFailure(checked)) return Effect.succeed(problemResponse(checked.failure))
    return RequestContext.use((context) => counted(checked.success, context))
  }

  function counted(decoded: Responses.Checked<CountBody>, context: Request.Service) {
    const { body } = decoded
    const { model } = body
    const models = context.caller?.models
    if (model !== null && model !== undefined) {
      if (serving.engine.resolve(model) === undefined || (models !== undefined && !models.has(model))) {
        return Effect.succeed(notFound(model, context.caller))
      }
      context.model.set(model)
    }
    // The client's tools count as the functions a deployment of another API is offered (`ClientTools`).
    const offer = (earlier: ReadonlyArray<BodyTool>) =>
      Result.map(ClientTools.asFunctions(decoded, earlier), (offered) => ({ ...offered, clientTools: offered.held }))
    return conversed(kept, body, undefined, context, offer, (offered, conversation) => {
      const request = Responses.request(offered.body, conversation.messages, offered.tools)
      if (Result.isFailure(request)) return Effect.succeed(problemResponse(request.failure))
      return Effect.map(promptTokens(request.success), (tokens) => json(200, countReply(tokens)))
    })
  }

  // `GET` (the response) or `DELETE` (its deletion) of a kept response, by the id in the path.
  function byId(
    answer: (id: string, context: Request.Service) => Effect.Effect<string | undefined, Errors.ErrorAnswer>
  ) {
    return served(() =>
      Effect.flatMap(Effect.all([HttpRouter.params, RequestContext]), ([params, context]) => {
        const id = decodePath(params["id"] ?? "")
        return Effect.match(answer(id, context), {
          onFailure: errorResponse,
          onSuccess: (body) => body === undefined ? errorResponse(Continuation.responseNotFound(id)) : json(200, body)
        })
      })
    )
  }

  return {
    create: withBody("/v1/responses", (body) => create(body)),
    socket: socketRoute({ served, withBody, create, kept, placed, sockets, seconds, drain: serving.options.drain }),
    inputTokens: withBody("/v1/responses/input_tokens", inputTokens),
    compact: withBody("/v1/responses/compact", compact),
    retrieve: byId(kept.retrieve),
    remove: byId(kept.remove)
  }
})

/** What the WebSocket route is built over: the route's serving, its `create`, the kept responses, the sockets. */
interface SocketRoute {
  readonly served: Requests["Service"]["served"]
  readonly withBody: Requests["Service"]["withBody"]
  readonly create: (
    withBody: WithBody,
    held?: Continuation.Held
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    never,
    Scope.Scope | HttpServerRequest.HttpServerRequest | RequestContext
  >
  readonly kept: Kept
  /** The route's `placed`, for a socket's warm-up. */
  readonly placed: (
    checked: Result.Result<Responses.Checked<Body>, Problem>,
    held: Continuation.Held,
    answer: Placing<Body, never, never>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, RequestContext>
  readonly sockets: Socket.Sockets
  /** The gateway's drain: its sockets close as it begins to shut down. */
  readonly drain: Drain
  /** The time in seconds, from the gateway's clock. */
  readonly seconds: () => number
}

// A socket's warm-up (`generate: false`): its body checked and placed as a request's (`placed`), and its conversation
// held under a response id the next frame continues (and kept as any response, unless `store: false`), answered at
// once with that response, completed with no output. No model is called: it is no request of the log.
function warmUp(
  { kept, placed, seconds }: Pick<SocketRoute, "kept" | "placed" | "seconds">,
  text: string,
  held: Continuation.Held,
  sessionHeader: string | undefined
) {
  return placed(Responses.decode(text), held, (sent, conversation, context) => {
    const { body } = sent
    const made = Responses.request(body, conversation.messages, sent.tools)
    if (Result.isFailure(made)) return Effect.succeed(problemResponse(made.failure))
    const ids = idsOf(randomUUID(), seconds())
    const session = kept.sessionOf(body, sessionHeader, made.success, conversation.previous, ids.response)
    const { events, finished } = Responses.warmUp(sent, ids, seconds)
    return Effect.as(
      kept.keeper(body, context, conversation, session, ids.response, held)(finished, undefined),
      HttpServerResponse.text(events, { contentType: "text/event-stream" })
    )
  })
}

// `GET /v1/responses` asking for a WebSocket: refused as any request before its handshake, and past its key's bound;
// then each frame answered in turn (`Socket.serve`): a `response.create` as a `POST /v1/responses` of its own through
// `create` (the same key check, budgets, guardrails, routing, log and metrics), continuing the socket's last response;
// a warm-up by `warmUp`.
function socketRoute(route: SocketRoute) {
  const { create, drain, served, sockets, withBody } = route
  return served(({ request }) =>
    RequestContext.use((context) => {
      if (!Intake.isWebSocket(request.headers)) return Effect.succeed(refusal(context, Socket.upgradeRequired))
      const owner = context.caller?.id ?? ""
      if (!sockets.open(owner)) return Effect.succeed(refusal(context, Socket.tooMany(sockets.bounds.maxPerKey)))
      const held = Continuation.held()
      const sessionHeader = request.headers[Intake.header]
      const frame = (
        text: string | Uint8Array
      ): Effect.Effect<HttpServerResponse.HttpServerResponse, never, RequestContext | Scope.Scope> => {
        const asked = Socket.read(text)
        if (Result.isFailure(asked)) return Effect.succeed(errorResponse(asked.failure))
        if (asked.success.warmUp) return warmUp(route, asked.success.body, held, sessionHeader)
        return Effect.provideService(
          withBody("/v1/responses", (body) => create(body, held)),
          HttpServerRequest.HttpServerRequest,
          Socket.requestOf(request, asked.success.body)
        )
      }
      return Effect.matchEffect(request.upgrade, {
        onFailure: () => Effect.succeed(refusal(context, Socket.upgradeRequired)),
        onSuccess: (opened) => {
          Outcome.upgraded(context.outcome)
          return Effect.as(
            Socket.serve(opened, sockets.bounds.idle, drain.stopping, frame),
            HttpServerResponse.empty({ status: 101 })
          )
        }
      }).pipe(Effect.ensuring(Effect.sync(() => sockets.closed(owner))))
    })
  )
}
