/**
 * One configured MCP server, connected over Streamable HTTP with the gateway's own credentials (never a caller's), or
 * as a program the gateway starts and speaks to over stdio, in the revision its entry's `protocol` names. What it
 * offers is listed each time its connection opens (`listing`). A call is bounded by `maxReplyBytes` and `callTimeout`
 * (past it, cancelled upstream); a failure names the bound. A server is supervised (`supervise.ts`): a stdio process
 * that exits or whose output stops is restarted with backoff, an HTTP server that forgot the session (404) is
 * initialized again and the call sent once more (after a 401, with a fresh token: `oauth.ts`), and a call's stream it
 * ends early is resumed (`resume.ts`), which is no sign of it going down. Every server is pinged while up, so that one
 * going down while nobody calls it is found. Closing the configuration's scope stops everything (input closed, then
 * SIGTERM), waiting for the calls in flight.
 */
import * as NodeChildProcessSpawner from "@effect/platform-node/NodeChildProcessSpawner"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as McpClient from "effect/ai/McpClient"
import * as McpClientError from "effect/ai/McpClientError"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as McpSchema from "effect/ai/McpSchema"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ChildProcess from "effect/process/ChildProcess"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Record from "effect/Record"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import type * as Result from "effect/Result"
import type * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as Struct from "effect/Struct"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Gateway from "../../../Gateway.js"
import { isJsonObject } from "../../json.js"
import type { Renewable } from "../../providers/renewing.js"
import { timeoutFail } from "../../time/watchdog.js"
import * as Allow from "../access/tools.js"
import type * as Credentials from "./credentials.js"
import * as Listen from "./listen.js"
import { clientCredentials } from "./oauth.js"
import * as Relay from "./relay.js"
import * as Resume from "./resume.js"
import * as Rpc from "./rpc.js"
import * as ServerRequests from "./serverRequests.js"
import * as Stderr from "./stderr.js"
import * as Supervise from "./supervise.js"

/**
 * Why a call, or a connection, failed: a detail that names what failed (a bound, the process's exit), no secret; and
 * the server's own JSON-RPC error when it answered with one (`answered`).
 */
export class UpstreamError extends Data.TaggedError("McpUpstreamError")<{
  readonly message: string
  readonly answered?: McpSchema.McpErrorBase | undefined
}> {}

/** What a server offers, as listed on a connection: the tools the gateway takes, resources, templates, prompts. */
export interface Listing {
  readonly tools: ReadonlyArray<McpSchema.Tool>
  readonly resources: ReadonlyArray<McpSchema.Resource>
  readonly templates: ReadonlyArray<McpSchema.ResourceTemplate>
  readonly prompts: ReadonlyArray<McpSchema.Prompt>
}

/** The listing of a server not yet reached. */
export const unlisted: Listing = { tools: [], resources: [], templates: [], prompts: [] }

/** A supervised server: what its latest connection listed, and the calls and requests sent on its current one. */
export interface Upstream {
  readonly name: string
  /** Its listing now (`unlisted` until it is first reached). */
  readonly listing: Effect.Effect<Listing>
  /** Its listing now, then each one a new connection lists (a restart, a server that was down answering). */
  readonly listings: Stream.Stream<Listing>
  /**
   * Calls `tool` (`rpc.ts`) with `meta` as its `_meta` (the caller's trace), relaying the server's progress and logs
   * to `listener` (`relay.ts`); a 2026-07-28 server is told what `listener`'s client declared and given what
   * `continuation` carries on. Gives the server's result as it gave it (`InputRequired` from a 2026-07-28 server).
   */
  readonly call: (
    tool: McpSchema.Tool,
    payload: Readonly<Record<string, unknown>> | undefined,
    meta: Readonly<Record<string, string>>,
    listener: Relay.Listener,
    continuation?: ServerRequests.Continuation
  ) => Effect.Effect<McpSchema.CallToolResult | McpSchema.InputRequired, UpstreamError>
  /**
   * Sends `method` with `params` on the current connection's transport (`rpc.ts`), with what the 2026-07-28 revision
   * asks in `_meta`: its result decoded with `schema`, or why not (the server's own error as `McpClient` gives it).
   */
  readonly request: <S extends Schema.Top & { readonly DecodingServices: never }>(
    method: string,
    params: Readonly<Record<string, unknown>>,
    schema: S
  ) => Effect.Effect<S["Type"], McpClientError.McpClientError | UpstreamError>
  /**
   * Whether the server of the current connection takes resource subscriptions: it advertised `resources.subscribe`
   * when it was initialized, and is spoken to in 2025-11-25 (a stateless server has no stream to tell a change on).
   */
  readonly subscribes: Effect.Effect<boolean, UpstreamError>
  /** The URIs (its own) of the resources the server says changed (`notifications/resources/updated`), as they come. */
  readonly updates: Stream.Stream<string>
  /** Each connection opened after the first (a restart, a server that was down answering, a session renewed). */
  readonly reopened: Stream.Stream<void>
}

