/**
 * The budget over a `Budget.BudgetStore`, whatever backend keeps it: a check reserves the call's estimate in every
 * limit it is under, all or none, in one step of the store; a charge settles the reservation with its cost (or releases
 * it, for a call not billed), once. An unavailable store refuses a check with `NoCapacityError`; one that fails open
 * (`budget/failOpen.ts`) never is.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Budget from "../../Budget.js"
import { type BudgetExceededError, NoCapacityError } from "../../LlmError.js"
import type { OptionsError } from "../../OptionsError.js"
import * as Invalid from "../optionsError.js"
import { uniqueId } from "../persistence/uniqueId.js"
import { exceeded, periodName } from "./window.js"

/** What a budget is over: its limits, each with its counter's name in the store, and which of them a call is under. */
export interface Plan {
  readonly limits: ReadonlyArray<Budget.Limit>
  /** Each limit's counter name, by position: limits of one name in one store are one count. */
  readonly names: ReadonlyArray<string>
  /** The positions of the limits `call` is under. */
  readonly applying: (call: Budget.Call) => ReadonlyArray<number>
}

/** Why `limit` (at `index` of a budget's limits) is no limit: a negative amount, or a period that is not one. */
export function invalidLimit(limit: Budget.Limit, index: number): OptionsError | undefined {
  if (!(Number.isFinite(limit.limit) && limit.limit >= 0)) {
    return Invalid.make("Budget", `limits[${index}].limit`, limit.limit, "0 or more dollars")
  }
  const length = limit.period === "month" ? 1 : Duration.toMillis(limit.period)
  if (!(length > 0 && Number.isFinite(length))) {
    return Invalid.make("Budget", `limits[${index}].period`, limit.period, `a positive, finite duration or "month"`)
  }
  return undefined
}

/** The limits of scope `overall` and of the scopes a call lists: `Budget.make`'s rule. */
export const byScope = (limits: ReadonlyArray<Budget.Limit>) => (call: Budget.Call): ReadonlyArray<number> => {
  const scopes = call.scopes ?? []
  return limits.flatMap((limit, index) => limit.scope === "overall" || scopes.includes(limit.scope) ? [index] : [])
}

/** A budget over `plan`, kept in `store`. */
export const make = (store: Budget.BudgetStore["Service"], plan: Plan): Budget.Service => {
  const { limits, names } = plan
  const counters: ReadonlyArray<Budget.LimitedCounter> = limits.map((limit, index) => ({
    name: names[index]!,
    limit: limit.limit,
    period: limit.period
  }))
  // The reservations not yet charged, as the store holds them: a second charge finds none.
  const held = new WeakMap<Budget.Reservation, Budget.Held>()

  const unavailable = (call: Budget.Call, reason: string) =>
    Effect.andThen(
      Effect.logWarning(`A budget's store did not take a check (${reason}).`),
      Effect.fail(
        new NoCapacityError({ provider: call.provider ?? "unknown", model: call.model ?? "", storeUnavailable: true })
      )
    )

  // The call's estimate reserved in the counters of every limit it is under, as `held`: of `id`, lapsing at `until`
  // (a hold) or a lease its store renews (a call's).
  const reserveIn = Effect.fnUntraced(function*(
    call: Budget.Call,
    id: string,
    until: number | undefined
  ): Effect.fn.Return<Budget.Held, BudgetExceededError | NoCapacityError> {
    const applying = plan.applying(call)
    const reserved: Budget.Held = {
      id,
      counters: applying.map((index) => counters[index]!),
      estimate: call.estimate,
      at: yield* Clock.currentTimeMillis,
      ...(until === undefined ? {} : { until })
    }
    const answer = yield* Effect.catchTag(
      store.reserve(reserved),
      "StoreUnavailableError",
      (error) => unavailable(call, error.reason)
    )
    if (answer._tag === "Refused") {
      return yield* exceeded(call, limits[applying[answer.index]!]!, answer.committed, answer.periodEnd)
    }
    return reserved
  })

  const check = (call: Budget.Call): Effect.Effect<Budget.Reservation, BudgetExceededError | NoCapacityError> =>
    Effect.map(reserveIn(call, uniqueId(), undefined), (reserved) => {
      const reservation: Budget.Reservation = { estimate: call.estimate }
      held.set(reservation, reserved)
      return reservation
    })

  const hold = (call: Budget.Call, asked: { readonly id: string; readonly until: number }) =>
    Effect.map(reserveIn(call, asked.id, asked.until), (reserved): Budget.Hold => ({
      id: reserved.id,
      estimate: reserved.estimate,
      at: reserved.at,
      until: asked.until
    }))

  // Settled in every counter of the budget: a store counts the cost only in those that hold the reservation, once.
  const settleHold = (settled: Budget.Hold, cost: number) => {
    const reserved: Budget.Held = { ...settled, counters }
    return cost === 0 ? store.release(reserved) : store.settle(reserved, cost)
  }

  // A settle the store did not take leaves the reservation to its store (a lease lapses, a SQL store retries).
  const charge = (reservation: Budget.Reservation, cost: number | undefined): Effect.Effect<void> =>
    Effect.suspend(() => {
      const reserved = held.get(reservation)
      if (reserved === undefined) return Effect.void
      held.delete(reservation)
      return Effect.ignore(cost === 0 ? store.release(reserved) : store.settle(reserved, cost ?? reserved.estimate))
    })

  const status: Effect.Effect<ReadonlyArray<Budget.LimitStatus>> = store.spend(counters).pipe(
    Effect.map((found) =>
      limits.map((limit, index): Budget.LimitStatus => ({
        scope: limit.scope,
        limit: limit.limit,
        period: periodName(limit.period),
        spent: found[index]!.spent,
        reserved: found[index]!.reserved,
        periodStart: found[index]!.periodStart,
        periodEnd: found[index]!.periodEnd
      }))
    ),
    Effect.orElseSucceed((): ReadonlyArray<Budget.LimitStatus> => [])
  )

  return { check, charge, hold, settleHold, status }
}
