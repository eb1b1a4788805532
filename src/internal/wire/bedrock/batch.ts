/**
 * Amazon Bedrock's batch inference (Amazon Bedrock API reference: `CreateModelInvocationJob`, `GetModelInvocationJob`,
 * `StopModelInvocationJob`; user guide, "Process multiple prompts with batch inference"), both ways: the client's
 * bodies and readers, and what the simulator decodes and writes. The requests go to S3 as one JSONL file of Converse
 * bodies; the results come back at `{output prefix}/{job id}/{input file}.out`, by `recordId`.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { BatchState, BatchStatus } from "../../../ProviderClient.js"
import { ShapeError } from "../../codecError.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { type BatchEndpoint, type BatchHttp, type BatchWire, resultsFile } from "../../providers/batch.js"
import type { RawOutcome } from "../../providers/batch.js"
import { type BucketLocation, BucketUris, jobName, keyUnder, resultLines, toJsonLines } from "../batch.js"
import { shapeReader } from "../shapeReader.js"
import { errorType } from "./writer.js"

/** The path of the control plane's jobs. */
export const jobsPath = "/model-invocation-job"

/**
 * S3's URIs, `s3://bucket/key`; a bucket's name is 3 to 63 lowercase letters, digits, dots and hyphens (Amazon S3 user
 * guide, "Bucket naming rules").
 */
export const s3Uris = new BucketUris("s3", "S3", "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")

/**
 * A key as a path, each segment encoded as SigV4 encodes S3's (RFC 3986: everything but letters, digits and `-._~`),
 * so the path S3 signs is the one sent.
 */
export function keyPath(key: string): string {
  return `/${
    key.split("/").map((segment) =>
      encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    ).join("/")
  }`
}

/** The job id of a job ARN (its last segment; an id is its own). */
export function jobIdOf(jobArn: string): string {
  return jobArn.slice(jobArn.lastIndexOf("/") + 1)
}

/** The key of the results of the job `jobId` of the input file at `inputKey`, under the output prefix. */
export function outputKeyOf(outputPrefix: string, jobId: string, inputKey: string): string {
  return keyUnder(keyUnder(outputPrefix, jobId), `${inputKey.slice(inputKey.lastIndexOf("/") + 1)}.out`)
}

/** An input line: the record's id and its Converse body. */
export function inputLine(recordId: string, body: unknown): JsonObject {
  return { recordId, modelInput: body as JsonObject }
}

/** The statuses of a job (API reference, `GetModelInvocationJob`). */
export const JobStatus = Schema.Literals([
  "Submitted",
  "Validating",
  "Scheduled",
  "InProgress",
  "Stopping",
  "Stopped",
  "Completed",
  "PartiallyCompleted",
  "Failed",
  "Expired"
])

/** What a job's status is as a batch's: `PartiallyCompleted` ran out of time with lines not run, as `Expired` did. */
export function stateOf(status: typeof JobStatus.Type): BatchState {
  return endedStates[status] ?? "running"
}

const endedStates: Partial<Record<typeof JobStatus.Type, BatchState>> = {
  Completed: "completed",
  PartiallyCompleted: "expired",
  Expired: "expired",
  Stopped: "cancelled",
  Failed: "refused"
}

const S3Uri = Schema.Struct({ s3Uri: Schema.String })

/** The job, as far as a client reads it; the simulator writes it (with the fields no client reads). */
export const Job = Schema.Struct({
  jobArn: Schema.String,
  status: JobStatus,
  message: Schema.optionalKey(Schema.String),
  inputDataConfig: Schema.Struct({
    s3InputDataConfig: Schema.Struct({ ...S3Uri.fields, s3InputFormat: Schema.optionalKey(Schema.String) })
  }),
  outputDataConfig: Schema.Struct({ s3OutputDataConfig: S3Uri }),
  totalRecordCount: Schema.optionalKey(Schema.Number),
  successRecordCount: Schema.optionalKey(Schema.Number),
  errorRecordCount: Schema.optionalKey(Schema.Number)
})

/** The job read; throws `ShapeError` when it is not one. */
const readJob = shapeReader(Job, "a model invocation job")
const readCreated = shapeReader(Schema.Struct({ jobArn: Schema.String }), "a created job")

/** The job's status as a batch's. */
export function statusOf(body: JsonObject): BatchStatus {
  const job = readJob(body)
  const state = stateOf(job.status)
  return {
    id: job.jobArn,
    state,
    total: job.totalRecordCount ?? 0,
    succeeded: job.successRecordCount ?? 0,
    failed: job.errorRecordCount ?? 0,
    ...(state === "refused" ? { detail: job.message ?? "the job failed" } : {})
  }
}

