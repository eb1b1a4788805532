/**
 * What the gateway records of each request: its log line, the dashboard's live figures its log entry feeds, and its
 * metrics (below, `Metrics`).
 *
 * The gateway's request log (`Gateway.Options.logRequests`): one line per request, written when its answer
 * ends (a stream's when the stream does), through Effect's `Logger`, so the
 * application picks the format (`serve` prints JSON). A line names the
 * request (its id, the `x-request-id` it was answered with), the gateway key
 * by name, the model asked and the deployment that answered, the status,
 * latency and a stream's time to first token, tokens, cost, and the error's
 * tag and full message (what the client's answer leaves out); for a stream a
 * router moved to another deployment, the one that failed and whether that
 * was mid-stream (`restarted`, `continued`). It holds no key:
 * none of its fields is read from a header but the request's id, which is
 * taken only in a shape that holds nothing else (`intake.ts`), and the
 * library's messages mask keys.
 *
 * When its request ends the entry also feeds the dashboard's live figures (`LiveStats`, below), whether or not its
 * line is written, and, with a database, the request log's row (`observe/requestLog.ts`).
 *
 * The live figures are those the router's status does not keep. Per deployment: a bounded window of its recent
 * latencies and times to first token, and the cost of its replies so far, fed from each request's log entry when the
 * request ends; and the request and error rates, from the router's cumulative `requests` and `failures` sampled each
 * time the dashboard reads them. A finished request costs one map lookup and a write into a ring buffer; the windows
 * are sorted for their quantiles only when the dashboard asks.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { ChatResponse, Usage } from "../../../ChatResponse.js"
import type { GuardrailError } from "../../../Guardrail.js"
import type { LlmError } from "../../../LlmError.js"
import * as RateLimiter from "../../../RateLimiter.js"
import type * as Router from "../../../Router.js"
import type { Settle } from "../access/authentication.js"
import type { Caller } from "../access/caller.js"
import * as Intake from "../intake.js"

/**
 * What a request's row keeps of its payload when payloads are logged: the request's body, the reply's text (a
 * stream's since its last restart), and the key the request came with, masked in both.
 */
export interface Payload {
  request: string | undefined
  reply: string
  readonly key: Redacted.Redacted<string> | undefined
}

/** Where a request's row goes when it ends (made by `requestLog.ts` over the gateway's database). */
export interface RequestLog {
  /** Whether rows hold payloads: the entries then gather the request's body and the reply's text. */
  readonly logPayloads: boolean
  /** Queues the row of `entry`'s request, which ended at `now` (Clock millis); never waits. */
  readonly record: (entry: Entry, now: number) => void
}

/** One request's log line, filled in as the request goes. */
export interface Entry {
  readonly id: string
  /**
   * Whether its line is written (`Gateway.Options.logRequests`; a refusal before authentication's only within
   * `RefusalLines`' rate).
   */
  log: boolean
  /** Of the requests refused before authentication before this one, those whose lines were not written. */
  suppressed: number | undefined
  /** The live figures its outcome is recorded in when it ends. */
  readonly stats: LiveStats | undefined
  /** The request log its row is written to when it ends. */
  readonly requestLog: RequestLog | undefined
  /** What its row keeps of the request and reply, when the request log keeps payloads. */
  readonly payload: Payload | undefined
  readonly method: string
  readonly path: string
  /** Clock millis when the request came in. */
  readonly start: number
  caller: Caller | undefined
  model: string | undefined
  deployment: string | undefined
  status: number
  /** Millis from the request to a stream's first chunk. */
  firstToken: number | undefined
  usage: Usage | undefined
  cost: number | undefined
  /** What the provider's prompt cache saved the reply (`ChatResponse.cacheSavings`). */
  cacheSavings: number | undefined
  /** The error's tag (`RateLimitError`) or the gateway's refusal code (`invalid_api_key`). */
  error: string | undefined
  /** The failure's full message (deployments, upstream addresses, request ids), which the client is not shown. */
  errorMessage: string | undefined
  /**
   * A stream a router moved to another deployment: the deployment that failed (its error is `error`, the deployment
   * that took over `deployment`), and whether that happened after the stream's first chunk (`midStream`: it was
   * restarted or continued) or before (named by the `Start` chunk that opens the stream).
   */
  failedDeployment: string | undefined
  midStream: "restarted" | "continued" | undefined
  /** The types of a Responses request's hosted tools left out for its deployment (`responses/hosted.ts`). */
  omittedTools: ReadonlyArray<string> | undefined
  /** An MCP tool call's server, tool and arguments' digest (`mcp/endpoint.ts`); never its arguments. */
  toolCall: ToolCall | undefined
  /** Set by a stream, whose line is written when it ends rather than when its response starts. */
  streaming: boolean
  /** Charges the call's cost to the caller's budget (set when the call is admitted). */
  settle: Settle
}

