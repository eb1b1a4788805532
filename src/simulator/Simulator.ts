/**
 * A local LLM server on loopback that answers deterministically, with knobs for
 * latency, time to first token, tokens per second, reply length, keys, models,
 * context limits and per-key rate limits, and faults chosen per request.
 *
 * This module holds what every wire format shares: the server and its
 * lifecycle, the options, auth, rate limits, pacing and the fault grammar. Each
 * wire format (`OpenAiChat`, `OpenAiResponses`, `Anthropic`, `Gemini`, `Ollama`,
 * all on the same port) is a {@link WireFormat}: pure functions that decode a
 * request into a `Reply.Prompt` and render a `Reply.Reply` or an error as bytes.
 *
 * ## Embeddings
 *
 * `POST /v1/embeddings` (OpenAI: `float` or `base64`, `dimensions`, at most
 * 2048 inputs), `POST /v1beta/models/{model}:batchEmbedContents` and
 * `:embedContent` (Gemini: at most 100 requests, no usage, as Gemini) and
 * `POST /api/embed` (Ollama: `prompt_eval_count`) go through the same gate as
 * generation (fault header, keys, per-key rate limit, known models, the
 * context window per input), and answer with `Reply.embedding` vectors: 16
 * dimensions unless asked, the same text always the same vector. Of the
 * faults that change a reply, those for a non-streamed body apply.
 *
 * ## Serving
 *
 * Each request is reduced to a plan (a body, a chunked stream in paced groups,
 * a truncated body, a dropped or hung connection) by code that knows nothing of
 * the HTTP server; a server then writes the plan.
 *
 * The default server is a plain `node:http` request listener wired into the
 * simulator's scope: the server is an `acquireRelease` resource, and a plan that
 * waits (latency, time to first token, tokens per second) runs as a fiber of a
 * `FiberSet` in that scope, sleeping on `Clock` and interrupted when its client
 * goes away or the scope closes. A plan with no wait is written synchronously
 * as one string, a stream as one chunked body: no Effect per request or per token.
 *
 * `server: "platform"` writes the same plans through Effect's own HTTP server
 * (`effect/http`'s `HttpRouter`, served by `@effect/platform-node`'s
 * `NodeHttpServer`, tracing spans off), as DESIGN.md intends for HTTP in. It is
 * not the default because its per-request machinery (a fiber per request, the
 * handler pipeline, the router's context, `Effect.callback` around reading the
 * body) costs several times the listener's CPU per request; `bench/simulator.ts`
 * measures both against a bare server replaying fixed bytes. Both servers write
 * precomputed JSON fragments, a whole unpaced stream in one write, and no Effect
 * per token.
 *
 * ## Fault header grammar (`x-simulator-fault`)
 *
 * ```
 * fault  = kind "=" value *(";" param "=" value)      (spaces around parts are ignored)
 *
 * status=<400-599>      an error in the format's JSON error shape;
 *                       params: code=<code> type=<type> message=<text>
 *                       retry-after=<seconds> (429 defaults to 1 s, except
 *                       code=insufficient_quota, which sends no retry headers)
 * html=<400-599>        an HTML error page (text/html), as proxies send
 * empty=<400-599>       the status with an empty body
 * reset=<n>             after n chunks the socket is reset (no terminal chunk);
 *                       a non-streamed request gets its connection reset unanswered
 * malformed=<n>         after n chunks one event `data: {not json`, then the rest;
 *                       a non-streamed request gets half of its JSON body
 * truncate=<n>          after n chunks the body ends cleanly, with no finish_reason
 *                       and no [DONE]; a non-streamed request gets half of its body
 *                       under the full content-length, then the connection is reset
 * stream-error=<n>      after n chunks an error event, then the body ends;
 *                       param shape=openai (`{"error":{…}}`, the default) | vllm
 *                       (`{"object":"error",…,"code":500}`) | openrouter
 *                       (`finish_reason:"error"` with a top-level `error`);
 *                       a non-streamed request gets that body with status 200
 * stall=<n>             after n chunks nothing more is sent until the client
 *                       gives up; a non-streamed request is never answered
 * output=<mode>         how the model treats the JSON Schemas it is given
 *                       (structured output, tool parameters): `nonconforming`
 *                       writes JSON that violates them, `text` ignores them and
 *                       the tools and answers plain words; the reply is
 *                       otherwise normal, streamed or not
 * ```
 * A chunk is one `data:` event, the first (`role`) chunk included. An unknown
 * kind, parameter or value is answered with 400 naming the header value.
 *
 * ## Per-request headers
 * - `x-simulator-reply-tokens: <n>`: text tokens in the reply (overrides `replyTokens`).
 * - `x-simulator-tool-calls: <n>`: parallel tool calls when the reply is a tool call.
 * - `x-simulator-cached-tokens: <n>`: prompt tokens reported as cached.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as HttpMiddleware from "effect/http/HttpMiddleware"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerError from "effect/http/HttpServerError"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import * as Anthropic from "./Anthropic.js"
import * as Gemini from "./Gemini.js"
import * as Ollama from "./Ollama.js"
import * as OpenAiChat from "./OpenAiChat.js"
import * as OpenAiResponses from "./OpenAiResponses.js"
import * as Reply from "./Reply.js"

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

/**
 * The models a simulator knows unless told otherwise.
 *
 * @since 0.1.0
 * @category Options
 */
export const defaultModels: ReadonlyArray<string> = ["gpt-4o-mini", "gpt-4o", "sim-small", "sim-large"]

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
  /** Delay before any response's headers. Default zero. */
  readonly latency?: Duration.Input
  /** Delay between the headers and the first chunk of a stream (added to a non-streamed reply's delay). Default zero. */
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
  /** Context window in tokens (prompt plus requested completion). Default `128000`. */
  readonly contextWindow?: number
  /** Per-model context windows, overriding `contextWindow`. Default none. */
  readonly contextWindows?: Readonly<Record<string, number>>
  /** Requests per minute per key (a token bucket refilled continuously); over it, 429. Default unlimited. */
  readonly requestsPerMinute?: number
  /** A fault (see the module docs) for requests that carry no `x-simulator-fault`. Default none. */
  readonly fault?: string
  /**
   * Which HTTP server answers: `"node"`, a plain `node:http` listener (the
   * default, several times faster), or `"platform"`, `effect/http`'s
   * `HttpRouter` on `@effect/platform-node`'s `NodeHttpServer`. Both send the same bytes.
   */
  readonly server?: "node" | "platform"
}

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
    /** Seconds. */
    readonly retryAfter?: number | undefined
  }
  | { readonly _tag: "Html"; readonly status: number }
  | { readonly _tag: "Empty"; readonly status: number }
  | { readonly _tag: "Reset"; readonly after: number }
  | { readonly _tag: "Malformed"; readonly after: number }
  | { readonly _tag: "Truncate"; readonly after: number }
  | { readonly _tag: "StreamError"; readonly after: number; readonly shape: StreamErrorShape }
  | { readonly _tag: "Stall"; readonly after: number }
  | { readonly _tag: "Output"; readonly mode: "nonconforming" | "text" }

