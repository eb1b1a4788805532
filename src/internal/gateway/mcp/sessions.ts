/**
 * MCP sessions (`Mcp-Session-Id`, revision 2025-11-25) that any gateway instance answers and that outlive a reload.
 * `McpServer` keeps sessions in one endpoint's memory, so the gateway records each it starts (its path, its caller's
 * key, the client's `initialize`) in the shared `SessionStore` (`layerSql`; one contract with `layerMemory`,
 * `test/contract/mcpSessions.ts`), and an instance that does not hold a session named to it starts it again as the
 * client did, once however many of its requests come at once (what a session set, a `logging/setLevel`, stays with the
 * instance; the tool rule is read per request anyway). The store is read at every request naming a session, so that
 * one record says whether it lasts: a `DELETE` at any instance ends it everywhere (404, as the protocol has a server
 * say a session ended). A session is answered only on its path and for its caller's key (its id is no credential),
 * for `maxAge`; a store that fails leaves it answered where it is held. Sessions are bounded per key and in all
 * (`Bounds`, `admit`).
 */
import * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Headers from "effect/http/Headers"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { SqlError } from "effect/sql/SqlError"
import type * as Gateway from "../../../Gateway.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { isJsonObject, parseJsonObject } from "../../json.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Sql from "../../persistence/sql.js"
import * as Allow from "../access/tools.js"
import * as McpRequest from "./request.js"
import { isRequestId } from "./serverRequests.js"
import type * as Subscriptions from "./subscriptions.js"

/** A session as recorded when it started. */
export interface Session {
  readonly id: string
  /** The endpoint's path: `/mcp` or `/mcp/<server>`. */
  readonly path: string
  /** The key that started it (`Caller.id`, `access/caller.ts`); `null` on a gateway without keys. */
  readonly caller: string | null
  /** The `params` of the client's `initialize`, as JSON. */
  readonly initialize: string
  readonly startedAt: number
}

/** A stored session, with when a request last named it (`touch`) and the URIs it subscribes to, as it named them. */
export interface Recorded extends Session {
  readonly usedAt: number
  readonly subscribed: ReadonlyArray<string>
}

/** The bounds when the configuration gives none (docs/mcp.md). */
export const defaultBounds = {
  maxSessions: 5_000,
  maxKeySessions: 100,
  maxBytes: 16 * 1024 * 1024,
  maxKeyBytes: 1024 * 1024
}

/** How many sessions, and bytes of their records (`sizeOf`), the store keeps per key and in all (`admit`). */
export type Bounds = Readonly<typeof defaultBounds>

/** The bounds `keys` (the configuration's `gateway` section) gives, the defaults where it gives none. */
export function boundsOf(keys: Gateway.Keys | undefined): Bounds {
  return {
    maxSessions: keys?.mcpSessionsMax ?? defaultBounds.maxSessions,
    maxKeySessions: keys?.mcpSessionsMaxKey ?? defaultBounds.maxKeySessions,
    maxBytes: keys?.mcpSessionsMaxBytes ?? defaultBounds.maxBytes,
    maxKeyBytes: keys?.mcpSessionsMaxKeyBytes ?? defaultBounds.maxKeyBytes
  }
}

/** How long a session no request names is idle: one a new session may take the place of, past a bound. */
export const idleAfter = Duration.minutes(1)

/**
 * How often, at most, a request naming a session notes it used (`touch`): well within `idleAfter`, so that a session
 * its client uses (its standalone stream is opened again every 10 seconds) is never idle.
 */
const touchEvery = Duration.seconds(15)

/** The bytes a session's record takes: its text, and what its row and index hold besides. */
export function sizeOf(session: Session): number {
  return Buffer.byteLength(session.id) + Buffer.byteLength(session.path) + Buffer.byteLength(session.caller ?? "") +
    Buffer.byteLength(session.initialize) + 64
}

/** Which bound refused a session: its key's, all sessions', or its own record's size (past a key's bytes). */
export type Full = "key" | "all" | "large"

// A save refused: what the store did for it is undone (a transaction rolled back, memory as it was).
class Refusal extends Data.TaggedError("McpSessionRefusal")<{ readonly full: Full }> {}

/** What a save did: kept the session, letting go of `letGo` to make room; or refused it, `full`. */
export type Admitted =
  | { readonly _tag: "Kept"; readonly letGo: ReadonlyArray<string> }
  | { readonly _tag: "Refused"; readonly full: Full }

/** Whose sessions a new one may take the place of: one key's, those of keys past their share, or anyone's. */
type Among =
  | { readonly _tag: "Key"; readonly caller: string | null }
  | { readonly _tag: "PastShare"; readonly count: number; readonly bytes: number }
  | { readonly _tag: "Anyone" }

/**
 * The steps `admit` takes, each store's own, within one save's transaction. `held(undefined)` counts all sessions;
 * `holders` counts the sessions of no key as one key.
 */
