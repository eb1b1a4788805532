/**
 * A local LLM server on loopback that answers deterministically in every wire format the router speaks (all on one
 * port), with knobs for latency, pacing, reply length, keys, models, context limits and per-key rate limits, and
 * faults chosen per request: a test's provider. Import it from `effect-llm-router/testing`.
 *
 * docs/simulator.md is its reference: the routes, embeddings, the `x-simulator-fault` grammar, the per-request headers
 * and the prompt cache in its opening section; {@link Scenario}s in "Scenarios"; batches in "Batches"; the `/mcp`
 * server and {@link decodeMcpFault}'s faults in "MCP". This module is the contract; the server, one `WireFormat` per
 * API and the fault injection are in `src/internal/simulator/`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Usage } from "../ChatResponse.js"
import { messageOf } from "../internal/errorText.js"
import * as internalBatch from "../internal/simulator/batch.js"
import * as internalConfig from "../internal/simulator/config.js"
import * as internalFault from "../internal/simulator/fault.js"
import * as internalMcp from "../internal/simulator/mcp.js"
import * as internalScenario from "../internal/simulator/scenario.js"
import * as internalServer from "../internal/simulator/server.js"
import type { OptionsError } from "../OptionsError.js"
import * as Bedrock from "./Bedrock.js"
import type * as Reply from "./Reply.js"

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * The models a simulator knows unless told otherwise.
 *
 * @example
 * ```ts
 * import { Simulator } from "effect-llm-router/testing"
 *
 * const WithFineTune = Simulator.layer({ models: [...Simulator.defaultModels, "ft:gpt-4o-mini:acme"] })
 * ```
 *
 * @since 0.1.0
 * @category Options
 */
export const defaultModels: ReadonlyArray<string> = internalConfig.defaultModels

/**
 * How a simulator behaves. Every field is optional.
 *
 * @since 0.1.0
 * @category Options
 */
