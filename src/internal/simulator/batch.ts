/**
 * The simulator's batch APIs (OpenAI's files and batches, Anthropic's Message Batches, the Gemini API's batch mode,
 * Amazon Bedrock's batch inference jobs with the S3 objects they read and write, Vertex AI's batch prediction jobs with
 * the Cloud Storage objects they read and write), their state held in the simulator's
 * process: each line answered at creation as a call of it would be (the engine's
 * `generate`, through the same gate, faults and knobs), its lines run over the batch's time on the simulator's `Clock`
 * (so a test's `TestClock` moves it), and the batch's own faults, chosen per batch by `x-simulator-batch-fault` on the
 * request that creates it (or the options' `batchFault`): slow to finish, expired, lines failed, a result file with a
 * line missing or repeated.
 */
import * as Result from "effect/Result"
import type * as Http from "node:http"
import type { BatchState } from "../../ProviderClient.js"
import type { ApiError, WireFormat } from "../../simulator/WireFormat.js"
import * as AnthropicBatch from "../wire/anthropic/batch.js"
import { jsonLines, keyUnder, type RawOutcome, toJsonLines } from "../wire/batch.js"
import * as BedrockBatch from "../wire/bedrock/batch.js"
import * as GeminiBatch from "../wire/gemini/batch.js"
import { errorJson } from "../wire/gemini/codec.js"
import * as VertexBatch from "../wire/gemini/vertexBatch.js"
import { isJsonObject, type JsonObject } from "../wire/json.js"
import * as OpenAiBatch from "../wire/openAiChat/batch.js"
import type { Plan } from "./plan.js"
import type { RouteInput } from "./routes.js"

/** The request header that chooses a batch's faults. */
export const batchFaultHeader = "x-simulator-batch-fault" as const

/** Where the simulator's S3 is: its objects addressed path-style under it, `/s3/{bucket}/{key}`. */
export const s3Root = "/s3"

/** How long a batch takes without a `slow` fault. */
export const defaultBatchMs = 1_000

/** A batch's faults, parsed from `x-simulator-batch-fault`. */
export interface BatchFault {
  /** How long the batch takes to end. */
  readonly ms: number
  /** The batch expires at its end with half its lines run. */
  readonly expire: boolean
  /** The lines (by index) answered with an error. */
  readonly fail: ReadonlySet<number>
  /** The lines left out of the result file. */
  readonly missing: ReadonlySet<number>
  /** The lines written twice in the result file. */
  readonly repeat: ReadonlySet<number>
  /** The batch is refused: failed at once (OpenAI, Gemini, Bedrock), or its creation answered 400 (Anthropic). */
  readonly refuse: boolean
}

const noFault: BatchFault = {
  ms: defaultBatchMs,
  expire: false,
  fail: new Set(),
  missing: new Set(),
  repeat: new Set(),
  refuse: false
}

function indices(name: string, value: string): Result.Result<ReadonlySet<number>, string> {
  const parts = value.split("+")
  if (parts.some((part) => !/^\d+$/.test(part))) {
    return Result.fail(`"${name}" needs line indices joined by "+" (such as 0+3), got "${value}"`)
  }
  return Result.succeed(new Set(parts.map(Number)))
}

/**
 * Decodes an `x-simulator-batch-fault` value: items joined by `,`, each `slow=<ms>`, `expire`, `fail=<i>+<j>...`,
 * `missing=<i>...`, `repeat=<i>...` or `refuse`; or the reason it is invalid.
 */
export function decodeBatchFault(value: string): Result.Result<BatchFault, string> {
  let fault = noFault
  for (const item of value.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const [name, arg] = item.split("=", 2) as [string, string | undefined]
    if ((name === "expire" || name === "refuse") && arg === undefined) {
      fault = { ...fault, [name]: true }
      continue
    }
    if (name === "slow" && arg !== undefined && /^\d+$/.test(arg)) {
      fault = { ...fault, ms: Number(arg) }
      continue
    }
    if ((name === "fail" || name === "missing" || name === "repeat") && arg !== undefined) {
      const set = indices(name, arg)
      if (Result.isFailure(set)) return Result.fail(set.failure)
      fault = { ...fault, [name]: set.success }
      continue
    }
    return Result.fail(
      `unknown batch fault "${item}": expected slow=<ms>, expire, refuse, fail=<i>+<j>, missing=<i> or repeat=<i>`
    )
  }
  return Result.succeed(fault)
}

/** Why a batch with the `refuse` fault was refused. */
const refusal = `The batch was refused, as ${batchFaultHeader}: refuse asked.`

/** One line of a batch: its custom id and its answer, made when the batch was created. */
interface Entry {
  readonly customId: string
  readonly outcome: RawOutcome
}

