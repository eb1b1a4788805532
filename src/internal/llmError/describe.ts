/**
 * How every `LlmError` words its message: where it happened, the status, the
 * detail, the request id, what to do, and the deployments a router tried.
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

export const describe = (self: Common, what: string, advice: string): string => {
  const where = self.model === "" ? self.provider : `${self.provider} (${self.model})`
  const status = self.status === undefined ? "" : ` [HTTP ${self.status}]`
  const detail = self.detail === undefined || self.detail === "" ? "" : `: ${self.detail}`
  const request = self.requestId === undefined ? "" : ` (request id ${self.requestId})`
  const attempts = self.attempts === undefined || self.attempts.length === 0
    ? ""
    : ` Tried: ${
      self.attempts.map((attempt) =>
        `${attempt.deployment} (${attempt.error}${attempt.phase === undefined ? "" : `, phase ${attempt.phase}`})`
      ).join(", ")
    }.`
  return `${where}${status} ${what}${detail}${request}. ${advice}${attempts}`
}

export const formatWait = (wait: Duration.Duration | undefined) =>
  wait === undefined ? "" : ` in ${Duration.format(wait)}`
