/**
 * A request's record: what its line, its request log row and the dashboard's live figures say of it, made once from its
 * context when it ends (a stream's when the stream does) and handed to each (`Journal`). Its line is written only with
 * `Gateway.Options.logRequests`. A request refused before it was authenticated gets no row (anyone who reaches the port
 * could fill the database with them), only a line within `RefusalLines`' rate.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type { Caller } from "../access/caller.js"
import type * as Request from "../request/context.js"
import type { Outcome, Payload } from "../request/outcome.js"
import { line } from "./line.js"
import type { LiveStats } from "./liveStats.js"
import type { RequestLog } from "./requestLog.js"

/**
 * What a request's line, row and live figures say of it, as it ended: what its answer did (its `Outcome`, each field
 * as the outcome declares it) and the request's own facts.
 */
export interface RequestRecord extends Outcome {
  readonly id: string
  readonly method: string
  readonly path: string
  /** Clock millis when the request came in, and when it ended. */
  readonly start: number
  readonly end: number
  /** `end - start`. */
  readonly latency: number
  /** Of the requests refused before authentication before this one, those whose lines were not written. */
  readonly suppressed: number | undefined
  readonly caller: Caller | undefined
  readonly model: string | undefined
  readonly omittedTools: ReadonlyArray<string> | undefined
  readonly toolCall: Request.ToolCall | undefined
  readonly payload: Payload | undefined
}

/** The record of the request of `context`, ended at `now` (Clock millis): its outcome as it stands then, copied. */
export function recordOf(context: Request.Service, now: number, suppressed?: number): RequestRecord {
  return {
    ...context.outcome,
    id: context.id,
    method: context.method,
    path: context.path,
    start: context.start,
    end: now,
    latency: now - context.start,
    suppressed,
    caller: context.caller,
    model: context.model.get(),
    omittedTools: context.omittedTools.get(),
    toolCall: context.toolCall.get(),
    payload: context.payload
  }
}

/** Where each request's record goes when it ends. */
export interface Service {
  /** Whether the request log keeps payloads: a request's context then gathers its body and its reply's text. */
  readonly logPayloads: boolean
  /**
   * The request's end at `now`: its record fed to live figures and its row queued; what writes its line, none when
   * requests are not logged.
   */
  readonly written: (context: Request.Service, now: number) => Effect.Effect<void> | undefined
  /**
   * A request refused before it was authenticated: no row; its line when `suppressed` says one is written (the
   * count of refusals' lines not written before it), none when it is undefined.
   */
  readonly refused: (context: Request.Service, now: number, suppressed: number | undefined) => Effect.Effect<void>
}

/** Where each request's record goes, for one configuration served. */
export class Journal extends Context.Service<Journal, Service>()("effect-llm-router/gateway/observe/Journal") {}

/** Where the records go: the live figures, the request log, and lines when `logRequests`. */
export interface Destinations {
  readonly stats: LiveStats
  readonly requestLog: RequestLog
  readonly logRequests: boolean
}

/** The journal of `destinations`. */
export function make({ logRequests, requestLog, stats }: Destinations): Service {
  function written(context: Request.Service, now: number): Effect.Effect<void> | undefined {
    const record = recordOf(context, now)
    stats.record(record.deployment, record.latency, record.firstToken, record.cost)
    requestLog.record(record)
    return logRequests ? line(record) : undefined
  }
  return Journal.of({
    logPayloads: requestLog.logPayloads,
    written,
    refused: (context, now, suppressed) =>
      suppressed === undefined ? Effect.void : line(recordOf(context, now, suppressed))
  })
}
