/**
 * MCP sessions (the 2025-11-25 revision's `Mcp-Session-Id`) that any gateway instance answers, and that outlive a
 * reload. `McpServer` keeps its sessions in the memory of one configuration's endpoint; the gateway records each
 * session it starts (its id, its path, its caller's key and the client's `initialize` parameters) in a store the
 * instances share: the gateway's database, else this process's memory. A request naming a session this configuration's
 * endpoint does not hold (made on another instance, or before a reload) starts one there as the client started it
 * (the recorded `initialize` and `notifications/initialized`), and is answered through it under the id the client
 * holds. What a session set while it lasted (a `logging/setLevel`) is the instance's own; the tool rule is read per
 * request anyway, and the upstreams' sessions are the gateway's own, per instance.
 *
 * A session is answered only on its path and for its caller's key (a session id alone is no credential), and for a
 * day from its start (`maxAge`): after that, an instance that does not hold it answers 404, as the protocol has a
 * server say that a session ended, and the client starts a new one.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Headers from "effect/http/Headers"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Scope from "effect/Scope"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Sql from "../../persistence/sql.js"

/** A session as recorded when it started. */
export interface Session {
  readonly id: string
  /** The endpoint's path: `/mcp` or `/mcp/<server>`. */
  readonly path: string
  /** The key that started it (`Auth.Caller.id`); `null` on a gateway without keys. */
  readonly caller: string | null
  /** The `params` of the client's `initialize`, as JSON. */
  readonly initialize: string
  readonly startedAt: number
}

/** How long after its start a session is answered by an instance that does not hold it. */
export const maxAge = Duration.days(1)

/** Where sessions are recorded. */
export interface SessionStore {
  /** Records `session`, and forgets those started before `before`. */
  readonly save: (session: Session, before: number) => Effect.Effect<void, StoreUnavailableError>
  readonly read: (id: string) => Effect.Effect<Session | undefined, StoreUnavailableError>
}

/** Sessions in memory, for the process's life: a gateway without a database (one instance, across its reloads). */
export function memoryStore(): SessionStore {
  const sessions = new Map<string, Session>()
  return {
    save: (session, before) =>
      Effect.sync(() => {
        for (const [id, kept] of sessions) if (kept.startedAt < before) sessions.delete(id)
        sessions.set(session.id, session)
      }),
    read: (id) => Effect.sync(() => sessions.get(id))
  }
}

type Row = Readonly<Record<string, unknown>>

/** Sessions in the gateway's database (the `mcp_sessions` table), which every instance on it shares. */
export function sqlStore(database: Sql.Database): SessionStore {
  const { bounds, sql } = database
  return {
    save: (session, before) =>
      Sql.transaction(
        sql,
        bounds,
        "recording an MCP session",
        Effect.andThen(
          sql`DELETE FROM mcp_sessions WHERE started_at < ${before}`,
          sql`INSERT INTO mcp_sessions (id, path, caller, initialize, started_at)
            VALUES (${session.id}, ${session.path}, ${session.caller}, ${session.initialize}, ${session.startedAt})`
        )
      ),
    read: (id) =>
      Sql.step(
        bounds,
        "reading an MCP session",
        Effect.map(sql<Row>`SELECT * FROM mcp_sessions WHERE id = ${id}`, (rows) => {
          const row = rows[0]
          return row === undefined ? undefined : {
            id: String(row["id"]),
            path: String(row["path"]),
            caller: row["caller"] === null || row["caller"] === undefined ? null : String(row["caller"]),
            initialize: String(row["initialize"]),
            startedAt: Number(row["started_at"])
          }
        })
      )
  }
}

/** An endpoint's answer to the request in its context. */
type Answer = Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  unknown,
  Scope.Scope | HttpServerRequest.HttpServerRequest
>

/** The request being answered, as the route hands it over: its endpoint's path and its caller's key. */
export interface Asked {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly path: string
  readonly caller: string | null
}

/** The sessions of one configuration's endpoints, over the store every configuration shares. */
export interface Sessions {
  /** `answer` to `asked`, under the session the client holds, wherever it started; a session it starts recorded. */
  readonly answer: (answer: Answer, asked: Asked) => Answer
}

const sessionHeader = "mcp-session-id"

// A session this configuration's endpoint holds: its id there, and the path and key it is answered for.
interface Held {
  readonly local: string
  readonly path: string
  readonly caller: string | null
}

