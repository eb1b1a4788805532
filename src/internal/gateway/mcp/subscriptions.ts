/**
 * Resource subscriptions of one configuration's 2025-11-25 sessions, passed to the upstreams that have the resources.
 * `McpServer` takes no subscription over HTTP, so the endpoint answers `resources/subscribe` and `unsubscribe` itself.
 * A session's subscriptions are recorded with it in the shared store (`sessions.ts`); each instance subscribes upstream
 * for the sessions it holds, taking a session's recorded subscriptions at each request of it (`take`). A resource is
 * subscribed to upstream once per instance however many sessions subscribe (`Table`), unsubscribed with the last, and
 * subscribed again on each new connection to its server. A change the server tells goes only to the sessions
 * subscribed, under the URI each subscribed by (`resources.ts`), on its standalone stream (`standalone.ts`). A session
 * may subscribe only to what it may read; anything else is answered as what does not exist.
 */
import * as McpSchema from "effect/ai/McpSchema"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { isJsonObject, parseJsonObject } from "../../json.js"
import { keptIn } from "../../keptIn.js"
import type * as Allow from "../access/tools.js"
import * as Resources from "./resources.js"
import { failed } from "./rpc.js"
import type * as Standalone from "./standalone.js"
import * as Tapped from "./tapped.js"
import type * as Upstreams from "./upstream.js"

/** What a session subscribed to a resource by: the URI its endpoint serves it as, and its qualified name. */
export interface Subscribed {
  readonly uri: string
  readonly qualified: string
}

/** An upstream resource with the sessions subscribed to it (by the id their endpoint gave them). */
interface Watched {
  readonly server: string
  readonly uri: string
  readonly sessions: Map<string, Subscribed>
}

/**
 * Who subscribes to what: each upstream resource (by `resourceKey`) with its sessions, and each session's resources.
 * A resource is in it while some session subscribes to it, which is while it is subscribed to upstream.
 */
export interface Table {
  readonly resources: Map<string, Watched>
  readonly sessions: Map<string, Set<string>>
}

export function emptyTable(): Table {
  return { resources: new Map(), sessions: new Map() }
}

/** The key of the resource `uri` (its own URI) of `server`. */
export function resourceKey(server: string, uri: string): string {
  return `${server}\u0000${uri}`
}

/**
 * Notes that `session` subscribes to `uri` of `server` by `subscribed`: whether the resource had no session before
 * (it is to be subscribed to upstream).
 */
export function add(table: Table, session: string, server: string, uri: string, subscribed: Subscribed): boolean {
  const key = resourceKey(server, uri)
  const first = !table.resources.has(key)
  keptIn(table.resources, key, () => ({ server, uri, sessions: new Map() })).sessions.set(session, subscribed)
  keptIn(table.sessions, session, () => new Set<string>()).add(key)
  return first
}

/**
 * Notes that `session` no longer subscribes to the resource of `key`: whether it was the resource's last session (it
 * is to be unsubscribed from upstream). A session that did not subscribe to it changes nothing.
 */
export function remove(table: Table, session: string, key: string): boolean {
  const watched = table.resources.get(key)
  if (watched === undefined || !watched.sessions.delete(session)) return false
  const keys = table.sessions.get(session)
  keys?.delete(key)
  if (keys?.size === 0) table.sessions.delete(session)
  if (watched.sessions.size > 0) return false
  table.resources.delete(key)
  return true
}

/** Drops every subscription of `session` (it ended): the resources of which it was the last session. */
export function drop(table: Table, session: string): ReadonlyArray<{ readonly server: string; readonly uri: string }> {
  const last: Array<{ readonly server: string; readonly uri: string }> = []
  for (const key of [...table.sessions.get(session) ?? []]) {
    const watched = table.resources.get(key)!
    if (remove(table, session, key)) last.push({ server: watched.server, uri: watched.uri })
  }
  return last
}

/** The keys of what `session` subscribes to in `table` that `uris` (as it subscribed by them) no longer holds. */
export function stale(table: Table, session: string, uris: ReadonlyArray<string>): ReadonlyArray<string> {
  return [...table.sessions.get(session) ?? []].filter((key) =>
    !uris.includes(table.resources.get(key)!.sessions.get(session)!.uri)
  )
}

