/**
 * The Responses API's WebSocket mode on `GET /v1/responses` (OpenAI's guide "WebSocket mode", reference "WebSocket
 * events"), as Codex speaks it (docs/gateway.md, "WebSocket mode"): the client opens one socket (its key in
 * `Authorization`, `OpenAI-Beta: responses_websockets=2026-02-06`) and sends each request as a `response.create` text
 * frame with a `POST /v1/responses` body's fields; the answer is that request's stream events, one text frame each, a
 * failure before the stream the API's `error` event. Frames are answered one at a time, in order. A `generate: false`
 * frame (a warm-up) calls no model: its input is held under a response id the next frame continues.
 *
 * This module is the socket's side only (`read`, `requestOf`, `eventsOf`, `serve`, `Sockets`); a frame's request is
 * answered by the Responses route's own `POST /v1/responses` (`routes/openAiResponses.ts`), with the same key check,
 * budgets, guardrails, routing, fallbacks, request log and metrics.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerRequests from "effect/http/HttpServerRequest"
import type * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import * as Sse from "../../../Sse.js"
import { isJsonObject, parseJson } from "../../json.js"
import * as Errors from "../errorAnswer.js"

/** A socket's bounds, each a setting (docs/gateway.md): sockets a key holds at once, and time idle between frames. */
export interface Bounds {
  /** The sockets one gateway key holds open at once (`gateway.responses_sockets_max_key`); without keys, all. */
  readonly maxPerKey: number
  /** How long a socket waits for its next frame before the gateway closes it (`gateway.responses_socket_idle`). */
  readonly idle: Duration.Duration
}

/** The bounds unless the configuration says: a few sessions' sockets a key, and ten minutes idle. */
export const defaults: Bounds = { maxPerKey: 16, idle: Duration.minutes(10) }

/** The bounds as the configuration gives them (`Gateway.Keys`), each left out for its default. */
export interface BoundsOptions {
  readonly maxPerKey?: number | undefined
  readonly idle?: Duration.Input | undefined
}

/** The sockets open, counted by their key, for the gateway's life (a reload keeps them open and counted). */
export interface Sockets {
  readonly bounds: Bounds
  /** One more socket for `owner` (a key's id; `""` without keys), unless it holds `bounds.maxPerKey` already. */
  readonly open: (owner: string) => boolean
  readonly closed: (owner: string) => void
}

/** The sockets of a gateway bounded by `options` (the defaults where it has none), none open. */
export function sockets(options: BoundsOptions): Sockets {
  const bounds: Bounds = {
    maxPerKey: options.maxPerKey ?? defaults.maxPerKey,
    idle: options.idle === undefined ? defaults.idle : Duration.fromInputUnsafe(options.idle)
  }
  const open = new Map<string, number>()
  return {
    bounds,
    open: (owner) => {
      const held = open.get(owner) ?? 0
      if (held >= bounds.maxPerKey) return false
      open.set(owner, held + 1)
      return true
    },
    closed: (owner) => {
      const held = (open.get(owner) ?? 1) - 1
      if (held === 0) open.delete(owner)
      else open.set(owner, held)
    }
  }
}

/** The refusal of a socket past its key's bound: 429, before the handshake. */
export function tooMany(bound: number): Errors.ErrorAnswer {
  return Errors.answer(
    429,
    `This key holds ${bound} WebSockets open on /v1/responses, as many as this gateway lets one key hold at once ` +
      "(gateway.responses_sockets_max_key): close one, or send this request over HTTP.",
    "rate_limit_error",
    null,
    "too_many_websockets"
  )
}

/** The answer to `GET /v1/responses` that asks for no WebSocket: 426, naming the upgrade it takes. */
export const upgradeRequired: Errors.ErrorAnswer = Errors.answer(
  426,
  "GET /v1/responses opens the Responses API's WebSocket mode: send `Upgrade: websocket`. To create a response over " +
    "HTTP, POST it.",
  "invalid_request_error",
  null,
  "upgrade_required"
)

/** What a frame asks: a response (its body as `POST /v1/responses` takes it, streamed), or a warm-up of its body. */
export interface Asked {
  readonly body: string
  /** `generate: false`: the request's state prepared, no model called. */
  readonly warmUp: boolean
}

function invalidFrame(message: string, param: string | undefined): Errors.ErrorAnswer {
  return Errors.invalidRequest(message, param)
}

/**
 * What a text frame asks: a `response.create` event's fields but `type` and `generate`, as a streamed body (`stream` is
 * implicit on a socket); or the refusal of a frame that is not one.
 */
