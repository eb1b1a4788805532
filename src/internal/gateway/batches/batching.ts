/**
 * The gateway's batches, whatever wire the client speaks (OpenAI's `/v1/batches`, Anthropic's `/v1/messages/batches`).
 * A batch goes to the batch API of a deployment of its model that has one, whatever its dialect, else to the gateway's
 * own (`calls.ts`), which runs its lines as calls. Its worst case is held on the caller's budget until it is settled,
 * and it is refused before anything is sent when that does not fit. Its id is signed (`ids.ts`) with the pool key it
 * was made with, or the gateway's own secret for a key that is no secret (`idSecret.ts`), so any instance answers for
 * it and no client forges one. Its requests and results pass the guardrails a call of its model runs
 * (docs/guardrails.md). It is settled once (`settlement.ts`), by the retrieve that sees it ended or by this instance's
 * sweep, whichever comes first. A route writes the wire; this module is the rest.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import { randomUUID } from "node:crypto"
import type { ChatResponse } from "../../../ChatResponse.js"
import type { Guardrail } from "../../../Guardrail.js"
import type { LlmError } from "../../../LlmError.js"
import * as Pricing from "../../../Pricing.js"
import type { BatchLine, BatchStatus, Credentials } from "../../../ProviderClient.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { checkReply, checkRequest } from "../../guardrail/guarded.js"
import { inSlices } from "../../inSlices.js"
import { ended } from "../../wire/batch.js"
import type * as Authentication from "../access/authentication.js"
import type { Caller } from "../access/caller.js"
import type { BatchDeployment, Engine, GatewayBatchApi, Target } from "../engine.js"
import * as Errors from "../errorAnswer.js"
import * as Guardrails from "../guardrails.js"
import { unbounded, worstCase } from "../keys/auth.js"
import type { Metrics } from "../observe/metrics.js"
import { Journal, type Service as Journaling } from "../observe/record.js"
import * as Request from "../request/context.js"
import { RequestContext } from "../request/context.js"
import * as Outcome from "../request/outcome.js"
import * as BatchKeys from "./batchKeys.js"
import * as Calls from "./calls.js"
import * as Ids from "./ids.js"
import * as IdSecret from "./idSecret.js"
import type { Line, Lines } from "./intake.js"
import type { RunsFull } from "./runs.js"
import * as Settlement from "./settlement.js"
import { type OpenBatch, type Settlements, SettlementStore } from "./settlements.js"
import { BatchStore, type FileTooLarge, type Store } from "./store.js"

/** How many batches a page of a list holds at most. */
const listedBatches = 100

/** How long a provider has to run a batch (OpenAI's `completion_window`, `24h`), from its create. */
export const completionWindow = Duration.days(1)

/** How often the sweep retrieves every batch recorded open: one nobody retrieves is settled within about this long. */
const sweepEvery = Duration.seconds(30)

/**
 * How long the record of a batch settled is kept (its lines', and that it is settled): past it, the sweep forgets it,
 * and a retrieve of it settles nothing, as for any batch not recorded open.
 */
const settledKept = Duration.days(60)

/**
 * How long a batch's worst case is held unless settled first: past the longest a provider runs a batch (Bedrock's jobs,
 * up to a week), so a running batch is never let go of, while one never settled (its record lost) lapses.
 */
const heldFor = Duration.days(8)

/** The path of each kind of batch, as its lines' rows in the request log name it. */
const paths: Readonly<Record<Ids.BatchKind, string>> = { batch: "/v1/batches", message: "/v1/messages/batches" }

export function invalid(message: string, param: string | null = null): Errors.ErrorAnswer {
  return Errors.answer(400, message, "invalid_request_error", param, null)
}

export function notFound(what: "batch" | "file", id: string): Errors.ErrorAnswer {
  return Errors.answer(404, `No ${what} found with id '${id}'.`, "invalid_request_error", "id", "not_found")
}

/**
 * The answer to a failed step of the batches' stores: a file too large (413, naming the limit), or the store away (503
 * `database_unavailable`, saying what could not be read or written: `unanswered`; its reason only logged).
 */