/**
 * The request header that selects a fault.
 *
 * @since 0.1.0
 * @category Faults
 */
export const faultHeader = "x-simulator-fault"

const faultKinds = ["status", "html", "empty", "reset", "malformed", "truncate", "stream-error", "stall", "output"] as const

/**
 * Parses an `x-simulator-fault` value (grammar in the module docs); a `string`
 * result is the reason it is invalid.
 *
 * @since 0.1.0
 * @category Faults
 */
export const parseFault = (value: string): Fault | string => {
  const parts = value.split(";").map((part) => part.trim()).filter((part) => part !== "")
  const pairs: Array<readonly [string, string]> = []
  for (const part of parts) {
    const eq = part.indexOf("=")
    if (eq <= 0) return `"${part}" is not of the form name=value`
    pairs.push([part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim()])
  }
  const [head, ...params] = pairs
  if (head === undefined) return "it is empty"
  const [kind, raw] = head
  const allowed = (names: ReadonlyArray<string>): string | undefined => {
    for (const [name] of params) {
      if (!names.includes(name)) {
        return names.length === 0
          ? `"${kind}" takes no parameters, got "${name}"`
          : `unknown parameter "${name}" for "${kind}" (expected ${names.join(", ")})`
      }
    }
    return undefined
  }
  const param = (name: string) => params.find(([n]) => n === name)?.[1]
  const status = (): number | string => {
    const n = Number(raw)
    return /^\d{3}$/.test(raw) && n >= 400 && n <= 599 ? n : `"${kind}" needs an HTTP status from 400 to 599, got "${raw}"`
  }
  const count = (): number | string => {
    const n = Number(raw)
    return /^\d{1,6}$/.test(raw) ? n : `"${kind}" needs a number of chunks (0 or more), got "${raw}"`
  }
  switch (kind as (typeof faultKinds)[number]) {
    case "status": {
      const bad = allowed(["code", "type", "message", "retry-after"])
      if (bad !== undefined) return bad
      const s = status()
      if (typeof s === "string") return s
      const retryAfterText = param("retry-after")
      const retryAfter = retryAfterText === undefined ? undefined : Number(retryAfterText)
      if (retryAfter !== undefined && !(Number.isFinite(retryAfter) && retryAfter >= 0 && retryAfterText !== "")) {
        return `retry-after needs seconds (0 or more), got "${retryAfterText}"`
      }
      return { _tag: "Status", status: s, code: param("code"), type: param("type"), message: param("message"), retryAfter }
    }
    case "html":
    case "empty": {
      const bad = allowed([])
      if (bad !== undefined) return bad
      const s = status()
      if (typeof s === "string") return s
      return { _tag: kind === "html" ? "Html" : "Empty", status: s }
    }
    case "reset":
    case "malformed":
    case "truncate":
    case "stall": {
      const bad = allowed([])
      if (bad !== undefined) return bad
      const after = count()
      if (typeof after === "string") return after
      const tag = kind === "reset" ? "Reset" : kind === "malformed" ? "Malformed" : kind === "truncate" ? "Truncate" : "Stall"
      return { _tag: tag, after }
    }
    case "stream-error": {
      const bad = allowed(["shape"])
      if (bad !== undefined) return bad
      const after = count()
      if (typeof after === "string") return after
      const shape = param("shape") ?? "openai"
      if (shape !== "openai" && shape !== "vllm" && shape !== "openrouter") {
        return `unknown shape "${shape}" (expected openai, vllm, openrouter)`
      }
      return { _tag: "StreamError", after, shape }
    }
    case "output": {
      const bad = allowed([])
      if (bad !== undefined) return bad
      return raw === "nonconforming" || raw === "text"
        ? { _tag: "Output", mode: raw }
        : `"output" needs nonconforming or text, got "${raw}"`
    }
    default:
      return `unknown fault "${kind}" (expected one of ${faultKinds.join(", ")})`
  }
}

// ---------------------------------------------------------------------------
// Wire formats
// ---------------------------------------------------------------------------

/**
 * A failure the simulator answers with, before any wire format renders it.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export type ApiError =
  | { readonly _tag: "InvalidRequest"; readonly message: string; readonly param?: string | undefined; readonly code?: string | undefined }
  | { readonly _tag: "InvalidKey"; readonly maskedKey: string | undefined }
  | { readonly _tag: "RateLimited"; readonly limit: number; readonly retryAfterMs: number }
  | { readonly _tag: "ModelNotFound"; readonly model: string }
  | { readonly _tag: "ContextLength"; readonly limit: number; readonly promptTokens: number; readonly completionTokens: number }
  | { readonly _tag: "NotFound"; readonly method: string; readonly path: string }
  | { readonly _tag: "Injected"; readonly fault: Extract<Fault, { readonly _tag: "Status" }> }

/**
 * What a wire format decoded from a generation request.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface Decoded<Extra> {
  readonly prompt: Reply.Prompt
  readonly stream: boolean
  /** Prompt tokens plus the completion tokens asked for, checked against the context window. */
  readonly requestedTokens: number
  /** Whatever else the format needs to render (e.g. `include_usage`). */
  readonly extra: Extra
}

/**
 * Identity of one response, shared by its body and every chunk.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface ReplyMeta {
  readonly id: string
  /** Unix seconds, from `Clock`. */
  readonly created: number
  readonly model: string
}

/**
 * A stream rendered as events: `events[i]` is the `i`-th chunk (one SSE event),
 * `tail` the terminal events written after the last chunk.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface RenderedStream {
  readonly events: ReadonlyArray<string>
  readonly tail: string
}

/**
 * One wire format: pure functions from request bodies to response bytes.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface WireFormat<Extra> {
  /** The API key a request carries. */
  readonly apiKey: (headers: Http.IncomingHttpHeaders) => string | undefined
  /**
   * `params` are what the route took from the URL, for formats that put
   * request fields there (Gemini's model and method); absent for the others.
   */
  readonly decode: (body: unknown, params?: Readonly<Record<string, string | undefined>>) => Decoded<Extra> | ApiError
  readonly renderError: (error: ApiError) => { readonly status: number; readonly body: string }
  readonly renderReply: (reply: Reply.Reply, meta: ReplyMeta, extra: Extra) => string
  readonly renderStream: (reply: Reply.Reply, meta: ReplyMeta, extra: Extra) => RenderedStream
  /** An error event inside a 200 stream, in the given shape. */
  readonly renderStreamError: (shape: StreamErrorShape, meta: ReplyMeta) => string
  /** The same error as a whole (non-streamed) body. */
  readonly renderBodyError: (shape: StreamErrorShape, meta: ReplyMeta) => string
  /** An event that does not decode. */
  readonly malformedEvent: string
  readonly streamContentType: string
  /** The prefix of response ids (`chatcmpl-`). */
  readonly idPrefix: string
  /** The header that carries the request id (Anthropic's `request-id`). Default `x-request-id`. */
  readonly requestIdHeader?: string
  /**
   * Writes the rate-limit headers of a simulator with `requestsPerMinute`, from
   * the key's bucket (`resetMs`: until it is full again). Default: OpenAI's
   * `x-ratelimit-{limit,remaining,reset}-requests`.
   */
  readonly rateLimitHeaders?: (headers: Record<string, string>, state: RateLimitState) => void
}

