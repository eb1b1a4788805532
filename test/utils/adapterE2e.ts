/**
 * Helpers shared by the adapter end-to-end suites (test/e2e/<Adapter>.test.ts).
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import type { ChatResponse } from "../../src/ChatResponse.js"
import type * as LlmError from "../../src/LlmError.js"
import type * as ProviderClient from "../../src/ProviderClient.js"
import type * as Simulator from "../../src/simulator/Simulator.js"
import { awaitStats } from "./openAiChatSimulator.js"

export interface ComparableOptions {
  /** Normalise the response id and compare it (omitted: the id is not compared). */
  readonly id?: (id: string) => string
  /** Compare providerMetadata too. */
  readonly providerMetadata?: boolean
}

/** What must be equal between a streamed and a whole reply. */
export const comparable = (response: ChatResponse, options: ComparableOptions = {}) => ({
  ...(options.id === undefined ? {} : { id: options.id(response.id) }),
  text: response.text,
  reasoning: response.reasoning,
  toolCalls: response.toolCalls.map((call) => ({ ...call })),
  finishReason: response.finishReason,
  usage: { ...response.usage },
  model: response.model,
  provider: response.provider,
  keyId: response.keyId,
  ...(options.providerMetadata === true ? { providerMetadata: response.providerMetadata } : {})
})

/** An assertion that an error shows the API key neither in its message nor in its serialised form. */
export const noKeyAssertion = (key: string) => (error: LlmError.LlmError): void => {
  assert.notInclude(error.message, key)
  assert.notInclude(JSON.stringify(error), key)
}

type Request = Parameters<ProviderClient.Service["chatStream"]>[0]

/**
 * Interrupting a stream's consumer mid-reply closes the connection. Needs a simulator that streams slowly
 * and long (e.g. `{ tokensPerSecond: 50, replyTokens: 500 }`).
 */
export const interruptingAStreamClosesTheConnection = (
  chat: ProviderClient.Service,
  simulator: Simulator.Simulator,
  request: Request,
  credentials: ProviderClient.Credentials
) =>
  Effect.gen(function*() {
    let received = 0
    const fiber = yield* Effect.fork(Stream.runForEach(chat.chatStream(request, credentials), () => Effect.sync(() => received++)))
    yield* Effect.sleep("300 millis")
    assert.isAbove(received, 0)
    assert.strictEqual((yield* simulator.stats).inFlight, 1)
    yield* Fiber.interrupt(fiber)
    const after = yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1 && stats.inFlight === 0)
    assert.strictEqual(after.clientClosed, 1)
  })

/**
 * Taking a prefix of a stream closes the connection. Needs a simulator that streams long
 * (e.g. `{ tokensPerSecond: 100, replyTokens: 500 }`).
 */
export const takingAPrefixClosesTheConnection = (
  chat: ProviderClient.Service,
  simulator: Simulator.Simulator,
  request: Request,
  credentials: ProviderClient.Credentials
) =>
  Effect.gen(function*() {
    const first = yield* Stream.runCollect(Stream.take(chat.chatStream(request, credentials), 3))
    assert.strictEqual(first.length, 3)
    yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1 && stats.inFlight === 0)
  })
