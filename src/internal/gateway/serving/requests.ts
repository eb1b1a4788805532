/**
 * Every request of the gateway: its log entry begun and its `x-request-id`, the guard it passes (`Intake.guard`: its
 * `Host`, its origin, its body's type) and its key checked, its body read within the limit (`withBody`), its answer
 * counted and its log line written. The refusals these give are in the words of the dialect of their path
 * (`dialects.ts`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
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
import * as Logs from "../observe/record.js"
import type * as RequestLog from "../observe/requestLog.js"
import { refusal, tooLarge } from "./answers.js"
import { Configuration } from "./configuration.js"

/** What a route's handler is given: the request, its log entry, its scope and its tally (on a counted route). */
export interface Served {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly entry: Logs.Entry
  readonly scope: Scope.Scope
  readonly tally: Logs.Tally | undefined
}

/** What a body route's handler is given: the body's text, its request's log entry, scope and tally. */
export interface WithBody {
  readonly text: string
  readonly entry: Logs.Entry
  readonly scope: Scope.Scope
  readonly tally: Logs.Tally
  /** The client's `x-session-id` header (`Intake.withSession`). */
  readonly sessionHeader: string | undefined
}

/** How a route serves its requests. */
export interface Service {
  /**
   * Every request: its log entry begun (its id the client's `x-request-id` when that is one), the guard passed
   * (`Intake.guard`), its key checked (but on the open paths), then `handle`'s answer, given the request, its entry,
   * its scope and, on a route counted in the metrics (`route`), its tally; the answer carries `x-request-id` and
   * its log line is written (a stream's when its scope closes; 499 for a client gone before the answer).
   */
  readonly served: <E, R>(
    handle: (served: Served) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    route?: string
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest | Scope.Scope>
  /** A route whose answer needs nothing of the request but what `served` does with it. */
  readonly plain: <E, R>(
    answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest | Scope.Scope>
  /**
   * A body route counted in the metrics as `route`: the body as text within the limit, then what `handle` makes of
   * it.
   */
  readonly withBody: <R>(
    route: string,
    handle: (body: WithBody) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  ) => Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    never,
    R | HttpServerRequest.HttpServerRequest | Scope.Scope
  >
  /**
   * The log entry of work that is no request's own but is recorded as one (a batch's line, settled when the batch
   * ends: `batches/settlement.ts`), with the same line, live figures and request log row; written by `Logs.write`.
   */
  readonly entryOf: (beginning: Pick<Logs.Beginning, "id" | "method" | "url" | "start">) => Logs.Entry
}

/** The serving of each request, as every route is served. */
export class Requests extends Context.Service<Requests, Service>()("effect-llm-router/gateway/serving/Requests") {}

/** Where each request's log entry goes, besides its line. */
export interface Logged {
  /** The live figures each request's log entry feeds. */
  readonly stats: Logs.LiveStats
  /** The request log each request's entry is written to, with a database. */
  readonly requestLog: RequestLog.RequestLog | undefined
  /** The lines of requests refused before authentication, rate-limited. */
  readonly refusalLines: Logs.RefusalLines
}

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

/** The serving of each request over the configuration served, its entry logged as `logged` says. */
export const make = Effect.fnUntraced(function*({ refusalLines, requestLog, stats }: Logged) {
  const { metrics, now, options } = yield* Configuration
  const { auth } = options

  // Each route is served through this, so the entry is handed on, not put in the fiber's context (a service
  // provided to each request costs operations: docs/performance.md, the gateway's serving as services).
  function served<E, R>(
    handle: (served: Served) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    route?: string
  ) {
    return Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest | Scope.Scope>) => {
      const request = Context.get(context, HttpServerRequest.HttpServerRequest)
      const start = now()
      // The caller (none on an open path or without keys), or the request's refusal.
      const path = Logs.pathOf(request.url)
      const refusedByGuard = Intake.guard(request.method, request.headers, options.hosts, Intake.uploadPaths.has(path))
      const checked: Effect.Effect<Caller | undefined, Errors.ErrorAnswer> = refusedByGuard !== undefined
        ? Effect.fail(guarded[refusedByGuard])
        : auth.required && !Auth.open.has(path)
        ? auth.authenticate(Auth.withQueryKey(request.headers, request.url))
        : Effect.undefined
      return Effect.flatMap(Effect.result(checked), (result) => answered(context, request, start, result))
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
      const caller = Result.isSuccess(checked) ? checked.success : undefined
      const presented = requestLog?.logPayloads === true && refused === undefined
        ? Auth.presented(Auth.withQueryKey(request.headers, request.url))
        : undefined
      // A request refused before it is authenticated gets no row: anyone who reaches the port could fill the
      // database with them. It is counted (`refused_total`) and its line written (`Logs.RefusalLines`: so many a
      // second); its body is never read.
      const entry = Logs.begin({
        id,
        method: request.method,
        url: request.url,
        start,
        log: options.logRequests,
        stats,
        requestLog: refused === undefined ? requestLog : undefined,
        key: presented === undefined ? undefined : Redacted.make(presented)
      })
      let handled: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
      let tally: Logs.Tally | undefined
      if (refused !== undefined) {
        metrics.refused(refused.code ?? String(refused.status))
        Logs.failed(entry, refused.code ?? undefined, refused)
        // Its line only within the refusal lines' rate: anyone who reaches the port could flood the log with them.
        handled = !entry.log ? Effect.succeed(refusal(entry, refused)) : Effect.map(refusalLines.take, (suppressed) => {
          entry.log = suppressed !== undefined
          entry.suppressed = suppressed
          return refusal(entry, refused)
        })
      } else {
        entry.caller = caller
        tally = route === undefined ? undefined : metrics.tally(route, start)
        handled = handle({ request, entry, scope: Context.get(context, Scope.Scope), tally })
      }
      // Once answered, the answer is counted and logged without interruption (a client leaving then is not a 499).
      return Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(restore(handled), (response) => {
          entry.status = response.status
          tally?.answered(response)
          // A stream's answer carries it from its making (`ChatAnswer.answer`, its headers built once); the others get
          // it here.
          const answered = entry.streaming
            ? response
            : HttpServerResponse.setHeaders(response, Logs.answerHeaders(entry))
          return entry.streaming
            ? Effect.succeed(answered)
            : Effect.as(Logs.write(entry, now()), answered)
        })
      ).pipe(
        Effect.onInterrupt(() => entry.streaming ? Effect.void : Logs.gone(entry, now()))
      )
    }
  }

  function plain<E, R>(answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
    return served(() => answer)
  }

  function withBody<R>(
    route: string,
    handle: (body: WithBody) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  ) {
    return served(({ entry, request, scope, tally }) => {
      const declared = Number(request.headers["content-length"])
      if (declared > options.maxBodyBytes) return Effect.succeed(refusal(entry, tooLarge(options.maxBodyBytes)))
      return Effect.matchEffect(request.text, {
        onFailure: (error) =>
          Effect.succeed(refusal(
            entry,
            isBodyTooLarge(error)
              ? tooLarge(options.maxBodyBytes)
              : Errors.invalidRequest("The request body could not be read.", undefined)
          )),
        // `served` makes a tally for a route it is given.
        onSuccess: (text) => {
          if (entry.payload !== undefined) entry.payload.request = text
          return handle({ text, entry, scope, tally: tally!, sessionHeader: request.headers[Intake.header] })
        }
      })
    }, route)
  }

  function entryOf(beginning: Pick<Logs.Beginning, "id" | "method" | "url" | "start">): Logs.Entry {
    return Logs.begin({ ...beginning, log: options.logRequests, stats, requestLog })
  }

  return Requests.of({ served, plain, withBody, entryOf })
})

/** The serving of each request, over the `Configuration` provided. */
export const layer = (logged: Logged) => Layer.effect(Requests, make(logged))
