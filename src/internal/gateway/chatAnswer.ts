/**
 * A chat request's answer, once admitted to its target: a stream opened to its first batch and written by the route's
 * encoder (`streamed`), or one reply rendered by the route (`whole`); a failure before the answer starts is a plain
 * error answer in the route's words (`Failures`, `errorAnswer.ts`). The core names no dialect: a route hands it its
 * writers and its failures.
 *
 * A stream is held in a scope the request's scope closes (the server closes it when the response ends or the client
 * goes away), freeing the upstream call, its key and its permit at once. Every stream takes one path however its
 * upstream's reads fall; it ends with an error event on a failure, a `Restart` the encoder cannot hide, a cut at
 * shutdown (the server's drain) or a revoked key.
 */
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Headers from "effect/http/Headers"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Http from "node:http"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse } from "../../ChatResponse.js"
import type { Guardrail, GuardrailError } from "../../Guardrail.js"
import { type LlmError, StreamTruncatedError } from "../../LlmError.js"
import { checkReply, checkRequest } from "../guardrail/guarded.js"
import { type Batch, openFirst } from "../transport/chunkSource.js"
import type { Encoded, StreamEncoder } from "../wire/dialect.js"
import type { CutReason, Drain } from "./drain.js"
import type { Target } from "./engine.js"
import * as Errors from "./errorAnswer.js"
import * as GovernedCall from "./governedCall.js"
import * as Guardrails from "./guardrails.js"
import * as Session from "./intake.js"
import type * as Logs from "./observe/metrics.js"
import { Journal } from "./observe/record.js"
import * as Request from "./request/context.js"
import * as Outcome from "./request/outcome.js"
import { Admission } from "./serving/admission.js"
import { errorResponse, json, notedFailure } from "./serving/answers.js"
import { Configuration } from "./serving/configuration.js"
import type { WithBody } from "./serving/requests.js"

// The log's and the metrics' name for a stream cut, by why it was cut.
const cutTags: Record<CutReason, string> = { shutdown: "ServerShutdown", revoked: "KeyRevoked" }

// The answer that ends a stream cut, by why it was cut.
const cutAnswers: Record<CutReason, Errors.ErrorAnswer> = { shutdown: Errors.shutdown, revoked: Errors.revoked }

/** How a route answers a failure: what a client is told of an engine failure, in the route's dialect. */
export type Failures = Errors.Failures

/** What a call may fail with: the engine's failure, or a guardrail's block. */
export type CallError = LlmError | GuardrailError

/** What a call's answer is made with: the configuration served, the call's admission, and where its record goes. */
export type Answering = Configuration["Service"] & Admission["Service"] & Journal["Service"]

/** The configuration served, the admission and the journal, read once where a route is built. */
export const answering: Effect.Effect<Answering, never, Configuration | Admission | Journal> = Effect.gen(function*() {
  return { ...(yield* Configuration), ...(yield* Admission), ...(yield* Journal) }
})

/** What a client is told of `error`: a block as the core words it, an engine failure as the route's `failures` do. */
export function answerOf(failures: Failures, error: CallError): Errors.ErrorAnswer {
  return error._tag === "GuardrailError" ? Errors.guardrailBlocked(error) : failures.answer(error)
}

/** Where a call's outcome is noted, and how its route words its failures. */
export type Noted = Pick<Call, "context" | "failures" | "tally">

/** A call's failure before any of its answer went out, noted in the request's outcome and the metrics. */
export function noteFailure(call: Noted, error: CallError): void {
  call.tally.failed(error)
  Outcome.failed(call.context.outcome, error._tag, answerOf(call.failures, error))
}

/** The answer to a call's `error` before any of its answer went out, in the route's words. */
function failedAnswer(failures: Failures, error: CallError) {
  return Effect.succeed(errorResponse(answerOf(failures, error), failures.errors))
}

