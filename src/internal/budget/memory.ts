/**
 * The memory backend of `Budget.BudgetStore`: each counter's spend in its current window and its reservations, kept
 * in this process and read on the `Clock`, so `TestClock` drives its windows. Counters of one name are one count in
 * each period, as the SQL store keeps them: a budget whose period changed counts in the new period's windows, and one
 * of the old period still settling its calls charges the old period's.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Budget from "../../Budget.js"
import { refuses, type Window, windowAt } from "./window.js"

interface Count {
  window: Window
  spent: number
  /** The estimates reserved in it, by reservation id: they stay when a window ends. */
  readonly reservations: Map<string, number>
}

const reservedIn = (count: Count): number => {
  let total = 0
  for (const estimate of count.reservations.values()) total += estimate
  return total
}

export const budgetStore = (): Budget.BudgetStore["Service"] => {
  const counts = new Map<string, Count>()
  // The counter's count, its window the one that holds `now` (a window's spend starts again from zero), or a later
  // one already opened: an instant read before another fiber's step is never taken back to an ended window.
  const countAt = (counter: Budget.Counter, now: number): Count => {
    const window = windowAt(counter.period, now)
    const id = `${counter.name}@${window.period}`
    const count = counts.get(id)
    if (count === undefined) {
      const made: Count = { window, spent: 0, reservations: new Map() }
      counts.set(id, made)
      return made
    }
    if (window.start > count.window.start) {
      count.window = window
      count.spent = 0
    }
    return count
  }

  const reserve = (held: Budget.Held) =>
    Effect.sync((): Budget.Reserved => {
      const found = held.counters.map((counter) => countAt(counter, held.at))
      for (const [index, count] of found.entries()) {
        const committed = count.spent + reservedIn(count)
        if (refuses(committed, held.estimate, held.counters[index]!.limit)) {
          return { _tag: "Refused", index, committed, periodEnd: count.window.end }
        }
      }
      for (const count of found) count.reservations.set(held.id, held.estimate)
      return { _tag: "Reserved" }
    })

  const settle = (held: Budget.Held, cost: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        for (const counter of held.counters) {
          const count = countAt(counter, now)
          if (count.reservations.delete(held.id)) count.spent += cost
        }
      }))

  const spend = (counters: ReadonlyArray<Budget.Counter>) =>
    Effect.map(Clock.currentTimeMillis, (now) =>
      counters.map((counter): Budget.CounterSpend => {
        const count = countAt(counter, now)
        return {
          spent: count.spent,
          reserved: reservedIn(count),
          periodStart: count.window.start,
          periodEnd: count.window.end
        }
      }))

  return { reserve, settle, release: (held) => settle(held, 0), spend }
}