/** How long the gateway's start waits for a server: one that takes longer goes on opening, served once it opens. */
export const connectTimeout = Duration.seconds(10)

/**
 * How long a connection has to open (its token fetched, its server started, initialized and listed) before it is given
 * up and tried again: long enough for a server fetched at its first start (`npx -y ...`).
 */
export const openTimeout = Duration.minutes(2)

/** The largest message a server may send when its entry sets no `maxReplyBytes`: 4 MiB. */
export const defaultMaxReplyBytes = 4 * 1024 * 1024

/** How long a call may take when its server's entry sets no `callTimeout`. */
export const defaultCallTimeout = Duration.seconds(60)

/** The variables of the gateway's own environment a stdio server is given: never its keys. */
export const inheritedEnv = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "TMPDIR", "TZ"] as const

/** How the gateway names itself to MCP clients and servers: the release that added its MCP endpoints. */
export const implementation = { name: "effect-llm-router", version: "0.3.0" } as const

const clientInfo = { ...implementation, timeout: openTimeout }

/** The most of what a server sends of its own that waits to be followed; past it, what comes is dropped. */
const maxUnsolicited = 64

/** The most logs of a server's own (no call's) that go to the gateway's log in a minute; the rest are counted. */
export const maxStrayLogs = 20

/** The most characters of a stray log's data the gateway's log keeps. */
const strayLogChars = 1000

// The gateway's log at a server's log level: an error's above `warning`.
const logAt: Partial<Record<McpSchema.LoggingLevel, typeof Effect.logError>> = {
  debug: Effect.logDebug,
  info: Effect.logInfo,
  notice: Effect.logInfo,
  warning: Effect.logWarning
}

// What `spec`'s server sends of its own, followed for ever: a change of its lists `relist`s it (once for those that
// came together); a resource's change is told to `updated`; a log no call owns goes to the gateway's log at its level,
// at most `maxStrayLogs` a minute, the rest counted in one warning.
const follow = Effect.fnUntraced(function*(
  spec: Spec,
  relist: Effect.Effect<void>,
  updated: (uri: string) => Effect.Effect<void>
) {
  let since = yield* Clock.currentTimeMillis
  let logged = 0
  let dropped = 0
  while (true) {
    const batch = yield* Queue.takeAll(spec.unsolicited)
    if (batch.some((one) => one._tag === "ListChanged")) yield* relist
    for (const one of batch) if (one._tag === "Updated") yield* updated(one.uri)
    const now = yield* Clock.currentTimeMillis
    if (now - since >= 60_000) {
      if (dropped > 0) {
        yield* Effect.logWarning(
          `Gateway: the MCP server ${spec.name} sent more logs of its own in a minute than the log keeps ` +
            `(${maxStrayLogs}); ${dropped} were dropped`
        )
      }
      since = now
      logged = 0
      dropped = 0
    }
    for (const one of batch) {
      if (one._tag !== "Log") continue
      if (logged >= maxStrayLogs) {
        dropped += 1
        continue
      }
      logged += 1
      const data = JSON.stringify(one.params.data) ?? ""
      yield* (logAt[one.params.level] ?? Effect.logError)(
        `Gateway: the MCP server ${spec.name} logged${
          one.params.logger === undefined ? "" : ` (${one.params.logger})`
        }: ` +
          spec.mask(data).slice(0, strayLogChars)
      )
    }
  }
})

const spawner = NodeChildProcessSpawner.layer.pipe(Layer.provide([NodeFileSystem.layer, NodePath.layer]))

/** A server's connection: its client and transport (for `rpc.ts`), its scope, its end (stdio) and its listing. */
interface Connection {
  readonly client: McpClient.McpClient
  readonly transport: McpClient.Transport
  readonly scope: Scope.Closeable
  readonly ended: Deferred.Deferred<string>
  readonly listing: Listing
  /** Whether its server takes resource subscriptions (`Upstream.subscribes`). */
  readonly subscribes: boolean
}

