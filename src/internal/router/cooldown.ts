/**
 * A deployment's circuit breaker, on plain numbers (epoch milliseconds read
 * from `Clock` by the caller), so the router's hot path mutates one object
 * instead of going through a `Ref`.
 *
 * closed --(N failures within the window)--> open --(period over)--> half-open
 * half-open: one request (the probe) is let through, as one attempt of the
 * deployment's `Llm` (`RouterCall.oneAttempt`); its success closes the breaker, its
 * failure opens it again for another period, and a probe that is interrupted
 * leaves it half-open for the next request.
 */

export interface Settings {
  /** Failures within `windowMillis` that open the breaker. */
  readonly failures: number
  readonly windowMillis: number
  /** How long the breaker stays open before a probe is let through. */
  readonly periodMillis: number
}

export type State = "closed" | "open" | "half-open"

export interface Breaker {
  state: State
  /** Times of the failures counted while closed, oldest first. */
  readonly recent: Array<number>
  /** While open: when the probe may go. */
  openUntil: number
  /** While half-open: whether the probe is out. */
  probing: boolean
}

export const make = (): Breaker => ({ state: "closed", recent: [], openUntil: 0, probing: false })

/** Whether a request may be sent now (without taking the probe). */
export const isAvailable = (breaker: Breaker, now: number): boolean => {
  switch (breaker.state) {
    case "closed":
      return true
    case "open":
      return now >= breaker.openUntil
    case "half-open":
      return !breaker.probing
  }
}

/**
 * Records that a request goes out. Returns true when it is the probe of a
 * half-open breaker (its outcome decides the breaker's state).
 */
export const onSend = (breaker: Breaker, now: number): boolean => {
  if (breaker.state === "open" && now >= breaker.openUntil) breaker.state = "half-open"
  if (breaker.state !== "half-open") return false
  breaker.probing = true
  return true
}

export const onSuccess = (breaker: Breaker): void => {
  breaker.state = "closed"
  // Called on every success: setting an array's length is a runtime call even when it is 0 already.
  if (breaker.recent.length !== 0) breaker.recent.length = 0
  breaker.probing = false
}

const open = (breaker: Breaker, now: number, settings: Settings): void => {
  breaker.state = "open"
  breaker.openUntil = now + settings.periodMillis
  breaker.recent.length = 0
  breaker.probing = false
}

/** A failure that counts against the deployment. `probe`: what `onSend` returned. */
export const onFailure = (breaker: Breaker, now: number, settings: Settings, probe: boolean): void => {
  if (probe || breaker.state === "half-open") return open(breaker, now, settings)
  if (breaker.state === "open") return
  const recent = breaker.recent
  recent.push(now)
  let stale = 0
  while (stale < recent.length && recent[stale]! <= now - settings.windowMillis) stale++
  if (stale > 0) recent.splice(0, stale)
  if (recent.length >= settings.failures) open(breaker, now, settings)
}

/** A request that ended with no verdict on the deployment (interrupted, or a failure that is the caller's). */
export const onNeutral = (breaker: Breaker, probe: boolean): void => {
  if (probe && breaker.state === "half-open") breaker.probing = false
}
