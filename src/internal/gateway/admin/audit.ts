/**
 * `GET /admin/audit?actor=&action=&from=&to=&limit=&cursor=` (docs/identity.md): the audit log's rows, newest first, a
 * page at a time, `next_cursor` the last row's `seq` so that a page stays right while rows are appended. With
 * `format=jsonl` (or `Accept: application/x-ndjson`) every matching row from the cursor on is streamed as JSON lines,
 * read a page at a time, `limit` bounding the whole export. No path changes or deletes a row.
 */
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { AdminCheck } from "../access/adminCheck.js"
import type * as Chain from "../audit/chain.js"
import type { AuditLog, Query } from "../audit/store.js"
import * as Errors from "../errorAnswer.js"
import { Requests } from "../serving/requests.js"
import { unixSeconds } from "./input.js"
import { defaultLimit, integer, maxLimit, oneOf, problem, queried, type Read, readAll, timeParameter } from "./spend.js"

const unavailable = Errors.dataUnavailable("The audit log's database could not be read; retry later.")

/** A row as the API writes it: `at` in Unix seconds, `before` and `after` as JSON values. */
export function render(row: Chain.Row) {
  return {
    seq: row.seq,
    at: unixSeconds(row.at),
    actor: row.actor,
    action: row.action,
    object: row.object,
    before: row.before === null ? null : JSON.parse(row.before) as unknown,
    after: row.after === null ? null : JSON.parse(row.after) as unknown,
    outcome: row.outcome,
    status: row.status,
    code: row.code,
    from: row.from,
    digest: row.digest
  }
}

/** A cursor: the last row's `seq`, as base64url. */
export function cursorOf(row: Chain.Row): string {
  return Buffer.from(String(row.seq)).toString("base64url")
}

function cursorParameter(text: string | null): Read<number | undefined> {
  if (text === null) return { value: undefined }
  const seq = Buffer.from(text, "base64url").toString("utf8")
  return /^[1-9]\d{0,15}$/.test(seq)
    ? { value: Number(seq) }
    : problem("cursor", "a next_cursor this gateway gave", text)
}

const ndjson = "application/x-ndjson"

// The rows `query` matches, newest first, a page at a time, at most `query.limit` of them, as JSON lines.
function exported(log: AuditLog, query: Query): Stream.Stream<Uint8Array> {
  const encoder = new TextEncoder()
  return Stream.paginate({ before: query.before, left: query.limit }, (state) =>
    Effect.map(
      log.page({ ...query, before: state.before, limit: Math.min(maxLimit, state.left) }),
      (rows) =>
        [
          rows.map((row) => encoder.encode(`${JSON.stringify(render(row))}\n`)),
          rows.length < Math.min(maxLimit, state.left) || state.left <= rows.length
            ? Option.none()
            : Option.some({ before: rows.at(-1)!.seq, left: state.left - rows.length })
        ] as const
    )).pipe(
      // Once the answer has begun, a database that fails ends it early: its end shows, as the log's last line.
      Stream.catch((error) =>
        Stream.fromEffect(
          Effect.as(
            Effect.logWarning("audit log export failed").pipe(Effect.annotateLogs({ reason: error.reason })),
            encoder.encode(`${JSON.stringify({ error: unavailable.message })}\n`)
          )
        )
      )
    )
}

/** `GET /admin/audit`'s answer to `request`, its caller checked by the route. */
export function answer(
  log: AuditLog,
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<HttpServerResponse.HttpServerResponse> {
  return readAll(request, (get) => ({
    actor: { value: get("actor") ?? undefined },
    action: { value: get("action") ?? undefined },
    from: timeParameter("from", get("from")),
    to: timeParameter("to", get("to")),
    limit: integer("limit", get("limit"), 1, Number.MAX_SAFE_INTEGER),
    cursor: cursorParameter(get("cursor")),
    format: oneOf("format", get("format"), ["json", "jsonl"])
  }), (read) => {
    const filters = { actor: read.actor, action: read.action, from: read.from, to: read.to, before: read.cursor }
    const lines = read.format === "jsonl" ||
      (read.format === undefined && (request.headers["accept"] ?? "").includes(ndjson))
    if (lines) {
      const query = { ...filters, limit: read.limit ?? Number.MAX_SAFE_INTEGER }
      return Effect.succeed(HttpServerResponse.stream(exported(log, query), { contentType: ndjson }))
    }
    const limit = Math.min(read.limit ?? defaultLimit, maxLimit)
    // One row more than the page: whether there is a page after.
    return queried(
      log.page({ ...filters, limit: limit + 1 }),
      (rows) => ({
        data: rows.slice(0, limit).map(render),
        next_cursor: rows.length > limit ? cursorOf(rows[limit - 1]!) : null
      }),
      "audit log query failed",
      unavailable
    )
  })
}

/** The route over the configuration served, reading `log`. */
export const routes = Effect.fnUntraced(function*(log: AuditLog) {
  const { served } = yield* Requests
  const { adminOnly } = yield* AdminCheck
  return [HttpRouter.route("GET", "/admin/audit", served(({ request }) => adminOnly(answer(log, request))))]
})
