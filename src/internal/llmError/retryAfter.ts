/** Reads a provider's "wait this long" hint from response headers and error bodies. */
import * as Duration from "effect/Duration"

/** A header lookup by lower-case name. */
export type HeaderLookup = (name: string) => string | undefined

const goUnits: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
  us: 0.001,
  "µs": 0.001,
  ns: 0.000_001
}

/**
 * A Go-style duration (`6m0s`, `1.5s`, `12ms`, `2m59.56s`, `1h2m`) or bare seconds (`20`, `0.5`), in milliseconds;
 * undefined when the text is neither.
 */
export function parseDurationMillis(text: string): number | undefined {
  const trimmed = text.trim()
  if (trimmed === "") return undefined
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const pattern = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/gy
  let total = 0
  let consumed = 0
  for (let match = pattern.exec(trimmed); match !== null; match = pattern.exec(trimmed)) {
    total += Number(match[1]) * goUnits[match[2]!]!
    consumed = pattern.lastIndex
  }
  return consumed === trimmed.length && consumed > 0 ? total : undefined
}

function nonNegative(millis: number): Duration.Duration {
  return Duration.millis(Math.max(0, millis))
}

/** `retry-after`: delay-seconds or an HTTP date, relative to `nowMillis`. */
function parseRetryAfter(value: string, nowMillis: number): number | undefined {
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : date - nowMillis
}

/**
 * The names of one kind's rate-limit headers (OpenAI's, then Anthropic's), built once: every reply is read for them.
 */
interface KindHeaders {
  readonly openAiReset: string
  readonly anthropicReset: string
  readonly remaining: readonly [openAi: string, anthropic: string]
  readonly limit: readonly [openAi: string, anthropic: string]
}

function kindHeaders(kind: string): KindHeaders {
  return {
    openAiReset: `x-ratelimit-reset-${kind}`,
    anthropicReset: `anthropic-ratelimit-${kind}-reset`,
    remaining: [`x-ratelimit-remaining-${kind}`, `anthropic-ratelimit-${kind}-remaining`],
    limit: [`x-ratelimit-limit-${kind}`, `anthropic-ratelimit-${kind}-limit`]
  }
}

const requestHeaders = kindHeaders("requests")
/** The kinds of token limits, the tightest of which a snapshot keeps. */
const tokenHeaders = [kindHeaders("tokens"), kindHeaders("input-tokens"), kindHeaders("output-tokens")] as const
const resetKinds = [requestHeaders, ...tokenHeaders] as const

/**
 * The wait a response asks for, by precedence: `retry-after-ms`, `retry-after`, then the reset headers (OpenAI's
 * `x-ratelimit-reset-*` durations, Anthropic's `anthropic-ratelimit-*-reset` timestamps). Among resets, an exhausted
 * limit's (remaining 0) counts; when none says which is exhausted, the soonest.
 */
export function fromHeaders(header: HeaderLookup, nowMillis: number): Duration.Duration | undefined {
  const retryAfterMs = header("retry-after-ms")
  if (retryAfterMs !== undefined && /^\d+(\.\d+)?$/.test(retryAfterMs.trim())) {
    return nonNegative(Number(retryAfterMs.trim()))
  }
  const retryAfter = header("retry-after")
  if (retryAfter !== undefined) {
    const millis = parseRetryAfter(retryAfter, nowMillis)
    if (millis !== undefined) return nonNegative(millis)
  }
  const exhausted: Array<number> = []
  const others: Array<number> = []
  for (const names of resetKinds) {
    const millis = resetMillis(header, names, nowMillis, true)
    if (millis === undefined) continue
    if (countOf(header, names.remaining) === 0) exhausted.push(millis)
    else others.push(millis)
  }
  if (exhausted.length > 0) return nonNegative(Math.max(...exhausted))
  if (others.length > 0) return nonNegative(Math.min(...others))
  return undefined
}

/** What `snapshot` reads; the shape of `ChatResponse.RateLimitSnapshot`. */
export interface Snapshot {
  readonly limitRequests?: number
  readonly remainingRequests?: number
  readonly resetRequests?: Duration.Duration
  readonly remainingTokens?: number
  readonly resetTokens?: Duration.Duration
}

/** A kind's reset, OpenAI's else Anthropic's; an OpenAI one that does not parse is none unless `lenient`. */
function resetMillis(header: HeaderLookup, names: KindHeaders, nowMillis: number, lenient = false): number | undefined {
  const openAi = header(names.openAiReset)
  const millis = openAi === undefined ? undefined : parseDurationMillis(openAi)
  if (lenient ? millis !== undefined : openAi !== undefined) return millis
  const anthropic = header(names.anthropicReset)
  const date = anthropic === undefined ? Number.NaN : Date.parse(anthropic)
  return Number.isNaN(date) ? undefined : date - nowMillis
}

function countOf(header: HeaderLookup, names: KindHeaders["remaining"] | KindHeaders["limit"]): number | undefined {
  const text = header(names[0]) ?? header(names[1])
  const value = text === undefined ? Number.NaN : Number(text.trim())
  return Number.isFinite(value) ? value : undefined
}

/**
 * The remaining counts and resets of a reply's rate-limit headers (OpenAI's `x-ratelimit-*`, Anthropic's
 * `anthropic-ratelimit-*`); for tokens, the tightest of `tokens`, `input-tokens` and `output-tokens`.
 */
export function snapshot(header: HeaderLookup, nowMillis: number): Snapshot | undefined {
  let out: { -readonly [K in keyof Snapshot]: Snapshot[K] } | undefined
  const requests = countOf(header, requestHeaders.remaining)
  if (requests !== undefined) {
    const reset = resetMillis(header, requestHeaders, nowMillis)
    const limit = countOf(header, requestHeaders.limit)
    out = {
      remainingRequests: requests,
      ...(limit !== undefined ? { limitRequests: limit } : {}),
      ...(reset !== undefined ? { resetRequests: nonNegative(reset) } : {})
    }
  }
  for (const names of tokenHeaders) {
    const remaining = countOf(header, names.remaining)
    if (remaining === undefined || (out?.remainingTokens !== undefined && out.remainingTokens <= remaining)) continue
    const reset = resetMillis(header, names, nowMillis)
    out = { ...out, remainingTokens: remaining }
    if (reset !== undefined) out.resetTokens = nonNegative(reset)
    else delete out.resetTokens
  }
  return out
}

/** Gemini's hint in the error body: a `google.rpc.RetryInfo` entry of `error.details` with `retryDelay: "37s"`. */
export function fromGoogleDetails(details: unknown): Duration.Duration | undefined {
  if (!Array.isArray(details)) return undefined
  for (const detail of details) {
    if (
      typeof detail === "object" && detail !== null &&
      String((detail as Record<string, unknown>)["@type"] ?? "").endsWith("google.rpc.RetryInfo")
    ) {
      const delay = (detail as Record<string, unknown>)["retryDelay"]
      const millis = typeof delay === "string" ? parseDurationMillis(delay) : undefined
      if (millis !== undefined) return nonNegative(millis)
    }
  }
  return undefined
}
