/**
 * The domain's `Usage` from the counts a provider reported, for every codec's
 * usage reader (each reads its own field names into these counts, each count
 * as `tokenCount` reads it), and the reader of OpenAI's usage object, which its
 * two APIs spell differently.
 */
import type { Usage } from "../../ChatResponse.js"
import { isRecord } from "../providers/wire.js"

/**
 * A token count as a provider's body carries it: a positive finite number,
 * floored; anything else (absent, null, negative, a string) counts as 0.
 */
export function tokenCount(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0
}

/** A reported usage; `total` is the provider's total when it sent a number, else prompt plus completion. */
export function reportedUsage(
  promptTokens: number,
  completionTokens: number,
  total: unknown,
  cachedPromptTokens: number,
  reasoningTokens: number
): Usage {
  return {
    promptTokens,
    completionTokens,
    totalTokens: typeof total === "number" ? tokenCount(total) : promptTokens + completionTokens,
    cachedPromptTokens,
    reasoningTokens,
    estimated: false
  }
}

/** Where an OpenAI API puts its usage counts: Chat Completions' `prompt_tokens`, Responses' `input_tokens`. */
export interface OpenAiUsageFields {
  readonly prompt: string
  readonly completion: string
  /** The object holding `cached_tokens`. */
  readonly promptDetails: string
  /** The object holding `reasoning_tokens`. */
  readonly completionDetails: string
}

/**
 * OpenAI names a side's count `<side>_tokens` and its breakdown `<side>_tokens_details`;
 * the sides are `prompt` and `completion` in Chat Completions, `input` and `output` in Responses.
 */
export function openAiUsageFields(prompt: string, completion: string): OpenAiUsageFields {
  return {
    prompt: `${prompt}_tokens`,
    completion: `${completion}_tokens`,
    promptDetails: `${prompt}_tokens_details`,
    completionDetails: `${completion}_tokens_details`
  }
}

/** Usage from an OpenAI usage object (`total_tokens`, details objects); undefined when it is not an object. */
export function openAiUsage(value: unknown, fields: OpenAiUsageFields): Usage | undefined {
  if (!isRecord(value)) return undefined
  const promptDetails = value[fields.promptDetails]
  const completionDetails = value[fields.completionDetails]
  return reportedUsage(
    tokenCount(value[fields.prompt]),
    tokenCount(value[fields.completion]),
    value["total_tokens"],
    isRecord(promptDetails)
      ? tokenCount(promptDetails["cached_tokens"])
      // DeepSeek reports cache hits at the top level.
      : tokenCount(value["prompt_cache_hit_tokens"]),
    isRecord(completionDetails) ? tokenCount(completionDetails["reasoning_tokens"]) : 0
  )
}
