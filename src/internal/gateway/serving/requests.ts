/**
 * Every request of the gateway: the guard it passes (`Intake.guard`) and its key checked, its context made
 * (`request/context.ts`) and provided to its route, its body read within the limit (`withBody`), its answer counted and
 * its record written (`observe/record.ts`). Its refusals are in the words of its path's dialect (`dialects.ts`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Auth from "../access/authentication.js"
import type { Caller } from "../access/caller.js"
import * as Errors from "../errorAnswer.js"
import * as Intake from "../intake.js"
import type * as Logs from "../observe/metrics.js"
import { Journal } from "../observe/record.js"
import type { RefusalLines } from "../observe/refusalLines.js"
import * as Request from "../request/context.js"
import { RequestContext } from "../request/context.js"
import * as Outcome from "../request/outcome.js"
import { refusal, tooLarge } from "./answers.js"
import { Configuration } from "./configuration.js"

/** A route handler's input: the request, its scope and, on a counted route, its tally (`RequestContext` provided). */
export interface Served {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly scope: Scope.Scope
  readonly tally: Logs.Tally | undefined
}

/** What a body route's handler is given: the body's text, its request's scope and tally. */
export interface WithBody {
  readonly text: string
  readonly scope: Scope.Scope
  readonly tally: Logs.Tally
  /** The client's `x-session-id` header (`Intake.withSession`). */
  readonly sessionHeader: string | undefined
  /** The client's `anthropic-beta` header: the Messages routes read the betas a request asks for. */
  readonly betaHeader: string | undefined
}