/**
 * An embedding request, as a wire format decoded it.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface EmbeddingRequest {
  readonly model: string
  readonly inputs: ReadonlyArray<string>
  /** Vector length asked for; `Reply.defaultEmbeddingDimensions` when undefined. */
  readonly dimensions: number | undefined
  /** OpenAI's `encoding_format: "base64"`. */
  readonly base64: boolean
  /** Gemini's `embedContent`: one request, answered with one `embedding`. */
  readonly single: boolean
}

/**
 * One embeddings wire format: its request decoding and reply rendering, plus
 * the key, error and header handling of the API it belongs to.
 *
 * @since 0.1.0
 * @category Wire Formats
 */
export interface EmbeddingFormat
  extends Pick<WireFormat<never>, "apiKey" | "renderError" | "renderBodyError" | "requestIdHeader" | "rateLimitHeaders">
{
  readonly decode: (body: unknown, params?: Readonly<Record<string, string | undefined>>) => EmbeddingRequest | ApiError
  /** The reply: one vector per input, in order; `promptTokens` counted over every input. */
  readonly render: (
    vectors: ReadonlyArray<ReadonlyArray<number>>,
    request: EmbeddingRequest,
    promptTokens: number
  ) => string
}

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
}

/**
 * The running simulator, for programs that provide it as a layer.
 *
 * @since 0.1.0
 * @category Tags
 */
export const Simulator: Context.Service<Simulator, Simulator> = Context.Service<Simulator>(
  "effect-llm-router/simulator/Simulator"
)

/**
 * The simulator could not start: invalid options, or the port could not be bound.
 *
 * @since 0.1.0
 * @category Errors
 */