/** What of `uris` (URIs as `session` subscribes by them) `session` does not subscribe to in `table`. */
export function missing(table: Table, session: string, uris: ReadonlyArray<string>): ReadonlyArray<string> {
  const has = new Set(subscribedIn(table, session))
  return uris.filter((uri) => !has.has(uri))
}

/** The URIs `session` subscribes to in `table`, as it subscribed by them. */
export function subscribedIn(table: Table, session: string): ReadonlyArray<string> {
  return [...table.sessions.get(session) ?? []].map((key) => table.resources.get(key)!.sessions.get(session)!.uri)
}

/**
 * The changes of the sessions' subscriptions, counted so that a read of the store made before a change of its session
 * is not taken: one count raised by every change and end, each session's latest change, and the count at the latest
 * end, which stands for every session without an entry (an ended session's entry is forgotten, so nothing of it is
 * kept; a read made before another session's end is not taken, and its next request takes it).
 */
export interface Changes {
  /** The version of `session`'s subscriptions: a read stamped with it is not taken once it is another. */
  readonly versionOf: (session: string) => number
  /** Counts a change of `session`'s subscriptions. */
  readonly changed: (session: string) => void
  /** Counts the end of `session`, and forgets its entry. */
  readonly ended: (session: string) => void
  /** Each session's latest change: the sessions with an entry. */
  readonly latest: ReadonlyMap<string, number>
}

export function noChanges(): Changes {
  let count = 0
  let ended = 0
  const latest = new Map<string, number>()
  return {
    versionOf: (session) => latest.get(session) ?? ended,
    changed: (session) => {
      count += 1
      latest.set(session, count)
    },
    ended: (session) => {
      count += 1
      latest.delete(session)
      ended = count
    },
    latest
  }
}

/** What the store records a session subscribes to, read when the session's subscriptions here were at `version`. */
export interface Read {
  readonly uris: ReadonlyArray<string>
  readonly version: number
}

/** The session a request names, by the id its client holds (`sessions.ts`), and its subscriptions as recorded. */
export interface Named {
  readonly id: string
  /** What the store records it subscribes to; `undefined` when that is not known (those held here are kept). */
  readonly recorded: Read | undefined
  /** Records that it subscribes to `uri` (`true`), or no longer does. */
  readonly record: (uri: string, subscribed: boolean) => Effect.Effect<void>
}

/** The resource a served URI names: its server's connection, its own URI, and its qualified name. */
export interface Located {
  readonly upstream: Upstreams.Upstream
  readonly uri: string
  readonly qualified: string
}

/** A client's `resources/subscribe` or `resources/unsubscribe` in a session of the endpoint at `path`. */
export interface Asked {
  readonly session: string
  readonly path: string
  /** Its key's rule. */
  readonly rule: Allow.Rule
  readonly method: (typeof methods)[number]
  /** The URI as the endpoint serves it. */
  readonly uri: string
  /** Records that the session subscribes to `uri` (`true`), or no longer does, once it is answered (`Named.record`). */
  readonly record: Named["record"]
}

/** The methods the endpoint answers through the subscriptions. */
export const methods = ["resources/subscribe", "resources/unsubscribe"] as const

/** Why a subscription is refused: the JSON-RPC error its client is answered with. */
export class RpcError extends Data.TaggedError("McpRpcError")<{ readonly code: number; readonly message: string }> {}

/** What the subscriptions need of the endpoints they serve. */
export interface Serving {
  /**
   * The resource the served `uri` names at `path` when `rule` may read it (served and pinned, as `resources/read`
   * finds it); none for one it may not, as for one there is not.
   */
  readonly locate: (path: string, uri: string, rule: Allow.Rule) => Effect.Effect<Located | undefined>
  /** The servers, each followed for its resources' changes and its new connections. */
  readonly upstreams: ReadonlyArray<Upstreams.Upstream>
  /** Tells the sessions a change concerns, on their standalone streams (`standalone.ts`). */
  readonly publish: (change: Standalone.Updated) => Effect.Effect<void>
}

