/**
 * OpenAI's Batch API on the gateway (API reference, "Files" and "Batch"): `POST /v1/files` (`purpose: batch`), `GET
 * /v1/files/{id}` and its `/content`, and `POST /v1/batches`, `GET /v1/batches/{id}`, `GET /v1/batches`, `POST
 * /v1/batches/{id}/cancel`, over `batches/batching.ts`. A batch's lines are `/v1/chat/completions` bodies; the ids the
 * client is given carry what answers for them (`batches/ids.ts`), so any instance answers a retrieve, a cancel and the
 * result files, written in OpenAI's shape whatever the provider's API. A batch is settled once it ended
 * (`batches/settlement.ts`): each line that ran is charged once to its key's budget and logged as its row.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { parseJson } from "../../json.js"
import { ended, toJsonLines } from "../../wire/batch.js"
import type { ErrorWriter } from "../../wire/dialect.js"
import * as Wire from "../../wire/openAiChat/batch.js"
import { completion } from "../../wire/openAiChat/codec.js"
import * as OpenAiChat from "../../wire/openAiChat/dialect.js"
import { errors as openAiErrors } from "../../wire/openAiChat/writer.js"
import type { Caller } from "../access/caller.js"
import {
  type Batching,
  completionWindow,
  invalid,
  notFound,
  type Read,
  type Served,
  storeAnswer
} from "../batches/batching.js"
import * as Ids from "../batches/ids.js"
import { type Entry, linesOf } from "../batches/intake.js"
import { BatchStore, type InputFile } from "../batches/store.js"
import type * as Errors from "../errorAnswer.js"
import type * as Request from "../request/context.js"
import { RequestContext } from "../request/context.js"
import { decodePath, json, notedFailure } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { Requests, type WithBody } from "../serving/requests.js"

const decodeCreate = Schema.decodeUnknownResult(Schema.fromJsonString(Wire.CreateBody))
const decodeLine = Schema.decodeUnknownResult(Wire.InputLine)

/** An input file's lines as the batch's entries: each a `/v1/chat/completions` body with its custom id. */
function* entriesOf(content: string, now: () => number): Generator<Result.Result<Entry, string>> {
  for (const [index, raw] of content.split("\n").filter((line) => line.trim() !== "").entries()) {
    const where = `line ${index + 1} of the input file`
    const parsed = parseJson(raw)
    if (Option.isNone(parsed)) {
      yield Result.fail(`${where} is not JSON.`)
      return
    }
    const line = decodeLine(parsed.value)
    if (Result.isFailure(line)) {
      yield Result.fail(`${where}: ${line.failure.message}`)
      return
    }
    const { body, custom_id, url } = line.success
    if (url !== Wire.endpoint) {
      yield Result.fail(`${where} is sent to ${url}: a batch's lines go to ${Wire.endpoint}.`)
      return
    }
    yield Result.succeed({ where, customId: custom_id, decoded: OpenAiChat.decode(JSON.stringify(body), now) })
  }
}

export const ok = (object: unknown) => json(200, JSON.stringify(object))

/** A JSONL answer of `content`, 200. */
export const jsonl = (content: string) =>
  HttpServerResponse.text(content, { status: 200, contentType: "application/jsonl" })

/** What a batch's create reads of its body: its lines' entries, and the input file it names ("" for none). */
interface Input {
  readonly entries: Iterable<Result.Result<Entry, string>>
  readonly inputFile: string
}

/**
 * What the batch APIs' routes share, over `requests` and `batching`, for batches of `kind`: a failure's answer in the
 * words of `errors`, its outcome recorded failed (`failed`); a route of the id in its path (`byId`); a batch's create,
 * its retrieve or cancel (`asked`), a page of the caller's batches (`list`), each answered as its batch object
 * (`objectOf`).
 */