export class SimulatorStartError extends Schema.TaggedError<SimulatorStartError>()("SimulatorStartError", {
  reason: Schema.Literals(["InvalidOptions", "Listen"]),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message() {
    return this.reason === "Listen"
      ? `The simulator could not listen: ${this.description}. Choose another port, or 0 for a free one.`
      : `Invalid simulator options: ${this.description}.`
  }
}

// ---------------------------------------------------------------------------
// Engine: requests to plans, independent of the HTTP server
// ---------------------------------------------------------------------------

interface Config {
  readonly host: string
  readonly port: number
  readonly server: "node" | "platform"
  readonly latencyMs: number
  readonly ttftMs: number
  readonly tokenGapMs: number | undefined
  readonly replyTokens: number
  readonly reasoningTokens: number
  readonly apiKeys: ReadonlySet<string> | undefined
  readonly models: ReadonlySet<string>
  readonly modelList: ReadonlyArray<string>
  readonly contextWindow: number
  readonly contextWindows: Readonly<Record<string, number>>
  readonly requestsPerMinute: number | undefined
  readonly fault: Fault | undefined
}

const resolve = (options: Options): Config | string => {
  const int = (name: string, value: number | undefined, fallback: number, min: number): number | string => {
    if (value === undefined) return fallback
    return Number.isInteger(value) && value >= min ? value : `${name} must be an integer of at least ${min}, got ${value}`
  }
  const millis = (name: string, value: Duration.Input | undefined): number | string => {
    if (value === undefined) return 0
    const decoded = Duration.fromInput(value)
    if (Option.isNone(decoded)) return `${name} is not a duration`
    const ms = Duration.toMillis(decoded.value)
    return Number.isFinite(ms) && ms >= 0 ? ms : `${name} must be a finite duration`
  }
  const port = int("port", options.port, 0, 0)
  const latencyMs = millis("latency", options.latency)
  const ttftMs = millis("timeToFirstToken", options.timeToFirstToken)
  const replyTokens = int("replyTokens", options.replyTokens, 16, 0)
  const reasoningTokens = int("reasoningTokens", options.reasoningTokens, 8, 0)
  const contextWindow = int("contextWindow", options.contextWindow, 128_000, 1)
  const rpm = int("requestsPerMinute", options.requestsPerMinute, 0, 1)
  for (const v of [port, latencyMs, ttftMs, replyTokens, reasoningTokens, contextWindow, rpm]) {
    if (typeof v === "string") return v
  }
  if ((port as number) > 65535) return `port must be at most 65535, got ${port}`
  const tps = options.tokensPerSecond
  if (tps !== undefined && !(Number.isFinite(tps) && tps > 0)) return `tokensPerSecond must be positive, got ${tps}`
  for (const [model, window] of Object.entries(options.contextWindows ?? {})) {
    if (!(Number.isInteger(window) && window > 0)) return `contextWindows["${model}"] must be a positive integer, got ${window}`
  }
  const fault = options.fault === undefined ? undefined : parseFault(options.fault)
  if (typeof fault === "string") return `fault "${options.fault}": ${fault}`
  const server = options.server ?? "node"
  if (server !== "node" && server !== "platform") return `server must be "node" or "platform", got ${String(server)}`
  const modelList = options.models ?? defaultModels
  return {
    host: options.host ?? "127.0.0.1",
    port: port as number,
    server,
    latencyMs: latencyMs as number,
    ttftMs: ttftMs as number,
    tokenGapMs: tps === undefined ? undefined : 1000 / tps,
    replyTokens: replyTokens as number,
    reasoningTokens: reasoningTokens as number,
    apiKeys: options.apiKeys === undefined ? undefined : new Set(options.apiKeys),
    models: new Set(modelList),
    modelList,
    contextWindow: contextWindow as number,
    contextWindows: options.contextWindows ?? {},
    requestsPerMinute: options.requestsPerMinute,
    fault
  }
}

/** Go's `time.Duration` text, as OpenAI's `x-ratelimit-reset-*` headers use it: `12ms`, `1.5s`, `6m0s`. */
const goDuration = (ms: number): string => {
  if (ms <= 0) return "0s"
  if (ms < 1000) return `${Math.max(1, Math.round(ms))}ms`
  const total = Math.round(ms) / 1000
  const h = Math.floor(total / 3600)
  const m = Math.floor((total - h * 3600) / 60)
  const s = Number((total - h * 3600 - m * 60).toFixed(3))
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`
}

const maskKey = (key: string): string => (key.length <= 8 ? "***" : `${key.slice(0, 3)}…${key.slice(-4)}`)

const htmlPage = (status: number): string => {
  const title = `${status} ${Http.STATUS_CODES[status] ?? "Error"}`
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n` +
    `<hr><center>simulator</center>\r\n</body>\r\n</html>\r\n`
}

const isApiError = (u: unknown): u is ApiError => typeof u === "object" && u !== null && "_tag" in u

const intHeader = (
  headers: Http.IncomingHttpHeaders,
  name: string,
  min: number,
  max: number
): number | undefined | ApiError => {
  const value = headers[name]
  if (value === undefined) return undefined
  const text = (Array.isArray(value) ? value[0] ?? "" : value).trim()
  const n = Number(text)
  return /^\d+$/.test(text) && n >= min && n <= max
    ? n
    : { _tag: "InvalidRequest", message: `Invalid ${name} header "${text}": expected an integer from ${min} to ${max}.`, param: name }
}

/** Bytes written after a delay. */
interface Group {
  readonly delayMs: number
  readonly text: string
}

/**
 * What to send for one request, whichever server sends it. Every plan waits
 * the configured latency before its headers.
 */
type Plan =
  /** A whole body (with `content-length`), after `delayMs`. */
  | {
    readonly _tag: "Body"
    readonly status: number
    readonly headers: Record<string, string>
    readonly body: string
    readonly delayMs: number
  }
  /** A chunked 200 body written in groups, then ended, reset, or left hanging. */
  | {
    readonly _tag: "Stream"
    readonly headers: Record<string, string>
    readonly groups: ReadonlyArray<Group>
    readonly then: "end" | "reset" | "stall"
  }
  /** A 200 announcing `declaredLength` bytes, sending `body` (fewer), then reset. */
  | {
    readonly _tag: "Truncated"
    readonly headers: Record<string, string>
    readonly declaredLength: number
    readonly body: string
    readonly delayMs: number
  }
  /** The connection reset with no response. */
  | { readonly _tag: "Drop"; readonly delayMs: number }
  /** No response until the client gives up. */
  | { readonly _tag: "Hang" }

/** The faults that change a reply's delivery rather than replace it. */
type ReplyFault = Exclude<Fault, { readonly _tag: "Status" | "Html" | "Empty" | "Output" }>

/** A fault `admit` lets through: one that changes the reply's delivery or its content. */
type Admitted = ReplyFault | Extract<Fault, { readonly _tag: "Output" }>

/** What admitting a request and answering an error need of a format. */
type Gate = Pick<WireFormat<never>, "apiKey" | "renderError" | "requestIdHeader" | "rateLimitHeaders">

/** The first response header: the request id, under the format's name for it. */
const requestIdHeaders = (format: Gate, id: number): Record<string, string> => ({
  [format.requestIdHeader ?? "x-request-id"]: `req_sim${id}`
})

interface Bucket {
  tokens: number
  at: number
}

const makeEngine = (config: Config) => {
  const buckets = new Map<string, Bucket>()
  const faults = new Map<string, Fault | string>()
  const rpm = config.requestsPerMinute
  let nextId = 1

  const parseFaultCached = (value: string): Fault | string => {
    let fault = faults.get(value)
    if (fault === undefined) {
      fault = parseFault(value)
      if (faults.size > 256) faults.clear()
      faults.set(value, fault)
    }
    return fault
  }

  const errorPlan = (format: Gate, error: ApiError, headers: Record<string, string>): Plan => {
    const { body, status } = format.renderError(error)
    if (error._tag === "RateLimited") {
      headers["retry-after"] = String(Math.max(1, Math.ceil(error.retryAfterMs / 1000)))
      headers["retry-after-ms"] = String(Math.ceil(error.retryAfterMs))
    } else if (error._tag === "Injected") {
      const { code, retryAfter, status } = error.fault
      const seconds = retryAfter ?? (status === 429 && code !== "insufficient_quota" ? 1 : undefined)
      if (seconds !== undefined) {
        headers["retry-after"] = String(Math.ceil(seconds))
        headers["retry-after-ms"] = String(Math.round(seconds * 1000))
      }
    }
    headers["content-type"] = "application/json"
    return { _tag: "Body", status, headers, body, delayMs: 0 }
  }

  /** Takes one request from the key's bucket; the headers go on every response. */
  const rateLimit = (
    format: Gate,
    key: string,
    now: number,
    headers: Record<string, string>
  ): ApiError | undefined => {
    if (rpm === undefined) return undefined
    const perMs = rpm / 60_000
    let bucket = buckets.get(key)
    if (bucket === undefined) {
      bucket = { tokens: rpm, at: now }
      buckets.set(key, bucket)
    }
    bucket.tokens = Math.min(rpm, bucket.tokens + Math.max(0, now - bucket.at) * perMs)
    bucket.at = now
    const allowed = bucket.tokens >= 1
    if (allowed) bucket.tokens -= 1
    const remaining = Math.floor(bucket.tokens)
    const resetMs = (rpm - bucket.tokens) / perMs
    if (format.rateLimitHeaders !== undefined) {
      format.rateLimitHeaders(headers, { limit: rpm, remaining, resetMs, now })
    } else {
      headers["x-ratelimit-limit-requests"] = String(rpm)
      headers["x-ratelimit-remaining-requests"] = String(remaining)
      headers["x-ratelimit-reset-requests"] = goDuration(resetMs)
    }
    return allowed ? undefined : { _tag: "RateLimited", limit: rpm, retryAfterMs: (1 - bucket.tokens) / perMs }
  }

  /**
   * Fault header, auth and rate limit: what every route checks first. Returns
   * a plan (an error, or a fault that replaces the reply), or the fault to apply
   * to the reply, if any.
   */
  const admit = (
    format: Gate,
    headers: Http.IncomingHttpHeaders,
    now: number,
    out: Record<string, string>
  ): Plan | Admitted | undefined => {
    const faultText = headers[faultHeader]
    let fault: Fault | undefined = config.fault
    if (typeof faultText === "string") {
      const parsed = parseFaultCached(faultText)
      if (typeof parsed === "string") {
        return errorPlan(format, {
          _tag: "InvalidRequest",
          message: `Invalid ${faultHeader} header "${faultText}": ${parsed}.`,
          param: faultHeader,
          code: "invalid_simulator_fault"
        }, out)
      }
      fault = parsed
    }
    const key = format.apiKey(headers)
    if (config.apiKeys !== undefined && (key === undefined || !config.apiKeys.has(key))) {
      return errorPlan(format, { _tag: "InvalidKey", maskedKey: key === undefined ? undefined : maskKey(key) }, out)
    }
    const limited = rateLimit(format, key ?? "", now, out)
    if (limited !== undefined) return errorPlan(format, limited, out)
    if (fault === undefined) return undefined
    switch (fault._tag) {
      case "Status":
        return errorPlan(format, { _tag: "Injected", fault }, out)
      case "Html":
        out["content-type"] = "text/html"
        return { _tag: "Body", status: fault.status, headers: out, body: htmlPage(fault.status), delayMs: 0 }
      case "Empty":
        return { _tag: "Body", status: fault.status, headers: out, body: "", delayMs: 0 }
      default:
        return fault
    }
  }

  const isPlan = (u: Plan | Admitted | undefined): u is Plan =>
    u !== undefined &&
    (u._tag === "Body" || u._tag === "Stream" || u._tag === "Truncated" || u._tag === "Drop" || u._tag === "Hang")

  /** The events of a stream, paced: time to first token before the first, a token gap before each next. */
  const streamPlan = (
    headers: Record<string, string>,
    parts: ReadonlyArray<string>,
    end: string,
    then: "end" | "reset" | "stall"
  ): Plan => {
    const gap = config.tokenGapMs
    let groups: Array<Group>
    if (gap === undefined || parts.length === 0) {
      groups = [{ delayMs: config.ttftMs, text: parts.join("") + end }]
    } else {
      groups = parts.map((text, i) => ({ delayMs: i === 0 ? config.ttftMs : gap, text }))
      const last = groups[groups.length - 1]!
      groups[groups.length - 1] = { delayMs: last.delayMs, text: last.text + end }
    }
    return { _tag: "Stream", headers, groups, then }
  }

  /**
   * The start every request shares: an id, the gate (fault header, key, rate
   * limit), the JSON body read and decoded. A plan when it ends there.
   */
  const open = <T>(
    format: Gate,
    decode: (body: unknown, params?: Readonly<Record<string, string | undefined>>) => T | ApiError,
    headers: Http.IncomingHttpHeaders,
    bodyText: string,
    now: number,
    params: Readonly<Record<string, string | undefined>> | undefined
  ):
    | Plan
    | {
      readonly id: number
      readonly out: Record<string, string>
      readonly fault: ReplyFault | undefined
      readonly output: Reply.OutputMode | undefined
      readonly decoded: T
    } =>
  {
    const id = nextId++
    const out: Record<string, string> = requestIdHeaders(format, id)
    const admitted = admit(format, headers, now, out)
    if (isPlan(admitted)) return admitted
    const fault = admitted?._tag === "Output" ? undefined : admitted
    const output = admitted?._tag === "Output" ? admitted.mode : undefined
    let body: unknown
    try {
      body = JSON.parse(bodyText)
    } catch (cause) {
      return errorPlan(format, {
        _tag: "InvalidRequest",
        message: `We could not parse the JSON body of your request (${
          (cause as Error).message
        }). The API expects a JSON payload.`
      }, out)
    }
    const decoded = decode(body, params)
    return isApiError(decoded) ? errorPlan(format, decoded, out) : { id, out, fault, output, decoded }
  }

  const generate = <X>(
    format: WireFormat<X>,
    headers: Http.IncomingHttpHeaders,
    bodyText: string,
    now: number,
    params?: Readonly<Record<string, string | undefined>>
  ): Plan => {
    const opened = open(format, format.decode, headers, bodyText, now, params)
    if (!("decoded" in opened)) return opened
    const { decoded, fault, id, out, output } = opened
    const { prompt } = decoded
    if (!config.models.has(prompt.model)) return errorPlan(format, { _tag: "ModelNotFound", model: prompt.model }, out)
    const window = config.contextWindows[prompt.model] ?? config.contextWindow
    if (decoded.requestedTokens > window) {
      return errorPlan(format, {
        _tag: "ContextLength",
        limit: window,
        promptTokens: prompt.promptTokens,
        completionTokens: decoded.requestedTokens - prompt.promptTokens
      }, out)
    }
    const replyTokens = intHeader(headers, "x-simulator-reply-tokens", 0, 100_000)
    if (isApiError(replyTokens)) return errorPlan(format, replyTokens, out)
    const toolCalls = intHeader(headers, "x-simulator-tool-calls", 1, 64)
    if (isApiError(toolCalls)) return errorPlan(format, toolCalls, out)
    const cachedTokens = intHeader(headers, "x-simulator-cached-tokens", 0, Number.MAX_SAFE_INTEGER)
    if (isApiError(cachedTokens)) return errorPlan(format, cachedTokens, out)
    const reply = Reply.generate(prompt, {
      replyTokens: replyTokens ?? config.replyTokens,
      reasoningTokens: config.reasoningTokens,
      toolCalls: toolCalls ?? 1,
      cachedTokens: cachedTokens ?? 0,
      output
    })
    const meta: ReplyMeta = { id: `${format.idPrefix}sim${id}`, created: Math.floor(now / 1000), model: prompt.model }

    if (decoded.stream) {
      out["content-type"] = format.streamContentType
      out["cache-control"] = "no-cache"
      const { events, tail } = format.renderStream(reply, meta, decoded.extra)
      if (fault === undefined) return streamPlan(out, events, tail, "end")
      const before = events.slice(0, fault.after)
      switch (fault._tag) {
        case "Malformed":
          return streamPlan(out, [...before, format.malformedEvent, ...events.slice(fault.after)], tail, "end")
        case "Truncate":
          return streamPlan(out, before, "", "end")
        case "StreamError":
          return streamPlan(out, before, format.renderStreamError(fault.shape, meta), "end")
        case "Reset":
          return streamPlan(out, before, "", "reset")
        case "Stall":
          return streamPlan(out, before, "", "stall")
      }
    }

    // A non-streamed reply takes as long as its stream would have.
    const delayMs = config.ttftMs +
      (config.tokenGapMs === undefined ? 0 : config.tokenGapMs * reply.usage.completionTokens)
    return bodyPlan(out, format.renderReply(reply, meta, decoded.extra), delayMs, fault, () =>
      format.renderBodyError(fault!._tag === "StreamError" ? fault!.shape : "openai", meta))
  }

  /** A whole 200 JSON body, changed by the fault, if any. */
  const bodyPlan = (
    out: Record<string, string>,
    text: string,
    delayMs: number,
    fault: ReplyFault | undefined,
    bodyError: () => string
  ): Plan => {
    out["content-type"] = "application/json"
    if (fault === undefined) return { _tag: "Body", status: 200, headers: out, body: text, delayMs }
    const half = text.slice(0, text.length >> 1)
    switch (fault._tag) {
      case "Malformed":
        return { _tag: "Body", status: 200, headers: out, body: half, delayMs }
      case "StreamError":
        return { _tag: "Body", status: 200, headers: out, body: bodyError(), delayMs }
      case "Truncate":
        return { _tag: "Truncated", headers: out, declaredLength: Buffer.byteLength(text), body: half, delayMs }
      case "Reset":
        return { _tag: "Drop", delayMs }
      case "Stall":
        return { _tag: "Hang" }
    }
  }

  /**
   * An embedding request: the same gate, faults and model check as a
   * generation; every input checked against the context window; vectors from
   * `Reply.embedding`.
   */
  const embed = (
    format: EmbeddingFormat,
    headers: Http.IncomingHttpHeaders,
    bodyText: string,
    now: number,
    params?: Readonly<Record<string, string | undefined>>
  ): Plan => {
    const opened = open(format, format.decode, headers, bodyText, now, params)
    if (!("decoded" in opened)) return opened
    const { decoded: request, fault, id, out } = opened
    if (!config.models.has(request.model)) return errorPlan(format, { _tag: "ModelNotFound", model: request.model }, out)
    const window = config.contextWindows[request.model] ?? config.contextWindow
    let promptTokens = 0
    for (const input of request.inputs) {
      const tokens = Reply.countTokens(input.length)
      if (tokens > window) {
        return errorPlan(format, { _tag: "ContextLength", limit: window, promptTokens: tokens, completionTokens: 0 }, out)
      }
      promptTokens += tokens
    }
    const dimensions = request.dimensions ?? Reply.defaultEmbeddingDimensions
    const vectors = request.inputs.map((input) => Reply.embedding(request.model, input, dimensions))
    const text = format.render(vectors, request, promptTokens)
    return bodyPlan(out, text, config.ttftMs, fault, () => format.renderBodyError("openai", { id: `sim${id}`, created: 0, model: request.model }))
  }

  const models = <X>(
    format: WireFormat<X>,
    headers: Http.IncomingHttpHeaders,
    now: number,
    model: string | undefined
  ): Plan => {
    const out: Record<string, string> = requestIdHeaders(format, nextId++)
    const admitted = admit(format, headers, now, out)
    if (isPlan(admitted)) return admitted
    const entry = (id: string) => ({ id, object: "model", created: 1_700_000_000, owned_by: "simulator" })
    if (model !== undefined && !config.models.has(model)) return errorPlan(format, { _tag: "ModelNotFound", model }, out)
    out["content-type"] = "application/json"
    const body = JSON.stringify(model !== undefined ? entry(model) : { object: "list", data: config.modelList.map(entry) })
    return { _tag: "Body", status: 200, headers: out, body, delayMs: 0 }
  }

  const notFound = (format: Gate, method: string, path: string): Plan =>
    errorPlan(format, { _tag: "NotFound", method, path }, requestIdHeaders(format, nextId++))

  const badBody = (format: Gate): Plan =>
    errorPlan(format, {
      _tag: "InvalidRequest",
      message: "The request body could not be read, or is larger than 32 MiB."
    }, requestIdHeaders(format, nextId++))

  return { generate, embed, models, notFound, badBody }
}

type Engine = ReturnType<typeof makeEngine>

// ---------------------------------------------------------------------------
// Servers: plans to bytes
// ---------------------------------------------------------------------------

const maxBody = 32 * 1024 * 1024

const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))

