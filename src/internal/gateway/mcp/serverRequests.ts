/**
 * An upstream's requests of its client during a call (`sampling/createMessage`, `elicitation/create`, `roots/list`),
 * relayed to the client that made the call. `effect/ai`'s `McpClient` answers every server request itself and declares
 * no client capability, so the gateway works beneath it: the upstream connection, which serves every caller, declares
 * all three (`declaring`), `relay.ts` ties each request to its call (`Asked`), and `McpClient`'s reply is replaced by
 * that call's client's answer (`answering` over HTTP, `answeringLines` over stdio), held to what that client declared.
 * A request that cannot be tied to one call (a stdio server's with several calls in flight, one on an HTTP server's
 * standalone stream: `refusing`) is answered -32601. `McpClient` reads a call's stream one message at a time and waits
 * for its reply, so a call has at most one request of its server outstanding.
 *
 * `McpServer` neither tells the gateway the id it sends a client a request under nor passes on the client's progress
 * or cancel of it, so the endpoint's POSTs are read beneath it (`served`). A 2026-07-28 server sends no request but
 * asks for input in a multi round-trip result, which a 2025-11-25 client is asked here request by request (`carried`).
 * A 2026-07-28 client's call whose server asks for what the client did not declare ends with the protocol's error
 * (`Undeclared`, docs/mcp.md "Requests").
 */
import type * as McpClient from "effect/ai/McpClient"
import * as McpSchema from "effect/ai/McpSchema"
import type * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Struct from "effect/Struct"
import { randomUUID } from "node:crypto"
import * as Sse from "../../../Sse.js"
import { isJsonObject, parseJsonObject } from "../../json.js"
import type * as Listen from "./listen.js"
import * as Tapped from "./tapped.js"

/** The requests of a server relayed to its call's client. */
export const relayedMethods = ["sampling/createMessage", "elicitation/create", "roots/list"] as const

/** A request of a server relayed to its call's client. */
export type Method = (typeof relayedMethods)[number]

/** Whether `method` is one a server's request of which is relayed. */
export const isRelayed = (method: unknown): method is Method =>
  (relayedMethods as ReadonlyArray<unknown>).includes(method)

/** Whether `id` is a JSON-RPC request's id: a string or a number. */
export const isRequestId = Schema.is(McpSchema.RequestId)

/** How long the gateway waits for a client's answer to its server's request. */
export const askTimeout = Duration.seconds(60)

/** The capability of a client each relayed request needs. */
export const needs = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots"
} as const satisfies Record<Method, keyof McpSchema.ClientCapabilities>

/** What the gateway's upstream connection declares of a client: all it can relay. */
export const declared = { sampling: {}, elicitation: {}, roots: {} } as const

/**
 * What a client declared (`capabilities`) of those the gateway relays (`declared`'s), as a 2026-07-28 server is told in
 * each call's `_meta` (that revision declares them per request, so each call declares its own client's).
 */
export function declaredOf(capabilities: McpSchema.ClientCapabilities): Readonly<Record<string, unknown>> {
  return Struct.pick(capabilities, Object.values(needs))
}

/** The error a 2026-07-28 server answers a request that needs a capability its client did not declare. */
export const missingCapabilityCode = -32021

