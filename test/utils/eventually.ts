/**
 * Waiting in a test for a state that comes by itself (a server's first line, a
 * refresh from a store, a log line written after its response): one helper, which
 * fails the test naming what it waited for and what it saw last when the state
 * never comes, rather than letting the test carry on without it.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { inspect } from "node:util"

/** How often `read` is run, and how long the state may take; by default every 10 ms, for 30 s. */
export interface Options {
  readonly every?: Duration.Input
  readonly within?: Duration.Input
}

/** Waits `millis` on a real timer: a test's own clock may be a TestClock, which nothing advances while this waits. */
export const pause = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    const timer = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(timer))
  })

/**
 * The value of `read` once `holds` is true of it, read again every `every`. After
 * `within` / `every` readings that all missed (about `within`: the readings span it less one
 * `every`, longer on a loaded machine; a passing test never waits it out) it dies with an error naming `what`
 * and the last value read.
 */
export const eventually = <A, E, R>(
  what: string,
  read: Effect.Effect<A, E, R>,
  holds: (a: A) => boolean,
  options: Options = {}
): Effect.Effect<A, E, R> => {
  const every = Duration.toMillis(options.every ?? "10 millis")
  const within = Duration.toMillis(options.within ?? "30 seconds")
  const readings = Math.max(1, Math.ceil(within / every))
  return Effect.gen(function*() {
    let last: A | undefined
    for (let i = 0; i < readings; i++) {
      if (i > 0) yield* pause(every)
      last = yield* read
      if (holds(last)) return last
    }
    return yield* Effect.die(
      new Error(
        `${what}: never came within ${within} ms (read ${readings} times, every ${every} ms); last seen: ${
          inspect(last, { depth: 4 })
        }`
      )
    )
  })
}
