/**
 * Anthropic's Message Batches API (API reference, "Message Batches"), both ways: the client's body and readers, and
 * what the simulator decodes and writes. Each request's Messages body goes as `params` under its `custom_id`; an ended
 * batch's results are a JSONL file of `succeeded`, `errored`, `canceled` and `expired` lines.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { BatchStatus } from "../../../ProviderClient.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import type { BatchWire, RawLine, RawOutcome } from "../../providers/batch.js"
import { isoTime, resultLines } from "../batch.js"
import { shapeReader } from "../shapeReader.js"
import { statusOfError } from "./errors.js"

export const batchesPath = "/v1/messages/batches"

/** One request of `POST /v1/messages/batches`: a Messages body as `params`, under its custom id. */
export const BatchRequest = Schema.Struct({
  custom_id: Schema.String,
  params: Schema.Record(Schema.String, Schema.Unknown)
})

/** The body of `POST /v1/messages/batches`. */
export const CreateBody = Schema.Struct({ requests: Schema.Array(BatchRequest) })

const Counts = Schema.Struct({
  processing: Schema.Number,
  succeeded: Schema.Number,
  errored: Schema.Number,
  canceled: Schema.Number,
  expired: Schema.Number
})

/** The message batch object, as far as a client reads it. */
export const BatchObject = Schema.Struct({
  id: Schema.String,
  processing_status: Schema.Literals(["in_progress", "canceling", "ended"]),
  request_counts: Counts,
  cancel_initiated_at: Schema.optionalKey(Schema.NullOr(Schema.String))
})

const decodeBatchObject = shapeReader(BatchObject, "a message batch")

/** The body creating a batch of `requests`' Messages bodies. */
export function createBody(
  requests: ReadonlyArray<{ readonly customId: string; readonly body: unknown }>
): typeof CreateBody.Type {
  return {
    requests: requests.map(({ body, customId }) => ({ custom_id: customId, params: body as Record<string, unknown> }))
  }
}

/** The batch object read; throws `ShapeError` when it is not one. */
export function readBatch(body: JsonObject): BatchStatus {
  const batch = decodeBatchObject(body)
  const counts = batch.request_counts
  const failed = counts.errored + counts.canceled + counts.expired
  const total = counts.processing + counts.succeeded + failed
  // An ended batch is cancelled when it was asked to be and some line was cancelled, expired when a line expired.
  const state = batch.processing_status !== "ended"
    ? "running"
    : counts.expired > 0
    ? "expired"
    : counts.canceled > 0
    ? "cancelled"
    : "completed"
  return { id: batch.id, state, total, succeeded: counts.succeeded, failed }
}

function outcomeOf(result: unknown): RawOutcome {
  if (!isJsonObject(result)) return { _tag: "Failed", status: undefined, body: result }
  switch (result.type) {
    case "succeeded":
      return isJsonObject(result.message)
        ? { _tag: "Reply", body: result.message }
        : { _tag: "Failed", status: undefined, body: result }
    case "canceled":
      return "cancelled"
    case "expired":
      return "expired"
    default:
      // `errored`: the error body a call would have been answered with, `{ type: "error", error: {...} }`, without
      // its status, which its type names.
      return { _tag: "Failed", status: statusOfError(result.error), body: result.error }
  }
}

/** The lines of a results file. */
export function readLines(text: string): ReadonlyArray<RawLine> {
  return resultLines(text, "custom_id", (line) => outcomeOf(line.result))
}

// ---------------------------------------------------------------------------
// The simulator's side
// ---------------------------------------------------------------------------

/** What a simulated batch is, for its object. */
export interface BatchView {
  readonly id: string
  readonly ended: boolean
  readonly cancelling: boolean
  readonly createdAt: number
  readonly expiresAt: number
  readonly endedAt: number | undefined
  readonly processing: number
  readonly succeeded: number
  readonly errored: number
  readonly canceled: number
  readonly expired: number
  /** The absolute URL of its results, once ended. */
  readonly resultsUrl: string | undefined
}

/** The message batch object of `view`. */
export function batchObject(view: BatchView): JsonObject {
  return {
    id: view.id,
    type: "message_batch",
    processing_status: view.ended ? "ended" : view.cancelling ? "canceling" : "in_progress",
    request_counts: {
      processing: view.processing,
      succeeded: view.succeeded,
      errored: view.errored,
      canceled: view.canceled,
      expired: view.expired
    },
    ended_at: view.endedAt === undefined ? null : isoTime(view.endedAt),
    created_at: isoTime(view.createdAt),
    expires_at: isoTime(view.expiresAt),
    archived_at: null,
    cancel_initiated_at: view.cancelling ? isoTime(view.createdAt) : null,
    results_url: view.resultsUrl ?? null
  }
}

/** A results line: a reply (`succeeded`), an error body (`errored`), or a line the batch never ran. */
export function resultLine(customId: string, outcome: RawOutcome): JsonObject {
  const result = outcome === "expired"
    ? { type: "expired" }
    : outcome === "cancelled"
    ? { type: "canceled" }
    : outcome._tag === "Reply"
    ? { type: "succeeded", message: outcome.body }
    : { type: "errored", error: outcome.body }
  return { custom_id: customId, result }
}

// ---------------------------------------------------------------------------
// The client's steps
// ---------------------------------------------------------------------------

/** Anthropic's batch steps. */
export const clientWire: BatchWire = {
  submit: (http, _model, lines) => http.json(batchesPath, createBody(lines), readBatch),
  retrieve: (http, _model, id) => http.json(`${batchesPath}/${encodeURIComponent(id)}`, undefined, readBatch),
  cancel: (http, _model, id) => http.json(`${batchesPath}/${encodeURIComponent(id)}/cancel`, {}, readBatch),
  results: (http, _model, status) =>
    Effect.map(http.text(`${batchesPath}/${encodeURIComponent(status.id)}/results`), readLines)
}