/** A JSON-RPC error as it goes back to the server. */
export interface Failure {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/** How a message (JSON) reaches the server a relayed request came from: a client's progress for the request. */
export type Send = (message: string) => Effect.Effect<void>

/** A call's client asked `method` with `params` for its server (which `send` reaches): its result, or the error. */
export type Ask = (method: Method, params: unknown, send: Send) => Effect.Effect<unknown, Failure>

/** A request of a server that came for a call (`relay.ts` notes it), for the call's client to answer. */
export interface Asked {
  readonly id: string | number
  readonly method: Method
  readonly params: unknown
  /** How the call's client is asked; none: it is refused. */
  readonly ask: Ask | undefined
  /** The call it came for, by identity: what is noted of it goes when the call ends. */
  readonly call: object
}

/**
 * One server's requests of its calls' clients, by their id: each noted until `McpClient` replies to it (`asked`),
 * then while its client's answer is awaited (`answering`, which the server's cancel of it completes).
 */
export interface Requests {
  readonly asked: Map<string, Asked>
  readonly answering: Map<string, Deferred.Deferred<void>>
}

/** A server's requests of its clients: none yet. */
export const requests = (): Requests => ({ asked: new Map(), answering: new Map() })

/**
 * The server cancelled its request `id` (its `notifications/cancelled`): its client's answer is awaited no more,
 * which `McpServer` tells the client, and the server is answered nothing.
 */
export function cancelled(requests: Requests, id: unknown): void {
  if (!isRequestId(id)) return
  const answering = requests.answering.get(String(id))
  if (answering !== undefined) Deferred.doneUnsafe(answering, Effect.void)
}

/** The error a client that cannot take `method` is answered with: -32601, method not found. */
const notFound = (method: string): Failure => ({
  code: McpSchema.METHOD_NOT_FOUND_ERROR_CODE,
  message: `Unsupported MCP method: ${method}`
})

/** The error a server's request its client cancelled is answered with. */
const cancelledByClient = (method: Method): Failure => ({
  code: McpSchema.INTERNAL_ERROR_CODE,
  message: `The client cancelled ${method}`
})

// The error in `cause` (a reverse request's failure): the client's own JSON-RPC error when it answered with one.
function failureOf(method: Method, cause: unknown): Failure {
  if (isJsonObject(cause) && typeof cause["code"] === "number" && typeof cause["message"] === "string") {
    return { code: cause["code"], message: cause["message"], ...("data" in cause ? { data: cause["data"] } : {}) }
  }
  if (isJsonObject(cause) && "cause" in cause && cause["cause"] !== cause) return failureOf(method, cause["cause"])
  return { code: McpSchema.INTERNAL_ERROR_CODE, message: `The client did not answer ${method}` }
}

// `params` of a server's `method` decoded with `schema` (what the endpoint sends), or error -32602, invalid params.
const decoded = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  method: Method,
  params: unknown
): Effect.Effect<S["Type"], Failure> =>
  Effect.mapError(Schema.decodeUnknownEffect(schema)(params), (issue) => ({
    code: McpSchema.INVALID_PARAMS_ERROR_CODE,
    message: `Invalid ${method} params: ${issue.message}`
  }))

/** The revision whose clients are sent no server's request: it carries them in a multi round-trip result. */
export const roundTrips = "2026-07-28"

// The error a 2026-07-28 client's call's server's `method` is answered with: -32601, naming why.
const noReverse = (method: Method): Failure => ({
  code: McpSchema.METHOD_NOT_FOUND_ERROR_CODE,
  message: `Unsupported MCP method: ${method} (the calling client is on MCP ${roundTrips}, which sends a server's ` +
    "requests to its client only in a multi round-trip result; the gateway relays them to 2025-11-25 sessions)"
})

/** The most progress notifications of a client one relayed request passes to its server. */
export const maxClientProgress = 1000

/** A request relayed to a client now: what its server asked progress by, how it is reached, and the client's cancel. */
export interface InFlight {
  readonly token: McpSchema.ProgressToken | undefined
  readonly send: Send
  readonly cancel: Deferred.Deferred<void>
  progress: number
}

/**
 * The requests an endpoint's clients are asked now, by what a client's notification about one names: the progress
 * token of the gateway's own it was sent, and its client's session with the id it was sent under.
 */
export interface Relayed {
  readonly byToken: Map<string, InFlight>
  readonly byId: Map<string, InFlight>
}

/** The requests of an endpoint's clients: none yet. */
export const relayed = (): Relayed => ({ byToken: new Map(), byId: new Map() })

const idKey = (session: string | undefined, id: unknown) => `${session ?? ""}\u0000${typeof id}:${String(id)}`

