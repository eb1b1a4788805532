/**
 * The simulator's Vertex AI batch prediction jobs and the Cloud Storage objects they read and write: an object uploaded
 * and read (Cloud Storage's JSON API), a job created from its input file (each line answered as its call, its labels
 * checked as Vertex checks them), read and cancelled, its `predictions.jsonl` written once it has ended.
 */
import type { WireFormat } from "../../../simulator/WireFormat.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { isoTime, jsonLines, keyUnder, toJsonLines } from "../../wire/batch.js"
import { errorJson } from "../../wire/gemini/codec.js"
import * as VertexBatch from "../../wire/gemini/vertexBatch.js"
import { type BatchFault, refusal } from "../batchFault.js"
import {
  type BatchServer,
  cancel,
  type Held,
  json,
  parsed,
  ranCounts,
  stoppedAt,
  text,
  type View,
  viewOf,
  written
} from "../batchServer.js"
import type { Plan } from "../plan.js"
import { valueAt } from "../requestChecks.js"
import type { RouteInput } from "../routes.js"

/** A job's create read from its body (its name, its model, its input file and its output folder), or what is wrong. */
function createOf(body: unknown) {
  const uris = valueAt(body, ["inputConfig", "gcsSource", "uris"])
  const destination = valueAt(body, ["outputConfig", "gcsDestination", "outputUriPrefix"])
  const { displayName, model } = isJsonObject(body) ? body : {}
  const inputUri = Array.isArray(uris) && uris.length === 1 ? uris[0] : undefined
  if (
    typeof displayName !== "string" || typeof model !== "string" || typeof inputUri !== "string" ||
    typeof destination !== "string" || VertexBatch.gcsUris.locationOf(destination) === undefined ||
    valueAt(body, ["inputConfig", "instancesFormat"]) !== "jsonl" ||
    valueAt(body, ["outputConfig", "predictionsFormat"]) !== "jsonl"
  ) {
    return "displayName, model, inputConfig (instancesFormat jsonl, one gcsSource.uris) and outputConfig " +
      "(predictionsFormat jsonl, gcsDestination.outputUriPrefix) are required, the URIs gs:// ones"
  }
  return { displayName, model, inputUri, outputUriPrefix: destination }
}

/** What a Vertex AI batch prediction job was made with: its create, and each line's request for its results. */
interface Prediction extends Exclude<ReturnType<typeof createOf>, string> {
  readonly requests: ReadonlyArray<unknown>
}

/** The object a Cloud Storage request names: its bucket and its name (the upload's `name` query). */
function gcsObjectOf(input: RouteInput): string {
  const name = input.params.object ?? new URL(input.url, "http://localhost").searchParams.get("name") ?? ""
  return `${input.params.bucket ?? ""}/${name}`
}