export function storeAnswer(unanswered: string) {
  return (error: FileTooLarge | StoreUnavailableError): Errors.ErrorAnswer =>
    error._tag === "FileTooLarge"
      ? Errors.answer(413, error.message, "invalid_request_error", "file", "file_too_large")
      : Errors.databaseUnavailable(error.reason, unanswered)
}

type Step = keyof GatewayBatchApi

/**
 * What of a batch each step of its batch API reads or writes, as the client is told when the gateway's own (`calls.ts`)
 * finds its database away.
 */
const unanswered: Readonly<Record<Step, string>> = {
  submit: "the batch could not be recorded, and none of its lines was sent",
  retrieve: "the batch could not be read",
  cancel: "the batch's cancel could not be recorded or read back",
  results: "the batch's results could not be read"
}

/** A batch run as calls refused by a bound of the runs kept (`runs.ts`), naming it. */
function runsFullAnswer(error: RunsFull): Errors.ErrorAnswer {
  return Errors.answer(429, error.message, "rate_limit_error", null, "batch_runs_full", 60)
}

/** A price at its batch tier, where it has one: the prices a batch's lines are billed at. */
function batchPrice(price: Pricing.Price | undefined): Pricing.Price | undefined {
  const tier = price?.serviceTiers?.[Pricing.batchTier]
  if (price === undefined || tier === undefined) return price
  const { longContext: _long, serviceTiers: _tiers, ...standard } = price
  return { ...standard, ...tier }
}

/**
 * A batch line's request through the request guardrails, as a call's is (`checkRequest`); a block refuses the batch,
 * naming the line's custom id. Asked of every line before anything is sent or held.
 */
export function guardedLine(
  chain: ReadonlyArray<Guardrail>,
  line: Line,
  param: string | null
): Effect.Effect<Line, Errors.ErrorAnswer, RequestContext> {
  if (chain.length === 0) return Effect.succeed(line)
  // As a call's: the log's payload keeps none of a body a guardrail blocked or masked.
  return RequestContext.use((context) =>
    Effect.mapBoth(checkRequest(chain, line.request), {
      onFailure: (error) => {
        Outcome.requestWithheld(context.payload)
        const blocked = Errors.guardrailBlocked(error)
        return { ...blocked, message: `The request of custom_id ${line.customId}: ${blocked.message}`, param }
      },
      onSuccess: (request) => {
        if (JSON.stringify(request) !== JSON.stringify(line.request)) Outcome.requestWithheld(context.payload)
        return { customId: line.customId, request }
      }
    })
  )
}

/** A line of a batch's result as its client is served it: its reply, its error's answer, or that it never ran. */
export interface Served {
  readonly customId: string
  readonly outcome: Result.Result<ChatResponse, Errors.ErrorAnswer> | "expired" | "cancelled"
}

/** How many lines' replies are checked at once: a webhook guardrail is asked once a line. */
const checkedAtOnce = 8

/** A batch the caller may read; `signer`, the secret its id was signed under, signs the ids its answers give too. */
export interface Opened {
  readonly ref: Ids.BatchRef
  readonly deployment: BatchDeployment
  readonly credentials: Credentials
  readonly signer: Redacted.Redacted<string>
}

/** A batch as it stands at its provider. */
export interface Read {
  readonly found: Opened
  readonly status: BatchStatus
}

/** A batch made: what its id carries, its id of `kind` signed, and its provider's status. */
export interface Made extends Read {
  readonly id: string
}

/** A page of a list of batches: its batches, the newest first, and whether older ones follow. */
export interface Page {
  readonly batches: ReadonlyArray<Made>
  readonly hasMore: boolean
}

/** What batching is built over, from the configuration served; `providerKeys` holds every key ids were signed under. */
export interface Configured {
  readonly engine: Engine
  readonly metrics: Metrics
  readonly now: () => number
  readonly auth: Authentication.Auth
  readonly providerKeys: ReadonlyArray<Redacted.Redacted<string>>
  readonly notFoundAnswer: (model: string, caller?: Caller) => Errors.ErrorAnswer
}

/** The gateway's own batch API (`calls.ts`), as `Calls.make` builds it. */
type BatchCalls = Effect.Success<ReturnType<typeof Calls.make>>