/** What one POST's response carries of the relayed requests: one at a time being sent, until it is seen going out. */
export interface Outgoing {
  readonly relayed: Relayed
  readonly session: string | undefined
  readonly lock: Semaphore.Semaphore
  sending: { readonly token: string | undefined; readonly sent: Deferred.Deferred<string | number> } | undefined
}

/** The relayed requests of the POST being answered (`served` gives every POST one). */
export class Outbound extends Context.Service<Outbound, Outgoing>()("effect-llm-router/gateway/mcp/Outbound") {}

const decodeToken = Schema.decodeUnknownOption(McpSchema.ProgressToken)

/** The progress token a request's `_meta` (`meta`) asks progress by, if any. */
export function tokenIn(meta: unknown): McpSchema.ProgressToken | undefined {
  return Option.getOrUndefined(decodeToken(isJsonObject(meta) ? meta["progressToken"] : undefined))
}

// `params` without the progress token of its server, which the client never sees (it is sent the gateway's).
function withoutToken(params: unknown): unknown {
  if (!isJsonObject(params) || !isJsonObject(params["_meta"]) || !("progressToken" in params["_meta"])) return params
  const { progressToken: _, ...meta } = params["_meta"]
  const { _meta: __, ...rest } = params
  return Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta }
}

/**
 * `asking` (the client's reverse request of `params`) sent on `outbound`'s POST, its id and progress token noted in
 * `outbound.relayed` while it is awaited: the client's progress goes to its server by `send`, and its cancel fails it.
 */
const through = Effect.fnUntraced(function*(
  outbound: Outgoing,
  method: Method,
  params: unknown,
  send: Send,
  asking: (params: unknown) => Effect.Effect<unknown, Failure>
) {
  const { relayed } = outbound
  const upstreamToken = tokenIn(isJsonObject(params) ? params["_meta"] : undefined)
  const token = upstreamToken === undefined ? undefined : `progress-${randomUUID()}`
  const inFlight: InFlight = { token: upstreamToken, send, cancel: yield* Deferred.make<void>(), progress: 0 }
  let key: string | undefined
  if (token !== undefined) relayed.byToken.set(token, inFlight)
  // One request goes out at a time on the POST's stream, so the first one seen there is this one.
  const sending = Effect.gen(function*() {
    const sent = yield* Deferred.make<string | number>()
    outbound.sending = { token, sent }
    const fiber = yield* Effect.forkChild(asking(withoutToken(params)))
    const id = yield* Effect.raceFirst(
      Effect.map(Deferred.await(sent), Option.some),
      Effect.as(Fiber.await(fiber), Option.none())
    )
    return { fiber, id }
  }).pipe(Effect.ensuring(Effect.sync(() => void (outbound.sending = undefined))))
  return yield* Effect.gen(function*() {
    const { fiber, id } = yield* Semaphore.withPermit(outbound.lock)(sending)
    if (id._tag === "Some") {
      key = idKey(outbound.session, id.value)
      relayed.byId.set(key, inFlight)
    }
    return yield* Effect.raceFirst(
      Fiber.join(fiber),
      Effect.andThen(Deferred.await(inFlight.cancel), Effect.fail(cancelledByClient(method)))
    ).pipe(Effect.ensuring(Fiber.interrupt(fiber)))
  }).pipe(Effect.ensuring(Effect.sync(() => {
    if (token !== undefined) relayed.byToken.delete(token)
    if (key !== undefined) relayed.byId.delete(key)
  })))
})

/**
 * What a 2026-07-28 call is told when its server asks its client for what the client did not declare: the request,
 * as the input the call would need, which ends the call with the protocol's error for an undeclared capability.
 */
export type Undeclared = (request: McpSchema.McpInputRequest) => void

// `method` with `params` as an input request of a 2026-07-28 result (`McpServer` checks it against what the client
// declared).
function inputRequest(method: Method, params: unknown): McpSchema.McpInputRequest {
  return { method, params: isJsonObject(params) ? params : {} }
}