/** Writes the last bytes, and once the kernel has them, resets the connection. */
const resetAfter = (res: Http.ServerResponse, text: string, closing: (res: Http.ServerResponse) => void) => {
  closing(res)
  res.write(text, () => {
    const socket = res.socket
    if (socket !== null && !socket.destroyed) socket.resetAndDestroy()
  })
}

const resetNow = (res: Http.ServerResponse, closing: (res: Http.ServerResponse) => void) => {
  closing(res)
  res.socket?.resetAndDestroy()
}

const chat = OpenAiChat.format

/** What a route is given. */
interface RouteInput {
  readonly headers: Http.IncomingHttpHeaders
  /** The body of a POST (`""` otherwise); `undefined` when it could not be read or is too large. */
  readonly body: string | undefined
  /** From `Clock`. */
  readonly now: number
  readonly params: Readonly<Record<string, string | undefined>>
  /** The request target, query included (`/v1beta/models/m:streamGenerateContent?alt=sse`). */
  readonly url: string
}

interface Route {
  readonly method: "GET" | "POST"
  /** As `HttpRouter` writes it: `/`-separated segments, `:name` capturing one. */
  readonly path: HttpRouter.PathInput
  readonly plan: (engine: Engine, input: RouteInput) => Plan
}

const embeddingRoute = (path: HttpRouter.PathInput, format: EmbeddingFormat): Route => ({
  method: "POST",
  path,
  plan: (engine, { body, headers, now }) =>
    body === undefined ? engine.badBody(format) : engine.embed(format, headers, body, now)
})

