/**
 * Vertex AI's batch prediction for Gemini (Vertex AI REST reference: `projects.locations.batchPredictionJobs`; "Batch
 * prediction from Cloud Storage"), both ways: the client's steps and readers, and what the simulator decodes and
 * writes. The requests go as one JSONL file on Cloud Storage; the results come back as `predictions.jsonl` in the
 * folder the job names. The results carry no custom id and need not keep the input's order, so each request carries its
 * line's custom id in its `labels`, which the results echo (`labelsOf`, `customIdOf`).
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { InvalidRequestError } from "../../../LlmError.js"
import type { BatchState, BatchStatus } from "../../../ProviderClient.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { type BatchEndpoint, type BatchHttp, type BatchWire, resultsFile } from "../../providers/batch.js"
import type { RawLine, RawOutcome } from "../../providers/batch.js"
import { type BucketLocation, BucketUris, isoTime, jobName, jsonLines, keyUnder, toJsonLines } from "../batch.js"
import { shapeReader } from "../shapeReader.js"

/**
 * Cloud Storage's URIs, `gs://bucket/name`; a bucket's name is 3 to 222 lowercase letters, digits, dots, `-` and `_`, a
 * letter or digit at each end (Cloud Storage documentation, "Bucket naming").
 */
export const gcsUris = new BucketUris("gs", "Cloud Storage", "[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")

/** The JSON API's path uploading an object's bytes whole (`uploadType=media`). */
export function uploadPath(location: BucketLocation): string {
  return `/upload/storage/v1/b/${location.bucket}/o?uploadType=media&name=${encodeURIComponent(location.key)}`
}

/** The JSON API's path of an object's bytes (`alt=media`), its name one encoded segment. */
export function mediaPath(location: BucketLocation): string {
  return `/storage/v1/b/${location.bucket}/o/${encodeURIComponent(location.key)}?alt=media`
}

/** The file a job writes its results to, in its output folder. */
export const predictionsFile = "predictions.jsonl"

// ---------------------------------------------------------------------------
// Custom ids as labels
// ---------------------------------------------------------------------------

/**
 * The keys of the labels that carry a line's custom id, in order. A label's value is at most 63 lowercase letters,
 * digits, `_` and `-` (Vertex AI, "Add labels to API calls"); an encoded custom id (at most 128 characters) takes up
 * to three.
 */
export const customIdLabels = ["llm_router_line", "llm_router_line_1", "llm_router_line_2"] as const

/** The most characters a label's value holds. */
export const labelValueLength = 63

/**
 * A custom id (letters, digits, `_` and `-`) in the characters a label's value takes, reversibly: a lowercase letter,
 * digit or `-` as itself, `_` as `__`, an uppercase letter as `_` and its lowercase.
 */
export function encodeCustomId(customId: string): string {
  return customId.replace(/[A-Z_]/g, (c) => c === "_" ? "__" : `_${c.toLowerCase()}`)
}

/** A custom id from its encoding, or undefined when the text is none. */
export function decodeCustomId(encoded: string): string | undefined {
  let out = ""
  for (let i = 0; i < encoded.length; i++) {
    const c = encoded[i]!
    if (c !== "_") {
      if (!/[a-z0-9-]/.test(c)) return undefined
      out += c
      continue
    }
    const next = encoded[++i]
    if (next === "_") out += "_"
    else if (next !== undefined && /[a-z]/.test(next)) out += next.toUpperCase()
    else return undefined
  }
  return out === "" ? undefined : out
}

/** The labels that carry `customId`: its encoding cut into values of at most 63 characters. */
export function labelsOf(customId: string): Record<string, string> {
  const encoded = encodeCustomId(customId)
  const labels: Record<string, string> = {}
  for (let start = 0, index = 0; start < encoded.length; start += labelValueLength, index++) {
    labels[customIdLabels[index]!] = encoded.slice(start, start + labelValueLength)
  }
  return labels
}

/** A request's body with its line's custom id among its labels (those `providerOptions` gave it kept). */
export function labelled(body: unknown, customId: string): JsonObject {
  const request = isJsonObject(body) ? body : {}
  const labels = isJsonObject(request.labels) ? request.labels : {}
  return { ...request, labels: { ...labels, ...labelsOf(customId) } }
}

/** The custom id a request's labels carry, or undefined when they carry none. */
export function customIdOf(request: unknown): string | undefined {
  const labels = isJsonObject(request) && isJsonObject(request.labels) ? request.labels : undefined
  if (labels === undefined) return undefined
  let encoded = ""
  for (const key of customIdLabels) {
    const value = labels[key]
    if (typeof value !== "string") break
    encoded += value
  }
  return decodeCustomId(encoded)
}

// ---------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------

