/**
 * An adapter's client over a fake `HttpClient` (`fakeHttpClient`): how the adapters' unit tests build it and call
 * its `chat` and `chatStream`, one request at a time.
 */
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as Stream from "effect/Stream"
import type * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import type { LlmError } from "../../src/LlmError.js"
import * as Message from "../../src/Message.js"
import type { OptionsError } from "../../src/OptionsError.js"
import type * as ProviderClient from "../../src/ProviderClient.js"
import { fakeHttpClient, type RecordedRequest, type Reply } from "./fakeHttpClient.js"

/** The request the adapters' tests send unless they say otherwise. */
export const hello: ChatRequest.Input = { messages: [Message.user("Hello")] }

type Answer = (request: RecordedRequest) => Reply

/** A client built by `build` over a fake `HttpClient` answering `reply`, and the requests it records. */
export function fakeClient<A, E>(reply: Answer, build: Effect.Effect<A, E, HttpClient.HttpClient>) {
  const fake = fakeHttpClient(reply)
  return { requests: fake.requests, service: Effect.provideService(build, HttpClient.HttpClient, fake.client) }
}

/** What `adapterHarness` needs: the adapter's `make`, its options in every test, and the key the calls hold. */
export interface AdapterOptions<O> {
  readonly make: (options: O) => Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>
  readonly defaults: NoInfer<O>
  readonly credentials: ProviderClient.Credentials
}

/** `setup`, `chatWith` and `streamWith` for one adapter: its options over `defaults`, a call's own key or the one. */
export function adapterHarness<O>(adapter: AdapterOptions<O>) {
  function setup(reply: Answer, options?: Partial<O>) {
    return fakeClient(reply, adapter.make({ ...adapter.defaults, ...options }))
  }
  function chatWith(
    reply: Answer,
    request: ChatRequest.Input = hello,
    options?: Partial<O>,
    credentials: ProviderClient.Credentials = adapter.credentials
  ): { requests: Array<RecordedRequest>; run: Effect.Effect<ChatResponse, LlmError | OptionsError> } {
    const { requests, service } = setup(reply, options)
    return { requests, run: Effect.flatMap(service, (client) => client.chat(request, credentials)) }
  }
  function streamWith(
    reply: Answer,
    request: ChatRequest.Input = hello,
    options?: Partial<O>,
    credentials: ProviderClient.Credentials = adapter.credentials
  ): { requests: Array<RecordedRequest>; stream: Stream.Stream<ChatChunk.ChatChunk, LlmError | OptionsError> } {
    const { requests, service } = setup(reply, options)
    return { requests, stream: Stream.unwrap(Effect.map(service, (client) => client.chatStream(request, credentials))) }
  }
  return { setup, chatWith, streamWith }
}
