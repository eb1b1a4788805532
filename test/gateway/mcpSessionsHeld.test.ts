/**
 * The sessions one instance holds (`internal/gateway/mcp/sessions.ts`) when its store fails, over an endpoint that
 * answers as `McpServer` does (a session id given at `initialize`, 404 for one it does not hold): a session whose start
 * could not be recorded is answered where it is held (not let go because the store has no record of it), a session
 * whose subscription could not be recorded has the store's subscriptions no longer taken, and a `DELETE` answered while
 * the store cannot be read ends the session for every instance. A session held that another instance ended is let go
 * of at the sweep.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpEffect from "effect/http/HttpEffect"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import * as Subscriptions from "../../src/internal/gateway/mcp/subscriptions.js"
import { StoreUnavailableError } from "../../src/Store.js"

const away = () => Effect.fail(new StoreUnavailableError({ address: "the test's store", reason: "away" }))

// A memory store whose steps fail while their flag is set.
function failingStore() {
  const memory = Sessions.memoryStore()
  const failing = { save: false, read: false, subscribe: false }
  const store: Sessions.SessionStore = {
    save: (session, before) => failing.save ? away() : memory.save(session, before),
    read: (id) => failing.read ? away() : memory.read(id),
    subscribe: (id, uri, subscribed) => failing.subscribe ? away() : memory.subscribe(id, uri, subscribed),
    end: memory.end,
    known: memory.known
  }
  return { memory, failing, store }
}

// An endpoint as `McpServer` answers: an `initialize` starts a session, a request of one it holds is answered 200 (a
// `DELETE` ending it), any other 404; a request that subscribes records it; what the store's subscriptions were told.
function endpoint() {
  const live = new Set<string>()
  const told: Array<Subscriptions.Read | undefined> = []
  let started = 0
  const answer = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const id = request.headers["mcp-session-id"]
    if (id === undefined) {
      started += 1
      live.add(`local-${started}`)
      return HttpServerResponse.empty({ status: 200, headers: { "mcp-session-id": `local-${started}` } })
    }
    if (!live.has(id)) return HttpServerResponse.empty({ status: 404 })
    const named = yield* Effect.serviceOption(Subscriptions.Session)
    if (named._tag === "Some") {
      told.push(named.value.recorded)
      if ((yield* request.text).includes("resources/subscribe")) yield* named.value.record("file:///a.md", true)
    }
    if (request.method === "DELETE") live.delete(id)
    return HttpServerResponse.empty({ status: 200 })
  })
  return { answer, told, live }
}

function served(sessions: Sessions.Sessions, answer: ReturnType<typeof endpoint>["answer"]) {
  const handler = HttpEffect.toWebHandler(
    Effect.flatMap(
      HttpServerRequest.HttpServerRequest,
      (request) => sessions.answer(answer, { request, path: "/mcp", caller: null })
    )
  )
  return (method: string, body: object | undefined, session?: string) =>
    Effect.promise(async () => {
      const response = await handler(
        new Request("http://gateway/mcp", {
          method,
          headers: {
            "content-type": "application/json",
            ...(session === undefined ? {} : { "mcp-session-id": session })
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
      )
      await response.arrayBuffer()
      return { status: response.status, session: response.headers.get("mcp-session-id") }
    })
}

const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25" } }
const ping = { jsonrpc: "2.0", id: 2, method: "ping" }
const subscribe = { jsonrpc: "2.0", id: 3, method: "resources/subscribe", params: { uri: "file:///a.md" } }

describe("MCP sessions held when the store fails", () => {
  it.live("a session whose start could not be recorded is answered where it is held, until its DELETE", () =>
    Effect.gen(function*() {
      const { failing, store } = failingStore()
      const { answer, told } = endpoint()
      const send = served(Sessions.make(store, () => 0), answer)
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
    }))

  it.live("a session whose subscription could not be recorded no longer takes the store's subscriptions", () =>
    Effect.gen(function*() {
      const { failing, memory, store } = failingStore()
      const { answer, told } = endpoint()
      const send = served(Sessions.make(store, () => 7), answer)
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
    }))

  it.live("a session held here that another instance ended is let go of at the sweep: deleted at its endpoint", () =>
    Effect.gen(function*() {
      const { memory, store } = failingStore()
      const { answer, live } = endpoint()
      const send = served(Sessions.make(store, () => 0), answer)
      const ended = (yield* send("POST", initialize)).session!
      const going = (yield* send("POST", initialize)).session!
      expect([...live]).toEqual([ended, going])
      // Ended at another instance: nothing names it here again; the next request of another session sweeps.
      yield* memory.end(ended)
      expect((yield* send("POST", ping, going)).status).toBe(200)
      expect([...live]).toEqual([going])
    }))

  it.live("a DELETE answered while the store cannot be read ends the session for every instance", () =>
    Effect.gen(function*() {
      const { failing, memory, store } = failingStore()
      const { answer } = endpoint()
      const send = served(Sessions.make(store, () => 0), answer)
      const id = (yield* send("POST", initialize)).session!
      failing.read = true
      expect((yield* send("DELETE", undefined, id)).status).toBe(200)
      failing.read = false
      expect(yield* memory.read(id)).toBeUndefined()
      expect((yield* send("POST", ping, id)).status).toBe(404)
    }))
})
