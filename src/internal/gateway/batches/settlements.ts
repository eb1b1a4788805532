/**
 * What the gateway keeps of the settling of its batches (docs/batch.md, "Settlement"): each batch recorded open when
 * made, the lease on its settling (one instance at a time; a lease lapses when its holder stops renewing it, so an
 * instance that died leaves it to the next), the lines settled with their cost, and the batch recorded settled with its
 * last status (which the admin's list then shows, asking the provider no more). `settlement.ts` settles; this is its
 * store, `SettlementStore`: the database (`layerSql`), else the shared Redis (`settlementsRedis.ts`), under one
 * contract (`test/contract/batchSettlements.ts`), the lease by `persistence/lease.ts`.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SqlSchema from "effect/sql/SqlSchema"
import type * as Budget from "../../../Budget.js"
import type { BatchStatus } from "../../../ProviderClient.js"
import type { StoreUnavailableError } from "../../../Store.js"
import { Numeric, tableRow } from "../../persistence/columns.js"
import * as Leases from "../../persistence/lease.js"
import * as Sql from "../../persistence/sql.js"

/** A batch recorded open: its id as its client holds it (`ids.ts`), from which any instance opens it again. */
export interface OpenBatch {
  readonly id: string
  /** When it was made, in Clock millis. */
  readonly openedAt: number
  /** Its worst case held on its key's budget until it is settled; none for a key without a budget. */
  readonly hold?: Budget.Hold | undefined
}

/** A batch's status at its provider as its settling found it ended: final, so it need not be asked again. */
export type LastStatus = Pick<BatchStatus, "state" | "total" | "succeeded" | "failed">

/** What is recorded of a batch's settling; no last status while open, or when a version that kept none settled it. */
export interface Settled {
  readonly lines: ReadonlyMap<string, number>
  readonly hold: Budget.Hold | undefined
  readonly closed: boolean
  readonly settledAt: number | undefined
  readonly last: LastStatus | undefined
}

/** The settlements' store: each operation one atomic step. */
export interface Settlements {
  /** `batch` recorded open, unless it is recorded already (open or settled). */
  readonly open: (batch: OpenBatch) => Effect.Effect<void, StoreUnavailableError>
  /** The batches open, the oldest first. */
  readonly opened: Effect.Effect<ReadonlyArray<OpenBatch>, StoreUnavailableError>
  /**
   * The settling of the open `batch` taken, or renewed, by `holder` until `until` (Clock millis): true when `holder`
   * holds it now (it was free, its lease lapsed by `now`, or it was `holder`'s); false when another holds it, or the
   * batch is settled or was never opened.
   */
  readonly lease: (
    batch: string,
    holder: string,
    now: number,
    until: number
  ) => Effect.Effect<boolean, StoreUnavailableError>
  /** The lease of `holder` on `batch` given up, when it holds it. */
  readonly unlease: (batch: string, holder: string) => Effect.Effect<void, StoreUnavailableError>
  /** `batch`'s line `customId` recorded settled at `cost`: true when it was not yet, false when it was. */
  readonly settleLine: (
    batch: string,
    customId: string,
    cost: number
  ) => Effect.Effect<boolean, StoreUnavailableError>
  /**
   * `batch` recorded settled at `now` (its lease dropped), with its `last` status at its provider: it is open no more.
   * True when this recorded it, false when it was settled already (or never opened).
   */
  readonly close: (batch: string, now: number, last: LastStatus) => Effect.Effect<boolean, StoreUnavailableError>
  /** What is recorded of `batch`, or `undefined` when it was never opened (or was forgotten). */
  readonly settled: (batch: string) => Effect.Effect<Settled | undefined, StoreUnavailableError>
  /** The batches settled before `before` forgotten with their lines: one forgotten is never settled again. */
  readonly forget: (before: number) => Effect.Effect<void, StoreUnavailableError>
}

export class SettlementStore
  extends Context.Service<SettlementStore, Settlements>()("effect-llm-router/gateway/batches/SettlementStore")
{}

const NumberOrNull = Schema.NullOr(Numeric)

const BatchRow = tableRow("batch_settlements", {
  hold_id: Schema.NullOr(Schema.String),
  hold_estimate: NumberOrNull,
  hold_at: NumberOrNull,
  hold_until: NumberOrNull,
  settled_at: NumberOrNull,
  last_state: Schema.NullOr(Schema.Literals(["running", "completed", "expired", "cancelled", "refused"])),
  last_total: NumberOrNull,
  last_succeeded: NumberOrNull,
  last_failed: NumberOrNull
})
const OpenRow = tableRow("batch_settlements", { id: Schema.String, opened_at: Numeric })
const LineRow = tableRow("batch_settled_lines", { custom_id: Schema.String, cost: Numeric })