/** The subscriptions of one configuration's sessions. */
export interface Subscriptions {
  /** Takes `asked` (its client answered `{}`), or why not. */
  readonly answer: (asked: Asked) => Effect.Effect<void, RpcError>
  /**
   * Makes what `session` subscribes to here what the store records (`recorded`): each it lacks subscribed to while
   * `rule` may still read it, each no longer recorded dropped; nothing when its subscriptions here changed since the
   * read (its next request takes it). Gives those it took.
   */
  readonly take: (
    session: string,
    path: string,
    rule: Allow.Rule,
    recorded: Read
  ) => Effect.Effect<ReadonlyArray<Subscribed>>
  /**
   * Tells `session` that each of `taken` (what `take` took for it) changed, on its standalone stream: what changed
   * before it was taken here (told at another instance, or to the configuration a reload replaced) is not known here,
   * so its client reads it again. A stream opening as they are taken tells them itself (`Standalone.Subscriber`).
   */
  readonly tell: (session: string, taken: ReadonlyArray<Subscribed>) => Effect.Effect<void>
  /**
   * The version of the subscriptions of `session` here (`Changes`): a read of the store is as new as the version it
   * was made at. Another session's changes leave it alone (its end, only a session with no change counted here), so
   * sessions' takes do not cancel each other's.
   */
  readonly version: (session: string) => number
  /** Drops the subscriptions of `session`, which ended (its client deleted it, or it is let go of here). */
  readonly end: (session: string) => Effect.Effect<void>
  /** The URIs `session` subscribes to, as it subscribed by them. */
  readonly subscribedBy: (session: string) => ReadonlyArray<string>
}

/**
 * The code `McpServer` answers a read of a resource it does not serve with (in the sessionful revisions), which a
 * subscription to one a session may not read is answered with too.
 */
export const resourceNotFoundCode = -32002

/** The code of a subscription its server cannot take: as of a method a server does not have. */
export const unsupportedCode = McpSchema.METHOD_NOT_FOUND_ERROR_CODE

const Empty = Schema.Struct({})

function notFound(uri: string) {
  return new RpcError({ code: resourceNotFoundCode, message: `Resource '${uri}' not found` })
}

function unsupported(server: string) {
  return new RpcError({
    code: unsupportedCode,
    message: `The MCP server \`${server}\` does not take resource subscriptions (it does not advertise ` +
      "resources.subscribe, or the gateway speaks to it in the stateless 2026-07-28 revision)"
  })
}

