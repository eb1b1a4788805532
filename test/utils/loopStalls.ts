/**
 * How long this process's event loop stalled while an effect ran: for the bounds on
 * when things are seen (a grant stamped when its reply is read, a request when the
 * server reads it) that must allow for the delay between an event and its stamp. On
 * an idle machine that delay is a loopback write; on a loaded one, whatever time the
 * process spent stalled (descheduled, in a GC pause) between the two, which the
 * loop's own timers see.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { monitorEventLoopDelay } from "node:perf_hooks"

/** How often the loop is sampled, in milliseconds. */
const resolution = 10

/**
 * Runs `effect` and returns its value with the longest stall of the event loop seen
 * while it ran, in milliseconds: the longest gap between two turns of a timer due
 * every 10 ms, so at least any stall, and about 10 ms on an idle machine. Two timers:
 * Node's histogram (its native timer) and a JavaScript one, as the limiter's waits and
 * the fibers' turns are; under load the histogram was seen to miss gaps of hundreds of
 * milliseconds that the JavaScript timer, and the requests stamped across them, saw.
 */
export const withLoopStalls = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [A, number], E, R> =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const histogram = monitorEventLoopDelay({ resolution })
      histogram.enable()
      return { histogram, timer: gapTimer() }
    }),
    ({ histogram, timer }) =>
      Effect.gen(function*() {
        const value = yield* effect
        // One more sample: a stall that ended as the effect did is recorded on the timers' next turn.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2 * resolution)))
        return [value, Math.max(histogram.max / 1e6, timer.longest())] as const
      }),
    ({ histogram, timer }) =>
      Effect.sync(() => {
        histogram.disable()
        timer.stop()
      })
  )

/** A JavaScript timer due every `resolution` ms: the longest gap between two of its turns, until stopped. */
function gapTimer() {
  let last = performance.now()
  let longest = 0
  const interval = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }, resolution)
  return {
    longest: () => Math.max(longest, performance.now() - last),
    stop: () => clearInterval(interval)
  }
}

/**
 * `stall` as a windowed bound's allowance, when it is at most `cap`; otherwise fails the
 * test: a bound widened by a longer stall would pass the over-admission it is there to
 * catch, so the run would prove nothing.
 */
export const stallWithin = (stall: number, cap: number) => {
  expect(
    stall,
    `the event loop stalled ${stall} ms during the load, over the ${cap} ms the windowed bound can allow: ` +
      "the machine stalled too long for the bound to mean anything"
  ).toBeLessThanOrEqual(cap)
  return stall
}

/**
 * `measure(n)` (the load, run under `withLoopStalls`) taken again, up to `tries` times in
 * all, while the loop stalled past `cap` during it: a load the machine disturbed proves
 * nothing either way, so it is retaken rather than judged; a machine that stalls past
 * `cap` every time fails the test (`stallWithin`). Returns the undisturbed take's value
 * and its stall.
 */
export const undisturbed = <A, E, R>(
  measure: (take: number) => Effect.Effect<A, E, R>,
  cap: number,
  tries = 3
): Effect.Effect<readonly [A, number], E, R> => {
  const take = (n: number): Effect.Effect<readonly [A, number], E, R> =>
    Effect.flatMap(
      withLoopStalls(measure(n)),
      ([value, stall]) =>
        stall <= cap || n + 1 >= tries ? Effect.succeed([value, stallWithin(stall, cap)] as const) : take(n + 1)
    )
  return take(0)
}