/** The provider keys batches are made and read with, each named in a batch's id by its tag (`BatchKeys.make`). */
type Keys = ReturnType<typeof BatchKeys.make>

function ownerOf(caller: Caller | undefined): string {
  return caller?.id ?? ""
}

/** Whether `deployment` is the gateway's own batch API, its lines run as calls. */
function runAsCalls(deployment: BatchDeployment): boolean {
  return deployment.provider === Calls.provider
}

/** The batch `found` asked of its provider: read (`retrieve`), or cancelled (`cancel`); as it stands then. */
function statusOf(
  found: Opened,
  step: "retrieve" | "cancel"
): Effect.Effect<BatchStatus, LlmError | StoreUnavailableError> {
  const { credentials, deployment, ref } = found
  return deployment.api[step](ref.batch, deployment.model, credentials)
}

/** Where the batches of the configuration `engine` serves go: a deployment's batch API, or the gateway's own. */
function makeDeployments(engine: Engine, calls: BatchCalls) {
  /**
   * The batch API of `model` run as calls for `owner`, its ids signed with a key of the deployment `signer`'s pool and
   * its worst case at the model's live price; none without that pool.
   */
  function asCalls(
    model: string,
    signer: string,
    target: Target | undefined,
    owner: string
  ): BatchDeployment | undefined {
    const pool = engine.keyPool(signer)
    return pool === undefined ? undefined : {
      name: signer,
      provider: Calls.provider,
      model,
      api: calls.api(owner),
      pool,
      price: target?.price,
      leastMaxTokens: target?.leastMaxTokens ?? 0
    }
  }

  /** The deployment a batch's ref names: the gateway's own batch API for a batch run as calls, or a provider's. */
  function deploymentOf(ref: Ids.BatchRef): BatchDeployment | undefined {
    const model = Calls.modelOf(ref.batch)
    return model === undefined
      ? engine.batchDeployment(ref.deployment)
      : asCalls(model, ref.deployment, engine.resolve(model), ref.caller)
  }

  /**
   * Where a batch of `model` by `owner` goes: the first deployment a call of it can reach (its own, then its
   * fallbacks') whose API has a batch API; else the gateway's own, signed with the first key pool its calls reach.
   */
  function batchDeploymentFor(model: string, target: Target, owner: string): BatchDeployment | undefined {
    let found: BatchDeployment | undefined
    for (const name of target.deployments) found ??= engine.batchDeployment(name)
    for (const name of target.deployments) found ??= asCalls(model, name, target, owner)
    return found
  }

  return { deploymentOf, batchDeploymentFor }
}

/**
 * The key of `deployment`'s pool a batch's id names by `tag`: `missing` when the pool has none of that tag, 503 when
 * one the pool cannot lend now (cooling, disabled, at its cap) may be it: the batch is there, later.
 */
function credentialsOf(keys: Keys, deployment: BatchDeployment, tag: string, missing: Errors.ErrorAnswer) {
  const busy = Errors.answer(
    503,
    "The provider key this batch was made with cannot be used now; retry later.",
    "server_error",
    null,
    "batch_key_unavailable",
    1
  )
  return Effect.mapError(keys.tagged(deployment.pool, tag), (why) => why === "busy" ? busy : missing)
}

/** What a batch's id is opened with. */
interface Opening {
  readonly keys: Keys
  readonly providerKeys: ReadonlyArray<Redacted.Redacted<string>>
  readonly idSecret: Effect.Effect<Redacted.Redacted<string>, Errors.ErrorAnswer>
  readonly deploymentOf: (ref: Ids.BatchRef) => BatchDeployment | undefined
}