interface Room<E> {
  readonly held: (
    caller: string | null | undefined
  ) => Effect.Effect<{ readonly count: number; readonly bytes: number }, E>
  readonly holders: Effect.Effect<number, E>
  readonly idlest: (among: Among, before: number, except: string) => Effect.Effect<string | undefined, E>
  readonly remove: (id: string) => Effect.Effect<void, E>
}

// Whose idle session makes room past `scope`'s bound, in turn: a key's own for its bound; for the whole, the new
// session's key's first (that costs no other key), then those of keys past an even share of the bound, anyone's
// last (docs/mcp.md, "Session bounds").
function amongFor<E>(
  room: Room<E>,
  scope: { readonly caller: string | null | undefined; readonly count: number; readonly bytes: number },
  caller: string | null
): Effect.Effect<ReadonlyArray<Among>, E> {
  return scope.caller !== undefined
    ? Effect.succeed([{ _tag: "Key", caller: scope.caller }])
    : Effect.map(room.holders, (holders) => [
      { _tag: "Key", caller },
      // Whole numbers: past a share of 2.5 sessions is past 2.
      { _tag: "PastShare", count: Math.floor(scope.count / holders), bytes: Math.floor(scope.bytes / holders) },
      { _tag: "Anyone" }
    ])
}

// The idlest session of the first of `among` that has one idle since `before`, other than `except`.
function firstIdlest<E>(
  room: Room<E>,
  among: ReadonlyArray<Among>,
  before: number,
  except: string
): Effect.Effect<string | undefined, E> {
  return Effect.gen(function*() {
    for (const whose of among) {
      const idlest = yield* room.idlest(whose, before, except)
      if (idlest !== undefined) return idlest
    }
    return undefined
  })
}

// Keeps `session`, just recorded, within `bounds` by letting go of idle sessions in `amongFor`'s order (their ids
// returned); else refuses it, for the store to undo its write. Written once, over any store's `Room`.
const admit = <E>(
  room: Room<E>,
  session: Session,
  bounds: Bounds,
  now: number
): Effect.Effect<ReadonlyArray<string>, E | Refusal> =>
  Effect.gen(function*() {
    const most = session.caller === null ? bounds.maxBytes : Math.min(bounds.maxKeyBytes, bounds.maxBytes)
    if (sizeOf(session) > most) return yield* new Refusal({ full: "large" })
    const letGo: Array<string> = []
    const idleSince = now - Duration.toMillis(idleAfter)
    // A gateway without keys (no caller) has one owner, whose programs all sessions are: only the whole is bounded.
    const scopes = [
      ...(session.caller === null
        ? []
        : [{ full: "key", caller: session.caller, count: bounds.maxKeySessions, bytes: bounds.maxKeyBytes } as const]),
      { full: "all", caller: undefined, count: bounds.maxSessions, bytes: bounds.maxBytes } as const
    ]
    for (const scope of scopes) {
      while (true) {
        const held = yield* room.held(scope.caller)
        if (held.count <= scope.count && held.bytes <= scope.bytes) break
        const among = yield* amongFor(room, scope, session.caller)
        const idlest = yield* firstIdlest(room, among, idleSince, session.id)
        if (idlest === undefined) return yield* new Refusal({ full: scope.full })
        yield* room.remove(idlest)
        letGo.push(idlest)
      }
    }
    return letGo
  })

// A save's outcome: kept, with those `admit` let go of; or refused.
const admitted = <E>(saved: Effect.Effect<ReadonlyArray<string>, E | Refusal>): Effect.Effect<Admitted, E> =>
  saved.pipe(
    Effect.map((letGo): Admitted => ({ _tag: "Kept", letGo })),
    Effect.catchIf(
      (error): error is Refusal => error instanceof Refusal,
      (refusal) => Effect.succeed<Admitted>({ _tag: "Refused", full: refusal.full })
    )
  ) as Effect.Effect<Admitted, E>

/** How long a session's start again at an instance may take before the requests waiting for it are answered 404. */
const restartWithin = Duration.seconds(10)

/** How long after its start a session is answered, by any instance. */
export const maxAge = Duration.days(1)

/** Where sessions are recorded. */
export interface Store {
  /** Records `session` within `bounds` (`admit`), first forgetting the sessions started before `before`. */
  readonly save: (session: Session, before: number, bounds: Bounds) => Effect.Effect<Admitted, StoreUnavailableError>
  readonly read: (id: string) => Effect.Effect<Recorded | undefined, StoreUnavailableError>
  /** Notes that a request named the session `id` at `at`; nothing for a session not recorded. */
  readonly touch: (id: string, at: number) => Effect.Effect<void, StoreUnavailableError>
  /** Notes that session `id` subscribes to `uri`, or no longer does; nothing for a session not recorded. */
  readonly subscribe: (id: string, uri: string, subscribed: boolean) => Effect.Effect<void, StoreUnavailableError>
  /** Forgets the session `id` and its subscriptions: its client ended it. */
  readonly end: (id: string) => Effect.Effect<void, StoreUnavailableError>
  /** Which of `ids` are recorded. */
  readonly known: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlySet<string>, StoreUnavailableError>
}