/** What a request's entry keeps of the MCP tool call it made. */
export interface ToolCall {
  readonly server: string
  /** The tool's own name on its server. */
  readonly tool: string
  /** The SHA-256 (hex) of its arguments as JSON: equal arguments are told equal, never read. */
  readonly argumentsDigest: string
}

const settleNothing: Settle = () => Effect.void

/** Where a request's entry begins: its id, method, URL and start, and where its outcome goes. */
export interface Beginning {
  readonly id: string
  readonly method: string
  readonly url: string
  /** Clock millis. */
  readonly start: number
  readonly log: boolean
  readonly stats?: LiveStats | undefined
  readonly requestLog?: RequestLog | undefined
  /** The key the request came with: masked in its payload, when payloads are logged. */
  readonly key?: Redacted.Redacted<string> | undefined
}

/** The path of a request's URL, without its query. */
export function pathOf(url: string): string {
  const query = url.indexOf("?")
  return query < 0 ? url : url.slice(0, query)
}

export function begin({ id, key, log, method, requestLog, start, stats, url }: Beginning): Entry {
  return ({
    id,
    log,
    stats,
    requestLog,
    suppressed: undefined,
    payload: requestLog?.logPayloads === true ? { request: undefined, reply: "", key } : undefined,
    method,
    path: pathOf(url),
    start,
    caller: undefined,
    model: undefined,
    deployment: undefined,
    status: 0,
    firstToken: undefined,
    usage: undefined,
    cost: undefined,
    cacheSavings: undefined,
    error: undefined,
    errorMessage: undefined,
    failedDeployment: undefined,
    midStream: undefined,
    omittedTools: undefined,
    toolCall: undefined,
    streaming: false,
    settle: settleNothing
  })
}

/** A failure noted: its tag or refusal code (`error`), and its answer's full message (`ErrorAnswer.logged`). */
export function failed(
  entry: Entry,
  error: string | undefined,
  answer: { readonly logged?: string | undefined }
): void {
  entry.error = error
  entry.errorMessage = answer.logged
}

/** A whole reply's deployment, tokens and cost. */
export function answered(entry: Entry, response: ChatResponse): void {
  entry.deployment = `${response.provider}/${response.model}`
  entry.usage = response.usage
  entry.cost = response.cost
  entry.cacheSavings = response.cacheSavings
  if (entry.payload !== undefined) entry.payload.reply = response.text
}

/**
 * What a stream's batch says of its tokens (the last `Usage` since the last `Restart`), of the deployment that answers
 * (a router's `Start`: with the deployment that failed before its first chunk and its error, when one did), of a
 * restart or continuation (the error that broke the stream, the deployment that broke and the one that took over),
 * and at its end of the deployment and cost; true when the batch ends the stream (its `Finish`).
 */
export function streamed(entry: Entry, batch: ReadonlyArray<ChatChunk>): boolean {
  let finished = false
  for (const chunk of batch) {
    if (chunk._tag === "TextDelta") {
      if (entry.payload !== undefined) entry.payload.reply += chunk.text
    } else if (chunk._tag === "Usage") entry.usage = chunk.usage
    else if (chunk._tag === "Start") {
      entry.deployment = chunk.deployment
      if (chunk.from !== undefined) {
        entry.error = chunk.error
        entry.failedDeployment = chunk.from
      }
    } else if (chunk._tag === "Restart" || chunk._tag === "Continue") {
      if (chunk._tag === "Restart") {
        entry.usage = undefined
        if (entry.payload !== undefined) entry.payload.reply = ""
      }
      entry.error = chunk.error
      entry.deployment = chunk.deployment
      entry.failedDeployment = chunk.from
      entry.midStream = chunk._tag === "Restart" ? "restarted" : "continued"
    } else if (chunk._tag === "Finish") {
      entry.deployment = `${chunk.provider}/${chunk.model}`
      entry.cost = chunk.cost
      entry.cacheSavings = chunk.cacheSavings
      finished = true
    }
  }
  return finished
}

/** A stream's end (or its client's leaving): its cost charged, its line written. */
export function ended(entry: Entry, now: number): Effect.Effect<void> {
  return Effect.andThen(entry.settle(entry.cost), write(entry, now))
}

/** A request whose client went away before its answer: 499 (nginx's "client closed request"). */
export function gone(entry: Entry, now: number): Effect.Effect<void> {
  entry.status = 499
  entry.error = "ClientClosed"
  return write(entry, now)
}

/** The headers an answer to `entry` carries: its request id, and the hosted tools left out of it. */
export function answerHeaders(entry: Entry): Readonly<Record<string, string>> {
  return entry.omittedTools === undefined
    ? { "x-request-id": entry.id }
    : { "x-request-id": entry.id, "x-omitted-tools": entry.omittedTools.join(", ") }
}

