/**
 * The audit rows of refused admin requests (401 and 403: a wrong or missing key or token, a role without the
 * permission), which anyone who reaches the port can cause, bounded per source address: a token bucket per address
 * (`RateLimiter`'s `BucketStore`, which forgets a full bucket, so an address that stopped costs nothing) admits
 * `rowsPerWindow` rows a window, in a burst or spread over it. The refusals past it are counted, not written, and one
 * window after the first of them one row says how many were dropped (its action `refusals dropped`, its `after`
 * `{ "dropped", "first", "last" }`, the times of the first and the last dropped), so a flood leaves a bounded trace and
 * the count of what it was. Addresses beyond `Dropped.trackedAddresses` with drops pending are counted together, under
 * no address. The buckets and counts are in memory (`memoryState`), or, for a gateway with a database, in it
 * (`sqlState`: the SQL `BucketStore` and `dropped.ts`' table), so the bound and the summary are one for every instance
 * on it.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as RateLimiter from "../../../RateLimiter.js"
import type { StoreUnavailableError } from "../../../Store.js"
import type { Database } from "../../persistence/sql.js"
import * as Memory from "../../rateLimiter/memory.js"
import * as Sql from "../../rateLimiter/sql.js"
import * as Chain from "./chain.js"
import * as Dropped from "./dropped.js"
import type { AuditLog } from "./store.js"

/** How many rows of refusals from one address a window holds (a burst of as many, then spread). */
export const rowsPerWindow = 20

/** The window the rows of refusals from one address are bounded over. */
export const window = Duration.minutes(1)

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

/** Where a cap keeps its buckets and counts: this process' memory, or a database every instance on it shares. */
export interface State {
  readonly buckets: RateLimiter.BucketStore["Service"]
  readonly dropped: Dropped.DropCount
}

/** The state of a cap in this process' memory. */
export function memoryState(): State {
  return { buckets: Memory.bucketStore(), dropped: Dropped.memory() }
}

/** The state of a cap of `per` windows in `database`, shared by every instance on it. */
export function sqlState(database: Database, per: Duration.Duration = window): State {
  return { buckets: Sql.bucketStore(database), dropped: Dropped.sql(database, per) }
}

/**
 * The refusals' rows in `log`, their summaries written in the scope (`rows` a `per` window from one address), counted
 * in `state` (memory when not given).
 */
export const make = Effect.fnUntraced(function*(
  log: AuditLog,
  options: {
    readonly rows?: number | undefined
    readonly per?: Duration.Duration | undefined
    readonly state?: State | undefined
  } = {}
): Effect.fn.Return<Refusals, never, Scope.Scope> {
  const scope = yield* Effect.scope
  const rows = options.rows ?? rowsPerWindow
  const per = options.per ?? window
  const { buckets, dropped } = options.state ?? memoryState()
  const refillRate = rows / Duration.toSeconds(per)

  // One window after the first refusal it counts: the summary row, and the count started again.
  const summarise = Effect.fnUntraced(function*(key: string) {
    yield* Effect.sleep(per)
    const from = key === Dropped.together || key === "" ? null : key
    const written = Effect.gen(function*() {
      const counted = yield* dropped.take(key)
      if (counted === undefined) return
      const entry: Chain.Entry = {
        at: yield* Clock.currentTimeMillis,
        actor: gatewayActor,
        action: droppedAction,
        object: null,
        before: null,
        after: Chain.canonical({
          dropped: counted.count,
          first: new Date(counted.first).toISOString(),
          last: new Date(counted.last).toISOString()
        }),
        outcome: "refused",
        status: 429,
        code: "audit_rows_dropped",
        from
      }
      yield* log.append(entry)
    })
    yield* written.pipe(
      Effect.catch((error) =>
        Effect.logError("Gateway: the count of refusals not recorded could not be recorded in the audit log").pipe(
          Effect.annotateLogs({ from: from ?? "", reason: error.message })
        )
      )
    )
  })

  const record = Effect.fnUntraced(function*(entry: Chain.Entry) {
    const address = entry.from ?? ""
    const bucket = yield* buckets.bucket({ key: `audit-refusals:${address}`, capacity: rows, refillRate })
    const taken = yield* bucket.tryTake(1)
    if (taken.granted) {
      yield* log.append(entry)
      return
    }
    const { began, key } = yield* dropped.add(address, entry.at)
    if (began) yield* Effect.forkIn(summarise(key), scope)
  })

  return { record }
})