/** How a batch's id is signed and opened again. */
function makeOpening({ deploymentOf, idSecret, keys, providerKeys }: Opening) {
  /**
   * The secret a batch made with `key` has its ids signed under: the key when it is a configured provider key (every
   * instance serving the deployment holds it), else the gateway's own: a keyless or cloud stand-in is no secret.
   */
  function signerFor(key: Redacted.Redacted<string>): Effect.Effect<Redacted.Redacted<string>, Errors.ErrorAnswer> {
    const secret = providerKeys.some((known) => Redacted.value(known) === Redacted.value(key))
    return secret ? Effect.succeed(key) : idSecret
  }

  /** What an id of `kind` names, when `owner` (a caller's id; any, when `undefined`) made it. */
  function reopened(kind: Ids.Kind, id: string, owner: string | undefined): Effect.Effect<Opened, Errors.ErrorAnswer> {
    const missing = notFound(kind === "output" || kind === "error" ? "file" : "batch", id)
    const claim = Ids.claimed(kind, id)
    const deployment = claim === undefined ? undefined : deploymentOf(claim.ref)
    if (claim === undefined || deployment === undefined || (owner !== undefined && claim.ref.caller !== owner)) {
      return Effect.fail(missing)
    }
    return Effect.flatMap(
      credentialsOf(keys, deployment, claim.ref.keyTag, missing),
      (credentials) =>
        Effect.flatMap(signerFor(credentials.key), (signer) =>
          claim.signedBy(signer)
            ? Effect.succeed({ ref: claim.ref, deployment, credentials, signer })
            : Effect.fail(missing))
    )
  }

  return { signerFor, reopened }
}

/** What a batch's submit is built over. */
interface Submitting extends Pick<Configured, "auth" | "engine" | "metrics" | "notFoundAnswer" | "now"> {
  readonly batchDeploymentFor: (model: string, target: Target, owner: string) => BatchDeployment | undefined
  readonly signerFor: (key: Redacted.Redacted<string>) => Effect.Effect<Redacted.Redacted<string>, Errors.ErrorAnswer>
  readonly failedAt: (step: Step) => (error: LlmError | StoreUnavailableError) => Errors.ErrorAnswer
  readonly keys: Keys
  readonly calls: BatchCalls
  readonly settlements: Settlements
  readonly store: Store
}

/**
 * `lines` made a batch at a deployment of their model with a batch API, or else run by the gateway as calls. Refused
 * before anything is sent when the caller may not call the model, a guardrail blocks a request (a masked one is sent
 * masked) or its worst case does not fit the budget; held until settled. `param` is the body's field of the lines.
 */
