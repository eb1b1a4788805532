/**
 * Resource subscriptions through the gateway, with the official SDK on both sides: its server (a session per client,
 * `resources.subscribe`) upstream, its clients on `/mcp` and `/mcp/<server>`. A session that subscribes is told the
 * upstream's changes of that resource, under the URI it subscribed by, and no other session is; the upstream is
 * subscribed once for every session, and unsubscribed when the last one unsubscribes or ends (`DELETE`); a resource
 * the key may not read is refused as one that does not exist, through overlapping templates by the one its read goes
 * through; an upstream without the capability is named; a subscription survives the upstream forgetting the gateway's
 * session (it is subscribed again). A template whose path the router refuses is left out, not the server's others; at
 * `/mcp` a URI that does not say its server is read and subscribed to as one that does not exist.
 */
import { expect, it } from "@effect/vitest"
import type { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import * as Effect from "effect/Effect"
import * as Simulator from "../../src/simulator/Simulator.js"
import { gatewayOn, providerKey } from "../utils/adminApi.js"
import { eventually } from "../utils/eventually.js"
import { mcpPost } from "../utils/mcpRaw.js"
import { listening as listeningWith, subscribe, tellUntil, unsubscribe } from "../utils/mcpSubscribing.js"
import { subscribableServer } from "../utils/mcpUpstreams.js"

const agentKey = "gw-mcp-subscriptions-agent-41c7e2d9"

// A key that may read `docs`' doc and other (not its secret) and everything of `plain`.
const gateway = { keys: [{ name: "agent", key: agentKey, tools: ["docs__doc", "docs__other", "plain__*"] }] }

// A gateway (on the simulator) in front of `docs` (takes subscriptions) and `plain` (does not), for the scope's life.
const subscribing = Effect.gen(function*() {
  const docs = yield* subscribableServer("docs", true)
  const plain = yield* subscribableServer("plain", false)
  const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
  const served = yield* gatewayOn(simulator, undefined, {
    mcp_servers: { docs: { url: docs.url }, plain: { url: plain.url } },
    gateway
  })
  return { docs, plain, url: served.url }
})

// An official SDK client of `url` with the agent's key, for the scope's life: the URIs it has been told changed.
const listening = (url: string) => listeningWith(url, agentKey)

// The JSON-RPC error `attempt` fails with: its code and message.
const rpcError = (attempt: () => Promise<unknown>) =>
  Effect.promise(() =>
    attempt().then(
      () => ({ code: 0, message: "no error" }),
      (error: { readonly code: number; readonly message: string }) => ({ code: error.code, message: error.message })
    )
  )

it.live(
  "a subscribed session is told the upstream's change of its resource, another session is not; unsubscribing stops it",
  () =>
    Effect.gen(function*() {
      const { docs, url } = yield* subscribing
      const a = yield* listening(`${url}/mcp`)
      const b = yield* listening(`${url}/mcp`)
      yield* subscribe(a.client, "mcp://docs/file:///doc.md")
      yield* subscribe(b.client, "mcp://docs/file:///other.md")
      expect(docs.subscribes).toEqual(["file:///doc.md", "file:///other.md"])

      // doc is told before other each time, on one stream: once `b` has other, `a` has been told doc.
      yield* tellUntil(docs, ["file:///doc.md", "file:///other.md"], () => b.updated.length > 0)
      yield* eventually("a told", Effect.sync(() => a.updated.length), (n) => n > 0)
      expect(new Set(a.updated)).toEqual(new Set(["mcp://docs/file:///doc.md"]))
      expect(new Set(b.updated)).toEqual(new Set(["mcp://docs/file:///other.md"]))

      yield* unsubscribe(a.client, "mcp://docs/file:///doc.md")
      expect(docs.unsubscribes).toEqual(["file:///doc.md"])
      yield* subscribe(a.client, "mcp://docs/file:///other.md")
      a.updated.length = 0
      yield* tellUntil(docs, ["file:///doc.md", "file:///other.md"], () => a.updated.length > 0)
      expect(new Set(a.updated)).toEqual(new Set(["mcp://docs/file:///other.md"]))
      // `other` was subscribed to upstream once, for both sessions.
      expect(docs.subscribes).toEqual(["file:///doc.md", "file:///other.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "two sessions on /mcp and /mcp/docs: one upstream subscription, each told under its own URI, released after both",
  () =>
    Effect.gen(function*() {
      const { docs, url } = yield* subscribing
      const a = yield* listening(`${url}/mcp`)
      const b = yield* listening(`${url}/mcp/docs`)
      yield* subscribe(a.client, "mcp://docs/file:///doc.md")
      yield* subscribe(b.client, "file:///doc.md")
      expect(docs.subscribes).toEqual(["file:///doc.md"])

      yield* tellUntil(docs, ["file:///doc.md"], () => a.updated.length > 0 && b.updated.length > 0)
      expect(new Set(a.updated)).toEqual(new Set(["mcp://docs/file:///doc.md"]))
      expect(new Set(b.updated)).toEqual(new Set(["file:///doc.md"]))

      yield* unsubscribe(a.client, "mcp://docs/file:///doc.md")
      expect(docs.unsubscribes).toEqual([])
      // `b`'s session ends (its client deletes it): the last subscriber gone, the upstream is unsubscribed.
      yield* Effect.promise(() => (b.client.transport as StreamableHTTPClientTransport).terminateSession())
      expect(docs.unsubscribes).toEqual(["file:///doc.md"])
      // Subscribed again: a fresh upstream subscription.
      yield* subscribe(a.client, "mcp://docs/file:///doc.md")
      expect(docs.subscribes).toEqual(["file:///doc.md", "file:///doc.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "a resource the key may not read is refused as one that does not exist; an upstream without subscribe is named",
  () =>
    Effect.gen(function*() {
      const { docs, url } = yield* subscribing
      const { client } = yield* listening(`${url}/mcp`)
      const hidden = yield* rpcError(() => client.subscribeResource({ uri: "mcp://docs/file:///secret.md" }))
      const absent = yield* rpcError(() => client.subscribeResource({ uri: "mcp://docs/file:///absent.md" }))
      const read = yield* rpcError(() => client.readResource({ uri: "mcp://docs/file:///secret.md" }))
      expect(hidden).toEqual({
        code: -32002,
        message: "MCP error -32002: Resource 'mcp://docs/file:///secret.md' not found"
      })
      expect(absent).toEqual({
        code: -32002,
        message: "MCP error -32002: Resource 'mcp://docs/file:///absent.md' not found"
      })
      // The read of it gives the same error.
      expect(read).toEqual(hidden)
      expect(docs.subscribes).toEqual([])

      const plain = yield* rpcError(() => client.subscribeResource({ uri: "mcp://plain/file:///doc.md" }))
      expect(plain.code).toBe(-32601)
      expect(plain.message).toContain("The MCP server `plain` does not take resource subscriptions")
      expect(plain.message).toContain("resources.subscribe")
      // Its resources are read as ever.
      const contents = yield* Effect.promise(() => client.readResource({ uri: "mcp://plain/file:///doc.md" }))
      expect(contents.contents).toEqual([
        { uri: "mcp://plain/file:///doc.md", mimeType: "text/plain", text: "contents of file:///doc.md" }
      ])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "a subscription its server does not answer fails past the server's call_timeout, and the next one is taken",
  () =>
    Effect.gen(function*() {
      const docs = yield* subscribableServer("docs", true, { hangs: "file:///other.md" })
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const { url } = yield* gatewayOn(simulator, undefined, {
        mcp_servers: { docs: { url: docs.url, call_timeout: "1 second" } },
        gateway
      })
      const { client } = yield* listening(`${url}/mcp`)
      const hung = yield* rpcError(() => client.subscribeResource({ uri: "mcp://docs/file:///other.md" }))
      expect(hung.code).toBe(-32603)
      expect(hung.message).toContain("The MCP server `docs` failed this request")
      expect(hung.message).toContain("resources/subscribe")
      // The subscriptions are not held up by it.
      yield* subscribe(client, "mcp://docs/file:///doc.md")
      expect(docs.subscribes).toEqual(["file:///other.md", "file:///doc.md"])
    }).pipe(Effect.scoped),
  { timeout: 30_000 }
)

it.live(
  "the gateway advertises resources.subscribe to a session; a stateless request is told it needs one",
  () =>
    Effect.gen(function*() {
      const { url } = yield* subscribing
      const { client } = yield* listening(`${url}/mcp`)
      expect(client.getServerCapabilities()?.resources?.subscribe).toBe(true)
      const stateless = yield* mcpPost(`${url}/mcp`, agentKey, {
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "resources/subscribe"
      }, { id: 7, method: "resources/subscribe", params: { uri: "mcp://docs/file:///doc.md" } })
      expect(stateless.status).toBe(200)
      const error = (stateless.body as { readonly error?: { readonly code: number; readonly message: string } }).error
      expect(error?.code).toBe(-32601)
      expect(error?.message).toContain("the stateless 2026-07-28 revision has none")
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "an upstream that forgets the gateway's session is subscribed again, and its changes still told",
  () =>
    Effect.gen(function*() {
      const { docs, url } = yield* subscribing
      const a = yield* listening(`${url}/mcp`)
      yield* subscribe(a.client, "mcp://docs/file:///doc.md")
      docs.forget()
      // The gateway's next request meets a 404, opens a new session, and subscribes on it.
      yield* Effect.promise(() => a.client.readResource({ uri: "mcp://docs/file:///other.md" }))
      yield* eventually("subscribed again", Effect.sync(() => docs.subscribes), (uris) => uris.length === 2)
      expect(docs.subscribes).toEqual(["file:///doc.md", "file:///doc.md"])
      yield* tellUntil(docs, ["file:///doc.md"], () => a.updated.length > 0)
      expect(new Set(a.updated)).toEqual(new Set(["mcp://docs/file:///doc.md"]))
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "through overlapping templates a key subscribes to what it may read, by the template the read goes through",
  () =>
    Effect.gen(function*() {
      // `logs` is listed before the wider `files`, so a read of a URI both match goes through `logs`; the router
      // ignores a trailing slash, so `…/a.md/` is one of `logs`' URIs too.
      const docs = yield* subscribableServer("docs", true, {
        templates: [{ uriTemplate: "file:///logs/{name}", name: "logs" }, {
          uriTemplate: "file:///{+path}",
          name: "files"
        }]
      })
      const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
      const keys = { logs: "gw-mcp-subscriptions-logs-5d20a7c3", files: "gw-mcp-subscriptions-files-8e61b4f0" }
      const { url } = yield* gatewayOn(simulator, undefined, {
        mcp_servers: { docs: { url: docs.url } },
        gateway: {
          keys: [{ name: "logs", key: keys.logs, tools: ["docs__logs"] }, {
            name: "files",
            key: keys.files,
            tools: ["docs__files"]
          }]
        }
      })
      const own = ["file:///logs/a.md", "file:///logs/a.md/", "file:///b.md"]
      // Whether the key's session at `path` may read, and may subscribe to, each of `uris`: not found, or done.
      const outcomes = (key: string, path: string, uris: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const { client } = yield* listeningWith(`${url}${path}`, key)
          return yield* Effect.forEach(uris, (uri) =>
            Effect.all({
              read: rpcError(() => client.readResource({ uri })).pipe(Effect.map((error) => error.code)),
              subscribe: rpcError(() => client.subscribeResource({ uri })).pipe(Effect.map((error) => error.code))
            }))
        })
      const done = { read: 0, subscribe: 0 }
      const refused = { read: -32002, subscribe: -32002 }
      for (const [path, uris] of [["/mcp", own.map((uri) => `mcp://docs/${uri}`)], ["/mcp/docs", own]] as const) {
        expect(yield* outcomes(keys.logs, path, uris), `logs at ${path}`).toEqual([done, done, refused])
        expect(yield* outcomes(keys.files, path, uris), `files at ${path}`).toEqual([refused, refused, done])
      }
      expect(docs.subscribes).toEqual(["file:///logs/a.md", "file:///logs/a.md/", "file:///b.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

// A gateway in front of `docs` listing `templates`, with a key that may read all of it, for the scope's life.
const templated = (templates: ReadonlyArray<{ readonly uriTemplate: string; readonly name: string }>) =>
  Effect.gen(function*() {
    const docs = yield* subscribableServer("docs", true, { templates })
    const simulator = yield* Simulator.make({ apiKeys: [providerKey] })
    const key = "gw-mcp-subscriptions-all-2b9e64d1"
    const { url } = yield* gatewayOn(simulator, undefined, {
      mcp_servers: { docs: { url: docs.url } },
      gateway: { keys: [{ name: "all", key, tools: ["docs__*"] }] }
    })
    return { docs, url, key }
  })

it.live(
  "a template whose path the gateway's router refuses is left out, and the server's templates after it are served",
  () =>
    Effect.gen(function*() {
      // An unclosed `(` after a variable: find-my-way refuses the path.
      const { docs, key, url } = yield* templated([{ uriTemplate: "file:///{name}(draft", name: "drafts" }, {
        uriTemplate: "file:///notes/{name}",
        name: "notes"
      }])
      for (const [path, prefix] of [["/mcp", "mcp://docs/"], ["/mcp/docs", ""]] as const) {
        const { client } = yield* listeningWith(`${url}${path}`, key)
        const listed = yield* Effect.promise(() => client.listResourceTemplates())
        expect(listed.resourceTemplates.map((one) => one.uriTemplate), path).toEqual([`${prefix}file:///notes/{name}`])
        const read = yield* Effect.promise(() => client.readResource({ uri: `${prefix}file:///notes/a.md` }))
        expect(read.contents).toEqual([
          { uri: `${prefix}file:///notes/a.md`, mimeType: "text/plain", text: "contents of file:///notes/a.md" }
        ])
        yield* subscribe(client, `${prefix}file:///notes/a.md`)
      }
      expect(docs.subscribes).toEqual(["file:///notes/a.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)

it.live(
  "at /mcp a URI that does not say its server (mcp:/docs/...) is read and subscribed to as one that does not exist",
  () =>
    Effect.gen(function*() {
      const { docs, key, url } = yield* templated([{ uriTemplate: "file:///notes/{name}", name: "notes" }])
      const { client } = yield* listeningWith(`${url}/mcp`, key)
      // The router `McpServer` reads through ignores repeated slashes: this matches `mcp://docs/file:///notes/{name}`.
      const uri = "mcp:/docs/file:///notes/a.md"
      const notFound = { code: -32002, message: `MCP error -32002: Resource '${uri}' not found` }
      expect(yield* rpcError(() => client.readResource({ uri }))).toEqual(notFound)
      expect(yield* rpcError(() => client.subscribeResource({ uri }))).toEqual(notFound)
      expect(docs.subscribes).toEqual([])
      // The URI that says it is read.
      const read = yield* Effect.promise(() => client.readResource({ uri: "mcp://docs/file:///notes/a.md" }))
      expect(read.contents.map((content) => content.uri)).toEqual(["mcp://docs/file:///notes/a.md"])
    }).pipe(Effect.scoped),
  { timeout: 90_000 }
)
