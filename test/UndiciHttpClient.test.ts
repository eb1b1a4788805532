import { assert, describe, it } from "@effect/vitest"
import * as Channel from "effect/Channel"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as fc from "fast-check"
import * as http from "node:http"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import { Agent } from "undici"
import * as UndiciHttpClient from "../src/UndiciHttpClient.js"
import { connectionWatch, echo, serve, servePartial } from "./utils/loopbackServer.js"
import { expectOptionsError } from "./utils/optionsError.js"

const client = UndiciHttpClient.make()

describe("UndiciHttpClient", () => {
  it.live("GET and POST with headers and a body, read as json and text", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      const get = yield* http.get(`${server.url}/hello?x=1`, { headers: { "x-test": "a" } })
      assert.strictEqual(get.status, 200)
      assert.strictEqual(get.headers["x-echo"], "yes")
      const got = (yield* get.json) as { method: string; url: string; headers: Record<string, string> }
      assert.strictEqual(got.method, "GET")
      assert.strictEqual(got.url, "/hello?x=1")
      assert.strictEqual(got.headers["x-test"], "a")

      const post = yield* http.execute(
        HttpClientRequest.post(`${server.url}/chat`).pipe(
          HttpClientRequest.setHeader("authorization", "Bearer sk-test"),
          HttpClientRequest.bodyText("{\"a\":\"é\"}", "application/json")
        )
      )
      const text = yield* post.text
      // A body read whole is kept: json after text answers the same body.
      const json = (yield* post.json) as { method: string; headers: Record<string, string>; body: string }
      assert.deepStrictEqual(JSON.parse(text), json)
      assert.strictEqual(json.method, "POST")
      assert.strictEqual(json.body, "{\"a\":\"é\"}")
      assert.strictEqual(json.headers["content-type"], "application/json")
      assert.strictEqual(json.headers["authorization"], "Bearer sk-test")
    }))

  it.live("arrayBuffer holds the body's bytes alone, not the socket read they arrived in", () =>
    Effect.gen(function*() {
      const server = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" })
        res.end("{\"a\":1}")
      })
      const http = yield* client
      const response = yield* http.get(`${server.url}/one`)
      const buffer = yield* response.arrayBuffer
      assert.strictEqual(new TextDecoder().decode(buffer), "{\"a\":1}")
      assert.strictEqual(buffer.byteLength, 7)
    }))

  it.live("a FormData body arrives as multipart whose boundary matches its content type", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      const form = new FormData()
      form.append("purpose", "batch")
      form.append("file", new Blob(["{\"a\":1}"], { type: "application/json" }), "input.jsonl")
      const response = yield* http.execute(
        HttpClientRequest.post(`${server.url}/upload`).pipe(HttpClientRequest.bodyFormData(form))
      )
      const echoed = (yield* response.json) as { headers: Record<string, string>; body: string }
      assert.match(echoed.headers["content-type"]!, /^multipart\/form-data; boundary=/)
      const parsed = yield* Effect.promise(() =>
        new Response(echoed.body, { headers: { "content-type": echoed.headers["content-type"]! } }).formData()
      )
      assert.strictEqual(parsed.get("purpose"), "batch")
      const file = parsed.get("file")
      assert.instanceOf(file, Blob)
      assert.strictEqual(yield* Effect.promise(() => (file as Blob).text()), "{\"a\":1}")
    }))

  it.live("a non-2xx status is a response, and HttpClient combinators still apply", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      const response = yield* http.get(`${server.url}/missing`)
      assert.strictEqual(response.status, 404)
      assert.include(yield* response.text, "/missing")
      const error = yield* HttpClient.filterStatusOk(http).get(`${server.url}/missing`).pipe(
        Effect.flatMap((response) => response.text),
        Effect.flip
      )
      assert.strictEqual(error._tag, "HttpClientError")
      assert.strictEqual(error.reason._tag, "StatusCodeError")
    }))

  it.live("a streamed body equals the bytes sent, however the server chunks it", () =>
    Effect.gen(function*() {
      let plan: ReadonlyArray<Uint8Array> = []
      const server = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" })
        const parts = plan
        let i = 0
        const next = () => {
          if (i === parts.length) return res.end()
          res.write(parts[i++])
          setImmediate(next)
        }
        next()
      })
      const http = yield* client
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(
            fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { maxLength: 40 }),
            async (parts) => {
              plan = parts
              const received = await Effect.runPromise(
                Effect.flatMap(http.get(`${server.url}/bytes`), (response) => Stream.runCollect(response.stream))
              )
              const sent = Buffer.concat(parts)
              assert.deepStrictEqual(Buffer.concat(received), sent)
            }
          ),
          { numRuns: 60 }
        )
      )
    }))

  it.live("chunks that arrive in one socket read come out in one pull, not one pull each", () =>
    Effect.gen(function*() {
      const events = Array.from({ length: 20 }, (_, i) => `data: {"n":${i}}\n\n`)
      // Twenty HTTP chunks in one socket write, as a provider flushing every token sends them when the reader
      // is busy (node:http would join corked writes into one chunk, so the response is written by hand).
      const frames = events.map((event) => `${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n`).join("")
      const url = yield* Effect.acquireRelease(
        Effect.callback<net.Server>((resume) => {
          const server = net.createServer((socket) => {
            socket.once("data", () => {
              socket.write("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
              // The chunks once the client reads the body; the end later, so only the data wakes the reader.
              setTimeout(() => {
                socket.write(frames)
                setTimeout(() => socket.end("0\r\n\r\n"), 20)
              }, 20)
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))
      const http = yield* client
      const response = yield* http.get(`${url}/stream`)
      const pulls: Array<string> = []
      yield* Stream.runForEachArray(response.stream, (chunks) =>
        Effect.sync(() => {
          pulls.push(Buffer.concat(chunks).toString())
        }))
      assert.strictEqual(pulls.join(""), events.join(""))
      // Woken at each chunk, the reader took them one by one: 20 pulls.
      assert.isAtMost(pulls.length, 3, `${pulls.length} pulls for 20 chunks written at once`)
    }))

  it.live("a large body read whole after it has all arrived is read to its end", () =>
    Effect.gen(function*() {
      // Past the exchange's high-water mark, so undici pauses it; taking what arrived resumes it, and undici then
      // delivers the rest and the end at once, before the read waits.
      const body = "x".repeat(200 * 1024)
      const server = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/plain" })
        res.end(body)
      })
      const http = yield* client
      const response = yield* http.get(`${server.url}/large`)
      yield* Effect.sleep("200 millis")
      const text = yield* response.text.pipe(
        Effect.timeoutOrElse({ duration: "10 seconds", orElse: () => Effect.die("the whole body was never read") })
      )
      assert.strictEqual(text.length, body.length)
    }))

  it.live("connection refused fails with a TransportError", () =>
    Effect.gen(function*() {
      const port = yield* Effect.acquireUseRelease(
        Effect.callback<http.Server>((resume) => {
          const server = http.createServer()
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.succeed((server.address() as AddressInfo).port),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
          })
      )
      const http_ = yield* client
      const error = yield* Effect.flip(http_.get(`http://127.0.0.1:${port}/`))
      assert.strictEqual(error._tag, "HttpClientError")
      assert.strictEqual(error.reason._tag, "TransportError")
      assert.match(String((error.cause as Error).message ?? error.cause), /ECONNREFUSED/)
    }))

  it.live("requests to one URL, again, with query parameters or with a hash each reach their own path", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      const pathOf = (request: HttpClientRequest.HttpClientRequest) =>
        Effect.flatMap(
          http.execute(request),
          (response) => Effect.map(response.json, (echoed) => [(echoed as { url: string }).url, response.url] as const)
        )
      const plain = HttpClientRequest.get(`${server.url}/models`)
      const href = `${server.url}/models`
      assert.deepStrictEqual(yield* pathOf(plain), ["/models", href])
      // The target kept from the first request serves the second.
      assert.deepStrictEqual(yield* pathOf(plain), ["/models", href])
      assert.deepStrictEqual(yield* pathOf(HttpClientRequest.setUrlParam(plain, "limit", "5")), [
        "/models?limit=5",
        `${href}?limit=5`
      ])
      assert.deepStrictEqual(yield* pathOf(HttpClientRequest.setHash(plain, "top")), ["/models", href])
      assert.deepStrictEqual(yield* pathOf(HttpClientRequest.get(`${server.url}/other`)), [
        "/other",
        `${server.url}/other`
      ])
    }))

  it.live("a URL that does not parse fails with an InvalidUrlError", () =>
    Effect.gen(function*() {
      const http = yield* client
      const error = yield* Effect.flip(http.get("not a url"))
      assert.strictEqual(error._tag, "HttpClientError")
      assert.strictEqual(error.reason._tag, "InvalidUrlError")
    }))

  it.live("interrupting a stream consumer aborts the request: the server sees the socket close", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const firstSent = yield* Deferred.make<void>()
      const server = yield* serve((req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write("data: first\n\n")
        Deferred.doneUnsafe(firstSent, Exit.void)
        // Never ends: only the client can finish this exchange.
        connection.watch(req)
      })
      const http = yield* client
      const got = yield* Deferred.make<Uint8Array>()
      const fiber = yield* http.get(`${server.url}/stream`).pipe(
        Effect.flatMap((response) => Stream.runForEach(response.stream, (bytes) => Deferred.succeed(got, bytes))),
        Effect.forkChild
      )
      assert.strictEqual(new TextDecoder().decode(yield* Deferred.await(got)), "data: first\n\n")
      yield* Deferred.await(firstSent)
      yield* Fiber.interrupt(fiber)
      yield* connection.closed
    }))

  it.live("closing a body stream's scope from another fiber ends the read waiting on it", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const server = yield* serve((req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write("data: first\n\n")
        connection.watch(req)
      })
      const http = yield* client
      const response = yield* http.get(`${server.url}/stream`)
      const scope = yield* Scope.make()
      const pull = yield* Channel.toPullScoped(Stream.toChannel(response.stream), scope)
      assert.strictEqual(new TextDecoder().decode((yield* pull)[0]), "data: first\n\n")
      const waiting = yield* Effect.forkChild(Effect.exit(pull))
      yield* Effect.sleep(20)
      assert.isUndefined(waiting.pollUnsafe())
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.isFailure(yield* Fiber.join(waiting).pipe(Effect.timeout("2 seconds"))))
      yield* connection.closed
    }))

  it.live("a stream that ends early (take) aborts the request too", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const server = yield* serve((req, res) => {
        res.writeHead(200)
        const timer = setInterval(() => res.write("tick\n"), 5)
        connection.watch(req, () => clearInterval(timer))
      })
      const http = yield* client
      const taken = yield* http.get(`${server.url}/ticks`).pipe(
        Effect.flatMap((response) => Stream.runCollect(Stream.take(response.stream, 2)))
      )
      assert.strictEqual(taken.length, 2)
      yield* connection.closed
    }))

  it.live("interrupting a request while it waits for the headers aborts it", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const connection = yield* connectionWatch
      const server = yield* serve((req) => {
        connection.watch(req)
        Deferred.doneUnsafe(arrived, Exit.void)
      })
      const http = yield* client
      const fiber = yield* Effect.forkChild(http.get(`${server.url}/slow`))
      yield* Deferred.await(arrived)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
      yield* connection.closed
    }))

  it.live("interrupting a body read (text) aborts the request", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const server = yield* servePartial(connection.watch)
      const http = yield* client
      const response = yield* http.get(`${server.url}/partial`)
      // The read starts at once and the timeout interrupts it while it waits.
      const result = yield* Effect.result(Effect.timeout(response.text, "30 millis"))
      assert.isTrue(result._tag === "Failure" && result.failure._tag === "TimeoutError")
      yield* connection.closed
    }))

  it.live("a body cut mid-way fails with a DecodeError", () =>
    Effect.gen(function*() {
      const server = yield* serve((_req, res) => {
        res.writeHead(200, { "content-length": "100" })
        res.write("only part")
        setTimeout(() => res.socket?.destroy(), 10)
      })
      const http = yield* client
      const response = yield* http.get(`${server.url}/cut`)
      const error = yield* Effect.flip(Stream.runDrain(response.stream))
      assert.strictEqual(error._tag, "HttpClientError")
      assert.strictEqual(error.reason._tag, "DecodeError")
    }))

  it.live("sequential requests reuse kept-alive sockets", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      for (let i = 0; i < 50; i++) {
        const response = yield* http.post(`${server.url}/n`, { body: undefined })
        yield* response.text
        const streamed = yield* http.get(`${server.url}/s`)
        yield* Stream.runDrain(streamed.stream)
      }
      assert.isAtMost(server.sockets(), 2)
    }))

  it.live("the scope closes the client's own Agent; a caller's dispatcher is left open", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const scope = yield* Scope.make()
      const own = yield* Scope.provide(client, scope)
      yield* Effect.flatMap(own.get(server.url), (r) => r.text)
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(own.get(server.url))
      assert.strictEqual(error._tag, "HttpClientError")
      assert.strictEqual(error.reason._tag, "TransportError")

      const agent = yield* Effect.acquireRelease(Effect.sync(() => new Agent()), (agent) =>
        Effect.promise(() => agent.close()))
      const inner = yield* Scope.make()
      const theirs = yield* Scope.provide(UndiciHttpClient.make({ dispatcher: agent }), inner)
      yield* Effect.flatMap(theirs.get(server.url), (r) =>
        r.text)
      yield* Scope.close(inner, Exit.void)
      assert.isFalse(agent.closed)
      const after = yield* Effect.flatMap(UndiciHttpClient.fromDispatcher(agent).get(server.url), (r) => r.json)
      assert.strictEqual((after as { method: string }).method, "GET")
    }))

  it.live("traced requests get the platform's span, with redacted headers and trace propagation", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const http = yield* client
      const native = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (options) => {
          const span = native.span(options)
          spans.push(span)
          return span
        }
      })
      const body = (yield* http.get(server.url, { headers: { authorization: "Bearer sk-secret" } }).pipe(
        Effect.flatMap((response) => response.json),
        Effect.withTracer(recording),
        // Header attributes are opt-in in Effect 4.
        Effect.provideService(HttpClient.TracerHeaderFilter, () => true)
      )) as { headers: Record<string, string> }
      assert.isDefined(body.headers["traceparent"])
      const span = spans.find((span) => span.attributes.get("http.request.method") === "GET")
      assert.isDefined(span)
      assert.strictEqual(String(span!.attributes.get("http.request.header.authorization")), "<redacted>")
      assert.strictEqual(span!.attributes.get("http.response.status_code"), 200)
    }))
})