function makeSubmit(submitting: Submitting) {
  const { auth, batchDeploymentFor, calls, engine, failedAt, keys, metrics, notFoundAnswer, now } = submitting
  const { settlements, signerFor, store } = submitting
  return Effect.fn("Batching.submit")(function*(
    kind: Ids.BatchKind,
    caller: Caller | undefined,
    { lines, model }: Lines,
    inputFile: string,
    param: string | null
  ): Effect.fn.Return<Made, Errors.ErrorAnswer, RequestContext> {
    const target = engine.resolve(model)
    if (target === undefined) return yield* Effect.fail(notFoundAnswer(model, caller))
    const holding = { id: `batch-hold-${randomUUID()}`, until: now() + Duration.toMillis(heldFor) }
    // A model the key may not call is refused here (403, `admitBatch`), before the deployments are looked at.
    if (!auth.allows(caller, model)) yield* auth.admitBatch(caller, model, 0, holding)
    const owner = ownerOf(caller)
    const deployment = batchDeploymentFor(model, target, owner)
    if (deployment === undefined) {
      return yield* Effect.fail(invalid(`No deployment of ${model} has a batch API or a key pool.`, param))
    }
    // The chain a call of the model runs for the caller; a key naming a guardrail a reload removed is refused.
    const chain = Guardrails.chainOf(engine.guardrails, target.guardrails, caller?.guardrails)
    if (Result.isFailure(chain)) return yield* Effect.fail(Errors.guardrailUnavailable(chain.failure))
    const guarded = chain.success.length === 0
      ? lines
      : yield* Effect.forEach(lines, (line) => guardedLine(chain.success, line, param))
    // Run as calls, a batch's lines are billed as calls: at the live price, the highest its calls can reach.
    const asCallsHere = runAsCalls(deployment)
    const priced = asCallsHere
      ? target
      : { price: batchPrice(deployment.price), leastMaxTokens: deployment.leastMaxTokens }
    let estimate = 0
    const sent = yield* inSlices(guarded, ({ customId, request }) => {
      const bounded = auth.bounded(caller, { ...request, model: deployment.model })
      const refused = caller?.budget === undefined ? undefined : unbounded(priced, bounded)
      if (refused !== undefined) return Result.fail(refused)
      estimate += worstCase(priced, bounded)
      return Result.succeed({ customId, request: bounded })
    })
    // A provider's batch runs its lines on its own time: each is a request of the key's rate limit, taken now (its
    // lines run as calls take theirs as each starts, `calls.ts`).
    if (!asCallsHere) yield* auth.limit(caller, sent.length)
    // Held until the batch is settled: refused here, before anything is sent, when it does not fit beside what is
    // spent and held (the batches of the key still running among it).
    const hold = yield* auth.admitBatch(caller, model, estimate, holding)
    // A batch the provider refused ran nothing: its hold is let go. One interrupted while sent may be the provider's:
    // its hold lapses at its end (`Budget.Hold`). The signer is known first: a batch is answered for by its id alone.
    const { credentials, signer, status } = yield* Effect.flatMap(
      Effect.mapError(keys.leastLoaded(deployment.pool), failedAt("submit")),
      (credentials) =>
        Effect.flatMap(signerFor(credentials.key), (signer) =>
          Effect.mapBoth(
            asCallsHere
              ? calls.start(owner, sent, deployment.model)
              : deployment.api.submit(sent, deployment.model, credentials),
            {
              onFailure: (error) => error._tag === "RunsFull" ? runsFullAnswer(error) : failedAt("submit")(error),
              onSuccess: (status) => ({ credentials, signer, status })
            }
          ))
    ).pipe(
      Effect.tapError(() => hold === undefined ? Effect.void : Effect.ignore(auth.settleBatch(caller, hold, 0)))
    )
    const ref: Ids.BatchRef = {
      deployment: deployment.name,
      keyTag: Ids.keyTag(credentials.key),
      batch: status.id,
      caller: owner,
      inputFile,
      createdAt: now(),
      model
    }
    const id = Ids.sealed(kind, ref, signer)
    // Recorded open with its hold, to be settled (one not recorded, its store away, is not: its hold lapses).
    yield* settlements.open({ id, openedAt: ref.createdAt, hold }).pipe(
      Effect.catch((error) =>
        Effect.logError("a batch was not recorded open: it will not be settled").pipe(
          Effect.annotateLogs({ reason: error.reason })
        )
      )
    )
    metrics.batchCreated(deployment)
    // Recorded for its maker's lists, on every instance; a batch whose record failed is answered all the same.
    yield* store.record({ id, kind, owner: ref.caller, createdAt: ref.createdAt }, now()).pipe(
      Effect.catch((error) =>
        Effect.logError("a batch was not recorded for its lists").pipe(Effect.annotateLogs({ reason: error.reason }))
      )
    )
    return { id, found: { ref, deployment, credentials, signer }, status }
  })
}

/** What a batch's settled lines are logged with: the request log, the metrics and the clock. */
interface Logging extends Pick<Configured, "metrics" | "now"> {
  readonly journal: Journaling
}

/** A settled line's row in the request log, in the name of the key that made the batch, and its metrics. */
function loggedOf({ journal, metrics, now }: Logging, kind: Ids.BatchKind, found: Opened, caller: Caller | undefined) {
  const { deployment, ref } = found
  return (line: Settlement.Billed) =>
    Effect.suspend(() => {
      metrics.batchLine(deployment, "answered", line)
      const start = now()
      const context = Request.make({
        id: `${ref.batch}:${line.customId}`,
        method: "POST",
        url: paths[kind],
        start,
        caller,
        payload: false
      })
      context.model.set(deployment.model)
      Outcome.answeredAs(context.outcome, 200)
      Outcome.billed(context.outcome, `${line.provider}/${line.model}`, line.usage, line.cost)
      return journal.written(context, now()) ?? Effect.void
    })
}

/** What settling is built over. */
interface Settling extends Logging, Pick<Configured, "auth"> {
  readonly settlements: Settlements
  readonly reopened: (
    kind: Ids.Kind,
    id: string,
    owner: string | undefined
  ) => Effect.Effect<Opened, Errors.ErrorAnswer>
}

