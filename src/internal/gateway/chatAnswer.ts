/**
 * A chat request's answer, once admitted to its target: a stream opened to its first batch and answered by
 * `SseAnswer` in the route's encoder (`streamed`), or one reply answered by the route's renderer (`whole`); a failure
 * before the answer starts is a plain error answer in the route's words.
 *
 * The stream is held in a scope that the request's scope closes, which the server closes when the response ends or
 * the client goes away, freeing the upstream call, its key and its permit at once.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Effect from "effect/Effect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Scope from "effect/Scope"
import type * as Http from "node:http"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import { StreamTruncatedError } from "../../LlmError.js"
import { openFirst } from "../transport/chunkSource.js"
import type { Target } from "./engine.js"
import * as Logs from "./observe/logs.js"
import type * as Metrics from "./observe/metrics.js"
import type * as Render from "./openai/render.js"
import { json, type Serving, type WithBody } from "./serving.js"
import * as Session from "./session.js"
import * as SseAnswer from "./sseAnswer.js"

/** A chat request admitted to its target, and how the route answers its failures. */
export interface Call {
  /** The request as sent for the key (`Auth.bounded`). */
  readonly request: ChatRequest
  readonly target: Target
  readonly entry: Logs.Entry
  readonly failures: SseAnswer.Failures
  readonly tally: Metrics.Tally
}

/** A call answered as a stream. */
export interface StreamedCall extends Call {
  /** The model the request named, for the error of a stream that ends before its first chunk. */
  readonly model: string
  /** The request's scope, which closes the stream's. */
  readonly requestScope: Scope.Scope
  /** The route's encoder, made for this stream. */
  readonly newEncoder: () => Render.StreamEncoder
}

/** A call answered as one reply. */
export interface WholeCall extends Call {
  /** The reply's body in the route's wire. */
  readonly render: (response: ChatResponse) => string
  /** What is done with the reply and its body before they are answered, if anything (`Chat.beforeAnswer`). */
  readonly beforeAnswer?: ((response: ChatResponse, body: string) => Effect.Effect<void>) | undefined
}

/** A chat body as its route decoded it, and how the route answers it, streamed or whole. */
export interface Chat {
  readonly model: string
  /** The request as the body gave it; `Auth.bounded` makes the one sent. */
  readonly request: ChatRequest
  readonly stream: boolean
  readonly failures: SseAnswer.Failures
  /** The route's stream encoder for the request as sent. */
  readonly newEncoder: (request: ChatRequest) => Render.StreamEncoder
  readonly render: (response: ChatResponse) => string
  /**
   * What is done with a whole reply and its body before they are answered, if anything: the Responses route keeps
   * the response, so that a client told of it can read or continue it at once, on any instance.
   */
  readonly beforeAnswer?: ((response: ChatResponse, body: string) => Effect.Effect<void>) | undefined
  /** The target `model` names: by default the engine's. */
  readonly target?: Target | undefined
}

/**
 * The answer to a chat body on any route: its model admitted for the request's key, then streamed or whole; the
 * request with its session (`session.ts`).
 */
export function answered(serving: Serving, { entry, scope, sessionHeader, tally }: WithBody, chat: Chat) {
  return serving.admitted({
    model: chat.model,
    request: Session.withSession(chat.request, sessionHeader, entry.caller?.id),
    entry,
    handle: (target, request) => {
      tally.model(chat.model)
      const call = { request, target, entry, failures: chat.failures, tally }
      return chat.stream
        ? streamed(serving, {
          ...call,
          model: chat.model,
          requestScope: scope,
          newEncoder: () => chat.newEncoder(request)
        })
        : whole(serving, { ...call, render: chat.render, beforeAnswer: chat.beforeAnswer })
    },
    target: chat.target
  })
}

const addressed = (request: ChatRequest, target: Target): ChatRequest =>
  target.address === undefined ? request : { ...request, model: target.address }

/**
 * The call as a stream, opened to its first batch, then answered by `SseAnswer` in the stream of `newEncoder()`.
 * The stream is held in a scope of its own, which the request's scope closes in its one finalizer, after the
 * stream's end is noted (a scope with more than one finalizer closes through Effect's slower path).
 */
export const streamed = (serving: Serving, call: StreamedCall) => {
  const { entry, failures, tally } = call
  const { drain } = serving.options
  const held = Scope.makeUnsafe()
  const heldUntilEnd = Scope.addFinalizerExit(call.requestScope, (exit) => {
    drain.closed(entry)
    const closed = Scope.close(held, exit)
    if (!entry.streaming) return closed
    // The stream's end, or its client's leaving: its duration counted, its cost charged, its line written;
    // the stream closed whatever that did (a defect there must not leave the upstream call and its key held).
    return Effect.ensuring(
      Effect.suspend(() => {
        tally.end()
        return Logs.ended(entry, serving.now())
      }),
      closed
    )
  })
  const opened = openFirst(
    call.target.llm.chatStream(addressed(call.request, call.target)),
    held,
    () =>
      new StreamTruncatedError({
        provider: "gateway",
        model: call.model,
        detail: "the stream ended before its first chunk"
      }),
    (first, rest) => ({ first, rest })
  )
  return Effect.andThen(
    heldUntilEnd,
    Effect.matchEffect(opened, {
      onFailure: (error) => {
        tally.failed(error)
        return Effect.succeed(serving.failed(entry, failures, error))
      },
      onSuccess: ({ first, rest }) => {
        entry.streaming = true
        entry.firstToken = serving.now() - entry.start
        tally.stream()
        const headers = { "cache-control": "no-cache", ...Logs.answerHeaders(entry) }
        return Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
          SseAnswer.answer({
            encoder: call.newEncoder(),
            first,
            rest,
            entry,
            failures,
            tally,
            headers,
            scope: held,
            drain,
            endNow: endNowOf(request)
          }))
      }
    })
  )
}

/** The call as one reply, answered by its `render` (its failure by its `failures`). */
export const whole = (serving: Serving, call: WholeCall) => {
  const { entry, tally } = call
  return Effect.matchEffect(call.target.llm.chat(addressed(call.request, call.target)), {
    onFailure: (error) => {
      tally.failed(error)
      return Effect.succeed(serving.failed(entry, call.failures, error))
    },
    onSuccess: (response) => {
      tally.replied(response.usage, response.cost)
      Logs.answered(entry, response)
      const body = call.render(response)
      const settled = entry.settle(response.cost)
      return Effect.as(
        call.beforeAnswer === undefined ? settled : Effect.andThen(settled, call.beforeAnswer(response, body)),
        json(200, body)
      )
    }
  })
}

// Ends the Node response of `request` at once, `last` its last write: a stream cut at shutdown whose body's writer
// waits on the upstream (`SseAnswer`) ends so, with its error event, rather than by the request's interruption,
// which drops the connection.
const endNowOf = (request: HttpServerRequest.HttpServerRequest) => (last: Uint8Array | undefined): void => {
  const response = NodeHttpServerRequest.toServerResponse(request) as Http.ServerResponse
  if (response.writableEnded || response.destroyed) return
  if (last === undefined) response.end()
  else response.end(last)
}
