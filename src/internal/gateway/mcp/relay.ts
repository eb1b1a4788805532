/**
 * The notifications an upstream sends during a call (`notifications/progress`, `notifications/message` logs), relayed
 * to the client that made it. `effect/ai`'s `McpClient` drops every message with a method and no id, so the gateway
 * reads them beneath it, on the bytes its transport receives (`tapHttp`, `tapLines`). A relaying call gets a progress
 * token of the gateway's own, so that two clients' tokens never meet at a server. A log is the call's when it comes on
 * the call's own HTTP response stream; a stdio server has one output for every call, so its log is relayed only while
 * one call is in flight. Each call relays at most `maxProgress`, `maxLogs` and `maxRelayedBytes`, so that a server
 * cannot flood a client; what it relays reaches the client before the call's result (docs/mcp.md, "Requests"). What a
 * server sends for no call (`Unsolicited`) is told to the relay's owner.
 */
import * as McpSchema from "effect/ai/McpSchema"
import type * as McpServer from "effect/ai/McpServer"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import type * as Sse from "../../../Sse.js"
import { definedFields, isJsonObject, parseJsonObject } from "../../json.js"
import type * as Resume from "./resume.js"
import * as ServerRequests from "./serverRequests.js"
import { listChangedMethods } from "./standalone.js"
import * as Tapped from "./tapped.js"

/** The most progress notifications one call relays. */
export const maxProgress = 1000

/** The most log notifications one call relays. */
export const maxLogs = 100

/** The most bytes (as JSON) of notifications one call relays: 256 KiB. */
export const maxRelayedBytes = 256 * 1024

/** How many chunks of an HTTP server's response stream are read ahead of `McpClient`. */
const readAhead = 16

/** How long a finished call waits for its notifications to reach its client before it answers anyway. */
const drainTimeout = "5 seconds"

/** A notification of an upstream, as its call's client is sent it. */
export type Relayed =
  | { readonly _tag: "Progress"; readonly params: typeof McpSchema.ProgressNotification.payloadSchema.Type }
  | { readonly _tag: "Log"; readonly params: typeof McpSchema.LoggingMessageNotification.payloadSchema.Type }

/** What a call relays to: its client's progress token (none: no progress asked for), and its client's delivery. */
export interface Listener {
  readonly progressToken: McpSchema.ProgressToken | undefined
  /** The log level the client asked for in its `_meta` (the 2026-07-28 revision's), passed to the upstream. */
  readonly logLevel: McpSchema.LoggingLevel | undefined
  readonly deliver: (relayed: Relayed) => Effect.Effect<void>
  /** How the client is asked its server's requests (`serverRequests.ts`); none: it declared no capability for them. */
  readonly ask: ServerRequests.Ask | undefined
  /** What the client declared of the capabilities those requests need (`ServerRequests.declaredOf`). */
  readonly declared: Readonly<Record<string, unknown>>
}

/** A call in flight that relays: where its notifications wait for its client, and what it has relayed so far. */
export interface Call {
  readonly token: string | undefined
  readonly listener: Listener
  readonly queue: Queue.Queue<Relayed, Cause.Done>
  /** What its deliverer runs with: the call's own services. */
  readonly context: Context.Context<never>
  /** Its deliverer, started at its first notification to relay (most calls relay none). */
  delivering: Fiber.Fiber<void> | undefined
  progress: number
  logs: number
  bytes: number
  dropped: number
}

/** The notifications that tell a server's lists changed, as they tell a client. */
export { listChangedMethods }

type ListChangedMethod = (typeof listChangedMethods)[number]

/** The notification that tells a resource a session subscribed to changed. */
export const updatedMethod = "notifications/resources/updated"

/** What a server sends for no call: a list of it changed, a log no call owns, a subscribed resource changed. */
export type Unsolicited =
  | { readonly _tag: "ListChanged"; readonly method: ListChangedMethod }
  | { readonly _tag: "Log"; readonly params: typeof McpSchema.LoggingMessageNotification.payloadSchema.Type }
  | { readonly _tag: "Updated"; readonly uri: string }

/**
 * One upstream's calls that relay (every one in flight, and those that asked for progress by the gateway's token),
 * its requests of a call's client (`serverRequests.ts`), and who is told what the upstream sends of its own.
 */
export interface Relay {
  readonly calls: Set<Call>
  readonly byToken: Map<string, Call>
  readonly requests: ServerRequests.Requests
  readonly told: (unsolicited: Unsolicited) => void
}

/** A relay of no call yet, telling `told` what its upstream sends of its own. */
export function make(told: (unsolicited: Unsolicited) => void): Relay {
  return { calls: new Set(), byToken: new Map(), requests: ServerRequests.requests(), told }
}

