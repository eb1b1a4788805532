/**
 * An upstream's response read as it passes (`relay.ts`' tap of a call's stream, `serverRequests.ts`' of a standalone
 * one): the response with its body replaced by what the tap gives on, every other field its own. Built on the Effect
 * stream the tap returns, so the body is not turned into a web `ReadableStream` and read back from it (a fiber, a web
 * stream's promises and its cancel for every response); each accessor of the body reads that stream, so whatever
 * `McpClient` reads it by passes the tap.
 */
import * as Effect from "effect/Effect"
import type * as Cookies from "effect/http/Cookies"
import type * as Headers from "effect/http/Headers"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as IncomingMessage from "effect/http/HttpIncomingMessage"
import * as UrlParams from "effect/http/UrlParams"
import * as Inspectable from "effect/Inspectable"
import type * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import type * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"
import { concat } from "../../transport/bytes.js"

const utf8 = new TextDecoder()

class TappedResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: typeof IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: typeof HttpClientResponse.TypeId = HttpClientResponse.TypeId

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
  private get bytes(): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
    return Effect.map(Stream.runCollect(this.stream), concat)
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.HttpClientError> {
    return Effect.map(this.bytes, (bytes) => Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer)
  }

  get text(): Effect.Effect<string, HttpClientError.HttpClientError> {
    return Effect.map(this.bytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<Schema.Json, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({
        try: () => text === "" ? null : JSON.parse(text) as Schema.Json,
        catch: (cause) => this.decodeError(cause)
      }))
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.HttpClientError> {
    // A leading "?" is form data; URLSearchParams would drop it as a query prefix.
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text.replace(/^\?/, "%3F"))))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.bytes, (bytes) =>
      Effect.tryPromise({
        try: () => new Response(bytes, { headers: { "content-type": this.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => this.decodeError(cause)
      }))
  }

  private decodeError(cause: unknown): HttpClientError.HttpClientError {
    return new HttpClientError.HttpClientError({
      reason: new HttpClientError.DecodeError({ request: this.request, response: this, cause })
    })
  }

  toJSON(): unknown {
    return IncomingMessage.inspect(this, {
      _id: "HttpClientResponse",
      request: this.request.toJSON(),
      status: this.status
    })
  }

  declare readonly pipe: Pipeable.Pipeable["pipe"]
}

Object.assign(TappedResponse.prototype, { pipe: Pipeable.Prototype.pipe })

/** `response` with `body` (what a tap of its own stream gives on) as its body. */
export function tapped(
  response: HttpClientResponse.HttpClientResponse,
  body: Stream.Stream<Uint8Array, HttpClientError.HttpClientError>
): HttpClientResponse.HttpClientResponse {
  return new TappedResponse(response, body)
}
