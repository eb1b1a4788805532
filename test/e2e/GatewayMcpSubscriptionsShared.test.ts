/**
 * Resource subscriptions kept with the session, so that they outlive a reload and follow the session to another
 * instance, with the official SDK on both sides (its server upstream, its client on `/mcp`): a subscription survives a
 * reload (the new configuration subscribes upstream again, tells the session it changed, as it cannot know what it
 * missed, and tells it the upstream's change); two gateway instances on one SQLite file behind a balancer: subscribed
 * on A, the session goes on at B (its requests and its standalone stream), and with A stopped a change told upstream
 * reaches the client through B; a session deleted at A is unknown at B (which lets go of its upstream subscription)
 * and at A, before and after a reload; a session deleted at A that B holds is let go of at B's sweep (every 200 ms
 * here) with no request to B, its upstream subscription released; a stdio server that exits after the subscription is
 * subscribed again once restarted, and its changes told; a resource read through a template subscribed to as the
 * template allows.
 */
import { expect, it } from "@effect/vitest"
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { identity } from "effect/Function"
import * as Scope from "effect/Scope"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as Sessions from "../../src/internal/gateway/mcp/sessions.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { gatewayOn, providerKey, temporaryDirectory } from "../utils/adminApi.js"
import { balancer } from "../utils/balancer.js"
import { eventually } from "../utils/eventually.js"
import { mcpPost } from "../utils/mcpRaw.js"
import { listening, subscribe, tellUntil, unsubscribe } from "../utils/mcpSubscribing.js"
import { subscribableServer, subscribingStdioServer } from "../utils/mcpUpstreams.js"

const agentKey = "gw-mcp-subscriptions-shared-agent-5d1e"

const doc = "mcp://docs/file:///doc.md"

// A file with `docs` (which takes subscriptions) served, and a key that may read its doc.
const servedDocs = (url: string) => ({
  mcp_servers: { docs: { url } },
  gateway: { keys: [{ name: "agent", key: agentKey, tools: ["docs__doc", "docs__other", "docs__notes"] }] }
})

// A `resources/read` of `uri` in the session `session`, sent to `url`'s `/mcp` without an SDK: its status.
const readIn = (url: string, session: string, uri: string) =>
  Effect.map(
    mcpPost(`${url}/mcp`, agentKey, { "mcp-session-id": session }, {
      id: 9,
      method: "resources/read",
      params: { uri }
    }),
    (answered) => answered.status
  )

