/**
 * Helpers shared by the adapter end-to-end suites (test/e2e/<Adapter>.test.ts).
 */
import { assert, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ChatChunk from "../../src/ChatChunk.js"
import type * as ChatRequest from "../../src/ChatRequest.js"
import type { ChatResponse } from "../../src/ChatResponse.js"
import * as KeyPool from "../../src/KeyPool.js"
import * as Llm from "../../src/Llm.js"
import type * as LlmError from "../../src/LlmError.js"
import * as Message from "../../src/Message.js"
import type { OptionsError } from "../../src/OptionsError.js"
import * as ProviderClient from "../../src/ProviderClient.js"
import * as RateLimiter from "../../src/RateLimiter.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { awaitStats } from "./openAiChatSimulator.js"
import { skippedCounts, withWarnings } from "./warnings.js"

/** What a test body gets: the simulator, and clients of it (extra options select faults, timeouts...). */
export interface AdapterEnv<Options> {
  readonly simulator: Simulator.Simulator
  readonly client: (
    options?: Partial<Options>
  ) => Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>
}

/** Runs a body with a fresh simulator (given options) and clients of it; see `adapterHarness`. */
export type Harness<Options> = <A, E>(
  options: Simulator.Options,
  body: (env: AdapterEnv<Options>) => Effect.Effect<A, E, HttpClient.HttpClient | Scope.Scope>
) => Effect.Effect<A, E | Simulator.SimulatorStartError | OptionsError, Scope.Scope>

/**
 * For one adapter: runs a body with a fresh simulator (its options over `defaults`) and an undici
 * HTTP client, both closed afterwards; `makeClient` points the adapter at the simulator.
 */
export const adapterHarness = <Options>(
  makeClient: (
    simulator: Simulator.Simulator,
    options: Partial<Options>
  ) => Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>,
  defaults: Simulator.Options = {}
): Harness<Options> =>
(options, body) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ ...defaults, ...options })
    return yield* body({ simulator, client: (clientOptions = {}) => makeClient(simulator, clientOptions) })
  }).pipe(Effect.provide(UndiciHttpClient.layer()))

/** Client options whose headers select a simulator fault (`x-simulator-fault`). */
export const simulatorFault = (value: string): { readonly headers: Record<string, string> } => ({
  headers: { "x-simulator-fault": value }
})

/**
 * `Llm` over one provider layer, a given key pool and a roomy rate limiter, with the undici client.
 */
export const llmOver = (
  provider: Layer.Layer<ProviderClient.ProviderClient, OptionsError, HttpClient.HttpClient>,
  pool: KeyPool.Service,
  options?: Llm.Options
) =>
  Layer.build(
    Llm.layer(options).pipe(
      Layer.provide(Layer.mergeAll(
        provider,
        Layer.succeed(KeyPool.KeyPool, pool),
        RateLimiter.layer({ capacity: 100, refillRate: 100 }).pipe(Layer.provide(RateLimiter.layerStoreMemory))
      )),
      Layer.provide(UndiciHttpClient.layer())
    )
  ).pipe(Effect.map(Context.get(Llm.Llm)))

export interface ComparableOptions {
  /** Normalise the response id and compare it (omitted: the id is not compared). */
  readonly id?: (id: string) => string
  /** Normalise each tool call's id (an id made from the response's, as Gemini's without one of its own). */
  readonly callId?: (id: string) => string
  /** Compare providerMetadata too. */
  readonly providerMetadata?: boolean
}

/**
 * A call id the gateway made for a simulated Gemini reply (`call_<responseId>_<index>`) without its reply's number,
 * which differs between a whole and a streamed call.
 */
export const simulatedCallId = (id: string): string => id.replace(/^call_gemini-sim\d+_/, "call_")