export function batchRoutes(
  { served, withBody }: Requests["Service"],
  batching: Batching,
  kind: Ids.BatchKind,
  errors: ErrorWriter,
  objectOf: (id: string, read: Read, request: HttpServerRequest.HttpServerRequest, cancelling?: boolean) => unknown
) {
  const failed = (context: Request.Service, answer: Errors.ErrorAnswer) => notedFailure(context, answer, errors)

  // A route of the id in its path, answered for the request's caller.
  function byId<A>(
    handle: (
      id: string,
      caller: Caller | undefined,
      request: HttpServerRequest.HttpServerRequest
    ) => Effect.Effect<A, Errors.ErrorAnswer>,
    answer: (a: A) => HttpServerResponse.HttpServerResponse
  ) {
    return served(({ request }) =>
      RequestContext.use((context) =>
        Effect.flatMap(
          HttpRouter.params,
          (params) =>
            Effect.match(handle(decodePath(params["id"] ?? ""), context.caller, request), {
              onFailure: (error) => failed(context, error),
              onSuccess: answer
            })
        )
      )
    )
  }

  // A batch's create at `path`: its lines read (`input`, of the body's text), checked, reserved against the budget and
  // passed to the provider; `param` is the body's field of the lines.
  function create(
    path: string,
    param: string,
    input: (text: string, caller: Caller | undefined) => Effect.Effect<Input, Errors.ErrorAnswer>
  ) {
    return withBody(path, ({ text }) =>
      RequestContext.use((context) =>
        Effect.gen(function*() {
          // A request of the key's rate limit, as every call's, taken before its lines are read.
          yield* batching.admitted(context.caller)
          const { entries, inputFile } = yield* input(text, context.caller)
          const lines = yield* Effect.mapError(linesOf(entries), (problem) => invalid(problem, param))
          context.model.set(lines.model)
          const made = yield* batching.submit(kind, context.caller, lines, inputFile, param)
          return ok(objectOf(made.id, made, yield* HttpServerRequest.HttpServerRequest))
        }).pipe(Effect.catch((answer: Errors.ErrorAnswer) => Effect.succeed(failed(context, answer))))
      ))
  }

  // The batch of the id in its path retrieved or cancelled at its provider, as it stands then.
  const asked = (step: "retrieve" | "cancel") =>
    byId(
      (id, caller, request) =>
        Effect.map(
          batching[step](kind, id, caller),
          (read) => objectOf(id, read, request, step === "cancel" && !ended(read.status.state))
        ),
      ok
    )

  // A page of the caller's batches after the one the query's `after` names, the newest first, each as it stands now,
  // the page's fields after `head`.
  function list(after: string, head: object) {
    return served(({ request }) =>
      RequestContext.use((context) => {
        const query = new URL(request.url, "http://gateway").searchParams
        return Effect.match(batching.page(kind, context.caller, query.get(after), query.get("limit")), {
          onFailure: (error) => failed(context, error),
          onSuccess: ({ batches, hasMore }) =>
            ok({
              ...head,
              data: batches.map((read) => objectOf(read.id, read, request)),
              first_id: batches[0]?.id ?? null,
              last_id: batches.at(-1)?.id ?? null,
              has_more: hasMore
            })
        })
      })
    )
  }

  return { failed, byId, create, asked, list }
}

/** The batch object the client is given for `read`, its ids signed under its secret (`Opened.signer`). */
function batchObject({ found: { ref, signer: secret }, status }: Read) {
  const results = ended(status.state) && status.state !== "refused"
  return Wire.batchObject({
    id: Ids.sealed("batch", ref, secret),
    inputFileId: ref.inputFile,
    state: status.state,
    createdAt: ref.createdAt,
    expiresAt: ref.createdAt + Duration.toMillis(completionWindow),
    total: status.total,
    succeeded: status.succeeded,
    failed: status.failed,
    outputFileId: results ? Ids.sealed("output", ref, secret) : undefined,
    errorFileId: results ? Ids.sealed("error", ref, secret) : undefined,
    refusal: status.detail
  })
}

// A result file's JSONL in OpenAI's output or error shape (a reply a guardrail blocked is its line's error).
function resultFile(kind: "output" | "error", lines: ReadonlyArray<Served>, seconds: number): string {
  const out: Array<unknown> = []
  for (const { customId, outcome } of lines) {
    const id = `batch_req_${out.length}`
    if (outcome === "expired" || outcome === "cancelled") {
      if (kind === "error") out.push(Wire.unfinishedLine(id, customId, outcome))
    } else if (Result.isSuccess(outcome)) {
      const reply = outcome.success
      const body = JSON.parse(completion(reply, reply.id === "" ? `chatcmpl-${id}` : reply.id, seconds))
      if (kind === "output") out.push(Wire.outputLine(id, customId, 200, body, id))
    } else if (kind === "error") {
      const answer = outcome.failure
      out.push(Wire.outputLine(id, customId, answer.status, JSON.parse(openAiErrors.body(answer)), id))
    }
  }
  return toJsonLines(out)
}