/** The subscriptions of the endpoints `serving` describes, their upstreams followed for the scope's life. */
export const make = Effect.fnUntraced(function*(serving: Serving) {
  const table = emptyTable()
  // One change of the table (and the upstream's subscribe or unsubscribe it calls for) at a time, each counted for its
  // session (its end too, which forgets its count: a read made before it is not taken).
  const lock = yield* Semaphore.make(1)
  const changes = noChanges()
  const counted = (session: string) => Effect.sync(() => changes.changed(session))
  const changing = <A, E>(session: string, change: Effect.Effect<A, E>) =>
    lock.withPermit(Effect.ensuring(change, counted(session)))
  const byName = new Map(serving.upstreams.map((upstream) => [upstream.name, upstream]))

  const upstreamAsk = (upstream: Upstreams.Upstream, method: Asked["method"], uri: string) =>
    upstream.request(method, { uri }, Empty)

  // The resource's last session gone: unsubscribed from upstream; a failure is logged (the session is unsubscribed
  // whatever the server says).
  const release = (server: string, uri: string) => {
    const upstream = byName.get(server)
    if (upstream === undefined) return Effect.void
    return upstreamAsk(upstream, "resources/unsubscribe", uri).pipe(
      Effect.asVoid,
      Effect.catch((error) =>
        Effect.logWarning(
          `Gateway: the MCP server ${server} could not be unsubscribed from a resource (${error.message})`
        )
      )
    )
  }

  const subscribe = Effect.fnUntraced(function*(asked: Asked) {
    const located = yield* serving.locate(asked.path, asked.uri, asked.rule)
    if (located === undefined) return yield* notFound(asked.uri)
    const { upstream } = located
    const failing = Effect.mapError((error: { readonly message: string }) =>
      new RpcError({ code: McpSchema.INTERNAL_ERROR_CODE, message: failed(upstream.name, error).message })
    )
    if (!(yield* failing(upstream.subscribes))) return yield* unsupported(upstream.name)
    const key = resourceKey(upstream.name, located.uri)
    if (table.resources.get(key)?.sessions.has(asked.session) === true) return
    // The resource's first session: subscribed to upstream before it is noted, so a refusal notes nothing.
    if (!table.resources.has(key)) yield* failing(upstreamAsk(upstream, "resources/subscribe", located.uri))
    add(table, asked.session, upstream.name, located.uri, { uri: asked.uri, qualified: located.qualified })
  })

  // Unsubscribed whether or not the key may still read it (its rule may have changed since); a URI the session did not
  // subscribe to changes nothing, as the protocol's servers answer it.
  const unsubscribe = Effect.fnUntraced(function*(asked: Asked) {
    const place = Resources.placeOf(asked.path, asked.uri)
    if (place === undefined) return
    if (remove(table, asked.session, resourceKey(place.server, place.uri))) yield* release(place.server, place.uri)
  })

  // A change `upstream` told of its resource `uri`: to each session subscribed to it.
  const updated = (upstream: Upstreams.Upstream, uri: string) =>
    Effect.suspend(() => {
      const watched = table.resources.get(resourceKey(upstream.name, uri))
      if (watched === undefined || watched.sessions.size === 0) return Effect.void
      const subscribers = [...watched.sessions]
      return serving.publish({
        method: "notifications/resources/updated",
        uris: new Map(subscribers.map(([session, subscribed]) => [session, subscribed.uri])),
        qualified: [...new Set(subscribers.map(([, subscribed]) => subscribed.qualified))]
      })
    })

  // A new connection to `upstream`: what is subscribed to of it, subscribed to again.
  const resubscribe = (upstream: Upstreams.Upstream) =>
    lock.withPermit(Effect.forEach(
      [...table.resources.values()].filter((watched) => watched.server === upstream.name),
      (watched) =>
        upstreamAsk(upstream, "resources/subscribe", watched.uri).pipe(
          Effect.catch((error) =>
            Effect.logWarning(
              `Gateway: the MCP server ${upstream.name} could not be subscribed to a resource again after it ` +
                `reconnected (${error.message})`
            )
          )
        ),
      { discard: true }
    ))

  // Each recorded subscription `session` lacks here taken, each it has that is no longer recorded dropped: those taken.
  const take = Effect.fnUntraced(
    function*(session: string, path: string, rule: Allow.Rule, recorded: Read) {
      // Older than a change of the session made here (a subscribe answered meanwhile, or another take): not taken.
      if (recorded.version !== changes.versionOf(session)) return []
      const { uris } = recorded
      const before = subscribedIn(table, session)
      for (const key of stale(table, session, uris)) {
        const { server, uri } = table.resources.get(key)!
        if (remove(table, session, key)) yield* release(server, uri)
      }
      const lacking = missing(table, session, uris)
      for (const uri of lacking) {
        yield* subscribe({ session, path, rule, method: "resources/subscribe", uri, record: () => Effect.void }).pipe(
          Effect.catch((error) =>
            Effect.logDebug(`Gateway: an MCP session's subscription to ${uri} could not be taken (${error.message})`)
          )
        )
      }
      const after = subscribedIn(table, session)
      // Counted when it changed something: a recorded subscription it cannot take (its key may no longer read it)
      // leaves the count, and the session's next takes, alone.
      if (before.length !== after.length || before.some((uri) => !after.includes(uri))) yield* counted(session)
      return [...table.sessions.get(session) ?? []]
        .map((key) => table.resources.get(key)!.sessions.get(session)!)
        .filter((subscribed) => lacking.includes(subscribed.uri))
    }
  )

  for (const upstream of serving.upstreams) {
    yield* Effect.forkScoped(Stream.runForEach(upstream.updates, (uri) => updated(upstream, uri)))
    yield* Effect.forkScoped(Stream.runForEach(upstream.reopened, () => resubscribe(upstream)))
  }

  return {
    answer: (asked) => {
      const subscribing = asked.method === "resources/subscribe"
      // Recorded before the change is counted: a read of the store stamped with the count after it sees the record.
      return changing(
        asked.session,
        Effect.andThen(subscribing ? subscribe(asked) : unsubscribe(asked), asked.record(asked.uri, subscribing))
      )
    },
    take: (session, path, rule, recorded) =>
      stale(table, session, recorded.uris).length === 0 && missing(table, session, recorded.uris).length === 0
        ? Effect.succeed([])
        : lock.withPermit(take(session, path, rule, recorded)),
    tell: (session, taken) =>
      Effect.forEach(taken, (subscribed) =>
        serving.publish({
          method: "notifications/resources/updated",
          uris: new Map([[session, subscribed.uri]]),
          qualified: [subscribed.qualified]
        }), { discard: true }),
    version: changes.versionOf,
    end: (session) =>
      lock.withPermit(Effect.ensuring(
        Effect.forEach(drop(table, session), ({ server, uri }) => release(server, uri), { discard: true }),
        Effect.sync(() => changes.ended(session))
      )),
    subscribedBy: (session) => subscribedIn(table, session)
  } satisfies Subscriptions
})