/** The states of a job (Vertex AI REST reference, `JobState`). */
export const JobState = Schema.Literals([
  "JOB_STATE_UNSPECIFIED",
  "JOB_STATE_QUEUED",
  "JOB_STATE_PENDING",
  "JOB_STATE_RUNNING",
  "JOB_STATE_SUCCEEDED",
  "JOB_STATE_FAILED",
  "JOB_STATE_CANCELLING",
  "JOB_STATE_CANCELLED",
  "JOB_STATE_PAUSED",
  "JOB_STATE_EXPIRED",
  "JOB_STATE_UPDATING",
  "JOB_STATE_PARTIALLY_SUCCEEDED"
])

/**
 * A job's state as a batch's: partly succeeded ran every line, some failed (each in the results with its error), so it
 * completed.
 */
export function stateOf(state: typeof JobState.Type): BatchState {
  return endedStates[state] ?? "running"
}

const endedStates: Partial<Record<typeof JobState.Type, BatchState>> = {
  JOB_STATE_SUCCEEDED: "completed",
  JOB_STATE_PARTIALLY_SUCCEEDED: "completed",
  JOB_STATE_FAILED: "refused",
  JOB_STATE_CANCELLED: "cancelled",
  JOB_STATE_EXPIRED: "expired"
}

// int64 fields are written as strings in JSON (proto3's JSON mapping).
const Int64 = Schema.Union([Schema.Number, Schema.NumberFromString])

/** The job, as far as a client reads it; the simulator writes it (with the fields no client reads). */
export const Job = Schema.Struct({
  name: Schema.String,
  state: JobState,
  error: Schema.optionalKey(Schema.Struct({
    code: Schema.optionalKey(Schema.Number),
    message: Schema.optionalKey(Schema.String)
  })),
  outputInfo: Schema.optionalKey(Schema.Struct({ gcsOutputDirectory: Schema.optionalKey(Schema.String) })),
  completionStats: Schema.optionalKey(Schema.Struct({
    successfulCount: Schema.optionalKey(Int64),
    failedCount: Schema.optionalKey(Int64),
    incompleteCount: Schema.optionalKey(Int64)
  }))
})

/** The job read; throws `ShapeError` when it is not one. */
const readJob = shapeReader(Job, "a batch prediction job")

/** The job's status as a batch's: its lines are those it counts, run or not. */
export function statusOf(body: JsonObject): BatchStatus {
  const job = readJob(body)
  const state = stateOf(job.state)
  const stats = job.completionStats ?? {}
  const succeeded = stats.successfulCount ?? 0
  const failed = stats.failedCount ?? 0
  return {
    id: job.name,
    state,
    total: succeeded + failed + (stats.incompleteCount ?? 0),
    succeeded,
    failed,
    ...(state === "refused" ? { detail: job.error?.message ?? "the job failed" } : {})
  }
}

/** A failed line's outcome: its `status`, Google's error body where it holds one, else its text as the message. */
function failedOf(status: unknown): RawOutcome {
  const text = typeof status === "string" && status !== "" ? status : "the line failed"
  const start = text.indexOf("{")
  try {
    const body: unknown = start < 0 ? undefined : JSON.parse(text.slice(start))
    if (isJsonObject(body) && isJsonObject(body.error)) {
      const code = body.error.code
      return { _tag: "Failed", status: typeof code === "number" ? code : undefined, body }
    }
  } catch {
    // Not Google's error body: its words are the message.
  }
  return { _tag: "Failed", status: undefined, body: { error: { message: text } } }
}

/**
 * The lines of a results file, each named by the custom id its echoed request's labels carry; a line whose request
 * carries none cannot be told apart from the others and is left out (the request it answers is then missing).
 */
export function readLines(text: string): ReadonlyArray<RawLine> {
  return jsonLines(text).flatMap((line, position) => {
    const customId = customIdOf(line.request)
    if (customId === undefined) return []
    const outcome: RawOutcome = isJsonObject(line.response)
      ? { _tag: "Reply", body: line.response }
      : failedOf(line.status)
    return [{ customId, position, outcome }]
  })
}

// ---------------------------------------------------------------------------
// The simulator's side
// ---------------------------------------------------------------------------

/** A results line: the request echoed with its reply, or with its error's body as its `status`. */
export function outputLine(request: unknown, outcome: Exclude<RawOutcome, string>, processedAt: number): JsonObject {
  const processed_time = isoTime(processedAt)
  return outcome._tag === "Reply"
    ? { status: "", processed_time, request: request as JsonObject, response: outcome.body }
    : { status: JSON.stringify(outcome.body), processed_time, request: request as JsonObject }
}

/** The folder a job's results go to under its output prefix, named by when it was made (as Vertex names it). */
export function outputDirectoryOf(outputUriPrefix: string, createdAt: number): string {
  return keyUnder(outputUriPrefix, `prediction-model-${isoTime(createdAt)}`)
}

