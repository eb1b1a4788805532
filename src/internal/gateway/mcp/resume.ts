/**
 * A call's response stream resumed where its server ended it. In Streamable HTTP (2025-11-25, "Resumability and
 * Redelivery") a server may end a POST's SSE stream before the response, once it sent an event with an id, and send
 * the response on the stream its client opens again (a `GET` with that `Last-Event-ID`, after the server's `retry`).
 * `effect/ai`'s `McpClient` does not resume: it fails the request ("MCP response ended before the terminal response").
 * So the gateway resumes beneath it (`resuming`), within the one response `McpClient` reads, at most `maxResumptions`
 * times, bounded in time by the request's `call_timeout`. A stream cut (a failure rather than an end), or ended inside
 * an event, is not resumed. A `GET` answered with anything but a stream ends the request with that answer (`refusal`):
 * the server answered, so it is not down.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Sse from "../../../Sse.js"
import { parseJsonObject } from "../../json.js"
import * as Tapped from "./tapped.js"

/** How long the gateway waits before it resumes a stream whose server set no `retry`. */
export const defaultRetry = Duration.seconds(1)

/** The most times one request's stream is resumed: a server that ends each resumption at once is not followed on. */
export const maxResumptions = 100

/** What the streams of one request showed so far. */
interface Reading {
  /** The id of the last event (none: no event had one, or the last reset it). */
  lastId: string | undefined
  /** The wait before a resumption the server set, in milliseconds. */
  retry: number | undefined
  /** Whether the request's response came. */
  answered: boolean
  /**
   * Whether the last stream was read whole: not when an event was past the bound (`McpClient` fails on it), nor when
   * it ended inside one.
   */
  whole: boolean
  resumptions: number
}

// Whether `data` (an event's) is a response. A POST's stream carries the messages of the one request it posted, and
// the response among them is that request's: a POST of anything else is answered 202 with no stream.
function answers(data: string): boolean {
  if (!data.includes("\"result\"") && !data.includes("\"error\"")) return false
  const message = parseJsonObject(data)
  return message !== undefined && ("result" in message || "error" in message)
}

// `stream` (one of the request's), its events noted in `reading` and given to `reader`, then what follows it: none when
// the request was answered, or it cannot or may no longer be resumed (an event left unfinished at the end would run
// into the resumed stream's first); else the `GET` that resumes it, after the server's `retry`, and those after.
function read(
  stream: Stream.Stream<Uint8Array, HttpClientError.HttpClientError>,
  resumption: Resumption
): Stream.Stream<Uint8Array, HttpClientError.HttpClientError> {
  const { reading, reader } = resumption
  return Tapped.events(stream, resumption.maxBytes, (event) => {
    if (event.id !== undefined) reading.lastId = event.id === "" ? undefined : event.id
    if (event.retry !== undefined) reading.retry = event.retry
    if (answers(event.data)) reading.answered = true
    reader(event)
  }, (whole) => {
    reading.whole = whole
    return following(resumption)
  })
}

// What a server said that ended a request's stream and answered its resumption with `response` rather than a stream.
const refusedPrefix = "it ended the call's stream before its answer, then answered"

// The failure of the request whose resumption `request` the server answered with `response`: an answer, which
// `refusal` reads back.
function refused(request: HttpClientRequest.HttpClientRequest, response: HttpClientResponse.HttpClientResponse) {
  return new HttpClientError.HttpClientError({
    reason: new HttpClientError.StatusCodeError({
      request,
      response,
      description: `${refusedPrefix} ${response.status} to the stream's resumption`
    })
  })
}

/**
 * What a server's answer to a stream's resumption said (`resuming`'s failure of the request, `cause` being what
 * `McpClient` failed its reading of the response with), else nothing: a request that failed so found its server up.
 */
export function refusal(cause: unknown): string | undefined {
  if (!HttpClientError.isHttpClientError(cause) || cause.reason._tag !== "StatusCodeError") return undefined
  const { description } = cause.reason
  return description?.startsWith(refusedPrefix) === true ? description : undefined
}

// The request a POST's stream answers, how its streams are resumed, and who else reads their events (the relay).
interface Resumption {
  readonly http: HttpClient.HttpClient.With<HttpClientError.HttpClientError, Scope.Scope>
  readonly request: HttpClientRequest.HttpClientRequest
  readonly reading: Reading
  readonly maxBytes: number
  readonly reader: (event: Sse.Event) => void
}

// The `GET` that resumes `resumption`'s request where its last stream ended, read as `read` reads them, if it is due.
function following(resumption: Resumption): Stream.Stream<Uint8Array, HttpClientError.HttpClientError> {
  const { reading } = resumption
  const { lastId } = reading
  if (reading.answered || !reading.whole || lastId === undefined || reading.resumptions >= maxResumptions) {
    return Stream.empty
  }
  reading.resumptions += 1
  const get = resumption.request.pipe(
    HttpClientRequest.setMethod("GET"),
    HttpClientRequest.setBody(HttpBody.empty),
    HttpClientRequest.setHeaders({ accept: "text/event-stream", "last-event-id": lastId })
  )
  return Stream.unwrap(Effect.flatMap(
    Effect.andThen(Effect.sleep(reading.retry ?? defaultRetry), resumption.http.execute(get)),
    (response) =>
      response.status >= 200 && response.status < 300 && Tapped.isEventStream(response)
        ? Effect.succeed(read(response.stream, resumption))
        : Effect.fail(refused(get, response))
  ))
}

/** How a response's SSE stream is read: its events handed to `reader`; none when it is not one `resuming` resumes. */
export type Resuming = (
  request: HttpClientRequest.HttpClientRequest,
  response: HttpClientResponse.HttpClientResponse,
  reader: (event: Sse.Event) => void
) => Stream.Stream<Uint8Array, HttpClientError.HttpClientError> | undefined

/**
 * The SSE stream of each POST's 2xx response resumed with `http` where its server ends it before the request's response
 * (each event read up to `maxBytes`, past which it is no longer followed: `McpClient` fails on its own bound).
 */
export function resuming(http: HttpClient.HttpClient, maxBytes: number): Resuming {
  // Each resumption's request lasts as long as its stream is read.
  const scoped = HttpClient.withScope(http)
  return (request, response, reader) => {
    if (request.method !== "POST" || response.status < 200 || response.status >= 300) return undefined
    const reading: Reading = { lastId: undefined, retry: undefined, answered: false, whole: true, resumptions: 0 }
    return read(response.stream, { http: scoped, request, reading, maxBytes, reader })
  }
}
