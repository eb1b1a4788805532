/**
 * What the gateway keeps of the batches it runs itself, as calls, for a model none of whose deployments has a batch
 * API (docs/batch.md, "Batches run as calls"): each run's lines (its requests by custom id, as the batch was made), the
 * lease on its running (one instance at a time runs a batch's lines; a lease lapses when its holder stops renewing
 * it, so an instance that died leaves the rest of the lines to the next), each line's answer (its reply or its typed
 * error) recorded once by custom id, and whether the run was cancelled and when it ended. The algorithm over it is
 * `calls.ts`; this is its store, the service `RunStore`, of three layers: the gateway's database (`layerSql`, tables
 * `batch_runs` and `batch_run_answers`), which every instance on it shares and a restart keeps; without one, the Redis
 * the instances share (`runsRedis.ts`); or memory (`layerMemory`), for the process's life, on a gateway with neither.
 * All keep one contract (`test/contract/batchRuns.ts`) and the same bounds: a run holds at most one answer for each of
 * its lines, and is forgotten, its answers with it, when the record of its batch is (`store.ts`' `bounds.batchTtl`
 * from its start); each takes and gives up the lease by the settlements' own steps (`store/lease.ts`).
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { ChatRequest } from "../../../ChatRequest.js"
import { ChatResponse } from "../../../ChatResponse.js"
import { LlmError } from "../../../LlmError.js"
import type { BatchRequest } from "../../../ProviderClient.js"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Sql from "../../persistence/sql.js"
import * as Leases from "../../store/lease.js"
import { bounds } from "./store.js"

/** A batch run as calls, as it was made. */
export interface Run {
  /** Its id (the one a batch's id carries as its provider's: `calls.ts`). */
  readonly id: string
  /** The model its lines name, as the client named it. */
  readonly model: string
  /** Its requests, each with its custom id, in the batch's order. */
  readonly lines: ReadonlyArray<BatchRequest>
  /** When it was made, in Clock millis. */
  readonly startedAt: number
}

/** A line's answer: its call's reply, or the typed error it failed with. */
export type Answer = Result.Result<ChatResponse, LlmError>

