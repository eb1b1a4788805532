/**
 * A call's response stream resumed where its server ended it (`internal/gateway/mcp/resume.ts`), under `effect/ai`'s
 * `McpClient` HTTP transport as the gateway runs it (through `relay.ts`' tap), against a server faked at the
 * `HttpClient` seam: for any answer cut into any number of streams (each ended after an event with an id) and any cut
 * of each into chunks, the request gets its response, each stream's notifications relayed once, each resumption a `GET`
 * with the request's headers and the last id read as `Last-Event-ID`; the server's `retry` waited (TestClock), one
 * second when it set none; not resumed when no event had an id, when the response came, when the stream ended inside an
 * event, and at most `maxResumptions` times; a request of the server on the stream (its reply posted apart) not taken
 * for the answer; a `GET` the server refuses ends the request with its answer, which `refusal` reads.
 */
import { describe, expect, it } from "@effect/vitest"
import * as McpClient from "effect/ai/McpClient"
import type * as McpClientError from "effect/ai/McpClientError"
import * as McpProtocol from "effect/ai/McpProtocol"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import * as Relay from "../../src/internal/gateway/mcp/relay.js"
import * as Resume from "../../src/internal/gateway/mcp/resume.js"

const url = "http://upstream.test/mcp"

/** A request the fake server was sent: its method and headers. */
interface Sent {
  readonly method: string
  readonly headers: Readonly<Record<string, string>>
}

/** What the fake server answers the `n`th request (0: the POST), as text cut into chunks, or a status. */
type Answer = { readonly chunks: ReadonlyArray<string> } | { readonly status: number }

// A server that answers each request in turn with `answers` (past them, 404), noting each request in `sent`.
function server(answers: ReadonlyArray<Answer>, sent: Array<Sent>) {
  return HttpClient.make(answering(answers, sent))
}

// The answer `server` gives a request.
function answering(answers: ReadonlyArray<Answer>, sent: Array<Sent>) {
  return (request: HttpClientRequest.HttpClientRequest) =>
    Effect.sync(() => {
      const answer = answers[sent.length] ?? { status: 404 }
      sent.push({ method: request.method, headers: request.headers })
      if ("status" in answer) return HttpClientResponse.fromWeb(request, new Response(null, { status: answer.status }))
      const encoder = new TextEncoder()
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of answer.chunks) controller.enqueue(encoder.encode(chunk))
          controller.close()
        }
      })
      return HttpClientResponse.fromWeb(
        request,
        new Response(body, { headers: { "content-type": "text/event-stream" } })
      )
    })
}

const request = { jsonrpc: "2.0" as const, id: "gateway-7", method: "tools/call", params: { name: "slow" } }
const response = { jsonrpc: "2.0", id: "gateway-7", result: { content: [{ type: "text", text: "done" }] } }

const event = (id: string | undefined, data: unknown, retry?: number) =>
  `${id === undefined ? "" : `id: ${id}\n`}${retry === undefined ? "" : `retry: ${retry}\n`}data: ${
    data === undefined ? "" : JSON.stringify(data)
  }\n\n`

// The request sent with `McpClient`'s HTTP transport over `http` resuming, as the gateway taps it for `relay`: its
// response, or its failure.
const send = (http: HttpClient.HttpClient, relay = Relay.make(() => {})) =>
  Effect.scoped(Effect.gen(function*() {
    const tapped = Relay.tapHttp(http, relay, 1024 * 1024, Resume.resuming(http, 1024 * 1024))
    const transport = yield* McpClient.http({
      url,
      protocol: McpProtocol.v2025_11_25,
      headers: { "x-entry": "kept", "mcp-session-id": "session-1" }
    }).pipe(Effect.provideService(HttpClient.HttpClient, tapped))
    return yield* transport.request(request)
  }))

const progress = (n: number) => ({
  jsonrpc: "2.0",
  method: "notifications/progress",
  params: { progressToken: "p", progress: n }
})

const changed = { jsonrpc: "2.0", method: "notifications/tools/list_changed" }

// `text` cut at `cuts` (positions, any order, taken modulo its length) into chunks.
function cut(text: string, cuts: ReadonlyArray<number>): ReadonlyArray<string> {
  const at = [...new Set(cuts.map((position) => position % (text.length + 1)))].sort((a, b) => a - b)
  return [0, ...at].map((start, i) => text.slice(start, [...at, text.length][i])).filter((chunk) => chunk !== "")
}