/**
 * Batches settled once they ended: by the retrieve that sees it (the function this gives, `settledHere`), or else by
 * this instance's sweep of the batches recorded open, forked for the scope's life (the configuration's).
 */
const makeSettling = Effect.fnUntraced(function*(settling: Settling) {
  const { auth, now, reopened, settlements } = settling
  // This instance, as the lease on a batch's settling names its holder.
  const holder = `gateway-${randomUUID()}`

  /**
   * The ended batch `id` settled when it is recorded open (database, else shared Redis, else this instance's memory):
   * its lines logged and charged to its maker in place of its hold, each once, and `status` kept (`settlement.ts`).
   */
  const settled = Effect.fn("Batching.settled")(function*(
    kind: Ids.BatchKind,
    id: string,
    found: Opened,
    status: BatchStatus,
    caller: Caller | undefined
  ): Effect.fn.Return<void, LlmError | StoreUnavailableError> {
    const recorded = yield* settlements.settled(id)
    if (recorded === undefined || recorded.closed) return
    const { credentials, deployment } = found
    // A refused batch ran nothing; its record is closed all the same.
    const lines = status.state === "refused" ? [] : yield* deployment.api.results(status, deployment.model, credentials)
    yield* Settlement.settle(
      {
        store: settlements,
        batch: id,
        holder,
        last: status,
        logged: loggedOf(settling, kind, found, caller),
        // Its end and unanswered lines in the metrics, each custom id once (answered ones count as recorded).
        ended: Effect.sync(() => {
          for (const { outcome } of Settlement.distinctLines(lines)) {
            if (typeof outcome === "string") settling.metrics.batchLine(deployment, outcome)
            else if (Result.isFailure(outcome)) settling.metrics.batchLine(deployment, "failed")
          }
          settling.metrics.batchEnded(deployment, status.state)
        }),
        charged: (hold, cost) => auth.settleBatch(caller, hold, cost)
      },
      Settlement.billed(lines, runAsCalls(deployment) ? "live" : deployment.price)
    )
  })

  // The batches this instance is settling now, by id, for the configuration's life: a retrieve or sweep meeting one
  // leaves it to that settling, rather than read the provider's result again only to find the lease held.
  const inProgress = yield* FiberMap.make<string>()

  /**
   * The batch `id` settled here, in the background, unless this instance is settling it already; a settling that
   * failed (the provider or the store away) is left to the next retrieve or sweep.
   */
  function settledHere(
    kind: Ids.BatchKind,
    id: string,
    found: Opened,
    status: BatchStatus,
    caller: Caller | undefined
  ) {
    const settling = Effect.catch(
      settled(kind, id, found, status, caller),
      (error) =>
        Effect.logWarning("a batch was not settled; it is tried again").pipe(
          Effect.annotateLogs({ reason: error._tag === "StoreUnavailableError" ? error.reason : error.message })
        )
    )
    return FiberMap.run(inProgress, id, settling, { onlyIfMissing: true })
  }

  // A batch recorded open, looked at: settled when it ended. One of a deployment this configuration does not serve
  // stays open for a configuration that does; one its provider does not answer now, for the next sweep.
  const swept = Effect.fn("Batching.swept")(function*(batch: OpenBatch) {
    const kind = Ids.batchKindOf(batch.id)
    if (kind === undefined) return
    const found = yield* Effect.option(reopened(kind, batch.id, undefined))
    if (Option.isNone(found)) return
    const status = yield* Effect.option(statusOf(found.value, "retrieve"))
    if (Option.isSome(status) && ended(status.value.state)) {
      yield* Fiber.await(
        yield* settledHere(kind, batch.id, found.value, status.value, auth.callerOf(found.value.ref.caller))
      )
    }
  })

  // The sweep: a batch nobody retrieves is settled too, and those settled long ago are forgotten.
  const sweep = Effect.flatMap(
    Effect.orElseSucceed(settlements.opened, () => []),
    (open) => Effect.forEach(open, swept, { discard: true })
  ).pipe(
    Effect.andThen(Effect.suspend(() => Effect.ignore(settlements.forget(now() - Duration.toMillis(settledKept)))))
  )
  yield* Effect.forkScoped(Effect.repeat(sweep, Schedule.spaced(sweepEvery)))
  return settledHere
})

