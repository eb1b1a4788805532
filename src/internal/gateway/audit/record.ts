/**
 * Every admin action recorded in one place: the admin routes (`Auth.isAdminPath`) wrapped as the route table is built
 * (`app.ts`), whatever module serves them. A request that may change something (any method but GET and HEAD) leaves
 * one row whatever its outcome; a read leaves one only when refused (401, 403): reading is no action, and the request
 * log already has the admin paths' calls. A row names who (`actor.ts`), the action (method and route pattern), its
 * object with its values before and after (its route's `Subject`: secrets never), when, from where (the connection's
 * address: no proxy's `X-Forwarded-For` is trusted) and the outcome. It is appended before the answer goes out; an
 * append that fails is logged and counted (`unrecorded`), and the answer still goes: the action is done by then, and
 * holding its answer back would not undo it.
 *
 * A request naming nobody the gateway knows, or a person holding no role (anyone with an account at the issuer),
 * writes no row of its own: anyone who reaches the port can send one. Its refusal is counted in one summary across
 * every address (`refusals.ts`). A mutating admin route without a `Subject` is a defect at build, so that no new admin
 * route goes unrecorded.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import type { StoreUnavailableError } from "../../../Store.js"
import { canonicalJson } from "../../json.js"
import * as Auth from "../access/authentication.js"
import type * as Chain from "./chain.js"
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

/** Who a request is, as a row names them, and the roles they hold. */
export interface Actor {
  /** A person's name, an admin key's name (`admin-token`). */
  readonly name: string
  readonly roles: ReadonlyArray<string>
}

/** What the recording needs: the log and its refusals' count, who a request is, the time. */
export interface Recording {
  readonly log: AuditLog
  /** The count of refusals of nobody known (`refusals.ts`). */
  readonly refusals: Refusals
  /** Who a request is (the admin check's principal), or `undefined` when it names nobody the gateway knows. */
  readonly actor: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<Actor | undefined>
  readonly now: () => number
  readonly subjects: Subjects
  /** Counts a request whose row (or refusal's count) the log did not take (`llm_gateway_audit_unrecorded_total`). */
  readonly unrecorded: () => void
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
  return value === undefined || value === null ? null : canonicalJson(value)
}

// A write to the log that failed: counted and logged (the action is done by then), the answer still going out.
function written(recording: Recording, write: Effect.Effect<unknown, StoreUnavailableError>, names: object) {
  return Effect.uninterruptible(write).pipe(
    Effect.asVoid,
    Effect.catch((error) => {
      recording.unrecorded()
      return Effect.logError("Gateway: an admin action was done but not recorded in the audit log").pipe(
        Effect.annotateLogs({ ...names, reason: error.message })
      )
    })
  )
}

/** `handle`, its action recorded in `log`. */
function recordedHandler<E, R>(
  recording: Recording,
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
    const asked = mutating ? yield* recording.actor(request) : undefined
    const response = yield* route.handler
    const outcome = outcomeOf(response.status)
    if (!mutating && !isRefusal(response.status)) return response
    const actor = asked ?? (yield* recording.actor(request))
    // Nobody known, or a person holding no role (anyone with an account at the issuer): no row of its own, a refusal
    // counted in the summary.
    if (actor === undefined || actor.roles.length === 0) {
      if (isRefusal(response.status)) yield* written(recording, recording.refusals.count(recording.now()), { action })
      return response
    }
    const answer = answerOf(response)
    const object = named ?? subject?.object(params, answer, request)
    const state = outcome === "ok" && subject !== undefined ? yield* subject.state(object) : undefined
    const entry: Chain.Entry = {
      at: recording.now(),
      actor: actor.name,
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
    yield* written(recording, recording.log.append(entry), { action, actor: entry.actor, object: entry.object })
    return response
  })
}

/** `routes` with their admin routes recorded, or a defect naming the first mutating admin route without a subject. */
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
  return Effect.succeed(routes.map((route) => {
    if (!Auth.isAdminPath(String(route.path))) return route
    const subject = recording.subjects[actionOf({ method: route.method, path: String(route.path) })]
    return HttpRouter.route(
      route.method,
      route.path,
      recordedHandler(recording, route, subject)
    ) as HttpRouter.Route<E, R>
  }))
}