/** What is recorded of a run now. */
export interface Recorded {
  readonly run: Run
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

/** The progress of what is recorded of a run. */
export function progressOf(recorded: Recorded): Progress {
  let succeeded = 0
  for (const answer of recorded.answers.values()) if (Result.isSuccess(answer)) succeeded++
  return {
    total: recorded.run.lines.length,
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
  /** `run` recorded (unless it is recorded already), the runs started before `bounds.batchTtl` at `now` forgotten. */
  readonly start: (run: Run, now: number) => Effect.Effect<void, StoreUnavailableError>
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
  /** `run` recorded ended at `now` by `holder`, when `holder` holds its lease (which it gives up). */
  readonly end: (run: string, holder: string, now: number) => Effect.Effect<void, StoreUnavailableError>
  /** What is recorded of `run`, or `undefined` when it was never started (or was forgotten). */
  readonly read: (run: string) => Effect.Effect<Recorded | undefined, StoreUnavailableError>
  /**
   * The progress of `run`, or `undefined` when it was never started (or was forgotten): what `read` would count,
   * without reading its lines or its answers (a client polling a large batch asks it at each poll).
   */
  readonly progress: (run: string) => Effect.Effect<Progress | undefined, StoreUnavailableError>
}

/** The runs' store. */
export class RunStore extends Context.Service<RunStore, Runs>()("effect-llm-router/gateway/batches/RunStore") {}

/** Before when a run started is forgotten at `now`: with its batch's record. */
function forgottenBefore(now: number): number {
  return now - Duration.toMillis(bounds.batchTtl)
}

interface Kept extends Leases.Leased {
  readonly run: Run
  /** Its lines' custom ids: the lines it answers. */
  readonly customIds: ReadonlySet<string>
  readonly answers: Map<string, Answer>
  cancelled: boolean
  ended: boolean
}

/** The runs in this process's memory, for its life: a gateway without a database. */
export const layerMemory: Layer.Layer<RunStore> = Layer.sync(RunStore, (): Runs => {
  const runs = new Map<string, Kept>()
  return {
    start: (run, now) =>
      Effect.sync(() => {
        const before = forgottenBefore(now)
        for (const [id, kept] of runs) if (kept.run.startedAt < before) runs.delete(id)
        if (!runs.has(run.id)) {
          runs.set(run.id, {
            run,
            customIds: new Set(run.lines.map((line) => line.customId)),
            answers: new Map(),
            holder: undefined,
            until: 0,
            cancelled: false,
            ended: false
          })
        }
      }),
    lease: (run, holder, now, until) =>
      Effect.sync(() => {
        const kept = runs.get(run)
        if (kept === undefined || kept.ended || !Leases.take(kept, holder, now, until)) return "lost"
        return kept.cancelled ? "cancelled" : "held"
      }),
    unlease: (run, holder) => Effect.sync(() => Leases.giveUp(runs.get(run), holder)),
    answer: (run, customId, answer) =>
      Effect.sync(() => {
        const kept = runs.get(run)
        if (kept === undefined || kept.answers.has(customId) || !kept.customIds.has(customId)) return false
        kept.answers.set(customId, answer)
        return true
      }),
    cancel: (run) =>
      Effect.sync(() => {
        const kept = runs.get(run)
        if (kept !== undefined) kept.cancelled = true
      }),
    end: (run, holder) =>
      Effect.sync(() => {
        const kept = runs.get(run)
        if (kept?.holder !== holder || kept.ended) return
        kept.ended = true
        kept.holder = undefined
      }),
    read: (run) =>
      Effect.sync(() => {
        const kept = runs.get(run)
        return kept === undefined
          ? undefined
          : { run: kept.run, answers: new Map(kept.answers), cancelled: kept.cancelled, ended: kept.ended }
      }),
    progress: (run) =>
      Effect.sync(() => {
        const kept = runs.get(run)
        return kept === undefined ? undefined : progressOf(kept)
      })
  }
})

/** A run's lines as the database keeps them: JSON. */
const LinesJson = Schema.fromJsonString(
  Schema.toCodecJson(Schema.Array(Schema.Struct({ customId: Schema.String, request: ChatRequest })))
)

/** A line's answer as the database keeps it: JSON of its reply or of its error. */
const AnswerJson = Schema.fromJsonString(
  Schema.toCodecJson(Schema.Union([Schema.Struct({ reply: ChatResponse }), Schema.Struct({ error: LlmError })]))
)
/** A run's lines as a shared store keeps them (the database's, or Redis'), and back. */
export const encodeLines = Schema.encodeSync(LinesJson)
export const decodeLines = Schema.decodeUnknownSync(LinesJson)
/** A line's answer as a shared store keeps it. */
export const encodeAnswer = Schema.encodeSync(AnswerJson)
const decodeAnswer = Schema.decodeUnknownSync(AnswerJson)

/** A line's answer as `encodeAnswer` takes it. */
export function answerJson(answer: Answer): typeof AnswerJson.Type {
  return Result.isSuccess(answer) ? { reply: answer.success } : { error: answer.failure }
}

/** Whether a line's answer is a reply or an error, as a shared store keeps it beside the answer to count it. */
export function outcomeOf(answer: Answer): "reply" | "error" {
  return Result.isSuccess(answer) ? "reply" : "error"
}

/** A line's answer from what `encodeAnswer` wrote. */
export function answerOf(text: string): Answer {
  const decoded = decodeAnswer(text)
  return "reply" in decoded ? Result.succeed(decoded.reply) : Result.fail(decoded.error)
}

/** How many lines' rows one statement writes: within any database's count of a statement's parameters. */
const linesAStatement = 500

interface RunRow {
  readonly id: string
  readonly model: string
  readonly lines: string
  readonly started_at: number | string
  readonly cancelled_at: number | string | null
  readonly ended_at: number | string | null
}

interface ProgressRow extends Pick<RunRow, "cancelled_at" | "ended_at"> {
  // Counts: numbers on SQLite, strings on Postgres.
  readonly total: number | string
  readonly succeeded: number | string
  readonly failed: number | string
}

interface AnswerRow {
  readonly custom_id: string
  readonly answer: string
}

/** The runs in the gateway's database, which every instance on it shares. */
export const layerSql = (database: Sql.Database): Layer.Layer<RunStore> =>
  Layer.sync(RunStore, (): Runs => {
    const { bounds: sqlBounds, sql } = database
    const lease = Leases.sqlLease(sql, { name: "batch_runs", closed: "ended_at" })
    return {
      start: (run, now) =>
        Sql.transaction(
          sql,
          sqlBounds,
          "recording a batch run as calls",
          Effect.gen(function*() {
            const before = forgottenBefore(now)
            yield* sql`DELETE FROM batch_run_answers WHERE run IN
              (SELECT id FROM batch_runs WHERE started_at < ${before})`
            yield* sql`DELETE FROM batch_runs WHERE started_at < ${before}`
            const inserted = yield* sql<{ readonly id: string }>`INSERT INTO batch_runs (id, model, lines, started_at)
              VALUES (${run.id}, ${run.model}, ${encodeLines(run.lines)}, ${run.startedAt})
              ON CONFLICT (id) DO NOTHING RETURNING id`
            if (inserted.length === 0) return
            // A row a line, unanswered: what an answer fills in, so a run holds one answer for each of its lines only.
            for (let at = 0; at < run.lines.length; at += linesAStatement) {
              const rows = run.lines.slice(at, at + linesAStatement).map((line) => ({
                run: run.id,
                custom_id: line.customId
              }))
              yield* sql`INSERT INTO batch_run_answers ${sql.insert(rows as [(typeof rows)[0], ...typeof rows])}`
            }
          })
        ),
      lease: (run, holder, now, until) =>
        Sql.step(
          sqlBounds,
          "taking a batch run's running",
          Effect.map(
            lease.take<Pick<RunRow, "cancelled_at">>({ id: run, holder, now, until }, "cancelled_at"),
            ([row]): Lease => row === undefined ? "lost" : row.cancelled_at === null ? "held" : "cancelled"
          )
        ),
      unlease: (run, holder) =>
        Sql.step(sqlBounds, "giving up a batch run's running", lease.giveUp(run, holder)).pipe(Effect.asVoid),
      // One statement: a line's row filled in once, the first answer staying.
      answer: (run, customId, answer) =>
        Sql.step(
          sqlBounds,
          "recording a batch run's line answered",
          Effect.map(
            sql<AnswerRow>`UPDATE batch_run_answers
              SET answer = ${encodeAnswer(answerJson(answer))}, outcome = ${outcomeOf(answer)}
              WHERE run = ${run} AND custom_id = ${customId} AND answer IS NULL RETURNING custom_id`,
            (rows) => rows.length > 0
          )
        ),
      cancel: (run, now) =>
        Sql.step(
          sqlBounds,
          "recording a batch run cancelled",
          sql`UPDATE batch_runs SET cancelled_at = ${now} WHERE id = ${run} AND cancelled_at IS NULL`
        ).pipe(Effect.asVoid),
      end: (run, holder, now) =>
        Sql.step(
          sqlBounds,
          "recording a batch run ended",
          sql`UPDATE batch_runs SET ended_at = ${now}, ${lease.freed}
            WHERE id = ${run} AND holder = ${holder} AND ended_at IS NULL`
        ).pipe(Effect.asVoid),
      read: (run) =>
        Sql.transaction(
          sql,
          sqlBounds,
          "reading a batch run",
          Effect.gen(function*() {
            const [row] = yield* sql<RunRow>`SELECT id, model, lines, started_at, cancelled_at, ended_at
              FROM batch_runs WHERE id = ${run}`
            if (row === undefined) return undefined
            const answers = yield* sql<AnswerRow>`SELECT custom_id, answer FROM batch_run_answers
              WHERE run = ${run} AND answer IS NOT NULL`
            return {
              run: { id: row.id, model: row.model, lines: decodeLines(row.lines), startedAt: Number(row.started_at) },
              answers: new Map(answers.map((answer) => [answer.custom_id, answerOf(answer.answer)])),
              cancelled: row.cancelled_at !== null,
              ended: row.ended_at !== null
            }
          })
        ),
      // One statement: the run's row and its lines' outcomes counted, no answer read.
      progress: (run) =>
        Sql.step(
          sqlBounds,
          "reading a batch run's progress",
          Effect.map(
            sql<ProgressRow>`SELECT cancelled_at, ended_at,
              (SELECT COUNT(*) FROM batch_run_answers WHERE run = ${run}) AS total,
              (SELECT COUNT(*) FROM batch_run_answers WHERE run = ${run} AND outcome = 'reply') AS succeeded,
              (SELECT COUNT(*) FROM batch_run_answers WHERE run = ${run} AND outcome = 'error') AS failed
              FROM batch_runs WHERE id = ${run}`,
            ([row]): Progress | undefined =>
              row === undefined ? undefined : {
                total: Number(row.total),
                succeeded: Number(row.succeeded),
                failed: Number(row.failed),
                cancelled: row.cancelled_at !== null,
                ended: row.ended_at !== null
              }
          )
        )
    }
  })