const decodeRequest = Schema.decodeUnknownOption(Schema.Struct({
  id: McpSchema.RequestId,
  method: Schema.Literals(methods),
  params: Schema.Struct({ uri: Schema.String })
}))

// The `resources/subscribe` or `resources/unsubscribe` request `text` holds (a JSON-RPC request), if it is one.
const requestOf = (text: string) =>
  methods.some((method) => text.includes(method))
    ? Option.getOrUndefined(decodeRequest(parseJsonObject(text)))
    : undefined

// Whether `text` is a JSON-RPC `initialize`.
function initializes(text: string): boolean {
  return text.includes("initialize") && parseJsonObject(text)?.["method"] === "initialize"
}

// The JSON-RPC answer of request `id`: its result `{}`, or `error`.
function answerOf(id: string | number, error: Pick<RpcError, "code" | "message"> | undefined) {
  return HttpServerResponse.jsonUnsafe(
    error === undefined
      ? { jsonrpc: "2.0", id, result: {} }
      : { jsonrpc: "2.0", id, error: { code: error.code, message: error.message } }
  )
}

// The JSON of an `initialize` result in `text`, advertising `resources.subscribe`; anything else as it is.
function advertised(text: string): string {
  const message = parseJsonObject(text)
  if (message === undefined || !isJsonObject(message["result"]) || !isJsonObject(message["result"]["capabilities"])) {
    return text
  }
  const result = message["result"]
  const capabilities = result["capabilities"] as Readonly<Record<string, unknown>>
  const resources = isJsonObject(capabilities["resources"]) ? capabilities["resources"] : {}
  return JSON.stringify({
    ...message,
    result: { ...result, capabilities: { ...capabilities, resources: { ...resources, subscribe: true } } }
  })
}

// A line of `McpServer`'s answer to an `initialize` (its JSON, or an event's) advertising `resources.subscribe`, which
// `McpServer` leaves off on HTTP.
const advertising = (line: string): string =>
  line.startsWith("data: ") ? `data: ${advertised(line.slice(6))}` : advertised(line)

/**
 * `http`'s answer (an endpoint's `McpServer`) to `request` at `path`, with the subscriptions' part taken here: a
 * session's subscribe and unsubscribe answered and recorded, a stateless client's refused, a `DELETE` dropping the
 * session's subscriptions, and an `initialize` answered advertising them.
 */
export function serving(subscriptions: Subscriptions) {
  return <E, R>(
    http: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    request: HttpServerRequest.HttpServerRequest,
    path: string,
    rule: Allow.Rule,
    session: Named | undefined
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, R> => {
    if (request.method === "DELETE" && session !== undefined) {
      return Effect.tap(http, (response) => response.status >= 300 ? Effect.void : subscriptions.end(session.id))
    }
    if (request.method !== "POST") return http
    // A body that cannot be read is `McpServer`'s to refuse, as it reads it again.
    return Effect.flatMap(Effect.orElseSucceed(request.text, () => ""), (text) => {
      const asked = requestOf(text)
      if (asked === undefined) {
        return request.headers["mcp-session-id"] === undefined && initializes(text)
          ? Effect.map(http, (response) => Tapped.linesMapped(response, advertising))
          : http
      }
      // A stateless client's (no session's) subscribe: there is no session to tell a change on.
      if (session === undefined) {
        return request.headers["mcp-method"] === undefined ? http : Effect.succeed(answerOf(asked.id, {
          code: unsupportedCode,
          message: "Resource subscriptions need a session: the gateway takes them in a 2025-11-25 session (or an " +
            "earlier revision's), whose standalone stream it tells the changes on; the stateless 2026-07-28 " +
            "revision has none"
        }))
      }
      const taking = subscriptions.answer({
        session: session.id,
        path,
        rule,
        method: asked.method,
        uri: asked.params.uri,
        record: session.record
      })
      return Effect.match(taking, {
        onFailure: (error) => answerOf(asked.id, error),
        onSuccess: () => answerOf(asked.id, undefined)
      })
    })
  }
}
