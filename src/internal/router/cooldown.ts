/**
 * A deployment's circuit breaker: its rules, which the memory `Router.BreakerStore` runs (the Redis one runs the same
 * in Lua, internal/store/breaker.ts), and the mirror a router reads synchronously on its hot path, which only ever
 * takes what the store answers (internal/router/breaker.ts).
 *
 * closed --(N failures within the window)--> open --(period over)--> half-open
 * half-open: one request (the probe) is let through, as one attempt of the
 * deployment's `Llm` (`RouterCall.oneAttempt`); its success closes the breaker, its
 * failure opens it again for another period, and a probe that is interrupted
 * leaves it half-open for the next request.
 */
import type { BreakerReply, BreakerState } from "../../Router.js"

export interface Settings {
  /** Failures within `windowMillis` that open the breaker. */
  readonly failures: number
  readonly windowMillis: number
  /** How long the breaker stays open before a probe is let through. */
  readonly periodMillis: number
}

/** A breaker as the router reads it: the last reply of its store, its times on this process' clock. */
export interface Mirror {
  state: BreakerState
  /** While open: when the probe may go. */
  openUntil: number
  /** While half-open: whether the probe is out. */
  probing: boolean
  /** Failures counted in the window while closed. */
  failures: number
}

export const mirror = (): Mirror => ({ state: "closed", openUntil: 0, probing: false, failures: 0 })

/** Whether a request may be sent now, as the mirror says. */
export const isAvailable = (breaker: Mirror, now: number): boolean => {
  switch (breaker.state) {
    case "closed":
      return true
    case "open":
      return now >= breaker.openUntil
    case "half-open":
      return !breaker.probing
  }
}

/** Whether a request sent now would be the probe, which the store has to grant. */
export const probeDue = (breaker: Mirror, now: number): boolean =>
  breaker.state === "half-open" ? !breaker.probing : breaker.state === "open" && now >= breaker.openUntil

/** Whether the mirror is closed with no failure counted: a success then has nothing to tell the store. */
export const isClear = (breaker: Mirror): boolean => breaker.state === "closed" && breaker.failures === 0

/** A breaker as the memory store keeps it, on epoch milliseconds read from `Clock`. */
export interface Breaker {
  state: BreakerState
  /** Times of the failures counted while closed, oldest first. */
  readonly recent: Array<number>
  /** While open: when the probe may go. */
  openUntil: number
  /** While half-open: whether the probe is out. */
  probing: boolean
  /** Until when a rate limit holds the deployment back. */
  heldUntil: number
}

export const make = (): Breaker => ({ state: "closed", recent: [], openUntil: 0, probing: false, heldUntil: 0 })

/** What the breaker says now, its times from `now`; `granted`: a `send`'s answer. */
export const replyOf = (breaker: Breaker, now: number, granted: boolean): BreakerReply => ({
  state: breaker.state,
  openMillis: breaker.state === "open" ? Math.max(0, breaker.openUntil - now) : 0,
  probing: breaker.state === "half-open" && breaker.probing,
  failures: breaker.state === "closed" ? breaker.recent.length : 0,
  heldMillis: Math.max(0, breaker.heldUntil - now),
  granted
})

/** An attempt goes out: grants it unless the breaker is open, or half-open with its probe out (then takes it). */
export const send = (breaker: Breaker, now: number): boolean => {
  if (breaker.state === "open" && now >= breaker.openUntil) {
    breaker.state = "half-open"
    breaker.probing = false
  }
  if (breaker.state === "open" || (breaker.state === "half-open" && breaker.probing)) return false
  if (breaker.state === "half-open") breaker.probing = true
  return true
}

export const success = (breaker: Breaker): void => {
  breaker.state = "closed"
  breaker.recent.length = 0
  breaker.probing = false
}

const open = (breaker: Breaker, now: number, settings: Settings): void => {
  breaker.state = "open"
  breaker.openUntil = now + settings.periodMillis
  breaker.recent.length = 0
  breaker.probing = false
}

/** A failure that counts against the deployment; `probe`: the probe's own. */
export const failure = (breaker: Breaker, now: number, settings: Settings, probe: boolean): void => {
  if (probe || breaker.state === "half-open") return open(breaker, now, settings)
  if (breaker.state === "open") return
  const recent = breaker.recent
  recent.push(now)
  let stale = 0
  while (stale < recent.length && recent[stale]! <= now - settings.windowMillis) stale++
  if (stale > 0) recent.splice(0, stale)
  if (recent.length >= settings.failures) open(breaker, now, settings)
}

/** A probe that ended with no verdict on the deployment (interrupted, or a failure that is the caller's). */
export const release = (breaker: Breaker): void => {
  if (breaker.state === "half-open") breaker.probing = false
}

/** A rate limit holds the deployment back for `millis` more, unless it is held longer already. */
export const hold = (breaker: Breaker, now: number, millis: number): void => {
  breaker.heldUntil = Math.max(breaker.heldUntil, now + millis)
}