/** Every endpoint, for both servers. Each new wire format adds its routes here. */
const routes: ReadonlyArray<Route> = [
  {
    method: "POST",
    path: "/v1/chat/completions",
    plan: (engine, { body, headers, now }) =>
      body === undefined ? engine.badBody(chat) : engine.generate(chat, headers, body, now)
  },
  {
    method: "POST",
    path: "/v1/responses",
    plan: (engine, { body, headers, now }) =>
      body === undefined
        ? engine.badBody(OpenAiResponses.format)
        : engine.generate(OpenAiResponses.format, headers, body, now)
  },
  {
    method: "GET",
    path: "/v1/models",
    plan: (engine, { headers, now }) => engine.models(chat, headers, now, undefined)
  },
  {
    method: "GET",
    path: "/v1/models/:model",
    plan: (engine, { headers, now, params }) => engine.models(chat, headers, now, params.model ?? "")
  },
  {
    method: "POST",
    path: "/v1/messages",
    plan: (engine, { body, headers, now }) =>
      body === undefined ? engine.badBody(Anthropic.format) : engine.generate(Anthropic.format, headers, body, now)
  },
  embeddingRoute("/v1/embeddings", OpenAiChat.embeddingFormat),
  embeddingRoute("/api/embed", Ollama.embeddingFormat),
  {
    method: "POST",
    path: "/api/chat",
    plan: (engine, { body, headers, now }) =>
      body === undefined ? engine.badBody(Ollama.format) : engine.generate(Ollama.format, headers, body, now)
  },
  {
    // One segment, `{model}:{method}`: Gemini puts the method after a colon.
    method: "POST",
    path: "/v1beta/models/:model",
    plan: (engine, { body, headers, now, params, url }) => {
      const target = Gemini.target(params.model ?? "", url, headers)
      return target === undefined
        ? engine.notFound(Gemini.format, "POST", url)
        : body === undefined
        ? engine.badBody(Gemini.format)
        : Gemini.isEmbedding(target.params)
        ? engine.embed(Gemini.embeddingFormat, target.headers, body, now, target.params)
        : engine.generate(Gemini.format, target.headers, body, now, target.params)
    }
  }
]

