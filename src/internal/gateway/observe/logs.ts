/**
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
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { ChatResponse, Usage } from "../../../ChatResponse.js"
import type * as Router from "../../../Router.js"
import type { Caller, Settle } from "../keys/auth.js"
import type { RequestLog } from "./requestLog.js"

/**
 * What a request's row keeps of its payload when payloads are logged: the request's body, the reply's text (a
 * stream's since its last restart), and the key the request came with, masked in both.
 */
export interface Payload {
  request: string | undefined
  reply: string
  readonly key: Redacted.Redacted<string> | undefined
}

/** One request's log line, filled in as the request goes. */
export interface Entry {
  readonly id: string
  /** Whether its line is written (`Gateway.Options.logRequests`). */
  readonly log: boolean
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
  /** The error's tag (`RateLimitError`) or the gateway's refusal code (`invalid_api_key`). */
  error: string | undefined
  /** The failure's full message (deployments, upstream addresses, request ids), which the client is not shown. */
  errorMessage: string | undefined
  /**
   * A stream a router moved to another deployment: the deployment that failed (its error is `error`, the deployment
   * that took over `deployment`), and whether that happened after the stream's first chunk (`midStream`: it was
   * restarted or continued) or before (a `Continue` at its start).
   */
  failedDeployment: string | undefined
  midStream: "restarted" | "continued" | undefined
  /** The types of a Responses request's hosted tools left out for its deployment (`responses/hosted.ts`). */
  omittedTools: ReadonlyArray<string> | undefined
  /** Whether a batch of the stream was noted already. */
  started: boolean
  /** Set by a stream, whose line is written when it ends rather than when its response starts. */
  streaming: boolean
  /** Charges the call's cost to the caller's budget (set when the call is admitted). */
  settle: Settle
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
    error: undefined,
    errorMessage: undefined,
    failedDeployment: undefined,
    midStream: undefined,
    omittedTools: undefined,
    started: false,
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
export const answered = (entry: Entry, response: ChatResponse): void => {
  entry.deployment = `${response.provider}/${response.model}`
  entry.usage = response.usage
  entry.cost = response.cost
  if (entry.payload !== undefined) entry.payload.reply = response.text
}

/**
 * What a stream's batch says of its tokens (the last `Usage` since the last `Restart`), of a restart or continuation
 * (the error that broke the stream, the deployment that broke and the one that took over; a `Continue` at the
 * stream's start: its first deployments failed before their first chunk), and at its end of the deployment and cost;
 * true when the batch ends the stream (its `Finish`).
 */
export function streamed(entry: Entry, batch: ReadonlyArray<ChatChunk>): boolean {
  let finished = false
  for (let i = 0; i < batch.length; i++) {
    const chunk = batch[i]!
    if (chunk._tag === "TextDelta") {
      if (entry.payload !== undefined) entry.payload.reply += chunk.text
    } else if (chunk._tag === "Usage") entry.usage = chunk.usage
    else if (chunk._tag === "Restart" || chunk._tag === "Continue") {
      if (chunk._tag === "Restart") {
        entry.usage = undefined
        if (entry.payload !== undefined) entry.payload.reply = ""
      }
      entry.error = chunk.error
      entry.deployment = chunk.deployment
      entry.failedDeployment = chunk.from
      if (entry.started || i > 0) entry.midStream = chunk._tag === "Restart" ? "restarted" : "continued"
    } else if (chunk._tag === "Finish") {
      entry.deployment = `${chunk.provider}/${chunk.model}`
      entry.cost = chunk.cost
      finished = true
    }
  }
  entry.started = true
  return finished
}

/** A stream's end (or its client's leaving): its cost charged, its line written. */
export function ended(entry: Entry, now: number): Effect.Effect<void> {
  return Effect.andThen(entry.settle(entry.cost), write(entry, now))
}

/** A request whose client went away before its answer: 499 (nginx's "client closed request"). */
export const gone = (entry: Entry, now: number): Effect.Effect<void> => {
  entry.status = 499
  entry.error = "ClientClosed"
  return write(entry, now)
}

/**
 * The request's end, `now` in Clock millis: its outcome recorded in the live figures and its row queued for the
 * request log, its line written.
 */
/** The headers an answer to `entry` carries: its request id, and the hosted tools left out of it. */
export function answerHeaders(entry: Entry): Readonly<Record<string, string>> {
  return entry.omittedTools === undefined
    ? { "x-request-id": entry.id }
    : { "x-request-id": entry.id, "x-omitted-tools": entry.omittedTools.join(", ") }
}

export function write(entry: Entry, now: number): Effect.Effect<void> {
  entry.stats?.record(entry.deployment, now - entry.start, entry.firstToken, entry.cost)
  entry.requestLog?.record(entry, now)
  return !entry.log ? Effect.void : line(entry, now)
}

const line = (entry: Entry, now: number): Effect.Effect<void> =>
  Effect.logInfo("request").pipe(
    Effect.annotateLogs({
      request_id: entry.id,
      method: entry.method,
      path: entry.path,
      status: entry.status,
      latency_ms: now - entry.start,
      ...(entry.caller !== undefined ? { key_id: entry.caller.id, key_name: entry.caller.name } : {}),
      ...(entry.model !== undefined ? { model: entry.model } : {}),
      ...(entry.deployment !== undefined ? { deployment: entry.deployment } : {}),
      ...(entry.firstToken !== undefined ? { first_token_ms: entry.firstToken } : {}),
      ...(entry.usage !== undefined
        ? {
          prompt_tokens: entry.usage.promptTokens,
          completion_tokens: entry.usage.completionTokens,
          total_tokens: entry.usage.totalTokens,
          cached_tokens: entry.usage.cachedPromptTokens,
          ...(entry.usage.cacheWriteTokens !== undefined ? { cache_write_tokens: entry.usage.cacheWriteTokens } : {})
        }
        : {}),
      ...(entry.cost !== undefined ? { cost: entry.cost } : {}),
      ...(entry.error !== undefined ? { error: entry.error } : {}),
      ...(entry.errorMessage !== undefined ? { error_message: entry.errorMessage } : {}),
      ...(entry.failedDeployment !== undefined ? { failed_deployment: entry.failedDeployment } : {}),
      ...(entry.midStream !== undefined ? { mid_stream: entry.midStream } : {}),
      ...(entry.omittedTools !== undefined ? { omitted_tools: entry.omittedTools.join(",") } : {})
    })
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
export const quantile = (sorted: ArrayLike<number>, q: number): number | undefined =>
  sorted.length === 0 ? undefined : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]

/** The median and 95th percentile of a window, in its unit; `null` while it is empty. */
export interface Quantiles {
  readonly p50: number
  readonly p95: number
}

export const quantiles = (window: Window): Quantiles | null => {
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
export const resolve = (deployments: ReadonlyArray<Named>, reported: string): string | undefined => {
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
export const make = (deployments: ReadonlyArray<Named>, start: number): LiveStats => {
  const byName = new Map<string, Recorded>()
  // Each reported `provider/model` resolved once.
  const resolved = new Map<string, Recorded>()
  for (const deployment of deployments) {
    byName.set(deployment.name, { latency: new Window(windowSize), firstToken: new Window(windowSize), cost: 0 })
  }
  const lookup = (reported: string): Recorded | undefined => {
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