/**
 * The reply guardrails a call of the batch's model runs now (by its deployment's name once a reload dropped the model),
 * or the answer refusing its results when a key names a guardrail a reload removed.
 */
function replyChain(
  engine: Engine,
  ref: Ids.BatchRef,
  caller: Caller | undefined
): Result.Result<ReadonlyArray<Guardrail>, Errors.ErrorAnswer> {
  const target = engine.resolve(ref.model) ?? engine.resolve(ref.deployment)
  const own = target?.guardrails ?? engine.gatewayGuardrails
  return Result.mapError(Guardrails.chainOf(engine.guardrails, own, caller?.guardrails), Errors.guardrailUnavailable)
}

/**
 * A line of a result as it is served: its error's answer (`fromLlm`), or its reply through the reply guardrails of
 * `chain` as a call's whole reply is (`checkReply`), masked, or blocked and served as its line's error.
 */
function servedLine(chain: ReadonlyArray<Guardrail>, model: string, fromLlm: (error: LlmError) => Errors.ErrorAnswer) {
  return ({ customId, outcome }: BatchLine & { readonly customId: string }): Effect.Effect<Served> => {
    if (typeof outcome === "string") return Effect.succeed({ customId, outcome })
    if (Result.isFailure(outcome)) return Effect.succeed({ customId, outcome: Result.fail(fromLlm(outcome.failure)) })
    return Effect.match(checkReply(chain, outcome.success, model), {
      onFailure: (error) => ({ customId, outcome: Result.fail(Errors.guardrailBlocked(error)) }),
      onSuccess: (reply) => ({ customId, outcome: Result.succeed(reply) })
    })
  }
}

/** The batch (or its result file) `id` of `kind` run as calls that no store here keeps: not found, with where. */
function unkept(kind: Ids.Kind, id: string, error: LlmError): Errors.ErrorAnswer {
  const missing = notFound(kind === "output" || kind === "error" ? "file" : "batch", id)
  return {
    ...missing,
    message: `${missing.message} A batch run as calls is kept thirty days from its create, where this gateway ` +
      "keeps such batches: in its database or its Redis, which every instance on it shares; a gateway with " +
      "neither keeps each in the memory of the instance that made it, which alone answers for it.",
    logged: error.message
  }
}

