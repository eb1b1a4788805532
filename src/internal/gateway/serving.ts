/**
 * What every route of the gateway is served through: the request's log entry begun and its `x-request-id`, the
 * guard every request passes (`Intake.guard`: its `Host`, its origin, its body's type) and its key checked, its body
 * read within the limit (`withBody`), its model admitted for its key (`admitted`), the admin paths' check
 * (`adminAs`: who asks, and whether the route's rule lets them: `identity/access.ts`), and the refusals these give, in
 * the words of the dialect of their path (`dialects.ts`).
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import type { LlmError } from "../../LlmError.js"
import type * as Sql from "../persistence/sql.js"
import type { Problem } from "../schemaCheck.js"
import type { ErrorWriter } from "../wire/dialect.js"
import type * as AdminKeys from "./admin/keys.js"
import * as Dialects from "./dialects.js"
import type { Engine, ModelEntry, Target } from "./engine.js"
import * as Errors from "./errorAnswer.js"
import * as Access from "./identity/access.js"
import type { Grants } from "./identity/grants.js"
import type { Oidc } from "./identity/oidc.js"
import * as Principals from "./identity/principal.js"
import type { Sessions } from "./identity/sessions.js"
import * as Intake from "./intake.js"
import * as Auth from "./keys/auth.js"
import type * as McpEndpoint from "./mcp/endpoint.js"
import type * as McpPins from "./mcp/pins.js"
import type * as McpSessions from "./mcp/sessions.js"
import * as Logs from "./observe/record.js"
import type * as RequestLog from "./observe/requestLog.js"
import type { Drain } from "./server.js"

/** What the application needs besides the engine. */
export interface AppOptions {
  /** The largest request body, in bytes; larger ones get 413. */
  readonly maxBodyBytes: number
  /** The gateway keys: who may call, and what. */
  readonly auth: Auth.Auth
  /** Whether each request is logged. */
  readonly logRequests: boolean
  /** Whether `GET /llm/model-load/<model>` is served (to admin keys). */
  readonly modelLoadDetails: boolean
  /** The `Host` values served, on a gateway listening on loopback (`Intake.loopbackHosts`); any, elsewhere. */
  readonly hosts: ReadonlySet<string> | undefined
  /** The streams in flight, cut when the gateway shuts down. */
  readonly drain: Drain
  /** The gateway's database (keys, teams, spend, the request log), if it has one. */
  readonly database: Sql.Database | undefined
  /** The keys and teams made at run time and the spend ledger, on a gateway with a database. */
  readonly managedKeys: AdminKeys.Managed | undefined
  /** `POST /admin/reload`: the configuration read again and served (`Gateway.Service.reload`); the names it serves. */
  readonly reload: Effect.Effect<ReadonlyArray<string>, { readonly message: string }>
  /** The MCP endpoints (`/mcp`, `/mcp/<server>`) of a configuration with MCP servers. */
  readonly mcp: McpEndpoint.Endpoints | undefined
  /** The MCP tools' pins, kept for the gateway's life (`/admin/mcp/pins`). */
  readonly mcpPins: McpPins.Pins
  /** Where the MCP sessions are recorded, for the gateway's life (its database, else its memory). */
  readonly mcpSessions: McpSessions.SessionStore
  /** Sign-on's identity provider, when the configuration has one (`gateway.oidc`). */
  readonly oidc: Oidc | undefined
  /** The dashboard's sessions, for the gateway's life. */
  readonly sessions: Sessions
  /** The roles granted through the admin API, with a database. */
  readonly grants: Grants | undefined
}

/** A JSON answer with `status`. */
export function json(status: number, body: string) {
  return HttpServerResponse.text(body, { status, contentType: "application/json" })
}

/** An error answer in the words of `errors` (by default the gateway's own), with its `retry-after` when it has one. */
export function errorResponse(error: Errors.ErrorAnswer, errors: ErrorWriter = Dialects.own) {
  return HttpServerResponse.text(errors.body(error), {
    status: errors.status(error),
    contentType: "application/json",
    ...(error.retryAfter !== undefined ? { headers: { "retry-after": String(error.retryAfter) } } : {})
  })
}

/** A body the wire refuses: 400 naming its field, in the words of `errors` (by default the gateway's own). */
export function problemResponse(problem: Problem, errors: ErrorWriter = Dialects.own) {
  return errorResponse(Errors.invalidRequest(problem.message, problem.param), errors)
}

function isBodyTooLarge(error: unknown): boolean {
  return HttpServerError.isHttpServerError(error) && error.reason._tag === "RequestParseError" &&
    error.reason.reason === "BodyTooLarge"
}