// The call whose HTTP exchange is being read: the one a log on that response stream belongs to.
const Exchange = Context.Reference<Call | undefined>("effect-llm-router/gateway/mcp/relay/Exchange", {
  defaultValue: () => undefined
})

const decodeProgress = Schema.decodeUnknownOption(McpSchema.ProgressNotification.payloadSchema)
const decodeLog = Schema.decodeUnknownOption(McpSchema.LoggingMessageNotification.payloadSchema)
const decodeLevel = Schema.decodeUnknownOption(McpSchema.LoggingLevel)
const decodeUpdated = Schema.decodeUnknownOption(McpSchema.ResourceUpdatedNotification.payloadSchema)

// `relayed` queued for `call`'s client, unless the call is past its bounds (then counted as dropped).
function offer(call: Call, relayed: Relayed) {
  const bytes = JSON.stringify(relayed.params).length
  const count = relayed._tag === "Progress" ? call.progress : call.logs
  const most = relayed._tag === "Progress" ? maxProgress : maxLogs
  if (count >= most || call.bytes + bytes > maxRelayedBytes) {
    call.dropped += 1
    return
  }
  if (relayed._tag === "Progress") call.progress += 1
  else call.logs += 1
  call.bytes += bytes
  // A call that ended has ended its queue: what is read after it (by a read-ahead) starts no deliverer.
  if (!Queue.offerUnsafe(call.queue, relayed)) return
  call.delivering ??= Effect.runForkWith(call.context)(
    Stream.runForEach(Stream.fromQueue(call.queue), call.listener.deliver)
  )
}

const isListChanged = (method: unknown): method is ListChangedMethod =>
  (listChangedMethods as ReadonlyArray<unknown>).includes(method)

// One message an upstream sent (`data`, its JSON), routed: a progress of a call's token to that call, under its
// client's token; a log to `exchange`'s call (it came on that call's stream), else on a `shared` output (stdio) to the
// one call in flight, else to the owner; a server's request of a client noted for that same call when its client can
// be asked, and its cancel; a list's or resource's change to the owner. Anything else is left to `McpClient`.
function observe(relay: Relay, data: string, exchange: Call | undefined, shared: boolean): void {
  const only = shared && relay.calls.size === 1 ? relay.calls.values().next().value : undefined
  const caller = exchange ?? only
  const asks = caller?.listener.ask !== undefined && ServerRequests.relayedMethods.some((m) => data.includes(m))
  if (asks && noteAsked(relay, data, caller)) return
  if (!data.includes("notifications/")) return
  if (
    relay.calls.size === 0 && !data.includes("list_changed") && !data.includes("notifications/message") &&
    !data.includes(updatedMethod)
  ) return
  // Not a JSON object: `McpClient` fails on it as it does.
  const message = parseJsonObject(data)
  if (message === undefined || "id" in message) return
  const method = message["method"]
  if (isListChanged(method)) {
    relay.told({ _tag: "ListChanged", method })
  } else if (method === updatedMethod) {
    const updated = decodeUpdated(message["params"])
    if (updated._tag === "Some") relay.told({ _tag: "Updated", uri: updated.value.uri })
  } else if (method === "notifications/progress") {
    const progress = decodeProgress(message["params"])
    if (progress._tag === "None") return
    const call = relay.byToken.get(String(progress.value.progressToken))
    if (call?.listener.progressToken === undefined) return
    offer(call, { _tag: "Progress", params: { ...progress.value, progressToken: call.listener.progressToken } })
  } else if (method === "notifications/message") {
    const log = decodeLog(message["params"])
    if (log._tag === "None") return
    if (caller !== undefined) offer(caller, { _tag: "Log", params: log.value })
    else if (!shared || relay.calls.size === 0) relay.told({ _tag: "Log", params: log.value })
  } else if (method === "notifications/cancelled" && isJsonObject(message["params"])) {
    ServerRequests.cancelled(relay.requests, message["params"]["requestId"])
  }
}

// Whether `data` is a request of the server that `call`'s client is asked: then noted by its id.
function noteAsked(relay: Relay, data: string, call: Call): boolean {
  const message = parseJsonObject(data)
  if (message === undefined) return false
  const id = message["id"]
  const method = message["method"]
  if (!ServerRequests.isRequestId(id) || !ServerRequests.isRelayed(method)) return false
  relay.requests.asked.set(String(id), { call, id, method, params: message["params"], ask: call.listener.ask })
  return true
}

/**
 * `http`, whose SSE responses are read by `relay` as they pass (a relaying call's, `relaying`, as that call's), each
 * event up to `maxBytes` (past it, no longer read: `McpClient` fails the response on its own bound); a stream `resume`
 * resumes (`Resume.resuming`) is read by it, its resumptions' events relayed too, each event decoded once for both.
 */
