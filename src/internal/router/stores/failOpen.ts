/**
 * Fail-open, as decorators over the router's stores (the shared part is `persistence/failOpen.ts`). A breaker, a
 * learned limit or a pin only spares a failing deployment, a silent stream or a cold cache, never a limit that must
 * hold, so the router's stores fail open whatever the store's `onUnavailable`: each instance keeps its own in memory
 * until a step succeeds on the shared store again. The store's connection logs the outage once.
 */
import * as Effect from "effect/Effect"
import type * as Router from "../../../Router.js"
import { orLocal } from "../../persistence/failOpen.js"
import type * as Pins from "./redis/affinity.js"
import type * as Breakers from "./redis/breaker.js"
import type * as Learned from "./redis/learned.js"

const breakerOf = (shared: Breakers.Breaker, local: Router.Breaker): Router.Breaker => ({
  send: orLocal(shared.send, local.send),
  success: orLocal(shared.success, local.success),
  failure: (probe) => orLocal(shared.failure(probe), local.failure(probe)),
  release: orLocal(shared.release, local.release),
  hold: (millis) => orLocal(shared.hold(millis), local.hold(millis)),
  peek: orLocal(shared.peek, local.peek)
})

/** Breakers in `shared`, falling back on `local` while it is unavailable. */
export const breakerStore = (
  shared: (options: Router.BreakerOptions) => Breakers.Breaker,
  local: Router.BreakerStore["Service"]
): Router.BreakerStore["Service"] => ({
  breaker: (options) => Effect.map(local.breaker(options), (kept) => breakerOf(shared(options), kept)),
  shared: true
})

const pinsOf = (shared: Pins.Pins, local: Router.Pins): Router.Pins => ({
  lookup: (session) => orLocal(shared.lookup(session), local.lookup(session)),
  pin: (session, pin) => orLocal(shared.pin(session, pin), local.pin(session, pin)),
  counts: orLocal(shared.counts, local.counts)
})

/** Pins in `shared`, falling back on `local` while it is unavailable. */
export const affinityStore = (
  shared: (options: Router.PinsOptions) => Pins.Pins,
  local: Router.AffinityStore["Service"]
): Router.AffinityStore["Service"] => ({
  pins: (options) => Effect.map(local.pins(options), (kept) => pinsOf(shared(options), kept))
})

const samplesOf = (shared: Learned.RedisSamples, local: Router.Samples): Router.Samples => ({
  add: (phase, millis) => orLocal(shared.add(phase, millis), local.add(phase, millis)),
  peek: orLocal(shared.peek, local.peek)
})

/** Stream samples in `shared`, falling back on `local` while it is unavailable. */
export const learnedLimitStore = (
  shared: (options: Router.SamplesOptions) => Learned.RedisSamples,
  local: Router.LearnedLimitStore["Service"]
): Router.LearnedLimitStore["Service"] => ({
  samples: (options) => Effect.map(local.samples(options), (kept) => samplesOf(shared(options), kept)),
  shared: true
})
