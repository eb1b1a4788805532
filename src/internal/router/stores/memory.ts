/**
 * The memory backends of the router's stores, by the rules of `router/breaker.ts` and `router/learnedLimits.ts` on the
 * `Clock` (`TestClock` drives them); pins in a map bounded by `maxSessions`. What is under one key of one store is
 * shared, as it is in Redis.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Router from "../../../Router.js"
import { keptIn } from "../../keptIn.js"
import { digestOf } from "../affinity.js"
import * as Breaker from "../breaker.js"
import { Window } from "../learnedLimits.js"

export function breakerStore(): Router.BreakerStore["Service"] {
  const breakers = new Map<string, Breaker.Breaker>()
  const breaker = Effect.fnUntraced(function*(options: Router.BreakerOptions) {
    const clock = yield* Clock.Clock
    const state = keptIn(breakers, options.key, Breaker.make)
    function step(change: (now: number) => boolean | void) {
      return Effect.sync(() => {
        const now = clock.currentTimeMillisUnsafe()
        return Breaker.replyOf(state, now, change(now) !== false)
      })
    }
    return {
      send: step((now) => Breaker.send(state, now)),
      success: step(() => Breaker.success(state)),
      failure: (probe) => step((now) => Breaker.failure(state, now, options, probe)),
      release: step(() => Breaker.release(state)),
      hold: (millis) => step((now) => Breaker.hold(state, now, millis)),
      peek: step(() => undefined)
    } satisfies Router.Breaker
  })
  return { breaker, shared: false }
}

/** Pins in this process: at most `maxSessions`, each living `ttlMillis` after its last answer. */
export function pins(ttlMillis: number, maxSessions: number): Router.Pins & {
  /** The keys the pins are kept under (`digestOf` their sessions), the least recently answered first. */
  readonly keys: () => ReadonlyArray<string>
} {
  // In insertion order, which a pin renews: the first entry is the least recently answered.
  const kept = new Map<string, { readonly pin: Router.Pin; readonly until: number }>()
  return {
    lookup: (session) =>
      Effect.clockWith((clock) => {
        const key = digestOf(session)
        const entry = kept.get(key)
        if (entry === undefined) return Effect.undefined
        if (entry.until > clock.currentTimeMillisUnsafe()) return Effect.succeed(entry.pin)
        kept.delete(key)
        return Effect.undefined
      }),
    pin: (session, pin) =>
      Effect.clockWith((clock) => {
        const key = digestOf(session)
        kept.delete(key)
        kept.set(key, { pin, until: clock.currentTimeMillisUnsafe() + ttlMillis })
        if (kept.size > maxSessions) kept.delete(kept.keys().next().value!)
        return Effect.void
      }),
    keys: () => [...kept.keys()],
    counts: Effect.clockWith((clock) => {
      const now = clock.currentTimeMillisUnsafe()
      const counts = new Map<string, number>()
      for (const [session, entry] of kept) {
        if (entry.until <= now) kept.delete(session)
        else counts.set(entry.pin.deployment, (counts.get(entry.pin.deployment) ?? 0) + 1)
      }
      return Effect.succeed(counts)
    })
  }
}

export function affinityStore(): Router.AffinityStore["Service"] {
  const sets = new Map<string, Router.Pins>()
  return {
    pins: (options) => Effect.sync(() => keptIn(sets, options.key, () => pins(options.ttlMillis, options.maxSessions)))
  }
}

/** A `LearnedLimitStore` in memory: each key's two windows, made with the options of the first to ask for them. */
export function learnedLimitStore(): Router.LearnedLimitStore["Service"] {
  const kept = new Map<string, Router.Samples>()
  function samplesOf(options: Router.SamplesOptions): Router.Samples {
    const windows = { firstChunk: new Window(options), gap: new Window(options) }
    function reply(): Router.SamplesReply {
      return { firstChunk: windows.firstChunk.reply(), gap: windows.gap.reply() }
    }
    return {
      add: (phase, millis) =>
        Effect.sync(() => {
          windows[phase].add(millis)
          return reply()
        }),
      peek: Effect.sync(reply)
    }
  }
  return {
    samples: (options) => Effect.sync(() => keptIn(kept, options.key, () => samplesOf(options))),
    shared: false
  }
}