/**
 * The request's end, `now` in Clock millis: its outcome recorded in the live figures and its row queued for the
 * request log, its line written.
 */
export function write(entry: Entry, now: number): Effect.Effect<void> {
  entry.stats?.record(entry.deployment, now - entry.start, entry.firstToken, entry.cost)
  entry.requestLog?.record(entry, now)
  return !entry.log ? Effect.void : line(entry, now)
}

function line(entry: Entry, now: number): Effect.Effect<void> {
  return Effect.logInfo("request").pipe(Effect.annotateLogs(fields(entry, now)))
}

/**
 * The fields of `entry`'s line, in the line's order, those it has no value for left out: assigned into one record
 * (the one `Effect.annotateLogs` reads), not spread from one small record a field.
 */
function fields(entry: Entry, now: number): Record<string, string | number> {
  const fields: Record<string, string | number> = {
    request_id: entry.id,
    method: entry.method,
    path: Intake.logged(entry.path)
  }
  if (entry.suppressed !== undefined && entry.suppressed > 0) fields.suppressed = entry.suppressed
  fields.status = entry.status
  fields.latency_ms = now - entry.start
  if (entry.caller !== undefined) {
    fields.key_id = entry.caller.id
    fields.key_name = entry.caller.name
  }
  if (entry.model !== undefined) fields.model = entry.model
  if (entry.deployment !== undefined) fields.deployment = entry.deployment
  if (entry.firstToken !== undefined) fields.first_token_ms = entry.firstToken
  const usage = entry.usage
  if (usage !== undefined) {
    fields.prompt_tokens = usage.promptTokens
    fields.completion_tokens = usage.completionTokens
    fields.total_tokens = usage.totalTokens
    fields.cached_tokens = usage.cachedPromptTokens
    if (usage.cacheWriteTokens !== undefined) fields.cache_write_tokens = usage.cacheWriteTokens
    if (usage.cacheWrite1hTokens !== undefined) fields.cache_write_1h_tokens = usage.cacheWrite1hTokens
    if (usage.serviceTier !== undefined) fields.service_tier = usage.serviceTier
  }
  if (entry.cost !== undefined) fields.cost = entry.cost
  if (entry.cacheSavings !== undefined) fields.cache_savings = entry.cacheSavings
  if (entry.error !== undefined) fields.error = entry.error
  if (entry.errorMessage !== undefined) fields.error_message = entry.errorMessage
  if (entry.failedDeployment !== undefined) fields.failed_deployment = entry.failedDeployment
  if (entry.midStream !== undefined) fields.mid_stream = entry.midStream
  if (entry.omittedTools !== undefined) fields.omitted_tools = entry.omittedTools.join(",")
  if (entry.toolCall !== undefined) {
    fields.mcp_server = entry.toolCall.server
    fields.mcp_tool = entry.toolCall.tool
    fields.arguments_digest = entry.toolCall.argumentsDigest
  }
  return fields
}

/**
 * The lines of the requests refused before they are authenticated (a wrong or missing key, a foreign `Host`), which
 * anyone who reaches the port can send: at most `refusalLinesPerSecond` a second, a burst of as many, through a
 * `RateLimiter`; the first line written after some were not says how many (`suppressed`). `refused_total` counts every
 * refusal.
 */
export interface RefusalLines {
  /** Whether a refusal's line is written now: the count of those not written since the last one, else undefined. */
  readonly take: Effect.Effect<number | undefined>
}

/** The most lines of requests refused before authentication written in a second. */
export const refusalLinesPerSecond = 10

/** The gateway's `RefusalLines`, for as long as the scope. */
export const refusalLines: Effect.Effect<RefusalLines, never, Scope.Scope> = Effect.map(
  // This process's lines: its own memory store.
  Effect.orDie(RateLimiter.make({ capacity: refusalLinesPerSecond, refillRate: refusalLinesPerSecond })).pipe(
    Effect.provide(RateLimiter.layerStoreMemory)
  ),
  (limiter) => {
    let suppressed = 0
    return {
      take: Effect.match(Effect.scoped(limiter.consume({ onExceeded: "fail" })), {
        onFailure: () => {
          suppressed++
          return undefined
        },
        onSuccess: () => {
          const before = suppressed
          suppressed = 0
          return before
        }
      })
    }
  }
)

/** A ring buffer of the last `capacity` numbers pushed. */
export class Window {
  private readonly values: Float64Array
  private next = 0
  private count = 0

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity)
  }

  push(value: number): void {
    this.values[this.next] = value
    this.next = this.next + 1 === this.capacity ? 0 : this.next + 1
    if (this.count < this.capacity) this.count++
  }

  /** How many numbers it holds: those pushed, up to `capacity`. */
  get size(): number {
    return this.count
  }

  /** The numbers it holds, ascending (a copy). */
  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort()
  }
}