/** What must be equal between a streamed and a whole reply. */
export const comparable = (response: ChatResponse, options: ComparableOptions = {}) => ({
  ...(options.id === undefined ? {} : { id: options.id(response.id) }),
  text: response.text,
  reasoning: response.reasoning,
  toolCalls: response.toolCalls.map((call) => ({
    ...call,
    ...(options.callId === undefined ? {} : { id: options.callId(call.id) })
  })),
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

/** A check of how an adapter's stream treats the simulator's connection. */
type StreamCheck = (
  chat: ProviderClient.Service,
  simulator: Simulator.Simulator,
  request: Request,
  credentials: ProviderClient.Credentials
) => Effect.Effect<void, LlmError.LlmError>

/**
 * Interrupting a stream's consumer mid-reply closes the connection. Needs a simulator that streams slowly
 * and long (e.g. `{ tokensPerSecond: 50, replyTokens: 500 }`).
 */
export const interruptingAStreamClosesTheConnection: StreamCheck = (chat, simulator, request, credentials) =>
  Effect.gen(function*() {
    const first = yield* Deferred.make<void>()
    const fiber = yield* Effect.forkChild(
      Stream.runForEach(chat.chatStream(request, credentials), () => Deferred.succeed(first, undefined))
    )
    // Mid-reply: a chunk arrived (however long that took), and the rest is seconds away.
    yield* Deferred.await(first)
    assert.strictEqual((yield* simulator.stats).inFlight, 1)
    yield* Fiber.interrupt(fiber)
    const after = yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1 && stats.inFlight === 0)
    assert.strictEqual(after.clientClosed, 1)
  })

/**
 * Taking a prefix of a stream closes the connection. Needs a simulator that streams long
 * (e.g. `{ tokensPerSecond: 100, replyTokens: 500 }`).
 */
export const takingAPrefixClosesTheConnection: StreamCheck = (chat, simulator, request, credentials) =>
  Effect.gen(function*() {
    const first = yield* Stream.runCollect(Stream.take(chat.chatStream(request, credentials), 3))
    assert.strictEqual(first.length, 3)
    yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1 && stats.inFlight === 0)
  })

type Credentials = ProviderClient.Credentials

/** How a request fails, whole or (with `stream`) streamed. */
export const failureOf = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  stream = false
) => Effect.flip(stream ? Stream.runDrain(chat.chatStream(request, credentials)) : chat.chat(request, credentials))

/**
 * A client made with a fault header; returns how a request fails, whole or (with `stream`) streamed.
 */
export const failWithFault = (
  client: (
    options: ReturnType<typeof simulatorFault>
  ) => Effect.Effect<ProviderClient.Service, OptionsError, HttpClient.HttpClient>,
  request: Request,
  credentials: Credentials
) =>
(value: string, stream = false) =>
  Effect.flatMap(client(simulatorFault(value)), (chat) => failureOf(chat, request, credentials, stream))

/**
 * A key rejected with `status` is an `AuthError` (invalid_key) of `provider`, whole and streamed, with
 * the key in neither.
 */
export const rejectedKeyIsAuthError = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  expected: { readonly status: number; readonly provider: string; readonly key: string }
) =>
  Effect.gen(function*() {
    const assertNoKey = noKeyAssertion(expected.key)
    const error = yield* failureOf(chat, request, credentials)
    assert(error._tag === "AuthError")
    assert.strictEqual(error.reason, "invalid_key")
    assert.strictEqual(error.status, expected.status)
    assert.strictEqual(error.provider, expected.provider)
    assertNoKey(error)
    const streamError = yield* failureOf(chat, request, credentials, true)
    assert(streamError._tag === "AuthError")
    assertNoKey(streamError)
  })

/**
 * The second request within a minute, under a simulator with `requestsPerMinute: 1`, is a
 * `RateLimitError` (429) whose retryAfter is above zero and at most a minute.
 */
export const perKeyRateLimitIsRateLimitError = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials
) =>
  Effect.gen(function*() {
    yield* chat.chat(request, credentials)
    const error = yield* failureOf(chat, request, credentials)
    assert(error._tag === "RateLimitError")
    assert.strictEqual(error.status, 429)
    assert.isDefined(error.retryAfter)
    assert.isTrue(Duration.isGreaterThan(error.retryAfter!, Duration.zero))
    assert.isTrue(Duration.isLessThanOrEqualTo(error.retryAfter!, Duration.minutes(1)))
    return error
  })

/**
 * A connection reset mid-stream (a client with the `reset=N` fault) is a `TransportError` without
 * the key, after the chunks before it (at most `maxChunks` when given) and no Finish; the whole
 * request fails with a `TransportError` too. Returns the stream's error.
 */
