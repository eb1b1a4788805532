/**
 * An upstream's requests of its client during a call (`sampling/createMessage`, `elicitation/create`, `roots/list`),
 * relayed to the client that made the call and its answer sent back. `effect/ai`'s `McpClient` answers every request
 * a server sends itself (a ping, else "method not found") and declares no capability of a client, so the gateway works
 * beneath it: its upstream connection declares the three (`declaring`), what the server sends is read by `relay.ts`,
 * which notes a request of the call it belongs to (`Relay.Asked`), and the reply `McpClient` then sends the server for
 * it is replaced by the calling client's own answer: in the body of the POST for an HTTP server (`answering`), as the
 * line written on a stdio server's input (`answeringLines`). The client is asked through its endpoint
 * (`McpServerClient`'s reverse client, on the call's own response stream, with the endpoint's request id), awaited at
 * most `askTimeout`.
 *
 * A request is relayed only when it can be tied to one call whose client declared the capability in its own
 * `initialize`: for an HTTP server, one that came on that call's response stream; for a stdio server, whose one output
 * is every call's, one that came while that call was the only one in flight on it. Any other (a client without the
 * capability, a stdio server's with no call or several in flight) keeps `McpClient`'s own answer: error -32601, method
 * not found, as one on an HTTP server's standalone stream, which `McpClient` does not read, is given here
 * (`refusing`). `McpClient` reads an HTTP response stream one message at a time and waits for its reply to be sent,
 * so a call has at most one request of its server outstanding at once. A client's error answer goes back as it gave
 * it; no answer in time is error -32603.
 */
import type * as McpClient from "effect/ai/McpClient"
import * as McpSchema from "effect/ai/McpSchema"
import type * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Sse from "../../../Sse.js"
import { isRecord } from "../../providers/wire.js"
import type * as Listen from "./listen.js"
import type * as Relay from "./relay.js"

/** The requests of a server relayed to its call's client. */
export const relayedMethods = ["sampling/createMessage", "elicitation/create", "roots/list"] as const

/** A request of a server relayed to its call's client. */
export type Method = (typeof relayedMethods)[number]

/** Whether `method` is one a server's request of which is relayed. */
export const isRelayed = (method: unknown): method is Method =>
  (relayedMethods as ReadonlyArray<unknown>).includes(method)

/** How long the gateway waits for a client's answer to its server's request. */
export const askTimeout = Duration.seconds(60)

/** The capability of a client each relayed request needs. */
const needs = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots"
} as const satisfies Record<Method, keyof McpSchema.ClientCapabilities>

/** What the gateway's upstream connection declares of a client: all it can relay. */
export const declared = { sampling: {}, elicitation: {}, roots: {} } as const

/** A JSON-RPC error as it goes back to the server. */
export interface Failure {
  readonly code: number
  readonly message: string
  readonly data?: unknown
}

/** A call's client asked `method` with `params`: its result, or the error to answer with. */
export type Ask = (method: Method, params: unknown) => Effect.Effect<unknown, Failure>

/** The error a client that cannot take `method` is answered with: -32601, method not found. */
const notFound = (method: string): Failure => ({
  code: McpSchema.METHOD_NOT_FOUND_ERROR_CODE,
  message: `Unsupported MCP method: ${method}`
})