/** What a Bedrock job was made with: its name, role, files, and each record's input for its results line. */
interface Job {
  readonly jobName: string
  readonly roleArn: string
  readonly inputUri: string
  readonly outputUri: string
  readonly inputs: ReadonlyArray<unknown>
}

/** What a Vertex AI batch prediction job was made with: its name, files, and each line's request for its results. */
interface Prediction {
  readonly displayName: string
  readonly model: string
  readonly inputUri: string
  readonly outputUriPrefix: string
  readonly requests: ReadonlyArray<unknown>
}

interface Held {
  readonly id: string
  readonly dialect: "openai" | "anthropic" | "gemini" | "bedrock" | "vertex"
  readonly model: string
  readonly inputFileId: string
  readonly createdAt: number
  readonly fault: BatchFault
  readonly entries: ReadonlyArray<Entry>
  /** When it was cancelled, if it was. */
  cancelledAt: number | undefined
  /** The output and error files' ids, once written (OpenAI; Bedrock's results object, its key). */
  files: { readonly output: string | undefined; readonly error: string | undefined } | undefined
  /** Bedrock's job. */
  readonly job: Job | undefined
  /** Vertex AI's job. */
  readonly prediction: Prediction | undefined
}

/** Where a batch is at `now`: its state, how many lines have run, and each line's outcome as it stands. */
interface View {
  readonly state: BatchState
  readonly ran: number
  readonly outcomes: ReadonlyArray<RawOutcome | undefined>
}

