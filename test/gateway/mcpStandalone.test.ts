/**
 * The standalone stream's journal and replay (`internal/gateway/mcp/standalone.ts`): over the whole domain of journal
 * lengths and last event ids, what a stream that comes back is replayed equals the changes after its id when the
 * journal still holds them, and `Lost` otherwise; and the stream itself, on a TestClock: what it replays (filtered by
 * its path and rule), its priming id, the changes that come, and its end after ten seconds; a resource's change told
 * to the sessions subscribed to it only, and replayed.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as HttpBody from "effect/http/HttpBody"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Allow from "../../src/internal/gateway/access/tools.js"
import * as Standalone from "../../src/internal/gateway/mcp/standalone.js"

const tools = "notifications/tools/list_changed" as const

const change = (qualified: string, paths: ReadonlyArray<string> = ["/mcp", "/mcp/files"]): Standalone.Change => ({
  paths,
  method: tools,
  qualified: [qualified]
})

// A journal of `n` changes, appended one by one.
function journalOf(n: number): Standalone.Kept {
  let kept: Standalone.Kept = { epoch: "e0", head: 0, entries: [] }
  for (let i = 1; i <= n; i++) kept = Standalone.append(kept, change(`files__t${i}`))
  return kept
}

describe("the standalone stream's journal", () => {
  it("keeps the last journalSize changes, numbered in order, and replays exactly those after an id it holds", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 260 }), fc.integer({ min: -3, max: 265 }), (n, last) => {
      const kept = journalOf(n)
      expect(kept.head).toBe(n)
      expect(kept.entries.map((entry) => entry.sequence)).toEqual(
        Array.from(
          { length: Math.min(n, Standalone.journalSize) },
          (_, i) => n - Math.min(n, Standalone.journalSize) + i + 1
        )
      )
      const resumed = Standalone.resume(kept, Standalone.eventId("e0", last))
      const holds = last >= Math.max(0, n - Standalone.journalSize) && last <= n
      expect(resumed).toEqual(
        holds
          ? { _tag: "Replay", entries: kept.entries.filter((entry) => entry.sequence > last) }
          : { _tag: "Lost" }
      )
      // No id: a stream opened afresh has missed nothing it can be told.
      expect(Standalone.resume(kept, undefined)).toEqual({ _tag: "Replay", entries: [] })
    }))
  })

  it("an id of another epoch, or one it never gives, cannot be replayed", () => {
    const kept = journalOf(3)
    for (const id of ["e1-2", "e0-", "e0-02", "e0-1.5", "e0--1", "2", "", "e0-99999999999999999999"]) {
      expect(Standalone.resume(kept, id)).toEqual({ _tag: "Lost" })
    }
  })
})

// The events of `body` (a standalone stream's), each as its lines.
function eventStream(body: HttpBody.HttpBody) {
  if (body._tag !== "Stream") return Stream.die("the standalone stream's body is not a stream")
  return body.stream.pipe(
    Stream.decodeText(),
    Stream.flatMap((text) => Stream.fromIterable(text.split("\n\n").filter((event) => event !== "")))
  )
}

// The first `count` events of `body`.
const eventsOf = (body: HttpBody.HttpBody, count: number) => Stream.runCollect(Stream.take(eventStream(body), count))

const allowed = Allow.rule(["files__*"])

// The session `session-a`, subscribed to the `/mcp` URI of `files`' doc.
const mine: Standalone.Subscriber = { session: "session-a", subscribed: ["mcp://files/file:///doc.md"] }

describe("the standalone stream", () => {
  it("primes a client on 2025-11-25 or later only: an earlier one reads an empty event's data as a broken message", () => {
    for (const revision of [undefined, "2024-11-05", "2025-03-26", "2025-06-18"]) {
      expect(Standalone.primes(revision), String(revision)).toBe(false)
    }
    for (const revision of ["2025-11-25", "2026-07-28"]) expect(Standalone.primes(revision), revision).toBe(true)
  })

  it.effect("replays what a session missed after its id, filtered by its path and rule; then primes and follows", () =>
    Effect.gen(function*() {
      const changes = yield* Standalone.make
      const first = yield* eventsOf(changes.open("/mcp", allowed, undefined, "2025-11-25").body, 1)
      expect(first).toHaveLength(1)
      const primed = /^id: (.+)\ndata: $/.exec(first[0]!)?.[1]
      expect(primed).toMatch(/-0$/)

      yield* changes.publish(change("files__a"))
      yield* changes.publish(change("calc__b", ["/mcp", "/mcp/calc"])) // not allowed
      yield* changes.publish(change("files__c", ["/mcp/files"])) // another path
      yield* changes.publish(change("files__d"))
      const epoch = primed!.slice(0, -"-0".length)
      const message = (sequence: number) =>
        `id: ${epoch}-${sequence}\nevent: message\ndata: {"jsonrpc":"2.0","method":"${tools}"}`

      const read = yield* Queue.unbounded<string>()
      yield* Effect.forkChild(
        Stream.runForEach(
          eventStream(changes.open("/mcp", allowed, primed, "2025-11-25").body),
          (event) => Queue.offer(read, event)
        )
      )
      // What it missed, then the priming event: it is subscribed before it is told, so what comes is told after.
      expect(yield* Queue.takeN(read, 3)).toEqual([message(1), message(4), `id: ${epoch}-4\ndata: `])
      yield* changes.publish(change("calc__e", ["/mcp"]))
      yield* changes.publish(change("files__f"))
      expect(yield* Queue.take(read)).toEqual(message(6))
    }).pipe(Effect.scoped))

  it.effect("a session whose id cannot be replayed is told every list changed, then primed", () =>
    Effect.gen(function*() {
      const changes = yield* Standalone.make
      yield* changes.publish(change("files__a"))
      const events = yield* eventsOf(changes.open("/mcp", allowed, "elsewhere-7", "2025-11-25").body, 4)
      expect(events.slice(0, 3)).toEqual(
        Standalone.listChangedMethods.map((method) => `event: message\ndata: {"jsonrpc":"2.0","method":"${method}"}`)
      )
      expect(events[3]).toMatch(/^id: [0-9a-f]{8}-1\ndata: $/)
    }).pipe(Effect.scoped))

  it.effect("a resource's change reaches only the sessions subscribed to it, each under its URI, and is replayed", () =>
    Effect.gen(function*() {
      const changes = yield* Standalone.make
      const updated = (uris: ReadonlyArray<readonly [string, string]>, qualified = "files__doc") =>
        changes.publish({ method: "notifications/resources/updated", uris: new Map(uris), qualified: [qualified] })
      const first = yield* eventsOf(changes.open("/mcp", allowed, undefined, "2025-11-25", mine).body, 1)
      const primed = /^id: (.+)\ndata: $/.exec(first[0]!)![1]!
      const epoch = primed.slice(0, -"-0".length)
      yield* updated([["session-a", "mcp://files/file:///doc.md"], ["session-b", "file:///doc.md"]])
      yield* updated([["session-b", "file:///doc.md"]]) // another session's
      yield* updated([["session-a", "mcp://calc/file:///x"]], "calc__x") // a name the key may no longer use
      yield* changes.publish(change("files__a"))
      const told = (sequence: number, uri: string) =>
        `id: ${epoch}-${sequence}\nevent: message\ndata: ` +
        `{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"${uri}"}}`
      const replayed = yield* eventsOf(changes.open("/mcp", allowed, primed, "2025-11-25", mine).body, 3)
      expect(replayed).toEqual([
        told(1, "mcp://files/file:///doc.md"),
        `id: ${epoch}-4\nevent: message\ndata: {"jsonrpc":"2.0","method":"${tools}"}`,
        `id: ${epoch}-4\ndata: `
      ])
      // A stream opened for no session is told no resource's change.
      const none = yield* eventsOf(changes.open("/mcp", allowed, primed, "2025-11-25").body, 2)
      expect(none[0]).toMatch(/list_changed/)
      // An id it cannot replay from: every list, and every resource the session subscribes to, told changed.
      const lost = yield* eventsOf(changes.open("/mcp", allowed, "elsewhere-1", "2025-11-25", mine).body, 5)
      expect(lost[3]).toBe(
        `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/resources/updated",` +
          `"params":{"uri":"mcp://files/file:///doc.md"}}`
      )
      expect(lost[4]).toBe(`id: ${epoch}-4\ndata: `)
    }).pipe(Effect.scoped))

  it.effect("what a session's record gave it as its stream opened is told changed once, with or without an id", () =>
    Effect.gen(function*() {
      const changes = yield* Standalone.make
      const taken = { ...mine, taken: mine.subscribed }
      const notice = `event: message\ndata: {"jsonrpc":"2.0","method":"notifications/resources/updated",` +
        `"params":{"uri":"mcp://files/file:///doc.md"}}`
      const fresh = yield* eventsOf(changes.open("/mcp", allowed, undefined, "2025-11-25", taken).body, 2)
      expect(fresh[0]).toBe(notice)
      expect(fresh[1]).toMatch(/^id: [0-9a-f]{8}-0\ndata: $/)
      const primed = /^id: (.+)\ndata: $/.exec(fresh[1]!)![1]!
      const resumed = yield* eventsOf(changes.open("/mcp", allowed, primed, "2025-11-25", taken).body, 2)
      expect(resumed).toEqual(fresh)
      // Nothing taken: nothing told.
      const none = yield* eventsOf(changes.open("/mcp", allowed, undefined, "2025-11-25", mine).body, 1)
      expect(none[0]).toBe(fresh[1])
    }).pipe(Effect.scoped))

  it.effect("ends after ten seconds, for the client to open it again", () =>
    Effect.gen(function*() {
      const changes = yield* Standalone.make
      const reading = yield* Effect.forkChild(eventsOf(changes.open("/mcp", allowed, undefined, "2025-11-25").body, 2))
      yield* TestClock.adjust("9 seconds")
      expect(reading.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(reading)).toHaveLength(1)
    }).pipe(Effect.scoped))
})
