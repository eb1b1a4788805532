/**
 * The domain's `Usage` from the counts a provider reported: what every codec's usage reader shares, and the reader of
 * OpenAI's usage object, which its two APIs spell differently.
 */
import type { Usage } from "../../ChatResponse.js"
import { ShapeError } from "../codecError.js"
import { isJsonObject, type JsonObject } from "../json.js"

/**
 * The count a counting endpoint's reply holds at `field` (Anthropic's and the Responses API's `input_tokens`,
 * Gemini's `totalTokens`, Bedrock's `inputTokens`); throws `ShapeError` when it is not a count.
 */
export function countAt(body: JsonObject, field: string): number {
  const count = body[field]
  if (typeof count !== "number" || !Number.isInteger(count) || count < 0) {
    throw new ShapeError(`${field} is not a count`)
  }
  return count
}

/**
 * A token count as a provider's body carries it: a positive finite number, floored; anything else (absent, null,
 * negative, a string) counts as 0.
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
 * OpenAI names a side's count `<side>_tokens` and its breakdown `<side>_tokens_details`; the sides are `prompt` and
 * `completion` in Chat Completions, `input` and `output` in Responses.
 */
export function openAiUsageFields(prompt: string, completion: string): OpenAiUsageFields {
  return {
    prompt: `${prompt}_tokens`,
    completion: `${completion}_tokens`,
    promptDetails: `${prompt}_tokens_details`,
    completionDetails: `${completion}_tokens_details`
  }
}

// The names of the tier a call is served at when it asks for no other (OpenAI's `default`, Anthropic's `standard`),
// billed at a model's own prices: a usage leaves them out, as it leaves out counts of none.
const standardTiers: ReadonlySet<string> = new Set(["", "default", "standard"])

/**
 * `usage` with the counts a provider reports beyond the ones every usage has, each only when it reports some: the
 * audio tokens of the prompt and of the reply, and the service tier it served the call at when not its standard one.
 */
export function withReported(
  usage: Usage,
  reported: { readonly audioPrompt?: unknown; readonly audioCompletion?: unknown; readonly serviceTier?: unknown }
): Usage {
  const out: { -readonly [K in keyof Usage]: Usage[K] } = { ...usage }
  const heard = tokenCount(reported.audioPrompt)
  const spoken = tokenCount(reported.audioCompletion)
  if (heard > 0) out.audioPromptTokens = heard
  if (spoken > 0) out.audioCompletionTokens = spoken
  if (typeof reported.serviceTier === "string" && !standardTiers.has(reported.serviceTier)) {
    out.serviceTier = reported.serviceTier
  }
  return out
}

/**
 * Usage from an OpenAI usage object (`total_tokens`, details objects: cached, reasoning and audio tokens), and the
 * `service_tier` its reply or chunk reports; undefined when it is not an object.
 */
export function openAiUsage(value: unknown, fields: OpenAiUsageFields, serviceTier?: unknown): Usage | undefined {
  if (!isJsonObject(value)) return undefined
  const promptDetails = value[fields.promptDetails]
  const completionDetails = value[fields.completionDetails]
  const usage = reportedUsage(
    tokenCount(value[fields.prompt]),
    tokenCount(value[fields.completion]),
    value["total_tokens"],
    isJsonObject(promptDetails)
      ? tokenCount(promptDetails["cached_tokens"])
      // DeepSeek reports cache hits at the top level.
      : tokenCount(value["prompt_cache_hit_tokens"]),
    isJsonObject(completionDetails) ? tokenCount(completionDetails["reasoning_tokens"]) : 0
  )
  return withReported(usage, {
    audioPrompt: isJsonObject(promptDetails) ? promptDetails["audio_tokens"] : undefined,
    audioCompletion: isJsonObject(completionDetails) ? completionDetails["audio_tokens"] : undefined,
    serviceTier
  })
}
