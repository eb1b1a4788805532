/**
 * The Gemini API's batch mode (API reference, "Batch API"), both ways: the client's body and readers, and what the
 * simulator decodes and writes. The requests are inlined, each with its key in `metadata`; a long-running operation
 * (`batches/{id}`) answers, and an ended batch's output holds the responses in the order of its requests.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { BatchState, BatchStatus } from "../../../ProviderClient.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject, JsonObjectSchema } from "../../json.js"
import { ownValue } from "../../ownValue.js"
import type { BatchHttp, BatchWire, RawLine, RawOutcome } from "../../providers/batch.js"
import { shapeReader } from "../shapeReader.js"

/** The body of `models/{model}:batchGenerateContent`. */
export const CreateBody = Schema.Struct({
  batch: Schema.Struct({
    displayName: Schema.optionalKey(Schema.String),
    inputConfig: Schema.Struct({
      requests: Schema.Struct({
        requests: Schema.Array(Schema.Struct({
          request: Schema.Record(Schema.String, Schema.Unknown),
          metadata: Schema.optionalKey(Schema.Struct({ key: Schema.optionalKey(Schema.String) }))
        }))
      })
    })
  })
})

// int64 fields are written as strings in JSON (proto3's JSON mapping).
const Int64 = Schema.Union([Schema.Number, Schema.NumberFromString])

const Stats = Schema.Struct({
  requestCount: Schema.optionalKey(Int64),
  successfulRequestCount: Schema.optionalKey(Int64),
  failedRequestCount: Schema.optionalKey(Int64),
  pendingRequestCount: Schema.optionalKey(Int64)
})

/** The operation, as far as a client reads it; the simulator writes it (with the fields no client reads). */
export const Operation = Schema.Struct({
  name: Schema.String,
  metadata: Schema.optionalKey(Schema.Struct({
    "@type": Schema.optionalKey(Schema.String),
    model: Schema.optionalKey(Schema.String),
    displayName: Schema.optionalKey(Schema.String),
    createTime: Schema.optionalKey(Schema.String),
    state: Schema.optionalKey(Schema.String),
    batchStats: Schema.optionalKey(Stats),
    output: Schema.optionalKey(JsonObjectSchema)
  }))
})

const readOperationBody = shapeReader(Operation, "a batch operation")

/** The body creating a batch of `requests`' generateContent bodies. */
export function createBody(
  requests: ReadonlyArray<{ readonly customId: string; readonly body: unknown }>
): typeof CreateBody.Type {
  return {
    batch: {
      displayName: "effect-llm-router",
      inputConfig: {
        requests: {
          requests: requests.map(({ body, customId }) => ({
            request: body as Record<string, unknown>,
            metadata: { key: customId }
          }))
        }
      }
    }
  }
}

const states: Readonly<Record<string, BatchState>> = {
  BATCH_STATE_PENDING: "running",
  BATCH_STATE_RUNNING: "running",
  BATCH_STATE_SUCCEEDED: "completed",
  BATCH_STATE_FAILED: "refused",
  BATCH_STATE_CANCELLED: "cancelled",
  BATCH_STATE_EXPIRED: "expired"
}

/** The operation read: the batch's id (`batches/...`), state and counts; throws `ShapeError` when it is not one. */
export function readOperation(body: JsonObject): BatchStatus {
  const operation = readOperationBody(body)
  const stateName = operation.metadata?.state ?? "BATCH_STATE_PENDING"
  const state = ownValue(states, stateName)
  if (state === undefined) throw new ShapeError(`unknown batch state "${stateName}"`)
  const stats = operation.metadata?.batchStats ?? {}
  return {
    id: operation.name,
    state,
    total: stats.requestCount ?? 0,
    succeeded: stats.successfulRequestCount ?? 0,
    failed: stats.failedRequestCount ?? 0,
    ...(state === "refused" ? { detail: errorMessage(body.error) ?? "the batch failed" } : {})
  }
}

function errorMessage(error: unknown): string | undefined {
  return isJsonObject(error) && typeof error.message === "string" ? error.message : undefined
}

function inlined(container: unknown): ReadonlyArray<unknown> | undefined {
  if (!isJsonObject(container)) return undefined
  const holder = container.inlinedResponses
  if (!isJsonObject(holder)) return undefined
  return Array.isArray(holder.inlinedResponses) ? holder.inlinedResponses : undefined
}

function outcomeOf(entry: JsonObject): RawOutcome {
  if (isJsonObject(entry.response)) return { _tag: "Reply", body: entry.response }
  // A `google.rpc.Status`: its numeric code is the HTTP status the call would have had.
  const error = entry.error
  const status = isJsonObject(error) && typeof error.code === "number" ? error.code : undefined
  return { _tag: "Failed", status, body: { error } }
}

/** An ended batch's inlined responses, each with its key where the API returned it. */
export function readLines(body: JsonObject): ReadonlyArray<RawLine> {
  const metadata = isJsonObject(body.metadata) ? body.metadata : {}
  const entries = inlined(body.response) ?? inlined(metadata.output) ?? []
  return entries.flatMap((entry, position) => {
    if (!isJsonObject(entry)) return []
    const key = isJsonObject(entry.metadata) && typeof entry.metadata.key === "string" ? entry.metadata.key : undefined
    return [{ customId: key, position, outcome: outcomeOf(entry) }]
  })
}

// ---------------------------------------------------------------------------
// The simulator's side
// ---------------------------------------------------------------------------

/** An ended batch's response under its key, as its output inlines it: the reply, or the error's `google.rpc.Status`. */
export function inlinedResponse(key: string, outcome: Exclude<RawOutcome, string>): JsonObject {
  const metadata = { key }
  return outcome._tag === "Reply"
    ? { response: outcome.body, metadata }
    : {
      error: isJsonObject(outcome.body) && isJsonObject(outcome.body.error) ? outcome.body.error : outcome.body,
      metadata
    }
}

// ---------------------------------------------------------------------------
// The client's steps
// ---------------------------------------------------------------------------

/**
 * The Gemini API's batch steps: `resource` is a model's path before its method, `root` the API version's path a
 * batch's name (`batches/{id}`) is under.
 */
export function clientWire(resource: (model: string) => string, root: string): BatchWire {
  function retrieve(http: BatchHttp, id: string) {
    return http.json(`${root}/${id}`, undefined, readOperation)
  }
  return {
    submit: (http, model, lines) =>
      http.json(`${resource(model)}:batchGenerateContent`, createBody(lines), readOperation),
    retrieve: (http, _model, id) => retrieve(http, id),
    // Cancelling answers an empty body; the batch's state is read after it.
    cancel: (http, _model, id) =>
      Effect.andThen(http.json(`${root}/${id}:cancel`, {}, () => undefined), retrieve(http, id)),
    results: (http, _model, status) => http.json(`${root}/${status.id}`, undefined, readLines)
  }
}
