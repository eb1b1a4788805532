/**
 * What the gateway keeps of the batches it runs itself, as calls (docs/batch.md, "Batches run as calls"): each run's
 * lines, its maker, the lease on its running (one instance at a time runs its lines; a lease lapses when its holder
 * stops renewing it, so an instance that died leaves the rest to the next), each line's answer recorded once by custom
 * id, and whether it was cancelled and when it ended. `calls.ts` runs them; this is their store, `RunStore`: the
 * database (`layerSql`), else the Redis the instances share (`runsRedis.ts`), under one contract
 * (`test/contract/batchRuns.ts`). An ended run lets go of its requests, and is forgotten with its batch's record. The
 * runs are bounded by count and bytes (`store.ts`' `bounds`, `persistence/bounded.ts`): the oldest ended are let go of
 * first, and a new run is refused (`RunsFull`) when the runs still running hold the bound.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SqlSchema from "effect/sql/SqlSchema"
import { ChatRequest } from "../../../ChatRequest.js"
import { ChatResponse } from "../../../ChatResponse.js"
import { LlmError } from "../../../LlmError.js"
import type { BatchRequest } from "../../../ProviderClient.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { inSlices } from "../../inSlices.js"
import * as Bounded from "../../persistence/bounded.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Leases from "../../persistence/lease.js"
import * as Sql from "../../persistence/sql.js"
import { bounds, sqlRoom } from "./store.js"

/** A batch run as calls, as it was made. */
export interface Run {
  /** Its id (the one a batch's id carries as its provider's: `calls.ts`). */
  readonly id: string
  /** The model its lines name, as the client named it. */
  readonly model: string
  /** Its maker's `Caller.id` (empty without gateway keys): whose bounds it counts in, whose rate limit paces it. */
  readonly owner: string
  /** When it was made, in Clock millis. */
  readonly startedAt: number
}

/** A run made: what it is, its lines, and its lines as JSON (`encodeLines`), which the stores count its bytes by. */
export interface Started extends Run {
  /** Its requests, each with its custom id, in the batch's order. */
  readonly lines: ReadonlyArray<BatchRequest>
  readonly encoded: string
}

/** The bound a new run would pass, its maker's or every maker's, of runs or of their bytes: it was refused. */
export class RunsFull extends Data.TaggedError("RunsFull")<{
  readonly bound: "ownerRuns" | "ownerRunBytes" | "runs" | "runBytesInAll"
  readonly limit: number
}> {
  override get message() {
    const whose = this.bound.startsWith("owner") ? "this key's" : "every key's"
    const what = this.bound === "ownerRuns" || this.bound === "runs"
      ? `${this.limit} batches run as calls`
      : `${this.limit / (1024 * 1024)} MiB of lines of batches run as calls`
    return `This gateway keeps at most ${what} for ${whose} batches together (its bound \`${this.bound}\`), and ` +
      "those still running hold it: wait for one to end, or cancel one, then create this batch again."
  }
}

/** A line's answer: its call's reply, or the typed error it failed with. */
export type Answer = Result.Result<ChatResponse, LlmError>

/** What is recorded of a run now. */
export interface Recorded {
  readonly run: Run
  /** Its lines' custom ids, in the batch's order. */
  readonly customIds: ReadonlyArray<string>
  /** Its lines with their requests while it runs; none once it ended (it runs no more). */
  readonly lines: ReadonlyArray<BatchRequest>
  /** Each line answered, by custom id. */
  readonly answers: ReadonlyMap<string, Answer>
  readonly cancelled: boolean
  /** Whether its running ended: every line answered, or no more to start (cancelled, or past its window). */
  readonly ended: boolean
}

/** A run's state and its answers' counts, without its lines or answers: what its status is made of. */
export interface Progress {
  /** Its lines. */
  readonly total: number
  /** Its lines answered with a reply. */
  readonly succeeded: number
  /** Its lines answered with a typed error. */
  readonly failed: number
  readonly cancelled: boolean
  readonly ended: boolean
}

