/**
 * The `HttpClientResponse` of an exchange (`undici/exchange.ts`): its headers,
 * and its body read whole or as a stream that gives every chunk arrived since
 * the last pull in one array.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import * as Effect from "effect/Effect"
import * as Cookies from "effect/http/Cookies"
import * as Headers from "effect/http/Headers"
import * as HttpClientError from "effect/http/HttpClientError"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as IncomingMessage from "effect/http/HttpIncomingMessage"
import * as UrlParams from "effect/http/UrlParams"
import * as Inspectable from "effect/Inspectable"
import * as Option from "effect/Option"
import * as Pipeable from "effect/Pipeable"
import type * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as Stream from "effect/Stream"

import { concat } from "../transport/bytes.js"
import type { Exchange, ResponseHeaders } from "./exchange.js"

/** The body read once, in the chunks it arrives in: `undefined` once it has ended. */
interface BodyReader {
  readonly read: Effect.Effect<NonEmptyReadonlyArray<Uint8Array> | undefined, HttpClientError.HttpClientError>
  readonly cancel: Effect.Effect<void>
}

const utf8 = new TextDecoder()

/** The prototype of every `Headers` value (`Headers.fromRecordUnsafe` gives a record this one). */
const headersPrototype: object = Object.getPrototypeOf(Headers.empty)

/** A read of a body that has ended. */
const ended = Effect.succeed(undefined)

export class UndiciResponse extends Inspectable.Class implements HttpClientResponse.HttpClientResponse {
  readonly [IncomingMessage.TypeId]: typeof IncomingMessage.TypeId = IncomingMessage.TypeId
  readonly [HttpClientResponse.TypeId]: typeof HttpClientResponse.TypeId = HttpClientResponse.TypeId
  private cachedHeaders: Headers.Headers | undefined = undefined
  private cachedBody: Uint8Array | undefined = undefined
  private consumed = false

  constructor(
    readonly request: HttpClientRequest.HttpClientRequest,
    readonly url: string,
    private readonly exchange: Exchange,
    readonly status: number,
    private readonly rawHeaders: ResponseHeaders,
    readonly statusText: string
  ) {
    super()
  }

  get headers(): Headers.Headers {
    if (this.cachedHeaders !== undefined) return this.cachedHeaders
    // undici names headers in lower case; repeated ones join as `Headers.fromInput` joins arrays.
    // Built on the prototype `Headers.fromRecordUnsafe` would set: setting a prototype afterwards costs more than the
    // copy.
    const record: Record<string, string> = Object.create(headersPrototype)
    const raw = this.rawHeaders
    for (const name in raw) {
      const value = raw[name]
      if (value === undefined) continue
      record[name] = typeof value === "string" ? value : value.join(", ")
    }
    return this.cachedHeaders = record as Headers.Headers
  }

  get cookies(): Cookies.Cookies {
    const setCookie = this.rawHeaders["set-cookie"]
    return setCookie === undefined ? Cookies.empty : Cookies.fromSetCookie(setCookie)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.none()
  }

