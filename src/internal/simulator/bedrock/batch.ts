/**
 * The simulator's Amazon Bedrock batch inference jobs and the S3 objects they read and write: an object put and got
 * (path-style, under `s3Root`), a job created from its input file (each record answered as its call), read and stopped,
 * its results object and manifest written once it has ended.
 */
import type { WireFormat } from "../../../simulator/WireFormat.js"
import { isJsonObject, type JsonObject } from "../../json.js"
import { isoTime, jsonLines, keyUnder, toJsonLines } from "../../wire/batch.js"
import * as BedrockBatch from "../../wire/bedrock/batch.js"
import { type BatchFault, refusal } from "../batchFault.js"
import {
  type BatchServer,
  cancel,
  empty,
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
import { decodeSegment, valueAt } from "../requestChecks.js"
import type { RouteInput } from "../routes.js"

/** Where the simulator's S3 is: its objects addressed path-style under it, `/s3/{bucket}/{key}`. */
export const s3Root = "/s3"

/** A job's create read from its body (its name, role, model and files), or what is wrong with it. */
function createOf(body: unknown) {
  const create = isJsonObject(body) ? body : {}
  const inputUri = valueAt(create, ["inputDataConfig", "s3InputDataConfig", "s3Uri"])
  const outputUri = valueAt(create, ["outputDataConfig", "s3OutputDataConfig", "s3Uri"])
  const { jobName, modelId, roleArn } = create
  if (
    typeof jobName !== "string" || typeof roleArn !== "string" || typeof modelId !== "string" ||
    typeof inputUri !== "string" || typeof outputUri !== "string" ||
    BedrockBatch.s3Uris.locationOf(outputUri) === undefined
  ) {
    return "jobName, roleArn, modelId, inputDataConfig.s3InputDataConfig.s3Uri and " +
      "outputDataConfig.s3OutputDataConfig.s3Uri are required, the URIs s3:// ones"
  }
  if (create.modelInvocationType !== "Converse") {
    return "The simulator runs jobs of modelInvocationType Converse only."
  }
  return { jobName, roleArn, modelId, inputUri, outputUri }
}

/** What a Bedrock job was made with: its create, and each record's input for its results line. */
interface Job extends Exclude<ReturnType<typeof createOf>, string> {
  readonly inputs: ReadonlyArray<unknown>
}

/** The `bucket/key` of an S3 request's path (`/s3/{bucket}/{key}`, path-style), each segment decoded. */
function objectOf(url: string): string {
  const path = url.split("?", 1)[0]!.slice(s3Root.length + 1)
  return path.split("/").map(decodeSegment).join("/")
}

/**
 * A job's status as Bedrock names it, by its state: with no record run, and with some (out of time with some run, it
 * is partly completed).
 */
const statuses = {
  running: ["Scheduled", "InProgress"],
  completed: ["Completed", "Completed"],
  cancelled: ["Stopped", "Stopped"],
  refused: ["Failed", "Failed"],
  expired: ["Expired", "PartiallyCompleted"]
} as const

/** Bedrock's batch inference routes and S3's, over their own store of jobs and the server's objects. */
export function bedrockBatches(server: BatchServer) {
  const batches = new Map<string, Held<Job>>()
  const { objects } = server

  /** The job object (API reference, `GetModelInvocationJob`'s response). */
  function jobObject(batch: Held<Job>, now: number): typeof BedrockBatch.Job.Encoded & JsonObject {
    const job = batch.made
    const view = viewOf(batch, now)
    const { failed, succeeded } = ranCounts(view)
    const endedAt = view.state === "running" ? undefined : stoppedAt(batch, now)
    if (endedAt !== undefined && view.state !== "refused" && batch.files === undefined) writeResults(batch, view)
    return {
      jobArn: batch.id,
      jobName: job.jobName,
      modelId: batch.model,
      roleArn: job.roleArn,
      status: statuses[view.state][view.ran === 0 ? 0 : 1],
      ...(view.state === "refused" ? { message: refusal } : {}),
      submitTime: isoTime(batch.createdAt),
      lastModifiedTime: isoTime(endedAt ?? batch.createdAt),
      ...(endedAt === undefined ? {} : { endTime: isoTime(endedAt) }),
      inputDataConfig: { s3InputDataConfig: { s3Uri: job.inputUri, s3InputFormat: "JSONL" } },
      outputDataConfig: { s3OutputDataConfig: { s3Uri: job.outputUri } },
      modelInvocationType: "Converse",
      totalRecordCount: batch.entries.length,
      processedRecordCount: succeeded + failed,
      successRecordCount: succeeded,
      errorRecordCount: failed
    }
  }

  /**
   * The job's results object and its manifest, written once it has ended: the records that ran (those never run are not
   * in it), less the missing ones, the repeated ones twice. An expired job that ran none writes nothing.
   */
  function writeResults(batch: Held<Job>, view: View) {
    const job = batch.made
    const input = BedrockBatch.s3Uris.locationOf(job.inputUri)!
    const output = BedrockBatch.s3Uris.locationOf(job.outputUri)!
    const jobId = BedrockBatch.jobIdOf(batch.id)
    const key = BedrockBatch.outputKeyOf(output.key, jobId, input.key)
    batch.files = { output: key, error: undefined }
    if (view.ran === 0 && view.state === "expired") return
    const lines = written(batch, view).flatMap(({ index, outcome }) =>
      typeof outcome === "string"
        ? []
        : [BedrockBatch.outputLine(batch.entries[index]!.customId, job.inputs[index], outcome)]
    )
    objects.set(`${output.bucket}/${key}`, toJsonLines(lines))
    const manifestKey = keyUnder(keyUnder(output.key, jobId), "manifest.json.out")
    // The summary S3 holds beside the results.
    const { errorRecordCount, processedRecordCount, successRecordCount, totalRecordCount } = jobObject(
      batch,
      batch.createdAt + batch.fault.ms
    )
    const summary = { totalRecordCount, processedRecordCount, successRecordCount, errorRecordCount }
    objects.set(`${output.bucket}/${manifestKey}`, JSON.stringify(summary))
  }

  function create<X>(format: WireFormat<X>, input: RouteInput, out: Record<string, string>, fault: BatchFault): Plan {
    const job = createOf(parsed(input.body))
    if (typeof job === "string") return server.invalid(format, job, out)
    const { inputUri, modelId } = job
    const location = BedrockBatch.s3Uris.locationOf(inputUri)
    const file = location === undefined ? undefined : objects.get(`${location.bucket}/${location.key}`)
    if (file === undefined) return server.invalid(format, `No input file at ${inputUri}.`, out)
    const records = jsonLines(file)
    if (records.length === 0 || records.some((record) => !isJsonObject(record.modelInput))) {
      return server.invalid(format, "Every record of the input file needs a modelInput object.", out)
    }
    // A record without an id is given one, as Bedrock does.
    const lines = records.map((record, index) => ({
      customId: typeof record.recordId === "string" ? record.recordId : `RECORD${String(index).padStart(5, "0")}`,
      body: record.modelInput,
      params: { modelId, stream: "false" }
    }))
    const region = /\/\d{8}\/([^/]+)\//.exec(input.headers.authorization ?? "")?.[1] ?? "us-east-1"
    const jobArn = `arn:aws:bedrock:${region}:123456789012:model-invocation-job/sim${
      String(server.nextId()).padStart(9, "0")
    }`
    server.hold(batches, format, input, fault, {
      id: jobArn,
      model: modelId,
      lines,
      made: { ...job, inputs: lines.map((line) => line.body) }
    })
    return json(out, { jobArn })
  }

  /** A job by its ARN or its id. */
  function findJob(id: string | undefined): Held<Job> | undefined {
    if (id === undefined) return undefined
    const jobId = BedrockBatch.jobIdOf(id)
    for (const held of batches.values()) {
      if (BedrockBatch.jobIdOf(held.id) === jobId) return held
    }
    return undefined
  }

  return {
    create: <X>(format: WireFormat<X>, input: RouteInput) =>
      server.creating(format, input, (out, fault) => create(format, input, out, fault)),
    /** A job read, or stopped (answered with no body, as Bedrock answers). */
    job: <X>(format: WireFormat<X>, input: RouteInput, stop: boolean) =>
      server.found(format, input, findJob(input.params.id), (batch, out) => {
        if (!stop) return json(out, jobObject(batch, input.now))
        cancel(batch, input.now)
        return empty(out)
      }),
    putObject: (input: RouteInput): Plan => {
      objects.set(objectOf(input.url), input.body ?? "")
      return empty({})
    },
    getObject: <X>(format: WireFormat<X>, input: RouteInput): Plan => {
      const object = objects.get(objectOf(input.url))
      return object === undefined ? server.notFound(format, input, {}) : text({}, object)
    }
  }
}