/** How a route serves its requests. */
export interface Service {
  /**
   * Every request: the guard passed, its key checked (but on the open paths), its context made, then `handle`'s answer
   * (with its tally on a route counted in the metrics); the answer carries `x-request-id` and its record is written (a
   * stream's when its scope closes; 499 for a client gone before the answer).
   */
  readonly served: <E, R>(
    handle: (served: Served) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    route?: string
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    E,
    Exclude<R, RequestContext> | HttpServerRequest.HttpServerRequest | Scope.Scope
  >
  /** A route whose answer needs nothing of the request but what `served` does with it. */
  readonly plain: <E, R>(
    answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    E,
    Exclude<R, RequestContext> | HttpServerRequest.HttpServerRequest | Scope.Scope
  >
  /** A body route counted as `route`: its body as text within the limit, then what `handle` makes of it. */
  readonly withBody: <R>(
    route: string,
    handle: (body: WithBody) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    never,
    Exclude<R, RequestContext> | HttpServerRequest.HttpServerRequest | Scope.Scope
  >
}

/** The serving of each request, as every route is served. */
export class Requests extends Context.Service<Requests, Service>()("effect-llm-router/gateway/serving/Requests") {}

function isBodyTooLarge(error: unknown): boolean {
  return HttpServerError.isHttpServerError(error) && error.reason._tag === "RequestParseError" &&
    error.reason.reason === "BodyTooLarge"
}

// A body not declared JSON: 415.
const notJson = Errors.answer(
  415,
  "The request body must be JSON, sent with `content-type: application/json`.",
  "invalid_request_error",
  null,
  "unsupported_media_type"
)

// What the guard refuses (`Intake.guard`), each with its answer.
const guarded: Readonly<Record<Intake.Refusal, Errors.ErrorAnswer>> = {
  host_not_allowed: Errors.answer(
    403,
    "This gateway listens on loopback and serves its own loopback names only (localhost, 127.0.0.1, [::1], with " +
      "its port): a request naming another host (a page's DNS rebinding) is refused. To serve other names, listen " +
      "on another address (with gateway keys), or have a proxy send one of these as `Host`.",
    "invalid_request_error",
    null,
    "host_not_allowed"
  ),
  cross_origin_request: Errors.answer(
    403,
    "This request came from a web page of another origin (its `Origin` or `Sec-Fetch-Site` says so): the gateway " +
      "takes requests that change anything only from programs and from its own pages, so a page you open cannot " +
      "act on it.",
    "invalid_request_error",
    null,
    "cross_origin_request"
  ),
  unsupported_media_type: notJson
}

/**
 * The serving of each request over the configuration served, its record going where the `Journal` says, the lines of
 * those refused before authentication as `refusalLines` lets them.
 */
export const make = Effect.fnUntraced(function*(refusalLines: RefusalLines) {
  const { metrics, now, options } = yield* Configuration
  const journal = yield* Journal
  const { auth } = options

  // The context is made here and provided once, to the route's handler, whose steps read it through its type; only
  // this module's own steps (`withBody`) are handed it.
  function serve<E, R>(
    handle: (served: Served, context: Request.Service) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    route?: string
  ) {
    return Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest | Scope.Scope>) => {
      const request = Context.get(context, HttpServerRequest.HttpServerRequest)
      const start = now()
      // The caller (none on an open path or without keys), or the request's refusal.
      const path = Request.pathOf(request.url)
      const refusedByGuard = Intake.guard(request.method, request.headers, options.hosts, Intake.uploadPaths.has(path))
      if (refusedByGuard !== undefined) return answered(context, request, start, Result.fail(guarded[refusedByGuard]))
      if (!auth.required || Auth.open.has(path)) return answered(context, request, start, Result.succeed(undefined))
      return Effect.flatMap(
        Effect.result(auth.authenticate(Auth.withQueryKey(request.headers, request.url))),
        (result) => answered(context, request, start, result)
      )
    })

    // The request answered once its caller is known (or its refusal).
    function answered(
      context: Context.Context<HttpServerRequest.HttpServerRequest | Scope.Scope>,
      request: HttpServerRequest.HttpServerRequest,
      start: number,
      checked: Result.Result<Caller | undefined, Errors.ErrorAnswer>
    ) {
      const id = Intake.requestId(request.headers["x-request-id"], randomUUID)
      const refused = Result.isFailure(checked) ? checked.failure : undefined
      const presented = journal.logPayloads && refused === undefined
        ? Auth.presented(Auth.withQueryKey(request.headers, request.url))
        : undefined
      // A request refused before it is authenticated gets no row (anyone who reaches the port could fill the database
      // with them), only its count and a rate-limited line (`RefusalLines`); its body is never read.
      const requestContext = Request.make({
        id,
        method: request.method,
        url: request.url,
        start,
        caller: Result.isSuccess(checked) ? checked.success : undefined,
        payload: journal.logPayloads && refused === undefined,
        key: presented === undefined ? undefined : Redacted.make(presented)
      })
      const { outcome } = requestContext
      let handled: Effect.Effect<HttpServerResponse.HttpServerResponse, E, Exclude<R, RequestContext>>
      let tally: Logs.Tally | undefined
      // Of a refusal's line: the count of those not written before it, or undefined when it is not written.
      let suppressed: number | undefined
      if (refused !== undefined) {
        metrics.refused(refused.code ?? String(refused.status))
        Outcome.failed(outcome, refused.code ?? undefined, refused)
        // Its line only within the refusal lines' rate: anyone who reaches the port could flood the log with them.
        handled = !options.logRequests
          ? Effect.succeed(refusal(requestContext, refused))
          : Effect.map(refusalLines.take, (taken) => {
            suppressed = taken
            return refusal(requestContext, refused)
          })
      } else {
        tally = route === undefined ? undefined : metrics.tally(route, start)
        handled = Effect.provideService(
          handle({ request, scope: Context.get(context, Scope.Scope), tally }, requestContext),
          RequestContext,
          requestContext
        )
      }
      // A stream's answer carries the request's headers from its making (`ChatAnswer.answer`, built once); the others
      // get them here.
      const withHeaders = Effect.map(
        handled,
        (response) =>
          outcome.streaming ? response : HttpServerResponse.setHeaders(response, Request.answerHeaders(requestContext))
      )
      // Once answered, the answer is counted and its record written as the request ends, uninterruptibly: a client
      // leaving then is no 499. Interrupted before it was answered: the client left. A stream's record is its scope's.
      return Effect.onExitPrimitive(withHeaders, (exit) => {
        if (Exit.isSuccess(exit)) {
          Outcome.answeredAs(outcome, exit.value.status)
          tally?.answered(exit.value)
        } else if (!Exit.hasInterrupts(exit)) return
        if (outcome.streaming) return
        if (Exit.isFailure(exit)) Outcome.gone(outcome)
        return refused === undefined
          ? journal.written(requestContext, now())
          : journal.refused(requestContext, now(), suppressed)
      })
    }
  }

  function plain<E, R>(answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
    return serve(() => answer)
  }

  function withBody<R>(
    route: string,
    handle: (body: WithBody) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  ) {
    return serve(({ request, scope, tally }, context) => {
      const declared = Number(request.headers["content-length"])
      if (declared > options.maxBodyBytes) return Effect.succeed(refusal(context, tooLarge(options.maxBodyBytes)))
      return Effect.matchEffect(request.text, {
        onFailure: (error) =>
          Effect.succeed(refusal(
            context,
            isBodyTooLarge(error)
              ? tooLarge(options.maxBodyBytes)
              : Errors.invalidRequest("The request body could not be read.", undefined)
          )),
        // `serve` makes a tally for a route it is given.
        onSuccess: (text) => {
          Outcome.requestRead(context.payload, text)
          return handle({
            text,
            scope,
            tally: tally!,
            sessionHeader: request.headers[Intake.header],
            betaHeader: request.headers["anthropic-beta"]
          })
        }
      })
    }, route)
  }

  return Requests.of({ served: serve, plain, withBody })
})

/** The serving of each request, over the `Configuration` and `Journal` provided. */
export const layer = (refusalLines: RefusalLines) => Layer.effect(Requests, make(refusalLines))
