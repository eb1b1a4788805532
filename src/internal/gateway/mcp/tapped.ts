/**
 * An upstream's response read as it passes (`relay.ts`' tap of a call's stream, `serverRequests.ts`' of a standalone
 * one), its body replaced by what the tap gives on. Built on the tap's Effect stream rather than a web
 * `ReadableStream` read back (a fiber, promises and a cancel per response); each body accessor reads that stream, so
 * whatever `McpClient` reads passes the tap. An SSE body is decoded once for all its readers (`events`). An
 * endpoint's answer is rewritten line by line as it passes (`linesMapped`: `credentials.ts`' mask, `subscriptions.ts`'
 * advertising).
 */
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import type * as Cookies from "effect/http/Cookies"
import type * as Headers from "effect/http/Headers"
import * as HttpBody from "effect/http/HttpBody"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import type * as Option from "effect/Option"
import type * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import * as Sse from "../../../Sse.js"
import { concat } from "../../transport/bytes.js"
import { BodyResponse } from "../../transport/clientResponse.js"

class TappedResponse extends BodyResponse {
  constructor(
    private readonly response: HttpClientResponse.HttpClientResponse,
    readonly stream: Stream.Stream<Uint8Array, HttpClientError.HttpClientError>
  ) {
    super()
  }

  get request(): HttpClientRequest.HttpClientRequest {
    return this.response.request
  }

  get url(): string {
    return this.response.url
  }

  get status(): number {
    return this.response.status
  }

  get headers(): Headers.Headers {
    return this.response.headers
  }

  get cookies(): Cookies.Cookies {
    return this.response.cookies
  }

  get remoteAddress(): Option.Option<string> {
    return this.response.remoteAddress
  }

  get upgrade(): Effect.Effect<Socket.Socket, HttpClientError.HttpClientError> {
    return this.response.upgrade
  }

  // The whole body, as the tap gave it on.
  get bytes(): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
    return Effect.map(Stream.runCollect(this.stream), concat)
  }

  decodeError(cause: unknown): HttpClientError.HttpClientError {
    return new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({ request: this.request, response: this, cause })
    })
  }
}

/** `response` with `body` (what a tap of its own stream gives on) as its body. */
export function tapped(
  response: HttpClientResponse.HttpClientResponse,
  body: Stream.Stream<Uint8Array, HttpClientError.HttpClientError>
): HttpClientResponse.HttpClientResponse {
  return new TappedResponse(response, body)
}

/** A reader of a stream's lines: given each chunk, the lines it ends, and what follows the last of them (`rest`). */
export function lines() {
  const decoder = new TextDecoder()
  let rest = ""
  return (chunk: Uint8Array) => {
    const ended = (rest + decoder.decode(chunk, { stream: true })).split("\n")
    rest = ended.pop() ?? ""
    return { lines: ended, rest }
  }
}

/** Whether `response` is a stream of server-sent events. */
export const isEventStream = (response: HttpClientResponse.HttpClientResponse) =>
  response.headers["content-type"]?.startsWith("text/event-stream") === true

/**
 * `stream`, its SSE events handed to `reader` as they pass (called per pull, not run as an effect per chunk as
 * `Stream.tap` would: docs/performance.md, "An MCP tools/call through /mcp"), each up to `maxBytes` (past it, no longer
 * read: `McpClient` fails on its own bound); then what `ended` gives on, told whether the stream was read whole (not
 * past the bound, nor ended inside an event).
 */
export function events<E>(
  stream: Stream.Stream<Uint8Array, E>,
  maxBytes: number,
  reader: (event: Sse.Event) => void,
  ended?: (whole: boolean) => Stream.Stream<Uint8Array, E>
): Stream.Stream<Uint8Array, E> {
  const decoder = Sse.makeDecoder({ maxEventSize: maxBytes })
  let reading = true
  const tapped = Stream.mapArray(stream, (chunks) => {
    if (!reading) return chunks
    try {
      for (const chunk of chunks) for (const event of decoder.push(chunk)) reader(event)
    } catch {
      reading = false
    }
    return chunks
  })
  if (ended === undefined) return tapped
  const whole = () => {
    try {
      return reading && decoder.end().length === 0
    } catch {
      return false
    }
  }
  // `ended`'s stream, built once `tapped` ends by the channel's `concatWith`: fewer operations than `Stream.concat`,
  // which flattens a stream of streams.
  return Stream.fromChannel(Channel.concatWith(Stream.toChannel(tapped), () => Stream.toChannel(ended(whole()))))
}

// `chunks` of text cut into whole server-sent events (each ending in a blank line), what is left at the end last.
function wholeEvents<E>(chunks: Stream.Stream<string, E>): Stream.Stream<string, E> {
  return Stream.mapAccum(chunks, () => "", (pending: string, chunk: string) => {
    const text = pending + chunk
    const end = text.lastIndexOf("\n\n")
    return end < 0 ? [text, []] : [text.slice(end + 2), [text.slice(0, end + 2)]]
  }, { onHalt: (pending) => pending === "" ? [] : [pending] })
}

/**
 * `response` (an endpoint's answer: a JSON body, or an SSE stream read in whole events) with each line of its body
 * mapped by `line`; itself when its body is whole and `line` left every line as it was.
 */
export function linesMapped(
  response: HttpServerResponse.HttpServerResponse,
  line: (text: string) => string
): HttpServerResponse.HttpServerResponse {
  const mapped = (text: string): string => text.split("\n").map(line).join("\n")
  const { body } = response
  if (body._tag === "Uint8Array") {
    const text = new TextDecoder().decode(body.body)
    const out = mapped(text)
    return out === text
      ? response
      : HttpServerResponse.setBody(response, HttpBody.uint8Array(new TextEncoder().encode(out), body.contentType))
  }
  if (body._tag !== "Stream") return response
  const stream = body.stream.pipe(Stream.decodeText(), wholeEvents, Stream.map(mapped), Stream.encodeText)
  return HttpServerResponse.setBody(response, HttpBody.stream(stream, body.contentType))
}
