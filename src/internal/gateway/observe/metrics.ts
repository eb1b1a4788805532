/**
 * The gateway's metrics, served as Prometheus text on `GET /metrics`: per request its `Tally`, per MCP tool call its
 * outcome and time, per batch its making, its end and its result's lines as they are settled, and the routers' status
 * read into gauges at each scrape.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Metric from "effect/Metric"
import * as PrometheusMetrics from "effect/observability/PrometheusMetrics"
import type { Usage } from "../../../ChatResponse.js"
import type { GuardrailError } from "../../../Guardrail.js"
import type { LlmError } from "../../../LlmError.js"
import type { BatchState } from "../../../ProviderClient.js"
import type * as Router from "../../../Router.js"
import { keptIn } from "../../keptIn.js"

/** The `model` label of a request whose model the configuration does not have. */
const unknownModel = "(unknown)"

const durationBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
const firstTokenBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const breakerValue = { closed: 0, "half-open": 1, open: 2 } as const

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
    return keptIn(this.statuses, status, requestsCounter, this)
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

function newMap() {
  return new Map()
}
function newToolSeries(tool: string, server: string) {
  return new ToolSeries(server, tool)
}

function newSeries(model: string, route: string) {
  return new Series(route, model)
}

// The gateway's metrics (listed in docs/gateway.md) are Effect's own (`effect/Metric`, formatted by
// `effect/observability/PrometheusMetrics`), kept in a registry of the gateway's own, so two gateways in one process do
// not add up and what else the program records in Effect's default registry is not served. `model` is the name the
// request asked for, or `(unknown)`, so the configuration bounds the label values; each label set's metrics are built
// once and kept, so a request builds no labels. A batch's figures are counted by the instance whose settling recorded
// them, so every instance's figures added up count each batch and line once (`batches/settlement.ts`).
//
// The gauges are the routers' status (every router's calls counted on their deployment, `engine.ts`), set from one read
// of it at each scrape: updating them on every change would cost every call for a value only a scrape reads, and a
// gauge registered with a `get` hook cannot run the status effect.

export interface Metrics {
  /** The `Tally` of a request to `route` that came at `started`: its handler fills it in; `answered` counts it. */
  readonly tally: (route: string, started: number) => Tally
  /** `GET /metrics`: the routers' status read into the gauges, then every metric as Prometheus text. */
  readonly scrape: Effect.Effect<HttpServerResponse.HttpServerResponse>
  /** Rows of the request log dropped (its queue full, or its database failing). */
  readonly requestLogDropped: (count: number) => void
  /** An admin action done whose row the audit log's database did not take (`audit/record.ts`). */
  readonly auditUnrecorded: () => void
  /** A request refused before it was authenticated, by its refusal's code (`invalid_api_key`, `host_not_allowed`). */
  readonly refused: (reason: string) => void
  /** An MCP tool held back because its definition is not the one pinned (`mcp/pins.ts`), by its server. */
  readonly mcpToolHeld: (server: string) => void
  /** An MCP tool call's end: its server, its tool, its outcome (`ToolOutcome`) and how long it took, in seconds. */
  readonly toolCall: (server: string, tool: string, outcome: ToolOutcome, seconds: number) => void
  /** A failure outside a model call (an MCP tool call's guardrail block), by its tag, in `errors_total`. */
  readonly error: (tag: string) => void
  /** A batch its provider took, on `deployment`. */
  readonly batchCreated: (deployment: BatchDeploymentOf) => void
  /** A line of a batch on `deployment` recorded settled, how it ended, and for a line answered what it billed. */
  readonly batchLine: (
    deployment: BatchDeploymentOf,
    outcome: BatchLineOutcome,
    billed?: { readonly usage: Usage; readonly cost: number }
  ) => void
  /** A batch on `deployment` recorded settled, as its provider ended it. */
  readonly batchEnded: (deployment: BatchDeploymentOf, state: BatchState) => void
}

/** What the batch metrics' labels name of a batch's deployment: its provider and the model its calls name. */
export interface BatchDeploymentOf {
  readonly provider: string
  readonly model: string
}

/**
 * How a line of a batch's result ended: `answered` (billed), `failed` (its request's error), `expired` or `cancelled`
 * (the batch ended before it ran).
 */
export type BatchLineOutcome = "answered" | "failed" | "expired" | "cancelled"

// The metrics of one provider's model's batches, built on first use.
class BatchSeries {
  readonly lines = new Map<BatchLineOutcome, Metric.Counter<number>>()
  readonly ends = new Map<BatchState, Metric.Counter<number>>()
  readonly created: Metric.Counter<number>
  readonly input: Metric.Counter<number>
  readonly output: Metric.Counter<number>
  readonly cost: Metric.Counter<number>