// A session's row with one of its subscriptions (`uri`, `NULL` for none), as `layerSql`'s read joins them.
const SessionRow = tableRow("mcp_sessions", {
  id: Schema.String,
  path: Schema.String,
  caller: Schema.NullOr(Schema.String),
  initialize: Schema.String,
  startedAt: Numeric,
  usedAt: Numeric,
  uri: Schema.NullOr(Schema.String)
}).pipe(Schema.encodeKeys({ startedAt: "started_at", usedAt: "used_at" }))
const Held = Schema.Struct({ n: Numeric, total: Numeric })
const Count = Schema.Struct({ n: Numeric })
const Id = Schema.Struct({ id: Schema.String })

// How many session ids one query asks the database of.
const knownBatch = 500

// The session the rows of `layerSql`'s read hold (each its row and one of its subscriptions), if any.
function recordedOf(rows: ReadonlyArray<typeof SessionRow.Type>): Recorded | undefined {
  if (rows[0] === undefined) return undefined
  const { uri: _, ...session } = rows[0]
  return { ...session, subscribed: rows.flatMap((row) => row.uri === null ? [] : [row.uri]) }
}

/** Where MCP sessions are recorded, for the gateway's life. */
export class SessionStore
  extends Context.Service<SessionStore, Store>()("effect-llm-router/gateway/mcp/SessionStore")
{}

/** Sessions in memory, for the process's life: the sessions whose start the store could not record (`make`). */
export const layerMemory: Layer.Layer<SessionStore> = Layer.sync(SessionStore, (): Store => {
  let sessions = new Map<
    string,
    { readonly session: Session; readonly subscribed: Set<string>; usedAt: number; readonly bytes: number }
  >()
  const mine = (caller: string | null | undefined) =>
    [...sessions.values()].filter((kept) => caller === undefined || kept.session.caller === caller)
  const whose = (among: Among): (caller: string | null) => boolean => {
    switch (among._tag) {
      case "Key":
        return (caller) => caller === among.caller
      case "Anyone":
        return () => true
      case "PastShare": {
        const held = new Map<string | null, { count: number; bytes: number }>()
        for (const { bytes, session } of sessions.values()) {
          const sum = held.get(session.caller) ?? { count: 0, bytes: 0 }
          held.set(session.caller, { count: sum.count + 1, bytes: sum.bytes + bytes })
        }
        return (caller) => {
          const sum = held.get(caller)
          return sum !== undefined && (sum.count > among.count || sum.bytes > among.bytes)
        }
      }
    }
  }
  const room: Room<never> = {
    held: (caller) =>
      Effect.sync(() => {
        const kept = mine(caller)
        return { count: kept.length, bytes: kept.reduce((sum, one) => sum + one.bytes, 0) }
      }),
    holders: Effect.sync(() => new Set(mine(undefined).map((kept) => kept.session.caller)).size),
    idlest: (among, before, except) =>
      Effect.sync(() => {
        const theirs = whose(among)
        return mine(undefined).filter((kept) =>
          theirs(kept.session.caller) && kept.usedAt < before && kept.session.id !== except
        ).sort((a, b) => a.usedAt - b.usedAt)[0]?.session.id
      }),
    remove: (id) => Effect.sync(() => void sessions.delete(id))
  }
  return {
    save: (session, before, bounds) =>
      Effect.suspend(() => {
        for (const [id, kept] of sessions) if (kept.session.startedAt < before) sessions.delete(id)
        const was = new Map(sessions)
        sessions.set(session.id, { session, subscribed: new Set(), usedAt: session.startedAt, bytes: sizeOf(session) })
        return admitted<never>(
          Effect.tapError(
            admit(room, session, bounds, session.startedAt),
            () => Effect.sync(() => void (sessions = was))
          )
        )
      }),
    read: (id) =>
      Effect.sync(() => {
        const kept = sessions.get(id)
        return kept === undefined
          ? undefined
          : { ...kept.session, usedAt: kept.usedAt, subscribed: [...kept.subscribed].sort() }
      }),
    touch: (id, at) =>
      Effect.sync(() => {
        const kept = sessions.get(id)
        if (kept !== undefined) kept.usedAt = Math.max(kept.usedAt, at)
      }),
    subscribe: (id, uri, subscribed) =>
      Effect.sync(() => {
        const kept = sessions.get(id)?.subscribed
        if (subscribed) kept?.add(uri)
        else kept?.delete(uri)
      }),
    end: room.remove,
    known: (ids) => Effect.sync(() => new Set(ids.filter((id) => sessions.has(id))))
  }
})

