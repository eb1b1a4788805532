/**
 * The gateway's own batch API, for a model none of whose deployments has one (docs/batch.md, "Batches run as calls"): a
 * `BatchApi` whose batch is a run (`runs.ts`) of its lines as calls of the model, through its router as any call goes,
 * a few at a time; each line's answer is recorded once, and the result read from them as a provider's is. So the batch
 * routes and the settlement take it as a provider's batch, and a line is not also a call's spend.
 *
 * Any instance answers for a run; the one holding the lease on its running runs its lines. A retrieve of a run not
 * ended takes a free or lapsed lease and runs the lines not yet answered. A line started is run whole and its answer
 * recorded before the lease is given up, so it is not run again. A cancel, or the end of the batch's window, stops new
 * lines: those not run are the result's cancelled or expired lines.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Ref from "effect/Ref"
import { randomUUID } from "node:crypto"
import { ModelNotFoundError, RateLimitError } from "../../../LlmError.js"
import type { LlmError } from "../../../LlmError.js"
import type { BatchLine, BatchRequest, BatchStatus } from "../../../ProviderClient.js"
import type { RateLimiterCostError, RateLimiterExceededError } from "../../../RateLimiter.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { callConcurrency } from "../../batch/run.js"
import * as Renewal from "../../persistence/leases.js"
import type { GatewayBatchApi, Target } from "../engine.js"
import {
  encodeLines,
  type Lease,
  type Progress,
  progressOf,
  type Recorded,
  type Runs,
  type RunsFull,
  RunStore
} from "./runs.js"
import { leaseTtl } from "./settlement.js"

/** The provider the batches run as calls name: the gateway, which runs them. */
export const provider = "gateway"

/** How a run's id starts, before its random part and its model. */
const prefix = "gwrun:"

/** A new run's id, naming its `model`: what a batch's id carries as its provider's, so any instance finds the model. */
function runId(model: string): string {
  return `${prefix}${randomUUID()}:${model}`
}

/** The model a run's id names; `undefined` for the id of a provider's batch. */
export function modelOf(batch: string): string | undefined {
  // The random part is a UUID: 36 characters, then the colon before the model.
  return batch.startsWith(prefix) ? batch.slice(prefix.length + 37) : undefined
}

/** What runs the batches: the window in which their lines may start, and the target a model's calls go to. */
export interface Options {
  /** How long after its start a run's lines may start; past it the run ends, expired. */
  readonly window: Duration.Duration
  /** The target of a model's calls; `undefined` for a model the configuration does not have. */
  readonly resolve: (model: string) => Target | undefined
  /** One request of the rate limit of the maker `owner` (a `Caller.id`), waited for: taken before each line's call. */
  readonly turn: (
    owner: string
  ) => Effect.Effect<void, StoreUnavailableError | RateLimiterCostError | RateLimiterExceededError>
}

/** What a retrieve of a run no store here keeps fails with: 404 of the gateway's provider (`isUnkept`). */
function unkept(model: string): ModelNotFoundError {
  return new ModelNotFoundError({
    provider,
    model,
    status: 404,
    detail: "no batch run as calls of this id is kept where this instance keeps them"
  })
}

/** Whether a failure of this batch API is that the run is not kept (forgotten, or in another instance's memory). */
export function isUnkept(error: LlmError | StoreUnavailableError): error is ModelNotFoundError {
  return error._tag === "ModelNotFoundError" && error.provider === provider && error.status === 404
}

/** A run's status as its provider's would be: running until it ended, then how. */
function statusOf(run: string, progress: Progress): BatchStatus {
  const { failed, succeeded, total } = progress
  const state = !progress.ended
    ? "running"
    : succeeded + failed === total
    ? "completed"
    : progress.cancelled
    ? "cancelled"
    : "expired"
  // As a provider counts them: a line a cancelled or expired batch never ran is a failed one.
  return { id: run, state, total, succeeded, failed: state === "running" ? failed : total - succeeded }
}

