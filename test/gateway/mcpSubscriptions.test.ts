/**
 * The subscriptions' table (`internal/gateway/mcp/subscriptions.ts`) as a property: over random sequences of
 * subscribes, unsubscribes, session ends and takes of a session's recorded subscriptions by the instance that holds it
 * (`stale` dropped, `missing` added), across sessions, servers and URIs, the upstream is subscribed to a
 * resource (the table's first-session answers, less its last-session answers) exactly while some live session
 * subscribes to it, each once; and when every session has ended, nothing is subscribed to and the table is empty.
 * The counts of the sessions' changes, as a property too: a read of the store made before a change or the end of its
 * session is never taken, one no change of it nor any end came after is, and an ended session leaves no count.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as Allow from "../../src/internal/gateway/access/tools.js"
import * as Subscriptions from "../../src/internal/gateway/mcp/subscriptions.js"

type Step =
  | { readonly _tag: "subscribe"; readonly session: number; readonly server: number; readonly uri: number }
  | { readonly _tag: "unsubscribe"; readonly session: number; readonly server: number; readonly uri: number }
  | { readonly _tag: "end"; readonly session: number }
  | { readonly _tag: "take"; readonly session: number; readonly resources: ReadonlyArray<[number, number]> }

const session = fc.integer({ min: 0, max: 4 })
const resource = { session, server: fc.integer({ min: 0, max: 1 }), uri: fc.integer({ min: 0, max: 3 }) }
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ _tag: fc.constant("subscribe" as const), ...resource }),
  fc.record({ _tag: fc.constant("unsubscribe" as const), ...resource }),
  fc.record({ _tag: fc.constant("end" as const), session }),
  fc.record({
    _tag: fc.constant("take" as const),
    session,
    resources: fc.uniqueArray(fc.tuple(resource.server, resource.uri), {
      maxLength: 5,
      selector: ([a, b]) => `${a}/${b}`
    })
  })
)

const serverOf = (n: number) => `s${n}`
const uriOf = (n: number) => `file:///r${n}`
const servedOf = (server: number, uri: number) => `mcp://${serverOf(server)}/${uriOf(uri)}`

describe("the subscriptions' table", () => {
  it("subscribes a resource upstream exactly while some live session subscribes to it, once", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const table = Subscriptions.emptyTable()
        // What the upstreams were told: each resource's key, subscribed (true) or not.
        const upstream = new Map<string, boolean>()
        // The model: each session's resources.
        const model = new Map<number, Set<string>>()
        const tell = (key: string, subscribed: boolean) => {
          // Never subscribed twice, nor unsubscribed when it is not.
          expect(upstream.get(key) ?? false).toBe(!subscribed)
          upstream.set(key, subscribed)
        }
        for (const one of steps) {
          if (one._tag === "end") {
            for (const last of Subscriptions.drop(table, `session-${one.session}`)) {
              tell(Subscriptions.resourceKey(last.server, last.uri), false)
            }
            model.delete(one.session)
            continue
          }
          if (one._tag === "take") {
            // The session's recorded subscriptions taken by an instance that holds it: what it has that is no longer
            // recorded dropped, what it lacks subscribed to, as the subscriptions' `take` does.
            const session = `session-${one.session}`
            const uris = one.resources.map(([server, uri]) => servedOf(server, uri))
            for (const key of Subscriptions.stale(table, session, uris)) {
              if (Subscriptions.remove(table, session, key)) tell(key, false)
            }
            for (const served of Subscriptions.missing(table, session, uris)) {
              const [server, uri] = one.resources[uris.indexOf(served)]!
              if (Subscriptions.add(table, session, serverOf(server), uriOf(uri), { uri: served, qualified: "q" })) {
                tell(Subscriptions.resourceKey(serverOf(server), uriOf(uri)), true)
              }
            }
            expect(new Set(Subscriptions.subscribedIn(table, session))).toEqual(new Set(uris))
            model.set(
              one.session,
              new Set(one.resources.map(([server, uri]) => Subscriptions.resourceKey(serverOf(server), uriOf(uri))))
            )
            continue
          }
          const key = Subscriptions.resourceKey(serverOf(one.server), uriOf(one.uri))
          const mine = model.get(one.session) ?? new Set<string>()
          if (one._tag === "subscribe") {
            // The endpoint does not add what a session already has (`subscribe` answers it at once).
            if (mine.has(key)) continue
            const served = { uri: servedOf(one.server, one.uri), qualified: "q" }
            if (Subscriptions.add(table, `session-${one.session}`, serverOf(one.server), uriOf(one.uri), served)) {
              tell(key, true)
            }
            mine.add(key)
          } else {
            if (Subscriptions.remove(table, `session-${one.session}`, key)) tell(key, false)
            mine.delete(key)
          }
          model.set(one.session, mine)
        }
        const wanted = new Set([...model.values()].flatMap((keys) => [...keys]))
        const subscribed = new Set([...upstream].filter(([, on]) => on).map(([key]) => key))
        expect(subscribed).toEqual(wanted)
        expect(new Set(table.resources.keys())).toEqual(wanted)
        for (const [key, watched] of table.resources) {
          const holders = [...model].filter(([, keys]) => keys.has(key)).map(([n]) => `session-${n}`)
          expect(new Set(watched.sessions.keys())).toEqual(new Set(holders))
        }
        // Every session ends: nothing is subscribed to upstream, and nothing is left of them.
        for (const n of model.keys()) {
          for (const last of Subscriptions.drop(table, `session-${n}`)) {
            tell(Subscriptions.resourceKey(last.server, last.uri), false)
          }
        }
        expect([...upstream.values()].filter((on) => on)).toEqual([])
        expect(table.resources.size).toBe(0)
        expect(table.sessions.size).toBe(0)
      }),
      { numRuns: 300 }
    )
  })

  it("a session that did not subscribe to a resource changes nothing when it unsubscribes or ends", () => {
    const table = Subscriptions.emptyTable()
    expect(Subscriptions.add(table, "a", "docs", "file:///doc.md", { uri: "file:///doc.md", qualified: "docs__doc" }))
      .toBe(true)
    expect(Subscriptions.remove(table, "b", Subscriptions.resourceKey("docs", "file:///doc.md"))).toBe(false)
    expect(Subscriptions.drop(table, "b")).toEqual([])
    expect(table.resources.get(Subscriptions.resourceKey("docs", "file:///doc.md"))?.sessions.size).toBe(1)
  })

  it.effect("a session's changes count for it alone: another session's read of the store is still taken", () =>
    Effect.gen(function*() {
      const subscriptions = yield* Subscriptions.make({
        locate: () => Effect.succeed(undefined),
        upstreams: [],
        publish: () => Effect.void
      })
      const asked = (session: string, method: Subscriptions.Asked["method"]) =>
        subscriptions.answer({
          session,
          path: "/mcp",
          rule: Allow.everything,
          method,
          uri: "mcp://docs/file:///doc.md",
          record: () => Effect.void
        })
      expect(subscriptions.version("a")).toBe(0)
      yield* asked("b", "resources/unsubscribe")
      yield* Effect.flip(asked("b", "resources/subscribe"))
      expect(subscriptions.version("b")).toBe(2)
      expect(subscriptions.version("a")).toBe(0)
      yield* asked("a", "resources/unsubscribe")
      expect(subscriptions.version("a")).toBe(3)
      // An end counts too: a read of the store made before it is not taken.
      yield* subscriptions.end("b")
      expect(subscriptions.version("b")).toBe(4)
      expect(subscriptions.version("a")).toBe(3)
    }).pipe(Effect.scoped))

  it("a session ended leaves no count behind, and a read made before its end or a change of it is not taken", () => {
    type Counted = { readonly _tag: "change" | "end" | "read"; readonly session: number }
    const counted: fc.Arbitrary<Counted> = fc.record({
      _tag: fc.constantFrom("change" as const, "end" as const, "read" as const),
      session: fc.integer({ min: 0, max: 3 })
    })
    fc.assert(
      fc.property(fc.array(counted, { maxLength: 60 }), (steps) => {
        const changes = Subscriptions.noChanges()
        // Each read made: its session, its version, and whether a change or end since concerns it (of it, or any
        // end); each session whose changes were counted since its end.
        const reads: Array<{ readonly session: string; readonly version: number; stale: boolean; ended: boolean }> = []
        const counting = new Set<string>()
        for (const one of steps) {
          const session = `session-${one.session}`
          if (one._tag === "read") {
            reads.push({ session, version: changes.versionOf(session), stale: false, ended: false })
            continue
          }
          if (one._tag === "change") {
            changes.changed(session)
            counting.add(session)
          } else {
            changes.ended(session)
            counting.delete(session)
          }
          for (const read of reads) {
            if (read.session === session) read.stale = true
            if (one._tag === "end") read.ended = true
          }
          for (const read of reads) {
            const taken = read.version === changes.versionOf(read.session)
            // Never taken after a change or end of its session; always taken when no change of it and no end came.
            if (read.stale) expect(taken).toBe(false)
            if (!read.stale && !read.ended) expect(taken).toBe(true)
          }
          expect(new Set(changes.latest.keys())).toEqual(counting)
        }
      }),
      { numRuns: 300 }
    )
  })
})