/** Sessions in the database (`mcp_sessions`, subscriptions in `mcp_subscriptions`), shared by every instance on it. */
export const layerSql: Layer.Layer<SessionStore, never, Sql.Database> = Layer.effect(
  SessionStore,
  Effect.map(Sql.steps, ({ sql, step, transaction }): Store => {
    // The sessions of `caller` (of all, `undefined`), through the sessions' index by key.
    const of = (caller: string | null | undefined) =>
      caller === undefined ? sql`1 = 1` : caller === null ? sql`caller IS NULL` : sql`caller = ${caller}`
    const room: Room<SqlError | Schema.SchemaError> = {
      held: (caller) =>
        Effect.map(
          Sql.rows(
            Held,
            sql`SELECT COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS total FROM mcp_sessions WHERE ${of(caller)}`
          ),
          ([row]) => ({ count: row?.n ?? 0, bytes: row?.total ?? 0 })
        ),
      // Grouped by key, the sessions of no key one group.
      holders: Effect.map(
        Sql.rows(Count, sql`SELECT COUNT(*) AS n FROM (SELECT caller FROM mcp_sessions GROUP BY caller) holders`),
        ([row]) => row?.n ?? 0
      ),
      idlest: (among, before, except) =>
        Effect.map(
          Sql.rows(
            Id,
            among._tag === "PastShare"
              // Each session with its key's count and bytes beside it, those of no key one partition.
              ? sql`SELECT id FROM (SELECT id, used_at, COUNT(*) OVER (PARTITION BY caller) AS n,
              SUM(bytes) OVER (PARTITION BY caller) AS total FROM mcp_sessions) held
            WHERE (n > ${among.count} OR total > ${among.bytes}) AND used_at < ${before} AND id <> ${except}
            ORDER BY used_at LIMIT 1`
              : sql`SELECT id FROM mcp_sessions WHERE ${of(among._tag === "Key" ? among.caller : undefined)}
            AND used_at < ${before} AND id <> ${except} ORDER BY used_at LIMIT 1`
          ),
          ([row]) => row?.id
        ),
      remove: (id) =>
        Effect.asVoid(
          Effect.andThen(
            sql`DELETE FROM mcp_subscriptions WHERE session = ${id}`,
            sql`DELETE FROM mcp_sessions WHERE id = ${id}`
          )
        )
    }
    return {
      save: (session, before, limits) =>
        admitted(transaction(
          "recording an MCP session",
          Effect.gen(function*() {
            // Saves of several instances queue on the table's lock, each counting what those before it recorded
            // (SQLite's one writer at a time does so already).
            yield* sql.onDialectOrElse({
              pg: () => sql`LOCK TABLE mcp_sessions IN SHARE ROW EXCLUSIVE MODE`,
              orElse: () => Effect.void
            })
            // Through the sessions' index of their starts, not a scan of every subscription.
            yield* sql`DELETE FROM mcp_subscriptions
            WHERE session IN (SELECT id FROM mcp_sessions WHERE started_at < ${before})`
            yield* sql`DELETE FROM mcp_sessions WHERE started_at < ${before}`
            yield* sql`INSERT INTO mcp_sessions (id, path, caller, initialize, started_at, used_at, bytes)
            VALUES (${session.id}, ${session.path}, ${session.caller}, ${session.initialize}, ${session.startedAt},
              ${session.startedAt}, ${sizeOf(session)})`
            // Refused, the transaction is rolled back: the session not recorded, none let go of.
            return yield* admit(room, session, limits, session.startedAt)
          })
        )),
      touch: (id, at) =>
        step(
          "noting an MCP session used",
          sql`UPDATE mcp_sessions SET used_at = ${at} WHERE id = ${id} AND used_at < ${at}`
        ).pipe(Effect.asVoid),
      read: (id) =>
        step(
          "reading an MCP session",
          // One query, so that a request naming a session waits on one round trip to the database: a row for each of
          // the session's subscriptions, its columns repeated (one row, its uri `NULL`, when it has none).
          Effect.map(
            Sql.rows(
              SessionRow,
              sql`SELECT s.id, s.path, s.caller, s.initialize, s.started_at, s.used_at, u.uri
              FROM mcp_sessions s LEFT JOIN mcp_subscriptions u ON u.session = s.id
              WHERE s.id = ${id} ORDER BY u.uri`
            ),
            recordedOf
          )
        ),
      subscribe: (id, uri, subscribed) =>
        step(
          "recording an MCP subscription",
          subscribed
            ? sql`INSERT INTO mcp_subscriptions (session, uri)
              SELECT ${id}, ${uri} WHERE EXISTS (SELECT 1 FROM mcp_sessions WHERE id = ${id})
              ON CONFLICT (session, uri) DO NOTHING`
            : sql`DELETE FROM mcp_subscriptions WHERE session = ${id} AND uri = ${uri}`
        ).pipe(Effect.asVoid),
      end: (id) => transaction("ending an MCP session", room.remove(id)),
      known: (ids) =>
        Effect.map(
          Effect.forEach(
            Arr.chunksOf(ids, knownBatch),
            (batch) =>
              step("reading MCP sessions", Sql.rows(Id, sql`SELECT id FROM mcp_sessions WHERE ${sql.in("id", batch)}`))
          ),
          (batches) => new Set(batches.flat().map((row) => row.id))
        )
    }
  })
)

/** An endpoint's answer to the request in its context, served as `McpRequest.Request` says. */
type Answer = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  unknown,
  Scope.Scope | HttpServerRequest.HttpServerRequest | McpRequest.Request
>

/** The request being answered, as the route hands it over: its endpoint's path and its caller's key. */
export interface Asked {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly path: string
  readonly caller: string | null
}