const compiledRoutes = routes.map((route) => ({ route, segments: route.path.split("/") }))

const decodeSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** The route table matched by hand, for the plain listener (`HttpRouter` does its own). */
const matchRoute = (
  method: string | undefined,
  url: string | undefined
): { readonly route: Route; readonly params: Record<string, string> } | undefined => {
  const parts = (url ?? "").split("?", 1)[0]!.split("/")
  next: for (const { route, segments } of compiledRoutes) {
    if (route.method !== method || segments.length !== parts.length) continue
    const params: Record<string, string> = {}
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!
      if (segment.startsWith(":")) params[segment.slice(1)] = decodeSegment(parts[i]!)
      else if (segment !== parts[i]) continue next
    }
    return { route, params }
  }
  return undefined
}

/**
 * The default server: a plain `node:http` request listener. A plan without
 * delays is written synchronously, with no fiber; a delayed or paced plan runs
 * as a fiber in the simulator's scope (interrupted when the client goes away or
 * the scope closes), sleeping on `Clock`.
 */
const nodeListener = (
  engine: Engine,
  config: Config,
  clock: Clock.Clock,
  runFork: (effect: Effect.Effect<void>) => Fiber.Fiber<void>,
  closing: (res: Http.ServerResponse) => void
) => {

  const writeBody = (res: Http.ServerResponse, plan: Extract<Plan, { _tag: "Body" }>) => {
    plan.headers["content-length"] = String(Buffer.byteLength(plan.body))
    res.writeHead(plan.status, plan.headers)
    res.end(plan.body)
  }

  /** Runs what must wait on `Clock` as a fiber that stops when the connection closes. */
  const later = (res: Http.ServerResponse, effect: Effect.Effect<void>) => {
    const fiber = runFork(effect)
    res.once("close", () => {
      fiber.interruptUnsafe()
    })
  }

  const writeStream = (res: Http.ServerResponse, plan: Extract<Plan, { _tag: "Stream" }>): Effect.Effect<void> =>
    Effect.suspend(() => {
      res.writeHead(200, plan.headers)
      // Headers go out at once, so a client sees them before the first token.
      res.flushHeaders()
      const groups = plan.then === "reset" ? plan.groups.slice(0, -1) : plan.groups
      const last = plan.then === "reset" ? plan.groups[plan.groups.length - 1]?.text ?? "" : ""
      return Effect.andThen(
        Effect.forEach(groups, (group) =>
          Effect.andThen(
            group.delayMs > 0 ? sleep(group.delayMs) : Effect.void,
            Effect.sync(() => {
              res.write(group.text)
            })
          ), { discard: true }),
        plan.then === "end"
          ? Effect.sync(() => {
            res.end()
          })
          : plan.then === "reset"
          ? Effect.sync(() => resetAfter(res, last, closing))
          : Effect.never
      )
    })

  const execute = (res: Http.ServerResponse, plan: Plan) => {
    const latency = config.latencyMs
    switch (plan._tag) {
      case "Body":
        if (latency + plan.delayMs === 0) return writeBody(res, plan)
        return later(res, Effect.andThen(sleep(latency + plan.delayMs), Effect.sync(() => writeBody(res, plan))))
      case "Stream": {
        const only = plan.groups.length === 1 ? plan.groups[0]! : undefined
        if (latency === 0 && only !== undefined && only.delayMs === 0 && plan.then === "end") {
          // The fast path: the whole stream as one chunked body.
          res.writeHead(200, plan.headers)
          return res.end(only.text)
        }
        return later(res, latency > 0 ? Effect.andThen(sleep(latency), writeStream(res, plan)) : writeStream(res, plan))
      }
      case "Truncated":
        return later(
          res,
          Effect.andThen(
            sleep(latency + plan.delayMs),
            Effect.sync(() => {
              res.writeHead(200, { ...plan.headers, "content-length": String(plan.declaredLength) })
              resetAfter(res, plan.body, closing)
            })
          )
        )
      case "Drop":
        return later(res, Effect.andThen(sleep(latency + plan.delayMs), Effect.sync(() => resetNow(res, closing))))
      case "Hang":
        return
    }
  }

  const answer = (req: Http.IncomingMessage, res: Http.ServerResponse, body: string | undefined) => {
    const matched = matchRoute(req.method, req.url)
    const now = clock.currentTimeMillisUnsafe()
    let plan: Plan
    try {
      plan = matched === undefined
        ? engine.notFound(chat, req.method ?? "", req.url ?? "")
        : matched.route.plan(engine, { headers: req.headers, body, now, params: matched.params, url: req.url ?? "" })
    } catch (defect) {
      // A bug in the simulator: say so in the response rather than crash the process.
      const message = `Simulator defect: ${defect instanceof Error ? defect.message : String(defect)}`
      plan = {
        _tag: "Body",
        status: 500,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ error: { message, type: "server_error", param: null, code: null } }),
        delayMs: 0
      }
    }
    execute(res, plan)
  }

  return (req: Http.IncomingMessage, res: Http.ServerResponse) => {
    if (req.method !== "POST") return answer(req, res, "")
    let text = ""
    let tooLarge = false
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => {
      text += chunk
      if (text.length > maxBody && !tooLarge) {
        tooLarge = true
        text = ""
      }
    })
    req.once("end", () => answer(req, res, tooLarge ? undefined : text))
  }
}

/**
 * The same plans served through `effect/http`: `HttpRouter` routes on
 * `NodeHttpServer`, responses as `HttpServerResponse` values (a paced stream as
 * an Effect `Stream`). Kept to measure against the plain listener (see
 * `bench/simulator.ts`) and for whoever needs the platform's middleware. The
 * router is built once per simulator, with `HttpRouter.make`.
 */