export interface Options {
  /** The interface to listen on. Default `"127.0.0.1"`. */
  readonly host?: string
  /** The port; `0` picks a free one. Default `0`. */
  readonly port?: number
  /**
   * How many connections may wait to be accepted (the listen queue; the kernel caps it at `net.core.somaxconn`).
   * Default 65535, so a load test's burst of clients is queued rather than dropped and retried by the kernel later.
   */
  readonly backlog?: number
  /** Delay before any response's headers. Default zero. */
  readonly latency?: Duration.Input
  /** Delay between the headers and a stream's first chunk (added to a non-streamed reply's delay). Default zero. */
  readonly timeToFirstToken?: Duration.Input
  /** Pacing between chunks of a stream (and the time a non-streamed reply takes). Default unlimited. */
  readonly tokensPerSecond?: number
  /** Text tokens in a reply; `x-simulator-reply-tokens` overrides it per request. Default `16`. */
  readonly replyTokens?: number
  /** Reasoning tokens when a request asks for reasoning (`reasoning_effort`). Default `8`. */
  readonly reasoningTokens?: number
  /** The accepted API keys; others get 401 `invalid_api_key`. Default: any key, or none. */
  readonly apiKeys?: ReadonlyArray<string>
  /** The known models; others get 404 `model_not_found`. Default {@link defaultModels}. */
  readonly models?: ReadonlyArray<string>
  /**
   * The AWS credentials Bedrock's routes verify SigV4 signatures for (a signature by another access key is 403
   * `UnrecognizedClientException`). Default: {@link bedrockCredentials} alone.
   *
   * @since 0.3.0
   */
  readonly bedrockCredentials?: ReadonlyArray<{ readonly accessKeyId: string; readonly secretAccessKey: string }>
  /** Context window in tokens (prompt plus requested completion). Default `128000`. */
  readonly contextWindow?: number
  /** Per-model context windows, overriding `contextWindow`. Default none. */
  readonly contextWindows?: Readonly<Record<string, number>>
  /** Requests per minute per key (a token bucket refilled continuously); over it, 429. Default unlimited. */
  readonly requestsPerMinute?: number
  /**
   * The service tier a generation request that names none (no `service_tier`, or `auto`) is served at, which its reply
   * reports (OpenAI's `service_tier`, Anthropic's `usage.service_tier`): as a project whose default tier is Priority
   * processing (`"priority"`). Default none: such a reply reports no tier, the standard one.
   *
   * @since 0.3.0
   */
  readonly defaultServiceTier?: string
  /**
   * The organisation the simulator stands for on the Responses API: the secret its encrypted content (a reasoning
   * item's `encrypted_content`, a compaction item's) is sealed with. Such content is read back only by a simulator of
   * the same organisation; any other refuses it 400 `invalid_encrypted_content`, as OpenAI refuses content another
   * organisation made. Default: one of its own, made when it starts.
   *
   * @since 0.3.0
   */
  readonly organization?: string
  /** A fault (docs/simulator.md) for requests that carry no `x-simulator-fault`. Default none. */
  readonly fault?: string
  /**
   * The faults of every batch created without `x-simulator-batch-fault` ({@link batchFaultHeader}). Default none: a
   * batch ends completed a second after it was created, every line answered once.
   *
   * @since 0.3.0
   */
  readonly batchFault?: string
  /**
   * A scenario (see {@link Scenario}) played for every generation request that names none with `x-simulator-scenario`.
   * Default none: replies are generated.
   *
   * @since 0.3.0
   */
  readonly scenario?: Scenario
  /**
   * Scenarios a request chooses by name with `x-simulator-scenario` ({@link scenarioHeader}); a name not among them is
   * a 400. Default none.
   *
   * @since 0.3.0
   */
  readonly scenarios?: Readonly<Record<string, Scenario>>
  /**
   * Which HTTP server answers: `"node"`, a plain `node:http` listener (the default, far cheaper per request), or
   * `"platform"`, `effect/http`'s `HttpRouter` on `@effect/platform-node`'s `NodeHttpServer`. Both send the same bytes.
   */
  readonly server?: "node" | "platform"
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

/**
 * The usage a scenario's turn reports, in tokens: `input` is the whole prompt, the cache reads and writes inside it;
 * `output` the whole completion, the reasoning inside it. A count left out is the simulator's own (`input`, `output`,
 * `reasoning`) or none (`cacheRead`, `cacheWrite`, `cacheWrite1h`).
 *
 * @since 0.3.0
 * @category Scenarios
 */
export interface ScenarioUsage {
  readonly input?: number
  readonly output?: number
  readonly cacheRead?: number
  /** Prompt tokens written to the cache, `cacheWrite1h` of them for an hour (Anthropic's lifetimes). */
  readonly cacheWrite?: number
  readonly cacheWrite1h?: number
  readonly reasoning?: number
}

/**
 * A tool call a scenario's turn makes: the tool's name (a tool the request offers), its arguments (a JSON object,
 * default `{}`), and its id (default `call_scenario_<turn>_<call>`).
 *
 * @since 0.3.0
 * @category Scenarios
 */
export interface ScenarioToolCall {
  readonly id?: string
  readonly name: string
  readonly arguments?: { readonly [name: string]: unknown }
}

/**
 * Which requests a scenario's turn answers, besides its place (see {@link Scenario}): `turn`, the assistant's turns in
 * the request's history (default: the place after the turn before); `lastRole`, the last message's role; `contains`, a
 * text the last message (the user's, or a tool result) holds; `compaction`, a compaction request (no tool call allowed,
 * and a summary asked for in the system or last user text), which the turn answers with its summary (`text`) or fails
 * (`fault`).
 *
 * @since 0.3.0
 * @category Scenarios
 */
export interface ScenarioWhen {
  readonly turn?: number
  readonly lastRole?: "user" | "tool"
  readonly contains?: string
  readonly compaction?: boolean
}

/**
 * One turn of a scenario: what the model answers (`text`, `reasoning`, `toolCalls`; with neither text nor calls, the
 * simulator's own reply), the `usage` it reports, its `finishReason` (default `tool_calls` with calls, else `stop`), or
 * a `fault` that fails the request, once a session (a value of the `x-simulator-fault` grammar that ends the request:
 * `status`, `html`, `empty`, `reset`, `malformed`, `truncate`, `stream-error`), and a `delay` in milliseconds before
 * its first token.
 *
 * @since 0.3.0
 * @category Scenarios
 */
export interface ScenarioTurn {
  readonly when?: ScenarioWhen
  readonly text?: string
  readonly reasoning?: string
  readonly toolCalls?: ReadonlyArray<ScenarioToolCall>
  readonly usage?: ScenarioUsage
  readonly finishReason?: "stop" | "length" | "tool_calls"
  readonly fault?: string
  readonly delay?: number
}

/**
 * A session's turns, scripted (docs/simulator.md has the format and a whole example). A request is placed by its
 * history, with no state: the assistant's turns it holds are its turn number, and the latest compaction summary of the
 * scenario it holds is the part of the session it is in. It is answered by the first turn of that part with that number
 * whose `when` holds and whose tool calls it offers; a turn's number is its `when.turn`, else one more than the turn's
 * before it (a fault's retry: the same; the first after a compaction: 0). A turn with a fault fails the first request
 * it answers in a session (`x-simulator-session`, else the request's `prompt_cache_key` or `metadata.user_id`; without
 * any, every request is of one session), so that the retry gets the turn after it. A request no turn answers gets the
 * simulator's own reply, or, when `strict`, a 400.
 *
 * @since 0.3.0
 * @category Scenarios
 */
export interface Scenario {
  readonly strict?: boolean
  readonly turns: ReadonlyArray<ScenarioTurn>
}

/**
 * The request header that names the scenario a request plays, among the simulator's `scenarios`.
 *
 * @since 0.3.0
 * @category Scenarios
 */
export const scenarioHeader: "x-simulator-scenario" = internalScenario.scenarioHeader

/**
 * The request header that names the session a request is of, for a scenario's faults (each fails once a session);
 * without it, the request's `prompt_cache_key`, else its `metadata.user_id`, names it.
 *
 * @since 0.3.0
 * @category Scenarios
 */
export const sessionHeader: "x-simulator-session" = internalScenario.sessionHeader

/**
 * Decodes a scenario from its parsed JSON: a success with the scenario, or a failure naming every bad path, one a line
 * (`turns[3].usage.cacheRead: expected a whole number, 0 or more`).
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * const read = Simulator.decodeScenario({
 *   turns: [
 *     { toolCalls: [{ name: "read_file", arguments: { path: "README.md" } }] },
 *     { fault: "status=503" },
 *     { text: "The README says hello.", usage: { input: 1200, output: 6, cacheRead: 1024 } }
 *   ]
 * })
 * Result.isSuccess(read) // true
 * ```
 *
 * @since 0.3.0
 * @category Scenarios
 */
export const decodeScenario: (json: unknown) => Result.Result<Scenario, string> = internalScenario.decodeScenario

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/**
 * The shape of an error sent inside a 200 stream.
 *
 * @since 0.1.0
 * @category Faults
 */
export type StreamErrorShape = "openai" | "vllm" | "openrouter"

/**
 * A fault injected into one response; parsed from `x-simulator-fault`.
 *
 * @since 0.1.0
 * @category Faults
 */
export type Fault =
  | {
    readonly _tag: "Status"
    readonly status: number
    readonly code?: string | undefined
    readonly type?: string | undefined
    readonly message?: string | undefined
    /** Seconds; `"none"`: no retry headers, even on a 429. */
    readonly retryAfter?: number | "none" | undefined
  }
  | { readonly _tag: "Html"; readonly status: number }
  | { readonly _tag: "Empty"; readonly status: number }
  /** The request's key sent back: in an error (`error`) or in a 200 body that is not JSON (`body`). */
  | { readonly _tag: "EchoKey"; readonly where: "error" | "body" }
  | {
    readonly _tag: "Down"
    /** Milliseconds the window lasts. */
    readonly ms: number
    readonly status: number
    /** When the window opens: the simulator's start, or the first request carrying this fault. */
    readonly since: "start" | "first"
  }
  /** `ms` undefined: never answered. */
  | { readonly _tag: "Silent"; readonly ms: number | undefined }
  | { readonly _tag: "FirstToken"; readonly ms: number }
  | { readonly _tag: "Reset"; readonly after: number }
  | { readonly _tag: "Malformed"; readonly after: number }
  | { readonly _tag: "Truncate"; readonly after: number }
  | { readonly _tag: "StreamError"; readonly after: number; readonly shape: StreamErrorShape }
  | { readonly _tag: "Stall"; readonly after: number }
  /** The whole reply, its end event included, then the body held open (`stall=end`). */
  | { readonly _tag: "StallAtEnd" }
  /** `bytes` of one event (line, body) that never ends. */
  | { readonly _tag: "Flood"; readonly bytes: number }
  | { readonly _tag: "Output"; readonly mode: "nonconforming" | "text" | "loop" }
  /** How a continuation turn is answered (`Reply.ContinuationMode`). */
  | { readonly _tag: "Continuation"; readonly mode: Reply.ContinuationMode }
  /** A last assistant message (a prefill) refused with a 400. */
  | { readonly _tag: "RefusePrefill" }
  /** A last assistant message gone on from only when the request carries `flag`; else a new message answers it. */
  | { readonly _tag: "PrefillOnFlag"; readonly flag: Reply.PrefillFlag }
  /**
   * The reply reports no usage, where its wire lets a reply leave it out (`usage=none`).
   *
   * @since 0.3.0
   */
  | { readonly _tag: "NoUsage" }
  /** With probability `rate`, one fault of `chaosFaults`, picked by a PRNG seeded with `seed`. */
  | { readonly _tag: "Chaos"; readonly rate: number; readonly seed: number }

/**
 * The request header that selects a fault.
 *
 * @example
 * ```ts
 * import { OpenAiChat } from "effect-llm-router"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * // A client whose every request the simulator answers with a 503.
 * const failing = (url: string) =>
 *   OpenAiChat.layer({ baseUrl: `${url}/v1`, headers: { [Simulator.faultHeader]: "status=503" } })
 * ```
 *
 * @since 0.1.0
 * @category Faults
 */
export const faultHeader: "x-simulator-fault" = internalFault.faultHeader

/**
 * The AWS credentials the simulator's Bedrock routes verify SigV4 signatures for: give them to a `Bedrock` client (as
 * its `Bedrock.Credentials`) or to AWS's SDK pointed at the simulator.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Bedrock } from "effect-llm-router"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * const Client = (url: string) =>
 *   Bedrock.layer({ baseUrl: url, region: "us-east-1", model: "amazon.nova-micro-v1:0" }).pipe(
 *     Layer.provide(Layer.succeed(Bedrock.Credentials, async () => Simulator.bedrockCredentials))
 *   )
 * ```
 *
 * @since 0.3.0
 * @category Constants
 */
export const bedrockCredentials: { readonly accessKeyId: string; readonly secretAccessKey: string } =
  Bedrock.testCredentials

/**
 * Decodes an `x-simulator-fault` value (its grammar in docs/simulator.md): a success with the fault, or a failure
 * with the reason it is invalid.
 *
 * @example
 * ```ts
 * import { Result } from "effect"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * Simulator.decodeFault("status=429;retry-after=2") // Result.succeed({ _tag: "Status", status: 429, ... })
 * Simulator.decodeFault("reset=lots") // Result.fail('"reset" needs a number of chunks (0 or more), got "lots"')
 *
 * const reason = Result.match(Simulator.decodeFault("reset=lots"), {
 *   onFailure: (reason) => reason,
 *   onSuccess: (fault) => `a ${fault._tag} fault`
 * })
 * ```
 *
 * @since 0.3.0
 * @category Faults
 */
export const decodeFault: (value: string) => Result.Result<Fault, string> = internalFault.decodeFault

/**
 * Parses an `x-simulator-fault` value (its grammar in docs/simulator.md); a `string` result is the reason it is
 * invalid.
 *
 * @example
 * ```ts
 * import { Simulator } from "effect-llm-router/testing"
 *
 * Simulator.parseFault("status=429;retry-after=2") // { _tag: "Status", status: 429, retryAfter: 2, ... }
 * Simulator.parseFault("reset=lots") // '"reset" needs a number of chunks (0 or more), got "lots"'
 * ```
 *
 * @deprecated since 0.3.0: use {@link decodeFault}, whose `Result` says which answer is a failure; removed in 0.4.0.
 * @since 0.1.0
 * @category Faults
 */
export const parseFault = (value: string): Fault | string => Result.merge(decodeFault(value))

/**
 * The faults a `chaos` fault picks from, each as likely: every per-request fault of the grammar (429 with and without
 * `retry-after`, 5xx, an HTML page, an empty body, resets and stalls before and after the first chunk, a malformed
 * event, a truncated body, an error event, no answer at all, a late first token). `down` (a window in time), `output`
 * (which only schemas notice), `flood` (which only a size limit ends) and `echo-key` are not among them.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * // 5% of requests get a fault; at the end, each kind's count.
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const sim = yield* Simulator.make({ fault: "chaos=0.05;seed=7" })
 *   // ... calls ...
 *   const { injected } = yield* sim.stats
 *   return Simulator.chaosFaults.map((fault) => [fault, injected[fault] ?? 0])
 * }))
 * ```
 *
 * @since 0.2.0
 * @category Faults
 */
export const chaosFaults: ReadonlyArray<string> = internalFault.chaosFaults

/**
 * The request header that chooses the faults of the batch its request creates (OpenAI's `POST /v1/batches`, Anthropic's
 * `POST /v1/messages/batches`, Gemini's `:batchGenerateContent`, Bedrock's `POST /model-invocation-job`, Vertex AI's
 * `POST .../batchPredictionJobs`): items joined by `,`, each `slow=<ms>` (the batch ends that long after it was
 * created; default a second), `expire` (it expires at its end with half its lines run), `refuse` (refused: failed at
 * once, or its creation answered 400 by Anthropic), `fail=<i>+<j>` (those lines answered with a 500 error),
 * `missing=<i>+<j>` (left out of its result file) or `repeat=<i>+<j>` (written twice in it). A batch's lines run over
 * its time on the simulator's `Clock`.
 *
 * @example
 * ```ts
 * import { Simulator } from "effect-llm-router/testing"
 *
 * // A batch of five seconds whose second line fails and whose third is missing from its results.
 * const headers = { [Simulator.batchFaultHeader]: "slow=5000,fail=1,missing=2" }
 * ```
 *
 * @since 0.3.0
 * @category Faults
 */
export const batchFaultHeader: "x-simulator-batch-fault" = internalBatch.batchFaultHeader

/**
 * The request header that chooses a fault of the MCP endpoint (`/mcp`): `slow=<ms>`, `error`, `drop` or `drift`.
 *
 * @example
 * ```ts
 * import { Simulator } from "effect-llm-router/testing"
 *
 * // Every tool call of a client sending this header is answered an isError result.
 * const headers = { [Simulator.mcpFaultHeader]: "error" }
 * ```
 *
 * @since 0.3.0
 * @category Faults
 */
export const mcpFaultHeader: "x-simulator-mcp-fault" = internalMcp.mcpFaultHeader

/**
 * A fault of one MCP request, parsed from `x-simulator-mcp-fault`.
 *
 * @since 0.3.0
 * @category Faults
 */
export type McpFault =
  /** The call answered `ms` milliseconds late. */
  | { readonly _tag: "Slow"; readonly ms: number }
  /** The call answered with an `isError` result. */
  | { readonly _tag: "Error" }
  /** The call's connection reset, with no answer. */
  | { readonly _tag: "Drop" }
  /** On a `tools/list`: `weather`'s description changed after this list. */
  | { readonly _tag: "Drift" }

/**
 * Decodes an `x-simulator-mcp-fault` value: a success with the fault, or a failure with the reason it is invalid.
 *
 * @example
 * ```ts
 * import { Simulator } from "effect-llm-router/testing"
 *
 * Simulator.decodeMcpFault("slow=250") // Result.succeed({ _tag: "Slow", ms: 250 })
 * Simulator.decodeMcpFault("slow=soon") // Result.fail('"slow" needs milliseconds (an integer, 0 or more), got "soon"')
 * ```
 *
 * @since 0.3.0
 * @category Faults
 */
export const decodeMcpFault: (value: string) => Result.Result<McpFault, string> = internalMcp.decodeMcpFault

/**
 * Parses an `x-simulator-mcp-fault` value; a `string` result is the reason it is invalid.
 *
 * @example
 * ```ts
 * import { Simulator } from "effect-llm-router/testing"
 *
 * Simulator.parseMcpFault("slow=250") // { _tag: "Slow", ms: 250 }
 * Simulator.parseMcpFault("slow=soon") // '"slow" needs milliseconds (an integer, 0 or more), got "soon"'
 * ```
 *
 * @deprecated since 0.3.0: use {@link decodeMcpFault}, whose `Result` says which answer is a failure; removed in 0.4.0.
 * @since 0.3.0
 * @category Faults
 */
export const parseMcpFault = (value: string): McpFault | string => Result.merge(decodeMcpFault(value))

// ---------------------------------------------------------------------------
// Wire formats
// ---------------------------------------------------------------------------

/**
 * A key's request bucket, as rate-limit headers report it.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface RateLimitState {
  readonly limit: number
  readonly remaining: number
  /** Milliseconds until the bucket is full again. */
  readonly resetMs: number
  /** From `Clock`. */
  readonly now: number
}

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/**
 * Counters a test can read.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Stats {
  /** Requests received, on every route. */
  readonly requests: number
  /** Requests whose response has not ended. */
  readonly inFlight: number
  /** Requests whose connection the client closed before the response ended. */
  readonly clientClosed: number
  /** Connections accepted since the start. */
  readonly connections: number
  /** Connections open now. */
  readonly openConnections: number
  /** The faults `chaos` faults injected, by fault value (`chaosFaults`). */
  readonly injected: Readonly<Record<string, number>>
}

