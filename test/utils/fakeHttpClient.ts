/**
 * A fake `HttpClient` for provider unit tests: it records every request and
 * answers with a web `Response` built by the test.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as HttpClientResponse from "effect/http/HttpClientResponse"
import type * as ProviderClient from "../../src/ProviderClient.js"
import { failsWholeAndStreamed } from "./adapterE2e.js"

/** What the fake saw of one request. */
export interface RecordedRequest {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** The body parsed as JSON (undefined when there is none). */
  readonly body: Record<string, unknown>
}

/** A reply: a web `Response`, or an Effect for failures and hangs. */
export type Reply = Response | Effect.Effect<Response, never>

export interface FakeHttpClient {
  readonly client: HttpClient.HttpClient
  readonly requests: Array<RecordedRequest>
}

const bodyOf = (request: HttpClientRequest.HttpClientRequest): Record<string, unknown> => {
  const body = request.body
  if (body._tag !== "Uint8Array") return {}
  return JSON.parse(new TextDecoder().decode(body.body)) as Record<string, unknown>
}

/** A client that answers every request with `reply(request)`. */
export const fakeHttpClient = (reply: (request: RecordedRequest) => Reply): FakeHttpClient => {
  const requests: Array<RecordedRequest> = []
  const client = HttpClient.make((request) =>
    Effect.suspend(() => {
      const recorded: RecordedRequest = {
        method: request.method,
        url: request.url,
        headers: { ...request.headers },
        body: bodyOf(request)
      }
      requests.push(recorded)
      const answer = reply(recorded)
      return Effect.map(
        answer instanceof Response ? Effect.succeed(answer) : answer,
        (response) => HttpClientResponse.fromWeb(request, response)
      )
    })
  )
  return { client, requests }
}

/** A JSON response. */
export const jsonResponse = (
  body: unknown,
  init?: { readonly status?: number; readonly headers?: Record<string, string> }
): Response =>
  new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status: init?.status ?? 200,
    headers: { "content-type": "application/json", ...init?.headers }
  })

/**
 * A streaming response whose body arrives in the given pieces (strings or
 * bytes), each a separate read, so chunk boundaries are what the test chose.
 */
export const streamResponse = (
  pieces: ReadonlyArray<string | Uint8Array>,
  init?: { readonly status?: number; readonly headers?: Record<string, string> }
): Response => {
  const encoder = new TextEncoder()
  let i = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[i++]
      if (piece === undefined) {
        controller.close()
        return
      }
      controller.enqueue(typeof piece === "string" ? encoder.encode(piece) : piece)
    }
  })
  return new Response(body, {
    status: init?.status ?? 200,
    headers: { "content-type": "text/event-stream", ...init?.headers }
  })
}

/**
 * A client with no model of its own, asked without one: the call and the stream both fail with
 * an InvalidRequestError naming `model`, before anything reaches `fake`.
 */
export const failsWithoutAModel = (
  client: ProviderClient.Service,
  fake: Pick<FakeHttpClient, "requests">,
  request: Parameters<ProviderClient.Service["chat"]>[0],
  credentials: ProviderClient.Credentials
) =>
  Effect.gen(function*() {
    yield* failsWholeAndStreamed(client, request, credentials, (error) => {
      assert(error._tag === "InvalidRequestError")
      assert.strictEqual(error.param, "model")
    })
    assert.strictEqual(fake.requests.length, 0)
  })