describe("a call's stream resumed where its server ended it", () => {
  it("for any answer in any number of streams, each cut anyhow, the request gets its response, each relayed", () =>
    fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: 3 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: 5, maxLength: 5 }),
        (notifications, cuts) =>
          Effect.runPromise(Effect.gen(function*() {
            // Stream `s` holds a list's change and `notifications[s]` events with ids; the last one ends with the
            // response.
            let next = 0
            const ids: Array<string> = []
            const texts = notifications.map((count, s) => {
              const events = [event(`e${next++}`, undefined, 0), event(`e${next++}`, changed)]
              for (let n = 0; n < count; n++) events.push(event(`e${next++}`, progress(n)))
              ids.push(`e${next - 1}`)
              if (s === notifications.length - 1) events.push(event(`e${next++}`, response))
              return events.join("")
            })
            const sent: Array<Sent> = []
            const told: Array<Relay.Unsolicited> = []
            const relay = Relay.make((one) => void told.push(one))
            const answered = yield* send(
              server(texts.map((text, s) => ({ chunks: cut(text, cuts[s]!) })), sent),
              relay
            )
            expect(answered).toEqual(response)
            // Each stream's change told once: the resumptions' events are relayed as the POST's.
            expect(told).toEqual(texts.map(() => ({ _tag: "ListChanged", method: changed.method })))
            expect(sent.map((one) => one.method)).toEqual(["POST", ...ids.slice(1).map(() => "GET")])
            // Each resumption from the last id its stream before it read, with the request's own headers.
            sent.slice(1).forEach((one, s) => {
              expect(one.headers["last-event-id"]).toBe(ids[s])
              expect(one.headers["accept"]).toBe("text/event-stream")
              expect(one.headers["mcp-session-id"]).toBe("session-1")
              expect(one.headers["mcp-protocol-version"]).toBe("2025-11-25")
              expect(one.headers["x-entry"]).toBe("kept")
            })
          }))
      )
    ))

  it.effect("the server's retry is waited before a resumption; a second when it set none", () =>
    Effect.gen(function*() {
      for (const [retry, wait] of [[250, 250], [undefined, 1000]] as const) {
        const sent: Array<Sent> = []
        const http = server([
          { chunks: [event("a", undefined, retry)] },
          { chunks: [event("b", response)] }
        ], sent)
        const fiber = yield* Effect.forkChild(send(http))
        yield* TestClock.adjust(wait - 1)
        expect(sent.map((one) => one.method)).toEqual(["POST"])
        yield* TestClock.adjust(1)
        expect(yield* Fiber.join(fiber)).toEqual(response)
        expect(sent.map((one) => one.method)).toEqual(["POST", "GET"])
      }
    }))

  it.effect("not resumed when no event had an id, when the response came, or when it ended inside an event", () =>
    Effect.gen(function*() {
      const ended = (error: McpClientError.McpClientError) => error.reason.message
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, "answered" | "failed"]> = [
        [[event(undefined, progress(1))], "failed"],
        [[event("a", undefined, 0), event("b", response)], "answered"],
        [[event("a", undefined, 0), "data: {\"jsonrpc\":"], "failed"]
      ]
      for (const [chunks, outcome] of cases) {
        const sent: Array<Sent> = []
        const result = yield* Effect.result(send(server([{ chunks }, { chunks: [event("z", response)] }], sent)))
        expect(sent.map((one) => one.method)).toEqual(["POST"])
        if (outcome === "answered") expect(result).toMatchObject({ _tag: "Success", success: response })
        else {expect(result._tag === "Failure" && ended(result.failure)).toBe(
            "MCP response ended before the terminal response"
          )}
      }
    }))

  it.effect("a request of the server on the stream is not its answer: the stream is resumed after it", () =>
    Effect.gen(function*() {
      const asked = { jsonrpc: "2.0", id: "s-1", method: "roots/list", params: { result: "not an answer" } }
      const sent: Array<Sent> = []
      const streams = answering([{ chunks: [event("a", undefined, 0), event("b", asked)] }, {
        chunks: [event("c", response)]
      }], sent)
      // `McpClient`'s reply to the server's request is taken (202), apart from the streams.
      const replies: Array<unknown> = []
      const http = HttpClient.make((request) =>
        request.method === "POST" && sent.length > 0
          ? Effect.sync(() => {
            if (request.body._tag === "Uint8Array") {
              replies.push(JSON.parse(new TextDecoder().decode(request.body.body)))
            }
            return HttpClientResponse.fromWeb(request, new Response(null, { status: 202 }))
          })
          : streams(request)
      )
      expect(yield* send(http)).toEqual(response)
      expect(replies).toMatchObject([{ id: "s-1" }])
      expect(sent.map((one) => [one.method, one.headers["last-event-id"]])).toEqual([["POST", undefined], ["GET", "b"]])
    }))

  it.effect("a resumption the server refuses ends the request with its answer; the resumptions are bounded", () =>
    Effect.gen(function*() {
      const sent: Array<Sent> = []
      const refused = yield* Effect.flip(send(server([{ chunks: [event("a", undefined, 0)] }, { status: 405 }], sent)))
      expect(sent.map((one) => one.method)).toEqual(["POST", "GET"])
      expect(refused.reason._tag).toBe("TransportError")
      const cause = refused.reason._tag === "TransportError" ? refused.reason.cause : undefined
      expect(Resume.refusal(cause)).toBe(
        "it ended the call's stream before its answer, then answered 405 to the stream's resumption"
      )
      expect(Resume.refusal(new Error("reset"))).toBeUndefined()

      // A server that ends every resumption at once, after an event with an id, is followed `maxResumptions` times.
      const endless: Array<Sent> = []
      const forever = Array.from({ length: Resume.maxResumptions + 5 }, (_, n) => ({
        chunks: [event(`e${n}`, undefined, 0)]
      }))
      const gaveUp = yield* Effect.flip(send(server(forever, endless)))
      expect(endless.length).toBe(1 + Resume.maxResumptions)
      expect(gaveUp.reason.message).toBe("MCP response ended before the terminal response")
    }))
})