/**
 * How a call's client is asked its server's requests: through `client`, on the POST's response stream `outbound`
 * notes, for the capabilities it declared (`undefined` when none). A 2026-07-28 client has no request of a server
 * outside a multi round-trip result, which the gateway does not make: one it declared is answered with an error naming
 * why; one it did not is told to its call (`undeclared`), ending with the protocol's error (its server gets -32601).
 */
export function asker(
  client: McpSchema.McpServerClient["Service"] | undefined,
  context: McpSchema.McpRequestContext["Service"],
  outbound?: Outgoing | undefined,
  undeclared?: Undeclared | undefined
): Ask | undefined {
  const capabilities = client?.clientCapabilities ?? context.clientCapabilities
  const declaresNone = relayedMethods.every((method) => capabilities[needs[method]] === undefined)
  if (context.protocolVersion === roundTrips) {
    if (declaresNone && undeclared === undefined) return undefined
    return (method, params) =>
      capabilities[needs[method]] !== undefined
        ? Effect.fail(noReverse(method))
        : Effect.suspend(() => {
          undeclared?.(inputRequest(method, params))
          return Effect.fail(notFound(method))
        })
  }
  if (declaresNone || client === undefined) return undefined
  const reverseOf = (method: Method) => (params: unknown) =>
    Effect.scoped(
      Effect.flatMap(client.getClient, (reverse) => {
        const asked: Effect.Effect<unknown, unknown> = method === "sampling/createMessage"
          ? Effect.flatMap(decoded(McpSchema.CreateMessage.payloadSchema, method, params), reverse.createMessage)
          : method === "elicitation/create"
          ? Effect.flatMap(decoded(McpSchema.Elicit.payloadSchema, method, params), reverse.elicit)
          : Effect.flatMap(decoded(McpSchema.ListRoots.payloadSchema, method, params ?? {}), reverse.listRoots)
        return asked.pipe(
          Effect.timeoutOrElse({
            duration: askTimeout,
            orElse: () =>
              Effect.fail<Failure>({
                code: McpSchema.INTERNAL_ERROR_CODE,
                message: `The client did not answer ${method} within ${Duration.format(askTimeout)}`
              })
          }),
          Effect.mapError((error) => failureOf(method, error))
        )
      })
    )
  return (method, params, send) =>
    capabilities[needs[method]] === undefined
      ? Effect.fail(notFound(method))
      : outbound === undefined
      ? reverseOf(method)(withoutToken(params))
      : through(outbound, method, params, send, reverseOf(method))
}

/**
 * What a call of a 2026-07-28 server carries on from its multi round-trip result: the answers to its input requests,
 * by their keys, and the state it gave, as its client's retry of the call carries them.
 */
export interface Continuation {
  readonly inputResponses?: Readonly<Record<string, unknown>> | undefined
  readonly requestState?: string | undefined
}

/** The most rounds a call of a 2026-07-28 server is carried through for a client asked its requests by the gateway. */
export const maxRounds = 10

// Progress of a client's answer to an input request: it has no request of the server to go to.
const noProgress: Send = () => Effect.void

/**
 * A call of a 2026-07-28 server carried to its end for a client the gateway asks its server's requests (`ask`, held to
 * what it declared): each input request of a multi round-trip result is asked of it, and the call sent again with the
 * answers and the state, at most `maxRounds` times. An input request it cannot answer fails the call with why.
 */
export const carried = Effect.fnUntraced(function*<E, R>(
  send: (continuation: Continuation) => Effect.Effect<McpSchema.CallToolResult | McpSchema.InputRequired, E, R>,
  ask: Ask | undefined
) {
  let continuation: Continuation = {}
  for (let round = 0; round < maxRounds; round++) {
    const result = yield* send(continuation)
    if (!Predicate.isTagged(result, "InputRequired")) return result
    const inputResponses: Record<string, unknown> = {}
    for (const [key, request] of Object.entries(result.inputRequests ?? {})) {
      const failure = (error: Failure) => ({ ...error, message: `${request.method} of its client: ${error.message}` })
      inputResponses[key] = yield* Effect.mapError(
        ask === undefined ? Effect.fail(notFound(request.method)) : ask(request.method, request.params, noProgress),
        failure
      )
    }
    continuation = { inputResponses, requestState: result.requestState }
  }
  return yield* Effect.fail<Failure>({
    code: McpSchema.INTERNAL_ERROR_CODE,
    message: `it asked its client for input more than ${maxRounds} times in one call`
  })
})

