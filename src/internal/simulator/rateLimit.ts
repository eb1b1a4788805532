/**
 * Requests per minute per key: a token bucket per API key, refilled continuously, read at the time the engine passes in
 * (from `Clock`).
 */
import type { ApiError, WireFormat } from "../../simulator/WireFormat.js"
import { keptIn } from "../keptIn.js"

/** Go's `time.Duration` text, as OpenAI's `x-ratelimit-reset-*` headers use it: `12ms`, `1.5s`, `6m0s`. */
const goDuration = (ms: number): string => {
  if (ms <= 0) return "0s"
  if (ms < 1000) return `${Math.max(1, Math.round(ms))}ms`
  const total = Math.round(ms) / 1000
  const h = Math.floor(total / 3600)
  const m = Math.floor((total - h * 3600) / 60)
  const s = Number((total - h * 3600 - m * 60).toFixed(3))
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * A take from each key's bucket (`rpm` undefined: unlimited, nothing written); the rate-limit headers go on every
 * response, not only on a 429.
 */
export const makeRateLimit = (rpm: number | undefined) => {
  const buckets = new Map<string, Bucket>()
  return (
    format: Pick<WireFormat<never>, "rateLimitHeaders">,
    key: string,
    now: number,
    headers: Record<string, string>
  ): ApiError | undefined => {
    if (rpm === undefined) return undefined
    const perMs = rpm / 60_000
    const bucket = keptIn(buckets, key, () => ({ tokens: rpm, at: now }))
    bucket.tokens = Math.min(rpm, bucket.tokens + Math.max(0, now - bucket.at) * perMs)
    bucket.at = now
    const allowed = bucket.tokens >= 1
    if (allowed) bucket.tokens -= 1
    const remaining = Math.floor(bucket.tokens)
    const resetMs = (rpm - bucket.tokens) / perMs
    if (format.rateLimitHeaders !== undefined) {
      format.rateLimitHeaders(headers, { limit: rpm, remaining, resetMs, now })
    } else {
      headers["x-ratelimit-limit-requests"] = String(rpm)
      headers["x-ratelimit-remaining-requests"] = String(remaining)
      headers["x-ratelimit-reset-requests"] = goDuration(resetMs)
    }
    return allowed ? undefined : { _tag: "RateLimited", limit: rpm, retryAfterMs: (1 - bucket.tokens) / perMs }
  }
}
