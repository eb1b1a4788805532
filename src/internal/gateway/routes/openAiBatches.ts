/**
 * OpenAI's Batch API on the gateway (API reference, "Files" and "Batch"): `POST /v1/files` (an input file, `purpose:
 * batch`), `GET /v1/files/{id}` and `/v1/files/{id}/content`, and `POST /v1/batches`, `GET /v1/batches/{id}`, `GET
 * /v1/batches`, `POST /v1/batches/{id}/cancel`. A batch is passed to the batch API of a deployment of its model whose
 * API has one (`Engine.batchDeployment`, `ProviderClient.batch`) with a key of that deployment's pool, its lines
 * decoded as `/v1/chat/completions` bodies: its model checked against the caller's, and its worst case at the batch
 * price held on the caller's budget (and its team's) until the batch is settled, refused before anything is sent when
 * it does not fit. The ids the client is given carry the rest (`batches/ids.ts`), so any instance answers a
 * retrieve, a
 * cancel and the result files, which are written in OpenAI's shape from the provider's lines whatever its API.
 *
 * A batch is recorded open when it is made, and settled once it ended at its provider (`batches/settlement.ts`): by the
 * retrieve that sees it ended (in the background, for the configuration's life), or else by this instance's sweep of
 * the batches recorded open, whichever comes first: each line that ran written to the request log as its row, once,
 * and the batch's hold on the budget of the key that made it replaced by their cost, once.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as HttpRouter from "effect/http/HttpRouter"
import * as HttpServerRequest from "effect/http/HttpServerRequest"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import type { Input as ChatRequest } from "../../../ChatRequest.js"
import type { LlmError } from "../../../LlmError.js"
import * as Pricing from "../../../Pricing.js"
import type { BatchLine, BatchStatus, Credentials } from "../../../ProviderClient.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { customIdPattern, ended, toJsonLines } from "../../wire/batch.js"
import * as Wire from "../../wire/openAiChat/batch.js"
import { completion } from "../../wire/openAiChat/codec.js"
import * as OpenAiChat from "../../wire/openAiChat/dialect.js"
import { errors as openAiErrors } from "../../wire/openAiChat/writer.js"
import type { Caller } from "../access/caller.js"
import * as Ids from "../batches/ids.js"
import * as InputFiles from "../batches/inputFiles.js"
import * as Settlement from "../batches/settlement.js"
import { type OpenBatch, SettlementStore } from "../batches/settlements.js"
import type { BatchDeployment } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import { unbounded, worstCase } from "../keys/auth.js"
import { Journal } from "../observe/record.js"
import * as Request from "../request/context.js"
import { RequestContext } from "../request/context.js"
import * as Outcome from "../request/outcome.js"
import { decodePath, errorResponse, json } from "../serving/answers.js"
import { Configuration } from "../serving/configuration.js"
import { ModelNames } from "../serving/modelNames.js"
import { Requests, type WithBody } from "../serving/requests.js"

/** How many batches of one caller `GET /v1/batches` lists, the newest first. */
const listedBatches = 100

/**
 * How often an instance looks at every batch recorded open (one retrieve of each at its provider): a batch nobody
 * retrieves is settled within about this long of its end.
 */
const sweepEvery = Duration.seconds(30)

/**
 * How long the record of a batch settled is kept (its lines', and that it is settled): past it, the sweep forgets it,
 * and a retrieve of it settles nothing, as for any batch not recorded open.
 */
const settledKept = Duration.days(60)

/**
 * How long a batch's worst case is held on its key's budget unless it is settled first: past the longest a provider
 * runs a batch (Bedrock's jobs, up to a week), so a batch still running is never let go of; one never settled (its
 * record lost) then lapses (`Budget.Hold`).
 */
const heldFor = Duration.days(8)

const decodeCreate = Schema.decodeUnknownResult(Schema.fromJsonString(Wire.CreateBody))
const decodeLine = Schema.decodeUnknownResult(Wire.InputLine)

function invalid(message: string, param: string | null = null): Errors.ErrorAnswer {
  return Errors.answer(400, message, "invalid_request_error", param, null)
}

function notFound(what: "batch" | "file", id: string): Errors.ErrorAnswer {
  return Errors.answer(404, `No ${what} found with id '${id}'.`, "invalid_request_error", "id", "not_found")
}