/** `transport`, its `initialize` declaring the capabilities of a client the gateway relays (`declared`). */
export function declaring(transport: McpClient.Transport): McpClient.Transport {
  return {
    ...transport,
    request: (message, tool) =>
      transport.request(
        message.method === "initialize" && isJsonObject(message.params)
          ? { ...message, params: { ...message.params, capabilities: declared } }
          : message,
        tool
      )
  }
}

// The request of `requests` that `text` (a message `McpClient` sends its server) is the reply to, taken from those
// waiting: `McpClient`'s own refusal of it.
function askedOf(text: string, requests: Requests) {
  if (requests.asked.size === 0 || !text.includes("\"error\"")) return undefined
  const message = parseJsonObject(text)
  if (message === undefined || "method" in message || !("error" in message)) return undefined
  const id = message["id"]
  const asked = isRequestId(id) ? requests.asked.get(String(id)) : undefined
  if (asked !== undefined) requests.asked.delete(String(id))
  return asked
}

// The reply to `asked` (JSON), as its server is sent it: its call's client's answer, or the error it is answered
// with; none when the server cancelled it meanwhile. `send` reaches the server.
function replyTo(asked: Asked, requests: Requests, send: Send): Effect.Effect<string | undefined> {
  const key = String(asked.id)
  const answer = asked.ask === undefined
    ? Effect.fail(notFound(asked.method))
    : asked.ask(asked.method, asked.params, send)
  return Effect.gen(function*() {
    const cancel = yield* Deferred.make<void>()
    requests.answering.set(key, cancel)
    return yield* Effect.raceFirst(
      answer.pipe(
        Effect.match({
          onFailure: (error) => JSON.stringify({ jsonrpc: "2.0", id: asked.id, error }),
          onSuccess: (result) => JSON.stringify({ jsonrpc: "2.0", id: asked.id, result })
        })
      ),
      Effect.as(Deferred.await(cancel), undefined)
    ).pipe(Effect.ensuring(Effect.sync(() => {
      if (requests.answering.get(key) === cancel) requests.answering.delete(key)
    })))
  })
}

/**
 * `http`, the replies `McpClient` posts to its server's requests that `requests` holds carrying the calling client's
 * answer in place of `McpClient`'s refusal (not sent at all when the server cancelled the request meanwhile).
 */
export function answering(http: HttpClient.HttpClient, requests: Requests): HttpClient.HttpClient {
  return HttpClient.transform(http, (effect, request) => {
    if (requests.asked.size === 0 || request.method !== "POST" || request.body._tag !== "Uint8Array") return effect
    const asked = askedOf(request.body.text ?? new TextDecoder().decode(request.body.body), requests)
    if (asked === undefined) return effect
    const post = (message: string) => http.execute(HttpClientRequest.bodyText(request, message, "application/json"))
    const send: Send = (message) => Effect.ignore(Effect.flatMap(post(message), (response) => response.text))
    return Effect.flatMap(
      replyTo(asked, requests, send),
      (reply) =>
        reply === undefined
          ? Effect.succeed(HttpClientResponse.fromWeb(request, new Response(null, { status: 202 })))
          : post(reply)
    )
  })
}

/**
 * A stdio server's input (`stdin`) beneath `McpClient`: its lines pass on, but its reply to a request `requests` holds
 * is replaced by the calling client's answer once it comes (asked from a fiber of `scope`, so that other calls'
 * messages are not held behind it; nothing when the server cancelled meanwhile). Once a write to the server failed,
 * `McpClient`'s writes fail with its error.
 */