// A hold and a last status are written whole (`open`, `close`): a column of one null beside a set one reads as none.
function holdOf(row: typeof BatchRow.Type): Budget.Hold | undefined {
  const { hold_at, hold_estimate, hold_id, hold_until } = row
  return hold_id === null || hold_estimate === null || hold_at === null || hold_until === null
    ? undefined
    : { id: hold_id, estimate: hold_estimate, at: hold_at, until: hold_until }
}

function lastStatusOf(row: typeof BatchRow.Type): LastStatus | undefined {
  const { last_failed, last_state, last_succeeded, last_total } = row
  return last_state === null || last_total === null || last_succeeded === null || last_failed === null
    ? undefined
    : { state: last_state, total: last_total, succeeded: last_succeeded, failed: last_failed }
}

/** The settlements in the gateway's database, which every instance on it shares. */
export const layerSql: Layer.Layer<SettlementStore, never, Sql.Database> = Layer.effect(
  SettlementStore,
  Effect.map(Sql.steps, ({ sql, step, transaction }): Settlements => {
    const lease = Leases.sqlLease(sql, { name: "batch_settlements", closed: "settled_at" })
    const batchOf = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: BatchRow,
      execute: (batch) =>
        sql`SELECT hold_id, hold_estimate, hold_at, hold_until, settled_at, last_state, last_total, last_succeeded,
          last_failed FROM batch_settlements WHERE id = ${batch}`
    })
    const linesOf = SqlSchema.findAll({
      Request: Schema.String,
      Result: LineRow,
      execute: (batch) => sql`SELECT custom_id, cost FROM batch_settled_lines WHERE batch = ${batch}`
    })
    const opened = SqlSchema.findAll({
      Request: Schema.Void,
      Result: OpenRow,
      execute: () => sql`SELECT id, opened_at FROM batch_settlements WHERE settled_at IS NULL ORDER BY opened_at, id`
    })
    return {
      open: (batch) =>
        step(
          "recording a batch open",
          sql`INSERT INTO batch_settlements (id, opened_at, hold_id, hold_estimate, hold_at, hold_until)
            VALUES (${batch.id}, ${batch.openedAt}, ${batch.hold?.id ?? null}, ${batch.hold?.estimate ?? null},
            ${batch.hold?.at ?? null}, ${batch.hold?.until ?? null})
            ON CONFLICT (id) DO NOTHING`
        ).pipe(Effect.asVoid),
      opened: step(
        "listing the open batches",
        Effect.map(opened(undefined), (rows) => rows.map((row) => ({ id: row.id, openedAt: row.opened_at })))
      ),
      lease: (batch, holder, now, until) =>
        step(
          "taking a batch's settling",
          Effect.map(lease.take({ id: batch, holder, now, until }, "id"), (rows) => rows.length > 0)
        ),
      unlease: (batch, holder) => step("giving up a batch's settling", lease.giveUp(batch, holder)).pipe(Effect.asVoid),
      settleLine: (batch, customId, cost) =>
        transaction(
          "recording a batch's line settled",
          Effect.gen(function*() {
            const inserted = yield* sql`INSERT INTO batch_settled_lines (batch, custom_id, cost)
              SELECT ${batch}, ${customId}, ${cost} WHERE EXISTS (SELECT 1 FROM batch_settlements WHERE id = ${batch})
              ON CONFLICT (batch, custom_id) DO NOTHING RETURNING custom_id`
            return inserted.length > 0
          })
        ),
      // One statement: of two instances closing at once, the row's lock lets one update it; the other finds it settled.
      close: (batch, now, last) =>
        step(
          "recording a batch settled",
          Effect.map(
            sql`UPDATE batch_settlements SET settled_at = ${now}, ${lease.freed},
              last_state = ${last.state}, last_total = ${last.total},
              last_succeeded = ${last.succeeded}, last_failed = ${last.failed}
              WHERE id = ${batch} AND settled_at IS NULL RETURNING id`,
            (rows) => rows.length > 0
          )
        ),
      settled: (batch) =>
        transaction(
          "reading a batch's settlement",
          Effect.gen(function*() {
            const row = Option.getOrUndefined(yield* batchOf(batch))
            if (row === undefined) return undefined
            const lines = yield* linesOf(batch)
            return {
              lines: new Map(lines.map((line) => [line.custom_id, line.cost])),
              hold: holdOf(row),
              closed: row.settled_at !== null,
              settledAt: row.settled_at ?? undefined,
              last: lastStatusOf(row)
            }
          })
        ),
      forget: (before) =>
        transaction(
          "forgetting the batches settled long ago",
          Effect.gen(function*() {
            yield* sql`DELETE FROM batch_settled_lines WHERE batch IN
              (SELECT id FROM batch_settlements WHERE settled_at < ${before})`
            yield* sql`DELETE FROM batch_settlements WHERE settled_at < ${before}`
          })
        )
    }
  })
)