/** A run's answers as its result's lines, in its order; a line not run is the batch's cancelled or expired line. */
function linesOf(recorded: Recorded, status: BatchStatus): ReadonlyArray<BatchLine> {
  const out: Array<BatchLine> = []
  for (const [position, customId] of recorded.customIds.entries()) {
    const answer = recorded.answers.get(customId)
    if (answer !== undefined) out.push({ customId, position, outcome: answer })
    else if (status.state === "cancelled" || status.state === "expired") {
      out.push({ customId, position, outcome: status.state })
    }
  }
  return out
}

/** Why a run's lines stopped starting before all ran: its lease lost to another holder, or the run ended. */
type Stop = "lost" | "ended"

/**
 * What runs a run's lines here: `runHere` forks a run's running, under its lease, into a map of the runs this instance
 * runs now, made in the batch API's scope (so its runs last its life), their leases renewed while they run.
 */
const runner = Effect.fnUntraced(function*(runs: Runs, options: Options) {
  // This instance, as the lease on a run's running names its holder.
  const holder = `gateway-${randomUUID()}`
  const ttl = Duration.toMillis(leaseTtl)

  function leased(run: string): Effect.Effect<Lease, StoreUnavailableError> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => runs.lease(run, holder, now, now + ttl))
  }

  // The leases of the runs running here, renewed while a line runs longer than a renewal's period; made
  // before the runs' map, so it outlives the lines an instance stopping lets end.
  const renewal = yield* Renewal.renewer<void>({
    ttlMillis: ttl,
    scope: yield* Effect.scope,
    renew: (held) => Effect.forEach(held.keys(), (run) => Effect.ignore(leased(run)), { discard: true })
  })
  // The runs this instance runs now, by id: a retrieve meeting one leaves it to that running.
  const running = yield* FiberMap.make<string>()

  /**
   * One line called as a call of its model and its answer recorded, uninterruptibly: an instance stopping lets the
   * line end and keeps its answer, so it is not run again.
   */
  function answered(run: string, target: Target | undefined, model: string, line: BatchRequest) {
    const called = target === undefined
      ? Effect.fail(
        new ModelNotFoundError({ provider, model, detail: "the gateway's configuration no longer has this model" })
      )
      : target.llm.chat(line.request)
    return Effect.uninterruptible(
      Effect.flatMap(Effect.result(called), (answer) => runs.answer(run, line.customId, answer))
    )
  }

  /**
   * The lines of `run` not yet answered, a few at a time, each started only while the lease is held, the run not
   * cancelled and its window open; then the run recorded ended, unless the lease was lost (its holder runs the rest).
   */
  const work = Effect.fn("BatchCalls.work")(function*(run: string) {
    const recorded = yield* runs.read(run)
    if (recorded === undefined || recorded.ended) return
    const { model, owner, startedAt } = recorded.run
    const target = options.resolve(model)
    const closesAt = startedAt + Duration.toMillis(options.window)
    // Why the lines stopped starting, as the first line to see it says: a lease lost outweighs an end.
    const stop = yield* Ref.make<Stop | undefined>(undefined)
    const stopped = Effect.map(Ref.get(stop), (why) => why !== undefined)
    yield* Effect.forEach(
      recorded.lines.filter((line) => !recorded.answers.has(line.customId)),
      (line) =>
        Effect.gen(function*() {
          if (yield* stopped) return
          // Its maker's rate limit paces the lines, as it does the maker's calls.
          yield* options.turn(owner)
          if (yield* stopped) return
          // Renewed before each line: a lease lost (this instance stalled past it) leaves the rest to its new holder.
          const lease = yield* leased(run)
          if (lease === "lost") yield* Ref.set(stop, "lost")
          else if (lease === "cancelled" || (yield* Clock.currentTimeMillis) >= closesAt) {
            yield* Ref.update(stop, (why) => why ?? "ended")
          } else yield* answered(run, target, model, line)
        }),
      { concurrency: callConcurrency, discard: true }
    )
    if ((yield* Ref.get(stop)) !== "lost") {
      yield* Effect.flatMap(Clock.currentTimeMillis, (now) => runs.end(run, holder, now))
    }
  })

  /** `run`'s lines run with its lease renewed. */
  function renewed(run: string) {
    return Effect.acquireUseRelease(
      Effect.sync(() => renewal.hold(run, undefined)),
      () => work(run),
      () => Effect.sync(() => renewal.drop(run))
    )
  }

  /**
   * `run` run here, in the background for the batch API's life, when this instance runs it not already and takes its
   * lease; a running that failed (the store away) is left to the next retrieve.
   */
  function runHere(run: string): Effect.Effect<void> {
    // Its lines run under its lease when this instance takes it.
    const held = Effect.acquireUseRelease(
      Effect.orElseSucceed(leased(run), () => "lost" as const),
      (lease) => lease === "lost" ? Effect.void : renewed(run),
      (lease) => lease === "lost" ? Effect.void : Effect.ignore(runs.unlease(run, holder))
    )
    const logged = Effect.catch(
      held,
      (error) =>
        Effect.logWarning("a batch's lines stopped running; a retrieve runs them again").pipe(
          Effect.annotateLogs({ reason: error.message })
        )
    )
    return Effect.asVoid(FiberMap.run(running, run, logged, { onlyIfMissing: true }))
  }

  return runHere
})

