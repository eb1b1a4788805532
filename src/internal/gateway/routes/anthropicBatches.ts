/**
 * Anthropic's Message Batches API on the gateway (API reference, "Message Batches"): create, retrieve, list, cancel
 * and, once the batch ended, its `results` JSONL. Each request's `params` is decoded as a `/v1/messages` body; the
 * batch is made, reserved for, read, cancelled and settled by the gateway's batching (`batches/batching.ts`), shared
 * with OpenAI's `/v1/batches`, so it runs on any deployment with a batch API, written in Anthropic's shape.
 *
 * `request_counts` come from the provider's counts, which hold a line that failed, expired or was cancelled as one: an
 * ended batch counts them as its end names them (`expired`, `canceled`, else `errored`), a running one as `errored`.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Wire from "../../wire/anthropic/batch.js"
import * as Anthropic from "../../wire/anthropic/dialect.js"
import { errors, message } from "../../wire/anthropic/writer.js"
import { ended, toJsonLines } from "../../wire/batch.js"
import type { Caller } from "../access/caller.js"
import { type Batching, completionWindow, invalid, type Read, type Served } from "../batches/batching.js"
import type { Entry } from "../batches/intake.js"
import { Configuration } from "../serving/configuration.js"
import { Requests } from "../serving/requests.js"
import { batchRoutes, jsonl } from "./openAiBatches.js"

// The body's requests read one by one, as the batch's lines are (`intake.ts`), not whole.
const decodeCreate = Schema.decodeUnknownResult(
  Schema.fromJsonString(Schema.Struct({ requests: Schema.Array(Schema.Unknown) }))
)
const decodeRequest = Schema.decodeUnknownResult(Wire.BatchRequest)

/** The body's requests as the batch's entries: each `params` decoded as a `/v1/messages` body. */
function* entriesOf(requests: ReadonlyArray<unknown>): Generator<Result.Result<Entry, string>> {
  for (const [index, request] of requests.entries()) {
    const where = `requests[${index}]`
    const read = decodeRequest(request)
    if (Result.isFailure(read)) {
      yield Result.fail(`${where}: ${read.failure.message}`)
      return
    }
    const { custom_id, params } = read.success
    yield Result.succeed({ where, customId: custom_id, decoded: Anthropic.decode(JSON.stringify(params)) })
  }
}

/** The origin the client addressed, for the absolute `results_url` Anthropic's clients fetch. */
function originOf(headers: Readonly<Record<string, string | undefined>>): string {
  const scheme = headers["x-forwarded-proto"] === "https" ? "https" : "http"
  return `${scheme}://${headers["host"] ?? "localhost"}`
}

/** The routes of Anthropic's Message Batches API over the configuration served, its batches made by `batching`. */
export const routes = (batching: Batching) =>
  Effect.gen(function*() {
    const { now } = yield* Configuration
    const { asked, byId, create, list } = batchRoutes(yield* Requests, batching, "message", errors, objectOf)

    /** The message batch object of `read` (id `id`); its results once it ended, at the origin `request` asked. */
    function objectOf(
      id: string,
      { found, status }: Read,
      request: HttpServerRequest.HttpServerRequest,
      cancelling = false
    ) {
      const done = ended(status.state)
      const unfinished = Math.max(0, status.total - status.succeeded - status.failed)
      const failedAs = (state: typeof status.state) => status.state === state ? status.failed + unfinished : 0
      const expired = failedAs("expired")
      const canceled = failedAs("cancelled")
      return Wire.batchObject({
        id,
        ended: done,
        cancelling,
        createdAt: found.ref.createdAt,
        expiresAt: found.ref.createdAt + Duration.toMillis(completionWindow),
        // The gateway learns of the end when it reads it; the batch object's `ended_at` says when it was read so.
        endedAt: done ? now() : undefined,
        processing: done ? 0 : unfinished,
        succeeded: status.succeeded,
        errored: done && (expired > 0 || canceled > 0) ? 0 : status.failed,
        canceled,
        expired,
        resultsUrl: done && status.state !== "refused"
          ? `${originOf(request.headers)}${Wire.batchesPath}/${id}/results`
          : undefined
      })
    }

    // The results' JSONL: the lines as served (a reply a guardrail blocked is its line's error), in Anthropic's shape.
    function resultsFile(lines: ReadonlyArray<Served>): string {
      const out: Array<unknown> = []
      for (const { customId, outcome } of lines) {
        if (outcome === "expired" || outcome === "cancelled") {
          out.push(Wire.resultLine(customId, outcome))
        } else if (Result.isSuccess(outcome)) {
          const reply = outcome.success
          const body = JSON.parse(message(reply, reply.id.startsWith("msg_") ? reply.id : `msg_batch_${customId}`))
          out.push(Wire.resultLine(customId, { _tag: "Reply", body }))
        } else {
          const answer = outcome.failure
          out.push(
            Wire.resultLine(customId, { _tag: "Failed", status: answer.status, body: JSON.parse(errors.body(answer)) })
          )
        }
      }
      return toJsonLines(out)
    }

    // The body's requests as the batch's entries (no input file).
    function input(text: string) {
      const body = decodeCreate(text)
      return Result.isFailure(body)
        ? Effect.fail(invalid(body.failure.message, "requests"))
        : Effect.succeed({ entries: entriesOf(body.success.requests), inputFile: "" })
    }

    // `GET /v1/messages/batches/{id}/results`: the ended batch's results, in Anthropic's shape.
    function results(id: string, caller: Caller | undefined) {
      return Effect.flatMap(batching.retrieve("message", id, caller), ({ found, status }) =>
        !ended(status.state) || status.state === "refused"
          ? Effect.fail(invalid(`Batch '${id}' has not ended: its results are not ready.`, "id"))
          : Effect.map(batching.results(found, status, caller), resultsFile))
    }

    return {
      // `POST /v1/messages/batches`: the requests checked, reserved against the budget, and passed to the provider.
      create: create(Wire.batchesPath, "requests", input),
      retrieve: asked("retrieve"),
      cancel: asked("cancel"),
      results: byId(results, jsonl),
      // `GET /v1/messages/batches`: a page of the caller's batches.
      list: list("after_id", {})
    }
  })
