/**
 * The request log's admin paths, over its store (`observe/requestLogStore.ts`: the database, else this process's
 * memory of the calls it served since it started):
 *
 * - `GET /admin/spend?group_by=key|team|model|deployment&from=&to=&bucket=hour|day`: calls, cost and tokens per group
 *   over `[from, to)`, the costliest first, or per hour or day (oldest first) with `bucket`, for a chart.
 * - `GET /admin/requests?key=&team=&model=&status=&limit=&cursor=`: the rows, newest first, a page at a time.
 *
 * A parameter that does not read, or is not taken, is 400 naming each; a store that fails is 503.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import type { StoreUnavailableError } from "../../../Store.js"
import { parseJson } from "../../json.js"
import { AdminCheck, type Principal } from "../access/adminCheck.js"
import * as Errors from "../errorAnswer.js"
import * as Access from "../identity/access.js"
import { RequestLogStore, type Service as RequestLog } from "../observe/requestLogStore.js"
import * as Requests from "../observe/requestTable.js"
import { errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests as Serving } from "../serving/requests.js"
import { timeOf, unixSeconds } from "./input.js"

/** A page of rows when `limit` is not given. */
export const defaultLimit = 50
/** The largest page: a larger `limit` is served this many. */
export const maxLimit = 500

/** A parameter read: its value, or why it does not read. */
export type Read<A> = { readonly value: A } | { readonly problem: string }

/** A parameter that does not read: its name, what it takes and what it got. */
export const problem = (name: string, expected: string, got: string): { readonly problem: string } => ({
  problem: `${name} (expected ${expected}, got "${got}")`
})

/** A time parameter: Unix seconds or an ISO 8601 time, in epoch milliseconds. */
export const timeParameter = (name: string, text: string | null): Read<number | undefined> => {
  if (text === null) return { value: undefined }
  const millis = timeOf(text)
  return millis === undefined ? problem(name, "Unix seconds or an ISO 8601 time", text) : { value: millis }
}

/** A parameter that is one of `options`. */
export const oneOf = <K extends string>(
  name: string,
  text: string | null,
  options: ReadonlyArray<K>
): Read<K | undefined> =>
  text === null || (options as ReadonlyArray<string>).includes(text)
    ? { value: (text ?? undefined) as K | undefined }
    : problem(name, options.join(", "), text)

/** An integer parameter from `min` to `max`. */
export const integer = (name: string, text: string | null, min: number, max: number): Read<number | undefined> => {
  if (text === null) return { value: undefined }
  const value = Number(text)
  return /^\d+$/.test(text) && value >= min && value <= max
    ? { value }
    : problem(name, `an integer from ${min} to ${max}`, text)
}

/** A cursor: the last row's time and id, as base64url JSON. */
const cursorOf = (row: Requests.Row): string => Buffer.from(JSON.stringify([row.at, row.id])).toString("base64url")

const afterOf = (text: string | null): Read<{ readonly at: number; readonly id: string } | undefined> => {
  if (text === null) return { value: undefined }
  const decoded = Option.getOrUndefined(parseJson(Buffer.from(text, "base64url").toString("utf8")))
  if (Array.isArray(decoded) && decoded.length === 2 && Number.isFinite(decoded[0]) && typeof decoded[1] === "string") {
    return { value: { at: decoded[0], id: decoded[1] } }
  }
  return problem("cursor", "a next_cursor this gateway gave", text)
}

/**
 * `answer` of every parameter of `request`'s query that its path takes, read; or the 400 naming each one that does not
 * read or is not taken.
 */
