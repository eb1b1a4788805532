/**
 * How every `LlmError` words its message: where it happened, the status, the detail, the request id, what to do, and
 * the deployments a router tried.
 */
import * as Duration from "effect/Duration"
import type { Attempt } from "../../LlmError.js"

/** The fields every error class has (`LlmError`'s `common`). */
export interface Common {
  readonly provider: string
  readonly model: string
  readonly status?: number | undefined
  readonly requestId?: string | undefined
  readonly detail?: string | undefined
  readonly attempts?: ReadonlyArray<Attempt> | undefined
}

/** `text` as a sentence: a period at its end unless it ends one already (a provider's detail often does). */
const sentence = (text: string) => (/[.!?…]$/.test(text) ? text : `${text}.`)

export const describe = (self: Common, what: string, advice: string): string => {
  const where = self.model === "" ? self.provider : `${self.provider} (${self.model})`
  const status = self.status === undefined ? "" : ` [HTTP ${self.status}]`
  const given = self.detail?.trim() ?? ""
  const detail = given === "" ? "" : `: ${given}`
  const request = self.requestId === undefined ? "" : ` (request id ${self.requestId})`
  const attempts = self.attempts === undefined || self.attempts.length === 0
    ? ""
    : ` Tried: ${
      self.attempts.map((attempt) =>
        `${attempt.deployment} (${attempt.error}${attempt.phase === undefined ? "" : `, phase ${attempt.phase}`})`
      ).join(", ")
    }.`
  return `${sentence(`${where}${status} ${what}${detail}${request}`)} ${advice}${attempts}`
}

/**
 * A duration for a person: tenths of a second under a minute (`0.4 s`, `12 s`; under 0.1 s shows as `0.1 s`, never
 * `0`), else minutes and seconds.
 */
export const formatDuration = (duration: Duration.Duration): string => {
  const millis = Duration.toMillis(duration)
  if (!Number.isFinite(millis)) return Duration.format(duration)
  if (millis < 60_000) return `${Math.max(0.1, Math.round(millis / 100) / 10)} s`
  return Duration.format(Duration.seconds(Math.round(millis / 1000)))
}

/** ` in <duration>` after "Retry", ` now` when the wait is over, nothing when unknown. */
export const formatWait = (wait: Duration.Duration | undefined) =>
  wait === undefined ? "" : Duration.toMillis(wait) <= 0 ? " now" : ` in ${formatDuration(wait)}`

/** US dollars to 6 significant digits, without float noise or an exponent (`$0.00000195`, `$12.5`). */
export const formatDollars = (amount: number): string =>
  `$${amount.toLocaleString("en-US", { maximumSignificantDigits: 6, useGrouping: false })}`