export function progressOf(recorded: Recorded): Progress {
  let succeeded = 0
  for (const answer of recorded.answers.values()) if (Result.isSuccess(answer)) succeeded++
  return {
    total: recorded.customIds.length,
    succeeded,
    failed: recorded.answers.size - succeeded,
    cancelled: recorded.cancelled,
    ended: recorded.ended
  }
}

/**
 * What a holder's lease on a run's running is now: `"held"`, its lines to be run; `"cancelled"`, held, but no line is
 * to start; `"lost"`, another holds it, or the run ended or is not recorded.
 */
export type Lease = "held" | "cancelled" | "lost"

/** The runs' store: each operation one atomic step. */
export interface Runs {
  /**
   * `run` recorded (unless it is recorded already), the runs started before `bounds.batchTtl` at `now` forgotten and
   * the oldest ended let go of past a bound; refused (`RunsFull`, nothing recorded) when the runs running hold a bound.
   */
  readonly start: (run: Started, now: number) => Effect.Effect<void, RunsFull | StoreUnavailableError>
  /**
   * The running of `run` taken, or renewed, by `holder` until `until` (Clock millis) when it is free, its lease lapsed
   * by `now`, or it is `holder`'s; what the lease is then.
   */
  readonly lease: (
    run: string,
    holder: string,
    now: number,
    until: number
  ) => Effect.Effect<Lease, StoreUnavailableError>
  /** The lease of `holder` on `run` given up, when it holds it. */
  readonly unlease: (run: string, holder: string) => Effect.Effect<void, StoreUnavailableError>
  /**
   * `run`'s line `customId` recorded answered with `answer`: true when it was not yet (and the run holds such a line
   * unanswered), false when it was (the first answer stays).
   */
  readonly answer: (run: string, customId: string, answer: Answer) => Effect.Effect<boolean, StoreUnavailableError>
  /** `run` recorded cancelled at `now` (Clock millis): no line of it starts any more. */
  readonly cancel: (run: string, now: number) => Effect.Effect<void, StoreUnavailableError>
  /**
   * `run` recorded ended at `now` by `holder`, when `holder` holds its lease (which it gives up): its requests let go
   * of, and its lines not answered, which take no answer from then on.
   */
  readonly end: (run: string, holder: string, now: number) => Effect.Effect<void, StoreUnavailableError>
  /** What is recorded of `run`, or `undefined` when it was never started (or was forgotten). */
  readonly read: (run: string) => Effect.Effect<Recorded | undefined, StoreUnavailableError>
  /**
   * The progress of `run`, or `undefined` when it was never started (or was forgotten): what `read` would count,
   * without reading its lines or its answers (a client polling a large batch asks it at each poll).
   */
  readonly progress: (run: string) => Effect.Effect<Progress | undefined, StoreUnavailableError>
}

export class RunStore extends Context.Service<RunStore, Runs>()("effect-llm-router/gateway/batches/RunStore") {}

/** Before when a run started is forgotten at `now`: with its batch's record. */
function forgottenBefore(now: number): number {
  return now - Duration.toMillis(bounds.batchTtl)
}

/** The bounds of `owner`'s runs, then of every owner's, each with the name a refusal gives it. */
export function runBounds(owner: string): ReadonlyArray<Bounded.Bound<string>> {
  return [
    { scope: owner, count: bounds.ownerRuns, bytes: bounds.ownerRunBytes },
    { scope: undefined, count: bounds.runs, bytes: bounds.runBytesInAll }
  ]
}

/** The refusal of a run that would pass `past`: the bound of runs, or of their bytes, of its maker or of all. */
export function runsFull({ bound, held }: Bounded.Past<string>): RunsFull {
  const overCount = held.count > bound.count
  return refusedBy(
    bound.scope === undefined ? (overCount ? "runs" : "runBytesInAll") : overCount ? "ownerRuns" : "ownerRunBytes"
  )
}