function outcomeOf(line: JsonObject): RawOutcome {
  if (isJsonObject(line.modelOutput)) return { _tag: "Reply", body: line.modelOutput }
  const error = isJsonObject(line.error) ? line.error : {}
  const code = Number(error.errorCode)
  const message = typeof error.errorMessage === "string" ? error.errorMessage : "the record failed"
  // A Converse error's body with the type its status has (a record names none), so the one mapping of an HTTP failure
  // reads it as a call's.
  if (!Number.isInteger(code)) return { _tag: "Failed", status: undefined, body: { message } }
  return { _tag: "Failed", status: code, body: { __type: errorType(code, "InternalServerException"), message } }
}

const readLines = (text: string) => resultLines(text, "recordId", outcomeOf)

// ---------------------------------------------------------------------------
// The simulator's side
// ---------------------------------------------------------------------------

/** A results line: the record's input with its reply, or with its error's code and message. */
export function outputLine(recordId: string, modelInput: unknown, outcome: RawOutcome): JsonObject {
  if (typeof outcome === "object" && outcome._tag === "Reply") {
    return { recordId, modelInput: modelInput as JsonObject, modelOutput: outcome.body }
  }
  const status = typeof outcome === "object" ? outcome.status ?? 500 : 408
  const body = typeof outcome === "object" && isJsonObject(outcome.body) ? outcome.body : {}
  const errorMessage = typeof body.message === "string" ? body.message : `the record was not run (${String(outcome)})`
  return { recordId, modelInput: modelInput as JsonObject, error: { errorCode: status, errorMessage } }
}

// ---------------------------------------------------------------------------
// The client's steps
// ---------------------------------------------------------------------------

/** Where a deployment's batches go: its buckets, the role that reads and writes them, and the control plane. */
export interface Settings {
  readonly roleArn: string
  readonly input: BucketLocation
  readonly output: BucketLocation
  /** Hours a job may wait and run before it stops (24 to 168). Default: Bedrock's. */
  readonly timeoutHours: number | undefined
  readonly control: BatchEndpoint
  /** The endpoint of each bucket, by its name. */
  readonly bucket: (name: string) => BatchEndpoint
}

function created(total: number) {
  return (body: JsonObject): BatchStatus => {
    return { id: readCreated(body).jobArn, state: "running", total, succeeded: 0, failed: 0 }
  }
}

function jobPath(id: string) {
  return `${jobsPath}/${encodeURIComponent(id)}`
}

/** A job with its input file and its output prefix; throws `ShapeError` when they are not `s3://` URIs. */
function readLocatedJob(body: JsonObject) {
  const job = readJob(body)
  const input = s3Uris.locationOf(job.inputDataConfig.s3InputDataConfig.s3Uri)
  const output = s3Uris.locationOf(job.outputDataConfig.s3OutputDataConfig.s3Uri)
  if (input === undefined || output === undefined) throw new ShapeError("the job's input or output is not an s3:// URI")
  return { job, input, output }
}

/**
 * The job's results, read from the deployment's output bucket; none when a job that did not complete wrote no file (an
 * expired job that never began).
 */
function resultsOf(http: BatchHttp, located: ReturnType<typeof readLocatedJob>, state: BatchState) {
  const { input, job, output } = located
  const key = outputKeyOf(output.key, jobIdOf(job.jobArn), input.key)
  return resultsFile(Effect.map(http.at("output").text(keyPath(key)), readLines), state)
}

/** Bedrock's batch steps for a deployment's `settings`. */
export function clientWire(settings: Settings): BatchWire {
  const control = (http: BatchHttp) => http.at("control")
  function retrieve(http: BatchHttp, id: string) {
    return control(http).json(jobPath(id), undefined, statusOf)
  }
  return {
    endpoints: {
      control: settings.control,
      input: settings.bucket(settings.input.bucket),
      output: settings.bucket(settings.output.bucket)
    },
    submit: (http, model, lines) =>
      Effect.gen(function*() {
        const name = yield* jobName
        const inputKey = keyUnder(settings.input.key, `${name}.jsonl`)
        const file = toJsonLines(lines.map(({ body, customId }) => inputLine(customId, body)))
        yield* http.at("input").send("PUT", keyPath(inputKey), file, "application/jsonl")
        return yield* control(http).json(jobsPath, {
          jobName: name,
          clientRequestToken: name,
          roleArn: settings.roleArn,
          modelId: model,
          modelInvocationType: "Converse",
          inputDataConfig: { s3InputDataConfig: { s3Uri: s3Uris.uriOf({ ...settings.input, key: inputKey }) } },
          outputDataConfig: { s3OutputDataConfig: { s3Uri: s3Uris.uriOf(settings.output) } },
          ...(settings.timeoutHours === undefined ? {} : { timeoutDurationInHours: settings.timeoutHours })
        }, created(lines.length))
      }),
    retrieve: (http, _model, id) => retrieve(http, id),
    // Stopping answers with no body: the job is read again for its state.
    cancel: (http, _model, id) =>
      Effect.andThen(control(http).send("POST", `${jobPath(id)}/stop`, "{}", "application/json"), retrieve(http, id)),
    results: (http, _model, status) =>
      Effect.flatMap(
        control(http).json(jobPath(status.id), undefined, readLocatedJob),
        (located) => resultsOf(http, located, status.state)
      )
  }
}