export const answeringLines = Effect.fnUntraced(function*<E>(
  stdin: Sink.Sink<void, Uint8Array, never, E>,
  requests: Requests,
  scope: Scope.Scope
) {
  const input = yield* Queue.unbounded<string, Cause.Done>()
  // Why the server's input failed, once it did: `McpClient`'s next write fails with it, as it would on the pipe.
  let failed: { readonly error: E } | undefined
  yield* Effect.forkIn(
    Stream.run(Stream.encodeText(Stream.fromQueue(input)), stdin).pipe(
      Effect.catch((error) => Effect.sync(() => void (failed = { error })))
    ),
    scope
  )
  const read = Tapped.lines()
  const send: Send = (message) => Effect.asVoid(Queue.offer(input, `${message}\n`))
  const write = (chunk: Uint8Array) =>
    Effect.suspend(() => {
      if (failed !== undefined) return Effect.fail(failed.error)
      return Effect.forEach(read(chunk).lines, (line): Effect.Effect<unknown> => {
        const asked = askedOf(line, requests)
        return asked === undefined
          ? Queue.offer(input, `${line}\n`)
          : Effect.forkIn(
            Effect.flatMap(replyTo(asked, requests, send), (reply) => reply === undefined ? Effect.void : send(reply)),
            scope
          )
      }, { discard: true })
    })
  return Sink.forEach(write).pipe(Sink.ensuring(Queue.end(input))) satisfies Sink.Sink<void, Uint8Array, never, E>
})

// A client's POSTed notification (`text`) of a request relayed to it, passed on: its progress to the request's
// server, under the server's token; its cancel (of the id the client was sent, in `session`) failing the request.
// Whether it was one.
const notified = Effect.fnUntraced(function*(relayed: Relayed, session: string | undefined, text: string) {
  if (!text.includes("notifications/progress") && !text.includes("notifications/cancelled")) return false
  const message = parseJsonObject(text)
  if (message === undefined || "id" in message || !isJsonObject(message["params"])) return false
  const params = message["params"]
  if (message["method"] === "notifications/progress") {
    const inFlight = relayed.byToken.get(String(params["progressToken"]))
    if (inFlight?.token === undefined) return false
    inFlight.progress += 1
    if (inFlight.progress > maxClientProgress) return true
    const progress = { ...params, progressToken: inFlight.token }
    yield* inFlight.send(JSON.stringify({ jsonrpc: "2.0", method: "notifications/progress", params: progress }))
    return true
  }
  if (message["method"] !== "notifications/cancelled") return false
  const inFlight = relayed.byId.get(idKey(session, params["requestId"]))
  if (inFlight === undefined) return false
  yield* Deferred.succeed(inFlight.cancel, undefined)
  return true
})

// `chunk` (text: one or more of `McpServer`'s SSE events, each whole, as it frames them) with the request `outbound`
// is sending seen: its id noted, the gateway's progress token put in its `_meta`; none when it is not there.
function seen(outbound: Outgoing, chunk: string): string | undefined {
  const sending = outbound.sending
  if (sending === undefined) return undefined
  let found = false
  const events = chunk.split("\n\n").map((event) => {
    if (found || !event.startsWith("data: ")) return event
    const message = parseJsonObject(event.slice("data: ".length))
    const id = message?.["id"]
    if (message === undefined || !isRelayed(message["method"]) || !isRequestId(id)) {
      return event
    }
    found = true
    outbound.sending = undefined
    Deferred.doneUnsafe(sending.sent, Effect.succeed(id))
    if (sending.token === undefined) return event
    const params = isJsonObject(message["params"]) ? message["params"] : {}
    const meta = isJsonObject(params["_meta"]) ? params["_meta"] : {}
    return `data: ${
      JSON.stringify({ ...message, params: { ...params, _meta: { ...meta, progressToken: sending.token } } })
    }`
  })
  return found ? events.join("\n\n") : undefined
}