/** The refusal of a run by the bound `bound` names. */
export const refusedBy = (bound: RunsFull["bound"]): RunsFull => new RunsFull({ bound, limit: bounds[bound] })

/** The bytes an ended run's lines count: its custom ids, as the shared stores keep them. */
export function endedBytes(customIds: ReadonlyArray<string>): number {
  return Buffer.byteLength(JSON.stringify(customIds))
}

/** A run's line as the stores keep it. */
const LineJson = Schema.toCodecJson(Schema.Struct({ customId: Schema.String, request: ChatRequest }))
const encodeLine = Schema.encodeSync(LineJson)

/** A run's lines as the database keeps them: JSON. */
const LinesJson = Schema.fromJsonString(Schema.Array(LineJson))

/** A line's answer as the database keeps it: JSON of its reply or of its error. */
const AnswerJson = Schema.fromJsonString(
  Schema.toCodecJson(Schema.Union([Schema.Struct({ reply: ChatResponse }), Schema.Struct({ error: LlmError })]))
)
/** A run's lines as a shared store keeps them (the database's, or Redis'), and back. */
export const decodeLines = Schema.decodeUnknownSync(LinesJson)
/** A line's answer as a shared store keeps it. */
export const encodeAnswer = Schema.encodeSync(AnswerJson)
const decodeAnswer = Schema.decodeUnknownSync(AnswerJson)

/**
 * A run's lines as JSON, as the stores keep them and count their bytes: each line encoded in turn, a turn of the event
 * loop given between slices (`inSlices`), as a batch's lines are read.
 */
export function encodeLines(lines: ReadonlyArray<BatchRequest>): Effect.Effect<string> {
  return Effect.map(
    inSlices(lines, (line) => Result.succeed(JSON.stringify(encodeLine(line)))),
    (encoded) => `[${encoded.join(",")}]`
  )
}

/** A line's answer as `encodeAnswer` takes it. */
export function answerJson(answer: Answer): typeof AnswerJson.Type {
  return Result.isSuccess(answer) ? { reply: answer.success } : { error: answer.failure }
}

/** Whether a line's answer is a reply or an error, as a shared store keeps it beside the answer to count it. */
export function outcomeOf(answer: Answer): "reply" | "error" {
  return Result.isSuccess(answer) ? "reply" : "error"
}

// A line's answer from its JSON, decoded.
function answerFrom(decoded: typeof AnswerJson.Type): Answer {
  return "reply" in decoded ? Result.succeed(decoded.reply) : Result.fail(decoded.error)
}

/** A line's answer from what `encodeAnswer` wrote. */
export function answerOf(text: string): Answer {
  return answerFrom(decodeAnswer(text))
}

/** A run's custom ids as JSON. */
const CustomIdsJson = Schema.fromJsonString(Schema.Array(Schema.String))

/** A run's custom ids from what a shared store keeps: their JSON, or (a run kept before it was written) its lines. */
export function customIdsOf(customIds: string | null | undefined, lines: string): ReadonlyArray<string> {
  return typeof customIds === "string"
    ? Schema.decodeUnknownSync(CustomIdsJson)(customIds)
    : decodeLines(lines).map((line) => line.customId)
}

/** How many lines' rows one statement writes: within any database's count of a statement's parameters. */
const linesAStatement = 500

/** The statements of a run's start beside its lines' rows: the forgotten runs' deletes, its row, its bounds' check. */
const statementsBeside = 8

const NumberOrNull = Schema.NullOr(Numeric)

// A run's lines and custom ids, decoded: the ids kept apart once it ended (its lines gone), else its lines' own.
const RunLines = tableRow("batch_runs", { lines: LinesJson, custom_ids: Schema.NullOr(CustomIdsJson) })
const RunRow = tableRow("batch_runs", {
  id: Schema.String,
  model: Schema.String,
  owner: Schema.String,
  lines: LinesJson,
  custom_ids: Schema.NullOr(CustomIdsJson),
  started_at: Numeric,
  cancelled_at: NumberOrNull,
  ended_at: NumberOrNull
})
const ProgressRow = tableRow("batch_runs", {
  cancelled_at: NumberOrNull,
  ended_at: NumberOrNull,
  total: Numeric,
  succeeded: Numeric,
  failed: Numeric
})
const AnswerRow = tableRow("batch_run_answers", { custom_id: Schema.String, answer: AnswerJson })