export const readAll = <R extends Record<string, Read<unknown>>, E, Needs>(
  request: HttpServerRequest.HttpServerRequest,
  reads: (get: (name: string) => string | null) => R,
  answer: (
    values: { readonly [K in keyof R]: R[K] extends Read<infer A> ? A : never }
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, Needs>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, Needs> => {
  const params = new URL(request.url, "http://gateway").searchParams
  const taken = new Set<string>()
  const read = reads((name) => {
    taken.add(name)
    return params.get(name)
  })
  const problems: Array<string> = []
  const names: Array<string> = []
  for (const name of new Set(params.keys())) {
    if (!taken.has(name)) {
      problems.push(`${name} (not a parameter of this path; it takes ${[...taken].join(", ")})`)
      names.push(name)
    }
  }
  const values: Record<string, unknown> = {}
  for (const [name, result] of Object.entries(read)) {
    if ("problem" in result) {
      problems.push(result.problem)
      names.push(name)
    } else values[name] = result.value
  }
  return problems.length > 0
    ? Effect.succeed(errorResponse(Errors.invalidRequest(`Bad parameters: ${problems.join("; ")}.`, names[0])))
    : answer(values as never)
}

const requestLogUnavailable = Errors.dataUnavailable("The request log could not be read; retry later.")

/** What `query` reads, as `render` makes it, answered 200; else `unavailable`, with the warning `failed`. */
export const queried = <A>(
  query: Effect.Effect<A, StoreUnavailableError>,
  render: (value: A) => unknown,
  failed = "request log query failed",
  unavailable = requestLogUnavailable
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.matchEffect(query, {
    onFailure: (error) =>
      Effect.as(
        Effect.logWarning(failed).pipe(Effect.annotateLogs({ reason: error.reason })),
        errorResponse(unavailable)
      ),
    onSuccess: (value) => Effect.succeed(json(200, JSON.stringify(render(value))))
  })

const groups = Object.keys(Requests.groupColumns) as ReadonlyArray<Requests.GroupBy>
const buckets = Object.keys(Requests.buckets) as ReadonlyArray<Requests.Bucket>

/**
 * `GET /admin/spend`'s answer for `principal` (the route's rule checked): by key or team only for those who may read
 * them; a team named as `teams` names it now (none once it is deleted).
 */
function spend(
  log: RequestLog,
  now: () => number,
  teams: Access.Teams | undefined,
  request: HttpServerRequest.HttpServerRequest,
  principal: Principal
): Effect.Effect<HttpServerResponse.HttpServerResponse> {
  return readAll(request, (get) => ({
    group_by: oneOf("group_by", get("group_by"), groups),
    from: timeParameter("from", get("from")),
    to: timeParameter("to", get("to")),
    bucket: oneOf("bucket", get("bucket"), buckets)
  }), (read) => {
    const from = read.from ?? 0
    const to = read.to ?? now() + 1
    if (from > to) {
      const refusal = Errors.invalidRequest(
        `Bad parameters: from (${unixSeconds(from)}) is after to (${unixSeconds(to)}).`,
        "from"
      )
      return Effect.succeed(errorResponse(refusal))
    }
    const groupBy = read.group_by ?? "model"
    const needed = Requests.groupPermissions[groupBy]
    if (needed !== undefined && !Access.sees(principal, needed, undefined)) {
      return Effect.succeed(
        errorResponse(Access.permissionRequired(principal, `GET /admin/spend?group_by=${groupBy}`, needed))
      )
    }
    return queried(log.spend({ groupBy, from, to, bucket: read.bucket }), (rows) => ({
      group_by: groupBy,
      from: unixSeconds(from),
      to: unixSeconds(to),
      ...(read.bucket === undefined ? {} : { bucket: read.bucket }),
      groups: rows.map((row) => ({
        ...row,
        ...(groupBy === "team" ? { name: row.group === null ? null : teams?.byId(row.group)?.name ?? null } : {}),
        ...(row.bucket === undefined ? {} : { bucket: unixSeconds(row.bucket) })
      }))
    }))
  })
}

/**
 * A row as `principal` may read it: its key (id and name) only when they may read that key (`keys.read` over its
 * team), its team only when they may read that team (`teams.read`).
 */
function rowFor(principal: Principal, teams: Access.Teams | undefined, row: Requests.Row): Requests.Row {
  const team = row.team_id === null ? undefined : teams?.byId(row.team_id)
  const keyShown = Access.sees(principal, "keys.read", team)
  const teamShown = Access.sees(principal, "teams.read", team)
  return keyShown && teamShown ? row : {
    ...row,
    ...(keyShown ? {} : { key_id: null, key_name: null }),
    ...(teamShown ? {} : { team_id: null })
  }
}

/**
 * `GET /admin/requests`' answer to `request` for `principal` (the route's rule checked): the rows as they may read
 * them (`rowFor`), filtered by key or team only for those who may read the keys or teams.
 */
function requests(
  log: RequestLog,
  teams: Access.Teams | undefined,
  request: HttpServerRequest.HttpServerRequest,
  principal: Principal
): Effect.Effect<HttpServerResponse.HttpServerResponse> {
  return readAll(request, (get) => ({
    key: { value: get("key") ?? undefined },
    team: { value: get("team") ?? undefined },
    model: { value: get("model") ?? undefined },
    status: integer("status", get("status"), 100, 599),
    limit: integer("limit", get("limit"), 1, Number.MAX_SAFE_INTEGER),
    cursor: afterOf(get("cursor"))
  }), (query) => {
    // A filter by key or team would tell which exist: it needs what reads them.
    for (const [filter, needed] of [["key", "keys.read"], ["team", "teams.read"]] as const) {
      if (query[filter] !== undefined && !Access.sees(principal, needed, undefined)) {
        return Effect.succeed(
          errorResponse(Access.permissionRequired(principal, `GET /admin/requests?${filter}=...`, needed))
        )
      }
    }
    const limit = Math.min(query.limit ?? defaultLimit, maxLimit)
    // One row more than the page: whether there is a page after.
    const page = log.list({ ...query, after: query.cursor, limit: limit + 1 })
    return queried(page, (rows) => ({
      data: rows.slice(0, limit).map((row) => ({
        ...rowFor(principal, teams, row),
        at: unixSeconds(row.at),
        payload: row.payload === null ? null : JSON.parse(row.payload)
      })),
      next_cursor: rows.length > limit ? cursorOf(rows[limit - 1]!) : null
    }))
  })
}

/** `GET /admin/spend` and `GET /admin/requests` over the request log's store, a team named as `teams` names it. */
export const routes = Effect.fnUntraced(function*(teams: Access.Teams | undefined) {
  const log = yield* RequestLogStore
  const { now } = yield* Configuration
  const { served } = yield* Serving
  const { adminAs } = yield* AdminCheck
  return [
    HttpRouter.route(
      "GET",
      "/admin/spend",
      served(({ request }) => adminAs((principal) => spend(log, now, teams, request, principal)))
    ),
    HttpRouter.route(
      "GET",
      "/admin/requests",
      served(({ request }) => adminAs((principal) => requests(log, teams, request, principal)))
    )
  ]
})
