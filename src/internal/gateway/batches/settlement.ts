/**
 * The settling of a batch once it ended at its provider (docs/batch.md, "Settlement"): each line of its result that ran
 * is billed at the batch price, once, whichever instance settles it and however often. A batch is settled where it was
 * recorded open (the database, else the shared Redis, else only by the instance that made it). One instance at a time
 * holds its lease (`settlements.ts`), renewed before each line, so a holder that died leaves it to the next; each line
 * is recorded settled with its cost once, and logged and counted by the settling that recorded it. The budget is
 * charged once, at the end: the worst case held since the batch was made (`Budget.hold`, so a batch made beside it must
 * fit beside it) is replaced by its lines' recorded costs, once per hold. So a settling interrupted and taken up again
 * records no line twice and charges the budget once.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Budget from "../../../Budget.js"
import type { Usage } from "../../../ChatResponse.js"
import * as Pricing from "../../../Pricing.js"
import type { BatchLine } from "../../../ProviderClient.js"
import type { StoreUnavailableError } from "../../../Store.js"
import type { LastStatus, Settlements } from "./settlements.js"

/** A billed line of a batch's result: its custom id, who answered it, and its usage and cost at the batch tier. */
export interface Billed {
  readonly customId: string
  readonly provider: string
  readonly model: string
  readonly usage: Usage
  /** US dollars; 0 where the deployment has no price. */
  readonly cost: number
}

/**
 * The lines of a batch's result, each custom id once: its first line (a result file repeating a line shows and bills
 * it once); a line without a custom id is no request's.
 */
export function distinctLines(
  lines: ReadonlyArray<BatchLine>
): ReadonlyArray<BatchLine & { readonly customId: string }> {
  const seen = new Set<string>()
  const out: Array<BatchLine & { readonly customId: string }> = []
  for (const line of lines) {
    const customId = line.customId
    if (customId === undefined || seen.has(customId)) continue
    seen.add(customId)
    out.push({ ...line, customId })
  }
  return out
}

/**
 * The lines of a result that are billed, each custom id once (`distinctLines`): those answered, at `price`'s batch
 * tier, or for `"live"` (a batch run as calls, `calls.ts`) as each call was billed, at its deployment's live price.
 */
export function billed(
  lines: ReadonlyArray<BatchLine>,
  price: Pricing.Price | undefined | "live"
): ReadonlyArray<Billed> {
  const out: Array<Billed> = []
  for (const { customId, outcome } of distinctLines(lines)) {
    if (typeof outcome === "string" || Result.isFailure(outcome)) continue
    const reply = outcome.success
    const usage: Usage = price === "live" ? reply.usage : { ...reply.usage, serviceTier: Pricing.batchTier }
    const cost = price === "live" ? reply.cost : Pricing.cost(price, usage)
    out.push({ customId, provider: reply.provider, model: reply.model, usage, cost: cost ?? 0 })
  }
  return out
}

/** How long a settling's lease lasts without renewal: a holder that died leaves the batch to the next after it. */
export const leaseTtl = Duration.seconds(30)

/** What settles one batch. */
export interface Settling {
  readonly store: Settlements
  /** The batch's id as its client holds it, the key of its record. */
  readonly batch: string
  /** This instance, as the lease names its holder. */
  readonly holder: string
  /** The batch's status at its provider as it ended, recorded with it by the settling that closes it. */
  readonly last: LastStatus
  /** Writes one line's row in the request log and counts it in the metrics: run once per line, as it is recorded. */
  readonly logged: (line: Billed) => Effect.Effect<void>
  /** What is noted of the batch's end (its metrics): run once, by the settling that records it settled. */
  readonly ended: Effect.Effect<void>
  /** Replaces the batch's hold with its lines' cost; a hold settled already is not counted again. */
  readonly charged: (hold: Budget.Hold, cost: number) => Effect.Effect<void, StoreUnavailableError>
}

/**
 * Whether the settling ended with the batch recorded settled by it, or left it: to the instance that holds its lease
 * (or that recorded it settled first), or because it is settled already or not recorded open in this store.
 */
export type Outcome = "settled" | "left"

/**
 * The batch settled from its billed lines under its lease, its hold charged the cost of every line recorded (by this
 * settling or an earlier one), at most the hold. `"left"` when another instance holds or took its lease (that one
 * settles it), or the batch is settled already or not recorded open.
 */
export const settle = Effect.fn("BatchSettlement.settle")(function*(
  settling: Settling,
  lines: ReadonlyArray<Billed>
): Effect.fn.Return<Outcome, StoreUnavailableError> {
  const { batch, charged, ended, holder, last, logged, store } = settling
  const ttl = Duration.toMillis(leaseTtl)
  const leased = Effect.flatMap(Clock.currentTimeMillis, (now) => store.lease(batch, holder, now, now + ttl))
  return yield* Effect.acquireUseRelease(
    leased,
    (held) =>
      Effect.gen(function*() {
        if (!held) return "left" as const
        for (const line of lines) {
          // Renewed before each line: a lease lost (this instance stalled past it) leaves the rest to its new holder.
          if (!(yield* leased)) return "left" as const
          yield* Effect.uninterruptible(
            Effect.flatMap(
              store.settleLine(batch, line.customId, line.cost),
              (first) => first ? logged(line) : Effect.void
            )
          )
        }
        const recorded = yield* store.settled(batch)
        if (recorded === undefined || recorded.closed) return "left" as const
        if (recorded.hold !== undefined) {
          let cost = 0
          for (const lineCost of recorded.lines.values()) cost += lineCost
          // Each line's worst case was held, which bounds what a provider keeping to its `max_tokens` bills it: lines
          // reported past it are charged the hold, so a batch never passes the budget it fitted (docs/batch.md).
          const held = recorded.hold.estimate
          if (cost > held) {
            yield* Effect.logWarning("a batch's lines were reported past its hold: its budget is charged the hold")
              .pipe(
                Effect.annotateLogs({ batch, cost, held })
              )
          }
          yield* charged(recorded.hold, Math.min(cost, held))
        }
        const closed = yield* Effect.uninterruptible(
          Effect.flatMap(
            Clock.currentTimeMillis,
            (now) => Effect.tap(store.close(batch, now, last), (first) => first ? ended : Effect.void)
          )
        )
        return closed ? "settled" as const : "left" as const
      }),
    (held) => held ? Effect.ignore(store.unlease(batch, holder)) : Effect.void
  )
})