/**
 * The `q` quantile (0 < q ≤ 1) of ascending `sorted` by nearest rank: the smallest value with at least `q` of the
 * values at or below it. `undefined` for no values.
 */
export function quantile(sorted: ArrayLike<number>, q: number): number | undefined {
  return sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
}

/** The median and 95th percentile of a window, in its unit; `null` while it is empty. */
export interface Quantiles {
  readonly p50: number
  readonly p95: number
}

export function quantiles(window: Window): Quantiles | null {
  if (window.size === 0) return null
  const sorted = window.sorted()
  return { p50: quantile(sorted, 0.5)!, p95: quantile(sorted, 0.95)! }
}

/** The figures of one deployment. */
export interface Recorded {
  /** Milliseconds from each request to the end of its answer (a stream's last event), the latest ones. */
  readonly latency: Window
  /** Milliseconds from each streamed request to its first chunk, the latest ones. */
  readonly firstToken: Window
  /** US dollars of its priced replies so far. */
  cost: number
}

/** The latencies and times to first token each deployment keeps: enough for a steady p95, little memory. */
export const windowSize = 512

/** A deployment as the router's status names it. */
export interface Named {
  readonly name: string
  readonly provider: string
  readonly model: string
}

/**
 * The deployment a reply came from, by the `provider/model` it reports: the deployment of that name, else the
 * provider's deployment whose model the reply's is a dated version of (`gpt-4o-mini-2024-07-18` of `gpt-4o-mini`),
 * the longest such model; `undefined` when none.
 */
export function resolve(deployments: ReadonlyArray<Named>, reported: string): string | undefined {
  let found: Named | undefined
  for (const deployment of deployments) {
    if (deployment.name === reported) return deployment.name
    const prefix = `${deployment.provider}/${deployment.model}-`
    if (reported.startsWith(prefix) && (found === undefined || deployment.model.length > found.model.length)) {
      found = deployment
    }
  }
  return found?.name
}

/** One reading of the router's cumulative counts, at a Clock time in milliseconds. */
interface Sample {
  readonly at: number
  readonly counts: ReadonlyMap<string, { readonly requests: number; readonly failures: number }>
}

/** A deployment's rates over the last `Rates.span` (or since the start, when that is shorter). */
export interface Rate {
  /** Attempts a second. */
  readonly requests: number
  /** The share of those attempts that failed, 0 to 1; `null` when there were none. */
  readonly errors: number | null
}

/**
 * Request and error rates from the router's cumulative counts: each reading is kept (at most one per `gap`),
 * the oldest dropped once a newer one is older than `span`, and a rate is the change since the oldest kept.
 */
export class Rates {
  private readonly samples: Array<Sample>

  constructor(start: number, readonly span = 10_000, readonly gap = 250) {
    this.samples = [{ at: start, counts: new Map() }]
  }

  /** The rates at `now` of `details` (the router's status), this reading kept. */
  read(details: Router.Status["details"], now: number): ReadonlyMap<string, Rate> {
    const counts = new Map<string, { readonly requests: number; readonly failures: number }>()
    for (const name in details) {
      counts.set(name, { requests: details[name]!.requests, failures: details[name]!.failures })
    }
    if (now - this.samples[this.samples.length - 1]!.at >= this.gap) this.samples.push({ at: now, counts })
    while (this.samples.length > 1 && this.samples[1]!.at <= now - this.span) this.samples.shift()
    const base = this.samples[0]!
    const seconds = (now - base.at) / 1000
    const rates = new Map<string, Rate>()
    for (const [name, current] of counts) {
      const before = base.counts.get(name) ?? { requests: 0, failures: 0 }
      // A probe the shared store refused is taken back from `requests`: the counts may step down.
      const requests = Math.max(0, current.requests - before.requests)
      const failures = Math.max(0, current.failures - before.failures)
      rates.set(name, {
        requests: seconds > 0 ? requests / seconds : 0,
        errors: requests === 0 ? null : Math.min(1, failures / requests)
      })
    }
    return rates
  }

  /** Readings kept: bounded by `span / gap` and one. */
  get size(): number {
    return this.samples.length
  }
}

/** The live figures of one gateway. */
export interface LiveStats {
  /**
   * A finished request: `deployment` (the `provider/model` its reply reported; nothing is recorded without one),
   * its latency and time to first token in milliseconds, and its cost.
   */
  readonly record: (
    deployment: string | undefined,
    latency: number,
    firstToken: number | undefined,
    cost: number | undefined
  ) => void
  /** The figures of the deployment named `name`, if any request of it was recorded. */
  readonly recorded: (name: string) => Recorded | undefined
  readonly rates: Rates
}