/** The input file `POST /v1/batches` names, when its body asks for a batch the gateway runs. */
function requestedFile(text: string): Effect.Effect<string, Errors.ErrorAnswer> {
  const body = decodeCreate(text)
  if (Result.isFailure(body)) return Effect.fail(invalid(body.failure.message))
  const { completion_window, endpoint, input_file_id } = body.success
  if (endpoint !== Wire.endpoint) {
    return Effect.fail(invalid(`The gateway runs batches of ${Wire.endpoint} only.`, "endpoint"))
  }
  if (completion_window !== Wire.completionWindow) {
    return Effect.fail(invalid(`The completion window is ${Wire.completionWindow}.`, "completion_window"))
  }
  return Effect.succeed(input_file_id)
}

/** The routes of OpenAI's Batch API over the configuration served, its batches made by `batching`. */
export const routes = (batching: Batching) =>
  Effect.gen(function*() {
    const { now } = yield* Configuration
    const requests = yield* Requests
    const { ownerOf } = batching
    const store = yield* BatchStore
    const { asked, byId, create, failed, list } = batchRoutes(
      requests,
      batching,
      "batch",
      openAiErrors,
      (_id, read) => batchObject(read)
    )
    const seconds = () => Math.floor(now() / 1000)

    // `POST /v1/files`: an input file kept for a batch.
    function upload({ text }: WithBody) {
      return RequestContext.use((context) =>
        Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
          const read = Wire.readUpload(request.headers["content-type"], text)
          if (typeof read === "string") return Effect.succeed(failed(context, invalid(`${read}.`, "file")))
          if (read.purpose !== "batch") {
            return Effect.succeed(
              failed(context, invalid("The gateway takes files of purpose `batch` only.", "purpose"))
            )
          }
          const file: InputFile = {
            id: `file-gwi-${randomUUID()}`,
            filename: read.filename,
            content: read.content,
            bytes: Buffer.byteLength(read.content),
            createdAt: now(),
            owner: ownerOf(context.caller)
          }
          // Kept where every instance reads it: a batch of it may be made on another.
          return Effect.match(store.putFile(file, now()), {
            onFailure: (error) => failed(context, storeAnswer("the file could not be kept")(error)),
            onSuccess: () => ok(Wire.fileObject(file.id, file.bytes, file.createdAt, file.filename, "batch"))
          })
        })
      )
    }

    // The content of the file of `id`: an input file the caller uploaded, or one of its batches' result files.
    function contentOf(id: string, caller: Caller | undefined) {
      const kind = id.startsWith("file-gwe1.") ? "error" : "output"
      return Effect.gen(function*() {
        const input = yield* Effect.mapError(
          store.file(id, ownerOf(caller), now()),
          storeAnswer("the file could not be read")
        )
        if (input !== undefined) return { file: input.filename, purpose: "batch", content: input.content }
        const { found, status } = yield* batching.asked(kind, id, caller, "retrieve")
        if (!ended(status.state) || status.state === "refused") return yield* Effect.fail(notFound("file", id))
        const lines = yield* batching.results(found, status, caller)
        return { file: `batch_${kind}.jsonl`, purpose: `batch_${kind}`, content: resultFile(kind, lines, seconds()) }
      })
    }

    // The lines of the input file `POST /v1/batches` names: the caller's.
    const input = Effect.fnUntraced(function*(text: string, caller: Caller | undefined) {
      const inputFile = yield* requestedFile(text)
      const file = yield* Effect.mapError(
        store.file(inputFile, ownerOf(caller), now()),
        storeAnswer("the batch's input file could not be read")
      )
      if (file === undefined) return yield* Effect.fail(notFound("file", inputFile))
      return { entries: entriesOf(file.content, now), inputFile }
    })

    function fileObject(id: string, caller: Caller | undefined) {
      return Effect.map(
        contentOf(id, caller),
        ({ content, file, purpose }) => Wire.fileObject(id, Buffer.byteLength(content), now(), file, purpose)
      )
    }

    return {
      upload: requests.withBody("/v1/files", upload),
      file: byId(fileObject, ok),
      content: byId(contentOf, ({ content }) => jsonl(content)),
      // `POST /v1/batches`: the input file's lines checked, reserved against the budget, and passed to the provider.
      create: create("/v1/batches", "input_file_id", input),
      retrieve: asked("retrieve"),
      cancel: asked("cancel"),
      // `GET /v1/batches`: a page of the caller's batches.
      list: list("after", { object: "list" })
    }
  })