/** The sessions of one configuration's endpoints, over the store every configuration shares. */
export interface Sessions {
  /** The endpoint's answer to `asked` in the session its client holds, wherever that started; a new one is recorded. */
  readonly answer: (asked: Asked) => Answer
}

/** How often an instance sweeps the sessions it holds (`make`); a test shortens it to see a sweep without waiting. */
export const SweepEvery = Context.Reference<Duration.Duration>("effect-llm-router/gateway/mcp/SweepEvery", {
  defaultValue: () => Duration.minutes(1)
})

const sessionHeader = "mcp-session-id"

// A session this endpoint holds, by the id its client holds: `saved` false when its start could not be recorded (only
// this instance answers it), `takes` false when a write of it failed (the store's subscriptions, which would undo it,
// are not taken).
interface Held {
  readonly local: string
  readonly path: string
  readonly caller: string | null
  readonly startedAt: number
  readonly saved: boolean
  readonly takes: boolean
}

// The `params` of an `initialize` in `text` that starting its session again needs (what `McpServer` keeps of it), as
// JSON. The rest is not kept: a record holds what answering needs, not what the client chose to send.
function initializeOf(text: string): string | undefined {
  const message = parseJsonObject(text)
  if (message?.["method"] !== "initialize") return undefined
  const params = isJsonObject(message["params"]) ? message["params"] : {}
  return JSON.stringify({
    protocolVersion: params["protocolVersion"],
    capabilities: params["capabilities"],
    clientInfo: params["clientInfo"]
  })
}

// The id of the JSON-RPC request in `text`, for an answer to it; `null` when it has none.
function requestIdOf(text: string): unknown {
  const id = parseJsonObject(text)?.["id"]
  return isRequestId(id) ? id : null
}

// A JSON-RPC error answering the request in `text`, with HTTP `status`: what a client shows of a refused `initialize`
// (the official SDK's client fails its `connect` with the status and this text).
function refusedInitialize(text: string, status: number, message: string, headers: Record<string, string> = {}) {
  return HttpServerResponse.jsonUnsafe(
    { jsonrpc: "2.0", id: requestIdOf(text), error: { code: refusedCode, message } },
    { status, headers }
  )
}

// The JSON-RPC code of a refused `initialize`: one of the range the specification leaves to servers.
const refusedCode = -32000

// The refusal of an `initialize` past `bounds` (`full` says which), naming the bound and what to do.
function full(text: string, which: Full, bounds: Bounds) {
  const message = which === "large"
    ? `This MCP session's record (its initialize's protocolVersion, capabilities and clientInfo) is larger than a ` +
      `key's sessions may be (${Math.min(bounds.maxKeyBytes, bounds.maxBytes)} bytes: ` +
      "gateway.mcp_sessions_max_key_bytes); send a smaller initialize."
    : which === "key"
    ? `This gateway key holds its most MCP sessions (${bounds.maxKeySessions}, or ${bounds.maxKeyBytes} bytes of ` +
      "them: gateway.mcp_sessions_max_key, gateway.mcp_sessions_max_key_bytes), and none has been idle for a minute " +
      "to make room; end one (DELETE with its Mcp-Session-Id) or try again later."
    : `This gateway holds its most MCP sessions (${bounds.maxSessions}, or ${bounds.maxBytes} bytes of them: ` +
      "gateway.mcp_sessions_max, gateway.mcp_sessions_max_bytes), and none has been idle for a minute to make " +
      "room; try again later."
  return which === "large"
    ? refusedInitialize(text, 413, message)
    : refusedInitialize(text, 429, message, { "retry-after": String(Duration.toSeconds(idleAfter)) })
}

// The refusal of an `initialize` by a key that may use no tool, prompt or resource.
function toolless(text: string) {
  return refusedInitialize(
    text,
    403,
    "This gateway key may use no MCP tool, prompt or resource (its tools list, or its team's, allows none), so it " +
      "opens no MCP session; ask for a key with tools (docs/mcp.md)."
  )
}