// Label keys and values (Vertex AI, "Add labels to API calls"): keys begin with a lowercase letter; both hold lowercase
// letters, digits, `_` and `-`, at most 63 characters; at most 64 labels.
const labelKey = /^\p{Ll}[\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u
const labelValue = /^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u

/** What is wrong with a request's labels, as Vertex says it, or undefined when they are valid (or absent). */
export function labelsProblem(request: unknown): string | undefined {
  const labels = isJsonObject(request) ? request.labels : undefined
  if (labels === undefined) return undefined
  if (!isJsonObject(labels)) return "labels: must be a map of strings"
  const entries = Object.entries(labels)
  if (entries.length > 64) return "labels: at most 64 labels"
  for (const [key, value] of entries) {
    if (!labelKey.test(key)) return `labels: invalid label key "${key}"`
    if (typeof value !== "string" || !labelValue.test(value)) return `labels: invalid label value for "${key}"`
  }
  return undefined
}

// ---------------------------------------------------------------------------
// The client's steps
// ---------------------------------------------------------------------------

/** Where a deployment's batches go: its jobs' collection, its buckets, and Cloud Storage's endpoint. */
export interface Settings {
  readonly provider: string
  /** The location's jobs (`/v1/projects/{project}/locations/{location}/batchPredictionJobs`). */
  readonly jobs: string
  readonly input: BucketLocation
  readonly output: BucketLocation
  readonly storage: BatchEndpoint
  /** Whether Google publishes a model: only Gemini's requests are written as lines. */
  readonly isGoogles: (model: string) => boolean
}

function created(total: number) {
  return (body: JsonObject): BatchStatus => ({ ...statusOf(body), total })
}

/**
 * The job's results folder, where it has one (an unfinished job may have none yet); throws `ShapeError` when its object
 * is not a job, or a completed job names none.
 */
function outputDirectoryIn(body: JsonObject): BucketLocation | undefined {
  const job = readJob(body)
  const directory = job.outputInfo?.gcsOutputDirectory
  const location = gcsUris.locationOf(directory)
  if (location === undefined && stateOf(job.state) === "completed") {
    throw new ShapeError(`the completed job names no gs:// results folder (${directory ?? "none"})`)
  }
  return location
}

/** The job's results: none where an unfinished job wrote none (no folder, or no file in it). */
function resultsOf(http: BatchHttp, directory: BucketLocation | undefined, state: BatchState) {
  if (directory === undefined) return Effect.succeed([])
  const file = { bucket: directory.bucket, key: keyUnder(directory.key, predictionsFile) }
  return resultsFile(Effect.map(http.at("storage").text(mediaPath(file)), readLines), state)
}

/** Vertex AI's batch steps for a deployment's `settings`. */
export function clientWire(settings: Settings): BatchWire {
  function retrieve(http: BatchHttp, name: string) {
    return http.json(`/v1/${name}`, undefined, statusOf)
  }
  return {
    endpoints: { storage: settings.storage },
    submit: (http, model, lines) =>
      settings.isGoogles(model)
        ? Effect.gen(function*() {
          const name = yield* jobName
          const input = { ...settings.input, key: keyUnder(settings.input.key, `${name}.jsonl`) }
          const file = toJsonLines(lines.map(({ body, customId }) => ({ request: labelled(body, customId) })))
          yield* http.at("storage").send("POST", uploadPath(input), file, "application/jsonl")
          return yield* http.json(settings.jobs, {
            displayName: name,
            model: `publishers/google/models/${model}`,
            inputConfig: { instancesFormat: "jsonl", gcsSource: { uris: [gcsUris.uriOf(input)] } },
            outputConfig: {
              predictionsFormat: "jsonl",
              gcsDestination: { outputUriPrefix: gcsUris.uriOf(settings.output) }
            }
          }, created(lines.length))
        })
        : Effect.fail(
          new InvalidRequestError({
            provider: settings.provider,
            model,
            param: "model",
            detail: "a Vertex client's batches carry Google's models (Gemini) only, not Anthropic's: " +
              "batch Claude through a client without `batch`, whose batches run as calls (nothing was sent)"
          })
        ),
    retrieve: (http, _model, id) => retrieve(http, id),
    // Cancelling answers an empty object: the job is read again for its state.
    cancel: (http, _model, id) =>
      Effect.andThen(http.json(`/v1/${id}:cancel`, {}, () => undefined), retrieve(http, id)),
    results: (http, _model, status) =>
      Effect.flatMap(
        http.json(`/v1/${status.id}`, undefined, outputDirectoryIn),
        (directory) => resultsOf(http, directory, status.state)
      )
  }
}