/** A stream whose first batch is in: what its answer is made of. */
export interface Opened {
  /** Encodes the stream's batches in the route's wire. */
  readonly encoder: StreamEncoder
  readonly first: Batch
  /** The rest of the stream, pulled batch by batch. */
  readonly rest: Pull.Pull<Batch, CallError>
  readonly context: Request.Service
  readonly failures: Failures
  readonly tally: Logs.Tally
  /** The answer's headers (its content type is the encoder's). */
  readonly headers: Headers.Input
  /** The stream's scope: closing it lets go of what the stream holds. */
  readonly scope: Scope.Closeable
  /** Where the stream is kept, to be cut when the gateway shuts down (`drain.ts`). */
  readonly drain: Drain
  /**
   * Ends the response at once, outside its body's writer, with `last` as its last write (if any): how a cut ends a
   * stream whose writer waits on the upstream.
   */
  readonly endNow: (last: Uint8Array | undefined) => void
}

// The writes of one pull of the body: a batch's one write (and a restart's error event), or a failure's error event.
type Writes = NonEmptyReadonlyArray<Uint8Array>

/**
 * The answer to a stream, its rest pulled as the response is written. Cut at shutdown (`drain.ts`), it lets go of its
 * upstream call and ends with the route's shutdown error event, unless its whole answer went out already.
 */
export function answer(opened: Opened): HttpServerResponse.HttpServerResponse {
  const { context, encoder, failures, first, rest, scope, tally } = opened
  const { outcome } = context
  let ended = false
  // Whether the answer's `Finish` went out; whether the stream is being cut; whether the body's writer waits on a
  // pull of `rest` (nothing but the request's interruption stops that pull, and that drops the connection).
  let complete = false
  let cutting: CutReason | undefined
  let waiting = false
  // A batch noted in the request's outcome, and in the metrics when it ends the stream.
  function noted(batch: Batch): void {
    if (!Outcome.streamed(outcome, context.payload, batch)) return
    complete = true
    if (outcome.midStream === "continued") tally.continued()
    tally.finished(outcome.usage, outcome.cost, outcome.cacheSavings)
  }
  // What the encoder asked to be done before the writes of its last batch (`Encoded.before`).
  let before: Effect.Effect<void> | undefined
  // An encoded batch's writes: a restart the encoder cannot hide ends the stream with an error event.
  function writes(encoded: Encoded): Writes {
    before = encoded.before
    if (encoded.restarted === undefined) return [encoded.bytes]
    ended = true
    tally.restarted()
    return [encoded.bytes, encoder.error(Errors.restarted)]
  }
  // The end of a cut stream: its reason's error event, none when its answer is whole or it has ended already.
  function cutShort(): Writes | undefined {
    if (ended || cutting === undefined) return undefined
    ended = true
    if (complete) return undefined
    Outcome.erred(outcome, cutTags[cutting])
    tally.cut(cutTags[cutting])
    return [encoder.error(cutAnswers[cutting])]
  }
  function written(batch: Batch): Writes | undefined {
    if (cutting !== undefined) return cutShort()
    noted(batch)
    return writes(encoder.batch(batch))
  }
  // The stream's failure as an error event, which ends it.
  function failed(error: CallError): Writes | undefined {
    if (cutting !== undefined) return cutShort()
    ended = true
    tally.end()
    const answer = answerOf(failures, error)
    Outcome.failed(outcome, error._tag, answer)
    tally.failed(error)
    return [encoder.error(answer)]
  }
  // The cut: the upstream call let go of, and the error event written by the body's writer at its next pull, or at
  // once, with the response's end, when the writer waits on a pull of `rest`.
  opened.drain.opened(
    context,
    (reason) =>
      Effect.suspend(() => {
        if (ended || cutting !== undefined) return Effect.void
        cutting = reason
        if (waiting) opened.endNow(cutShort()?.[0])
        return Scope.close(scope, Exit.interrupt())
      })
  )
  noted(first)
  // The first batch's writes, then those of each pull of `rest` until it ends or fails.
  let queued: Writes | undefined = writes(encoder.batch(first))
  // `writes`, once what the encoder asked for before them is done.
  function after(writes: Writes): Effect.Effect<Writes> {
    if (before === undefined) return Effect.succeed(writes)
    const pending = before
    before = undefined
    return Effect.as(pending, writes)
  }
  // A pull of `rest` done: its writes, or the stream's end when it has none.
  function pulled(next: Writes | undefined): Pull.Pull<Writes> {
    waiting = false
    if (next !== undefined) return after(next)
    ended = true
    tally.end()
    return Cause.done()
  }
  // The next pull of `rest`, built once: its batch written, its end, or its failure as an error event. A pull that
  // failed otherwise (a defect, an interruption) as the cut closed the stream's scope under it ends as the cut does.
  const following = Effect.matchCauseEffect(rest, {
    onFailure: (cause): Pull.Pull<Writes> => {
      const found = Cause.hasDies(cause) ? undefined : Cause.findError(cause)
      if (found !== undefined && Result.isSuccess(found)) {
        const error = found.success
        return pulled(Cause.isDone(error) ? (cutting !== undefined ? cutShort() : undefined) : failed(error))
      }
      // As a match would: a typed failure beside a defect is a defect too.
      return cutting !== undefined ? pulled(cutShort()) : Effect.orDie(Effect.failCause(cause))
    },
    onSuccess: (batch) => pulled(written(batch))
  })
  const pull = Effect.suspend((): Pull.Pull<Writes> => {
    if (queued !== undefined) {
      const head = queued
      queued = undefined
      return after(head)
    }
    if (cutting !== undefined) return pulled(cutShort())
    if (ended) return Cause.done()
    waiting = true
    return following
  })
  return HttpServerResponse.stream(Stream.fromPull(Effect.succeed(pull)), {
    contentType: encoder.contentType,
    headers: opened.headers
  })
}