  /**
   * The whole body. Read once and kept, so `text` after `json` (or twice)
   * answers the same bytes; interruption while it arrives cancels the request.
   */
  get arrayBufferBytes(): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> {
    return Effect.suspend(() => {
      const exchange = this.exchange
      if (this.cachedBody !== undefined) return Effect.succeed(this.cachedBody)
      if (this.consumed) {
        return Effect.fail(exchange.bodyError("the body was already read as a stream, or by an interrupted read"))
      }
      this.consumed = true
      exchange.unbounded = true
      const parts: Array<Uint8Array> = []
      const gather = () => {
        for (const chunk of exchange.take()) parts.push(chunk)
      }
      const finish = (): Effect.Effect<Uint8Array, HttpClientError.HttpClientError> => {
        gather()
        if (exchange.failure !== undefined) return Effect.fail(exchange.bodyError(exchange.failure))
        return Effect.succeed(this.cachedBody = concat(parts))
      }
      if (exchange.ended || exchange.failure !== undefined) return finish()
      return Effect.callback<Uint8Array, HttpClientError.HttpClientError>((resume) => {
        const wait = () => {
          // What arrived is taken first: taking resumes a body paused at its high-water mark, and undici may then
          // deliver the rest and its end at once, with nobody waiting to hear it.
          gather()
          if (exchange.ended || exchange.failure !== undefined) resume(finish())
          else exchange.waiter = wait
        }
        wait()
        return Effect.sync(() => exchange.abort())
      })
    })
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpClientError.HttpClientError> {
    return Effect.map(
      this.arrayBufferBytes,
      (bytes) =>
        bytes.buffer.byteLength === bytes.byteLength && bytes.byteOffset === 0
          ? bytes.buffer as ArrayBuffer
          // A `Buffer`'s own `slice` is a view of the same memory; this copies.
          : Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer
    )
  }

  get text(): Effect.Effect<string, HttpClientError.HttpClientError> {
    return Effect.map(this.arrayBufferBytes, (bytes) => utf8.decode(bytes))
  }

  get json(): Effect.Effect<Schema.Json, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.text, (text) => {
      try {
        return Effect.succeed(text === "" ? null : JSON.parse(text) as Schema.Json)
      } catch (cause) {
        return Effect.fail(this.exchange.bodyError(cause))
      }
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpClientError.HttpClientError> {
    // A leading "?" is form data; URLSearchParams would drop it as a query prefix.
    return Effect.map(this.text, (text) => UrlParams.fromInput(new URLSearchParams(text.replace(/^\?/, "%3F"))))
  }

  get formData(): Effect.Effect<FormData, HttpClientError.HttpClientError> {
    return Effect.flatMap(this.arrayBufferBytes, (bytes) =>
      Effect.tryPromise({
        try: () => new Response(bytes, { headers: { "content-type": this.headers["content-type"] ?? "" } }).formData(),
        catch: (cause) => this.exchange.bodyError(cause)
      }))
  }

  /** Upgrades (WebSockets) are not this client's: it sends no `upgrade` request. */
  get upgrade(): Effect.Effect<Socket.Socket, HttpClientError.HttpClientError> {
    return Effect.fail(
      new HttpClientError.HttpClientError({
        reason: new HttpClientError.StatusCodeError({
          request: this.request,
          response: this,
          description: "UndiciHttpClient does not upgrade connections; use NodeHttpClient.layerUndici"
        })
      })
    )
  }

  /**
   * The body's chunks as undici delivers them, every chunk buffered since the
   * last pull in one array. Ending early (interruption, a `take`, a failure
   * downstream) cancels the request, so the server sees the socket close.
   */
  get stream(): Stream.Stream<Uint8Array, HttpClientError.HttpClientError> {
    // The cancel is a finalizer of the channel's own scope: `Stream.ensuring` adds a scope of its own to every body.
    return Stream.fromChannel(Channel.fromTransform((_, scope) => {
      const reader = this.reader()
      return Effect.as(
        Scope.addFinalizer(scope, reader.cancel),
        Effect.flatMap(reader.read, (parts) => parts === undefined ? Cause.done() : Effect.succeed(parts))
      )
    }))
  }

  /** The body read once, in the chunks it arrives in. */
  private reader(): BodyReader {
    const exchange = this.exchange
    const cached = this.cachedBody
    if (cached !== undefined) {
      let given = false
      return {
        read: Effect.sync(() => {
          if (given) return undefined
          given = true
          return Arr.of(cached)
        }),
        cancel: Effect.void
      }
    }
    if (this.consumed) {
      return {
        read: Effect.fail(exchange.bodyError("the body was already read")),
        cancel: Effect.void
      }
    }
    this.consumed = true
    type Read = Effect.Effect<NonEmptyReadonlyArray<Uint8Array> | undefined, HttpClientError.HttpClientError>
    // What the body has for a read now: the chunks that arrived, its failure or its end; undefined while nothing came.
    const ready = (): Read | undefined => {
      if (exchange.chunks.length > 0) {
        const chunks = exchange.take()
        if (Arr.isArrayNonEmpty(chunks)) return Effect.succeed(chunks)
      }
      if (exchange.failure !== undefined) return Effect.fail(exchange.bodyError(exchange.failure))
      if (exchange.ended) return ended
      return undefined
    }
    // Built once, not per read: a provider that flushes every token makes one read per event.
    const forget = Effect.sync(() => {
      exchange.waiter = undefined
    })
    // What the body has now, or a wait that resumes with what it brings, in one step (not a look, then a wait, then a
    // read).
    const read: Read = Effect.callback((resume) => {
      const now = ready()
      if (now !== undefined) return resume(now)
      exchange.waiter = () => resume(ready() ?? read)
      return forget
    })
    return { read, cancel: Effect.sync(() => exchange.abort()) }
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

Object.assign(UndiciResponse.prototype, { pipe: Pipeable.Prototype.pipe })