/** A price at its batch tier, where it has one: the prices a batch's lines are billed at. */
function batchPrice(price: Pricing.Price | undefined): Pricing.Price | undefined {
  const tier = price?.serviceTiers?.[Pricing.batchTier]
  if (price === undefined || tier === undefined) return price
  const { longContext: _long, serviceTiers: _tiers, ...standard } = price
  return { ...standard, ...tier }
}

/** A request's decoded lines: each `/v1/chat/completions` body with its custom id, or what is wrong with one. */
interface Lines {
  readonly model: string
  readonly lines: ReadonlyArray<{ readonly customId: string; readonly request: ChatRequest }>
}

function linesOf(content: string, now: () => number): Result.Result<Lines, Errors.ErrorAnswer> {
  const lines: Array<{ readonly customId: string; readonly request: ChatRequest }> = []
  const seen = new Set<string>()
  let model: string | undefined
  for (const [index, raw] of content.split("\n").filter((line) => line.trim() !== "").entries()) {
    const where = `line ${index + 1} of the input file`
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      return Result.fail(invalid(`${where} is not JSON.`, "input_file_id"))
    }
    const line = decodeLine(parsed)
    if (Result.isFailure(line)) return Result.fail(invalid(`${where}: ${line.failure.message}`, "input_file_id"))
    const { body, custom_id, url } = line.success
    if (url !== Wire.endpoint) {
      return Result.fail(
        invalid(`${where} is sent to ${url}: a batch's lines go to ${Wire.endpoint}.`, "input_file_id")
      )
    }
    if (!customIdPattern.test(custom_id) || seen.has(custom_id)) {
      return Result.fail(invalid(
        `${where}: its custom_id must be unique, of letters, digits, _ and - (at most 64), as every provider's batch ` +
          "API takes it.",
        "input_file_id"
      ))
    }
    seen.add(custom_id)
    const decoded = OpenAiChat.decode(JSON.stringify(body), now)
    if (Result.isFailure(decoded)) return Result.fail(invalid(`${where}: ${decoded.failure.message}`, "input_file_id"))
    if (decoded.success.stream) return Result.fail(invalid(`${where} asks for a stream.`, "input_file_id"))
    if (model !== undefined && decoded.success.model !== model) {
      return Result.fail(invalid(`${where} names ${decoded.success.model}: a batch names one model.`, "input_file_id"))
    }
    model = decoded.success.model
    lines.push({ customId: custom_id, request: decoded.success.request })
  }
  if (model === undefined) return Result.fail(invalid("The input file holds no line.", "input_file_id"))
  return Result.succeed({ model, lines })
}