describe("UndiciHttpClient options", () => {
  it.effect("an option out of range fails make and the layer with OptionsError naming it", () =>
    Effect.gen(function*() {
      const cases = [
        [{ connections: 0 }, "connections", "0"],
        [{ connections: 2.5 }, "connections", "2.5"],
        [{ pipelining: -1 }, "pipelining", "-1"],
        [{ keepAliveTimeout: "0 millis" }, "keepAliveTimeout", "\"0 millis\""],
        [{ headersTimeout: -5 }, "headersTimeout", "-5"],
        [{ bodyTimeout: "forever" as never }, "bodyTimeout", "\"forever\""]
      ] as const
      for (const [options, option, value] of cases) {
        const error = yield* Effect.flip(Effect.scoped(UndiciHttpClient.make(options)))
        expectOptionsError(error, { module: "UndiciHttpClient", option, value })
      }
      const layered = yield* Effect.flip(Effect.scoped(Layer.build(UndiciHttpClient.layer({ connections: -1 }))))
      expectOptionsError(layered, { message: "UndiciHttpClient: connections must be a positive integer, got -1" })
      const fine = yield* Effect.scoped(UndiciHttpClient.make({ connections: 4, pipelining: 0, bodyTimeout: 0 }))
      assert.isFunction(fine.execute)
    }))
})