// The `params` of a JSON-RPC `initialize` in `text`, as JSON; `undefined` for anything else.
function initializeOf(text: string): string | undefined {
  try {
    const message = JSON.parse(text) as { readonly method?: unknown; readonly params?: unknown }
    return message.method === "initialize" ? JSON.stringify(message.params ?? {}) : undefined
  } catch {
    return undefined
  }
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

/** The sessions of one configuration over `store`: what its endpoints hold, by the ids their clients hold. */
export function make(store: SessionStore): Sessions {
  // The session this configuration's endpoint holds for each session id a client holds, with whose it is.
  const held = new Map<string, Held>()

  // The client's session `id` started on this configuration's endpoint as it was started, if it is recorded and
  // `asked` may use it; the id the endpoint gave it.
  const restart = (answer: Answer, asked: Asked, id: string) =>
    Effect.gen(function*() {
      const session = yield* store.read(id).pipe(
        Effect.tapError((error) =>
          Effect.logWarning(`Gateway: an MCP session could not be read (${error.message}); it is answered as unknown`)
        ),
        Effect.orElseSucceed(() => undefined)
      )
      const now = yield* Clock.currentTimeMillis
      if (
        session === undefined || session.path !== asked.path || session.caller !== asked.caller ||
        session.startedAt < now - Duration.toMillis(maxAge)
      ) {
        return undefined
      }
      // Answered as requests of their own (their own response handlers: `McpServer` names a session it starts in the
      // response to `initialize`, which is not the client's), with the caller's rule and governance.
      const context = yield* Effect.context<never>()
      const handler = HttpEffect.toWebHandlerWith<never, Scope.Scope | HttpServerRequest.HttpServerRequest>(context)(
        answer
      )
      const local = yield* Effect.promise(async () => {
        const initialize = { jsonrpc: "2.0", id: 0, method: "initialize", params: JSON.parse(session.initialize) }
        const started = await handler(posted(asked.path, initialize))
        await started.arrayBuffer()
        const id = started.headers.get(sessionHeader)
        if (id === null) return undefined
        const initialized = await handler(
          posted(asked.path, { jsonrpc: "2.0", method: "notifications/initialized" }, id)
        )
        await initialized.arrayBuffer()
        return id
      })
      if (local === undefined) return undefined
      const holding = { local, path: session.path, caller: session.caller }
      held.set(id, holding)
      return holding
    })

  // `answer` to a request that names session `id`, through the session this configuration holds for it.
  const within = (answer: Answer, asked: Asked, id: string) =>
    Effect.gen(function*() {
      const holding = held.get(id) ?? (yield* restart(answer, asked, id))
      // Unknown here and to the store, another path's, or another key's: an unknown session, as `McpServer` answers.
      if (holding === undefined || holding.path !== asked.path || holding.caller !== asked.caller) {
        return HttpServerResponse.empty({ status: 404 })
      }
      if (holding.local === id) {
        return yield* Effect.provideService(answer, HttpServerRequest.HttpServerRequest, asked.request)
      }
      const request = asked.request.modify({
        headers: Headers.set(asked.request.headers, sessionHeader, holding.local)
      })
      return yield* Effect.provideService(answer, HttpServerRequest.HttpServerRequest, request)
    })

  // Records the session `response` names (its `initialize`'s `params` in `text`), as it is sent: `McpServer` names it
  // in a handler of the response, which runs before this one.
  const record = (asked: Asked, text: string) => (response: HttpServerResponse.HttpServerResponse) =>
    Effect.gen(function*() {
      const id = response.headers[sessionHeader]
      const initialize = initializeOf(text)
      if (id === undefined || initialize === undefined) return response
      held.set(id, { local: id, path: asked.path, caller: asked.caller })
      const startedAt = yield* Clock.currentTimeMillis
      yield* store.save(
        { id, path: asked.path, caller: asked.caller, initialize, startedAt },
        startedAt - Duration.toMillis(maxAge)
      ).pipe(
        Effect.catch((error) =>
          Effect.logWarning(
            `Gateway: an MCP session could not be recorded (${error.message}); only this instance answers it, ` +
              "until a reload"
          )
        )
      )
      return response
    })

  // `answer` to a POST without a session: an `initialize`, whose session it records.
  const starting = (answer: Answer, asked: Asked) =>
    Effect.gen(function*() {
      const read = yield* Effect.result(asked.request.text)
      // The body is kept by the request, which the endpoint reads it from again (or refuses, when it could not be
      // read).
      const response = yield* Effect.provideService(answer, HttpServerRequest.HttpServerRequest, asked.request)
      if (read._tag === "Success") {
        yield* Effect.provideService(
          HttpEffect.appendPreResponseHandler((_request, sent) => record(asked, read.success)(sent)),
          HttpServerRequest.HttpServerRequest,
          asked.request
        )
      }
      return response
    })

  return {
    answer: (answer, asked) => {
      const id = asked.request.headers[sessionHeader]
      if (id !== undefined) return within(answer, asked, id)
      // A stateless (2026-07-28) request names its method in `Mcp-Method`, and starts no session.
      if (asked.request.method === "POST" && asked.request.headers["mcp-method"] === undefined) {
        return starting(answer, asked)
      }
      return Effect.provideService(answer, HttpServerRequest.HttpServerRequest, asked.request)
    }
  }
}
