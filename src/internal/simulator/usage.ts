/**
 * The simulator's token counts as the library's `Usage`, the form every codec's writers take, so each wire format
 * writes a reply's usage with its codec.
 */
import type { Usage } from "../../ChatResponse.js"
import type * as Reply from "../../simulator/Reply.js"

/**
 * `usage` as the library's: cache reads are `cachedPromptTokens`, cache writes are set only when there are some, and
 * the tier it was served at when it has one.
 */
export function usageOf(usage: Reply.Usage): Usage {
  return {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    totalTokens: usage.totalTokens,
    cachedPromptTokens: usage.cachedTokens,
    ...(usage.cacheWriteTokens > 0 ? { cacheWriteTokens: usage.cacheWriteTokens } : {}),
    ...(usage.cacheWrite1hTokens > 0 ? { cacheWrite1hTokens: usage.cacheWrite1hTokens } : {}),
    reasoningTokens: usage.reasoningTokens,
    ...(usage.serviceTier === undefined ? {} : { serviceTier: usage.serviceTier }),
    estimated: false
  }
}
