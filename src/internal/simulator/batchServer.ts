/**
 * What every dialect's simulated batch API is written over: a batch held in the simulator's process, each line answered
 * at creation as a call of it would be (the engine's `generate`, through the same gate, faults and knobs), its lines
 * run over the batch's time on the simulator's `Clock` (so a test's `TestClock` moves it, `viewOf`), and the steps each
 * route shares: the gate, a create's faults decoded, the ids, the clouds' objects and the answers.
 */
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as Http from "node:http"
import type { BatchState } from "../../ProviderClient.js"
import type { ApiError, WireFormat } from "../../simulator/WireFormat.js"
import { isJsonObject, parseJson } from "../json.js"
import type { RawOutcome } from "../providers/batch.js"
import { type BatchFault, batchFaultHeader, decodeBatchFault, noFault } from "./batchFault.js"
import type { Plan } from "./plan.js"
import type { RouteInput } from "./routes.js"

/** One line of a batch: its custom id and its answer, made when the batch was created. */
export interface Entry {
  readonly customId: string
  readonly outcome: RawOutcome
}

/** A batch held, with what its dialect made it with (`made`). */
export interface Held<Made> {
  readonly id: string
  readonly model: string
  readonly createdAt: number
  readonly fault: BatchFault
  readonly entries: ReadonlyArray<Entry>
  readonly made: Made
  /** When it was cancelled, if it was. */
  cancelledAt: number | undefined
  /** The output and error files' ids, once written (OpenAI; Bedrock's and Vertex AI's results object, its key). */
  files: { readonly output: string | undefined; readonly error: string | undefined } | undefined
}

/** Cancels a batch still running at `now` (one that has ended stays as it ended). */
export function cancel(batch: Held<unknown>, now: number): void {
  if (viewOf(batch, now).state === "running") batch.cancelledAt = now
}

/** When a batch stopped running, or `now` while it runs. */
export function stoppedAt(batch: Held<unknown>, now: number): number {
  return Math.min(now, batch.cancelledAt ?? Infinity, batch.createdAt + batch.fault.ms)
}

/** Where a batch is at `now`: its state, how many lines have run, and each line's outcome as it stands. */
export function viewOf(batch: Held<unknown>, now: number) {
  const total = batch.entries.length
  const end = batch.createdAt + batch.fault.ms
  const at = stoppedAt(batch, now)
  const share = batch.fault.ms === 0 ? 1 : (at - batch.createdAt) / batch.fault.ms
  const finished = now >= end || batch.cancelledAt !== undefined
  const state: BatchState = batch.fault.refuse
    ? "refused"
    : !finished
    ? "running"
    : batch.cancelledAt !== undefined && batch.cancelledAt < end
    ? "cancelled"
    : batch.fault.expire
    ? "expired"
    : "completed"
  const ran = state === "refused"
    ? 0
    : state === "expired"
    ? Math.floor(total / 2)
    : Math.min(total, Math.floor(total * share))
  const outcomes = batch.entries.map((entry, index): RawOutcome | undefined =>
    index < ran ? entry.outcome : state === "expired" ? "expired" : state === "cancelled" ? "cancelled" : undefined
  )
  return { state, ran, outcomes }
}

export type View = ReturnType<typeof viewOf>

/** The lines that ran, answered or failed, as the clouds' jobs count them: those never run are in neither count. */
export function ranCounts(view: View) {
  const succeeded = view.outcomes.filter((outcome) => typeof outcome === "object" && outcome._tag === "Reply").length
  return { succeeded, failed: view.outcomes.filter((outcome) => typeof outcome === "object").length - succeeded }
}

/** The lines answered and those failed, a line never run (expired, cancelled) among the failed. */
export function counts(view: View) {
  const { succeeded } = ranCounts(view)
  return { succeeded, failed: view.outcomes.filter((outcome) => outcome !== undefined).length - succeeded }
}

/** A line of a result file: its index in the batch and its outcome. */
export interface Written {
  readonly index: number
  readonly outcome: RawOutcome
}

/** The lines a result file holds: each line's, less the missing ones, the repeated ones twice. */
export function written(batch: Held<unknown>, view: View): ReadonlyArray<Written> {
  const out: Array<Written> = []
  for (const [index, outcome] of view.outcomes.entries()) {
    if (outcome === undefined || batch.fault.missing.has(index)) continue
    out.push({ index, outcome })
    if (batch.fault.repeat.has(index)) out.push({ index, outcome })
  }
  return out
}

/** What the batch routes need of the engine. */
export interface EngineParts {
  /** The gate every request passes (fault header, key, rate limit): a plan when it ends there, else its headers. */
  readonly gate: (format: Gate, headers: Http.IncomingHttpHeaders, now: number) => Plan | Record<string, string>
  /** An error answer in the format's words. */
  readonly error: (format: Gate, error: ApiError, out: Record<string, string>) => Plan
  /** A line answered as a call of it would be. */
  readonly generate: <X>(format: WireFormat<X>, input: RouteInput) => Plan
  /** The options' batch faults, for a batch created without the header. */
  readonly batchFault: BatchFault | undefined
}