/** A server's entry with its bounds and credentials resolved. */
interface Spec {
  readonly name: string
  readonly server: Gateway.McpServer
  readonly maxReplyBytes: number
  readonly callTimeout: Duration.Duration
  /** How often it is pinged while up; none: not pinged. */
  readonly pingInterval: Duration.Duration | undefined
  readonly token: Renewable<Redacted.Redacted<string>> | undefined
  readonly stderr: Stderr.StderrLog | undefined
  /** What each request the gateway sends itself (`rpc.ts`) carries in the revision the server is spoken to in. */
  readonly revision: Readonly<Record<string, unknown>>
  /** The rule of the tools the gateway takes from it. */
  readonly taken: Allow.Rule
  /** The calls that relay its notifications to their clients, on whichever connection. */
  readonly relay: Relay.Relay
  /** What it sends of its own (`relay`'s told), waiting to be followed. */
  readonly unsolicited: Queue.Queue<Relay.Unsolicited>
  /** Masks the credentials of the configuration's servers in a text the gateway logs (`credentials.ts`). */
  readonly mask: (text: string) => string
  /** Masks them in every string of a JSON value (`credentials.ts`). */
  readonly maskValue: (value: unknown) => unknown
}

// The Node spawner, watched: `ended` completes when the process exits or its output stops (with the exit code when
// there is one), its standard error goes to `stderr` as McpClient reads it, its output is read by `spec`'s relay, and
// its input carries the calling clients' answers to its requests (`serverRequests.ts`).
function watchedSpawner(ended: Deferred.Deferred<string>, spec: Spec) {
  const { stderr } = spec
  // Why the process ended, once its output stopped: its exit code when it exits soon after.
  const why = (handle: ChildProcessSpawner.ChildProcessHandle) =>
    Effect.flatMap(
      Effect.option(Effect.timeoutOption(handle.exitCode, "200 millis")),
      (code) =>
        Deferred.succeed(
          ended,
          code._tag === "Some" && code.value._tag === "Some"
            ? `exited with code ${code.value.value}`
            : "its output stopped"
        )
    )
  // Told from a fiber of its own, so McpClient fails the calls in flight with its own reason (a reply past the bound)
  // before the supervisor, told, closes the connection.
  const watched = (handle: ChildProcessSpawner.ChildProcessHandle, scope: Scope.Scope) =>
    Effect.map(
      ServerRequests.answeringLines(handle.stdin, spec.relay.requests, scope),
      (stdin) =>
        ChildProcessSpawner.makeHandle({
          ...handle,
          stdin,
          stdout: Relay.tapLines(handle.stdout, spec.relay, spec.maxReplyBytes).pipe(
            Stream.ensuring(Effect.forkIn(why(handle), scope))
          ),
          stderr: stderr === undefined
            ? handle.stderr
            : handle.stderr.pipe(Stream.tap(stderr.write), Stream.ensuring(stderr.flush))
        })
    )
  return Layer.effect(
    ChildProcessSpawner.ChildProcessSpawner,
    Effect.gen(function*() {
      const node = yield* ChildProcessSpawner.ChildProcessSpawner
      return ChildProcessSpawner.make((command) =>
        Effect.gen(function*() {
          const handle = yield* node.spawn(command)
          const scope = yield* Effect.scope
          // A process that exits without closing its output (a child of its own holds it) has ended too.
          yield* Effect.forkScoped(
            Effect.flatMap(
              Effect.option(handle.exitCode),
              (code) => Deferred.succeed(ended, code._tag === "Some" ? `exited with code ${code.value}` : "exited")
            )
          )
          return yield* watched(handle, scope)
        })
      )
    })
  ).pipe(Layer.provide(spawner))
}

// The HTTP client of an HTTP server: the gateway's, with the server's current token when it has credentials.
function authorized(http: HttpClient.HttpClient, token: Renewable<Redacted.Redacted<string>> | undefined) {
  if (token === undefined) return http
  return HttpClient.mapRequestEffect(
    http,
    (request) =>
      Effect.map(token.current, (value) => HttpClientRequest.bearerToken(request, value)).pipe(
        Effect.mapError((description) =>
          new HttpClientError.HttpClientError({
            reason: new HttpClientError.TransportError({ request, description })
          })
        )
      )
  )
}