/** The live figures of `deployments` (the router's), from `start` (Clock milliseconds). */
export function makeLiveStats(deployments: ReadonlyArray<Named>, start: number): LiveStats {
  const byName = new Map<string, Recorded>()
  // Each reported `provider/model` resolved once.
  const resolved = new Map<string, Recorded>()
  for (const deployment of deployments) {
    byName.set(deployment.name, { latency: new Window(windowSize), firstToken: new Window(windowSize), cost: 0 })
  }
  function lookup(reported: string): Recorded | undefined {
    let found = resolved.get(reported)
    if (found === undefined) {
      const name = resolve(deployments, reported)
      if (name === undefined) return undefined
      found = byName.get(name)!
      resolved.set(reported, found)
    }
    return found
  }
  return {
    record: (deployment, latency, firstToken, cost) => {
      if (deployment === undefined) return
      const recorded = lookup(deployment)
      if (recorded === undefined) return
      recorded.latency.push(latency)
      if (firstToken !== undefined) recorded.firstToken.push(firstToken)
      if (cost !== undefined) recorded.cost += cost
    },
    recorded: (name) => byName.get(name),
    rates: new Rates(start)
  }
}

/** The `model` label of a request whose model the configuration does not have. */
const unknownModel = "(unknown)"

const durationBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const firstTokenBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const

// `map`'s value for `key`, made (with `arg`: no closure per call) and kept on first use.
function cached<K, V, A>(map: Map<K, V>, key: K, make: (key: K, arg: A) => V, arg: A): V {
  let value = map.get(key)
  if (value === undefined) {
    value = make(key, arg)
    map.set(key, value)
  }
  return value
}

// The metrics of one route and model, built on first use.
class Series {
  readonly statuses = new Map<number, Metric.Counter<number>>()
  readonly duration: Metric.Histogram<number>
  readonly firstToken: Metric.Histogram<number>
  readonly input: Metric.Counter<number>
  readonly output: Metric.Counter<number>
  readonly cacheRead: Metric.Counter<number>
  readonly cacheWrite: Metric.Counter<number>
  readonly cost: Metric.Counter<number>
  readonly cacheSavings: Metric.Gauge<number>
  readonly continued: Metric.Counter<number>

  constructor(readonly route: string, readonly model: string) {
    this.duration = Metric.histogram("llm_gateway_request_duration_seconds", {
      description: "Time from a request's arrival to the end of its answer (a stream's last event), in seconds.",
      attributes: { route, model },
      boundaries: durationBoundaries
    })
    this.firstToken = Metric.histogram("llm_gateway_time_to_first_token_seconds", {
      description: "Time from a streamed request's arrival to its first batch of chunks, in seconds.",
      attributes: { model },
      boundaries: firstTokenBoundaries
    })
    function tokens(direction: string) {
      return Metric.counter("llm_gateway_tokens_total", {
        description: "Tokens of the replies, by direction (input: the prompt, output: the completion).",
        attributes: { model, direction }
      })
    }
    this.input = tokens("input")
    this.output = tokens("output")
    function cacheTokens(operation: string) {
      return Metric.counter("llm_gateway_cache_tokens_total", {
        description: "Input tokens of the replies read from (read) or written to (write) the provider's prompt cache.",
        attributes: { model, operation }
      })
    }
    this.cacheRead = cacheTokens("read")
    this.cacheWrite = cacheTokens("write")
    this.cost = Metric.counter("llm_gateway_cost_usd_total", {
      description: "US dollars the replies cost, for the models with a known price.",
      attributes: { model }
    })
    // A gauge, not a counter: a write at a premium that no read has repaid yet makes it fall.
    this.cacheSavings = Metric.gauge("llm_gateway_cache_savings_usd", {
      description: "US dollars the provider's prompt cache saved the replies (what their prompts would have cost " +
        "uncached less what they cost), for the models with a known price; it falls by a cache write's premium.",
      attributes: { model }
    })
    this.continued = Metric.counter("llm_gateway_streams_continued_total", {
      description: "Streams answered whole after a deployment broke mid-way and another continued them.",
      attributes: { model }
    })
  }

  requests(status: number): Metric.Counter<number> {
    return cached(this.statuses, status, requestsCounter, this)
  }
}

function requestsCounter(status: number, series: Series) {
  return Metric.counter("llm_gateway_requests_total", {
    description: "Requests answered, by route, model asked for and status.",
    attributes: { route: series.route, model: series.model, status: String(status) }
  })
}

function errorsCounter(tag: string) {
  return Metric.counter("llm_gateway_errors_total", {
    description: "Failed calls, by the error's tag (StreamRestarted: a stream cut by a restart after text went out).",
    attributes: { tag }
  })
}