/** What the gate and an error answer need of a wire format. */
export type Gate = Pick<WireFormat<never>, "apiKey" | "renderError" | "requestIdHeader" | "rateLimitHeaders">

export function json(out: Record<string, string>, value: unknown, status = 200): Plan {
  return {
    _tag: "Body",
    status,
    headers: { ...out, "content-type": "application/json" },
    body: JSON.stringify(value),
    delayMs: 0
  }
}

/** A JSON Lines answer: a file's content. */
export function text(out: Record<string, string>, body: string): Plan {
  return { _tag: "Body", status: 200, headers: { ...out, "content-type": "application/jsonl" }, body, delayMs: 0 }
}

export function empty(out: Record<string, string>): Plan {
  return { _tag: "Body", status: 200, headers: out, body: "", delayMs: 0 }
}

/** A body's JSON, or `undefined` when it is none. */
export function parsed(body: string | undefined): unknown {
  return body === undefined ? undefined : Option.getOrUndefined(parseJson(body))
}

/** A line's answer from the plan of its call: a reply's body, or an error's status and body. */
function outcomeOf(plan: Plan): RawOutcome {
  if (plan._tag !== "Body") {
    return { _tag: "Failed", status: 500, body: { error: { message: "the line's call failed" } } }
  }
  const body = parsed(plan.body)
  return plan.status >= 200 && plan.status < 300 && isJsonObject(body)
    ? { _tag: "Reply", body }
    : { _tag: "Failed", status: plan.status, body }
}

/** A line of a batch to answer: its custom id, its request's body, and the path's parameters of its call. */
export interface Line {
  readonly customId: string
  readonly body: unknown
  readonly params?: RouteInput["params"]
  /** Its answer, when it fails before its call (the call is still made). */
  readonly outcome?: RawOutcome | undefined
}

/** The batch server of one engine: the steps every dialect's batch routes share. */
export function makeBatchServer(engine: EngineParts) {
  let nextId = 1

  /** A 400 naming what is wrong with the request. */
  function invalid(format: Gate, message: string, out: Record<string, string>): Plan {
    return engine.error(format, { _tag: "InvalidRequest", message }, out)
  }

  function faultOf(input: RouteInput): Result.Result<BatchFault, string> {
    const header = input.headers[batchFaultHeader]
    return typeof header === "string" ? decodeBatchFault(header) : Result.succeed(engine.batchFault ?? noFault)
  }

  /** The gate, then `then` with the answer's headers. */
  function gated(format: Gate, input: RouteInput, then: (out: Record<string, string>) => Plan): Plan {
    const gate = engine.gate(format, input.headers, input.now)
    return "_tag" in gate && typeof gate._tag === "string" ? gate as Plan : then(gate as Record<string, string>)
  }

  /** A 404 of the request's path. */
  function notFound(format: Gate, input: RouteInput, out: Record<string, string>): Plan {
    return engine.error(format, { _tag: "NotFound", method: "GET", path: input.url }, out)
  }

  return {
    /** The next of the ids every batch, job and file is named with. */
    nextId: () => nextId++,
    /** The cloud objects the jobs read and write (S3's, Cloud Storage's), by `bucket/key`. */
    objects: new Map<string, string>(),
    gated,
    invalid,
    /** A create, with its batch's faults decoded. */
    creating: (format: Gate, input: RouteInput, then: (out: Record<string, string>, fault: BatchFault) => Plan) =>
      gated(format, input, (out) => {
        const fault = faultOf(input)
        return Result.isFailure(fault)
          ? invalid(format, `Invalid ${batchFaultHeader} header: ${fault.failure}.`, out)
          : then(out, fault.success)
      }),
    notFound,
    /** The gate, then `then` with `found` (the batch or object named) and the answer's headers; else a 404. */
    found: <A>(
      format: Gate,
      input: RouteInput,
      found: A | undefined,
      then: (found: A, out: Record<string, string>) => Plan
    ) => gated(format, input, (out) => found === undefined ? notFound(format, input, out) : then(found, out)),
    /**
     * A batch created in `batches` as its create made it, not cancelled, its files not written: each line answered as
     * its call, with the request's headers (its key, its knobs), a failing line with a 500.
     */
    hold: <X, Made>(
      batches: Map<string, Held<Made>>,
      format: WireFormat<X>,
      input: RouteInput,
      fault: BatchFault,
      { id, lines, made, model }: {
        readonly id: string
        readonly model: string
        readonly lines: ReadonlyArray<Line>
        readonly made: Made
      }
    ): Held<Made> => {
      const { [batchFaultHeader]: _fault, ...headers } = input.headers
      const entries = lines.map(({ body, customId, outcome, params }, index) => {
        const lineHeaders = fault.fail.has(index) ? { ...headers, "x-simulator-fault": "status=500" } : headers
        const plan = engine.generate(format, {
          ...input,
          headers: lineHeaders,
          body: JSON.stringify(body),
          params: params ?? input.params
        })
        return { customId, outcome: outcome ?? outcomeOf(plan) }
      })
      const batch = { id, model, createdAt: input.now, fault, entries, made, cancelledAt: undefined, files: undefined }
      batches.set(id, batch)
      return batch
    }
  }
}

export type BatchServer = ReturnType<typeof makeBatchServer>
