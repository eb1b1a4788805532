/**
 * The sessions one instance holds (`internal/gateway/mcp/sessions.ts`) when its store fails, over an endpoint that
 * answers as `McpServer` does (a session id given at `initialize`, 404 for one it does not hold): a session whose start
 * could not be recorded is answered where it is held (not let go because the store has no record of it), a session
 * whose subscription could not be recorded has the store's subscriptions no longer taken, and a `DELETE` answered while
 * the store cannot be read ends the session for every instance. A session held that another instance ended is let go
 * of at the minute's sweep, with no request (TestClock), and a sweep that dies does not end the next. At an instance
 * that does not hold a session, requests of it at once start it there once (the restart going on when they leave,
 * held for the next), and a `DELETE` of it ends its record without starting it, unless it names another protocol
 * version than the session's (then the endpoint answers it).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type { Scope } from "effect/Scope"
import * as TestClock from "effect/testing/TestClock"
import * as Allow from "../../src/internal/gateway/access/tools.js"
import type * as Endpoint from "../../src/internal/gateway/mcp/endpoint.js"
import * as McpRequest from "../../src/internal/gateway/mcp/request.js"
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import type * as Subscriptions from "../../src/internal/gateway/mcp/subscriptions.js"
import * as RequestContext from "../../src/internal/gateway/request/context.js"
import { StoreUnavailableError } from "../../src/Store.js"
import { serviceOf } from "../utils/sqlDatabases.js"

const away = () => Effect.fail(new StoreUnavailableError({ address: "the test's store", reason: "away" }))

// A memory store whose steps fail while their flag is set.
function failingStore() {
  const memory = Effect.runSync(Effect.scoped(serviceOf(Sessions.SessionStore, Sessions.layerMemory)))
  const failing = { save: false, read: false, subscribe: false }
  const store: Sessions.Store = {
    save: (session, before, bounds) => failing.save ? away() : memory.save(session, before, bounds),
    read: (id) => failing.read ? away() : memory.read(id),
    touch: memory.touch,
    subscribe: (id, uri, subscribed) => failing.subscribe ? away() : memory.subscribe(id, uri, subscribed),
    end: memory.end,
    known: memory.known
  }
  return { memory, failing, store }
}

// An endpoint as `McpServer` answers: an `initialize` starts a session (counted in `started`), a request of one it
// holds is answered 200 (a `DELETE` ending it, `deleted` done at the first), any other 404; a request that subscribes
// records it; what the store's subscriptions were told.
function endpoint() {
  const live = new Set<string>()
  const told: Array<Subscriptions.Read | undefined> = []
  const deleted = Deferred.makeUnsafe<string>()
  const counts = { started: 0 }
  const answer = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = request.headers["mcp-session-id"]
    if (id === undefined) {
      counts.started += 1
      live.add(`local-${counts.started}`)
      return HttpServerResponse.empty({ status: 200, headers: { "mcp-session-id": `local-${counts.started}` } })
    }
    if (!live.has(id)) return HttpServerResponse.empty({ status: 404 })
    const { session } = yield* McpRequest.Request
    if (session !== undefined) {
      told.push(session.recorded)
      if ((yield* request.text).includes("resources/subscribe")) yield* session.record("file:///a.md", true)
    }
    if (request.method === "DELETE") {
      live.delete(id)
      yield* Deferred.succeed(deleted, id)
    }
    return HttpServerResponse.empty({ status: 200 })
  })
  return { answer, told, live, deleted, counts }
}

// A caller's request of every tool, as the route serves it (these tests call no tool).
const caller = McpRequest.called(Allow.everything, {
  reserve: () => Effect.succeed(() => Effect.void),
  context: RequestContext.make({
    id: "sessions",
    method: "POST",
    url: "/mcp",
    start: 0,
    caller: undefined,
    payload: false
  }),
  metrics: { toolCall: () => {}, error: () => {} }
})

// Requests of the sessions `sessions` at `asked`'s path and for its key (default: `/mcp`, no key), naming a session
// and a protocol version when given: their status and the session a response names.
function served(sessions: Sessions.Sessions, asked: Omit<Sessions.Asked, "request"> = { path: "/mcp", caller: null }) {
  const handler = HttpEffect.toWebHandler(
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => sessions.answer({ ...asked, request })).pipe(
      Effect.provideService(McpRequest.Request, caller)
    )
  )
  return (method: string, body: object | undefined, session?: string, version?: string) =>
    Effect.promise(async () => {
      const response = await handler(
        new Request("http://gateway/mcp", {
          method,
          headers: {
            "content-type": "application/json",
            ...(session === undefined ? {} : { "mcp-session-id": session }),
            ...(version === undefined ? {} : { "mcp-protocol-version": version })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
      )
      await response.arrayBuffer()
      return { status: response.status, session: response.headers.get("mcp-session-id") }
    })
}

// A ping in session `id` answered by `sessions` in this fiber (which interrupting it interrupts), at `/mcp`.
function asked(sessions: Sessions.Sessions, id: string) {
  const request = HttpServerRequest.fromWeb(
    new Request("http://gateway/mcp", {
      method: "POST",
      headers: { "content-type": "application/json", "mcp-session-id": id },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" })
    })
  )
  return Effect.scoped(
    sessions.answer({ request, path: "/mcp", caller: null }).pipe(
      Effect.provideService(HttpServerRequest.HttpServerRequest, request),
      Effect.provideService(McpRequest.Request, caller)
    )
  )
}

const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25" } }
const ping = { jsonrpc: "2.0", id: 2, method: "ping" }
const subscribe = { jsonrpc: "2.0", id: 3, method: "resources/subscribe", params: { uri: "file:///a.md" } }

// Two instances over one store, a session started at A: the store, A's requests, B's endpoint and the session's id.
const startedAtA = Effect.gen(function*() {
  const { memory, store } = failingStore()
  const atB = endpoint()
  const sendA = served(yield* Sessions.make(store, endpoint().answer, () => 0, Sessions.defaultBounds))
  const id = (yield* sendA("POST", initialize)).session!
  return { memory, store, atB, sendA, id }
})

describe("MCP sessions held when the store fails", () => {
  it.live("a session whose start could not be recorded is answered where it is held, until its DELETE", () =>
    Effect.gen(function*() {
      const { failing, store } = failingStore()
      const { answer, told } = endpoint()
      const send = served(yield* Sessions.make(store, answer, () => 0, Sessions.defaultBounds))
      failing.save = true
      const started = yield* send("POST", initialize)
      expect(started.status).toBe(200)
      const id = started.session!
      failing.save = false
      expect((yield* send("POST", ping, id)).status).toBe(200)
      expect((yield* send("POST", ping, id)).status).toBe(200)
      // Nothing recorded of it: the store's subscriptions (none) are not taken.
      expect(told).toEqual([undefined, undefined])
      expect((yield* send("DELETE", undefined, id)).status).toBe(200)
      expect((yield* send("POST", ping, id)).status).toBe(404)
    }).pipe(Effect.scoped))

  it.live("a session whose subscription could not be recorded no longer takes the store's subscriptions", () =>
    Effect.gen(function*() {
      const { failing, memory, store } = failingStore()
      const { answer, told } = endpoint()
      const send = served(yield* Sessions.make(store, answer, () => 7, Sessions.defaultBounds))
      const id = (yield* send("POST", initialize)).session!
      expect((yield* send("POST", ping, id)).status).toBe(200)
      expect(told).toEqual([{ uris: [], version: 7 }])
      failing.subscribe = true
      expect((yield* send("POST", subscribe, id)).status).toBe(200)
      failing.subscribe = false
      expect((yield* memory.read(id))?.subscribed).toEqual([])
      // The store says it subscribes to nothing, which taken would release what this instance holds.
      expect((yield* send("POST", ping, id)).status).toBe(200)
      expect(told.slice(2)).toEqual([undefined])
      // Still ended by its end at another instance.
      yield* memory.end(id)
      expect((yield* send("POST", ping, id)).status).toBe(404)
    }).pipe(Effect.scoped))

  it.effect("a session held here that another instance ended is let go of at the minute's sweep, with no request", () =>
    Effect.gen(function*() {
      const { memory, store } = failingStore()
      const { answer, deleted, live } = endpoint()
      const send = served(yield* Sessions.make(store, answer, () => 0, Sessions.defaultBounds))
      const ended = (yield* send("POST", initialize)).session!
      const going = (yield* send("POST", initialize)).session!
      expect([...live]).toEqual([ended, going])
      // Ended at another instance; nothing names a session here again.
      yield* memory.end(ended)
      yield* TestClock.adjust("59 seconds")
      expect([...live]).toEqual([ended, going])
      yield* TestClock.adjust("1 second")
      expect(yield* Deferred.await(deleted)).toBe(ended)
      expect([...live]).toEqual([going])
    }).pipe(Effect.scoped))

  it.effect("a sweep that dies is logged and the next minute's sweep runs", () =>
    Effect.gen(function*() {
      const { memory, store } = failingStore()
      const { answer, deleted, live } = endpoint()
      let dies = true
      let reads = 0
      const dying: Sessions.Store = {
        ...store,
        known: (ids) => {
          reads += 1
          return dies ? Effect.die(new Error("the test's store broke")) : store.known(ids)
        }
      }
      const send = served(yield* Sessions.make(dying, answer, () => 0, Sessions.defaultBounds))
      const ended = (yield* send("POST", initialize)).session!
      yield* memory.end(ended)
      yield* TestClock.adjust("1 minute")
      expect(reads).toBe(1)
      expect([...live]).toEqual([ended])
      dies = false
      yield* TestClock.adjust("1 minute")
      expect(yield* Deferred.await(deleted)).toBe(ended)
      expect([...live]).toEqual([])
    }).pipe(Effect.scoped))

  it.live("requests of a session at once, at an instance that does not hold it, start it there once", () =>
    Effect.gen(function*() {
      const { atB, id, store } = yield* startedAtA
      const sendB = served(yield* Sessions.make(store, atB.answer, () => 0, Sessions.defaultBounds))
      const answered = yield* Effect.forEach(Array.from({ length: 8 }), () => sendB("POST", ping, id), {
        concurrency: "unbounded"
      })
      expect(answered.map((one) => one.status)).toEqual(Array.from({ length: 8 }, () => 200))
      expect(atB.counts.started).toBe(1)
      expect([...atB.live]).toEqual(["local-1"])
    }).pipe(Effect.scoped))

  it.live("a restart goes on when the requests waiting for it leave, and is held for the next one", () =>
    Effect.gen(function*() {
      const { atB, id, store } = yield* startedAtA
      // B's endpoint answers its first `initialize` when `opened`; what else reaches it is counted in `asked`.
      const entered = yield* Deferred.make<void>()
      const opened = yield* Deferred.make<void>()
      const reached = { initialize: 0, other: 0 }
      let first = true
      const stalling = Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (request.headers["mcp-session-id"] === undefined) reached.initialize += 1
        else if (request.method === "POST" && (yield* request.text).includes("ping")) reached.other += 1
        if (first) {
          first = false
          yield* Deferred.succeed(entered, undefined)
          yield* Deferred.await(opened)
        }
        return yield* atB.answer
      })
      const sessionsB = yield* Sessions.make(store, stalling, () => 0, Sessions.defaultBounds)
      const restarting = yield* Effect.forkChild(asked(sessionsB, id))
      yield* Deferred.await(entered)
      const waiting = yield* Effect.forkChild(asked(sessionsB, id))
      const leaving = yield* Effect.forkChild(asked(sessionsB, id))
      yield* Effect.yieldNow
      // The request that began the restart, and one that waits for it, leave while it is under way: at once.
      yield* Fiber.interrupt(restarting)
      yield* Fiber.interrupt(leaving)
      expect(reached).toEqual({ initialize: 1, other: 0 })
      yield* Deferred.succeed(opened, undefined)
      expect((yield* Fiber.join(waiting)).status).toBe(200)
      expect((yield* asked(sessionsB, id)).status).toBe(200)
      // Started once; only the requests that stayed were passed on.
      expect(reached).toEqual({ initialize: 1, other: 2 })
      expect([...atB.live]).toEqual(["local-1"])
    }).pipe(Effect.scoped))

  it.effect("a restart that has not started the session in 10 s gives none; the next request starts it again", () =>
    Effect.gen(function*() {
      const { atB, id, store } = yield* startedAtA
      // B's endpoint never answers the first `initialize` it is sent.
      const entered = yield* Deferred.make<void>()
      let first = true
      const stalling = Effect.suspend(() => {
        if (!first) return atB.answer
        first = false
        return Effect.andThen(Deferred.succeed(entered, undefined), Effect.never)
      })
      const sessionsB = yield* Sessions.make(store, stalling, () => 0, Sessions.defaultBounds)
      const waiting = yield* Effect.forkChild(asked(sessionsB, id))
      yield* Deferred.await(entered)
      yield* TestClock.adjust("9 seconds")
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(waiting)).status).toBe(404)
      expect((yield* asked(sessionsB, id)).status).toBe(200)
      expect(atB.counts.started).toBe(1)
    }).pipe(Effect.scoped))

  it.live("a DELETE of a session an instance does not hold ends it without starting it; others' sessions are 404", () =>
    Effect.gen(function*() {
      const { memory, atB, id, sendA, store } = yield* startedAtA
      const sessionsB = yield* Sessions.make(store, atB.answer, () => 0, Sessions.defaultBounds)
      // Another path's, another key's, and an unknown session: 404, ended nowhere.
      expect((yield* served(sessionsB, { path: "/mcp/docs", caller: null })("DELETE", undefined, id)).status).toBe(404)
      expect((yield* served(sessionsB, { path: "/mcp", caller: "key_1" })("DELETE", undefined, id)).status).toBe(404)
      expect((yield* served(sessionsB)("DELETE", undefined, "unknown")).status).toBe(404)
      expect(yield* memory.read(id)).toBeDefined()
      expect((yield* served(sessionsB)("DELETE", undefined, id, "2025-11-25")).status).toBe(204)
      expect(atB.counts.started).toBe(0)
      expect(yield* memory.read(id)).toBeUndefined()
      expect((yield* sendA("POST", ping, id)).status).toBe(404)
      // Without a protocol version: the same.
      const other = (yield* sendA("POST", initialize)).session!
      expect((yield* served(sessionsB)("DELETE", undefined, other)).status).toBe(204)
      expect(atB.counts.started).toBe(0)
      expect(yield* memory.read(other)).toBeUndefined()
    }).pipe(Effect.scoped))

  it.live("a DELETE naming another protocol version than the session's is answered by the endpoint, restarted", () =>
    Effect.gen(function*() {
      const { atB, id, store } = yield* startedAtA
      const sessionsB = yield* Sessions.make(store, atB.answer, () => 0, Sessions.defaultBounds)
      // `McpServer` answers such a `DELETE` (400 when the version is not the one negotiated); this endpoint 200.
      expect((yield* served(sessionsB)("DELETE", undefined, id, "2025-06-18")).status).toBe(200)
      expect(atB.counts.started).toBe(1)
    }).pipe(Effect.scoped))

  it.live("a DELETE answered while the store cannot be read ends the session for every instance", () =>
    Effect.gen(function*() {
      const { failing, memory, store } = failingStore()
      const { answer } = endpoint()
      const send = served(yield* Sessions.make(store, answer, () => 0, Sessions.defaultBounds))
      const id = (yield* send("POST", initialize)).session!
      failing.read = true
      expect((yield* send("DELETE", undefined, id)).status).toBe(200)
      failing.read = false
      expect(yield* memory.read(id)).toBeUndefined()
      expect((yield* send("POST", ping, id)).status).toBe(404)
    }).pipe(Effect.scoped))
})

// The sessions' answer and the endpoints' given the request they serve, and (`@ts-expect-error`) without it.
function answers(sessions: Sessions.Sessions, endpoints: Endpoint.Endpoints, asked: Sessions.Asked) {
  type Unserved = Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    unknown,
    Scope | HttpServerRequest.HttpServerRequest
  >
  // @ts-expect-error: the sessions' answer requires the request it serves (`McpRequest.Request`).
  const sessionsUnserved: Unserved = sessions.answer(asked)
  // @ts-expect-error: so does the endpoints'.
  const endpointsUnserved: Unserved = endpoints.http
  const served: Unserved = Effect.provideService(sessions.answer(asked), McpRequest.Request, caller)
  return [sessionsUnserved, endpointsUnserved, served]
}

describe("the request the MCP endpoints serve", () => {
  it("is required: the sessions' and the endpoints' answers left without it do not compile (the typecheck of the tests proves it)", () => {
    expect(answers).toBeTypeOf("function")
  })
})