/** The job a request's path names (`{version}/projects/.../batchPredictionJobs/{id}`, a cancel's `:cancel` off). */
function jobName(url: string): string {
  return url.split("?", 1)[0]!.replace(/^\/[^/]+\//, "").replace(/:cancel$/, "")
}

/** Vertex AI's batch prediction routes and Cloud Storage's, over their own store of jobs and the server's objects. */
export function vertexBatches<V>(server: BatchServer, format: WireFormat<V>) {
  const batches = new Map<string, Held<Prediction>>()
  const { objects } = server

  /** The job object (REST reference, `BatchPredictionJob`). */
  function jobObject(batch: Held<Prediction>, now: number): typeof VertexBatch.Job.Encoded & JsonObject {
    const prediction = batch.made
    const view = viewOf(batch, now)
    const { failed, succeeded } = ranCounts(view)
    const endedAt = view.state === "running" ? undefined : stoppedAt(batch, now)
    // The lines that ran are written once it has ended, in the folder the job names: none when it was refused, or
    // expired before it ran any.
    const outputDirectory = endedAt !== undefined && view.state !== "refused" && view.ran > 0
      ? VertexBatch.outputDirectoryOf(prediction.outputUriPrefix, batch.createdAt)
      : undefined
    if (outputDirectory !== undefined && batch.files === undefined) writePredictions(batch, view)
    return {
      name: batch.id,
      displayName: prediction.displayName,
      model: prediction.model,
      inputConfig: { instancesFormat: "jsonl", gcsSource: { uris: [prediction.inputUri] } },
      outputConfig: { predictionsFormat: "jsonl", gcsDestination: { outputUriPrefix: prediction.outputUriPrefix } },
      state: view.state === "running"
        ? view.ran === 0 ? "JOB_STATE_PENDING" : "JOB_STATE_RUNNING"
        : view.state === "completed"
        ? failed === 0 ? "JOB_STATE_SUCCEEDED" : "JOB_STATE_PARTIALLY_SUCCEEDED"
        : view.state === "cancelled"
        ? "JOB_STATE_CANCELLED"
        : view.state === "refused"
        ? "JOB_STATE_FAILED"
        : "JOB_STATE_EXPIRED",
      ...(outputDirectory === undefined ? {} : { outputInfo: { gcsOutputDirectory: outputDirectory } }),
      ...(view.state === "refused" ? { error: { code: 3, message: refusal } } : {}),
      completionStats: {
        successfulCount: String(succeeded),
        failedCount: String(failed),
        incompleteCount: String(batch.entries.length - succeeded - failed)
      },
      createTime: isoTime(batch.createdAt),
      updateTime: isoTime(endedAt ?? batch.createdAt),
      ...(endedAt === undefined ? {} : { endTime: isoTime(endedAt) })
    }
  }

  /** The job's `predictions.jsonl`: the lines that ran, less the missing ones, the repeated ones twice. */
  function writePredictions(batch: Held<Prediction>, view: View) {
    const directory = VertexBatch.gcsUris.locationOf(
      VertexBatch.outputDirectoryOf(batch.made.outputUriPrefix, batch.createdAt)
    )!
    const key = keyUnder(directory.key, VertexBatch.predictionsFile)
    batch.files = { output: key, error: undefined }
    const processedAt = stoppedAt(batch, Infinity)
    const lines = written(batch, view).flatMap(({ index, outcome }) =>
      typeof outcome === "string" ? [] : [VertexBatch.outputLine(batch.made.requests[index], outcome, processedAt)]
    )
    objects.set(`${directory.bucket}/${key}`, toJsonLines(lines))
  }

  function create(input: RouteInput, out: Record<string, string>, fault: BatchFault): Plan {
    const job = createOf(parsed(input.body))
    if (typeof job === "string") return server.invalid(format, job, out)
    const modelId = /^publishers\/google\/models\/([^/]+)$/.exec(job.model)?.[1]
    if (modelId === undefined) {
      return server.invalid(format, `The simulator runs jobs of Google's models only, not ${job.model}.`, out)
    }
    const location = VertexBatch.gcsUris.locationOf(job.inputUri)
    const file = location === undefined ? undefined : objects.get(`${location.bucket}/${location.key}`)
    if (file === undefined) return server.invalid(format, `No input file at ${job.inputUri}.`, out)
    const records = jsonLines(file)
    if (records.length === 0 || records.some((record) => !isJsonObject(record.request))) {
      return server.invalid(format, "Every line of the input file needs a request object.", out)
    }
    const lines = records.map((record, index) => {
      // A request's labels outside Vertex's rules fail its line, as its call would fail.
      const problem = VertexBatch.labelsProblem(record.request)
      return {
        customId: String(index),
        body: record.request,
        params: { model: modelId, method: "generateContent" },
        outcome: problem === undefined
          ? undefined
          : { _tag: "Failed" as const, status: 400, body: JSON.parse(errorJson(400, problem)) }
      }
    })
    const root = /^\/[^/]+\/(projects\/[^/]+\/locations\/[^/]+)\//.exec(input.url)?.[1] ?? "projects/-/locations/-"
    const batch = server.hold(batches, format, input, fault, {
      id: `${root}/batchPredictionJobs/sim${server.nextId()}`,
      model: modelId,
      lines,
      made: { ...job, requests: records.map((record) => record.request) }
    })
    return json(out, jobObject(batch, input.now))
  }

  return {
    create: (input: RouteInput) => server.creating(format, input, (out, fault) => create(input, out, fault)),
    /** A job read, or cancelled (answered with an empty object, as Vertex answers). */
    job: (input: RouteInput, cancelled: boolean) =>
      server.found(format, input, batches.get(jobName(input.url)), (batch, out) => {
        if (!cancelled) return json(out, jobObject(batch, input.now))
        cancel(batch, input.now)
        return json(out, {})
      }),
    upload: (input: RouteInput) =>
      server.gated(format, input, (out) => {
        const object = gcsObjectOf(input)
        objects.set(object, input.body ?? "")
        const slash = object.indexOf("/")
        return json(out, { bucket: object.slice(0, slash), name: object.slice(slash + 1), kind: "storage#object" })
      }),
    media: (input: RouteInput) =>
      server.found(format, input, objects.get(gcsObjectOf(input)), (object, out) => text(out, object))
  }
}