/** The gateway's batching over the configuration served (`configured`), built once for every batch route. */
export const make = Effect.fnUntraced(function*(configured: Configured) {
  const { auth, engine, metrics, now, providerKeys } = configured
  const settlements = yield* SettlementStore
  const store = yield* BatchStore
  const idSecret = Effect.mapError(
    IdSecret.remembered(yield* IdSecret.IdSecretStore),
    storeAnswer("the secret batch ids are signed with could not be read")
  )
  // The gateway's own batch API, for a model none of whose deployments has one: its runs last the configuration's life.
  const calls = yield* Calls.make({ window: completionWindow, resolve: engine.resolve, turn: auth.turn })
  const keys = BatchKeys.make()
  const { batchDeploymentFor, deploymentOf } = makeDeployments(engine, calls)
  const { reopened, signerFor } = makeOpening({ deploymentOf, idSecret, keys, providerKeys })
  const settledHere = yield* makeSettling({ auth, journal: yield* Journal, metrics, now, reopened, settlements })

  function fromLlm(error: LlmError): Errors.ErrorAnswer {
    return Errors.fromLlmError(error, now(), (path) => path)
  }

  /**
   * The answer to a failure of a batch API's `step`: an engine failure's, or, the gateway's own batch API finding its
   * database away, that database's (not the provider's), naming what of the batch could not be read or written.
   */
  function failedAt(step: Step) {
    return (error: LlmError | StoreUnavailableError): Errors.ErrorAnswer =>
      error._tag === "StoreUnavailableError" ? storeAnswer(unanswered[step])(error) : fromLlm(error)
  }

  const submit = makeSubmit({ ...configured, batchDeploymentFor, signerFor, failedAt, keys, calls, settlements, store })

  /**
   * The caller's batch (or its result file) `id` of `kind`, opened and asked of its provider (`statusOf`); a batch run
   * as calls that no store here keeps is not found, with where such batches are kept.
   */
  function asked(
    kind: Ids.Kind,
    id: string,
    caller: Caller | undefined,
    step: "retrieve" | "cancel"
  ): Effect.Effect<Read, Errors.ErrorAnswer> {
    return Effect.flatMap(
      reopened(kind, id, ownerOf(caller)),
      (found) =>
        Effect.mapBoth(statusOf(found, step), {
          onFailure: (error) => Calls.isUnkept(error) ? unkept(kind, id, error) : failedAt(step)(error),
          onSuccess: (status) => ({ found, status })
        })
    )
  }

  /** The caller's batch `id` of `kind` as it stands at its provider; settled in the background once it ended. */
  function retrieve(
    kind: Ids.BatchKind,
    id: string,
    caller: Caller | undefined
  ): Effect.Effect<Read, Errors.ErrorAnswer> {
    return Effect.tap(
      asked(kind, id, caller, "retrieve"),
      ({ found, status }) =>
        ended(status.state) ? Effect.asVoid(settledHere(kind, id, found, status, caller)) : Effect.void
    )
  }

  /**
   * The lines of an ended batch's result as `caller` is served them, each custom id once (its first:
   * `distinctLines`), each reply through the reply guardrails a call of the batch's model runs (`servedLine`).
   */
  const results = Effect.fn("Batching.results")(function*(
    found: Opened,
    status: BatchStatus,
    caller: Caller | undefined
  ): Effect.fn.Return<ReadonlyArray<Served>, Errors.ErrorAnswer> {
    const chain = yield* Effect.fromResult(replyChain(engine, found.ref, caller))
    const { credentials, deployment, ref } = found
    const lines = yield* Effect.mapError(
      deployment.api.results(status, deployment.model, credentials),
      failedAt("results")
    )
    return yield* Effect.forEach(Settlement.distinctLines(lines), servedLine(chain, ref.model, fromLlm), {
      concurrency: checkedAtOnce
    })
  })

  /**
   * The ids of the newest `limit` batches made through any instance sharing this one's store, of either kind and any
   * caller: the one read of the batches made that the admin's list of them goes through.
   */
  const recorded = (limit: number): Effect.Effect<ReadonlyArray<string>, Errors.ErrorAnswer> =>
    Effect.mapError(store.newest(limit, now()), storeAnswer("the batches could not be listed"))

  /** A page of the caller's batches of `kind` made through any instance on this store, newest first, as they stand. */
  const page = Effect.fn("Batching.page")(function*(
    kind: Ids.BatchKind,
    caller: Caller | undefined,
    after: string | null,
    limit: string | null
  ): Effect.fn.Return<Page, Errors.ErrorAnswer> {
    const size = Math.min(listedBatches, Math.max(1, Number(limit ?? 20) || 20))
    const { hasMore, ids } = yield* Effect.mapError(
      store.listed(kind, ownerOf(caller), after ?? undefined, size, now()),
      storeAnswer("the batches could not be listed")
    )
    const batches = yield* Effect.forEach(
      ids,
      (id) => Effect.map(retrieve(kind, id, caller), (read) => ({ ...read, id })),
      { concurrency: 4 }
    )
    return { batches, hasMore }
  })

  return {
    ownerOf,
    fromLlm,
    reopened,
    statusOf,
    asked,
    /** A batch's create, counted by its caller's rate limit before its lines are read (429 past it). */
    admitted: (caller: Caller | undefined) => auth.limit(caller),
    submit,
    retrieve,
    /** The caller's batch `id` of `kind` cancelled at its provider, as it stands then. */
    cancel: (kind: Ids.BatchKind, id: string, caller: Caller | undefined) => asked(kind, id, caller, "cancel"),
    results,
    page,
    recorded
  } as const
})

/** The gateway's batching, as `make` builds it. */
export type Batching = Effect.Success<ReturnType<typeof make>>