/** The gateway's batch API over the runs' store, its runs' fibers in the scope it is made in. */
export const make = Effect.fnUntraced(function*(options: Options) {
  const runs = yield* RunStore
  const runHere = yield* runner(runs, options)

  /**
   * What `read` answers of a run; a run not recorded (forgotten, or in another instance's memory) as `unkept`. The
   * store away is its own failure, not the provider's: the batches' answer names the gateway's database.
   */
  function found<A>(model: string, read: Effect.Effect<A | undefined, StoreUnavailableError>) {
    return Effect.flatMap(read, (kept) => kept === undefined ? Effect.fail(unkept(model)) : Effect.succeed(kept))
  }

  /** `run` as it stands, from its progress alone (a client polls it); taken up here when unended and nobody runs it. */
  function retrieve(run: string, model: string): Effect.Effect<BatchStatus, LlmError | StoreUnavailableError> {
    return Effect.flatMap(found(model, runs.progress(run)), (progress) => {
      const status = statusOf(run, progress)
      return status.state === "running" ? Effect.as(runHere(run), status) : Effect.succeed(status)
    })
  }

  /**
   * A run of `requests` made for `owner`, its lines encoded in slices (`runs.ts`' `encodeLines`) and kept, then run
   * here; refused (`RunsFull`) when the runs running hold a bound of its maker's or of all.
   */
  const start = Effect.fn("BatchCalls.start")(function*(
    owner: string,
    requests: ReadonlyArray<BatchRequest>,
    model: string
  ): Effect.fn.Return<BatchStatus, LlmError | RunsFull | StoreUnavailableError> {
    const now = yield* Clock.currentTimeMillis
    const run = {
      id: runId(model),
      model,
      owner,
      startedAt: now,
      lines: requests,
      encoded: yield* encodeLines(requests)
    }
    yield* runs.start(run, now)
    yield* runHere(run.id)
    return { id: run.id, state: "running", total: requests.length, succeeded: 0, failed: 0 } as const
  })

  /** The batch API of the runs of `owner`, as a deployment's is; `start` makes a run with its refusal named. */
  function api(owner: string): GatewayBatchApi {
    return {
      submit: (requests, model) =>
        Effect.catchTag(
          start(owner, requests, model),
          "RunsFull",
          (full) => Effect.fail(new RateLimitError({ provider, model, status: 429, detail: full.message }))
        ),
      retrieve,
      cancel: (run, model) =>
        Effect.andThen(Effect.flatMap(Clock.currentTimeMillis, (now) => runs.cancel(run, now)), retrieve(run, model)),
      results: (status, model) =>
        Effect.map(
          found(model, runs.read(status.id)),
          (recorded: Recorded) => linesOf(recorded, statusOf(status.id, progressOf(recorded)))
        )
    }
  }
  return { api, start } as const
})