const idsOf = (run: typeof RunLines.Type): ReadonlyArray<string> =>
  run.custom_ids ?? run.lines.map((line) => line.customId)

/** The runs of the database as a room of the bounds: the oldest ended first. */
const runsRoom = (sql: Sql.Database["Service"]["sql"]) =>
  sqlRoom(sql, "batch_runs", {
    scoped: (owner: string) => sql`owner = ${owner}`,
    madeAt: "started_at",
    removable: "ended_at IS NOT NULL",
    remove: (id) =>
      Effect.andThen(
        sql`DELETE FROM batch_run_answers WHERE run = ${id}`,
        Effect.asVoid(sql`DELETE FROM batch_runs WHERE id = ${id}`)
      )
  })

/** The runs in the gateway's database, which every instance on it shares. */
export const layerSql: Layer.Layer<RunStore, never, Sql.Database> = Layer.effect(
  RunStore,
  Effect.map(Sql.steps, ({ longTransaction, sql, step, transaction }): Runs => {
    const lease = Leases.sqlLease(sql, { name: "batch_runs", closed: "ended_at" })
    const room = runsRoom(sql)
    const linesOf = SqlSchema.findOneOption({
      Request: Schema.Struct({ run: Schema.String, holder: Schema.String }),
      Result: RunLines,
      // The lines read only when they are where the ids are: a large run's lines are not decoded for nothing.
      execute: ({ holder, run }) =>
        sql`SELECT CASE WHEN custom_ids IS NULL THEN lines ELSE '[]' END AS lines, custom_ids FROM batch_runs
          WHERE id = ${run} AND holder = ${holder} AND ended_at IS NULL`
    })
    const runOf = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: RunRow,
      execute: (run) =>
        sql`SELECT id, model, owner, lines, custom_ids, started_at, cancelled_at, ended_at FROM batch_runs
          WHERE id = ${run}`
    })
    const answersOf = SqlSchema.findAll({
      Request: Schema.String,
      Result: AnswerRow,
      execute: (run) => sql`SELECT custom_id, answer FROM batch_run_answers WHERE run = ${run} AND answer IS NOT NULL`
    })
    const progressOf = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: ProgressRow,
      execute: (run) =>
        sql`SELECT cancelled_at, ended_at, total,
          (SELECT COUNT(*) FROM batch_run_answers WHERE run = ${run} AND outcome = 'reply') AS succeeded,
          (SELECT COUNT(*) FROM batch_run_answers WHERE run = ${run} AND outcome = 'error') AS failed
          FROM batch_runs WHERE id = ${run}`
    })
    return {
      // Its bound runs from the database's last answer: a large run is many statements, each answered in time.
      start: (run, now) =>
        longTransaction(
          "recording a batch run as calls",
          statementsBeside + Math.ceil(run.lines.length / linesAStatement),
          (statement) =>
            Effect.gen(function*() {
              const before = forgottenBefore(now)
              yield* statement(sql`DELETE FROM batch_run_answers WHERE run IN
                (SELECT id FROM batch_runs WHERE started_at < ${before})`)
              yield* statement(sql`DELETE FROM batch_runs WHERE started_at < ${before}`)
              const customIds = run.lines.map((line) => line.customId)
              const inserted = yield* statement(sql`INSERT INTO batch_runs
                (id, model, owner, lines, custom_ids, bytes, total, started_at)
                VALUES (${run.id}, ${run.model}, ${run.owner}, ${run.encoded}, ${JSON.stringify(customIds)},
                  ${Buffer.byteLength(run.encoded)}, ${customIds.length}, ${run.startedAt})
                ON CONFLICT (id) DO NOTHING RETURNING id`)
              if (inserted.length === 0) return
              // A row a line, unanswered: what an answer fills in, so a run holds one answer for each of its lines
              // only. A turn of the event loop between two statements: a large batch is many.
              for (let at = 0; at < customIds.length; at += linesAStatement) {
                const rows = customIds.slice(at, at + linesAStatement).map((customId) => ({
                  run: run.id,
                  custom_id: customId
                }))
                yield* statement(
                  sql`INSERT INTO batch_run_answers ${sql.insert(rows as [(typeof rows)[0], ...typeof rows])}`
                )
                yield* Effect.yieldNow
              }
              const past = yield* Bounded.kept(room, runBounds(run.owner))
              // Refused: the transaction, the run's rows with it, rolled back.
              if (past !== undefined) return yield* Effect.fail(runsFull(past))
            })
        ),
      lease: (run, holder, now, until) =>
        step(
          "taking a batch run's running",
          Effect.map(
            lease.take<{ readonly cancelled_at: unknown }>({ id: run, holder, now, until }, "cancelled_at"),
            ([row]): Lease => row === undefined ? "lost" : row.cancelled_at === null ? "held" : "cancelled"
          )
        ),
      unlease: (run, holder) => step("giving up a batch run's running", lease.giveUp(run, holder)).pipe(Effect.asVoid),
      // One statement: a line's row filled in once, the first answer staying.
      answer: (run, customId, answer) =>
        step(
          "recording a batch run's line answered",
          Effect.map(
            sql`UPDATE batch_run_answers
              SET answer = ${encodeAnswer(answerJson(answer))}, outcome = ${outcomeOf(answer)}
              WHERE run = ${run} AND custom_id = ${customId} AND answer IS NULL RETURNING custom_id`,
            (rows) => rows.length > 0
          )
        ),
      cancel: (run, now) =>
        step(
          "recording a batch run cancelled",
          sql`UPDATE batch_runs SET cancelled_at = ${now} WHERE id = ${run} AND cancelled_at IS NULL`
        ).pipe(Effect.asVoid),
      // Its requests and its lines not answered let go of: it runs no more.
      end: (run, holder, now) =>
        transaction(
          "recording a batch run ended",
          Effect.gen(function*() {
            const row = Option.getOrUndefined(yield* linesOf({ run, holder }))
            if (row === undefined) return
            const customIds = idsOf(row)
            yield* sql`UPDATE batch_runs SET ended_at = ${now}, ${lease.freed}, lines = '[]',
              custom_ids = ${JSON.stringify(customIds)}, bytes = ${endedBytes(customIds)}, total = ${customIds.length}
              WHERE id = ${run}`
            yield* sql`DELETE FROM batch_run_answers WHERE run = ${run} AND answer IS NULL`
          })
        ),
      read: (run) =>
        transaction(
          "reading a batch run",
          Effect.gen(function*() {
            const row = Option.getOrUndefined(yield* runOf(run))
            if (row === undefined) return undefined
            const answers = yield* answersOf(run)
            const ended = row.ended_at !== null
            return {
              run: { id: row.id, model: row.model, owner: row.owner, startedAt: row.started_at },
              customIds: idsOf(row),
              lines: ended ? [] : row.lines,
              answers: new Map(answers.map((answer) => [answer.custom_id, answerFrom(answer.answer)])),
              cancelled: row.cancelled_at !== null,
              ended
            }
          })
        ),
      // One statement: the run's row and its lines' outcomes counted, no answer read.
      progress: (run) =>
        step(
          "reading a batch run's progress",
          Effect.map(progressOf(run), (found) =>
            Option.getOrUndefined(Option.map(found, (row): Progress => ({
              total: row.total,
              succeeded: row.succeeded,
              failed: row.failed,
              cancelled: row.cancelled_at !== null,
              ended: row.ended_at !== null
            }))))
        )
    }
  })
)
