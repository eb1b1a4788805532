/**
 * The call's phase limits (`transport/providerHttp`), kept by one watchdog over the
 * `Clock` whatever the `HttpClient`: this library's undici client over
 * loopback, and a plain client answering web `Response`s, under `TestClock`
 * as under the live clock.
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/testing/TestClock"
import type * as http from "node:http"
import * as ChatChunk from "../../src/ChatChunk.js"
import type { LlmError } from "../../src/LlmError.js"
import * as Message from "../../src/Message.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as OpenAiChat from "../../src/providers/OpenAiChat.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { fakeHttpClient } from "../utils/fakeHttpClient.js"
import { connectionWatch, echo, serve, servePartial } from "../utils/loopbackServer.js"
import { chunk, sse, stalling } from "../utils/openAiChatWire.js"

const credentials = ProviderClient.credentials("sk-phases-0123456789")
const hello = { messages: [Message.user("hi")] }
// Minutes: a limit kept by a real timer instead of the `Clock` would never fire within a test.
const limits = { headersTimeout: "5 minutes", firstTokenTimeout: "3 minutes", idleTimeout: "2 minutes" } as const

const provider = (client: HttpClient.HttpClient, baseUrl: string, options?: Partial<OpenAiChat.Options>) =>
  OpenAiChat.make({ baseUrl, model: "gpt-test", ...limits, ...options }).pipe(
    Effect.provideService(HttpClient.HttpClient, client)
  )

const streamed = (client: ProviderClient.Service) => ChatChunk.collect(client.chatStream(hello, credentials))

const timeoutOf = (error: LlmError) => {
  assert(error._tag === "TimeoutError")
  return error
}

const encoder = new TextEncoder()
const firstEvent = sse(chunk({ role: "assistant", content: "Hel" }, { usage: null }))

/** `run`, forked; after `quiet` under `TestClock` it is still running; after `more`, it has failed with `phase`. */
const failsAfter = <A>(
  run: Effect.Effect<A, LlmError>,
  quiet: Duration.Input,
  more: Duration.Input,
  phase: string,
  settle?: Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.flip(run))
    if (settle !== undefined) yield* settle
    yield* TestClock.adjust(quiet)
    assert.isUndefined(fiber.pollUnsafe())
    yield* TestClock.adjust(more)
    const error = timeoutOf(yield* Fiber.join(fiber))
    assert.strictEqual(error.phase, phase)
    return error
  })

// Real time for the loopback exchange to arrive while `TestClock` stands still.
const realWait = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 300)))

describe("phase limits over a plain HttpClient, under TestClock", () => {
  it.effect("headers, first token and idle each fail the call with their phase, at their limit", () =>
    Effect.gen(function*() {
      const silent = yield* provider(fakeHttpClient(() => Effect.never).client, "https://api.test/v1")
      const headers = yield* failsAfter(silent.chat(hello, credentials), "4 minutes", "2 minutes", "headers")
      assert.deepStrictEqual(headers.timeout, Duration.minutes(5))
      yield* failsAfter(streamed(silent), "4 minutes", "2 minutes", "headers")

      const noToken = yield* provider(fakeHttpClient(() => stalling([])).client, "https://api.test/v1")
      const firstToken = yield* failsAfter(streamed(noToken), "2 minutes", "2 minutes", "firstToken")
      assert.deepStrictEqual(firstToken.timeout, Duration.minutes(3))

      const stalls = yield* provider(fakeHttpClient(() => stalling([firstEvent])).client, "https://api.test/v1")
      const seen: Array<ChatChunk.ChatChunk> = []
      const run = Stream.runForEach(stalls.chatStream(hello, credentials), (c) => Effect.sync(() => seen.push(c)))
      const idle = yield* failsAfter(run, "1 minute", "2 minutes", "idle")
      assert.deepStrictEqual(idle.timeout, Duration.minutes(2))
      assert.deepStrictEqual(seen, [{ _tag: "TextDelta", text: "Hel" }])
    }))

  it.effect("a consumer that does not read is not a stall; a stream that keeps sending is not idle", () =>
    Effect.gen(function*() {
      // Ten events, against a two-minute idle limit.
      const events = Array.from({ length: 10 }, (_, i) => sse(chunk({ content: `${i}` }, { usage: null })))
      let sent = 0
      const paced = new Response(
        new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (sent === events.length) {
              controller.enqueue(encoder.encode(sse(chunk({}, { finish_reason: "stop", usage: null }), "[DONE]")))
              controller.close()
              return
            }
            controller.enqueue(encoder.encode(events[sent++]!))
          }
        }),
        { headers: { "content-type": "text/event-stream" } }
      )
      const client = yield* provider(fakeHttpClient(() => paced).client, "https://api.test/v1")
      // Each chunk is taken ten minutes after the one before: the body waits on the consumer, not on the provider.
      const fiber = yield* Effect.forkChild(
        Stream.runCollect(
          Stream.mapEffect(client.chatStream(hello, credentials), (c) => Effect.as(Effect.sleep("10 minutes"), c))
        )
      )
      for (let i = 0; i < 12; i++) yield* TestClock.adjust("10 minutes")
      const chunks = yield* Fiber.join(fiber)
      assert.strictEqual(chunks.filter((c) => c._tag === "TextDelta").length, 10)
    }))
})

