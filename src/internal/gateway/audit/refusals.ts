/**
 * The audit rows of refused admin requests (401 and 403: a wrong or missing key or token, a role without the
 * permission), which anyone who reaches the port can cause, bounded per source address: a token bucket per address
 * (`RateLimiter`'s memory `BucketStore`, which forgets a full bucket, so an address that stopped costs nothing) admits
 * `rowsPerWindow` rows a window, in a burst or spread over it. The refusals past it are counted, not written, and one
 * window after the first of them one row says how many were dropped (its action `refusals dropped`, its `after`
 * `{ "dropped", "first", "last" }`, the times of the first and the last dropped), so a flood leaves a bounded trace and
 * the count of what it was. Addresses beyond `trackedAddresses` with drops pending are counted together, under no
 * address.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type { StoreUnavailableError } from "../../../Store.js"
import * as Memory from "../../rateLimiter/memory.js"
import * as Chain from "./chain.js"
import type { AuditLog } from "./store.js"

/** How many rows of refusals from one address a window holds (a burst of as many, then spread). */
export const rowsPerWindow = 20

/** The window the rows of refusals from one address are bounded over. */
export const window = Duration.minutes(1)

/** The addresses whose dropped refusals are counted apart at once; those past it are counted together. */
const trackedAddresses = 10_000

/** The action of the row that says how many refusals from an address were not recorded. */
export const droppedAction = "refusals dropped"

/** The actor of the rows the gateway writes of itself. */
export const gatewayActor = "gateway"

/** Whether an answer's row is a refusal's, bounded here. */
export function isRefusal(status: number): boolean {
  return status === 401 || status === 403
}

export interface Refusals {
  /** A refusal's `entry` appended, when its address has rows left in the window; else counted for its summary. */
  readonly record: (entry: Chain.Entry) => Effect.Effect<void, StoreUnavailableError>
}

/** The refusals dropped from one address since its last summary. */
interface Dropped {
  readonly from: string | null
  count: number
  readonly first: number
  last: number
}

/** The refusals' rows in `log`, their summaries written in the scope (`rows` a `per` window from one address). */
export const make = Effect.fnUntraced(function*(
  log: AuditLog,
  options: { readonly rows: number; readonly per: Duration.Duration } = { rows: rowsPerWindow, per: window }
): Effect.fn.Return<Refusals, never, Scope.Scope> {
  const scope = yield* Effect.scope
  const buckets = Memory.bucketStore()
  const refillRate = options.rows / Duration.toSeconds(options.per)
  const pending = new Map<string, Dropped>()

  // One window after the first refusal it counts: the summary row, and the count started again.
  const summarise = Effect.fnUntraced(function*(key: string, dropped: Dropped) {
    yield* Effect.sleep(options.per)
    pending.delete(key)
    const entry: Chain.Entry = {
      at: yield* Clock.currentTimeMillis,
      actor: gatewayActor,
      action: droppedAction,
      object: null,
      before: null,
      after: Chain.canonical({
        dropped: dropped.count,
        first: new Date(dropped.first).toISOString(),
        last: new Date(dropped.last).toISOString()
      }),
      outcome: "refused",
      status: 429,
      code: "audit_rows_dropped",
      from: dropped.from
    }
    yield* log.append(entry).pipe(
      Effect.catch((error) =>
        Effect.logError("Gateway: the count of refusals not recorded could not be recorded in the audit log").pipe(
          Effect.annotateLogs({ from: dropped.from ?? "", dropped: dropped.count, reason: error.message })
        )
      )
    )
  })

  const record = Effect.fnUntraced(function*(entry: Chain.Entry) {
    const address = entry.from ?? ""
    const bucket = yield* buckets.bucket({ key: address, capacity: options.rows, refillRate })
    const taken = yield* bucket.tryTake(1)
    if (taken.granted) {
      yield* log.append(entry)
      return
    }
    // Past the addresses counted apart, the rest together: the map stays bounded whoever floods.
    const key = pending.has(address) || pending.size < trackedAddresses ? address : "*"
    const counted = pending.get(key)
    if (counted !== undefined) {
      counted.count++
      counted.last = entry.at
      return
    }
    const dropped: Dropped = { from: key === "*" ? null : entry.from, count: 1, first: entry.at, last: entry.at }
    pending.set(key, dropped)
    yield* Effect.forkIn(summarise(key, dropped), scope)
  })

  return { record }
})