// The transport to `spec`'s server, held in the scope, and what reads the server's standalone stream once the client
// initialized (an HTTP server's in the 2025-11-25 revision: `listen.ts`; a stdio server's output is read whole).
const transport = Effect.fnUntraced(function*(spec: Spec, ended: Deferred.Deferred<string>) {
  const { server } = spec
  const protocol = server.protocol === "2026-07-28" ? McpProtocol.v2026_07_28 : McpProtocol.v2025_11_25
  if ("url" in server) {
    const headers = Record.map(server.headers ?? {}, Redacted.value)
    const session: Listen.Session = { id: undefined }
    const http = authorized(yield* HttpClient.HttpClient, spec.token)
    // A call's stream its server ends before the answer is resumed (2025-11-25; the stateless revision has none).
    const resuming = protocol === McpProtocol.v2025_11_25 ? Resume.resuming(http, spec.maxReplyBytes) : undefined
    const tapped = Relay.tapHttp(http, spec.relay, spec.maxReplyBytes, resuming)
    const answering = ServerRequests.answering(Listen.remembering(tapped, session), spec.relay.requests)
    const connected = yield* McpClient.http({
      url: server.url,
      protocol,
      headers,
      maxMessageBytes: spec.maxReplyBytes
    }).pipe(Effect.provideService(HttpClient.HttpClient, answering))
    const standalone = protocol === McpProtocol.v2025_11_25
      ? Listen.listen(ServerRequests.refusing({
        http: answering,
        url: server.url,
        headers: { ...headers, "mcp-protocol-version": protocol.protocolVersion },
        session
      }, spec.maxReplyBytes))
      : Effect.void
    return { connected: ServerRequests.declaring(connected), standalone }
  }
  const command = ChildProcess.make(server.command, [...(server.args ?? [])], {
    // A stdio server's environment: the few variables a program needs to run, then the entry's own.
    env: { ...Struct.pick(process.env, inheritedEnv), ...server.env },
    extendEnv: false
  })
  const connected = yield* Effect.provide(
    McpClient.stdio({ command, protocol, maxMessageBytes: spec.maxReplyBytes }),
    watchedSpawner(ended, spec)
  )
  return { connected: ServerRequests.declaring(connected), standalone: Effect.void }
})

// A definition of class `Definition` with the configuration's credentials masked in its strings, made again as its
// class (itself when it held none): a server that echoes its request into a definition hands no credential to whatever
// shows the listing (`/mcp`, the pins and their log lines, the admin API, the dashboard, the audit log).
function masked<F extends object, A extends F>(spec: Spec, Definition: new(fields: F) => A) {
  return (definition: A) => {
    const fields = { ...definition }
    const value = spec.maskValue(fields)
    return value === fields ? definition : new Definition(value as F)
  }
}

// What the server offers on `client`'s connection, every credential of the configuration masked in it.
const list = Effect.fnUntraced(function*(spec: Spec, client: McpClient.McpClient, connected: McpClient.Transport) {
  return {
    tools: (yield* client.listTools()).filter((tool) => spec.taken(tool.name)).map(masked(spec, McpSchema.Tool)),
    resources: (yield* client.listResources()).map(masked(spec, McpSchema.Resource)),
    prompts: (yield* client.listPrompts()).map(masked(spec, McpSchema.Prompt)),
    templates: (yield* timed(openTimeout, "resources/templates/list", Rpc.listTemplates(connected, spec.revision)))
      .map(masked(spec, McpSchema.ResourceTemplate))
  } satisfies Listing
})

// `transport`, noting whether the server's answer to its initialization advertises `resources.subscribe`.
function noticingSubscribe(transport: McpClient.Transport) {
  let subscribes = false
  const noticing: McpClient.Transport = {
    ...transport,
    request: (message, tool) =>
      message.method !== "initialize" && message.method !== "server/discover"
        ? transport.request(message, tool)
        : Effect.tap(transport.request(message, tool), (response) =>
          Effect.sync(() => {
            const result: unknown = "result" in response ? response.result : undefined
            const capabilities = isJsonObject(result) ? result["capabilities"] : undefined
            const resources = isJsonObject(capabilities) ? capabilities["resources"] : undefined
            subscribes = isJsonObject(resources) && resources["subscribe"] === true
          }))
  }
  return { transport: noticing, subscribes: () => subscribes }
}