export const resetMidStreamIsTransportError = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  expected: { readonly key: string; readonly maxChunks?: number }
) =>
  Effect.gen(function*() {
    const seen: Array<ChatChunk.ChatChunk> = []
    const exit = yield* Stream.runForEach(chat.chatStream(request, credentials), (c) => Effect.sync(() => seen.push(c)))
      .pipe(
        Effect.result
      )
    assert(Result.isFailure(exit))
    assert(exit.failure._tag === "TransportError")
    noKeyAssertion(expected.key)(exit.failure)
    // The provider was reached: the error says the connection broke, not that it could not be reached.
    assert.isTrue(exit.failure.responseStarted)
    assert.include(exit.failure.message, "broke the connection after the response had started")
    assert.notInclude(exit.failure.message, "could not be reached")
    if (expected.maxChunks !== undefined) assert.isAtMost(seen.length, expected.maxChunks)
    assert.isFalse(seen.some((c) => c._tag === "Finish"))
    // A non-streamed request is reset before any response.
    const whole = yield* failureOf(chat, request, credentials)
    assert(whole._tag === "TransportError")
    assert.isUndefined(whole.responseStarted)
    return exit.failure
  })

/**
 * A malformed event (a client with the `malformed=N` fault) inside an otherwise healthy stream is
 * skipped and counted: the streamed answer is the whole reply, as `healthy` (a client without the
 * fault) streams it, with one warning that counts one skipped event and `skippedEvents: 1` on the
 * reply (none on the healthy one); a non-streamed body that is not JSON is still an
 * `OutputDecodeError` carrying the raw text. Returns both outcomes.
 */
export const malformedEventIsSkipped = (
  chat: ProviderClient.Service,
  healthy: ProviderClient.Service,
  request: Request,
  credentials: Credentials
) =>
  Effect.gen(function*() {
    const [streamed, warnings] = yield* withWarnings(ChatChunk.collect(chat.chatStream(request, credentials)))
    const expected = yield* ChatChunk.collect(healthy.chatStream(request, credentials))
    assert.deepStrictEqual(comparable(streamed), comparable(expected))
    assert.isAbove(streamed.text.length, 0)
    assert.deepStrictEqual(skippedCounts(warnings), [1])
    assert.strictEqual(warnings[0]!.annotations["provider"], streamed.provider)
    // Counted on the Finish chunk, so on the reply collect folds; a healthy stream has no count.
    assert.strictEqual(streamed.skippedEvents, 1)
    assert.isUndefined(expected.skippedEvents)
    const whole = yield* failureOf(chat, request, credentials)
    assert(whole._tag === "OutputDecodeError")
    return { streamed, whole }
  })

/**
 * Under a simulator that answers late (`latency`), a request that times out after `timeout` (set on
 * the request or the client) is a `TimeoutError` with that timeout, and the request is abandoned;
 * with `stream`, the same for a stream.
 */
export const timingOutAbandonsTheRequest = (
  chat: ProviderClient.Service,
  simulator: Simulator.Simulator,
  request: Request,
  credentials: Credentials,
  expected: { readonly timeout: Duration.Duration; readonly stream: boolean }
) =>
  Effect.gen(function*() {
    const error = yield* failureOf(chat, request, credentials)
    assert(error._tag === "TimeoutError")
    assert.deepStrictEqual(error.timeout, expected.timeout)
    yield* awaitStats(simulator, (stats) => stats.clientClosed >= 1)
    if (expected.stream) {
      const streamError = yield* failureOf(chat, request, credentials, true)
      assert(streamError._tag === "TimeoutError")
      yield* awaitStats(simulator, (stats) => stats.clientClosed >= 2)
    }
  })

/**
 * A model the simulator does not serve is a `ModelNotFoundError` (404) naming it. Returns the error.
 */
export const unknownModelIsModelNotFoundError = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  model: string
) =>
  Effect.gen(function*() {
    const error = yield* failureOf(chat, { ...request, model }, credentials)
    assert(error._tag === "ModelNotFoundError")
    assert.strictEqual(error.status, 404)
    assert.strictEqual(error.model, model)
    assert.include(error.detail, model)
    return error
  })

/**
 * A prompt over the simulator's `contextWindow` is a `ContextLengthError` (400) carrying the window,
 * whole and streamed.
 */
