/**
 * OpenAI's Batch API over Chat Completions (API reference, "Batch" and "Files"): a JSONL file of requests uploaded
 * with `purpose: batch`, a batch created over it, retrieved and cancelled by id, its lines answered in an output file
 * and an error file. Both ways: the client's bodies and readers, and what the simulator decodes and writes.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { BatchState, BatchStatus } from "../../../ProviderClient.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { ownValue } from "../../ownValue.js"
import type { BatchWire, RawOutcome } from "../../providers/batch.js"
import { resultLines, toJsonLines } from "../batch.js"
import { shapeReader } from "../shapeReader.js"

/** The endpoint every line of a batch is sent to, and the batch names. */
export const endpoint = "/v1/chat/completions"

/** The only completion window the API takes. */
export const completionWindow = "24h"

/** A line of the input file. */
export const InputLine = Schema.Struct({
  custom_id: Schema.String,
  method: Schema.Literal("POST"),
  url: Schema.String,
  body: Schema.Record(Schema.String, Schema.Unknown)
})

/** The body of `POST /batches`. */
export const CreateBody = Schema.Struct({
  input_file_id: Schema.String,
  endpoint: Schema.String,
  completion_window: Schema.String,
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})

const Counts = Schema.Struct({ total: Schema.Number, completed: Schema.Number, failed: Schema.Number })

/** The batch object, as far as a client reads it. */
export const BatchObject = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  request_counts: Schema.optionalKey(Counts),
  output_file_id: Schema.optionalKey(Schema.NullOr(Schema.String)),
  error_file_id: Schema.optionalKey(Schema.NullOr(Schema.String)),
  errors: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    data: Schema.optionalKey(Schema.Array(Schema.Struct({ message: Schema.optionalKey(Schema.String) })))
  })))
})

const decodeBatchObject = shapeReader(BatchObject, "a batch object")

/** The input file's line of a request's chat body, to `url` (the batch's endpoint). */
export function inputLine(customId: string, body: unknown, url: string = endpoint): JsonObject {
  return { custom_id: customId, method: "POST", url, body }
}