export function read(frame: string | Uint8Array): Result.Result<Asked, Errors.ErrorAnswer> {
  if (typeof frame !== "string") {
    return Result.fail(
      invalidFrame("This socket takes text frames, each a JSON client event; not binary ones.", undefined)
    )
  }
  const event = parseJson(frame)
  if (Option.isNone(event)) {
    return Result.fail(invalidFrame("The frame is not JSON: each frame is a client event, a JSON object.", undefined))
  }
  if (!isJsonObject(event.value)) return Result.fail(invalidFrame("The frame is not a JSON object.", undefined))
  const { generate, type, ...fields } = event.value
  if (type !== "response.create") {
    return Result.fail(invalidFrame(
      `Unknown client event type ${JSON.stringify(type) ?? "(none)"}: this socket takes 'response.create'.`,
      "type"
    ))
  }
  return Result.succeed({ body: JSON.stringify({ ...fields, stream: true }), warmUp: generate === false })
}

// The handshake's own headers, which a frame's request does not carry.
const handshakeHeaders: ReadonlySet<string> = new Set([
  "connection",
  "upgrade",
  "content-length",
  "content-type",
  "transfer-encoding",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol"
])

/**
 * A frame's request: `POST` on the handshake's path with its headers (its key, `Host`, `Origin`, session headers), the
 * frame's `body` as JSON.
 */
export function requestOf(
  handshake: HttpServerRequest.HttpServerRequest,
  body: string
): HttpServerRequest.HttpServerRequest {
  const headers = new Headers()
  for (const [name, value] of Object.entries(handshake.headers)) {
    if (!handshakeHeaders.has(name)) headers.set(name, value)
  }
  headers.set("content-type", "application/json")
  headers.set("content-length", String(Buffer.byteLength(body)))
  const host = handshake.headers["host"] ?? "localhost"
  return HttpServerRequests.fromWeb(new Request(`http://${host}${handshake.url}`, { method: "POST", headers, body }))
}

// The headers of an answer an `error` event carries, as the API's do: what a client may act on.
const carriedHeaders = ["retry-after", "x-request-id"] as const

/**
 * The events of a frame's answer, each event's data one text frame: a stream's events (whole or streamed) as they
 * are, any other answer (a refusal, a failure before the stream) as the API's `error` event with its status.
 */
export function eventsOf(response: HttpServerResponse.HttpServerResponse): Stream.Stream<string> {
  const body = response.body
  const bytes = body._tag === "Stream"
    ? body.stream
    : body._tag === "Uint8Array"
    ? Stream.make(body.body)
    : Stream.empty
  const type = body._tag === "Empty" ? undefined : body.contentType
  if (type?.startsWith("text/event-stream") === true) {
    return bytes.pipe(
      Sse.decode({ maxEventSize: Number.POSITIVE_INFINITY }),
      Stream.map((event) => event.data),
      Stream.orDie
    )
  }
  return Stream.unwrap(Effect.map(Stream.mkString(Stream.decodeText(Stream.orDie(bytes))), (text) => {
    const parsed: unknown = text === "" ? {} : JSON.parse(text)
    const headers: Record<string, string> = {}
    for (const name of carriedHeaders) {
      const value = response.headers[name]
      if (value !== undefined) headers[name] = value
    }
    return Stream.make(JSON.stringify({
      type: "error",
      status: response.status,
      error: isJsonObject(parsed) ? parsed["error"] : parsed,
      ...(Object.keys(headers).length > 0 ? { headers } : {})
    }))
  }))
}

// Why an idle socket was closed, as its close frame says (at most 123 bytes).
function idleReason(idle: Duration.Duration): string {
  return `idle ${Math.round(Duration.toSeconds(idle))} s with no frame (gateway.responses_socket_idle)`
}

// Why a socket was closed when the gateway began to shut down: "going away" (RFC 6455, 7.4.1).
const goingAway = new Socket.CloseEvent(1001, "the gateway is shutting down: open a new socket and send it again")

/**
 * Serves `socket` until its client closes it, it waits `idle` for a frame (closed 1000, naming the setting), or
 * `stopping` is done while it waits (the gateway shutting down: closed 1001); each frame answered in turn by `answer`
 * in a scope of its own, closed once its events are sent.
 */
export function serve<R>(
  socket: Socket.Socket,
  idle: Duration.Duration,
  stopping: Effect.Effect<void>,
  answer: (frame: string | Uint8Array) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>
) {
  return Effect.gen(function*() {
    const writer = yield* socket.writer
    const { pull } = yield* socket.reader
    while (true) {
      // Stopping first: once the gateway shuts down, a frame already sent is not taken.
      const frames = yield* Effect.raceFirst(Effect.as(stopping, "stopping" as const), Effect.timeoutOption(pull, idle))
      if (frames === "stopping") return yield* writer.write(goingAway)
      if (Option.isNone(frames)) return yield* writer.write(new Socket.CloseEvent(1000, idleReason(idle)))
      for (const frame of frames.value) {
        yield* Effect.scoped(
          Effect.flatMap(answer(frame), (response) => Stream.runForEach(eventsOf(response), writer.write))
        )
      }
    }
  }).pipe(Effect.scoped, Effect.catchTag("SocketError", () => Effect.void))
}