export const overTheContextWindowIsContextLengthError = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  contextWindow: number
) =>
  Effect.gen(function*() {
    const error = yield* failureOf(chat, request, credentials)
    assert(error._tag === "ContextLengthError")
    assert.strictEqual(error.status, 400)
    assert.strictEqual(error.contextWindow, contextWindow)
    const streamError = yield* failureOf(chat, request, credentials, true)
    assert.strictEqual(streamError._tag, "ContextLengthError")
  })

// ---------------------------------------------------------------------------
// Cases every adapter's suite registers (call inside its `describe`).
// ---------------------------------------------------------------------------

/** One adapter's suite: its harness, a request that succeeds, and the key it is sent with. */
/** The client options every adapter takes: headers (which select faults) and a timeout. */
export interface CommonClientOptions {
  readonly headers: Record<string, string>
  readonly timeout: Duration.Input
}

export interface AdapterSuite {
  readonly withClient: Harness<CommonClientOptions>
  readonly request: Request
  readonly key: string
}

const credentialsOf = (suite: AdapterSuite): Credentials => ProviderClient.credentials(suite.key)

/** Registers: the second request within a minute (`requestsPerMinute: 1`) is a RateLimitError with retryAfter. */
export const itMapsThePerKeyRateLimit = (suite: AdapterSuite) =>
  it.live("the per-key rate limit -> RateLimitError with retryAfter", () =>
    suite.withClient(
      { requestsPerMinute: 1 },
      ({ client }) =>
        Effect.flatMap(client(), (chat) => perKeyRateLimitIsRateLimitError(chat, suite.request, credentialsOf(suite)))
    ))

/**
 * Registers: a reset mid-stream (`fault`, e.g. `reset=5`, over a 20-token reply) is a TransportError
 * (`responseStarted`, saying the connection broke) after at most `maxChunks` chunks; `andThen` checks more of the
 * stream's error.
 */
export const itMapsAResetMidStream = (
  suite: AdapterSuite,
  options: { readonly fault: string; readonly maxChunks: number },
  andThen: (error: LlmError.TransportError) => void = () => {}
) =>
  it.live("a reset mid-stream -> TransportError after the chunks before it", () =>
    suite.withClient(
      { replyTokens: 20 },
      ({ client }) =>
        Effect.flatMap(client(simulatorFault(options.fault)), (chat) =>
          resetMidStreamIsTransportError(chat, suite.request, credentialsOf(suite), {
            key: suite.key,
            maxChunks: options.maxChunks
          })).pipe(Effect.map(andThen))
    ))

/**
 * Registers: a malformed event (`malformed=3`) in a healthy stream is skipped and counted, the answer
 * whole; a non-streamed body that is not JSON is an OutputDecodeError; `andThen` checks more.
 */
export const itSkipsAMalformedEvent = (
  suite: AdapterSuite,
  andThen: (outcome: { readonly streamed: ChatResponse; readonly whole: LlmError.OutputDecodeError }) => void = () => {}
) =>
  it.live("a malformed event in a healthy stream is skipped and counted; a malformed body -> OutputDecodeError", () =>
    suite.withClient({}, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client(simulatorFault("malformed=3"))
        return yield* malformedEventIsSkipped(chat, yield* client(), suite.request, credentialsOf(suite))
      }).pipe(Effect.map(andThen))))

/** Registers: interrupting a stream's consumer mid-reply closes the connection. */
export const itClosesTheConnectionOnInterruption = (suite: AdapterSuite) =>
  it.live("interrupting a stream's consumer closes the connection", () =>
    suite.withClient(
      { tokensPerSecond: 50, replyTokens: 500 },
      ({ client, simulator }) =>
        Effect.flatMap(client(), (chat) =>
          interruptingAStreamClosesTheConnection(chat, simulator, suite.request, credentialsOf(suite)))
    ))

/** Registers: taking a prefix of a stream closes the connection. */
export const itClosesTheConnectionAfterAPrefix = (suite: AdapterSuite) =>
  it.live("taking a prefix of a stream closes the connection", () =>
    suite.withClient(
      { tokensPerSecond: 100, replyTokens: 500 },
      ({ client, simulator }) =>
        Effect.flatMap(client(), (chat) =>
          takingAPrefixClosesTheConnection(chat, simulator, suite.request, credentialsOf(suite)))
    ))