// A JSON-RPC message for the endpoint at `path`, as a request (with `session`'s header when given).
function posted(path: string, message: object, session?: string) {
  return new Request(`http://mcp${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(session === undefined ? {} : { [sessionHeader]: session })
    },
    body: JSON.stringify(message)
  })
}

// A web handler of `answer` in the current fiber's context, for the requests the gateway makes of its own endpoint
// (restarting or ending a session), with their own response handlers: `McpServer` names a session it starts in the
// response to `initialize`, which is not the client's. Each response is read whole, its headers given.
const handlerOf = (answer: Answer, session: Subscriptions.Named | undefined) =>
  Effect.map(Effect.context(), (context) => {
    const handler = HttpEffect.toWebHandlerWith<never, Scope.Scope | HttpServerRequest.HttpServerRequest>(context)(
      Effect.provideService(answer, McpRequest.Request, McpRequest.own(session))
    )
    return async (request: Request) => {
      const response = await handler(request)
      await response.arrayBuffer()
      return response.headers
    }
  })

// The client's session `session` started on `endpoint` as it was started: how to hold it, under the id the endpoint
// gave it.
const restart = Effect.fnUntraced(function*(endpoint: Answer, session: Session) {
  const handler = yield* handlerOf(endpoint, undefined)
  const local = yield* Effect.promise(async () => {
    const initialize = { jsonrpc: "2.0", id: 0, method: "initialize", params: JSON.parse(session.initialize) }
    const id = (await handler(posted(session.path, initialize))).get(sessionHeader)
    if (id === null) return undefined
    await handler(posted(session.path, { jsonrpc: "2.0", method: "notifications/initialized" }, id))
    return id
  })
  if (local === undefined) return undefined
  return { local, path: session.path, caller: session.caller, startedAt: session.startedAt, saved: true, takes: true }
})

// The session held for the client's `session`: the one held, else the restart under way, else a new restart. A
// restart runs in the configuration's scope, not the request's: a client that leaves stops waiting but does not cut it
// short (a start cut short would leave a session nobody holds or ends). One not done within `restartWithin` gives none
// (the waiting requests are answered 404; the next starts it again). It is noted under way before anything else can
// run, and its outcome reaches every waiter however it ends.
function makeHolding(
  endpoint: Answer,
  held: Map<string, Held>,
  scope: Scope.Scope
): (session: Session) => Effect.Effect<Held | undefined> {
  // The restarts under way, by the id their clients hold: the requests naming one meanwhile wait for it, so that an
  // id is started once here, however many of its requests come at once.
  const restarting = new Map<string, Deferred.Deferred<Held | undefined>>()
  return (session) => {
    const holding = held.get(session.id)
    if (holding !== undefined) return Effect.succeed(holding)
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const holding = held.get(session.id)
        if (holding !== undefined) return Effect.succeed(holding)
        const pending = restarting.get(session.id)
        if (pending !== undefined) return restore(Deferred.await(pending))
        const started = Deferred.makeUnsafe<Held | undefined>()
        restarting.set(session.id, started)
        const restarted = Effect.tap(restart(endpoint, session), (holding) =>
          Effect.sync(() => {
            if (holding !== undefined) held.set(session.id, holding)
          }))
        const bounded = Effect.map(Effect.timeoutOption(restarted, restartWithin), Option.getOrUndefined)
        return Effect.andThen(Effect.forkIn(bounded, scope), (fiber) => {
          fiber.addObserver((exit) => {
            restarting.delete(session.id)
            Deferred.doneUnsafe(started, exit)
          })
          return restore(Deferred.await(started))
        })
      })
    )
  }
}

// The session `local` of `endpoint` at `path`, named `id` by its client, deleted as its client would, which drops its
// subscriptions here.
const close = Effect.fnUntraced(function*(endpoint: Answer, id: string, path: string, local: string) {
  const handler = yield* handlerOf(endpoint, { id, recorded: undefined, record: () => Effect.void })
  yield* Effect.promise(() =>
    handler(new Request(`http://mcp${path}`, { method: "DELETE", headers: { [sessionHeader]: local } }))
  )
})

// `session` saved in `store` within `bounds`, else (the store failed) in this instance's memory, `unsaved`.
const saving = (
  store: Store,
  unsaved: Store,
  session: Session,
  before: number,
  bounds: Bounds
): Effect.Effect<{ readonly saved: boolean; readonly admitted: Admitted }> =>
  store.save(session, before, bounds).pipe(
    Effect.map((admitted) => ({ saved: true, admitted })),
    Effect.catch((error) =>
      Effect.andThen(
        Effect.logWarning(
          `Gateway: an MCP session could not be recorded (${error.message}); only this instance answers it, ` +
            "until a reload"
        ),
        // In memory: it does not fail.
        Effect.map(Effect.orDie(unsaved.save(session, before, bounds)), (admitted) => ({ saved: false, admitted }))
      )
    )
  )

// Notes in `store` that session `id` subscribes to `uri`, or no longer does. When it cannot, the session `held` here
// is noted as one whose subscriptions the store does not have: they are no longer taken (they would undo it).
const recording = (store: Store, held: Map<string, Held>, id: string) => (uri: string, subscribed: boolean) =>
  store.subscribe(id, uri, subscribed).pipe(
    Effect.catch((error) =>
      Effect.andThen(
        Effect.logWarning(
          `Gateway: an MCP session's subscription could not be recorded (${error.message}); only this instance ` +
            "keeps it, until a reload"
        ),
        Effect.sync(() => {
          const holding = held.get(id)
          if (holding !== undefined) held.set(id, { ...holding, takes: false })
        })
      )
    )
  )

// The session `id` forgotten by `store`; when it cannot be, another instance may still answer it.
const endRecord = (store: Store, id: string) =>
  store.end(id).pipe(
    Effect.catch((error) =>
      Effect.logWarning(
        `Gateway: an MCP session's end could not be recorded (${error.message}); another instance may answer it`
      )
    )
  )

