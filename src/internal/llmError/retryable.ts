/**
 * Which failures a retry of the same call (after a pause, or with another key) can get past (`LlmError.isRetryable`).
 */
import type { LlmError } from "../../LlmError.js"

/** Rate limits, rejected keys (with another key), unavailable providers, timeouts and transport failures. */
export const isRetryable = (error: LlmError): boolean => {
  switch (error._tag) {
    case "RateLimitError":
    case "AuthError":
    case "ProviderUnavailableError":
    case "TimeoutError":
    case "TransportError":
      return true
    default:
      return false
  }
}