/** The answer to a body larger than the gateway takes (`limit` bytes): 413. */
export function tooLarge(limit: number) {
  return Errors.answer(
    413,
    `The request body is larger than this gateway takes (${limit} bytes).`,
    "invalid_request_error",
    null,
    "request_too_large"
  )
}

/** A refusal of the request of `entry`, in the words of its path's dialect (`Dialects.errorsOf`). */
export function refusal(entry: Logs.Entry, answer: Errors.ErrorAnswer) {
  return errorResponse(answer, Dialects.errorsOf(entry.method, entry.path))
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

/** A path decoded; left as sent when its escapes are malformed. */
export function decodePath(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

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

/** A model to admit for the key of `entry`'s request, and what answers the request once admitted. */
export interface Admission<R, Q extends Auth.Request | undefined> {
  readonly model: string
  /** The request as the body gave it; `Auth.bounded` makes the one sent. */
  readonly request: Q
  readonly entry: Logs.Entry
  readonly handle: (target: Target, request: Q) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
  /** The target `model` names: by default the engine's. */
  readonly target?: Target | undefined
}

/** What the serving of the gateway's routes is made of. */
export interface ServingInput {
  readonly engine: Engine
  readonly options: AppOptions
  /** The time, in milliseconds, from the gateway's `Clock`. */
  readonly now: () => number
  readonly metrics: Logs.Metrics
  /** The live figures each request's log entry feeds. */
  readonly stats: Logs.LiveStats
  /** The request log each request's entry is written to, with a database. */
  readonly requestLog: RequestLog.RequestLog | undefined
  /** The lines of requests refused before authentication, rate-limited. */
  readonly refusalLines: Logs.RefusalLines
}

/** The routes' shared plumbing over one engine and its options. */
export type Serving = ReturnType<typeof make>

/** The plumbing every route of the application is served through. */
export function make({ engine, metrics, now, options, refusalLines, requestLog, stats }: ServingInput) {
  const { auth } = options
  const known = engine.models.map((model) => model.id)

  // A key limited to some models is told of those only; a name longer than the gateway takes is refused by its length.
  function notFoundAnswer(model: string, caller?: Auth.Caller) {
    const oversized = Intake.oversizedModel(model)
    return oversized !== undefined
      ? Errors.modelTooLong(oversized, Intake.maxModelBytes)
      : Errors.modelNotFound(model, caller?.models === undefined ? known : [...caller.models])
  }

  // The names a key may call, as the configuration lists them: all of them for a key not limited to some.
  function visibleModels(caller: Auth.Caller | undefined): ReadonlyArray<ModelEntry> {
    const models = caller?.models
    return models === undefined ? engine.models : engine.models.filter((model) => models.has(model.id))
  }

  function notFound(model: string, caller?: Auth.Caller) {
    return errorResponse(notFoundAnswer(model, caller))
  }

  const sources: Principals.Sources = {
    auth,
    oidc: options.oidc,
    sessions: options.sessions,
    grants: options.grants
  }
  const teams = options.managedKeys === undefined ? undefined : Access.teamsOf(options.managedKeys.store)

  // Each admin request's principal, resolved once: its route's check and the audit log's actor read the same one.
  const resolved = new WeakMap<
    HttpServerRequest.HttpServerRequest,
    Exit.Exit<Principals.Principal, Errors.ErrorAnswer>
  >()

  // Who `request` is (`identity/principal.ts`), or the answer refusing it.
  function principal(
    request: HttpServerRequest.HttpServerRequest
  ): Effect.Effect<Principals.Principal, Errors.ErrorAnswer> {
    const known = resolved.get(request)
    if (known !== undefined) return known
    return Effect.onExit(
      Principals.principalOf(sources, request.headers),
      (exit) => Effect.sync(() => resolved.set(request, exit))
    )
  }

  // The principal of an admin route's request once the route's rule grants what it needs of it (`body`: its text, on a
  // route that takes one), else the refusal: the one check of every admin route.
  function principalFor(request: HttpServerRequest.HttpServerRequest, body: string | undefined) {
    return Effect.flatMap(HttpRouter.RouteContext, ({ params, route }) => {
      const rule = Access.ruleOf(route.method, String(route.path))
      if (rule === undefined) return Effect.fail(Access.noRule)
      return Effect.flatMap(principal(request), (principal) => {
        const refused = Access.authorize(principal, rule, { params, body, teams })
        return refused === undefined ? Effect.succeed(principal) : Effect.fail(refused)
      })
    })
  }

  // An admin route's answer from `handle`, given who asks, once the route's rule lets them.
  function adminAs<E, R>(
    handle: (principal: Principals.Principal) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    body?: string
  ) {
    return Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) =>
        Effect.matchEffect(principalFor(request, body), {
          onFailure: (refused) => Effect.succeed(errorResponse(refused)),
          onSuccess: handle
        })
    )
  }

  // An admin route's answer that needs nothing of who asks but that the route's rule lets them.
  function adminOnly<E, R>(handle: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
    return adminAs(() => handle)
  }

  // The answer to the engine's `error`, logged in `entry`, in the route's words (`failures`).
  function failed(entry: Logs.Entry, failures: Errors.Failures, error: LlmError) {
    const answer = failures.answer(error)
    Logs.failed(entry, error._tag, answer)
    return errorResponse(answer, failures.errors)
  }

  // A refusal of the call of `entry`, noted in its log line.
  function refused(entry: Logs.Entry, answer: Errors.ErrorAnswer) {
    Logs.failed(entry, answer.code ?? undefined, answer)
    return refusal(entry, answer)
  }

  // The target of `model` once the request's key (its `entry`'s caller) may call it (its rate limit and budget
  // checked), else the refusal; `request` as sent for the key (`Auth.bounded`). A model too long to take, or that
  // names nothing, is refused after it took from the key's rate limit too: trying names costs what calling does.
  function admitted<R, Q extends Auth.Request | undefined>(admission: Admission<R, Q>) {
    const { entry, handle, model } = admission
    const target = Intake.oversizedModel(model) === undefined ? admission.target ?? engine.resolve(model) : undefined
    entry.model = Intake.logged(model)
    if (target === undefined) {
      return Effect.match(auth.limit(entry.caller), {
        onFailure: (answer) => refused(entry, answer),
        onSuccess: () => refused(entry, notFoundAnswer(model, entry.caller))
      })
    }
    // A request without a gateway key (a gateway that requires none, or an open path) has no limit or budget.
    if (entry.caller === undefined) return handle(target, admission.request)
    const sent = auth.bounded(entry.caller, admission.request)
    return Effect.matchEffect(auth.admit(entry.caller, model, target, sent), {
      onFailure: (answer) => Effect.succeed(refused(entry, answer)),
      onSuccess: (settle) => {
        entry.settle = settle
        return handle(target, sent)
      }
    })
  }

  // Every request: its log entry begun (its id the client's `x-request-id` when that is one), the guard passed
  // (`Intake.guard`), its key checked (but on the open paths), then `handle`'s answer, given the request, its entry,
  // its scope and, on a route counted in the metrics (`route`), its tally; the answer carries `x-request-id` and
  // its log line is written (a stream's when its scope closes; 499 for a client gone before the answer). Each route
  // is served through this, so the entry is handed on, not put in the fiber's context.
  function served<E, R>(
    handle: (served: Served) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    route?: string
  ) {
    return Effect.contextWith((context: Context.Context<HttpServerRequest.HttpServerRequest | Scope.Scope>) => {
      const request = Context.get(context, HttpServerRequest.HttpServerRequest)
      const start = now()
      // The caller (none on an open path or without keys), or the request's refusal.
      const refusedByGuard = Intake.guard(request.method, request.headers, options.hosts)
      const checked: Effect.Effect<Auth.Caller | undefined, Errors.ErrorAnswer> = refusedByGuard !== undefined
        ? Effect.fail(guarded[refusedByGuard])
        : auth.required && !Auth.open.has(Logs.pathOf(request.url))
        ? auth.authenticate(Auth.withQueryKey(request.headers, request.url))
        : Effect.undefined
      return Effect.flatMap(Effect.result(checked), (result) => answered(context, request, start, result))
    })

    // The request answered once its caller is known (or its refusal).
    function answered(
      context: Context.Context<HttpServerRequest.HttpServerRequest | Scope.Scope>,
      request: HttpServerRequest.HttpServerRequest,
      start: number,
      checked: Result.Result<Auth.Caller | undefined, Errors.ErrorAnswer>
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

  // A route whose answer needs nothing of the request but what `served` does with it.
  function plain<E, R>(answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) {
    return served(() => answer)
  }

  // A body route counted in the metrics as `route`: the body as text within the limit, then what `handle` makes of
  // it.
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

  return {
    engine,
    options,
    now,
    notFound,
    notFoundAnswer,
    visibleModels,
    principal,
    adminAs,
    adminOnly,
    failed,
    admitted,
    served,
    plain,
    withBody,
    metrics
  }
}