describe("phase limits over UndiciHttpClient", () => {
  const client = UndiciHttpClient.make()

  it.effect("under TestClock too: first token and idle, over loopback", () =>
    Effect.gen(function*() {
      const http = yield* client
      const noToken = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.flushHeaders()
      })
      const silent = yield* provider(http, `${noToken.url}/v1`)
      yield* failsAfter(streamed(silent), "2 minutes", "2 minutes", "firstToken", realWait)

      const stalls = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(firstEvent)
      })
      const stalled = yield* provider(http, `${stalls.url}/v1`)
      yield* failsAfter(streamed(stalled), "1 minute", "2 minutes", "idle", realWait)
    }).pipe(Effect.scoped))

  // On the TestClock: the timeout passes once the server holds the request, however long a loaded machine took to
  // send it (on a real clock a short timeout could pass before the server saw any request whose connection to watch).
  it.effect("no headers within the timeout: TimeoutError, and the connection is closed", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const arrived = yield* Deferred.make<void>()
      const server = yield* serve((req) => {
        connection.watch(req)
        Deferred.doneUnsafe(arrived, Exit.void)
      })
      const llm = yield* provider(yield* client, `${server.url}/v1`, { timeout: "50 millis" })
      const call = yield* Effect.forkChild(Effect.flip(llm.chat(hello, credentials)))
      yield* Deferred.await(arrived)
      yield* TestClock.adjust("50 millis")
      const error = timeoutOf(yield* Fiber.join(call))
      assert.strictEqual(error.phase, "request")
      yield* connection.closed
    }).pipe(Effect.scoped))

  it.live("a whole reply still arriving at the timeout fails it and closes the connection", () =>
    Effect.gen(function*() {
      const connection = yield* connectionWatch
      const server = yield* servePartial(connection.watch)
      // A second: the headers, sent at once, arrive well within it on a loaded machine; the body never ends.
      const llm = yield* provider(yield* client, `${server.url}/v1`, { timeout: "1 second" })
      const error = timeoutOf(yield* Effect.flip(llm.chat(hello, credentials)))
      assert.strictEqual(error.phase, "request")
      yield* connection.closed
    }).pipe(Effect.scoped))

  it.live("a stream's timeout bounds its first batch only: the rest, slower than it, is read whole", () =>
    Effect.gen(function*() {
      let finish: (() => void) | undefined
      const server = yield* serve((_req: http.IncomingMessage, res: http.ServerResponse) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(firstEvent)
        finish = () => res.end(sse(chunk({ content: "lo" }, { finish_reason: "stop", usage: null }), "[DONE]"))
      })
      const llm = yield* provider(yield* client, `${server.url}/v1`, { timeout: "1 second" })
      const fiber = yield* Effect.forkChild(streamed(llm))
      yield* Effect.sleep("1100 millis")
      finish!()
      const reply = yield* Fiber.join(fiber)
      assert.strictEqual(reply.text, "Hello")
    }).pipe(Effect.scoped))

  it.live("calls within their limits leave no timer behind", () =>
    Effect.gen(function*() {
      const server = yield* serve(echo)
      const llm = yield* provider(yield* client, `${server.url}/v1`)
      const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length
      const before = timers()
      for (let i = 0; i < 20; i++) yield* Effect.flip(llm.chat(hello, credentials))
      assert.isAtMost(timers(), before)
    }).pipe(Effect.scoped))
})

describe("phase limits over NodeHttpClient", () => {
  // Its body stream (a Node `Readable`) leaves a read waiting when its scope is closed from another fiber: the idle
  // limit ends the read all the same.
  it.effect("idle, under TestClock, over loopback", () =>
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      const stalls = yield* serve((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write(firstEvent)
      })
      const stalled = yield* provider(http, `${stalls.url}/v1`)
      yield* failsAfter(streamed(stalled), "1 minute", "2 minutes", "idle", realWait)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
})