/** A chat request admitted to its target, and how the route answers its failures. */
export interface Call {
  /** The request as sent for the key (`Auth.bounded`). */
  readonly request: ChatRequest
  readonly target: Target
  readonly context: Request.Service
  readonly failures: Failures
  readonly tally: Logs.Tally
  /** The guardrails it runs (`guardrails.ts`' chain, fixed when it starts); empty: the call as it is. */
  readonly guardrails: ReadonlyArray<Guardrail>
}

export interface StreamedCall extends Call {
  /** The model the request named, for the error of a stream that ends before its first chunk. */
  readonly model: string
  /** The request's scope, which closes the stream's. */
  readonly requestScope: Scope.Scope
  /** The route's encoder, made for this stream. */
  readonly newEncoder: () => StreamEncoder
}

/** A call answered as one reply: its body rendered in the route's wire, as its `Chat` says. */
export interface WholeCall extends Call, Pick<Chat, "render" | "contentType" | "beforeAnswer" | "refusal"> {}

/** A chat body as its route decoded it, and how the route answers it, streamed or whole. */
export interface Chat {
  readonly model: string
  /** The request as the body gave it; `Auth.bounded` makes the one sent. */
  readonly request: ChatRequest
  readonly stream: boolean
  readonly failures: Failures
  /** The route's stream encoder; none for a route whose answer is only ever whole (the Responses compaction's). */
  readonly newEncoder?: ((request: ChatRequest) => StreamEncoder) | undefined
  readonly render: (response: ChatResponse) => string
  /**
   * The content type of a whole reply's body, when it is not JSON: a Responses compaction asked for as a stream is
   * its one reply written whole as the stream's events (`text/event-stream`).
   */
  readonly contentType?: string | undefined
  /**
   * What is done with a whole reply and its body before they are answered, if anything: the Responses route keeps
   * the response, so that a client told of it can read or continue it at once, on any instance.
   */
  readonly beforeAnswer?: ((response: ChatResponse, body: string) => Effect.Effect<void>) | undefined
  /**
   * The answer instead of a whole reply the route cannot answer with, if any (a compaction whose model wrote no
   * summary): the reply is charged, as one a guardrail blocks.
   */
  readonly refusal?: ((response: ChatResponse) => Errors.ErrorAnswer | undefined) | undefined
  /** The target `model` names: by default the engine's. */
  readonly target?: Target | undefined
}

/**
 * A count's answer once `model` is admitted (a count takes a request of the key's rate limit, and nothing of its
 * budget): `request`'s count by its target's provider where it has an endpoint for it, else the estimate, in the
 * route's `reply`.
 */