const platformApp = (
  engine: Engine,
  config: Config,
  clock: Clock.Clock,
  closing: (res: Http.ServerResponse) => void
) => {
  const encoder = new TextEncoder()

  const respond = (
    res: Http.ServerResponse,
    plan: Plan
  ): HttpServerResponse.HttpServerResponse | Effect.Effect<HttpServerResponse.HttpServerResponse> => {
    switch (plan._tag) {
      case "Body": {
        const response = HttpServerResponse.raw(plan.body, {
          status: plan.status,
          headers: plan.headers,
          contentLength: Buffer.byteLength(plan.body)
        })
        return plan.delayMs > 0 ? Effect.as(sleep(plan.delayMs), response) : response
      }
      case "Stream": {
        const only = plan.groups.length === 1 ? plan.groups[0]! : undefined
        if (only !== undefined && only.delayMs === 0 && plan.then === "end") {
          return HttpServerResponse.raw(only.text, { headers: plan.headers })
        }
        const groups = plan.then === "reset" ? plan.groups.slice(0, -1) : plan.groups
        const last = plan.then === "reset" ? plan.groups[plan.groups.length - 1]?.text ?? "" : ""
        const body = Stream.fromIterable(groups).pipe(
          Stream.mapEffect((group) => {
            const bytes = encoder.encode(group.text)
            return group.delayMs > 0 ? Effect.as(sleep(group.delayMs), bytes) : Effect.succeed(bytes)
          }),
          Stream.concat(
            plan.then === "reset"
              ? Stream.fromEffect(Effect.andThen(Effect.sync(() => resetAfter(res, last, closing)), Effect.never))
              : plan.then === "stall"
              ? Stream.never
              : Stream.empty
          )
        )
        return HttpServerResponse.stream(body, { headers: plan.headers })
      }
      case "Truncated":
        return Effect.andThen(
          sleep(plan.delayMs),
          Effect.suspend(() => {
            res.writeHead(200, { ...plan.headers, "content-length": String(plan.declaredLength) })
            resetAfter(res, plan.body, closing)
            return Effect.never
          })
        )
      case "Drop":
        return Effect.andThen(sleep(plan.delayMs), Effect.suspend(() => {
          resetNow(res, closing)
          return Effect.never
        }))
      case "Hang":
        return Effect.never
    }
  }

  const delayed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    config.latencyMs > 0 ? Effect.delay(effect, Duration.millis(config.latencyMs)) : effect

  const serve = <R>(plan: (request: HttpServerRequest.HttpServerRequest, now: number) => Effect.Effect<Plan, never, R>) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Effect.flatMap(plan(request, clock.currentTimeMillisUnsafe()), (p) => {
        const res = NodeHttpServerRequest.toServerResponse(request)
        // The simulator creates its own `node:http` server, so this is never HTTP/2.
        if (!(res instanceof Http.ServerResponse)) return Effect.die(new Error("Simulator: expected an HTTP/1 response"))
        const response = respond(res, p)
        return delayed(HttpServerResponse.isHttpServerResponse(response) ? Effect.succeed(response) : response)
      }))

  const readBody = (req: Http.IncomingMessage) =>
    Effect.callback<string | undefined>((resume) => {
      let text = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => {
        text += chunk
      })
      req.once("end", () => resume(Effect.succeed(text.length > maxBody ? undefined : text)))
    })

  const isRouteNotFound = (error: unknown): error is HttpServerError.HttpServerError =>
    HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound"

  return Effect.gen(function*() {
    const router = yield* HttpRouter.make
    yield* router.addAll(routes.map((route) =>
      HttpRouter.route(
        route.method,
        route.path,
        serve((request, now) => {
          const req = NodeHttpServerRequest.toIncomingMessage(request)
          if (!(req instanceof Http.IncomingMessage)) return Effect.die(new Error("Simulator: expected an HTTP/1 request"))
          return Effect.flatMap(
            route.method === "POST" ? readBody(req) : Effect.succeed(""),
            (body) =>
              Effect.map(
                HttpRouter.params,
                (params) => route.plan(engine, { headers: req.headers, body, now, params, url: request.url })
              )
          )
        })
      )
    ))
    return router.asHttpEffect().pipe(
      Effect.catchIf(isRouteNotFound, (error) =>
        serve(() => Effect.succeed(engine.notFound(chat, error.request.method, error.request.url))))
    )
  })
}

// ---------------------------------------------------------------------------
// Constructors
// ---------------------------------------------------------------------------

/**
 * Starts a simulator on loopback and returns once it listens; closing the scope
 * closes every connection and the server.
 *
 * Time (rate-limit windows, `created`, delays) is read from the `Clock` of the
 * fiber that runs `make`: under `TestClock` (`it.effect`), rate
 * windows move with `TestClock.adjust`, and any delay knob waits for it too.
 *
 * @since 0.1.0
 * @category Constructors
 */
export const make = (options: Options = {}): Effect.Effect<Simulator, SimulatorStartError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = resolve(options)
    if (typeof config === "string") {
      return yield* new SimulatorStartError({ reason: "InvalidOptions", description: config })
    }
    const counters = { requests: 0, inFlight: 0, clientClosed: 0, connections: 0, openConnections: 0 }
    const closedByServer = new WeakSet<Http.ServerResponse>()
    const closing = (res: Http.ServerResponse) => {
      closedByServer.add(res)
    }
    const server = Http.createServer({ keepAliveTimeout: 30_000 })
    server.on("connection", (socket) => {
      counters.connections++
      counters.openConnections++
      socket.once("close", () => {
        counters.openConnections--
      })
    })
    // Registered first, so every request is counted whichever server answers it.
    server.on("request", (_req: Http.IncomingMessage, res: Http.ServerResponse) => {
      counters.requests++
      counters.inFlight++
      res.once("close", () => {
        counters.inFlight--
        if (!res.writableEnded && !closedByServer.has(res)) counters.clientClosed++
      })
    })
    const engine = makeEngine(config)

    const listenError = (cause: unknown) =>
      new SimulatorStartError({
        reason: "Listen",
        description: `${config.host}:${config.port}: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })

    // Time is read from the Clock of the fiber that starts the simulator (a
    // TestClock in tests), synchronously in the request handlers.
    const clock = yield* Clock.Clock
    if (config.server === "node") {
      const runFork = yield* FiberSet.makeRuntime<never, void, never>()
      server.on("request", nodeListener(engine, config, clock, runFork, closing))
      yield* Effect.acquireRelease(
        Effect.callback<void, SimulatorStartError>((resume) => {
          const onError = (error: Error) => resume(Effect.fail(listenError(error)))
          server.once("error", onError)
          server.listen({ host: config.host, port: config.port }, () => {
            server.off("error", onError)
            resume(Effect.void)
          })
        }),
        () =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            // A stalled or slow stream must not keep close() waiting.
            server.closeAllConnections()
          })
      )
    } else {
      const httpServer = yield* NodeHttpServer.make(() => server, { host: config.host, port: config.port }).pipe(
        Effect.mapError((error) => listenError(error.cause))
      )
      const app = yield* platformApp(engine, config, clock, closing)
      // A tracing span per request would cost more than the simulator's own work.
      yield* httpServer.serve(app).pipe(
        Effect.provideService(HttpMiddleware.TracerDisabledWhen, () => true)
      )
      // Runs before the server's own finalizers (it is added after them): a
      // stalled stream must not keep close() waiting.
      yield* Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))
    }

    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : config.port
    const host = config.host.includes(":") ? `[${config.host}]` : config.host
    return Simulator.of({
      url: `http://${host}:${port}`,
      port,
      requestCount: Effect.sync(() => counters.requests),
      stats: Effect.sync(() => ({ ...counters }))
    })
  })

/**
 * A simulator as a layer: started when the layer is built, closed with it.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Simulator, SimulatorStartError> =>
  Layer.effect(Simulator, make(options))