/**
 * A running simulator.
 *
 * @since 0.1.0
 * @category Models
 */
export interface Simulator {
  /** The base URL without `/v1`, e.g. `http://127.0.0.1:43121`. */
  readonly url: string
  readonly port: number
  /** Requests received so far. */
  readonly requestCount: Effect.Effect<number>
  readonly stats: Effect.Effect<Stats>
  /**
   * When each request arrived (its headers parsed), in `Clock` milliseconds, oldest first: the last 100,000 at most.
   * What a client's rate limit looks like from the server's side.
   */
  readonly arrivals: Effect.Effect<ReadonlyArray<number>>
  /**
   * The usage of each reply the simulator generated, oldest first: the last 100,000 at most. What the simulated
   * provider billed, cache reads and writes (by lifetime) among it; priced at a model's `Pricing`, the bill a gateway's
   * recorded spend can be checked against. A reply sent without usage (the `usage=none` fault) is not in it.
   *
   * @since 0.3.0
   */
  readonly billed: Effect.Effect<ReadonlyArray<Usage>>
}

/**
 * The running simulator, for programs that provide it as a layer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * const served = Effect.gen(function*() {
 *   const sim = yield* Simulator.Simulator
 *   return { requests: yield* sim.requestCount, open: (yield* sim.stats).openConnections }
 * })
 * ```
 *
 * @since 0.1.0
 * @category Tags
 */