// A new connection to `spec`'s server in a scope of its own under `parent`, listed; closed again when it fails to open
// or its opening is given up (`connect`'s bound).
const open = Effect.fnUntraced(function*(spec: Spec, parent: Scope.Scope) {
  const scope = yield* Scope.fork(parent)
  const ended = yield* Deferred.make<string>()
  const opened = yield* Effect.gen(function*() {
    const opened = yield* transport(spec, ended)
    const { subscribes, transport: connected } = noticingSubscribe(opened.connected)
    const client = yield* Effect.provideService(McpClient.make(clientInfo), McpClient.Transport, connected)
    yield* Effect.forkScoped(opened.standalone)
    const listing = yield* list(spec, client, connected)
    const stateless = spec.server.protocol === "2026-07-28"
    return { client, transport: connected, listing, subscribes: subscribes() && !stateless }
  }).pipe(
    Scope.provide(scope),
    Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
  )
  return { ...opened, scope, ended } satisfies Connection
})

// `request` (of `operation`) to a server bounded by `timeout` (kept by the Clock's watchdog, as every call's deadline
// is), failing as `McpClient` fails a request past its deadline.
function timed<A, R>(
  timeout: Duration.Duration,
  operation: string,
  request: Effect.Effect<A, McpClientError.McpClientError, R>
): Effect.Effect<A, McpClientError.McpClientError, R> {
  return timeoutFail(
    request,
    timeout,
    () => new McpClientError.McpClientError({ reason: new McpClientError.TimeoutError({ operation }) })
  )
}

// What a client's failure says of the call, its bounds named.
function detail(spec: Spec, error: McpClientError.McpClientError): string {
  const { reason } = error
  if (reason._tag === "LimitError" && reason.description.includes("maxMessageBytes")) {
    return `its reply was larger than its max_reply_bytes (${spec.maxReplyBytes} bytes)`
  }
  if (reason._tag === "TimeoutError" && reason.operation === "tools/call") {
    return `it did not answer within its call_timeout (${Duration.format(spec.callTimeout)}); the call was cancelled`
  }
  if ("command" in spec.server && reason._tag === "ProtocolError" && reason.code === undefined) {
    return `its output is not MCP (${reason.message}); it is started again`
  }
  if (
    (reason._tag === "ProtocolError" || reason._tag === "HttpError") &&
    reason.code === ServerRequests.missingCapabilityCode
  ) {
    const data = reason.data
    const required = isJsonObject(data) ? JSON.stringify(data["requiredCapabilities"] ?? {}) : "{}"
    return `it needs client capabilities the calling client did not declare (${required})`
  }
  return (reason._tag === "TransportError" ? Resume.refusal(reason.cause) : undefined) ?? reason.message
}

// The JSON-RPC error the server answered with, if `error` is one.
function answeredOf(error: McpClientError.McpClientError): McpSchema.McpErrorBase | undefined {
  const { reason } = error
  if ((reason._tag !== "ProtocolError" && reason._tag !== "HttpError") || reason.code === undefined) return undefined
  return new McpSchema.McpErrorBase({
    code: reason.code,
    message: reason.description ?? reason.message,
    ...(reason.data === undefined ? {} : { data: reason.data })
  })
}

// The 401 of a server whose token the gateway renews: answered by asking for a fresh token and sending again.
function refusedToken(spec: Spec, error: McpClientError.McpClientError): boolean {
  return spec.token !== undefined && error.reason._tag === "HttpError" && error.reason.status === 401
}

function sessionExpired(error: McpClientError.McpClientError | UpstreamError): boolean {
  return error._tag === "McpClientError" && error.reason._tag === "ClosedError" && error.reason.sessionExpired === true
}

// `attempt`, sent once more with a fresh token when the server refused the one it had (a 401).
function withFreshToken<A, R>(
  spec: Spec,
  attempt: Effect.Effect<A, McpClientError.McpClientError, R>
): Effect.Effect<A, McpClientError.McpClientError | UpstreamError, R> {
  if (spec.token === undefined) return attempt
  const token = spec.token
  return Effect.flatMap(
    Effect.mapError(token.current, (message) => new UpstreamError({ message })),
    (held) =>
      attempt.pipe(
        Effect.catchIf((error) => refusedToken(spec, error), () => Effect.andThen(token.expire(held), attempt))
      )
  )
}

// How often `server` is pinged: its entry's interval (none when zero), else the default.
function pingIntervalOf(server: Gateway.McpServer): Duration.Duration | undefined {
  if (server.pingInterval === undefined) return Supervise.defaultPingInterval
  const every = Duration.fromInputUnsafe(server.pingInterval)
  return Duration.isZero(every) ? undefined : every
}

