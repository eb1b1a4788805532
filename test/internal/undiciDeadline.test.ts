import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import { executeWithin, keepsDeadlines } from "../../src/internal/undici/deadline.js"
import { DeadlineExceeded } from "../../src/internal/undici/exchange.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { connectionWatch, echo, serve, servePartial } from "../utils/loopbackServer.js"

const client = UndiciHttpClient.make()

describe("undiciDeadline.executeWithin", () => {
  /** A failure of the exchange whose deadline passed, its reason `reason`. */
  const assertDeadline = (
    error: HttpClientError.HttpClientError,
    reason: HttpClientError.HttpClientError["reason"]["_tag"]
  ) => {
    assert.strictEqual(error._tag, "HttpClientError")
    assert.strictEqual(error.reason._tag, reason)
    assert.isTrue(error.cause instanceof DeadlineExceeded)
  }

  it.live("no headers before the deadline: fails with DeadlineExceeded and closes the connection", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const server = yield* serve((req) => {
        connection.watch(req)
      })
      const http = yield* client
      const error = yield* Effect.flip(
        executeWithin(http, HttpClientRequest.get(`${server.url}/slow`), { millis: 50, through: "headers" })!
      )
      assertDeadline(error, "TransportError")
      yield* connection.closed
    }))

  it.live("through the body: a body still arriving at the deadline fails the read and closes the connection", () =>
    Effect.gen(function*() {
      const http = yield* client
      const connection = yield* connectionWatch
      const server = yield* servePartial(connection.watch)
      // A second: the headers, sent at once, arrive well within it on a loaded machine; the body never ends.
      const response = yield* executeWithin(http, HttpClientRequest.get(`${server.url}/partial`), {
        millis: 1_000,
        through: "body"
      })!
      const error = yield* Effect.flip(response.text)
      assertDeadline(error, "DecodeError")
      yield* connection.closed
    }))

  it.live("through the headers: a body slower than the deadline is read whole", () =>
    Effect.gen(function*() {
      // The body ends only once the test has slept past the deadline: a second, which the headers (sent at once)
      // meet on a loaded machine.
      let finish: (() => void) | undefined
      const server = yield* serve((_req, res) => {
        res.writeHead(200)
        res.write("first ")
        finish = () => res.end("second")
      })
      const http = yield* client
      const response = yield* executeWithin(http, HttpClientRequest.get(`${server.url}/slow-body`), {
        millis: 1_000,
        through: "headers"
      })!
      yield* Effect.sleep("1100 millis")
      finish!()
      assert.strictEqual(yield* response.text, "first second")
    }))

  it.live("a reply within the deadline leaves no timer behind, and other clients are not served", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      for (let i = 0; i < 20; i++) {
        const response = yield* executeWithin(http, HttpClientRequest.get(`${server.url}/n`), {
          millis: 60_000,
          through: "body"
        })!
        yield* response.text
      }
      assert.isTrue(keepsDeadlines(http))
      const other = HttpClient.make(() => Effect.die("unused"))
      assert.isFalse(keepsDeadlines(other))
      assert.isUndefined(executeWithin(other, HttpClientRequest.get(server.url), { millis: 1, through: "body" }))
    }))
})
