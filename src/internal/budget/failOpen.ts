/**
 * Fail-open, as a decorator over `Budget.BudgetStore` (the shared part is `persistence/failOpen.ts`): every step goes
 * to the shared store, and while that fails with `StoreUnavailableError`, to a local store whose counters hold
 * `1 / instances` of their limits. A reservation is settled or released where it was taken; a settle served by the
 * local store is also given to `keep`, what the shared store keeps of it while away (a Redis store's record).
 */
import * as Effect from "effect/Effect"
import type * as Budget from "../../Budget.js"
import { orLocal, shareOf } from "../persistence/failOpen.js"

/** `shared`, falling back on `local` with `1 / instances` of each limit while it is unavailable. */
export const failOpen = (
  shared: Budget.BudgetStore["Service"],
  local: Budget.BudgetStore["Service"],
  instances: number,
  keep: (held: Budget.Held, cost: number) => Effect.Effect<void>
): Budget.BudgetStore["Service"] => {
  // The reservations taken from the local store, which only it can settle.
  const localIds = new Set<string>()
  const reserveLocally = (held: Budget.Held) =>
    Effect.map(
      local.reserve({
        ...held,
        counters: held.counters.map((counter) => ({ ...counter, limit: shareOf(counter.limit, instances) }))
      }),
      (reserved) => {
        if (reserved._tag === "Reserved") localIds.add(held.id)
        return reserved
      }
    )
  return {
    reserve: (held) => orLocal(shared.reserve(held), reserveLocally(held)),
    settle: (held, cost) =>
      localIds.delete(held.id)
        ? Effect.andThen(local.settle(held, cost), keep(held, cost))
        : shared.settle(held, cost),
    release: (held) => localIds.delete(held.id) ? local.release(held) : shared.release(held),
    spend: (counters) => orLocal(shared.spend(counters), local.spend(counters))
  }
}
