/**
 * Fail-open, as a decorator over `Budget.BudgetStore` (the shared part is `persistence/failOpen.ts`): every step goes
 * to the shared store and, while that fails with `StoreUnavailableError`, to an outage's local store in memory. A
 * reservation is settled or released where it was taken; a settle served locally is also given to `keep` (a Redis
 * store's record).
 *
 * An outage never renews a budget: a local store holds `1 / instances` of what was left of each limit when this
 * instance last read its counter (`known`), so a limit spent there is spent here too, and a window begun since starts
 * from nothing, as the shared store's would. A counter this instance never read is answered as under fail-closed until
 * the shared store answers: what was spent there is not known, so nothing is safe to give.
 */
import * as Effect from "effect/Effect"
import type * as Budget from "../../Budget.js"
import type { StoreUnavailableError } from "../../Store.js"
import { outage, shareOfRemainder } from "../persistence/failOpen.js"
import * as Memory from "./memory.js"

/** What a counter's window had committed (spent and reserved) when this instance last read it at `at`; none unread. */
export type Known = (counter: Budget.Counter, at: number) => number | undefined

/** `shared`, falling back on an outage's store with `1 / instances` of what was left of each limit. */
export const failOpen = (
  shared: Budget.BudgetStore["Service"],
  known: Known,
  instances: number,
  keep: (held: Budget.Held, cost: number) => Effect.Effect<void>
): Budget.BudgetStore["Service"] => {
  const outages = outage(Effect.sync(Memory.budgetStore))
  // The reservations taken in a local store, which only it can settle.
  const localHeld = new Map<string, Budget.BudgetStore["Service"]>()
  const limitOf = (counter: Budget.LimitedCounter, at: number) =>
    shareOfRemainder(counter.limit, known(counter, at) ?? counter.limit, instances)
  const reserveLocally = (held: Budget.Held) =>
  (
    local: Budget.BudgetStore["Service"],
    unavailable: StoreUnavailableError
  ): Effect.Effect<Budget.Reserved, StoreUnavailableError> =>
    // A counter never read may have been spent to its limit: nothing is granted on it until the store answers.
    held.counters.some((counter) => known(counter, held.at) === undefined) ? Effect.fail(unavailable) : Effect.map(
      Effect.orDie(local.reserve({
        ...held,
        counters: held.counters.map((counter) => ({ ...counter, limit: limitOf(counter, held.at) }))
      })),
      (reserved): Budget.Reserved => {
        if (reserved._tag === "Reserved") {
          localHeld.set(held.id, local)
          return reserved
        }
        // What the limit has gone, as last known in the shared store and since in this one.
        return { ...reserved, committed: reserved.committed + (known(held.counters[reserved.index]!, held.at) ?? 0) }
      }
    )
  const spendLocally = (counters: ReadonlyArray<Budget.Counter>) => (local: Budget.BudgetStore["Service"]) =>
    Effect.map(Effect.orDie(local.spend(counters)), (found) =>
      found.map((spend, index): Budget.CounterSpend => ({
        ...spend,
        spent: spend.spent + (known(counters[index]!, spend.periodStart) ?? 0)
      })))
  const settleWith = (held: Budget.Held, cost: number) => {
    const local = localHeld.get(held.id)
    if (local === undefined) return shared.settle(held, cost)
    localHeld.delete(held.id)
    return cost === 0 ? local.release(held) : Effect.andThen(local.settle(held, cost), keep(held, cost))
  }
  return {
    reserve: (held) => outages.orLocal(shared.reserve(held), reserveLocally(held)),
    settle: settleWith,
    release: (held) => settleWith(held, 0),
    spend: (counters) => outages.orLocal(shared.spend(counters), spendLocally(counters))
  }
}