// Whether a ping's failure is an answer (a JSON-RPC error, an HTTP status): the server is there, whatever it said.
function answered(error: McpClientError.McpClientError): boolean {
  return error.reason._tag === "HttpError" || (error.reason._tag === "ProtocolError" && error.reason.code !== undefined)
}

/** `spec`'s server's resolved entry: its bounds, its token (each one noted among `credentials`), its stderr log. */
const resolve = Effect.fnUntraced(function*(
  name: string,
  server: Gateway.McpServer,
  credentials: Credentials.Credentials
) {
  const http = yield* HttpClient.HttpClient
  const unsolicited = yield* Queue.dropping<Relay.Unsolicited>(maxUnsolicited)
  return {
    name,
    server,
    maxReplyBytes: server.maxReplyBytes ?? defaultMaxReplyBytes,
    callTimeout: server.callTimeout === undefined ? defaultCallTimeout : Duration.fromInputUnsafe(server.callTimeout),
    pingInterval: pingIntervalOf(server),
    token: "url" in server && server.oauth !== undefined
      ? credentials.noting(name, clientCredentials(name, server.oauth, http))
      : undefined,
    stderr: "command" in server ? yield* Stderr.make(name, credentials) : undefined,
    revision: Rpc.revisionMeta(server.protocol ?? "2025-11-25", implementation),
    taken: server.tools === undefined ? Allow.everything : Allow.rule(server.tools),
    relay: Relay.make((told) => void Queue.offerUnsafe(unsolicited, told)),
    unsolicited,
    mask: credentials.mask,
    maskValue: credentials.maskValue
  } satisfies Spec
})

// `spec`'s server supervised over `status`, opened by `reopen`, pinged while up. An HTTP server's connection does
// not end by itself: a request that cannot reach it ends it (`unreachable`).
function supervised(
  spec: Spec,
  status: Ref.Ref<Supervise.Status<Connection>>,
  reopen: Effect.Effect<Connection, UpstreamError>
) {
  return Supervise.supervise(status, {
    open: Effect.mapError(reopen, (error) => error.message),
    ended: (connection) => connection.ended,
    close: (connection) => Scope.close(connection.scope, Exit.void),
    report: ({ reason, retryIn }) =>
      Effect.logWarning(
        `Gateway: the MCP server ${spec.name} is down (${spec.mask(reason)}); it is ${
          "command" in spec.server ? "started" : "tried"
        } again in ${Duration.format(retryIn)}`
      ),
    ping: spec.pingInterval === undefined ? undefined : {
      every: spec.pingInterval,
      send: (connection) =>
        Rpc.request(connection.transport, "ping", Rpc.withMeta(spec.revision), McpSchema.Ping.successSchema).pipe(
          Effect.asVoid,
          Effect.catchIf(answered, () => Effect.void),
          Effect.mapError((error) => error.message)
        )
    }
  })
}

// A server that says a list of it changed is listed again on its connection: served anew, and the sessions that
// may use what changed told (`endpoint.ts`, as when a new connection lists it).
const relisting = (
  spec: Spec,
  status: Ref.Ref<Supervise.Status<Connection>>,
  listing: SubscriptionRef.SubscriptionRef<Listing>
) =>
  Effect.flatMap(
    Ref.get(status),
    (now) =>
      now._tag === "Down" ? Effect.void : list(spec, now.connection.client, now.connection.transport).pipe(
        Effect.flatMap((fresh) => SubscriptionRef.set(listing, fresh)),
        Effect.catch((error) =>
          Effect.logWarning(
            `Gateway: the MCP server ${spec.name} said its lists changed, but could not be listed again (${
              spec.mask(error.message)
            })`
          )
        )
      )
  )

// A request on `connection` to an HTTP server that did not reach it (refused, reset: it went down) ends the
// connection, so the supervisor opens a new one with backoff, and lists the server again, once it answers. One whose
// stream's resumption the server answered (`resume.ts`) found it up.
const unreachable = (
  spec: Spec,
  connection: Connection,
  error: McpClientError.McpClientError | UpstreamError
): Effect.Effect<void> =>
  "url" in spec.server && error._tag === "McpClientError" && error.reason._tag === "TransportError" &&
    Resume.refusal(error.reason.cause) === undefined
    ? Deferred.succeed(connection.ended, `it did not answer (${error.reason.message})`)
    : Effect.void

