/**
 * The simulator's OpenAI Batch API, its files and batches, served by OpenAI's paths and Azure OpenAI's v1 API's over
 * one store of both: a file uploaded, a batch created from it (each line answered as its call), read and cancelled, its
 * output and error files written once it has ended.
 */
import * as Schema from "effect/Schema"
import type { WireFormat } from "../../../simulator/WireFormat.js"
import { isJsonObject, JsonObjectSchema } from "../../json.js"
import type { RawOutcome } from "../../providers/batch.js"
import { toJsonLines } from "../../wire/batch.js"
import * as OpenAiBatch from "../../wire/openAiChat/batch.js"
import { type BatchFault, refusal } from "../batchFault.js"
import {
  type BatchServer,
  cancel,
  counts,
  type Held,
  json,
  parsed,
  text,
  viewOf,
  type Written,
  written
} from "../batchServer.js"
import type { Plan } from "../plan.js"
import type { RouteInput } from "../routes.js"

/** A server with OpenAI's Batch API: the format it answers in, and the one endpoint its batches take. */
interface OpenAiServer<X> {
  readonly format: WireFormat<X>
  readonly endpoint: string
}

/** What an OpenAI batch was made with: its input file. */
interface Made {
  readonly inputFileId: string
}

interface File {
  readonly content: string
  readonly filename: string
  readonly purpose: string
  readonly createdAt: number
}

/** A result file's line of OpenAI's: a request's answer with its status, or a line never run. */
function lineOf(batch: Held<Made>) {
  return ({ index, outcome }: Written) => {
    const id = `batch_req_sim${index}`
    const customId = batch.entries[index]!.customId
    if (typeof outcome === "string") return OpenAiBatch.unfinishedLine(id, customId, outcome)
    const status = outcome._tag === "Reply" ? 200 : outcome.status ?? 500
    return OpenAiBatch.outputLine(id, customId, status, outcome.body, `req_sim${index}`)
  }
}

const isLine = Schema.is(Schema.Struct({ custom_id: Schema.String, body: JsonObjectSchema }))

/** The lines of an input file, or what is wrong with them. */
function linesOf(file: File) {
  const values = file.content.split("\n").filter((line) => line.trim() !== "").map(parsed)
  return values.every(isLine)
    ? values.map((value) => ({ customId: value.custom_id, body: value.body }))
    : "every line of the input file needs a custom_id and a body"
}

/** The OpenAI Batch API's routes of OpenAI's paths and Azure OpenAI's, over one store of files and batches. */
export function openAiBatches<O, Z>(server: BatchServer, formats: {
  readonly openai: WireFormat<O>
  readonly azure: WireFormat<Z>
}) {
  const batches = new Map<string, Held<Made>>()
  const files = new Map<string, File>()

  /** A file stored, a result file unless named otherwise: its id. */
  function fileOf(content: string, now: number, named = { filename: "batch_output.jsonl", purpose: "batch_output" }) {
    const id = `file-sim${server.nextId()}`
    files.set(id, { content, filename: named.filename, purpose: named.purpose, createdAt: now })
    return id
  }

  function viewed(batch: Held<Made>, now: number): OpenAiBatch.BatchView {
    const view = viewOf(batch, now)
    if (view.state !== "running" && batch.files === undefined) {
      // Answered lines go to the output file; lines answered with an error, or never run, to the error file (Batch API
      // reference, `error_file_id`).
      const lines = written(batch, view)
      const answered = lines.filter(({ outcome }) => isReply(outcome))
      const failed = lines.filter(({ outcome }) => !isReply(outcome))
      batch.files = {
        output: answered.length === 0 ? undefined : fileOf(toJsonLines(answered.map(lineOf(batch))), now),
        error: failed.length === 0 ? undefined : fileOf(toJsonLines(failed.map(lineOf(batch))), now)
      }
    }
    const { failed, succeeded } = counts(view)
    return {
      id: batch.id,
      inputFileId: batch.made.inputFileId,
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

  function upload<X>(format: WireFormat<X>, input: RouteInput, out: Record<string, string>): Plan {
    const contentType = input.headers["content-type"]
    const read = OpenAiBatch.readUpload(typeof contentType === "string" ? contentType : undefined, input.body ?? "")
    if (typeof read === "string") return server.invalid(format, read, out)
    const id = fileOf(read.content, input.now, read)
    return json(
      out,
      OpenAiBatch.fileObject(id, Buffer.byteLength(read.content), input.now, read.filename, read.purpose)
    )
  }

  function create<X>(openAi: OpenAiServer<X>, input: RouteInput, out: Record<string, string>, fault: BatchFault) {
    const { endpoint, format } = openAi
    const body = parsed(input.body)
    const request = isJsonObject(body) ? body : {}
    const file = typeof request.input_file_id === "string" ? files.get(request.input_file_id) : undefined
    if (file === undefined) return server.invalid(format, "input_file_id names no uploaded file", out)
    if (request.endpoint !== endpoint) return server.invalid(format, `the simulator batches only ${endpoint}`, out)
    const lines = linesOf(file)
    if (typeof lines === "string") return server.invalid(format, lines, out)
    const model = lines.map((line) => line.body.model).find((m) => typeof m === "string") as string
    const batch = server.hold(batches, format, input, fault, {
      id: `batch_sim${server.nextId()}`,
      model: model ?? "",
      lines,
      made: { inputFileId: request.input_file_id as string }
    })
    return json(out, OpenAiBatch.batchObject(viewed(batch, input.now)))
  }

  /** The routes of a server with OpenAI's files and batches. */
  function routes<X>(openAi: OpenAiServer<X>) {
    const { format } = openAi
    return {
      upload: (input: RouteInput) => server.gated(format, input, (out) => upload(format, input, out)),
      fileContent: (input: RouteInput) =>
        server.found(format, input, files.get(input.params.id ?? ""), (file, out) => text(out, file.content)),
      create: (input: RouteInput) => server.creating(format, input, (out, fault) => create(openAi, input, out, fault)),
      batch: (input: RouteInput, cancelled: boolean) =>
        server.found(format, input, batches.get(input.params.id ?? ""), (batch, out) => {
          if (cancelled) cancel(batch, input.now)
          return json(out, OpenAiBatch.batchObject(viewed(batch, input.now)))
        })
    }
  }

  return {
    openAi: routes({ format: formats.openai, endpoint: OpenAiBatch.endpoint }),
    azure: routes({ format: formats.azure, endpoint: "/chat/completions" })
  }
}

function isReply(outcome: RawOutcome): boolean {
  return typeof outcome === "object" && outcome._tag === "Reply"
}