/** The multipart body of the upload of `jsonl` as a batch's input file, under `boundary`. */
export function uploadBody(boundary: string, jsonl: string): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="batch.jsonl"\r\n` +
    `Content-Type: application/jsonl\r\n\r\n${jsonl}\r\n--${boundary}--\r\n`
}

/** The body creating a batch of `url`'s requests over an uploaded file. */
export function createBody(fileId: string, url: string = endpoint): typeof CreateBody.Type {
  return { input_file_id: fileId, endpoint: url, completion_window: completionWindow }
}

/** An uploaded file's id; throws `ShapeError` when the body names none. */
export function fileIdOf(body: JsonObject): string {
  if (typeof body.id !== "string") throw new ShapeError("the uploaded file has no id")
  return body.id
}

const states: Readonly<Record<string, BatchState>> = {
  validating: "running",
  in_progress: "running",
  finalizing: "running",
  cancelling: "running",
  completed: "completed",
  expired: "expired",
  cancelled: "cancelled",
  failed: "refused"
}

/** The batch object read: its status and counts; throws `ShapeError` when it is not one. */
export function readBatch(body: JsonObject): BatchStatus & {
  readonly outputFileId: string | undefined
  readonly errorFileId: string | undefined
} {
  const batch = decodeBatchObject(body)
  const state = ownValue(states, batch.status)
  if (state === undefined) throw new ShapeError(`unknown batch status "${batch.status}"`)
  const counts = batch.request_counts ?? { total: 0, completed: 0, failed: 0 }
  const reasons = (batch.errors?.data ?? []).flatMap((error) => error.message === undefined ? [] : [error.message])
  return {
    id: batch.id,
    state,
    total: counts.total,
    succeeded: counts.completed,
    failed: counts.failed,
    ...(state === "refused" ? { detail: reasons.length > 0 ? reasons.join("; ") : "the batch failed" } : {}),
    outputFileId: batch.output_file_id ?? undefined,
    errorFileId: batch.error_file_id ?? undefined
  }
}

// The codes of an error file's lines for requests the batch never ran (Batch API guide, "Batch expiration").
function unfinished(code: unknown): "expired" | "cancelled" | undefined {
  return code === "batch_expired" ? "expired" : code === "batch_cancelled" ? "cancelled" : undefined
}

function outcomeOf(line: JsonObject): RawOutcome {
  const response = line.response
  if (isJsonObject(response)) {
    const status = typeof response.status_code === "number" ? response.status_code : undefined
    const body = response.body
    if (status !== undefined && status >= 200 && status < 300 && isJsonObject(body)) return { _tag: "Reply", body }
    return { _tag: "Failed", status, body }
  }
  const error = line.error
  return (isJsonObject(error) ? unfinished(error.code) : undefined) ??
    { _tag: "Failed", status: undefined, body: { error } }
}

// ---------------------------------------------------------------------------
// The simulator's side
// ---------------------------------------------------------------------------

/** What a simulated batch is, for its object. */
export interface BatchView {
  readonly id: string
  readonly inputFileId: string
  readonly state: BatchState
  readonly createdAt: number
  readonly expiresAt: number
  readonly total: number
  readonly succeeded: number
  readonly failed: number
  readonly outputFileId: string | undefined
  readonly errorFileId: string | undefined
  readonly refusal: string | undefined
}

const wireStatus: Readonly<Record<BatchState, string>> = {
  running: "in_progress",
  completed: "completed",
  expired: "expired",
  cancelled: "cancelled",
  refused: "failed"
}

/** The batch object of `view` (times in seconds, as the API writes them). */
export function batchObject(view: BatchView): JsonObject {
  const seconds = (millis: number) => Math.floor(millis / 1000)
  return {
    id: view.id,
    object: "batch",
    endpoint,
    errors: view.refusal === undefined
      ? null
      : { object: "list", data: [{ code: "invalid_request", message: view.refusal, param: null, line: null }] },
    input_file_id: view.inputFileId,
    completion_window: completionWindow,
    status: wireStatus[view.state],
    output_file_id: view.outputFileId ?? null,
    error_file_id: view.errorFileId ?? null,
    created_at: seconds(view.createdAt),
    expires_at: seconds(view.expiresAt),
    request_counts: { total: view.total, completed: view.succeeded, failed: view.failed },
    metadata: null
  }
}

/** A file object, as the upload answers and `GET /files/{id}` reads. */
export function fileObject(id: string, bytes: number, createdAt: number, filename: string, purpose: string) {
  return { id, object: "file", bytes, created_at: Math.floor(createdAt / 1000), filename, purpose }
}

/** An output file's line: a request's reply (or its error body) with its status. */
export function outputLine(id: string, customId: string, status: number, body: unknown, requestId: string) {
  return { id, custom_id: customId, response: { status_code: status, request_id: requestId, body }, error: null }
}

/** An error file's line for a request the batch never ran. */
export function unfinishedLine(id: string, customId: string, reason: "expired" | "cancelled") {
  return {
    id,
    custom_id: customId,
    response: null,
    error: reason === "expired"
      ? { code: "batch_expired", message: "This request could not be executed before the completion window expired." }
      : { code: "batch_cancelled", message: "This request was not executed because the batch was cancelled." }
  }
}

/** The file part of a multipart upload: its purpose and content, or why there is none. */
export function readUpload(
  contentType: string | undefined,
  body: string
): { readonly purpose: string; readonly filename: string; readonly content: string } | string {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType ?? "")
  if (boundary === null) return "the upload must be multipart/form-data"
  const fields = new Map<string, { readonly filename: string | undefined; readonly value: string }>()
  for (const part of body.split(`--${boundary[1] ?? boundary[2]}`)) {
    const split = part.indexOf("\r\n\r\n")
    if (split < 0) continue
    const head = part.slice(0, split)
    const name = /name="([^"]*)"/.exec(head)?.[1]
    if (name === undefined) continue
    const filename = /filename="([^"]*)"/.exec(head)?.[1]
    fields.set(name, { filename, value: part.slice(split + 4).replace(/\r\n$/, "") })
  }
  const purpose = fields.get("purpose")?.value
  const file = fields.get("file")
  if (purpose === undefined) return "the upload names no purpose"
  if (file === undefined) return "the upload holds no file"
  return { purpose, filename: file.filename ?? "file", content: file.value }
}

// ---------------------------------------------------------------------------
// The client's steps
// ---------------------------------------------------------------------------

/** A multipart boundary that `content` does not hold. */
function boundaryFor(content: string): string {
  let boundary = "effect-llm-router-batch"
  while (content.includes(boundary)) boundary += "-x"
  return boundary
}

function statusOf(body: JsonObject): BatchStatus {
  const { errorFileId: _error, outputFileId: _output, ...status } = readBatch(body)
  return status
}

/** Where a server's batch API is: each of its paths (`/files`, `/batches/{id}`...) as sent, and its chat endpoint. */
export interface Paths {
  readonly path: (path: string) => string
  readonly endpoint: string
}

/** The batch steps of a server with OpenAI's Batch API at `paths`. */
export function clientWireAt(paths: Paths): BatchWire {
  const { path } = paths
  return {
    submit: (http, _model, lines) => {
      const jsonl = toJsonLines(lines.map(({ body, customId }) => inputLine(customId, body, paths.endpoint)))
      const boundary = boundaryFor(jsonl)
      return Effect.flatMap(
        http.upload(path("/files"), boundary, uploadBody(boundary, jsonl), fileIdOf),
        (fileId) => http.json(path("/batches"), createBody(fileId, paths.endpoint), statusOf)
      )
    },
    retrieve: (http, _model, id) => http.json(path(`/batches/${encodeURIComponent(id)}`), undefined, statusOf),
    cancel: (http, _model, id) => http.json(path(`/batches/${encodeURIComponent(id)}/cancel`), {}, statusOf),
    results: (http, _model, status) =>
      Effect.flatMap(http.json(path(`/batches/${encodeURIComponent(status.id)}`), undefined, readBatch), (batch) => {
        // The output file's lines, then the error file's: each file's order is its own, not the input's.
        const files = [batch.outputFileId, batch.errorFileId].filter((id): id is string => id !== undefined)
        return Effect.map(
          Effect.forEach(files, (id) => http.text(path(`/files/${encodeURIComponent(id)}/content`))),
          // Joined by a newline, so a file's last line ends even where the file does not.
          (texts) => resultLines(texts.join("\n"), "custom_id", outcomeOf)
        )
      })
  }
}

/** OpenAI's batch steps, under a base URL that ends with the API's version (`/v1`). */
export const clientWire: BatchWire = clientWireAt({ path: (path) => path, endpoint })
