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
 * When its request ends the entry also feeds the dashboard's live figures
 * (`observe/liveStats.ts`), whether or not its line is written, and, with a database, the request log's row
 * (`observe/requestLog.ts`).
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { ChatChunk } from "../../../ChatChunk.js"
import type { ChatResponse, Usage } from "../../../ChatResponse.js"
import type { Caller, Settle } from "../keys/auth.js"
import type { LiveStats } from "./liveStats.js"
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
export const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  return query < 0 ? url : url.slice(0, query)
}

export const begin = ({ id, key, log, method, requestLog, start, stats, url }: Beginning): Entry => ({
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

/** A failure noted: its tag or refusal code (`error`), and its answer's full message (`ErrorAnswer.logged`). */
export const failed = (
  entry: Entry,
  error: string | undefined,
  answer: { readonly logged?: string | undefined }
): void => {
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
export const streamed = (entry: Entry, batch: ReadonlyArray<ChatChunk>): boolean => {
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
export const ended = (entry: Entry, now: number): Effect.Effect<void> =>
  Effect.andThen(entry.settle(entry.cost), write(entry, now))

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
export const answerHeaders = (entry: Entry): Readonly<Record<string, string>> =>
  entry.omittedTools === undefined
    ? { "x-request-id": entry.id }
    : { "x-request-id": entry.id, "x-omitted-tools": entry.omittedTools.join(", ") }

export const write = (entry: Entry, now: number): Effect.Effect<void> => {
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