export function tapHttp(http: HttpClient.HttpClient, relay: Relay, maxBytes: number, resume?: Resume.Resuming) {
  return HttpClient.transform(
    http,
    (effect, request) =>
      Effect.flatMap(effect, (response) =>
        Effect.map(Exchange, (exchange) => {
          if (!Tapped.isEventStream(response)) return response
          const reader = (event: Sse.Event) => observe(relay, event.data, exchange, false)
          const tapped = resume?.(request, response, reader) ?? Tapped.events(response.stream, maxBytes, reader)
          // Read ahead of `McpClient`, which stops reading while it waits to reply to a request of the server its
          // call's client is asked: the server's cancel of that request comes behind it. Without a client to ask,
          // nothing is noted as asked (`noteAsked`) and no reply waits for one, so the stream is read as it is pulled.
          const body = exchange?.listener.ask === undefined ? tapped : Stream.buffer(tapped, { capacity: readAhead })
          return Tapped.tapped(response, body)
        }))
  )
}

/**
 * A stdio server's output, its lines read by `relay` as they pass, each up to `maxBytes` (past it, no longer read:
 * `McpClient` fails on its own bound).
 */
export function tapLines<E, R>(stdout: Stream.Stream<Uint8Array, E, R>, relay: Relay, maxBytes: number) {
  const read = Tapped.lines()
  let reading = true
  return Stream.tap(stdout, (chunk) =>
    Effect.sync(() => {
      if (!reading) return
      const { lines, rest } = read(chunk)
      for (const line of lines) observe(relay, line, undefined, true)
      if (rest.length > maxBytes) reading = false
    }))
}

/**
 * The listener of a call whose request carried `meta`: its progress token and log level, delivered through the client
 * endpoint's `notifications` (on the call's own response stream), with how its client is asked (`ask`, `declared`).
 */
export function listener(
  meta: Readonly<Record<string, unknown>> | undefined,
  notifications: McpServer.McpServer["Service"]["notifications"],
  ask?: ServerRequests.Ask | undefined,
  declared: Readonly<Record<string, unknown>> = {}
): Listener {
  return {
    progressToken: ServerRequests.tokenIn(meta),
    logLevel: Option.getOrUndefined(decodeLevel(meta?.["io.modelcontextprotocol/logLevel"])),
    ask,
    declared,
    deliver: (relayed) =>
      Effect.ignore(
        relayed._tag === "Progress"
          ? notifications["notifications/progress"](relayed.params)
          : notifications["notifications/message"](relayed.params)
      )
  }
}

/**
 * `send` (a call's request, given what to add to its `_meta`) with `relay` reading its notifications for `listener`,
 * delivered by a fiber started at the first (most calls relay none), all before the call answers. An interrupted call
 * delivers no more.
 */
export const relaying = <A, E, R>(
  relay: Relay,
  listener: Listener,
  send: (meta: Readonly<Record<string, string>>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.gen(function*() {
    const token = listener.progressToken === undefined ? undefined : `progress-${randomUUID()}`
    const call: Call = {
      token,
      listener,
      queue: yield* Queue.unbounded<Relayed, Cause.Done>(),
      context: yield* Effect.context<never>(),
      delivering: undefined,
      progress: 0,
      logs: 0,
      bytes: 0,
      dropped: 0
    }
    relay.calls.add(call)
    if (token !== undefined) relay.byToken.set(token, call)
    const meta = definedFields({ progressToken: token, "io.modelcontextprotocol/logLevel": listener.logLevel })
    // What it dropped, told once its deliverer is done.
    const told = () =>
      call.dropped === 0 ? Effect.void : Effect.logWarning(
        `Gateway: an MCP server sent more notifications during one call than are relayed (${maxProgress} ` +
          `progress, ${maxLogs} logs, ${maxRelayedBytes} bytes); ${call.dropped} were dropped`
      )
    return yield* send(meta).pipe(
      Effect.provideService(Exchange, call),
      Effect.onExit((exit) => {
        relay.calls.delete(call)
        for (const [id, asked] of relay.requests.asked) if (asked.call === call) relay.requests.asked.delete(id)
        if (token !== undefined) relay.byToken.delete(token)
        const delivering = call.delivering
        Queue.endUnsafe(call.queue)
        if (delivering === undefined) return told()
        return Effect.andThen(
          Exit.hasInterrupts(exit) ? Effect.void : Effect.timeoutOption(Fiber.join(delivering), drainTimeout),
          Effect.andThen(Fiber.interrupt(delivering), told)
        )
      })
    )
  })
