/**
 * The standalone stream of a 2025-11-25 session (the `GET` a client opens after `initialize`, which `McpServer` answers
 * 405), answered by the gateway: the changes of what its endpoint serves as `list_changed` events with ids, those a
 * client missed replayed on `Last-Event-ID` (MCP Streamable HTTP, "Resumability and Redelivery"). One journal per
 * configuration keeps the last `journalSize` changes, each stream the journal filtered by its path and its key's rule,
 * so that a stream replays exactly what it would have been sent. A client whose last id the journal no longer holds
 * (another configuration's or instance's, or too old) is told every list changed, so it lists again (docs/mcp.md).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import type * as Allow from "../access/tools.js"

/** The notifications that tell a client a list changed. */
export const listChangedMethods = [
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/resources/list_changed"
] as const

/** A change of what the endpoints at `paths` serve, or of a resource sessions subscribed to (`subscriptions.ts`). */
export type Change = ListChange | Updated

/** A change of what the endpoints at `paths` serve. */
export interface ListChange {
  readonly paths: ReadonlyArray<string>
  readonly method: (typeof listChangedMethods)[number]
  readonly qualified: ReadonlyArray<string>
}

/** A change of a resource, told to the sessions subscribed to it, each under the URI it subscribed by. */
export interface Updated {
  readonly method: "notifications/resources/updated"
  readonly uris: ReadonlyMap<string, string>
  readonly qualified: ReadonlyArray<string>
}

/**
 * The session a standalone stream is opened for, the URIs it is subscribed to (as it subscribed to them), and those of
 * them just taken from its record as the stream opened (`subscriptions.ts`), told once as changed at its start.
 */
export interface Subscriber {
  readonly session: string
  readonly subscribed: ReadonlyArray<string>
  readonly taken?: ReadonlyArray<string>
}

/** A change as the journal numbers it: its `sequence` is its event's id in the journal's `epoch`. */
export interface Entry {
  readonly sequence: number
  readonly change: Change
}

/** How many changes the journal keeps for a client that comes back. */
export const journalSize = 100

/** The changes kept, oldest first, numbered from 1 in `epoch`; `head` is the last number given (0 before any). */
export interface Kept {
  readonly epoch: string
  readonly head: number
  readonly entries: ReadonlyArray<Entry>
}

/** What a stream opened with a `Last-Event-ID` gets before what happens next. */
export type Resumed =
  | { readonly _tag: "Replay"; readonly entries: ReadonlyArray<Entry> }
  | { readonly _tag: "Lost" }

export function eventId(epoch: string, sequence: number): string {
  return `${epoch}-${sequence}`
}

/**
 * What a stream opened after `lastEventId` missed of `kept`: the changes after it, or `Lost` when `kept` cannot say
 * (an id of another epoch, one it never gave, or one older than its oldest change kept). No id: nothing missed.
 */
export function resume(kept: Kept, lastEventId: string | undefined): Resumed {
  if (lastEventId === undefined) return { _tag: "Replay", entries: [] }
  const prefix = `${kept.epoch}-`
  const digits = lastEventId.startsWith(prefix) ? lastEventId.slice(prefix.length) : ""
  if (!/^(0|[1-9][0-9]{0,15})$/.test(digits)) return { _tag: "Lost" }
  const last = Number(digits)
  const oldest = kept.entries[0]?.sequence ?? kept.head + 1
  if (last > kept.head || last < oldest - 1) return { _tag: "Lost" }
  return { _tag: "Replay", entries: kept.entries.filter((entry) => entry.sequence > last) }
}

/** `kept` with `change` added as the next number, its oldest dropped past `journalSize`. */
export function append(kept: Kept, change: Change): Kept {
  const head = kept.head + 1
  const entries = [...kept.entries, { sequence: head, change }]
  return { ...kept, head, entries: entries.length > journalSize ? entries.slice(-journalSize) : entries }
}

/**
 * How long a standalone stream stays open: a request holds the configuration it started on, so the stream ends (and
 * its client opens it again, as Streamable HTTP clients do) for a reload to let go of the configuration it replaced,
 * and a shutdown not to wait on it.
 */
const standaloneFor = Duration.seconds(10)

/** The changes of one configuration's endpoints: told to the streams open, and kept for those that come back. */
export interface Changes {
  /** Numbers and keeps `change`, and tells every stream open. */
  readonly publish: (change: Change) => Effect.Effect<void>
  /** The standalone stream of a session at `path`, for its key's `rule`, on `revision` (its `mcp-protocol-version`). */
  readonly open: (
    path: string,
    rule: Allow.Rule,
    lastEventId: string | undefined,
    revision: string | undefined,
    subscriber?: Subscriber
  ) => HttpServerResponse.HttpServerResponse
}