// A call's failure on `connection` as the call's error, noted as the connection's loss where it is one (`unreachable`).
const callFailed = (spec: Spec, connection: Connection) =>
(
  error: McpClientError.McpClientError | UpstreamError
): Effect.Effect<never, UpstreamError> =>
  error._tag === "McpUpstreamError" ? Effect.fail(error) : Effect.flatMap(
    // A stdio connection lost under the call: its process stopped, and why is known within a moment.
    "command" in spec.server && (error.reason._tag === "TransportError" || error.reason._tag === "ClosedError")
      ? Effect.timeoutOption(Deferred.await(connection.ended), "1 second")
      : Effect.succeedNone,
    (ended) =>
      Effect.fail(
        new UpstreamError({
          message: ended._tag === "Some"
            ? `it stopped during the call (it ${ended.value}); the gateway is starting it again`
            : detail(spec, error),
          answered: answeredOf(error)
        })
      )
  )

// The connection a call goes to: the current one; for an HTTP server that was not reached, a new one (`reopen`).
function currentOf(
  server: Gateway.McpServer,
  status: Ref.Ref<Supervise.Status<Connection>>,
  reopen: Effect.Effect<Connection, UpstreamError>
): Effect.Effect<Connection, UpstreamError> {
  return Effect.suspend(() => {
    const now = Ref.getUnsafe(status)
    if (now._tag === "Up") return Effect.succeed(now.connection)
    if ("url" in server) return reopen
    return Effect.fail(
      new UpstreamError({
        message: `it is not running (it ${now.reason}); the gateway is starting it again, so try again shortly`
      })
    )
  })
}

// What the log is told of a server not up when the start stops waiting for it: still opening, or failed.
function warnedOf(spec: Spec, opening: Option.Option<Result.Result<Connection, UpstreamError>>) {
  if (Option.isNone(opening)) {
    return Effect.logWarning(
      `Gateway: the MCP server ${spec.name} did not answer within ${Duration.format(connectTimeout)}; its tools are ` +
        "served once it answers"
    )
  }
  if (opening.value._tag === "Success") return Effect.void
  return Effect.logWarning(
    `Gateway: the MCP server ${spec.name} could not be reached (${
      spec.mask(opening.value.failure.message)
    }); it is tried again, and its tools are served once it answers`
  )
}

/**
 * `server` supervised while the scope is open: connected and listed now if it answers within `connectTimeout`, else
 * (logged) served once it does; tried again with backoff when it fails or does not open within `openTimeout`. Its
 * OAuth tokens are noted among `credentials`, which mask what it says in the gateway's log.
 */