/** Registers: a key the simulator does not know is an AuthError (invalid_key) with `status`, the key in no error. */
export const itMapsARejectedKey = (
  suite: AdapterSuite,
  name: string,
  expected: { readonly rightKey: string; readonly status: number; readonly provider: string }
) =>
  it.live(
    name,
    () =>
      suite.withClient({ apiKeys: [expected.rightKey] }, ({ client }) =>
        Effect.flatMap(client(), (chat) =>
          rejectedKeyIsAuthError(chat, suite.request, credentialsOf(suite), {
            status: expected.status,
            provider: expected.provider,
            key: suite.key
          })))
  )

/** Registers: an unknown `model` is a ModelNotFoundError naming it; `andThen` checks more. */
export const itMapsAnUnknownModel = (
  suite: AdapterSuite,
  model: string,
  andThen: (error: LlmError.ModelNotFoundError) => void = () => {}
) =>
  it.live("404 for an unknown model -> ModelNotFoundError", () =>
    suite.withClient(
      {},
      ({ client }) =>
        Effect.flatMap(
          client(),
          (chat) => unknownModelIsModelNotFoundError(chat, suite.request, credentialsOf(suite), model)
        )
          .pipe(Effect.map(andThen))
    ))

/** Registers: `request` over a context window of 50 is a ContextLengthError with the window, whole and streamed. */
export const itMapsAPromptOverTheContextWindow = (suite: AdapterSuite, request: Request) =>
  it.live("a prompt over the context window -> ContextLengthError with the window", () =>
    suite.withClient(
      { contextWindow: 50 },
      ({ client }) =>
        Effect.flatMap(client(), (chat) =>
          overTheContextWindowIsContextLengthError(chat, request, credentialsOf(suite), 50))
    ))

/**
 * Registers: against a simulator 3 seconds late, a request timing out after 200 ms (the timeout set on
 * the request when `on` is "request", the client's otherwise) is a TimeoutError carrying those 200 ms
 * and is abandoned, a stream too when `stream`. With a longer `clientTimeout` (over the 3 s), the
 * request's own timeout is the one that fired: the client's would have let the reply through.
 */
export const itTimesOutAndAbandonsTheRequest = (
  suite: AdapterSuite,
  options: {
    readonly name?: string
    readonly on: "request" | "client"
    readonly clientTimeout?: Duration.Input
    readonly stream: boolean
  }
) =>
  it.live(
    options.name ?? "no headers within the timeout -> TimeoutError, and the request is abandoned",
    () =>
      suite.withClient({ latency: "3 seconds" }, ({ client, simulator }) =>
        Effect.gen(function*() {
          const timeout = Duration.millis(200)
          const chat = yield* client(
            options.on === "client"
              ? { timeout }
              : options.clientTimeout === undefined
              ? {}
              : { timeout: options.clientTimeout }
          )
          const request = options.on === "request" ? { ...suite.request, timeout } : suite.request
          yield* timingOutAbandonsTheRequest(chat, simulator, request, credentialsOf(suite), {
            timeout,
            stream: options.stream
          })
        }))
  )

/**
 * The statuses every adapter maps alike: a 429 with retry-after is a RateLimitError with it, a 403 a
 * forbidden AuthError, an HTML 502 a ProviderUnavailableError without the markup, and a streamed 400
 * an InvalidRequestError; returns the HTML 502's error.
 */
export const commonInjectedStatuses = <E, R>(
  failWith: (value: string, stream?: boolean) => Effect.Effect<LlmError.LlmError, E, R>
) =>
  Effect.gen(function*() {
    const limited = yield* failWith("status=429;retry-after=7")
    assert(limited._tag === "RateLimitError")
    assert.deepStrictEqual(limited.retryAfter, Duration.seconds(7))

    const forbidden = yield* failWith("status=403")
    assert(forbidden._tag === "AuthError")
    assert.strictEqual(forbidden.reason, "forbidden")

    const html = yield* failWith("html=502")
    assert(html._tag === "ProviderUnavailableError")
    assert.notInclude(html.detail ?? "", "<")

    const badRequest = yield* failWith("status=400", true)
    assert(badRequest._tag === "InvalidRequestError")
    assert.strictEqual(badRequest.status, 400)
    return html
  })