function viewOf(batch: Held, now: number): View {
  const total = batch.entries.length
  const end = batch.createdAt + batch.fault.ms
  const at = Math.min(now, batch.cancelledAt ?? Infinity, end)
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

function counts(view: View) {
  let succeeded = 0
  let failed = 0
  for (const outcome of view.outcomes) {
    if (outcome === undefined) continue
    if (typeof outcome === "object" && outcome._tag === "Reply") succeeded++
    else failed++
  }
  return { succeeded, failed }
}

/** The lines that ran, answered or failed, as the clouds' jobs count them: those never run are in neither count. */
function ranCounts(view: View) {
  let succeeded = 0
  let failed = 0
  for (const outcome of view.outcomes) {
    if (typeof outcome !== "object") continue
    if (outcome._tag === "Reply") succeeded++
    else failed++
  }
  return { succeeded, failed }
}

/** The lines a result file holds: each line's, less the missing ones, the repeated ones twice. */
function written(batch: Held, view: View): ReadonlyArray<{ readonly index: number; readonly outcome: RawOutcome }> {
  const out: Array<{ readonly index: number; readonly outcome: RawOutcome }> = []
  for (const [index, outcome] of view.outcomes.entries()) {
    if (outcome === undefined || batch.fault.missing.has(index)) continue
    out.push({ index, outcome })
    if (batch.fault.repeat.has(index)) out.push({ index, outcome })
  }
  return out
}

/** A server with OpenAI's Batch API: the format it answers in, and the one endpoint its batches take. */
interface OpenAiServer<X> {
  readonly format: WireFormat<X>
  readonly endpoint: string
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

type Gate = Pick<WireFormat<never>, "apiKey" | "renderError" | "requestIdHeader" | "rateLimitHeaders">

function json(out: Record<string, string>, value: unknown, status = 200): Plan {
  return {
    _tag: "Body",
    status,
    headers: { ...out, "content-type": "application/json" },
    body: JSON.stringify(value),
    delayMs: 0
  }
}

function text(out: Record<string, string>, body: string): Plan {
  return { _tag: "Body", status: 200, headers: { ...out, "content-type": "application/jsonl" }, body, delayMs: 0 }
}

function parsed(body: string | undefined): unknown {
  try {
    return body === undefined ? undefined : JSON.parse(body)
  } catch {
    return undefined
  }
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

/** The batch routes' store and answers for one engine. */
export function makeBatches<O, Z, A, G, V>(engine: EngineParts, formats: {
  readonly openai: WireFormat<O>
  readonly azure: WireFormat<Z>
  readonly anthropic: WireFormat<A>
  readonly gemini: WireFormat<G>
  readonly vertex: WireFormat<V>
}) {
  const batches = new Map<string, Held>()
  const files = new Map<
    string,
    { readonly content: string; readonly filename: string; readonly purpose: string; readonly createdAt: number }
  >()
  let nextId = 1

  function invalid(format: Gate, message: string, out: Record<string, string>): Plan {
    return engine.error(format, { _tag: "InvalidRequest", message }, out)
  }

  function faultOf(input: RouteInput): Result.Result<BatchFault, string> {
    const header = input.headers[batchFaultHeader]
    return typeof header === "string" ? decodeBatchFault(header) : Result.succeed(engine.batchFault ?? noFault)
  }

  /** Each line answered as its call, with the request's headers (its key, its knobs), a failing line with a 500. */
  function answer<X>(
    format: WireFormat<X>,
    input: RouteInput,
    fault: BatchFault,
    lines: ReadonlyArray<{ readonly customId: string; readonly body: unknown; readonly params?: RouteInput["params"] }>
  ): ReadonlyArray<Entry> {
    const { [batchFaultHeader]: _fault, ...headers } = input.headers
    return lines.map(({ body, customId, params }, index) => {
      const lineHeaders = fault.fail.has(index) ? { ...headers, "x-simulator-fault": "status=500" } : headers
      const plan = engine.generate(format, {
        ...input,
        headers: lineHeaders,
        body: JSON.stringify(body),
        params: params ?? input.params
      })
      return { customId, outcome: outcomeOf(plan) }
    })
  }

  function hold(
    dialect: Held["dialect"],
    id: string,
    model: string,
    input: RouteInput,
    fault: BatchFault,
    entries: ReadonlyArray<Entry>,
    inputFileId = "",
    cloud: { readonly job?: Job; readonly prediction?: Prediction } = {}
  ): Held {
    const held: Held = {
      job: cloud.job,
      prediction: cloud.prediction,
      id,
      dialect,
      model,
      inputFileId,
      createdAt: input.now,
      fault,
      entries,
      cancelledAt: undefined,
      files: undefined
    }
    batches.set(id, held)
    return held
  }

  function find(dialect: Held["dialect"], id: string | undefined): Held | undefined {
    const held = id === undefined ? undefined : batches.get(id)
    return held?.dialect === dialect ? held : undefined
  }

  // --- OpenAI -------------------------------------------------------------

  function openAiView(batch: Held, now: number): OpenAiBatch.BatchView {
    const view = viewOf(batch, now)
    if (view.state !== "running" && batch.files === undefined) {
      // Answered lines go to the output file; lines answered with an error, or never run, to the error file (Batch
      // API reference, `error_file_id`).
      const lines = written(batch, view)
      const answered = lines.filter(({ outcome }) => typeof outcome === "object" && outcome._tag === "Reply")
      const failed = lines.filter(({ outcome }) => typeof outcome !== "object" || outcome._tag !== "Reply")
      batch.files = {
        output: answered.length === 0 ? undefined : fileOf(toJsonLines(answered.map(openAiLine(batch))), now),
        error: failed.length === 0 ? undefined : fileOf(toJsonLines(failed.map(openAiLine(batch))), now)
      }
    }
    const { failed, succeeded } = counts(view)
    return {
      id: batch.id,
      inputFileId: batch.inputFileId,
      state: view.state,
      createdAt: batch.createdAt,
      expiresAt: batch.createdAt + 24 * 3_600_000,
      total: batch.entries.length,
      succeeded,
      failed,
      outputFileId: batch.files?.output,
      errorFileId: batch.files?.error,
      refusal: view.state === "refused" ? refusal : undefined
    }
  }

  /** A result file's line of OpenAI's: a request's answer with its status, or a line never run. */
  function openAiLine(batch: Held) {
    return ({ index, outcome }: { readonly index: number; readonly outcome: RawOutcome }) => {
      const id = `batch_req_sim${index}`
      const customId = batch.entries[index]!.customId
      if (typeof outcome === "string") return OpenAiBatch.unfinishedLine(id, customId, outcome)
      return outcome._tag === "Reply"
        ? OpenAiBatch.outputLine(id, customId, 200, outcome.body, `req_sim${index}`)
        : OpenAiBatch.outputLine(id, customId, outcome.status ?? 500, outcome.body, `req_sim${index}`)
    }
  }

  function fileOf(content: string, now: number): string {
    const id = `file-sim${nextId++}`
    files.set(id, { content, filename: "batch_output.jsonl", purpose: "batch_output", createdAt: now })
    return id
  }

  function upload<X>(format: WireFormat<X>, input: RouteInput, out: Record<string, string>): Plan {
    const contentType = input.headers["content-type"]
    const read = OpenAiBatch.readUpload(typeof contentType === "string" ? contentType : undefined, input.body ?? "")
    if (typeof read === "string") return invalid(format, read, out)
    const id = `file-sim${nextId++}`
    files.set(id, { ...read, createdAt: input.now })
    return json(
      out,
      OpenAiBatch.fileObject(id, Buffer.byteLength(read.content), input.now, read.filename, read.purpose)
    )
  }

  function createOpenAi<X>(
    server: OpenAiServer<X>,
    input: RouteInput,
    out: Record<string, string>,
    fault: BatchFault
  ): Plan {
    const { endpoint, format } = server
    const body = parsed(input.body)
    const create = isJsonObject(body) ? body : {}
    const file = typeof create.input_file_id === "string" ? files.get(create.input_file_id) : undefined
    if (file === undefined) return invalid(format, "input_file_id names no uploaded file", out)
    if (create.endpoint !== endpoint) return invalid(format, `the simulator batches only ${endpoint}`, out)
    const lines: Array<{ readonly customId: string; readonly body: unknown }> = []
    for (const line of file.content.split("\n")) {
      if (line.trim() === "") continue
      const value = parsed(line)
      if (!isJsonObject(value) || typeof value.custom_id !== "string" || !isJsonObject(value.body)) {
        return invalid(format, "every line of the input file needs a custom_id and a body", out)
      }
      lines.push({ customId: value.custom_id, body: value.body })
    }
    const model = lines.map((line) => (line.body as JsonObject).model).find((m) => typeof m === "string") as string
    const held = hold(
      "openai",
      `batch_sim${nextId++}`,
      model ?? "",
      input,
      fault,
      answer(format, input, fault, lines),
      create.input_file_id as string
    )
    return json(out, OpenAiBatch.batchObject(openAiView(held, input.now)))
  }

  // --- Anthropic ----------------------------------------------------------

  function anthropicView(batch: Held, now: number, baseUrl: string): AnthropicBatch.BatchView {
    const view = viewOf(batch, now)
    let canceled = 0
    let expired = 0
    let errored = 0
    let succeeded = 0
    for (const outcome of view.outcomes) {
      if (outcome === "cancelled") canceled++
      else if (outcome === "expired") expired++
      else if (outcome?._tag === "Reply") succeeded++
      else if (outcome !== undefined) errored++
    }
    const ended = view.state !== "running"
    return {
      id: batch.id,
      ended,
      cancelling: false,
      createdAt: batch.createdAt,
      expiresAt: batch.createdAt + 24 * 3_600_000,
      endedAt: ended ? Math.min(now, batch.createdAt + batch.fault.ms) : undefined,
      processing: batch.entries.length - view.ran - canceled - expired,
      succeeded,
      errored,
      canceled,
      expired,
      resultsUrl: ended ? `${baseUrl}${AnthropicBatch.batchesPath}/${batch.id}/results` : undefined
    }
  }

  function createAnthropic(input: RouteInput, out: Record<string, string>, fault: BatchFault): Plan {
    // Anthropic validates a batch as it creates it: a refused batch is a refused request.
    if (fault.refuse) return invalid(formats.anthropic, refusal, out)
    const body = parsed(input.body)
    const requests = isJsonObject(body) && Array.isArray(body.requests) ? body.requests : undefined
    if (requests === undefined || requests.length === 0) {
      return invalid(formats.anthropic, "requests: a list of at least one request", out)
    }
    const lines: Array<{ readonly customId: string; readonly body: unknown }> = []
    for (const request of requests) {
      if (!isJsonObject(request) || typeof request.custom_id !== "string" || !isJsonObject(request.params)) {
        return invalid(formats.anthropic, "each request needs a custom_id and params", out)
      }
      lines.push({ customId: request.custom_id, body: request.params })
    }
    const model = (lines[0]!.body as JsonObject).model
    const held = hold(
      "anthropic",
      `msgbatch_sim${nextId++}`,
      typeof model === "string" ? model : "",
      input,
      fault,
      answer(formats.anthropic, input, fault, lines)
    )
    return json(out, AnthropicBatch.batchObject(anthropicView(held, input.now, baseOf(input))))
  }

  // --- Gemini -------------------------------------------------------------

  function geminiView(batch: Held, now: number): GeminiBatch.BatchView {
    const view = viewOf(batch, now)
    const { failed, succeeded } = counts(view)
    return {
      name: batch.id,
      model: batch.model,
      state: view.state,
      createdAt: batch.createdAt,
      total: batch.entries.length,
      succeeded,
      failed,
      refusal: view.state === "refused" ? refusal : undefined,
      responses: view.state === "running" || view.state === "refused"
        ? undefined
        // Gemini's output holds the lines that ran: the ones an expired or cancelled batch never ran are not in it.
        : written(batch, view).flatMap(({ index, outcome }) =>
          typeof outcome === "string" ? [] : [{ key: batch.entries[index]!.customId, outcome }]
        )
    }
  }

  function createGemini(input: RouteInput, out: Record<string, string>, fault: BatchFault, model: string): Plan {
    const body = parsed(input.body)
    const batch = isJsonObject(body) && isJsonObject(body.batch) ? body.batch : undefined
    const config = batch !== undefined && isJsonObject(batch.inputConfig) ? batch.inputConfig : undefined
    const holder = config !== undefined && isJsonObject(config.requests) ? config.requests : undefined
    const requests = holder !== undefined && Array.isArray(holder.requests) ? holder.requests : undefined
    if (requests === undefined || requests.length === 0) {
      return invalid(formats.gemini, "batch.inputConfig.requests.requests: at least one request", out)
    }
    const lines: Array<{ readonly customId: string; readonly body: unknown; readonly params: RouteInput["params"] }> =
      []
    for (const [index, entry] of requests.entries()) {
      if (!isJsonObject(entry) || !isJsonObject(entry.request)) {
        return invalid(formats.gemini, "each inlined request needs a request", out)
      }
      const key = isJsonObject(entry.metadata) && typeof entry.metadata.key === "string"
        ? entry.metadata.key
        : String(index)
      lines.push({ customId: key, body: entry.request, params: { model, method: "generateContent" } })
    }
    const held = hold(
      "gemini",
      `batches/sim${nextId++}`,
      model,
      input,
      fault,
      answer(formats.gemini, input, fault, lines)
    )
    return json(out, GeminiBatch.operation(geminiView(held, input.now)))
  }

  // --- Amazon Bedrock -----------------------------------------------------

  /** The S3 objects jobs read and write, by `bucket/key`. */
  const objects = new Map<string, string>()

  function bedrockView(batch: Held, job: Job, now: number): BedrockBatch.JobView {
    const view = viewOf(batch, now)
    const { failed, succeeded } = ranCounts(view)
    const ended = view.state !== "running"
    if (ended && view.state !== "refused" && batch.files === undefined) writeResults(batch, job, view)
    return {
      jobArn: batch.id,
      jobName: job.jobName,
      modelId: batch.model,
      roleArn: job.roleArn,
      status: view.state === "running"
        ? view.ran === 0 ? "Scheduled" : "InProgress"
        : view.state === "completed"
        ? "Completed"
        : view.state === "cancelled"
        ? "Stopped"
        : view.state === "refused"
        ? "Failed"
        // Out of time: with some records run, partly completed; with none, expired.
        : view.ran === 0
        ? "Expired"
        : "PartiallyCompleted",
      message: view.state === "refused" ? refusal : undefined,
      inputUri: job.inputUri,
      outputUri: job.outputUri,
      submittedAt: batch.createdAt,
      endedAt: ended ? Math.min(now, batch.cancelledAt ?? Infinity, batch.createdAt + batch.fault.ms) : undefined,
      total: batch.entries.length,
      processed: succeeded + failed,
      succeeded,
      failed
    }
  }

  /**
   * The job's results object and its manifest, written once it has ended: the records that ran (those never run are
   * not in it), less the missing ones, the repeated ones twice. An expired job that ran none writes nothing.
   */
  function writeResults(batch: Held, job: Job, view: View) {
    const input = BedrockBatch.s3LocationOf(job.inputUri)!
    const output = BedrockBatch.s3LocationOf(job.outputUri)!
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
    objects.set(
      `${output.bucket}/${manifestKey}`,
      JSON.stringify(BedrockBatch.manifest(bedrockView(batch, job, batch.createdAt + batch.fault.ms)))
    )
  }

  function createBedrock<X>(format: WireFormat<X>, input: RouteInput, out: Record<string, string>, fault: BatchFault) {
    const body = parsed(input.body)
    const create = isJsonObject(body) ? body : {}
    const inputConfig = isJsonObject(create.inputDataConfig) ? create.inputDataConfig.s3InputDataConfig : undefined
    const outputConfig = isJsonObject(create.outputDataConfig) ? create.outputDataConfig.s3OutputDataConfig : undefined
    const inputUri = isJsonObject(inputConfig) ? inputConfig.s3Uri : undefined
    const outputUri = isJsonObject(outputConfig) ? outputConfig.s3Uri : undefined
    const { jobName, modelId, roleArn } = create
    if (
      typeof jobName !== "string" || typeof roleArn !== "string" || typeof modelId !== "string" ||
      typeof inputUri !== "string" || typeof outputUri !== "string" ||
      BedrockBatch.s3LocationOf(outputUri) === undefined
    ) {
      return invalid(
        format,
        "jobName, roleArn, modelId, inputDataConfig.s3InputDataConfig.s3Uri and " +
          "outputDataConfig.s3OutputDataConfig.s3Uri are required, the URIs s3:// ones",
        out
      )
    }
    if (create.modelInvocationType !== "Converse") {
      return invalid(format, "The simulator runs jobs of modelInvocationType Converse only.", out)
    }
    const location = BedrockBatch.s3LocationOf(inputUri)
    const file = location === undefined ? undefined : objects.get(`${location.bucket}/${location.key}`)
    if (file === undefined) return invalid(format, `No input file at ${inputUri}.`, out)
    const records = jsonLines(file)
    if (records.length === 0 || records.some((record) => !isJsonObject(record.modelInput))) {
      return invalid(format, "Every record of the input file needs a modelInput object.", out)
    }
    // A record without an id is given one, as Bedrock does.
    const lines = records.map((record, index) => ({
      customId: typeof record.recordId === "string" ? record.recordId : `RECORD${String(index).padStart(5, "0")}`,
      body: record.modelInput,
      params: { modelId, stream: "false" }
    }))
    const region = /\/\d{8}\/([^/]+)\//.exec(input.headers.authorization ?? "")?.[1] ?? "us-east-1"
    const jobArn = `arn:aws:bedrock:${region}:123456789012:model-invocation-job/sim${String(nextId++).padStart(9, "0")}`
    hold("bedrock", jobArn, modelId, input, fault, answer(format, input, fault, lines), "", {
      job: { jobName, roleArn, inputUri, outputUri, inputs: lines.map((line) => line.body) }
    })
    return json(out, { jobArn })
  }

  /** A job by its ARN or its id. */
  function findJob(id: string | undefined): Held | undefined {
    if (id === undefined) return undefined
    const jobId = BedrockBatch.jobIdOf(id)
    for (const held of batches.values()) {
      if (held.dialect === "bedrock" && BedrockBatch.jobIdOf(held.id) === jobId) return held
    }
    return undefined
  }

  /** The `bucket/key` of an S3 request's path (`/s3/{bucket}/{key}`, path-style), each segment decoded. */
  function objectOf(url: string): string {
    const path = url.split("?", 1)[0]!.slice(s3Root.length + 1)
    return path.split("/").map((segment) => {
      try {
        return decodeURIComponent(segment)
      } catch {
        return segment
      }
    }).join("/")
  }

  function empty(out: Record<string, string>): Plan {
    return { _tag: "Body", status: 200, headers: out, body: "", delayMs: 0 }
  }

  const bedrock = {
    create: <X>(format: WireFormat<X>, input: RouteInput) =>
      creating(format, input, (out, fault) => createBedrock(format, input, out, fault)),
    /** A job read, or stopped (answered with no body, as Bedrock answers). */
    job: <X>(format: WireFormat<X>, input: RouteInput, stop: boolean) =>
      gated(format, input, (out) => {
        const batch = findJob(input.params.id)
        if (batch?.job === undefined) return notFound(format, input, out)
        if (!stop) return json(out, BedrockBatch.jobObject(bedrockView(batch, batch.job, input.now)))
        if (viewOf(batch, input.now).state === "running") batch.cancelledAt = input.now
        return empty(out)
      }),
    putObject: (input: RouteInput): Plan => {
      objects.set(objectOf(input.url), input.body ?? "")
      return empty({})
    },
    getObject: <X>(format: WireFormat<X>, input: RouteInput): Plan => {
      const object = objects.get(objectOf(input.url))
      return object === undefined ? notFound(format, input, {}) : text({}, object)
    }
  }

  // --- Vertex AI ----------------------------------------------------------

  function vertexView(batch: Held, prediction: Prediction, now: number): VertexBatch.JobView {
    const view = viewOf(batch, now)
    const { failed, succeeded } = ranCounts(view)
    const ended = view.state !== "running"
    // The lines that ran are written once it has ended, in the folder the job names: none when it was refused, or
    // expired before it ran any.
    const outputDirectory = ended && view.state !== "refused" && view.ran > 0
      ? VertexBatch.outputDirectoryOf(prediction.outputUriPrefix, batch.createdAt)
      : undefined
    if (outputDirectory !== undefined && batch.files === undefined) writePredictions(batch, prediction, view)
    const stopped = ended ? Math.min(now, batch.cancelledAt ?? Infinity, batch.createdAt + batch.fault.ms) : undefined
    return {
      name: batch.id,
      displayName: prediction.displayName,
      model: prediction.model,
      state: view.state === "running"
        ? view.ran === 0 ? "JOB_STATE_PENDING" : "JOB_STATE_RUNNING"
        : view.state === "completed"
        ? failed === 0 ? "JOB_STATE_SUCCEEDED" : "JOB_STATE_PARTIALLY_SUCCEEDED"
        : view.state === "cancelled"
        ? "JOB_STATE_CANCELLED"
        : view.state === "refused"
        ? "JOB_STATE_FAILED"
        : "JOB_STATE_EXPIRED",
      inputUri: prediction.inputUri,
      outputUriPrefix: prediction.outputUriPrefix,
      outputDirectory,
      createdAt: batch.createdAt,
      endedAt: stopped,
      succeeded,
      failed,
      incomplete: batch.entries.length - succeeded - failed,
      error: view.state === "refused" ? refusal : undefined
    }
  }

  /** The job's `predictions.jsonl`: the lines that ran, less the missing ones, the repeated ones twice. */
  function writePredictions(batch: Held, prediction: Prediction, view: View) {
    const directory = VertexBatch.gcsLocationOf(
      VertexBatch.outputDirectoryOf(prediction.outputUriPrefix, batch.createdAt)
    )!
    const key = keyUnder(directory.name, VertexBatch.predictionsFile)
    batch.files = { output: key, error: undefined }
    const processedAt = Math.min(batch.cancelledAt ?? Infinity, batch.createdAt + batch.fault.ms)
    const lines = written(batch, view).flatMap(({ index, outcome }) =>
      typeof outcome === "string" ? [] : [VertexBatch.outputLine(prediction.requests[index], outcome, processedAt)]
    )
    objects.set(`${directory.bucket}/${key}`, toJsonLines(lines))
  }

  function createVertex(input: RouteInput, out: Record<string, string>, fault: BatchFault): Plan {
    const format = formats.vertex
    const body = parsed(input.body)
    const create = isJsonObject(body) ? body : {}
    const inputConfig = isJsonObject(create.inputConfig) ? create.inputConfig : {}
    const uris = isJsonObject(inputConfig.gcsSource) ? inputConfig.gcsSource.uris : undefined
    const outputConfig = isJsonObject(create.outputConfig) ? create.outputConfig : {}
    const destination = isJsonObject(outputConfig.gcsDestination)
      ? outputConfig.gcsDestination.outputUriPrefix
      : undefined
    const { displayName, model } = create
    const inputUri = Array.isArray(uris) && uris.length === 1 ? uris[0] : undefined
    if (
      typeof displayName !== "string" || typeof model !== "string" || typeof inputUri !== "string" ||
      typeof destination !== "string" || VertexBatch.gcsLocationOf(destination) === undefined ||
      inputConfig.instancesFormat !== "jsonl" || outputConfig.predictionsFormat !== "jsonl"
    ) {
      return invalid(
        format,
        "displayName, model, inputConfig (instancesFormat jsonl, one gcsSource.uris) and outputConfig " +
          "(predictionsFormat jsonl, gcsDestination.outputUriPrefix) are required, the URIs gs:// ones",
        out
      )
    }
    const modelId = /^publishers\/google\/models\/([^/]+)$/.exec(model)?.[1]
    if (modelId === undefined) {
      return invalid(format, `The simulator runs jobs of Google's models only, not ${model}.`, out)
    }
    const location = VertexBatch.gcsLocationOf(inputUri)
    const file = location === undefined ? undefined : objects.get(`${location.bucket}/${location.name}`)
    if (file === undefined) return invalid(format, `No input file at ${inputUri}.`, out)
    const records = jsonLines(file)
    if (records.length === 0 || records.some((record) => !isJsonObject(record.request))) {
      return invalid(format, "Every line of the input file needs a request object.", out)
    }
    const lines = records.map((record, index) => ({
      customId: String(index),
      body: record.request,
      params: { model: modelId, method: "generateContent" }
    }))
    // A request's labels outside Vertex's rules fail its line, as its call would fail.
    const entries = answer(format, input, fault, lines).map((entry, index): Entry => {
      const problem = VertexBatch.labelsProblem(records[index]!.request)
      return problem === undefined
        ? entry
        : { ...entry, outcome: { _tag: "Failed", status: 400, body: JSON.parse(errorJson(400, problem)) } }
    })
    const root = /^\/[^/]+\/(projects\/[^/]+\/locations\/[^/]+)\//.exec(input.url)?.[1] ?? "projects/-/locations/-"
    const held = hold("vertex", `${root}/batchPredictionJobs/sim${nextId++}`, modelId, input, fault, entries, "", {
      prediction: {
        displayName,
        model,
        inputUri,
        outputUriPrefix: destination,
        requests: records.map((record) => record.request)
      }
    })
    return json(out, VertexBatch.jobObject(vertexView(held, held.prediction!, input.now)))
  }

  /** The object a Cloud Storage request names: its bucket and its name (the upload's `name` query). */
  function gcsObjectOf(input: RouteInput): string {
    const name = input.params.object ?? new URL(input.url, "http://localhost").searchParams.get("name") ?? ""
    return `${input.params.bucket ?? ""}/${name}`
  }

  const vertex = {
    create: (input: RouteInput) => creating(formats.vertex, input, (out, fault) => createVertex(input, out, fault)),
    /** A job read, or cancelled (answered with an empty object, as Vertex answers). */
    job: (input: RouteInput, cancel: boolean) =>
      gated(formats.vertex, input, (out) => {
        const name = input.url.split("?", 1)[0]!.replace(/^\/[^/]+\//, "").replace(/:cancel$/, "")
        const batch = find("vertex", name)
        if (batch?.prediction === undefined) return notFound(formats.vertex, input, out)
        if (!cancel) return json(out, VertexBatch.jobObject(vertexView(batch, batch.prediction, input.now)))
        if (viewOf(batch, input.now).state === "running") batch.cancelledAt = input.now
        return json(out, {})
      }),
    upload: (input: RouteInput) =>
      gated(formats.vertex, input, (out) => {
        const object = gcsObjectOf(input)
        objects.set(object, input.body ?? "")
        const slash = object.indexOf("/")
        return json(out, { bucket: object.slice(0, slash), name: object.slice(slash + 1), kind: "storage#object" })
      }),
    media: (input: RouteInput) =>
      gated(formats.vertex, input, (out) => {
        const object = objects.get(gcsObjectOf(input))
        return object === undefined ? notFound(formats.vertex, input, out) : text(out, object)
      })
  }

  // --- Routes -------------------------------------------------------------

  function baseOf(input: RouteInput): string {
    const host = input.headers.host
    return `http://${typeof host === "string" ? host : "localhost"}`
  }

  /** The gate, then `then` with the answer's headers. */
  function gated(format: Gate, input: RouteInput, then: (out: Record<string, string>) => Plan): Plan {
    const gate = engine.gate(format, input.headers, input.now)
    return "_tag" in gate && typeof gate._tag === "string" ? gate as Plan : then(gate as Record<string, string>)
  }

  /** A create, with its batch's faults decoded. */
  function creating(format: Gate, input: RouteInput, then: (out: Record<string, string>, fault: BatchFault) => Plan) {
    return gated(format, input, (out) => {
      const fault = faultOf(input)
      return Result.isFailure(fault)
        ? invalid(format, `Invalid ${batchFaultHeader} header: ${fault.failure}.`, out)
        : then(out, fault.success)
    })
  }

  function notFound(format: Gate, input: RouteInput, out: Record<string, string>): Plan {
    return engine.error(format, { _tag: "NotFound", method: "GET", path: input.url }, out)
  }

  /** The routes of a server with OpenAI's files and batches: OpenAI's, and Azure OpenAI's v1 API's. */
  function openAiRoutes<X>(server: OpenAiServer<X>) {
    const { format } = server
    return {
      upload: (input: RouteInput) => gated(format, input, (out) => upload(format, input, out)),
      fileContent: (input: RouteInput) =>
        gated(format, input, (out) => {
          const file = files.get(input.params.id ?? "")
          return file === undefined ? notFound(format, input, out) : text(out, file.content)
        }),
      create: (input: RouteInput) => creating(format, input, (out, fault) => createOpenAi(server, input, out, fault)),
      batch: (input: RouteInput, cancel: boolean) =>
        gated(format, input, (out) => {
          const batch = find("openai", input.params.id)
          if (batch === undefined) return notFound(format, input, out)
          if (cancel && viewOf(batch, input.now).state === "running") batch.cancelledAt = input.now
          return json(out, OpenAiBatch.batchObject(openAiView(batch, input.now)))
        })
    }
  }

  return {
    bedrock,
    vertex,
    openAi: openAiRoutes({ format: formats.openai, endpoint: OpenAiBatch.endpoint }),
    azure: openAiRoutes({ format: formats.azure, endpoint: "/chat/completions" }),
    createAnthropic: (input: RouteInput) =>
      creating(formats.anthropic, input, (out, fault) => createAnthropic(input, out, fault)),
    anthropic: (input: RouteInput, cancel: boolean) =>
      gated(formats.anthropic, input, (out) => {
        const batch = find("anthropic", input.params.id)
        if (batch === undefined) return notFound(formats.anthropic, input, out)
        if (cancel && viewOf(batch, input.now).state === "running") batch.cancelledAt = input.now
        return json(out, AnthropicBatch.batchObject(anthropicView(batch, input.now, baseOf(input))))
      }),
    anthropicResults: (input: RouteInput) =>
      gated(formats.anthropic, input, (out) => {
        const batch = find("anthropic", input.params.id)
        if (batch === undefined) return notFound(formats.anthropic, input, out)
        const view = viewOf(batch, input.now)
        if (view.state === "running") return invalid(formats.anthropic, "the batch has not ended", out)
        const lines = written(batch, view).map(({ index, outcome }) =>
          AnthropicBatch.resultLine(batch.entries[index]!.customId, outcome)
        )
        return text(out, toJsonLines(lines))
      }),
    createGemini: (input: RouteInput, model: string) =>
      creating(formats.gemini, input, (out, fault) => createGemini(input, out, fault, model)),
    gemini: (input: RouteInput, cancel: boolean) =>
      gated(formats.gemini, input, (out) => {
        const batch = find("gemini", `batches/${input.params.id ?? ""}`)
        if (batch === undefined) return notFound(formats.gemini, input, out)
        if (cancel) {
          if (viewOf(batch, input.now).state === "running") batch.cancelledAt = input.now
          return json(out, {})
        }
        return json(out, GeminiBatch.operation(geminiView(batch, input.now)))
      })
  }
}

export type Batches = ReturnType<typeof makeBatches>
