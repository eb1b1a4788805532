/**
 * A local LLM server on loopback that answers deterministically, with knobs for
 * latency, time to first token, tokens per second, reply length, keys, models,
 * context limits and per-key rate limits, and faults chosen per request.
 *
 * This module holds what every wire format shares: the server and its
 * lifecycle, the options, auth, rate limits, pacing and the fault grammar. Each
 * wire format (`OpenAiChat` today; Responses, Anthropic, Gemini and Ollama
 * later, on the same port) is a {@link WireFormat}: pure functions that decode a
 * request into a `Reply.Prompt` and render a `Reply.Reply` or an error as bytes.
 *
 * Serving: requests arrive through `@effect/platform`'s `HttpRouter` on
 * `NodeHttpServer`, with the per-request tracing span turned off. A reply that
 * needs no pacing and no socket-level fault is rendered to one string and
 * written at once (a stream as one chunked body); pacing and the
 * reset/stall faults go through an Effect `Stream` with `Effect.sleep`, so time
 * is always read through `Clock`. Throughput is measured by
 * `bench/simulator.ts` against a bare `node:http` server writing the same bytes.
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
 *                       under the full content-length, then the connection closes
 * stream-error=<n>      after n chunks an error event, then the body ends;
 *                       param shape=openai (`{"error":{…}}`, the default) | vllm
 *                       (`{"object":"error",…,"code":500}`) | openrouter
 *                       (`finish_reason:"error"` with a top-level `error`);
 *                       a non-streamed request gets that body with status 200
 * stall=<n>             after n chunks nothing more is sent until the client
 *                       gives up; a non-streamed request is never answered
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
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Http from "node:http"
import * as OpenAiChat from "./OpenAiChat.js"
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
  readonly latency?: Duration.DurationInput
  /** Delay between the headers and the first chunk of a stream (added to a non-streamed reply's delay). Default zero. */
  readonly timeToFirstToken?: Duration.DurationInput
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

/**
 * The request header that selects a fault.
 *
 * @since 0.1.0
 * @category Faults
 */
export const faultHeader = "x-simulator-fault"

const faultKinds = ["status", "html", "empty", "reset", "malformed", "truncate", "stream-error", "stall"] as const

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
  readonly decode: (body: unknown) => Decoded<Extra> | ApiError
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
export const Simulator: Context.Tag<Simulator, Simulator> = Context.GenericTag<Simulator>(
  "effect-llm-router/simulator/Simulator"
)

/**
 * The simulator could not start: invalid options, or the port could not be bound.
 *
 * @since 0.1.0
 * @category Errors
 */