export function counted(
  serving: Answering,
  tally: Logs.Tally,
  model: string,
  request: ChatRequest,
  failures: Failures,
  reply: (tokens: number) => string
) {
  return serving.admitted({
    model,
    request: () => undefined,
    handle: (target, _request, context) => {
      tally.model(model)
      return Effect.match(target.llm.countTokens(addressed(request, target)), {
        onFailure: (error) => {
          tally.failed(error)
          return serving.failed(context, failures, error)
        },
        onSuccess: (count) => json(200, reply(count.inputTokens))
      })
    }
  })
}

/** The answer to a chat body on any route: its model admitted for the key, then streamed or whole, with its session. */
export function answered(serving: Answering, { scope, sessionHeader, tally }: WithBody, chat: Chat) {
  return serving.admitted({
    model: chat.model,
    request: (context) => Session.withSession(chat.request, sessionHeader, context.caller?.id),
    handle: (target, request, context) => {
      tally.model(chat.model)
      const chain = Guardrails.chainOf(serving.engine.guardrails, target.guardrails, context.caller?.guardrails)
      if (Result.isFailure(chain)) {
        return Effect.succeed(notedFailure(context, Errors.guardrailUnavailable(chain.failure), chat.failures.errors))
      }
      const call = { request, target, context, failures: chat.failures, tally, guardrails: chain.success }
      const { newEncoder } = chat
      if (!chat.stream || newEncoder === undefined) {
        return whole({ ...chat, ...call })
      }
      return streamed(serving, {
        ...call,
        model: chat.model,
        requestScope: scope,
        newEncoder: () => newEncoder(request)
      })
    },
    target: chat.target
  })
}

/**
 * The call's request through its guardrails before anything is sent: a mask's text the one sent; either way the log's
 * payload keeps none of the body a guardrail masked or blocked.
 */
function checkedIn(call: Call): Effect.Effect<ChatRequest, GuardrailError> {
  const { context, guardrails, request } = call
  if (guardrails.length === 0) return Effect.succeed(request)
  return Effect.onExit(checkRequest(guardrails, request), (exit) =>
    Effect.sync(() => {
      const masked = Exit.isSuccess(exit) && JSON.stringify(exit.value.messages) !== JSON.stringify(request.messages)
      if (Exit.isFailure(exit) || masked) Outcome.requestWithheld(context.payload)
    }))
}

/** `request` naming the model as `target`'s deployment is addressed, when it is. */
export function addressed<Q extends { readonly model?: string | undefined }>(request: Q, target: Target): Q {
  return target.address === undefined ? request : { ...request, model: target.address }
}

/**
 * The call as a stream, governed (`governedCall.ts`): its cost settled once the stream's end is known, charged too when
 * a guardrail then blocks the answer. The request's scope closes the stream's in its one finalizer, after the stream's
 * end is noted (a scope with more than one finalizer closes through Effect's slower path).
 */
export function streamed(serving: Answering, call: StreamedCall) {
  const { context, failures, tally } = call
  const { drain } = serving.options
  const held = Scope.makeUnsafe()
  const heldUntilEnd = Scope.addFinalizerExit(call.requestScope, (exit) => {
    drain.closed(context)
    const closed = Scope.close(held, exit)
    if (!context.outcome.streaming) return closed
    // The stream's end, or its client's leaving: its duration counted, its record written; the stream closed (its
    // cost settled) whatever that did (a defect there must not leave the upstream call and its key held).
    return Effect.ensuring(
      Effect.suspend(() => {
        tally.end()
        return serving.written(context, serving.now()) ?? Effect.void
      }),
      closed
    )
  })
  const opened = GovernedCall.governed({
    reserve: Request.reserved(context),
    guardIn: checkedIn(call),
    send: (request) =>
      openFirst(
        upstreamOf(call, request),
        held,
        () =>
          new StreamTruncatedError({
            provider: "gateway",
            model: call.model,
            detail: "the stream ended before its first chunk"
          }),
        (first, rest) => ({ first, rest })
      ),
    // Known once its upstream's `Finish` is in: a stream cut or failed before it is charged its reservation.
    cost: () => context.outcome.cost,
    held,
    record: (ended) => recordedStream(call, serving.now, ended)
  })
  return Effect.andThen(
    heldUntilEnd,
    Effect.matchEffect(opened, {
      onFailure: (stop) => failedAnswer(failures, stop.error),
      onSuccess: ({ first, rest }) => {
        const headers = { "cache-control": "no-cache", ...Request.answerHeaders(context) }
        return HttpServerRequest.HttpServerRequest.useSync((request) =>
          answer({
            encoder: call.newEncoder(),
            first,
            rest,
            context,
            failures,
            tally,
            headers,
            scope: held,
            drain,
            endNow: endNowOf(request)
          })
        )
      }
    })
  )
}

