/**
 * Every admin action recorded in one place: the gateway's admin routes (`Auth.isAdminPath`) wrapped as the route table
 * is built (`app.ts`), whatever module serves them. A request that may change something (any method but GET and HEAD)
 * leaves one row whatever its outcome; a read leaves one only when it is refused (401 or 403): reading spend or the
 * request log is not an action, and the request log already has the admin paths' calls. A row names who
 * (`actor.ts`), the action (method and route pattern), its object and the object's values before and after (its
 * route's `Subject`: secrets never, a key as its id and its masked form), when (the `Clock`), from where (the
 * connection's address: the gateway trusts no proxy's `X-Forwarded-For`), and the outcome (`ok` for 2xx, `refused`
 * for 4xx, `failed` for 5xx, with the answer's status and error code). The row is appended before the answer goes
 * out; an append that fails is logged, and the answer still goes (the action is done by then). A refusal's row (401,
 * 403), which anyone who reaches the port can cause, is written within its address' bound (`refusals.ts`).
 *
 * A mutating admin route without a `Subject` is a defect at build: a new admin route cannot go unrecorded.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Auth from "../keys/auth.js"
import * as Chain from "./chain.js"
import { isRefusal, type Refusals } from "./refusals.js"
import type { AuditLog } from "./store.js"

/** A route's path parameters, decoded. */
export type Params = Readonly<Record<string, string | undefined>>

/** What an admin action acts on, for its row: how to name the object and read its values. */
export interface Subject {
  /**
   * The object's id: from the path's parameters (or the request's headers: a sign-out's session), else (an object
   * made by the action) from `answer`, its JSON.
   */
  readonly object: (
    params: Params,
    answer: unknown,
    request: HttpServerRequest.HttpServerRequest
  ) => string | undefined
  /** The object's values now (`null` when there is none), secrets never. */
  readonly state: (object: string | undefined) => Effect.Effect<unknown>
  /** The values after, from the state read after the action and its answer; the state by default. */
  readonly after?: (state: unknown, answer: unknown) => unknown
}

/** The subjects of the mutating admin routes, by action (`"POST /admin/keys"`). */
export type Subjects = Readonly<Record<string, Subject>>

/** What the recording needs: the log (none without a database) and its refusals' bounds, who a request is, the time. */
export interface Recording {
  readonly log: AuditLog | undefined
  /** The rows of refusals (401, 403), bounded per address (`refusals.ts`); with the log. */
  readonly refusals: Refusals | undefined
  /** Who a request is as its row names them: the principal's name, else `actor.ts`' `actorOf` of its headers. */
  readonly actor: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<string>
  readonly now: () => number
  readonly subjects: Subjects
}

/** The id of the object an action made, from its answer's JSON (`{ "id": ... }`). */
export function madeId(answer: unknown): string | undefined {
  return typeof answer === "object" && answer !== null && "id" in answer && typeof answer.id === "string"
    ? answer.id
    : undefined
}

/** A route's action as its rows name it. */
export function actionOf(route: { readonly method: string; readonly path: string }): string {
  return `${route.method} ${route.path}`
}

const reads: ReadonlySet<string> = new Set(["GET", "HEAD"])

/** The answer's JSON, when it has a body of JSON text. */
function answerOf(response: HttpServerResponse.HttpServerResponse): unknown {
  if (response.body._tag !== "Uint8Array") return undefined
  try {
    return JSON.parse(new TextDecoder().decode(response.body.body)) as unknown
  } catch {
    return undefined
  }
}

/** The error code of an answer in the gateway's error JSON. */
function codeOf(answer: unknown): string | null {
  if (typeof answer !== "object" || answer === null || !("error" in answer)) return null
  const error = answer.error
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string"
    ? error.code
    : null
}

function outcomeOf(status: number): Chain.Outcome {
  return status < 400 ? "ok" : status < 500 ? "refused" : "failed"
}

function textOf(value: unknown): string | null {
  return value === undefined || value === null ? null : Chain.canonical(value)
}

/** `handle`, its action recorded in `log`. */
function recordedHandler<E, R>(
  recording: Recording & { readonly log: AuditLog; readonly refusals: Refusals },
  route: HttpRouter.Route<E, R>,
  subject: Subject | undefined
) {
  const action = actionOf({ method: route.method, path: String(route.path) })
  const mutating = !reads.has(route.method)
  return Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const params = yield* HttpRouter.params
    const named = subject?.object(params, undefined, request)
    const before = mutating && subject !== undefined ? yield* subject.state(named) : undefined
    // An action's actor is who asked before it acted: a sign-out ends the very session that names its person.
    const actor = mutating ? yield* recording.actor(request) : undefined
    const response = yield* route.handler
    const outcome = outcomeOf(response.status)
    if (!mutating && !isRefusal(response.status)) return response
    const answer = answerOf(response)
    const object = named ?? subject?.object(params, answer, request)
    const state = outcome === "ok" && subject !== undefined ? yield* subject.state(object) : undefined
    const entry: Chain.Entry = {
      at: recording.now(),
      actor: actor ?? (yield* recording.actor(request)),
      action,
      object: object ?? null,
      before: outcome === "ok" ? textOf(before) : null,
      after: outcome !== "ok" || subject === undefined
        ? null
        : textOf(subject.after === undefined ? state : subject.after(state, answer)),
      outcome,
      status: response.status,
      code: outcome === "ok" ? null : codeOf(answer),
      from: Option.getOrNull(request.remoteAddress)
    }
    // A refusal's row within its address' bound; an action's always.
    const append = isRefusal(entry.status) ? recording.refusals.record(entry) : recording.log.append(entry)
    yield* Effect.uninterruptible(append).pipe(
      Effect.catch((error) =>
        Effect.logError("Gateway: an admin action was done but not recorded in the audit log").pipe(
          Effect.annotateLogs({ action, actor: entry.actor, object: entry.object ?? "", reason: error.message })
        )
      )
    )
    return response
  })
}

/**
 * `routes` with their admin routes recorded (`recording.log`; none: as they are), or a defect naming the first
 * mutating admin route without a subject.
 */
export function recorded<E, R>(
  routes: ReadonlyArray<HttpRouter.Route<E, R>>,
  recording: Recording
): Effect.Effect<ReadonlyArray<HttpRouter.Route<E, R>>> {
  const missing = routes.find((route) =>
    Auth.isAdminPath(String(route.path)) && !reads.has(route.method) &&
    recording.subjects[actionOf({ method: route.method, path: String(route.path) })] === undefined
  )
  if (missing !== undefined) {
    return Effect.die(
      new Error(
        `The admin route ${actionOf({ method: missing.method, path: String(missing.path) })} has no audit subject`
      )
    )
  }
  const { log, refusals } = recording
  if (log === undefined || refusals === undefined) return Effect.succeed(routes)
  return Effect.succeed(routes.map((route) => {
    if (!Auth.isAdminPath(String(route.path))) return route
    const subject = recording.subjects[actionOf({ method: route.method, path: String(route.path) })]
    return HttpRouter.route(
      route.method,
      route.path,
      recordedHandler({ ...recording, log, refusals }, route, subject)
    ) as HttpRouter.Route<E, R>
  }))
}