export class SimulatorStartError extends Schema.TaggedError<SimulatorStartError>()("SimulatorStartError", {
  reason: Schema.Literal("InvalidOptions", "Listen"),
  description: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message() {
    return this.reason === "Listen"
      ? `The simulator could not listen: ${this.description}. Choose another port, or 0 for a free one.`
      : `Invalid simulator options: ${this.description}.`
  }
}

// ---------------------------------------------------------------------------
// Engine
// ---------------------------------------------------------------------------

interface Config {
  readonly host: string
  readonly port: number
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
  const millis = (name: string, value: Duration.DurationInput | undefined): number | string => {
    if (value === undefined) return 0
    const decoded = Duration.decodeUnknown(value)
    if (decoded._tag === "None") return `${name} is not a duration`
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
  const modelList = options.models ?? defaultModels
  return {
    host: options.host ?? "127.0.0.1",
    port: port as number,
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

interface Bucket {
  tokens: number
  at: number
}

interface Counters {
  requests: number
  inFlight: number
  clientClosed: number
  connections: number
  openConnections: number
  nextId: number
}

const htmlPage = (status: number): string => {
  const title = `${status} ${Http.STATUS_CODES[status] ?? "Error"}`
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>simulator</center>\r\n</body>\r\n</html>\r\n`
}

const intHeader = (
  headers: Http.IncomingHttpHeaders,
  name: string,
  min: number,
  max: number
): number | undefined | ApiError => {
  const value = headers[name]
  if (value === undefined) return undefined
  const text = Array.isArray(value) ? value[0] ?? "" : value
  const n = Number(text)
  return /^\d+$/.test(text.trim()) && n >= min && n <= max
    ? n
    : { _tag: "InvalidRequest", message: `Invalid ${name} header "${text}": expected an integer from ${min} to ${max}.`, param: name }
}

const isApiError = (u: unknown): u is ApiError => typeof u === "object" && u !== null && "_tag" in u

/** The faults that change a reply rather than replace it. */
type ReplyFault = Exclude<Fault, { readonly _tag: "Status" | "Html" | "Empty" }>

const sleep = (ms: number) => Effect.sleep(Duration.millis(ms))

const encoder = new TextEncoder()

/** The platform's handler interrupts a request's fiber when its connection closes, so a stall ends then. */
const destroyAfter = (
  res: Http.ServerResponse,
  text: string,
  markServerClosed: (res: Http.ServerResponse) => void
): Effect.Effect<never> =>
  Effect.async<never>(() => {
    markServerClosed(res)
    // The write callback runs once the bytes are handed to the kernel, so the
    // client reads every chunk before it sees the reset.
    res.write(text, () => {
      const socket = res.socket
      if (socket !== null && !socket.destroyed) socket.resetAndDestroy()
    })
  })

const makeEngine = (config: Config, counters: Counters, markServerClosed: (res: Http.ServerResponse) => void) => {
  const buckets = new Map<string, Bucket>()
  const faults = new Map<string, Fault | string>()
  const rpm = config.requestsPerMinute

  const parseFaultCached = (value: string): Fault | string => {
    let fault = faults.get(value)
    if (fault === undefined) {
      fault = parseFault(value)
      if (faults.size > 256) faults.clear()
      faults.set(value, fault)
    }
    return fault
  }

  const errorResponse = <X>(format: WireFormat<X>, error: ApiError, headers: Record<string, string>) => {
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
    return HttpServerResponse.raw(body, {
      status,
      headers,
      contentType: "application/json",
      contentLength: Buffer.byteLength(body)
    })
  }

  /** Takes one request from the key's bucket; the headers go on every response. */
  const rateLimit = (key: string, now: number, headers: Record<string, string>): ApiError | undefined => {
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
    headers["x-ratelimit-limit-requests"] = String(rpm)
    headers["x-ratelimit-remaining-requests"] = String(Math.floor(bucket.tokens))
    headers["x-ratelimit-reset-requests"] = goDuration((rpm - bucket.tokens) / perMs)
    return allowed ? undefined : { _tag: "RateLimited", limit: rpm, retryAfterMs: (1 - bucket.tokens) / perMs }
  }

  /**
   * Fault header, auth and rate limit: what every route checks first. Returns a
   * response (an error, or a fault that replaces the reply), or the fault to
   * apply to the reply, if any.
   */
  const admit = <X>(
    format: WireFormat<X>,
    headers: Http.IncomingHttpHeaders,
    now: number,
    out: Record<string, string>
  ): HttpServerResponse.HttpServerResponse | ReplyFault | undefined => {
    const faultText = headers[faultHeader]
    let fault: Fault | undefined = config.fault
    if (typeof faultText === "string") {
      const parsed = parseFaultCached(faultText)
      if (typeof parsed === "string") {
        return errorResponse(format, {
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
      return errorResponse(format, { _tag: "InvalidKey", maskedKey: key === undefined ? undefined : maskKey(key) }, out)
    }
    const limited = rateLimit(key ?? "", now, out)
    if (limited !== undefined) return errorResponse(format, limited, out)
    if (fault === undefined) return undefined
    switch (fault._tag) {
      case "Status":
        return errorResponse(format, { _tag: "Injected", fault }, out)
      case "Html": {
        const page = htmlPage(fault.status)
        return HttpServerResponse.raw(page, {
          status: fault.status,
          headers: out,
          contentType: "text/html",
          contentLength: Buffer.byteLength(page)
        })
      }
      case "Empty":
        return HttpServerResponse.empty({ status: fault.status, headers: out })
      default:
        return fault
    }
  }

  const streamResponse = (
    res: Http.ServerResponse,
    contentType: string,
    headers: Record<string, string>,
    parts: ReadonlyArray<string>,
    end: string,
    after: "end" | "reset" | "stall"
  ): HttpServerResponse.HttpServerResponse => {
    headers["cache-control"] = "no-cache"
    const gap = config.tokenGapMs
    if (gap === undefined && config.ttftMs === 0 && after === "end") {
      // The fast path: the whole stream as one chunked body, no Effect per token.
      return HttpServerResponse.raw(parts.join("") + end, { headers, contentType })
    }
    // Groups of bytes, each written after its delay.
    const groups: Array<{ readonly delay: number; text: string }> = gap === undefined
      ? [{ delay: config.ttftMs, text: parts.join("") + end }]
      : parts.length === 0
      ? [{ delay: config.ttftMs, text: end }]
      : parts.map((text, i) => ({ delay: i === 0 ? config.ttftMs : gap, text }))
    if (gap !== undefined && parts.length > 0) groups[groups.length - 1]!.text += end
    let last = ""
    if (after === "reset") last = groups.pop()?.text ?? ""
    const body = Stream.fromIterable(groups).pipe(
      Stream.mapEffect((group) => {
        const bytes = encoder.encode(group.text)
        return group.delay > 0 ? Effect.as(sleep(group.delay), bytes) : Effect.succeed(bytes)
      }),
      Stream.concat(
        after === "reset"
          ? Stream.fromEffect(destroyAfter(res, last, markServerClosed))
          : after === "stall"
          ? Stream.never
          : Stream.empty
      )
    )
    return HttpServerResponse.stream(body, { headers, contentType })
  }

  const generate = <X>(
    format: WireFormat<X>,
    headers: Http.IncomingHttpHeaders,
    bodyText: string,
    now: number,
    res: Http.ServerResponse
  ): HttpServerResponse.HttpServerResponse | Effect.Effect<HttpServerResponse.HttpServerResponse> => {
    const id = counters.nextId++
    const out: Record<string, string> = { "x-request-id": `req_sim${id}` }
    const fault = admit(format, headers, now, out)
    if (HttpServerResponse.isServerResponse(fault)) return fault

    let body: unknown
    try {
      body = JSON.parse(bodyText)
    } catch (cause) {
      return errorResponse(format, {
        _tag: "InvalidRequest",
        message: `We could not parse the JSON body of your request (${
          (cause as Error).message
        }). The API expects a JSON payload.`
      }, out)
    }
    const decoded = format.decode(body)
    if (isApiError(decoded)) return errorResponse(format, decoded, out)
    const { prompt } = decoded
    if (!config.models.has(prompt.model)) return errorResponse(format, { _tag: "ModelNotFound", model: prompt.model }, out)
    const window = config.contextWindows[prompt.model] ?? config.contextWindow
    if (decoded.requestedTokens > window) {
      return errorResponse(format, {
        _tag: "ContextLength",
        limit: window,
        promptTokens: prompt.promptTokens,
        completionTokens: decoded.requestedTokens - prompt.promptTokens
      }, out)
    }
    const replyTokens = intHeader(headers, "x-simulator-reply-tokens", 0, 100_000)
    if (isApiError(replyTokens)) return errorResponse(format, replyTokens, out)
    const toolCalls = intHeader(headers, "x-simulator-tool-calls", 1, 64)
    if (isApiError(toolCalls)) return errorResponse(format, toolCalls, out)
    const cachedTokens = intHeader(headers, "x-simulator-cached-tokens", 0, Number.MAX_SAFE_INTEGER)
    if (isApiError(cachedTokens)) return errorResponse(format, cachedTokens, out)
    const reply = Reply.generate(prompt, {
      replyTokens: replyTokens ?? config.replyTokens,
      reasoningTokens: config.reasoningTokens,
      toolCalls: toolCalls ?? 1,
      cachedTokens: cachedTokens ?? 0
    })
    const meta: ReplyMeta = { id: `${format.idPrefix}sim${id}`, created: Math.floor(now / 1000), model: prompt.model }

    if (decoded.stream) {
      const { events, tail } = format.renderStream(reply, meta, decoded.extra)
      const type = format.streamContentType
      if (fault === undefined) return streamResponse(res, type, out, events, tail, "end")
      const before = events.slice(0, fault.after)
      switch (fault._tag) {
        case "Malformed":
          return streamResponse(res, type, out, [...before, format.malformedEvent, ...events.slice(fault.after)], tail, "end")
        case "Truncate":
          return streamResponse(res, type, out, before, "", "end")
        case "StreamError":
          return streamResponse(res, type, out, before, format.renderStreamError(fault.shape, meta), "end")
        case "Reset":
          return streamResponse(res, type, out, before, "", "reset")
        case "Stall":
          return streamResponse(res, type, out, before, "", "stall")
      }
    }

    // A non-streamed reply takes as long as its stream would have.
    const delay = config.ttftMs +
      (config.tokenGapMs === undefined ? 0 : config.tokenGapMs * reply.usage.completionTokens)
    const respond = (
      response: HttpServerResponse.HttpServerResponse | Effect.Effect<HttpServerResponse.HttpServerResponse>
    ) => (delay === 0 ? response : Effect.zipRight(sleep(delay), response))
    const text = format.renderReply(reply, meta, decoded.extra)
    if (fault === undefined) {
      return respond(
        HttpServerResponse.raw(text, { headers: out, contentType: "application/json", contentLength: Buffer.byteLength(text) })
      )
    }
    const half = text.slice(0, text.length >> 1)
    switch (fault._tag) {
      case "Malformed":
        return respond(HttpServerResponse.raw(half, { headers: out, contentType: "application/json" }))
      case "StreamError":
        return respond(
          HttpServerResponse.raw(format.renderBodyError(fault.shape, meta), { headers: out, contentType: "application/json" })
        )
      case "Truncate":
        return respond(Effect.suspend(() => {
          res.writeHead(200, { ...out, "content-type": "application/json", "content-length": Buffer.byteLength(text) })
          return destroyAfter(res, half, markServerClosed)
        }))
      case "Reset":
        return respond(Effect.suspend(() => {
          markServerClosed(res)
          res.socket?.resetAndDestroy()
          return Effect.never
        }))
      case "Stall":
        return Effect.never
    }
  }

  const models = <X>(
    format: WireFormat<X>,
    headers: Http.IncomingHttpHeaders,
    now: number,
    model: string | undefined
  ): HttpServerResponse.HttpServerResponse => {
    const out: Record<string, string> = { "x-request-id": `req_sim${counters.nextId++}` }
    const admitted = admit(format, headers, now, out)
    if (HttpServerResponse.isServerResponse(admitted)) return admitted
    const entry = (id: string) => ({ id, object: "model", created: 1_700_000_000, owned_by: "simulator" })
    if (model !== undefined) {
      if (!config.models.has(model)) return errorResponse(format, { _tag: "ModelNotFound", model }, out)
      return HttpServerResponse.unsafeJson(entry(model), { headers: out })
    }
    return HttpServerResponse.unsafeJson({ object: "list", data: config.modelList.map(entry) }, { headers: out })
  }

  return { generate, models, errorResponse }
}

const readBody = (req: Http.IncomingMessage): Effect.Effect<string | undefined> =>
  Effect.async<string | undefined>((resume) => {
    let text = ""
    req.setEncoding("utf8")
    req.on("data", (chunk: string) => {
      text += chunk
      if (text.length > 32 * 1024 * 1024) {
        req.destroy()
        resume(Effect.succeed(undefined))
      }
    })
    req.once("end", () => resume(Effect.succeed(text)))
    req.once("error", () => resume(Effect.succeed(undefined)))
  })

/**
 * Starts a simulator on loopback and returns once it listens; closing the scope
 * closes every connection and the server.
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
    const counters: Counters = { requests: 0, inFlight: 0, clientClosed: 0, connections: 0, openConnections: 0, nextId: 1 }
    const closedByServer = new WeakSet<Http.ServerResponse>()
    const markServerClosed = (res: Http.ServerResponse) => {
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
    // Counted outside Effect so every request is seen, whichever route it hits.
    server.on("request", (_req: Http.IncomingMessage, res: Http.ServerResponse) => {
      counters.requests++
      counters.inFlight++
      res.once("close", () => {
        counters.inFlight--
        if (!res.writableEnded && !closedByServer.has(res)) counters.clientClosed++
      })
    })

    const httpServer = yield* NodeHttpServer.make(() => server, { host: config.host, port: config.port }).pipe(
      Effect.mapError((error) =>
        new SimulatorStartError({
          reason: "Listen",
          description: `${config.host}:${config.port}: ${String((error.cause as Error | undefined)?.message ?? error)}`,
          cause: error
        })
      )
    )
    // Runs before the server's own finalizer: a stalled or slow stream must not keep close() waiting.
    yield* Effect.addFinalizer(() => Effect.sync(() => server.closeAllConnections()))

    const engine = makeEngine(config, counters, markServerClosed)
    const chat = OpenAiChat.format

    const delayed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      config.latencyMs > 0 ? Effect.delay(effect, Duration.millis(config.latencyMs)) : effect

    const generation = <X>(format: WireFormat<X>) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const req = NodeHttpServerRequest.toIncomingMessage(request)
        const res = NodeHttpServerRequest.toServerResponse(request)
        return Effect.flatMap(readBody(req), (body) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (body === undefined) {
              return Effect.succeed(engine.errorResponse(format, {
                _tag: "InvalidRequest",
                message: "The request body could not be read, or is larger than 32 MiB."
              }, {}))
            }
            const outcome = engine.generate(format, req.headers, body, now, res)
            return delayed(HttpServerResponse.isServerResponse(outcome) ? Effect.succeed(outcome) : outcome)
          }))
      })

    const modelsRoute = <X>(format: WireFormat<X>, byName: boolean) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        Effect.flatMap(Effect.all([Clock.currentTimeMillis, HttpRouter.params]), ([now, params]) =>
          delayed(Effect.succeed(
            engine.models(
              format,
              NodeHttpServerRequest.toIncomingMessage(request).headers,
              now,
              byName ? params.model : undefined
            )
          ))))

    const router = HttpRouter.empty.pipe(
      HttpRouter.post("/v1/chat/completions", generation(chat)),
      HttpRouter.get("/v1/models", modelsRoute(chat, false)),
      HttpRouter.get("/v1/models/:model", modelsRoute(chat, true))
    )
    const app = router.pipe(
      Effect.catchTag("RouteNotFound", (error) =>
        Effect.succeed(engine.errorResponse(chat, {
          _tag: "NotFound",
          method: error.request.method,
          path: error.request.url
        }, {})))
    )
    // A tracing span per request costs more than the simulator's own work, and
    // nobody traces a simulator.
    yield* httpServer.serve(app).pipe(Effect.locally(HttpMiddleware.currentTracerDisabledWhen, () => true))

    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : config.port
    const host = config.host.includes(":") ? `[${config.host}]` : config.host
    return Simulator.of({
      url: `http://${host}:${port}`,
      port,
      requestCount: Effect.sync(() => counters.requests),
      stats: Effect.sync(() => ({
        requests: counters.requests,
        inFlight: counters.inFlight,
        clientClosed: counters.clientClosed,
        connections: counters.connections,
        openConnections: counters.openConnections
      }))
    })
  })

/**
 * A simulator as a layer: started when the layer is built, closed with it.
 *
 * @since 0.1.0
 * @category Layers
 */
export const layer = (options: Options = {}): Layer.Layer<Simulator, SimulatorStartError> =>
  Layer.scoped(Simulator, make(options))