export const Simulator: Context.Service<Simulator, Simulator> = Context.Service<Simulator>(
  "effect-llm-router/simulator/Simulator"
)

/**
 * The simulator could not start: the port could not be bound. (Options out of range fail with `OptionsError`.)
 *
 * @since 0.1.0
 * @category Errors
 */
export class SimulatorStartError extends Schema.TaggedError<SimulatorStartError>()("SimulatorStartError", {
  reason: Schema.Literals(["Listen"]),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return `The simulator could not listen: ${this.description}. Choose another port, or 0 for a free one.`
  }
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Starts a simulator on loopback and returns once it listens; closing the scope closes every connection and the server.
 *
 * Time (rate-limit windows, `created`, delays) is read from the `Clock` of the fiber that runs `make`: under
 * `TestClock` (`it.effect`), rate windows move with `TestClock.adjust`, and any delay knob waits for it too.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const sim = yield* Simulator.make({ replyTokens: 4, requestsPerMinute: 60 })
 *   // point an adapter's baseUrl at `${sim.url}/v1`
 *   return yield* sim.stats
 * }))
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Simulator, SimulatorStartError | OptionsError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = yield* Effect.fromResult(internalConfig.resolve(options))
    const listenError = (cause: unknown) =>
      new SimulatorStartError({
        reason: "Listen",
        description: `${config.host}:${config.port}: ${messageOf(cause)}`,
        cause
      })
    return Simulator.of(yield* internalServer.start(config, listenError))
  })

/**
 * A simulator as a layer: started when the layer is built, closed with it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Simulator } from "effect-llm-router/testing"
 *
 * const program = Effect.gen(function*() {
 *   const sim = yield* Simulator.Simulator
 *   return sim.url
 * }).pipe(Effect.provide(Simulator.layer({ fault: "status=503" })))
 * ```
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Simulator, SimulatorStartError | OptionsError> =>
  Layer.effect(Simulator, make(options))