it.live(
  "a subscription survives a reload: the new configuration subscribes upstream again, and the session is told",
  () =>
    Effect.gen(function*() {
      const docs = yield* subscribableServer("docs", true)
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* gatewayOn(simulator, undefined, servedDocs(docs.url))
      const a = yield* listening(`${gateway.url}/mcp`, agentKey)
      yield* subscribe(a.client, doc)
      expect(docs.subscribes).toEqual(["file:///doc.md"])

      yield* gateway.reload
      // The session's next request (its stream opened again, or this read) is answered by the new configuration,
      // which takes its subscription: subscribed upstream on its own connection.
      yield* Effect.promise(() => a.client.readResource({ uri: "mcp://docs/file:///other.md" }))
      expect(docs.subscribes).toEqual(["file:///doc.md", "file:///doc.md"])
      // Taken, it is told as changed once (what changed before the reload is not known), the upstream telling nothing.
      yield* eventually("told on taking it", Effect.sync(() => [...a.updated]), (told) => told.length > 0)
      expect(new Set(a.updated)).toEqual(new Set([doc]))
      a.updated.length = 0
      yield* tellUntil(docs, ["file:///doc.md"], () => a.updated.length > 0)
      expect(new Set(a.updated)).toEqual(new Set([doc]))

      // Unsubscribed after the reload: the new configuration's upstream subscription is released.
      yield* unsubscribe(a.client, doc)
      expect(docs.unsubscribes).toEqual(["file:///doc.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

// Two instances (A in `aScope`, to stop it while B goes on) on one SQLite file, in front of `docs`, behind a balancer,
// B looking over the sessions it holds every `bSweepsEvery` when given (else every minute); a client's session
// subscribed at A, then going on at B, which starts it from the database and takes its subscription: each instance
// subscribed upstream for it.
const subscribedAtAThenAtB = (aScope: Scope.Scope, bSweepsEvery?: Duration.Duration) =>
  Effect.gen(function*() {
    const docs = yield* subscribableServer("docs", true)
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const database = { sqlite: join(yield* temporaryDirectory("mcp-subscriptions-shared-"), "gateway.db") }
    const instanceA = yield* gatewayOn(simulator, database, servedDocs(docs.url)).pipe(Scope.provide(aScope))
    const instanceB = yield* gatewayOn(simulator, database, servedDocs(docs.url)).pipe(
      bSweepsEvery === undefined ? identity : Effect.provideService(Sessions.SweepEvery, bSweepsEvery)
    )
    const balanced = yield* balancer([instanceA.url, instanceB.url])

    balanced.to(0)
    const a = yield* listening(`${balanced.url}/mcp`, agentKey)
    yield* subscribe(a.client, doc)
    expect(docs.subscribes).toEqual(["file:///doc.md"])
    balanced.to(1)
    yield* Effect.promise(() => a.client.readResource({ uri: "mcp://docs/file:///other.md" }))
    expect(docs.subscribes).toEqual(["file:///doc.md", "file:///doc.md"])
    expect(balanced.sessionRequests[1]).toBeGreaterThan(0)
    return { docs, instanceA, instanceB, balanced, a }
  })

it.live(
  "two instances on one database: subscribed at A, the session goes on at B, which tells it the change with A stopped",
  () =>
    Effect.gen(function*() {
      // A in a scope of its own, to stop it while B goes on.
      const aScope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(aScope, Exit.void))
      const { a, docs } = yield* subscribedAtAThenAtB(aScope)

      // A stops: the client's stream opens again at B, and the change told upstream reaches it through B only.
      yield* Scope.close(aScope, Exit.void)
      // Its stream, opened again at B, tells it the subscription changed (B cannot replay what A told), the upstream
      // telling nothing; then the upstream's change reaches it through B.
      yield* eventually("told at B", Effect.sync(() => [...a.updated]), (told) => told.length > 0, {
        within: "30 seconds",
        every: "100 millis"
      })
      expect(new Set(a.updated)).toEqual(new Set([doc]))
      a.updated.length = 0
      yield* tellUntil(docs, ["file:///doc.md"], () => a.updated.length > 0)
      expect(new Set(a.updated)).toEqual(new Set([doc]))
    }).pipe(Effect.scoped),
  { timeout: 120_000 }
)

it.live(
  "a session deleted at A is unknown at B, which lets go of its subscription, and at A, before and after a reload",
  () =>
    Effect.gen(function*() {
      const { a, balanced, docs, instanceA, instanceB } = yield* subscribedAtAThenAtB(yield* Effect.scope)
      const transport = a.client.transport as StreamableHTTPClientTransport
      const session = transport.sessionId!
      // Both instances hold the session, each subscribed upstream for it.

      balanced.to(0)
      yield* Effect.promise(() => transport.terminateSession())
      expect(docs.unsubscribes).toEqual(["file:///doc.md"])
      // B no longer answers it, and lets go of what it held for it: its upstream subscription released.
      expect(yield* readIn(instanceB.url, session, "mcp://docs/file:///doc.md")).toBe(404)
      yield* eventually("released at B", Effect.sync(() => docs.unsubscribes.length), (n) => n === 2)
      expect(yield* readIn(instanceA.url, session, "mcp://docs/file:///doc.md")).toBe(404)
      // Nor is it started again from the database after a reload, at either.
      yield* instanceA.reload
      yield* instanceB.reload
      expect(yield* readIn(instanceA.url, session, "mcp://docs/file:///doc.md")).toBe(404)
      expect(yield* readIn(instanceB.url, session, "mcp://docs/file:///doc.md")).toBe(404)
      expect(docs.subscribes).toEqual(["file:///doc.md", "file:///doc.md"])
    }).pipe(Effect.scoped),
  { timeout: 120_000 }
)

it.live(
  "a session deleted at A that B holds is let go of at B's sweep, with no request to B: its subscription released",
  () =>
    Effect.gen(function*() {
      const { a, balanced, docs } = yield* subscribedAtAThenAtB(yield* Effect.scope, Duration.millis(200))
      const transport = a.client.transport as StreamableHTTPClientTransport
      balanced.to(0)
      const sentToB = balanced.sessionRequests[1]
      yield* Effect.promise(() => transport.terminateSession())
      expect(docs.unsubscribes).toEqual(["file:///doc.md"])
      // Nothing names the session at B again: its sweep finds it no longer recorded, and releases its subscription.
      yield* eventually("released at B's sweep", Effect.sync(() => docs.unsubscribes.length), (n) => n === 2)
      expect(docs.unsubscribes).toEqual(["file:///doc.md", "file:///doc.md"])
      expect(balanced.sessionRequests[1]).toBe(sentToB)
    }).pipe(Effect.scoped),
  { timeout: 120_000 }
)

it.live(
  "a stdio server that exits after the subscription is subscribed again once restarted, and its changes told",
  () =>
    Effect.gen(function*() {
      const log = join(yield* temporaryDirectory("mcp-subscriptions-stdio-"), "subscribed.log")
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* gatewayOn(simulator, undefined, {
        mcp_servers: { docs: subscribingStdioServer(log) },
        gateway: { keys: [{ name: "agent", key: agentKey, tools: ["docs__doc"] }] }
      })
      const a = yield* listening(`${gateway.url}/mcp`, agentKey)
      yield* subscribe(a.client, doc)
      // Its first process exits; the restarted one is subscribed to the resource again, and tells its changes.
      const lines = yield* eventually(
        "subscribed again",
        Effect.sync(() => existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : []),
        (subscribed) => subscribed.length >= 2,
        { within: "30 seconds", every: "100 millis" }
      )
      const [before, after] = lines.map((line) => line.split(" "))
      expect(before![1]).toBe("file:///doc.md")
      expect(after![1]).toBe("file:///doc.md")
      expect(after![0]).not.toBe(before![0])
      yield* eventually("told", Effect.sync(() => [...a.updated]), (told) => told.length > 0, {
        within: "30 seconds",
        every: "100 millis"
      })
      expect(new Set(a.updated)).toEqual(new Set([doc]))
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "a resource read through a template is subscribed to as the template allows, and its changes told",
  () =>
    Effect.gen(function*() {
      const docs = yield* subscribableServer("docs", true)
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const gateway = yield* gatewayOn(simulator, undefined, servedDocs(docs.url))
      const a = yield* listening(`${gateway.url}/mcp`, agentKey)
      yield* subscribe(a.client, "mcp://docs/file:///notes/a.md")
      expect(docs.subscribes).toEqual(["file:///notes/a.md"])
      yield* tellUntil(docs, ["file:///notes/a.md"], () => a.updated.length > 0)
      expect(new Set(a.updated)).toEqual(new Set(["mcp://docs/file:///notes/a.md"]))
      // A URI no template matches (one segment only) is refused as a resource that does not exist.
      const refused = yield* Effect.promise(() =>
        a.client.subscribeResource({ uri: "mcp://docs/file:///notes/a/b.md" }).then(
          () => 0,
          (error: { readonly code: number }) => error.code
        )
      )
      expect(refused).toBe(-32002)
      expect(docs.subscribes).toEqual(["file:///notes/a.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)