// The sessions held past `maxAge`, and those the store no longer records (their client deleted them at another
// instance), let go of, looked over on a timer, not at requests: an instance no request reaches lets go of what it
// holds all the same. A sweep that dies is logged, and the next one runs: the timer lasts as long as the scope.
const sweeping = Effect.fnUntraced(function*(
  store: Store,
  held: ReadonlyMap<string, Held>,
  letGo: (id: string, holding: Held) => Effect.Effect<void>
) {
  const sweep = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const expired = [...held].filter(([, holding]) => holding.startedAt < now - Duration.toMillis(maxAge))
    yield* Effect.forEach(expired, ([id, holding]) => letGo(id, holding), { discard: true })
    const recorded = [...held].filter(([, holding]) => holding.saved)
    const known = yield* Effect.result(store.known(recorded.map(([id]) => id)))
    if (known._tag === "Failure") {
      return yield* Effect.logWarning(`Gateway: the MCP sessions held could not be read (${known.failure.message})`)
    }
    const gone = recorded.filter(([id]) => !known.success.has(id))
    yield* Effect.forEach(gone, ([id, holding]) => letGo(id, holding), { discard: true })
  })
  const every = yield* SweepEvery
  const swept = Effect.catchDefect(
    sweep,
    (defect) => Effect.logError("Gateway: the MCP sessions' sweep failed", defect)
  )
  yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(every), swept)))
})

// `endpoint`'s answer to a POST without a session: an `initialize`, whose session `record` records; refused to a caller
// whose rule allows nothing (it would list nothing, and hold a session for it).
const starting = (
  endpoint: Answer,
  asked: Asked,
  record: (text: string, response: HttpServerResponse.HttpServerResponse) => Effect.Effect<
    HttpServerResponse.HttpServerResponse
  >
) =>
  Effect.gen(function*() {
    const read = yield* Effect.result(asked.request.text)
    const rule = McpRequest.ruleOf(yield* McpRequest.Request)
    if (read._tag === "Success" && rule === Allow.nothing && initializeOf(read.success) !== undefined) {
      return toolless(read.success)
    }
    // The request keeps its body, so the endpoint reads it again (or refuses it, when it could not be read).
    const response = yield* Effect.provideService(endpoint, HttpServerRequest.HttpServerRequest, asked.request)
    if (read._tag === "Success") {
      yield* Effect.provideService(
        HttpEffect.appendPreResponseHandler((_request, sent) => record(read.success, sent)),
        HttpServerRequest.HttpServerRequest,
        asked.request
      )
    }
    return response
  })

/**
 * The sessions of one configuration's `endpoint` over `store`, within `bounds`, swept every `SweepEvery` while the
 * configuration is served. `version` (`Subscriptions.version`) stamps each read of the store.
 */