// `response` (to a POST), its SSE stream read for the relayed request `outbound` is sending (`seen`).
function watched(response: HttpServerResponse.HttpServerResponse, outbound: Outgoing) {
  const body = response.body
  if (body._tag !== "Stream" || !body.contentType.startsWith("text/event-stream")) return response
  const decoder = new TextDecoder()
  const encoder = new TextEncoder()
  const stream = Stream.map(body.stream, (chunk) => {
    if (outbound.sending === undefined) return chunk
    const text = decoder.decode(chunk)
    if (!relayedMethods.some((method) => text.includes(method))) return chunk
    const rewritten = seen(outbound, text)
    return rewritten === undefined ? chunk : encoder.encode(rewritten)
  })
  return HttpServerResponse.setBody(response, HttpBody.stream(stream, body.contentType))
}

/**
 * `answer` (an endpoint's) to `request`: a client's POSTed notification of a request relayed to it (its progress, its
 * cancel), which `McpServer` would drop, passed on here and answered 202; any other POST answered by `answer` with
 * its `Outbound`, its response read for the relayed requests it carries.
 */
export function served<E, R>(
  relayed: Relayed,
  request: HttpServerRequest.HttpServerRequest,
  answer: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, Exclude<R, Outbound>> {
  if (request.method !== "POST") return Effect.provideService(answer, Outbound, outbound(relayed, undefined))
  const session = request.headers["mcp-session-id"]
  return Effect.gen(function*() {
    if (relayed.byToken.size > 0 || relayed.byId.size > 0) {
      const text = yield* Effect.orElseSucceed(request.text, () => "")
      if (yield* notified(relayed, session, text)) return HttpServerResponse.empty({ status: 202 })
    }
    const out = outbound(relayed, session)
    return watched(yield* Effect.provideService(answer, Outbound, out), out)
  })
}

const outbound = (relayed: Relayed, session: string | undefined): Outgoing => ({
  relayed,
  session,
  lock: Semaphore.makeUnsafe(1),
  sending: undefined
})

/**
 * `standalone` (an HTTP server's standalone stream, `listen.ts`), a request the server sends on it answered -32601
 * (method not found; `ping` answered): it is no call's, so no client is asked, and `McpClient` does not read it.
 */
export function refusing(standalone: Listen.Standalone, maxBytes: number): Listen.Standalone {
  const reply = (message: Readonly<Record<string, unknown>>) => {
    const method = String(message["method"])
    const answer = method === "ping"
      ? { jsonrpc: "2.0", id: message["id"], result: {} }
      : { jsonrpc: "2.0", id: message["id"], error: notFound(method) }
    const request = HttpClientRequest.post(standalone.url).pipe(
      HttpClientRequest.setHeaders({
        ...standalone.headers,
        accept: "application/json, text/event-stream",
        ...(standalone.session.id === undefined ? {} : { "mcp-session-id": standalone.session.id })
      }),
      HttpClientRequest.bodyText(JSON.stringify(answer), "application/json")
    )
    return Effect.ignore(Effect.scoped(standalone.http.execute(request)))
  }
  const answer = (data: string) => {
    if (!data.includes("\"method\"") || !data.includes("\"id\"")) return Effect.void
    const message = parseJsonObject(data)
    return message !== undefined && "method" in message && isRequestId(message["id"]) ? reply(message) : Effect.void
  }
  const http = HttpClient.transformResponse(standalone.http, (effect) =>
    Effect.flatMap(effect, (response) => {
      if (!Tapped.isEventStream(response)) return Effect.succeed(response)
      const decoder = Sse.makeDecoder({ maxEventSize: maxBytes })
      const read = (chunk: Uint8Array) => {
        try {
          return Effect.forEach(decoder.push(chunk), (event) => answer(event.data), { discard: true })
        } catch {
          return Effect.void
        }
      }
      return Effect.succeed(Tapped.tapped(response, Stream.tap(response.stream, read)))
    }))
  return { ...standalone, http }
}