export const connect = Effect.fnUntraced(function*(
  name: string,
  server: Gateway.McpServer,
  credentials: Credentials.Credentials
) {
  const scope = yield* Effect.scope
  const http = yield* HttpClient.HttpClient
  const spec = yield* resolve(name, server, credentials)
  const { revision } = spec
  const listing = yield* SubscriptionRef.make<Listing>(unlisted)
  const updates = yield* Effect.acquireRelease(PubSub.unbounded<string>(), PubSub.shutdown)
  const reopened = yield* Effect.acquireRelease(PubSub.unbounded<void>(), PubSub.shutdown)
  let opens = 0
  const opened = (parent: Scope.Scope) =>
    withFreshToken(spec, open(spec, parent)).pipe(
      Effect.provideService(HttpClient.HttpClient, http),
      Effect.mapError((error) =>
        error._tag === "McpUpstreamError" ? error : new UpstreamError({ message: error.message })
      ),
      // Whatever it waits for (its token, its process, its answers): one that never opens is tried again.
      Effect.timeoutOrElse({
        duration: openTimeout,
        orElse: () =>
          Effect.fail(new UpstreamError({ message: `it did not open within ${Duration.format(openTimeout)}` }))
      }),
      Effect.tap((connection) => SubscriptionRef.set(listing, connection.listing)),
      Effect.tap(() => Effect.sync(() => opens++))
    )
  const status = yield* Ref.make<Supervise.Status<Connection>>({ _tag: "Down", reason: "is starting" })
  const reopening = yield* Semaphore.make(1)

  // A new connection in place of `stale` (an HTTP server forgot its session) or of none (a server down), unless
  // another call (or the supervisor) already made one. The stale one's end tells the supervisor, which goes on with
  // the new one, or (none opened) tries again with backoff.
  const reopen = (stale: Connection | undefined) =>
    reopening.withPermit(Effect.gen(function*() {
      const now = yield* Ref.get(status)
      if (now._tag === "Up" && now.connection !== stale) return now.connection
      if (stale !== undefined) yield* Scope.close(stale.scope, Exit.void)
      const fresh = yield* Effect.tapError(opened(scope), (error) =>
        Effect.andThen(
          Ref.set(status, { _tag: "Down", reason: error.message }),
          stale === undefined ? Effect.void : Deferred.succeed(stale.ended, error.message)
        ))
      yield* Ref.set(status, { _tag: "Up", connection: fresh })
      // Told once it is the connection up, so that what follows it (subscribing again) is asked of it.
      if (opens > 1) yield* PubSub.publish(reopened, undefined)
      if (stale !== undefined) yield* Deferred.succeed(stale.ended, "its session expired")
      return fresh
    }))

  // The first connection opens in the scope, the start waiting for it no longer than `connectTimeout`; its
  // supervision starts once it opened or failed, so that a server slow to start is not started twice.
  const first = yield* Effect.forkScoped(Effect.result(Effect.tapError(
    reopen(undefined),
    (error) => Ref.set(status, { _tag: "Down", reason: `could not be reached (${error.message})` })
  )))
  yield* Effect.flatMap(Effect.timeoutOption(Fiber.join(first), connectTimeout), (opening) => warnedOf(spec, opening))
  yield* Effect.forkScoped(Effect.andThen(Fiber.await(first), supervised(spec, status, reopen(undefined))))

  yield* Effect.forkScoped(follow(spec, relisting(spec, status, listing), (uri) => PubSub.publish(updates, uri)))

  const current = currentOf(server, status, reopen(undefined))

  // `send` on the current connection, sent again on a new one when an HTTP server forgot its session; its failure
  // noted as the connection's loss where it is one (`unreachable`), then handed to `failed` of that connection.
  const onCurrent = <A, E>(
    send: (connection: Connection) => Effect.Effect<A, McpClientError.McpClientError | UpstreamError>,
    failed: (connection: Connection) => (error: McpClientError.McpClientError | UpstreamError) => Effect.Effect<A, E>
  ) =>
    Effect.flatMap(current, (connection) =>
      send(connection).pipe(
        Effect.catchIf(sessionExpired, () => Effect.flatMap(reopen(connection), send)),
        Effect.catch((error) => Effect.andThen(unreachable(spec, connection, error), failed(connection)(error)))
      ))

  // The call of `tool` on the current connection (`onCurrent`), relaying to `listener` (`relay.ts`). A stateless server
  // is told what the calling client declared (`listener.declared`) in place of the gateway's own nothing.
  const call = (
    tool: McpSchema.Tool,
    payload: Readonly<Record<string, unknown>> | undefined,
    meta: Readonly<Record<string, string>>,
    listener: Relay.Listener,
    continuation: ServerRequests.Continuation = {}
  ) =>
    Relay.relaying(spec.relay, listener, (relayed) => {
      const declared = server.protocol === "2026-07-28" ? { [Rpc.capabilitiesMeta]: listener.declared } : {}
      const params = {
        name: tool.name,
        ...(payload === undefined ? {} : { arguments: payload }),
        ...continuation,
        _meta: { ...revision, ...declared, ...meta, ...relayed }
      }
      const send = (connection: Connection) =>
        withFreshToken(
          spec,
          timed(
            spec.callTimeout,
            "tools/call",
            Effect.flatMap(
              Rpc.request(connection.transport, "tools/call", params, Rpc.CallResult, tool),
              Rpc.callOutcome
            )
          )
        )
      return onCurrent(send, (connection) => callFailed(spec, connection))
    })
  const request = <S extends Schema.Top & { readonly DecodingServices: never }>(
    method: string,
    params: Readonly<Record<string, unknown>>,
    schema: S
  ) => {
    const meta = params["_meta"] as Readonly<Record<string, unknown>> | undefined
    const sent = Object.keys(revision).length === 0 ? params : { ...params, _meta: { ...revision, ...meta } }
    const send = (connection: Connection) =>
      withFreshToken(spec, timed(spec.callTimeout, method, Rpc.request(connection.transport, method, sent, schema)))
    return onCurrent(send, () => Effect.fail)
  }
  return {
    name,
    listing: SubscriptionRef.get(listing),
    listings: SubscriptionRef.changes(listing),
    call,
    request,
    subscribes: Effect.map(current, (connection) => connection.subscribes),
    updates: Stream.fromPubSub(updates),
    reopened: Stream.fromPubSub(reopened)
  } satisfies Upstream
})