// A stream opened: its first batch, and the pull of the rest.
type Opening = Pick<Opened, "first" | "rest">

// The stream of the call's `request` (as its input guardrails left it), its tokens and cost noted as they come from the
// upstream (`Outcome.answeredUpstream`), then through its output guardrails.
function upstreamOf(call: Call, request: ChatRequest) {
  const { outcome } = call.context
  const upstream = call.target.llm.chatStream(addressed(request, call.target)).pipe(
    Stream.mapArray(function noted(batch) {
      Outcome.answeredUpstream(outcome, batch)
      return batch
    })
  )
  return call.guardrails.length === 0
    ? upstream
    : upstream.pipe(Guardrails.guardedStream(call.guardrails, request.model))
}

// How a stream's call ended, noted once at its exit: its first batch in (time to it, stream counted), or its failure.
function recordedStream(call: Call, now: () => number, { answered, stop }: GovernedCall.Ended<LlmError, Opening>) {
  if (stop !== undefined) noteFailure(call, stop.error)
  else if (answered !== undefined) {
    Outcome.opened(call.context.outcome, now() - call.context.start)
    call.tally.stream()
  }
}

/**
 * The call as one reply, governed (`governedCall.ts`): its reply charged and through the guardrails too (a block is
 * charged the reply's cost, and its text is not kept in the log).
 */
function whole(call: WholeCall) {
  const { context, guardrails } = call
  const replied = GovernedCall.governed<ChatRequest, ChatResponse, LlmError, never>({
    reserve: Request.reserved(context),
    guardIn: checkedIn(call),
    send: (request: ChatRequest) => call.target.llm.chat(addressed(request, call.target)),
    cost: (response) => response.cost,
    guardOut: guardrails.length === 0
      ? undefined
      : (response, request) => checkReply(guardrails, response, request.model),
    record: (ended) => recordedWhole(call, ended)
  })
  return Effect.matchEffect(replied, {
    onFailure: (stop) => failedAnswer(call.failures, stop.error),
    onSuccess: (response) => {
      const refused = call.refusal?.(response)
      if (refused !== undefined) return Effect.succeed(notedFailure(context, refused, call.failures.errors))
      const body = call.render(response)
      const answer = call.contentType === undefined
        ? json(200, body)
        : HttpServerResponse.text(body, { contentType: call.contentType })
      return call.beforeAnswer === undefined
        ? Effect.succeed(answer)
        : Effect.as(call.beforeAnswer(response, body), answer)
    }
  })
}

// How a whole call ended, noted once at its exit: its reply (one a guardrail blocked, text not kept), or its failure.
function recordedWhole(call: Call, { answered, stop }: GovernedCall.Ended<LlmError, ChatResponse>) {
  const { context: { outcome, payload }, tally } = call
  if (answered !== undefined) {
    tally.replied(answered.usage, answered.cost, answered.cacheSavings)
    Outcome.answered(outcome, payload, answered)
    if (stop !== undefined) Outcome.replyChecked(payload, "")
  }
  if (stop !== undefined) noteFailure(call, stop.error)
}

// Ends the Node response of `request` at once, `last` its last write: a stream cut at shutdown whose body's writer
// waits on the upstream (`answer`) ends so, with its error event, rather than by the request's interruption,
// which drops the connection. A WebSocket's request has no Node response: its socket's close ends it.
function endNowOf(request: HttpServerRequest.HttpServerRequest) {
  return (last: Uint8Array | undefined): void => {
    const response = NodeHttpServerRequest.toServerResponse(request) as Http.ServerResponse | undefined
    if (response === undefined || response.writableEnded || response.destroyed) return
    if (last === undefined) response.end()
    else response.end(last)
  }
}