// The error in `cause` (a reverse request's failure): the client's own JSON-RPC error when it answered with one.
function failureOf(method: Method, cause: unknown): Failure {
  if (isRecord(cause) && typeof cause["code"] === "number" && typeof cause["message"] === "string") {
    return { code: cause["code"], message: cause["message"], ...("data" in cause ? { data: cause["data"] } : {}) }
  }
  if (isRecord(cause) && "cause" in cause && cause["cause"] !== cause) return failureOf(method, cause["cause"])
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
const roundTrips = "2026-07-28"

// The error a 2026-07-28 client's call's server's `method` is answered with: -32601, naming why.
const noReverse = (method: Method): Failure => ({
  code: McpSchema.METHOD_NOT_FOUND_ERROR_CODE,
  message: `Unsupported MCP method: ${method} (the calling client is on MCP ${roundTrips}, which sends a server's ` +
    "requests to its client only in a multi round-trip result; the gateway relays them to 2025-11-25 sessions)"
})

/**
 * How a call's client is asked its server's requests: through `client` (the endpoint's, for the request being
 * handled, in `context`), for the capabilities it declared; `undefined` when it declared none of them (nothing is
 * relayed). A client on the 2026-07-28 revision, which has no request of a server to its client outside a multi
 * round-trip result (which the gateway does not make), is answered for each it declared with an error naming why.
 */
export function asker(
  client: McpSchema.McpServerClient["Service"] | undefined,
  context: McpSchema.McpRequestContext["Service"]
): Ask | undefined {
  const capabilities = client?.clientCapabilities ?? context.clientCapabilities
  if (relayedMethods.every((method) => capabilities[needs[method]] === undefined)) return undefined
  const modern = context.protocolVersion === roundTrips
  if (client === undefined && !modern) return undefined
  return (method, params) =>
    capabilities[needs[method]] === undefined
      ? Effect.fail(notFound(method))
      : client === undefined || modern
      ? Effect.fail(noReverse(method))
      : Effect.scoped(
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
}

/** `transport`, its `initialize` declaring the capabilities of a client the gateway relays (`declared`). */
export function declaring(transport: McpClient.Transport): McpClient.Transport {
  return {
    ...transport,
    request: (message, tool) =>
      transport.request(
        message.method === "initialize" && isRecord(message.params)
          ? { ...message, params: { ...message.params, capabilities: declared } }
          : message,
        tool
      )
  }
}

// The request `relay` relays that `text` (a message `McpClient` sends its server) is the reply to, taken from those
// waiting: `McpClient`'s own refusal of it.
function askedOf(text: string, relay: Relay.Relay) {
  if (relay.asked.size === 0 || !text.includes("\"error\"")) return undefined
  let message: unknown
  try {
    message = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!isRecord(message) || "method" in message || !("error" in message)) return undefined
  const id = message["id"]
  const asked = typeof id === "string" || typeof id === "number" ? relay.asked.get(String(id)) : undefined
  if (asked !== undefined) relay.asked.delete(String(id))
  return asked
}

// The reply to `asked` (JSON), as its server is sent it: its call's client's answer, or the error it is answered with.
function replyTo(asked: Relay.Asked): Effect.Effect<string> {
  const ask = asked.call.listener.ask
  return (ask === undefined ? Effect.fail(notFound(asked.method)) : ask(asked.method, asked.params)).pipe(
    Effect.match({
      onFailure: (error) => JSON.stringify({ jsonrpc: "2.0", id: asked.id, error }),
      onSuccess: (result) => JSON.stringify({ jsonrpc: "2.0", id: asked.id, result })
    })
  )
}

/**
 * `http`, the replies `McpClient` posts to its server's requests that `relay` relays carrying the calling client's
 * answer in place of `McpClient`'s refusal.
 */
export function answering(http: HttpClient.HttpClient, relay: Relay.Relay): HttpClient.HttpClient {
  return HttpClient.mapRequestEffect(http, (request) => {
    if (relay.asked.size === 0 || request.method !== "POST" || request.body._tag !== "Uint8Array") {
      return Effect.succeed(request)
    }
    const asked = askedOf(request.body.text ?? new TextDecoder().decode(request.body.body), relay)
    if (asked === undefined) return Effect.succeed(request)
    return Effect.map(replyTo(asked), (reply) => HttpClientRequest.bodyText(request, reply, "application/json"))
  })
}

/**
 * A stdio server's input (`stdin`), owned beneath `McpClient`: what `McpClient` writes passes on line by line, but
 * its reply to a request `relay` relays, held back, is written as the calling client's answer once it comes (asked
 * from a fiber of `scope`, the process's, so the other calls' messages are not held behind it). The server's input
 * is closed when `McpClient`'s is; once writing to it failed, `McpClient`'s writes fail with its error.
 */
export const answeringLines = Effect.fnUntraced(function*<E>(
  stdin: Sink.Sink<void, Uint8Array, never, E>,
  relay: Relay.Relay,
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
  const decoder = new TextDecoder()
  let buffer = ""
  const write = (chunk: Uint8Array) =>
    Effect.suspend(() => {
      if (failed !== undefined) return Effect.fail(failed.error)
      buffer += decoder.decode(chunk, { stream: true })
      const end = buffer.lastIndexOf("\n") + 1
      const lines = buffer.slice(0, end).split("\n").slice(0, -1)
      buffer = buffer.slice(end)
      return Effect.forEach(lines, (line): Effect.Effect<unknown> => {
        const asked = askedOf(line, relay)
        return asked === undefined
          ? Queue.offer(input, `${line}\n`)
          : Effect.forkIn(Effect.flatMap(replyTo(asked), (reply) => Queue.offer(input, `${reply}\n`)), scope)
      }, { discard: true })
    })
  return Sink.forEach(write).pipe(Sink.ensuring(Queue.end(input))) satisfies Sink.Sink<void, Uint8Array, never, E>
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
    let message: unknown
    try {
      message = JSON.parse(data)
    } catch {
      return Effect.void
    }
    return isRecord(message) && "method" in message && (typeof message["id"] === "string" ||
        typeof message["id"] === "number")
      ? reply(message)
      : Effect.void
  }
  const http = HttpClient.transformResponse(standalone.http, (effect) =>
    Effect.flatMap(effect, (response) => {
      if (!response.headers["content-type"]?.startsWith("text/event-stream")) return Effect.succeed(response)
      const decoder = Sse.makeDecoder({ maxEventSize: maxBytes })
      const read = (chunk: Uint8Array) => {
        try {
          return Effect.forEach(decoder.push(chunk), (event) => answer(event.data), { discard: true })
        } catch {
          return Effect.void
        }
      }
      return Effect.map(
        Stream.toReadableStreamEffect(Stream.tap(response.stream, read)),
        (body) =>
          HttpClientResponse.fromWeb(
            response.request,
            new Response(body, { status: response.status, headers: Object.entries(response.headers) })
          )
      )
    }))
  return { ...standalone, http }
}