function refusedCounter(reason: string) {
  return Metric.counter("llm_gateway_refused_total", {
    description: "Requests refused before they were authenticated (a wrong or missing key, a foreign Host), by reason.",
    attributes: { reason }
  })
}

function mcpHeldCounter(server: string) {
  return Metric.counter("llm_gateway_mcp_tools_held_total", {
    description: "MCP tools held back (hidden) because their definition changed from the one pinned, by server.",
    attributes: { server }
  })
}

function newTools() {
  return new Map<string, ToolSeries>()
}
function newToolSeries(tool: string, server: string) {
  return new ToolSeries(server, tool)
}

function newModels() {
  return new Map<string, Series>()
}
function newSeries(model: string, route: string) {
  return new Series(route, model)
}

// The gateway's metrics, served as Prometheus text on `GET /metrics`. They
// are Effect's own (`effect/Metric`, formatted by
// `effect/observability/PrometheusMetrics`), kept in a registry of the
// gateway's own, so two gateways in one process do not add up, and whatever
// else the program records in Effect's default registry is not served.
//
// Per request: `requests_total{route,model,status}` and `request_duration_seconds{route,model}` when the answer is made
// (a stream's when it ends or its client leaves), `errors_total{tag}` for a failed call,
// `tokens_total{model,direction}`, `cache_tokens_total{model,operation}` (the prompt tokens read from and written to
// the provider's prompt cache, a part of the input), `cost_usd_total{model}` and the gauge `cache_savings_usd{model}`
// (what the prompt cache saved, net of write premiums) from the reply's usage,
// `time_to_first_token_seconds{model}` when a stream's first batch is ready; `request_log_dropped_total` for the
// request log's rows dropped (`observe/requestLog.ts`); `mcp_tools_held_total{server}` for the MCP tools held back
// since their definition changed (`mcp/pins.ts`); `refused_total{reason}` for the requests refused before they were
// authenticated, which get no row in the request log (`reason` is the refusal's code, a fixed set);
// `mcp_calls_total{server,tool,outcome}` and `mcp_call_duration_seconds{server,tool}` per MCP tool call. `model` is the
// name the request asked for, or `(unknown)` for a name the configuration does not have (or a body with none): the
// configuration bounds the label values. Each label set's metrics are built once and kept, so a request does a few map
// lookups and counter additions, no label building.
//
// The gauges (`responses_kept` and `responses_kept_bytes`, what the responses kept in memory hold;
// `in_flight{deployment}`, `key_in_flight{deployment,key}` with
// the masked key, `breaker_state{deployment}`, and for a bounded bucket
// `limiter_tokens` and `limiter_waiting{deployment}`) are the routers'
// status (every router's calls counted on their deployment, `engine.ts`):
// they are set from one read of it at each scrape, just before the
// text is formatted. Updating them on every change would cost every call for
// a value only a scrape reads, and a gauge registered with a `get` hook cannot
// run the status effect.

/** The metrics of one gateway. */
export interface Metrics {
  /**
   * The `Tally` of a request to `route` that arrived at `started` (Clock millis): the handler fills it in, and its
   * answer is counted by `answered`.
   */
  readonly tally: (route: string, started: number) => Tally
  /** `GET /metrics`: the routers' status read into the gauges, then every metric as Prometheus text. */
  readonly scrape: Effect.Effect<HttpServerResponse.HttpServerResponse>
  /** Rows of the request log dropped (its queue full, or its database failing). */
  readonly requestLogDropped: (count: number) => void
  /** A request refused before it was authenticated, by its refusal's code (`invalid_api_key`, `host_not_allowed`). */
  readonly refused: (reason: string) => void
  /** An MCP tool held back because its definition is not the one pinned (`mcp/pins.ts`), by its server. */
  readonly mcpToolHeld: (server: string) => void
  /** An MCP tool call's end: its server, its tool, its outcome (`ToolOutcome`) and how long it took, in seconds. */
  readonly toolCall: (server: string, tool: string, outcome: ToolOutcome, seconds: number) => void
  /** A failure outside a model call (an MCP tool call's guardrail block), by its tag, in `errors_total`. */
  readonly error: (tag: string) => void
}

/**
 * How an MCP tool call ended: `ok`, `tool_error` (the tool's result has `isError`), `failed` (its server failed the
 * call), `refused` (the caller's budget or rate limit), `blocked` (a guardrail, on its arguments or its result),
 * `cancelled` (its client cancelled it, or went away).
 */
export type ToolOutcome = "ok" | "tool_error" | "failed" | "refused" | "blocked" | "cancelled"

// The metrics of one MCP server's tool, built on first use.
class ToolSeries {
  readonly outcomes = new Map<ToolOutcome, Metric.Counter<number>>()
  readonly duration: Metric.Histogram<number>

