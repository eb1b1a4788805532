/**
 * What the project's own `HttpClientResponse`s (`undici/exchange.ts`' `UndiciResponse`, `gateway/mcp/tapped.ts`' tapped
 * one) make alike: every body accessor from one read of the whole body (`bytes`), a body that does not decode failing
 * with the response's `decodeError`, and the inspection and `pipe` effect's own responses have.
 */
import * as Effect from "effect/Effect"
import type * as Cookies from "effect/http/Cookies"
import type * as Headers from "effect/http/Headers"
import type * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as IncomingMessage from "effect/http/HttpIncomingMessage"
import * as UrlParams from "effect/http/UrlParams"
import * as Inspectable from "effect/Inspectable"
import type * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import type * as Socket from "effect/socket/Socket"
import type * as Stream from "effect/Stream"

const utf8 = new TextDecoder()

export abstract class BodyResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: typeof IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: typeof HttpClientResponse.TypeId = HttpClientResponse.TypeId

  abstract readonly request: HttpClientRequest.HttpClientRequest
  abstract readonly url: string
  abstract readonly status: number
  abstract readonly headers: Headers.Headers
  abstract readonly cookies: Cookies.Cookies
  abstract readonly remoteAddress: Option.Option<string>
  abstract readonly upgrade: Effect.Effect<Socket.Socket, HttpClientError.HttpClientError>
  abstract readonly stream: Stream.Stream<Uint8Array, HttpClientError.HttpClientError>

  /** The whole body, read once. */
  abstract readonly bytes: Effect.Effect<Uint8Array, HttpClientError.HttpClientError>

  /** The failure of a body that does not decode as asked (its `cause`). */
  abstract decodeError(cause: unknown): HttpClientError.HttpClientError

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.HttpClientError> {
    return Effect.map(
      this.bytes,
      (bytes) =>
        bytes.buffer.byteLength === bytes.byteLength && bytes.byteOffset === 0
          ? bytes.buffer as ArrayBuffer
          // A `Buffer`'s own `slice` is a view of the same memory; this copies.
          : Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer
    )
  }

  get text(): Effect.Effect<string, HttpClientError.HttpClientError> {
    return Effect.map(this.bytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<Schema.Json, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.text, (text) => {
      try {
        return Effect.succeed(text === "" ? null : JSON.parse(text) as Schema.Json)
      } catch (cause) {
        return Effect.fail(this.decodeError(cause))
      }
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.HttpClientError> {
    // A leading "?" is form data; URLSearchParams would drop it as a query prefix.
    return Effect.map(
      this.text,
      (text) => UrlParams.fromInput(new URLSearchParams(text.replace(/^\?/, "%3F")))
    )
  }

  get formData(): Effect.Effect<FormData, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.bytes, (bytes) =>
      Effect.tryPromise({
        try: () => new Response(bytes, { headers: { "content-type": this.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => this.decodeError(cause)
      }))
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

Object.assign(BodyResponse.prototype, { pipe: Pipeable.Prototype.pipe })