// An SSE event of `method` with `params` (no id: a notice of what is lost), or with its id.
function event(method: Change["method"], id?: string, params?: { readonly uri: string }): string {
  const data = JSON.stringify({ jsonrpc: "2.0", method, params })
  return `${id === undefined ? "" : `id: ${id}\n`}event: message\ndata: ${data}\n\n`
}

// Whether `change` concerns the stream at `path` whose key's rule is `rule`, opened for `session`: a list's change of
// its path, or the change of a resource it subscribed to, of a name the rule allows.
function concerns(change: Change, path: string, rule: Allow.Rule, session: string | undefined): boolean {
  const reaches = "paths" in change
    ? change.paths.includes(path)
    : session !== undefined && change.uris.has(session)
  return reaches && change.qualified.some(rule)
}

/** The changes of a configuration's endpoints, for the scope's life. */
export const make = Effect.gen(function*() {
  const published = yield* Effect.acquireRelease(PubSub.unbounded<Entry>(), PubSub.shutdown)
  let kept: Kept = { epoch: randomUUID().slice(0, 8), head: 0, entries: [] }

  function publish(change: Change) {
    return Effect.suspend(() => {
      kept = append(kept, change)
      return PubSub.publish(published, kept.entries[kept.entries.length - 1]!)
    })
  }

  // Each change after `lastEventId` that concerns `path` and a name `rule` allows (or a resource `subscriber`
  // subscribed to), each with its id: those missed first (or, when they cannot be told, a notice of every list and of
  // every resource it subscribed to), then a priming event (an id and no data, the id a client that drops comes back
  // with) when `primes`, then those that come, for `standaloneFor`.
  function events(
    path: string,
    rule: Allow.Rule,
    lastEventId: string | undefined,
    primes: boolean,
    subscriber: Subscriber | undefined
  ) {
    const session = subscriber?.session
    const concerned = (entry: Entry) => concerns(entry.change, path, rule, session)
    const told = (entry: Entry) => {
      const id = eventId(kept.epoch, entry.sequence)
      const { change } = entry
      return "uris" in change ? event(change.method, id, { uri: change.uris.get(session!)! }) : event(change.method, id)
    }
    return Stream.unwrap(Effect.gen(function*() {
      // Subscribed before the journal is read: a change published in between is in both, and told once.
      const subscription = yield* PubSub.subscribe(published)
      const now = kept
      const resumed = resume(now, lastEventId)
      const missed = resumed._tag === "Lost"
        ? [
          ...listChangedMethods.map((method) => event(method)),
          ...(subscriber?.subscribed ?? []).map((uri) => event("notifications/resources/updated", undefined, { uri }))
        ]
        : [
          ...(subscriber?.taken ?? []).map((uri) => event("notifications/resources/updated", undefined, { uri })),
          ...resumed.entries.filter(concerned).map(told)
        ]
      const priming = primes ? [`id: ${eventId(now.epoch, now.head)}\ndata: \n\n`] : []
      const coming = Stream.fromSubscription(subscription).pipe(
        Stream.filter((entry) => entry.sequence > now.head && concerned(entry)),
        Stream.map(told)
      )
      return Stream.concat(Stream.fromIterable([...missed, ...priming]), coming)
    })).pipe(Stream.interruptWhen(Effect.sleep(standaloneFor)), Stream.encodeText)
  }

  return {
    publish,
    open: (path, rule, lastEventId, revision, subscriber?: Subscriber) =>
      HttpServerResponse.stream(events(path, rule, lastEventId, primes(revision), subscriber), {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache" }
      })
  } satisfies Changes
})

/**
 * Whether a client on `revision` is sent a priming event: 2025-11-25 and later. An earlier client reads each event's
 * data as a JSON-RPC message, and an empty one fails it (the official TypeScript SDK before that revision).
 */
export function primes(revision: string | undefined): boolean {
  return revision !== undefined && revision >= "2025-11-25"
}

/** Whether `request` opens a session's standalone stream: a `GET` naming its session that accepts an event stream. */
export function opensStream(request: HttpServerRequest.HttpServerRequest): boolean {
  return request.method === "GET" && request.headers["mcp-session-id"] !== undefined &&
    (request.headers["accept"] ?? "").includes("text/event-stream")
}