  constructor(readonly server: string, readonly tool: string) {
    this.duration = Metric.histogram("llm_gateway_mcp_call_duration_seconds", {
      description:
        "Time an MCP tool call took at the gateway (its wait for limits and its server's answer), in seconds.",
      attributes: { server, tool },
      boundaries: durationBoundaries
    })
  }

  calls(outcome: ToolOutcome): Metric.Counter<number> {
    return cached(this.outcomes, outcome, toolCallsCounter, this)
  }
}

function toolCallsCounter(outcome: ToolOutcome, series: ToolSeries) {
  return Metric.counter("llm_gateway_mcp_calls_total", {
    description: "MCP tool calls, by server, tool and outcome (ok, tool_error, failed, refused, blocked, cancelled).",
    attributes: { server: series.server, tool: series.tool, outcome }
  })
}

/** What one request records; the handler names its model and reports what happened to the call. */
export class Tally {
  private series: Series
  private streaming = false
  private ended = false

  constructor(private readonly registry: Registry, private readonly route: string, private readonly started: number) {
    this.series = registry.series(route, unknownModel)
  }

  /** The request's model, a name the configuration has. */
  model(model: string): void {
    this.series = this.registry.series(this.route, model)
  }

  /** The answer is a stream whose first batch is ready: its duration is counted when it ends (`end`). */
  stream(): void {
    this.streaming = true
    this.series.firstToken.updateUnsafe(this.registry.seconds(this.started), this.registry.context)
  }

  /** The call failed with `error` (before the answer, or in a stream). */
  failed(error: LlmError | GuardrailError): void {
    this.registry.error(error._tag)
  }

  /** A reply's usage, cost and what the prompt cache saved it. */
  replied(usage: Usage, cost: number | undefined, cacheSavings: number | undefined): void {
    const context = this.registry.context
    this.series.input.updateUnsafe(usage.promptTokens, context)
    this.series.output.updateUnsafe(usage.completionTokens, context)
    if (usage.cachedPromptTokens > 0) this.series.cacheRead.updateUnsafe(usage.cachedPromptTokens, context)
    if (usage.cacheWriteTokens !== undefined && usage.cacheWriteTokens > 0) {
      this.series.cacheWrite.updateUnsafe(usage.cacheWriteTokens, context)
    }
    if (cost !== undefined) this.series.cost.updateUnsafe(cost, context)
    if (cacheSavings !== undefined) this.series.cacheSavings.modifyUnsafe(cacheSavings, context)
  }

  /** Embeddings' usage (input tokens only) and cost. */
  embedded(promptTokens: number, cost: number | undefined): void {
    this.series.input.updateUnsafe(promptTokens, this.registry.context)
    if (cost !== undefined) this.series.cost.updateUnsafe(cost, this.registry.context)
  }

  /** A stream's end (its `Finish`), with its usage (`undefined` when none came), cost and cache savings. */
  finished(usage: Usage | undefined, cost: number | undefined, cacheSavings: number | undefined): void {
    if (usage !== undefined) this.replied(usage, cost, cacheSavings)
    this.end()
  }

  /** A stream answered whole by a continuation from another deployment. */
  continued(): void {
    this.series.continued.updateUnsafe(1, this.registry.context)
  }

  /** A stream ends (its last event, an error event, a restart it could not hide, or its client leaving). */
  end(): void {
    if (this.ended) return
    this.ended = true
    this.series.duration.updateUnsafe(this.registry.seconds(this.started), this.registry.context)
  }

  /** A restart after part of a stream went out: the stream ends with an error event. */
  restarted(): void {
    this.registry.error("StreamRestarted")
    this.end()
  }

  /** A stream cut at shutdown (`tag` names it in `errors_total`): it ends with an error event. */
  cut(tag: string): void {
    this.registry.error(tag)
    this.end()
  }

  /** The answer: counted by status; timed, unless it is a stream that has started. */
  answered(response: HttpServerResponse.HttpServerResponse): HttpServerResponse.HttpServerResponse {
    this.series.requests(response.status).updateUnsafe(1, this.registry.context)
    if (!this.streaming) this.end()
    return response
  }
}

// The registry, the label sets built so far, and the clock.
class Registry {
  readonly context = Context.make(Metric.MetricRegistry, new Map())
  private readonly routes = new Map<string, Map<string, Series>>()
  private readonly errors = new Map<string, Metric.Counter<number>>()

  constructor(private readonly now: () => number) {}

  seconds(since: number): number {
    return (this.now() - since) / 1000
  }

  series(route: string, model: string): Series {
    return cached(cached(this.routes, route, newModels, undefined), model, newSeries, route)
  }

  error(tag: string): void {
    cached(this.errors, tag, errorsCounter, undefined).updateUnsafe(1, this.context)
  }
}