/** The routes of OpenAI's Batch API over the configuration served. */
export const routes = Effect.gen(function*() {
  const { engine, now, options } = yield* Configuration
  const { served, withBody } = yield* Requests
  const journal = yield* Journal
  const settlements = yield* SettlementStore
  // This instance, as the lease on a batch's settling names its holder.
  const holder = `gateway-${randomUUID()}`
  const { notFoundAnswer } = yield* ModelNames
  const { auth } = options
  const inputFiles = InputFiles.memory()
  // The ids of the batches each caller made through this instance, the newest last, for `GET /v1/batches`.
  const made = new Map<string, Array<string>>()
  const seconds = () => Math.floor(now() / 1000)

  function ownerOf(caller: Caller | undefined): string {
    return caller?.id ?? ""
  }

  function failed(context: Request.Service, answer: Errors.ErrorAnswer) {
    Outcome.failed(context.outcome, answer.code ?? undefined, answer)
    return errorResponse(answer, openAiErrors)
  }

  function fromLlm(error: LlmError): Errors.ErrorAnswer {
    return Errors.fromLlmError(error, now(), (path) => path)
  }

  /**
   * A key of `deployment`'s pool for a batch's step, given back at once (a batch holds no slot of it): the
   * least-loaded, or the one `keyId` names, `missing` when the pool has none of that id.
   */
  function credentialsOf(deployment: BatchDeployment, keyId?: string, missing?: Errors.ErrorAnswer) {
    const { pool } = deployment
    const taken = keyId === undefined ? Effect.mapError(pool.take(), fromLlm) : pool.tryTakeKey(keyId)
    // The key is the pool's but cannot be used now (cooling, disabled, at its cap): the batch is there, later.
    const busy = Errors.answer(
      503,
      "The provider key this batch was made with cannot be used now; retry later.",
      "server_error",
      null,
      "batch_key_unavailable",
      1
    )
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(taken), (lease) =>
        lease !== undefined
          ? Effect.as(pool.release(lease), lease.credentials)
          : Effect.flatMap(
            pool.status,
            (keys) => Effect.fail(keys.some((key) => key.keyId === keyId) || missing === undefined ? busy : missing)
          ))
    )
  }

  /** What an id of `kind` names, when it is one of the caller's: its deployment, and its key's credentials. */
  function opened(kind: Ids.Kind, id: string, caller: Caller | undefined) {
    return reopened(kind, id, ownerOf(caller))
  }

  /** What an id of `kind` names, when `owner` (a caller's id; any, when `undefined`) made it. */
  function reopened(kind: Ids.Kind, id: string, owner: string | undefined) {
    const missing = notFound(kind === "batch" ? "batch" : "file", id)
    const claim = Ids.claimed(kind, id)
    const deployment = claim === undefined ? undefined : engine.batchDeployment(claim.ref.deployment)
    if (claim === undefined || deployment === undefined || (owner !== undefined && claim.ref.caller !== owner)) {
      return Effect.fail(missing)
    }
    return Effect.flatMap(
      credentialsOf(deployment, claim.ref.keyId, missing),
      (credentials) =>
        claim.signedBy(credentials.key)
          ? Effect.succeed({ ref: claim.ref, deployment, credentials })
          : Effect.fail(missing)
    )
  }

  /** The batch object the client is given for `status`. */
  function batchObject(ref: Ids.BatchRef, status: BatchStatus, secret: Credentials["key"]) {
    const results = ended(status.state) && status.state !== "refused"
    return Wire.batchObject({
      id: Ids.sealed("batch", ref, secret),
      inputFileId: ref.inputFile,
      state: status.state,
      createdAt: ref.createdAt,
      expiresAt: ref.createdAt + InputFiles.ttlMillis,
      total: status.total,
      succeeded: status.succeeded,
      failed: status.failed,
      outputFileId: results ? Ids.sealed("output", ref, secret) : undefined,
      errorFileId: results ? Ids.sealed("error", ref, secret) : undefined,
      refusal: status.detail
    })
  }

  // `POST /v1/files`: an input file kept for a batch.
  function upload({ text }: WithBody) {
    return RequestContext.use((context) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
        const read = Wire.readUpload(request.headers["content-type"], text)
        if (typeof read === "string") return Effect.succeed(failed(context, invalid(`${read}.`, "file")))
        if (read.purpose !== "batch") {
          return Effect.succeed(failed(context, invalid("The gateway takes files of purpose `batch` only.", "purpose")))
        }
        const file: InputFiles.InputFile = {
          id: `file-gwi-${randomUUID()}`,
          filename: read.filename,
          content: read.content,
          bytes: Buffer.byteLength(read.content),
          createdAt: now(),
          owner: ownerOf(context.caller)
        }
        inputFiles.put(file)
        return Effect.succeed(
          json(200, JSON.stringify(Wire.fileObject(file.id, file.bytes, file.createdAt, file.filename, "batch")))
        )
      })
    )
  }

  // A result file's JSONL: the provider's lines, each custom id once (its first), in OpenAI's output or error shape.
  function resultFile(kind: "output" | "error", lines: ReadonlyArray<BatchLine>): string {
    const seen = new Set<string>()
    const out: Array<unknown> = []
    for (const line of lines) {
      const customId = line.customId
      if (customId === undefined || seen.has(customId)) continue
      seen.add(customId)
      const id = `batch_req_${out.length}`
      const outcome = line.outcome
      if (outcome === "expired" || outcome === "cancelled") {
        if (kind === "error") out.push(Wire.unfinishedLine(id, customId, outcome))
      } else if (Result.isSuccess(outcome)) {
        const reply = outcome.success
        const body = JSON.parse(completion(reply, reply.id === "" ? `chatcmpl-${id}` : reply.id, seconds()))
        if (kind === "output") out.push(Wire.outputLine(id, customId, 200, body, id))
      } else if (kind === "error") {
        const answer = fromLlm(outcome.failure)
        out.push(Wire.outputLine(id, customId, answer.status, JSON.parse(openAiErrors.body(answer)), id))
      }
    }
    return toJsonLines(out)
  }

  // The content of the file of `id`: an input file this instance keeps, or a batch's result file.
  function contentOf(id: string, caller: Caller | undefined) {
    const input = inputFiles.get(id, ownerOf(caller), now())
    if (input !== undefined) return Effect.succeed({ file: input.filename, purpose: "batch", content: input.content })
    const kind = id.startsWith("file-gwe1.") ? "error" : "output"
    return Effect.gen(function*() {
      const { credentials, deployment, ref } = yield* opened(kind, id, caller)
      const status = yield* Effect.mapError(
        deployment.api.retrieve(ref.batch, deployment.model, credentials),
        fromLlm
      )
      if (!ended(status.state) || status.state === "refused") return yield* Effect.fail(notFound("file", id))
      const lines = yield* Effect.mapError(deployment.api.results(status, deployment.model, credentials), fromLlm)
      return { file: `batch_${kind}.jsonl`, purpose: `batch_${kind}`, content: resultFile(kind, lines) }
    })
  }

  // A route of the id in its path, answered for the request's caller.
  function byId<A>(
    handle: (id: string, caller: Caller | undefined) => Effect.Effect<A, Errors.ErrorAnswer>,
    answer: (a: A) => HttpServerResponse.HttpServerResponse
  ) {
    return served(() =>
      RequestContext.use((context) =>
        Effect.flatMap(
          HttpRouter.params,
          (params) =>
            Effect.match(handle(decodePath(params["id"] ?? ""), context.caller), {
              onFailure: (error) => failed(context, error),
              onSuccess: answer
            })
        )
      )
    )
  }

  // `POST /v1/batches`: the input file's lines checked, reserved against the budget, and passed to the provider.
  function create({ text }: WithBody) {
    return RequestContext.use((context) => {
      const caller = context.caller
      return Effect.gen(function*() {
        const body = decodeCreate(text)
        if (Result.isFailure(body)) return yield* Effect.fail(invalid(body.failure.message))
        const { completion_window, endpoint, input_file_id } = body.success
        if (endpoint !== Wire.endpoint) {
          return yield* Effect.fail(invalid(`The gateway runs batches of ${Wire.endpoint} only.`, "endpoint"))
        }
        if (completion_window !== Wire.completionWindow) {
          return yield* Effect.fail(invalid(`The completion window is ${Wire.completionWindow}.`, "completion_window"))
        }
        const file = inputFiles.get(input_file_id, ownerOf(caller), now())
        if (file === undefined) return yield* Effect.fail(notFound("file", input_file_id))
        const { lines, model } = yield* Effect.fromResult(linesOf(file.content, now))
        context.model.set(model)
        const target = engine.resolve(model)
        if (target === undefined) {
          // As a call naming nothing: after it took from the key's rate limit, trying names costs what calling does.
          yield* auth.limit(caller)
          return yield* Effect.fail(notFoundAnswer(model, caller))
        }
        const holding = { id: `batch-hold-${randomUUID()}`, until: now() + Duration.toMillis(heldFor) }
        // A model the key may not call is refused here (403, `admitBatch`), before the deployments are looked at.
        if (!auth.allows(caller, model)) yield* auth.admitBatch(caller, model, 0, holding)
        // The first a call of the model can reach (its own deployments, then its fallbacks') whose API has one.
        const deployment = target.deployments.map((name) => engine.batchDeployment(name)).find((found) =>
          found !== undefined
        )
        if (deployment === undefined) {
          return yield* Effect.fail(invalid(`No deployment of ${model} has a batch API.`, "input_file_id"))
        }
        const sent = lines.map(({ customId, request }) => ({
          customId,
          request: auth.bounded(caller, { ...request, model: deployment.model })
        }))
        const priced = { price: batchPrice(deployment.price), leastMaxTokens: deployment.leastMaxTokens }
        let estimate = 0
        for (const { request } of sent) {
          const refused = caller?.budget === undefined ? undefined : unbounded(priced, request)
          if (refused !== undefined) return yield* Effect.fail(refused)
          estimate += worstCase(priced, request)
        }
        // Held until the batch is settled: refused here, before anything is sent, when it does not fit beside what is
        // spent and held (the batches of the key still running among it).
        const hold = yield* auth.admitBatch(caller, model, estimate, holding)
        // A batch the provider refused ran nothing: its hold is let go. One interrupted while it was sent may be the
        // provider's: its hold lapses at its end (`Budget.Hold`).
        const { credentials, status } = yield* Effect.flatMap(
          credentialsOf(deployment),
          (credentials) =>
            Effect.mapBoth(deployment.api.submit(sent, deployment.model, credentials), {
              onFailure: fromLlm,
              onSuccess: (status) => ({ credentials, status })
            })
        ).pipe(
          Effect.tapError(() => hold === undefined ? Effect.void : Effect.ignore(auth.settleBatch(caller, hold, 0)))
        )
        const ref: Ids.BatchRef = {
          deployment: deployment.name,
          keyId: credentials.keyId,
          batch: status.id,
          caller: ownerOf(caller),
          inputFile: input_file_id,
          createdAt: now()
        }
        const object = batchObject(ref, status, credentials.key)
        // Recorded open with its hold: what is settled (a batch not recorded, its store away, is not: its hold lapses
        // at its end).
        yield* settlements.open({ id: String(object.id), openedAt: ref.createdAt, hold }).pipe(
          Effect.catch((error) =>
            Effect.logError("a batch was not recorded open: it will not be settled").pipe(
              Effect.annotateLogs({ reason: error.reason })
            )
          )
        )
        const owned = made.get(ref.caller) ?? []
        owned.push(String(object.id))
        if (owned.length > listedBatches) owned.shift()
        made.set(ref.caller, owned)
        return json(200, JSON.stringify(object))
      }).pipe(Effect.catch((answer: Errors.ErrorAnswer) => Effect.succeed(failed(context, answer))))
    })
  }

  /** A settled line's row in the request log, in the name of the key that made the batch. */
  function loggedOf(ref: Ids.BatchRef, deployment: BatchDeployment, caller: Caller | undefined) {
    return (line: Settlement.Billed) =>
      Effect.suspend(() => {
        const start = now()
        const context = Request.make({
          id: `${ref.batch}:${line.customId}`,
          method: "POST",
          url: "/v1/batches",
          start,
          caller,
          payload: false
        })
        context.model.set(deployment.model)
        Outcome.answeredAs(context.outcome, 200)
        Outcome.billed(context.outcome, `${line.provider}/${line.model}`, line.usage, line.cost)
        return journal.written(context, now(), undefined)
      })
  }

  type Opened = Effect.Success<ReturnType<typeof reopened>>

  /**
   * The batch `id` settled, ended at its provider as `status`, when it is recorded open (in the database, or without
   * one in this instance's memory: made here): its result's lines logged, each once, and charged to `caller` (its
   * maker) in place of its hold, once (`batches/settlement.ts`).
   */
  const settled = Effect.fn("OpenAiBatches.settled")(function*(
    id: string,
    { credentials, deployment, ref }: Opened,
    status: BatchStatus,
    caller: Caller | undefined
  ): Effect.fn.Return<void, LlmError | StoreUnavailableError> {
    const recorded = yield* settlements.settled(id)
    if (recorded === undefined || recorded.closed) return
    // A refused batch ran nothing; its record is closed all the same.
    const lines = status.state === "refused" ? [] : yield* deployment.api.results(status, deployment.model, credentials)
    yield* Settlement.settle(
      {
        store: settlements,
        batch: id,
        holder,
        logged: loggedOf(ref, deployment, caller),
        charged: (hold, cost) => auth.settleBatch(caller, hold, cost)
      },
      Settlement.billed(lines, deployment.price)
    )
  })

  // The batches this instance is settling now: a retrieve or sweep meeting one leaves it to that settling, rather
  // than read the provider's result again only to find the lease held.
  const settling = new Set<string>()

  /**
   * The batch `id` settled here unless this instance is settling it already; a settling that failed (the provider or
   * the store away) is left to the next retrieve or sweep.
   */
  function settledHere(id: string, found: Opened, status: BatchStatus, caller: Caller | undefined) {
    if (settling.has(id)) return Effect.void
    settling.add(id)
    return settled(id, found, status, caller).pipe(
      Effect.catch((error) =>
        Effect.logWarning("a batch was not settled; it is tried again").pipe(
          Effect.annotateLogs({ reason: error._tag === "StoreUnavailableError" ? error.reason : error.message })
        )
      ),
      Effect.ensuring(Effect.sync(() => settling.delete(id)))
    )
  }

  // Settlings a retrieve starts run for the configuration's life, not the request's: a batch's lines may be many.
  const lasting = yield* Effect.scope

  function retrieve(id: string, caller: Caller | undefined) {
    return Effect.flatMap(
      opened("batch", id, caller),
      (found) =>
        Effect.flatMap(
          Effect.mapError(
            found.deployment.api.retrieve(found.ref.batch, found.deployment.model, found.credentials),
            fromLlm
          ),
          (status) =>
            Effect.as(
              ended(status.state) ? Effect.forkIn(settledHere(id, found, status, caller), lasting) : Effect.void,
              batchObject(found.ref, status, found.credentials.key)
            )
        )
    )
  }

  // A batch recorded open, looked at: settled when it ended. One of a deployment this configuration does not serve
  // stays open for a configuration that does; one its provider does not answer now, for the next sweep.
  const swept = Effect.fn("OpenAiBatches.swept")(function*(batch: OpenBatch) {
    const found = yield* Effect.option(reopened("batch", batch.id, undefined))
    if (Option.isNone(found)) return
    const { credentials, deployment, ref } = found.value
    const status = yield* Effect.option(deployment.api.retrieve(ref.batch, deployment.model, credentials))
    if (Option.isSome(status) && ended(status.value.state)) {
      yield* settledHere(batch.id, found.value, status.value, auth.callerOf(ref.caller))
    }
  })

  // The sweep, for the configuration's life: a batch nobody retrieves is settled too, and those settled long ago are
  // forgotten.
  const sweep = Effect.flatMap(
    Effect.orElseSucceed(settlements.opened, () => []),
    (open) => Effect.forEach(open, swept, { discard: true })
  ).pipe(
    Effect.andThen(Effect.suspend(() => Effect.ignore(settlements.forget(now() - Duration.toMillis(settledKept)))))
  )
  yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(sweepEvery)))

  function cancel(id: string, caller: Caller | undefined) {
    return Effect.flatMap(
      opened("batch", id, caller),
      ({ credentials, deployment, ref }) =>
        Effect.mapBoth(deployment.api.cancel(ref.batch, deployment.model, credentials), {
          onFailure: fromLlm,
          onSuccess: (status) => batchObject(ref, status, credentials.key)
        })
    )
  }

  // `GET /v1/batches`: the caller's batches made through this instance, the newest first, each as it stands now.
  const list = served(({ request }) =>
    RequestContext.use((context) => {
      const url = new URL(request.url, "http://gateway")
      const limit = Math.min(listedBatches, Math.max(1, Number(url.searchParams.get("limit") ?? 20) || 20))
      const after = url.searchParams.get("after")
      const ids = [...(made.get(ownerOf(context.caller)) ?? [])].reverse()
      const start = after === null ? 0 : ids.indexOf(after) + 1
      const page = ids.slice(start, start + limit)
      return Effect.match(Effect.forEach(page, (id) => retrieve(id, context.caller), { concurrency: 4 }), {
        onFailure: (error) => failed(context, error),
        onSuccess: (data) =>
          json(
            200,
            JSON.stringify({
              object: "list",
              data,
              first_id: page[0] ?? null,
              last_id: page.at(-1) ?? null,
              has_more: start + limit < ids.length
            })
          )
      })
    })
  )

  function fileObject(id: string, caller: Caller | undefined) {
    return Effect.map(
      contentOf(id, caller),
      ({ content, file, purpose }) => Wire.fileObject(id, Buffer.byteLength(content), now(), file, purpose)
    )
  }

  return {
    upload: withBody("/v1/files", upload),
    file: byId(fileObject, (object) => json(200, JSON.stringify(object))),
    content: byId(
      contentOf,
      ({ content }) => HttpServerResponse.text(content, { status: 200, contentType: "application/jsonl" })
    ),
    create: withBody("/v1/batches", create),
    retrieve: byId(retrieve, (object) => json(200, JSON.stringify(object))),
    cancel: byId(cancel, (object) => json(200, JSON.stringify(object))),
    list
  }
})