export const make = Effect.fnUntraced(function*(
  store: Store,
  endpoint: Answer,
  version: (session: string) => number,
  bounds: Bounds
) {
  // The session this configuration's endpoint holds for each session id a client holds, with whose it is.
  const held = new Map<string, Held>()
  // Sessions whose start the store could not record, bounded the same way in memory (whose operations do not fail).
  const unsaved = yield* Effect.provide(SessionStore, layerMemory)
  const scope = yield* Effect.scope

  const holdingOf = makeHolding(endpoint, held, scope)

  // The session `id` this configuration's endpoint holds as `holding` let go of (it ended at another instance, is past
  // `maxAge`, or a new one took its place within the bounds).
  const letGo = (id: string, holding: Held) =>
    Effect.gen(function*() {
      if (held.get(id) === holding) held.delete(id)
      if (!holding.saved) yield* Effect.orDie(unsaved.end(id))
      yield* close(endpoint, id, holding.path, holding.local)
    })

  // The session `id` ended by its client's `DELETE` answered here: let go of, and forgotten by the store.
  const ended = (id: string) =>
    Effect.andThen(
      Effect.andThen(Effect.sync(() => held.delete(id)), Effect.orDie(unsaved.end(id))),
      endRecord(store, id)
    )

  // The endpoint's answer to `asked` through the session `holding` it holds, named `id` by its client, which
  // subscribes to what the store records in `recorded` (`undefined`: not known); a `DELETE` answered ends it.
  const passOn = (asked: Asked, id: string, holding: Held, recorded: Subscriptions.Read | undefined) => {
    const request = holding.local === id ? asked.request : asked.request.modify({
      headers: Headers.set(asked.request.headers, sessionHeader, holding.local)
    })
    // The HTTP request and the request served in its session, in one update of the context.
    const inSession = (services: Context.Context<Scope.Scope | McpRequest.Request>) =>
      Context.add(Context.add(services, HttpServerRequest.HttpServerRequest, request), McpRequest.Request, {
        ...Context.get(services, McpRequest.Request),
        session: { id, recorded, record: recording(store, held, id) }
      })
    const answered = Effect.updateContext(endpoint, inSession)
    return asked.request.method !== "DELETE"
      ? answered
      : Effect.tap(answered, (response) => response.status < 300 ? ended(id) : Effect.void)
  }

  // The answer to a request naming session `id`, through the session held for it (restarted when none is), when the
  // store has it for this path and key within `maxAge`. When the store cannot be read, or never recorded the session's
  // start, it is answered as held here. A `DELETE` of a session not held ends only its record (see `endsAsStarted`).
  const within = (asked: Asked, id: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const holding = held.get(id)
      const readAt = version(id)
      const read = yield* Effect.result(store.read(id))
      if (read._tag === "Failure") {
        yield* Effect.logWarning(
          `Gateway: an MCP session could not be read (${read.failure.message}); answered as this instance holds it`
        )
        return yield* heldOnly(asked, id, holding)
      }
      const session = read.success
      if (session === undefined && holding?.saved === false) return yield* heldOnly(asked, id, holding)
      // Ended (or never recorded), or too old: let go of here too.
      if (session === undefined || session.startedAt < now - Duration.toMillis(maxAge)) {
        if (holding !== undefined) yield* letGo(id, holding)
        return unknown()
      }
      // Another path's, or another key's: an unknown session, as `McpServer` answers.
      if (session.path !== asked.path || session.caller !== asked.caller) return unknown()
      // Used now, noted at most every `touchEvery`. One not noted (the store failed) may only look idle sooner.
      if (now - session.usedAt >= Duration.toMillis(touchEvery)) yield* Effect.ignore(store.touch(id, now))
      if (asked.request.method === "DELETE" && held.get(id) === undefined && endsAsStarted(asked, session)) {
        // Nothing here to end but its record: a restart under way here is let go of at the sweep.
        yield* ended(id)
        // 204, as `McpServer` answers a `DELETE` that ended a session.
        return HttpServerResponse.empty({ status: 204 })
      }
      const holds = yield* holdingOf(session)
      if (holds === undefined) return unknown()
      const takes = holds.takes && asked.request.method !== "DELETE"
      return yield* passOn(asked, id, holds, takes ? { uris: session.subscribed, version: readAt } : undefined)
    })

  // The answer to a request naming session `id` through `holding`, the session held here for it (none: an unknown
  // session), the store not telling what it subscribes to.
  const heldOnly = (asked: Asked, id: string, holding: Held | undefined) =>
    Effect.gen(function*() {
      if (holding === undefined || holding.path !== asked.path || holding.caller !== asked.caller) return unknown()
      if (!holding.saved) yield* Effect.orDie(unsaved.touch(id, yield* Clock.currentTimeMillis))
      return yield* passOn(asked, id, holding, undefined)
    })

  // Records the session `response` names, as it is sent: `McpServer` names it in a response handler that runs before
  // this one. Sessions let go of to make room are let go of here (other instances do so at their next request or
  // sweep); a session past the bounds is ended here and refused.
  const record = (asked: Asked, text: string) => (response: HttpServerResponse.HttpServerResponse) =>
    Effect.gen(function*() {
      const id = response.headers[sessionHeader]
      if (id === undefined) return response
      const initialize = initializeOf(text)
      if (initialize === undefined) return response
      const startedAt = yield* Clock.currentTimeMillis
      const session = { id, path: asked.path, caller: asked.caller, initialize, startedAt }
      const before = startedAt - Duration.toMillis(maxAge)
      // Held once its save is done: a sweep meanwhile would find it held and not recorded.
      const saved = yield* saving(store, unsaved, session, before, bounds)
      if (saved.admitted._tag === "Refused") {
        yield* close(endpoint, id, asked.path, id)
        return full(text, saved.admitted.full, bounds)
      }
      held.set(id, {
        local: id,
        path: asked.path,
        caller: asked.caller,
        startedAt,
        saved: saved.saved,
        takes: saved.saved
      })
      for (const gone of saved.admitted.letGo) {
        const holding = held.get(gone)
        if (holding !== undefined) yield* letGo(gone, holding)
      }
      return response
    })

  yield* sweeping(store, held, letGo)

  return {
    answer: (asked) => {
      const id = asked.request.headers[sessionHeader]
      if (id !== undefined) return within(asked, id)
      // Whether a POST starts a session is what `McpServer` answers, not how it is sent: an `initialize` of a
      // session-ful revision carrying the stateless revision's `Mcp-Method` header is a session like any other.
      if (asked.request.method === "POST") return starting(endpoint, asked, (text, sent) => record(asked, text)(sent))
      return Effect.provideService(endpoint, HttpServerRequest.HttpServerRequest, asked.request)
    }
  } satisfies Sessions
})

// The answer to a request naming a session no instance answers: 404, as `McpServer` answers an unknown session.
function unknown() {
  return HttpServerResponse.empty({ status: 404 })
}

// Whether `McpServer` would take `asked`, a `DELETE` of `session`: its `MCP-Protocol-Version`, when named, is the one
// the session's client asked for. Any other goes through the restarted session (400 unless it is the negotiated one;
// a revision without the header ends all the same). A client that asked for a version `McpServer` does not speak gets
// 204 where `McpServer` would answer 400: the record keeps the version asked for, not the one negotiated.
function endsAsStarted(asked: Asked, session: Session): boolean {
  const version = asked.request.headers["mcp-protocol-version"]
  return version === undefined ||
    (JSON.parse(session.initialize) as { readonly protocolVersion?: unknown }).protocolVersion === version
}