/** Each of `statuses` is a ProviderUnavailableError with that status; `streamed` is asked for as a stream. */
export const unavailableStatuses = <E, R>(
  failWith: (value: string, stream?: boolean) => Effect.Effect<LlmError.LlmError, E, R>,
  statuses: ReadonlyArray<number>,
  streamed: number
) =>
  Effect.forEach(statuses, (status) =>
    Effect.map(failWith(`status=${status}`, status === streamed), (error) => {
      assert(error._tag === "ProviderUnavailableError", `status ${status}`)
      assert.strictEqual(error.status, status)
    }), { discard: true })

/**
 * Registers: a 20-token stream is 20 TextDeltas, then Usage, then a Finish ("stop") of `provider`;
 * `andThen` checks more of the Finish.
 */
export const itStreamsTextThenUsageThenFinish = (
  suite: AdapterSuite,
  provider: string,
  andThen: (finish: Extract<ChatChunk.ChatChunk, { readonly _tag: "Finish" }>) => void
) =>
  it.live("a stream: text deltas, then Usage, then Finish", () =>
    suite.withClient({ replyTokens: 20 }, ({ client }) =>
      Effect.gen(function*() {
        const chat = yield* client()
        const chunks = yield* Stream.runCollect(chat.chatStream(suite.request, credentialsOf(suite)))
        const tags = chunks.map((c) => c._tag)
        assert.strictEqual(tags.filter((t) => t === "TextDelta").length, 20)
        assert.deepStrictEqual(tags.slice(-2), ["Usage", "Finish"])
        const finish = chunks[chunks.length - 1]!
        assert(finish._tag === "Finish")
        assert.strictEqual(finish.finishReason, "stop")
        assert.strictEqual(finish.provider, provider)
        andThen(finish)
      })))

/**
 * Through `Llm` over a pool whose first key the simulator rejects (6-token replies): six chats answer
 * from `provider` with 6 completion tokens each, a stream collects to the first one's text, and a key
 * ends up disabled.
 */
export const aRejectedKeyIsRotatedAway = (llm: Llm.Service, pool: KeyPool.Service, provider: string) =>
  Effect.gen(function*() {
    const responses = yield* Effect.all(
      Array.from({ length: 6 }, (_, i) => llm.chat({ messages: [Message.user(`q${i}`)] }))
    )
    for (const response of responses) {
      assert.strictEqual(response.provider, provider)
      assert.strictEqual(response.usage.completionTokens, 6)
    }
    const streamed = yield* ChatChunk.collect(llm.chatStream({ messages: [Message.user("q0")] }))
    assert.strictEqual(streamed.text, responses[0]!.text)
    const status = yield* pool.status
    assert.isDefined(status.find((key) => key.disabled !== undefined))
  })

/** Two tools: get_weather (a city) and get_time (a zone). */
export const weatherAndTimeTools: ChatRequest.Input["tools"] = [
  {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
  },
  { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } }, required: ["zone"] } }
]

/** `request` asked whole and streamed: `check` of the error each fails with. */
export const failsWholeAndStreamed = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  check: (error: LlmError.LlmError) => void
) =>
  Effect.gen(function*() {
    check(yield* Effect.flip(chat.chat(request, credentials)))
    check(yield* Effect.flip(Stream.runDrain(chat.chatStream(request, credentials))))
  })

/** `request` asked whole and streamed: both replies, once the streamed one has collected to the same (`comparable`). */
export const sameStreamedAndWhole = (
  chat: ProviderClient.Service,
  request: Request,
  credentials: Credentials,
  comparable: (response: ChatResponse) => unknown
) =>
  Effect.gen(function*() {
    const whole = yield* chat.chat(request, credentials)
    const streamed = yield* ChatChunk.collect(chat.chatStream(request, credentials))
    assert.deepStrictEqual(comparable(streamed), comparable(whole))
    return { whole, streamed }
  })

/**
 * A request that names get_weather gets one get_weather call (finish reason tool_calls), and the
 * stream collects to the same response under `comparable`. Returns the call.
 */
export const aNamedToolCallStreamedAndWhole = (...args: Parameters<typeof sameStreamedAndWhole>) =>
  Effect.gen(function*() {
    const { whole } = yield* sameStreamedAndWhole(...args)
    assert.strictEqual(whole.finishReason, "tool_calls")
    assert.strictEqual(whole.toolCalls.length, 1)
    const call = whole.toolCalls[0]!
    assert.strictEqual(call.name, "get_weather")
    return call
  })