  constructor(readonly provider: string, readonly model: string) {
    this.created = Metric.counter("llm_gateway_batches_created_total", {
      description: "Batches made through the gateway that their provider took, by provider and model.",
      attributes: { provider, model }
    })
    function tokens(direction: string) {
      return Metric.counter("llm_gateway_batch_tokens_total", {
        description: "Tokens of the batches' lines answered, counted once each as settled, by direction.",
        attributes: { provider, model, direction }
      })
    }
    this.input = tokens("input")
    this.output = tokens("output")
    this.cost = Metric.counter("llm_gateway_batch_cost_usd_total", {
      description: "US dollars the batches' lines answered cost at the batch price, counted once each as settled.",
      attributes: { provider, model }
    })
  }

  line(outcome: BatchLineOutcome): Metric.Counter<number> {
    return keptIn(this.lines, outcome, batchLinesCounter, this)
  }

  ended(state: BatchState): Metric.Counter<number> {
    return keptIn(this.ends, state, batchesEndedCounter, this)
  }
}

function batchLinesCounter(outcome: BatchLineOutcome, series: BatchSeries) {
  return Metric.counter("llm_gateway_batch_lines_total", {
    description: "Lines of the batches' results, counted once each as settled, by outcome (answered, failed, " +
      "expired, cancelled).",
    attributes: { provider: series.provider, model: series.model, outcome }
  })
}

function batchesEndedCounter(state: BatchState, series: BatchSeries) {
  return Metric.counter("llm_gateway_batches_ended_total", {
    description: "Batches settled, once each, by the status their provider ended them with (completed, expired, " +
      "cancelled, refused).",
    attributes: { provider: series.provider, model: series.model, status: state }
  })
}

function newBatchSeries(model: string, provider: string) {
  return new BatchSeries(provider, model)
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
    return keptIn(this.outcomes, outcome, toolCallsCounter, this)
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
    return keptIn(keptIn(this.routes, route, newMap), model, newSeries, route)
  }

  error(tag: string): void {
    keptIn(this.errors, tag, errorsCounter).updateUnsafe(1, this.context)
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
      const gauges = keptIn(deployments, name, deploymentGauges)
      gauges.inFlight.updateUnsafe(load.inFlight, context)
      gauges.breaker.updateUnsafe(breakerValue[load.cooldown.state], context)
      // An unbounded bucket (no rate limit configured) has nothing to report.
      if (load.rateLimit !== null && Number.isFinite(load.rateLimit.capacity)) {
        gauges.limiterTokens.updateUnsafe(load.rateLimit.available, context)
        gauges.limiterWaiting.updateUnsafe(load.rateLimit.waiting, context)
      }
      for (const key of load.keys) {
        keptIn(gauges.keys, key.key, keyGaugeOf, name).updateUnsafe(key.current, context)
      }
    }
    return HttpServerResponse.text(PrometheusMetrics.formatUnsafe(context), { contentType })
  }

  const dropped = Metric.counter("llm_gateway_request_log_dropped_total", {
    description: "Rows of the request log dropped: its queue was full, or its database failed to take them."
  })
  const unrecorded = Metric.counter("llm_gateway_audit_unrecorded_total", {
    description: "Admin actions done that the audit log's database failed to record (each also logged as an error)."
  })

  const refusals = new Map<string, Metric.Counter<number>>()
  const held = new Map<string, Metric.Counter<number>>()
  // By server, then tool: the configuration's tools bound the label values (a call of no tool is answered before).
  const tools = new Map<string, Map<string, ToolSeries>>()
  // By provider, then model: the configuration's deployments bound the label values.
  const batches = new Map<string, Map<string, BatchSeries>>()
  function batchSeries({ model, provider }: BatchDeploymentOf): BatchSeries {
    return keptIn(keptIn(batches, provider, newMap), model, newBatchSeries, provider)
  }

  return {
    tally: (route, started) => new Tally(registry, route, started),
    scrape: Effect.map(status, read),
    requestLogDropped: (count) => dropped.updateUnsafe(count, context),
    auditUnrecorded: () => unrecorded.updateUnsafe(1, context),
    refused: (reason) => keptIn(refusals, reason, refusedCounter).updateUnsafe(1, context),
    mcpToolHeld: (server) => keptIn(held, server, mcpHeldCounter).updateUnsafe(1, context),
    toolCall: (server, tool, outcome, seconds) => {
      const series = keptIn(keptIn(tools, server, newMap), tool, newToolSeries, server)
      series.calls(outcome).updateUnsafe(1, context)
      series.duration.updateUnsafe(seconds, context)
    },
    error: (tag) => registry.error(tag),
    batchCreated: (deployment) => batchSeries(deployment).created.updateUnsafe(1, context),
    batchLine: (deployment, outcome, billed) => {
      const series = batchSeries(deployment)
      series.line(outcome).updateUnsafe(1, context)
      if (billed === undefined) return
      series.input.updateUnsafe(billed.usage.promptTokens, context)
      series.output.updateUnsafe(billed.usage.completionTokens, context)
      series.cost.updateUnsafe(billed.cost, context)
    },
    batchEnded: (deployment, state) => batchSeries(deployment).ended(state).updateUnsafe(1, context)
  }
}