// The status gauges of one deployment.
interface DeploymentGauges {
  readonly inFlight: Metric.Gauge<number>
  readonly breaker: Metric.Gauge<number>
  readonly limiterTokens: Metric.Gauge<number>
  readonly limiterWaiting: Metric.Gauge<number>
  readonly keys: Map<string, Metric.Gauge<number>>
}

// A gauge of `name` for one label set.
function gauge(name: string, description: string) {
  return (attributes: Record<string, string>): Metric.Gauge<number> => Metric.gauge(name, { description, attributes })
}

const inFlightGauge = gauge("llm_gateway_in_flight", "Calls in flight through the router, by deployment.")
const breakerGauge = gauge("llm_gateway_breaker_state", "The deployment's breaker: 0 closed, 1 half-open, 2 open.")
const limiterTokensGauge = gauge(
  "llm_gateway_limiter_tokens",
  "Tokens in the deployment's request bucket, when it has a rate limiter."
)
const limiterWaitingGauge = gauge(
  "llm_gateway_limiter_waiting",
  "Calls waiting for the deployment's request bucket, when it has a rate limiter."
)
const keyGauge = gauge("llm_gateway_key_in_flight", "Calls in flight with a key, by deployment and masked key id.")

function keyGaugeOf(key: string, deployment: string) {
  return keyGauge({ deployment, key })
}

function deploymentGauges(deployment: string): DeploymentGauges {
  return {
    inFlight: inFlightGauge({ deployment }),
    breaker: breakerGauge({ deployment }),
    limiterTokens: limiterTokensGauge({ deployment }),
    limiterWaiting: limiterWaitingGauge({ deployment }),
    keys: new Map()
  }
}

const contentType = "text/plain; version=0.0.4; charset=utf-8"

const keptGauge = Metric.gauge("llm_gateway_responses_kept", {
  description: "Responses kept in memory for previous_response_id."
})
const keptBytesGauge = Metric.gauge("llm_gateway_responses_kept_bytes", {
  description: "Bytes of the responses kept in memory (their bodies and conversations), within responses_max_bytes."
})

/**
 * The metrics of a gateway over `status` (the router's), timed by `now` (Clock milliseconds), with what its responses
 * kept in memory hold, when it keeps them there.
 */
export function makeMetrics(
  status: Effect.Effect<Router.Status>,
  now: () => number,
  kept?: () => { readonly entries: number; readonly bytes: number }
): Metrics {
  const registry = new Registry(now)
  const { context } = registry
  const deployments = new Map<string, DeploymentGauges>()

  function read(current: Router.Status) {
    if (kept !== undefined) {
      const usage = kept()
      keptGauge.updateUnsafe(usage.entries, context)
      keptBytesGauge.updateUnsafe(usage.bytes, context)
    }
    for (const name in current.details) {
      const load = current.details[name]!
      const gauges = cached(deployments, name, deploymentGauges, undefined)
      gauges.inFlight.updateUnsafe(load.inFlight, context)
      gauges.breaker.updateUnsafe(breakerValue[load.cooldown.state], context)
      // An unbounded bucket (no rate limit configured) has nothing to report.
      if (load.rateLimit !== null && Number.isFinite(load.rateLimit.capacity)) {
        gauges.limiterTokens.updateUnsafe(load.rateLimit.available, context)
        gauges.limiterWaiting.updateUnsafe(load.rateLimit.waiting, context)
      }
      for (const key of load.keys) {
        cached(gauges.keys, key.key, keyGaugeOf, name).updateUnsafe(key.current, context)
      }
    }
    return HttpServerResponse.text(PrometheusMetrics.formatUnsafe(context), { contentType })
  }

  const dropped = Metric.counter("llm_gateway_request_log_dropped_total", {
    description: "Rows of the request log dropped: its queue was full, or its database failed to take them."
  })

  const refusals = new Map<string, Metric.Counter<number>>()
  const held = new Map<string, Metric.Counter<number>>()
  // By server, then tool: the configuration's tools bound the label values (a call of no tool is answered before).
  const tools = new Map<string, Map<string, ToolSeries>>()

  return {
    tally: (route, started) => new Tally(registry, route, started),
    scrape: Effect.map(status, read),
    requestLogDropped: (count) => dropped.updateUnsafe(count, context),
    refused: (reason) => cached(refusals, reason, refusedCounter, undefined).updateUnsafe(1, context),
    mcpToolHeld: (server) => cached(held, server, mcpHeldCounter, undefined).updateUnsafe(1, context),
    toolCall: (server, tool, outcome, seconds) => {
      const series = cached(cached(tools, server, newTools, undefined), tool, newToolSeries, server)
      series.calls(outcome).updateUnsafe(1, context)
      series.duration.updateUnsafe(seconds, context)
    },
    error: (tag) => registry.error(tag)
  }
}
