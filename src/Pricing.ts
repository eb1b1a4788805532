/**
 * What a call costs: per-model prices (USD per million tokens) with their tiers (long context, service tiers), a
 * built-in table of common models, `lookup`, which finds a model's price under the names providers and gateways give
 * it, `cost`, which prices a `Usage` at its tier, `cacheSavings`, what the prompt cache saved it, and `estimate`, the
 * most a request can cost. A cost is a number only when a price is known: `cost(undefined, usage)` is `undefined`,
 * never a `0` that reads like a free call. docs/cost.md is the reference: "How each works" for the prices, the built-in
 * table's sources and the lookup rule, "Tiers" for the tiers, "Media" for what a part costs.
 *
 * @since 0.1.0
 */
import * as Record from "effect/Record"
import * as Schema from "effect/Schema"
import type * as ChatRequest from "./ChatRequest.js"
import type { Usage } from "./ChatResponse.js"
import { definedFields } from "./internal/json.js"
import { ownValue } from "./internal/ownValue.js"
import * as BuiltIn from "./internal/pricing/table.js"
import { mostPromptTokens } from "./internal/promptSize.js"
import { mostMediaTokens, type Rates } from "./internal/tokens/media.js"
import { defaultMaxToolCalls } from "./internal/wire/openAiResponses/codec.js"
import type { CacheBreakpoint } from "./Message.js"

/**
 * A price in US dollars per million tokens: a finite number, 0 or more.
 *
 * @since 0.1.0
 * @category Models
 */
export const PerMillion = Schema.Number.check(
  Schema.makeFilter((n: number) => Number.isFinite(n) && n >= 0, { message: "expected a price, 0 or more" })
)

/**
 * The price of each kind of token of a call, in US dollars per million tokens: `input` for prompt tokens, `output`
 * for completion tokens (reasoning included), and for the prompt tokens of a provider's prompt cache `cachedInput`
 * (read from it; default `input`), `cacheWrite` (written for its default lifetime, five minutes at Anthropic; default
 * `input`) and `cacheWrite1h` (written for an hour; default `cacheWrite`); `audioInput` for uncached audio prompt
 * tokens (default `input`), `cachedAudioInput` for cached ones, which OpenAI's audio and realtime models price apart
 * (default `cachedInput`), and `audioOutput` (default `output`). A `Price` holds these, and each of its tiers
 * (`longContext`, `serviceTiers`) another set.
 *
 * @since 0.3.0
 * @category Models
 */
export const TokenPrices = Schema.Struct({
  input: PerMillion,
  cachedInput: Schema.optionalKey(PerMillion),
  cacheWrite: Schema.optionalKey(PerMillion),
  cacheWrite1h: Schema.optionalKey(PerMillion),
  output: PerMillion,
  audioInput: Schema.optionalKey(PerMillion),
  /** @since 0.3.0 */
  cachedAudioInput: Schema.optionalKey(PerMillion),
  audioOutput: Schema.optionalKey(PerMillion)
})

/**
 * @since 0.3.0
 * @category Models
 */
export type TokenPrices = typeof TokenPrices.Type

/**
 * A model's long-context tier: the prices of every token of a call whose prompt (cache reads and writes included) is
 * more than `above` tokens, as Gemini 2.5 Pro and Claude Sonnet 4 and 4.5 bill a prompt of more than 200,000.
 *
 * @since 0.3.0
 * @category Models
 */
export const LongContext = Schema.Struct({
  above: Schema.Int.check(Schema.isGreaterThan(0)),
  ...TokenPrices.fields
})

/**
 * @since 0.3.0
 * @category Models
 */
export type LongContext = typeof LongContext.Type

/**
 * A model's prices: its `TokenPrices` (providers that cache on their own, OpenAI, Gemini and DeepSeek, charge no write
 * premium and report no writes: leave `cacheWrite` and `cacheWrite1h` unset), its tiers, and what `estimate` needs to
 * bound a request (docs/cost.md, "Media").
 * - `imageTokens`: the most prompt tokens one image can cost on the model, by its provider's vision guide (default
 *   `defaultImageTokens`); `audioTokensPerSecond`, `videoTokensPerSecond`, `pdfPageTokens`: what audio, video and PDF
 *   parts count by their length (defaults `defaultAudioTokensPerSecond`, `defaultVideoTokensPerSecond`,
 *   `defaultPdfPageTokens`).
 * - `mediaUrls`: how the model's API reads a media part by URL: `"typed"`, only as the kind of the field it is sent in
 *   (OpenAI's `image_url`, Anthropic's `image` and `document` sources); `"fetched"`, as whatever the URL holds
 *   (Gemini's `fileData`: a YouTube URL is billed as its video). Default `"fetched"`: a price that does not say may be
 *   any API's.
 * - `contextWindow`: the most prompt tokens a call can be billed for, which `estimate` counts a prompt with a part of
 *   unknown size at, and each hosted tool call's results at.
 *   Default: none, and such a request's `estimate` is `Infinity`.
 * - `hostedToolCalls`: US dollars a call of each tool the provider runs itself (default: `defaultHostedToolCalls`, for
 *   each type it does not name).
 * - `longContext`: the tier of a call whose prompt is longer than its `above`; `serviceTiers`: the prices of each
 *   service tier a reply reports (`Usage.serviceTier`) that is not billed at these. Default: none.
 *
 * @since 0.1.0
 * @category Models
 */
export const Price = Schema.Struct({
  ...TokenPrices.fields,
  imageTokens: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  /** @since 0.3.0 */
  audioTokensPerSecond: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  /** @since 0.3.0 */
  videoTokensPerSecond: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  /** @since 0.3.0 */
  pdfPageTokens: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  /** @since 0.3.0 */
  mediaUrls: Schema.optionalKey(Schema.Literals(["typed", "fetched"])),
  /** @since 0.3.0 */
  contextWindow: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0))),
  /** @since 0.3.0 */
  hostedToolCalls: Schema.optionalKey(Schema.Record(Schema.String, PerMillion)),
  /** @since 0.3.0 */
  longContext: Schema.optionalKey(LongContext),
  /** @since 0.3.0 */
  serviceTiers: Schema.optionalKey(Schema.Record(Schema.String, TokenPrices))
})

/**
 * The prompt tokens `estimate` counts an image at when its price does not say (`Price.imageTokens`): more than any
 * image costs under the vision rules its providers publish, the largest being OpenAI's for gpt-4o-mini (docs/cost.md).
 *
 * @since 0.3.0
 * @category Constants
 */
export const defaultImageTokens = 50_000

/**
 * The prompt tokens a second of audio costs on Gemini ("Understand and count tokens" in the Gemini API docs), which
 * `estimate` counts audio at when its price does not say (`Price.audioTokensPerSecond`).
 *
 * @since 0.3.0
 * @category Constants
 */
export const defaultAudioTokensPerSecond = 32

/**
 * The prompt tokens a second of video costs on Gemini, its frames and its sound (the same guide), which `estimate`
 * counts video at when its price does not say (`Price.videoTokensPerSecond`).
 *
 * @since 0.3.0
 * @category Constants
 */
export const defaultVideoTokensPerSecond = 263

/**
 * The prompt tokens a page of a PDF costs on Gemini (the same guide: a page is an image), which `estimate` counts a
 * PDF's pages at when its price does not say (`Price.pdfPageTokens`).
 *
 * @since 0.3.0
 * @category Constants
 */
export const defaultPdfPageTokens = 258

/**
 * The price in US dollars of one call of each tool OpenAI's Responses API runs itself, from its price page
 * (https://platform.openai.com/docs/pricing, "Built-in tools"), the highest where it lists several:
 * `web_search_preview` at its non-reasoning models' rate, `code_interpreter` a container of the default size (which a
 * call may open), `image_generation` gpt-image-1's dearest image, `mcp` nothing (the tokens only). A type it does not
 * name is not billed per call (a tool the client runs: `computer_use_preview`, `local_shell`, `custom`).
 *
 * @since 0.3.0
 * @category Constants
 */
export const defaultHostedToolCalls: Readonly<Record<string, number>> = {
  web_search: 0.01,
  web_search_preview: 0.025,
  file_search: 0.0025,
  code_interpreter: 0.03,
  image_generation: 0.25,
  mcp: 0
}

// Declared with the Responses adapter, which sends it as `max_tool_calls`; `estimate` reserves it.
export { defaultMaxToolCalls }

/**
 * The prompt tokens `estimate` counts for the prompt a provider adds of its own when a request has tools (Anthropic's
 * tool-use system prompt is 346 tokens at most; OpenAI and Google do not publish theirs).
 *
 * @since 0.3.0
 * @category Constants
 */
export const toolPromptTokens = 1_000

/**
 * @since 0.1.0
 * @category Models
 */
export type Price = typeof Price.Type

/**
 * The service tier a batch's lines are priced at (`Usage.serviceTier` of each `ChatResponse` a `Batch` gives back): the
 * built-in prices of OpenAI's, Anthropic's, Google's and Amazon Bedrock's models carry it, at their batch discount.
 *
 * @since 0.3.0
 * @category Constants
 */
export const batchTier = "batch"

/** OpenAI, Anthropic, Google and Amazon Bedrock all bill a batch at half their standard prices. */
const batchShare = 0.5

const tokenPriceNames = [
  "input",
  "cachedInput",
  "cacheWrite",
  "cacheWrite1h",
  "output",
  "audioInput",
  "audioOutput"
] as const satisfies ReadonlyArray<keyof TokenPrices>

/** `price` with its batch tier: every token price of its standard tier at the provider's batch share. */
function withBatch(price: Price): Price {
  const batch: Record<string, number> = {}
  for (const name of tokenPriceNames) {
    const value = price[name]
    if (value !== undefined) batch[name] = value * batchShare
  }
  return { ...price, serviceTiers: { ...price.serviceTiers, [batchTier]: batch as TokenPrices } }
}

/** Each price of `table` with its batch tier. */
function batchPriced(table: Readonly<Record<string, Price>>): Record<string, Price> {
  return Record.map(table, withBatch)
}

/**
 * The built-in prices (docs/cost.md, "How each works", says where they come from), keyed by the names `lookup`
 * resolves to.
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * // The built-in table with a model of your own added.
 * const table = {
 *   ...Pricing.builtIn,
 *   "acme-chat-7b": Pricing.fromPerMtok({ input_per_mtok: 0.2, output_per_mtok: 0.4 })
 * }
 * const price = Pricing.lookup("acme-chat-7b", table)
 * ```
 *
 * @since 0.1.0
 * @category Models
 */
export const builtIn: Readonly<Record<string, Price>> = {
  ...batchPriced(BuiltIn.batchable),
  ...BuiltIn.unbatchable
}

const dateSuffix = /(?:[-@]\d{4}-\d{2}-\d{2}|[-@]\d{8}|-latest)$/
const dotBetweenDigits = /(?<=\d)\.(?=\d)/g
// The geographies of Bedrock's cross-region inference profiles (Amazon Bedrock user guide, "Supported Regions and
// models for inference profiles").
const inferenceGeography = /^(?:us|us-gov|eu|apac|jp|au|global)\./

/** A name, then without its date suffix, each also with dots between digits as dashes. */
function spellings(name: string): ReadonlyArray<string> {
  const undated = name.replace(dateSuffix, "")
  return [name, undated, name.replace(dotBetweenDigits, "-"), undated.replace(dotBetweenDigits, "-")]
}

/**
 * The names `lookup` tries for a model, in order (docs/cost.md, "How each works").
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * Pricing.candidates("openai/GPT-4o-2024-08-06") // ["gpt-4o-2024-08-06", "gpt-4o"]
 * Pricing.candidates("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-micro-v1:0")
 * // ["us.amazon.nova-micro-v1:0", "amazon.nova-micro-v1:0"]
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export function candidates(model: string): ReadonlyArray<string> {
  const lower = model.toLowerCase()
  const name = lower.slice(lower.lastIndexOf("/") + 1)
  const profiled = name.replace(inferenceGeography, "")
  return [...new Set(profiled === name ? spellings(name) : [...spellings(name), ...spellings(profiled)])]
}

/**
 * The price of a model in `table` (default: `builtIn`) under the lookup rule (docs/cost.md, "How each works"), or
 * `undefined`.
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * Pricing.lookup("anthropic/claude-sonnet-4.5") // the price of "claude-sonnet-4-5"
 * Pricing.lookup("gpt-4o-audio-preview") // undefined: no prefix matching
 * ```
 *
 * @since 0.1.0
 * @category Accessors
 */
export function lookup(model: string, table: Readonly<Record<string, Price>> = builtIn): Price | undefined {
  const name = candidates(model).find((candidate) => Object.hasOwn(table, candidate))
  return name === undefined ? undefined : table[name]
}

const perToken = 1 / 1_000_000

/**
 * The price of a prompt token written to the prompt cache for `ttl` (default: the cache's default lifetime, five
 * minutes): `cacheWrite1h` for an hour, `cacheWrite` otherwise, each falling back as `Price` says.
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * Pricing.cacheWritePrice(Pricing.lookup("claude-sonnet-4-5")!, "1h") // 6: twice the input price
 * Pricing.cacheWritePrice(Pricing.lookup("gpt-4o")!) // 2.5: OpenAI charges no write premium
 * ```
 *
 * @since 0.2.0
 * @category Accessors
 */
export function cacheWritePrice(price: TokenPrices, ttl?: "5m" | "1h"): number {
  const write = price.cacheWrite ?? price.input
  return ttl === "1h" ? price.cacheWrite1h ?? write : write
}

/**
 * The counts of a `Usage` that `cost` and `cacheSavings` read.
 *
 * @since 0.3.0
 * @category Models
 */
export type BilledUsage = Pick<
  Usage,
  | "promptTokens"
  | "completionTokens"
  | "cachedPromptTokens"
  | "cacheWriteTokens"
  | "cacheWrite1hTokens"
  | "audioPromptTokens"
  | "audioCompletionTokens"
  | "serviceTier"
  | "hostedToolCalls"
>

/**
 * The prices a call with this usage is billed at: the service tier it reports (`Usage.serviceTier`) where `price`
 * prices that tier, else the long-context tier when its prompt is longer than that tier's `above`, else `price`.
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * const pro = Pricing.lookup("gemini-2.5-pro")!
 * Pricing.tierOf(pro, { promptTokens: 250_000 }).input // 2.5: the tier of prompts over 200,000 tokens
 * Pricing.tierOf(Pricing.lookup("gpt-5")!, { promptTokens: 10, serviceTier: "priority" }).output // 20
 * ```
 *
 * @since 0.3.0
 * @category Accessors
 */
export function tierOf(price: Price, usage: Pick<Usage, "promptTokens" | "serviceTier">): TokenPrices {
  const tiers = price.serviceTiers
  const tier = usage.serviceTier
  if (tier !== undefined && tiers !== undefined && Object.hasOwn(tiers, tier)) return tiers[tier]!
  const long = price.longContext
  return long !== undefined && usage.promptTokens > long.above ? long : price
}

/**
 * The cost in US dollars of a call with this usage, at the prices of its tier (`tierOf`): each kind of token at its
 * `TokenPrices` price (a usage does not say which of the prompt's audio was read from the cache, so its audio counts
 * as uncached first), and each hosted tool's call at `hostedCallPrice`. `undefined` when `price` is: an unknown price
 * is not a free call.
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * const dollars = Pricing.cost(Pricing.lookup("claude-sonnet-4-5"), {
 *   promptTokens: 12_000,
 *   cachedPromptTokens: 8_000,
 *   cacheWriteTokens: 3_000,
 *   cacheWrite1hTokens: 1_000,
 *   completionTokens: 800
 * }) // 1,000 at input, 8,000 at cachedInput, 2,000 at cacheWrite, 1,000 at cacheWrite1h and 800 at output prices
 * ```
 *
 * @since 0.1.0
 * @category Destructors
 */
export function cost(price: Price | undefined, usage: BilledUsage): number | undefined {
  if (price === undefined) return undefined
  const rates = tierOf(price, usage)
  const read = Math.min(usage.cachedPromptTokens, usage.promptTokens)
  const written = Math.min(usage.cacheWriteTokens ?? 0, usage.promptTokens - read)
  const writtenForAnHour = Math.min(usage.cacheWrite1hTokens ?? 0, written)
  const fresh = usage.promptTokens - read - written
  // A usage counts the prompt's audio, not which of it was read from the cache (Chat Completions'
  // `prompt_tokens_details` has `cached_tokens` and `audio_tokens` apart): it is taken as not cached first.
  const heard = Math.min(usage.audioPromptTokens ?? 0, fresh)
  const heardCached = Math.min((usage.audioPromptTokens ?? 0) - heard, read)
  const spoken = Math.min(usage.audioCompletionTokens ?? 0, usage.completionTokens)
  let calls = 0
  for (const [type, count] of Object.entries(usage.hostedToolCalls ?? {})) calls += count * hostedCallPrice(price, type)
  const cachedText = rates.cachedInput ?? rates.input
  return ((fresh - heard) * rates.input + heard * (rates.audioInput ?? rates.input) +
        (read - heardCached) * cachedText + heardCached * (rates.cachedAudioInput ?? cachedText) +
        (written - writtenForAnHour) * cacheWritePrice(rates) +
        writtenForAnHour * cacheWritePrice(rates, "1h") + (usage.completionTokens - spoken) * rates.output +
        spoken * (rates.audioOutput ?? rates.output)) * perToken + calls
}

/**
 * What the provider's prompt cache saved a call with this usage, in US dollars: its cost had no prompt token been read
 * from the cache or written to it, less its `cost`. Negative when writes at a premium cost more than the reads saved
 * (an Anthropic call that writes and reads nothing). `undefined` when `price` is.
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * // 8,000 tokens read at $0.30 instead of $3 a million: $0.0216 saved.
 * Pricing.cacheSavings(Pricing.lookup("claude-sonnet-4-5"), {
 *   promptTokens: 10_000,
 *   cachedPromptTokens: 8_000,
 *   completionTokens: 500
 * })
 * ```
 *
 * @since 0.3.0
 * @category Destructors
 */
export function cacheSavings(price: Price | undefined, usage: BilledUsage): number | undefined {
  const paid = cost(price, usage)
  if (paid === undefined) return undefined
  const uncached = cost(price, { ...usage, cachedPromptTokens: 0, cacheWriteTokens: 0, cacheWrite1hTokens: 0 })!
  return uncached - paid
}

/**
 * The price in US dollars of one call of the hosted tool `type` at `price`: its `hostedToolCalls`, else
 * `defaultHostedToolCalls`; 0 for a type neither names (a tool the client runs).
 *
 * @example
 * ```ts
 * import { Pricing } from "effect-llm-router"
 *
 * Pricing.hostedCallPrice(Pricing.fromPerMtok({ input_per_mtok: 2, output_per_mtok: 8 }), "web_search") // 0.01
 * ```
 *
 * @since 0.3.0
 * @category Accessors
 */
export function hostedCallPrice(price: Price, type: string): number {
  const own = price.hostedToolCalls
  if (own !== undefined && Object.hasOwn(own, type)) return own[type]!
  return Object.hasOwn(defaultHostedToolCalls, type) ? defaultHostedToolCalls[type]! : 0
}

/** Whether the provider runs a tool of `type` itself: one `price` or `defaultHostedToolCalls` prices a call of. */
function isHosted(price: Price, type: string): boolean {
  return (price.hostedToolCalls !== undefined && Object.hasOwn(price.hostedToolCalls, type)) ||
    Object.hasOwn(defaultHostedToolCalls, type)
}

/** A hosted tool of a request: where it is (`providerOptions.tools[0]`) and its type. */
interface HostedTool {
  readonly at: string
  readonly type: string
}

/** The hosted tools of a request (`providerOptions.tools`, as a Responses deployment is sent them), where they are. */
function hostedTools(price: Price, request: ChatRequest.Input): ReadonlyArray<HostedTool> {
  const tools = request.providerOptions?.["tools"]
  if (!Array.isArray(tools)) return []
  return tools.flatMap((tool: unknown, i) => {
    const type: unknown = typeof tool === "object" && tool !== null ? (tool as { type?: unknown }).type : undefined
    return typeof type === "string" && isHosted(price, type) ? [{ at: `providerOptions.tools[${i}]`, type }] : []
  })
}

/** The calls of hosted tools a request can make: its `max_tool_calls`, else `defaultMaxToolCalls`. */
function mostToolCalls(request: ChatRequest.Input): number {
  const bound = request.providerOptions?.["max_tool_calls"]
  return typeof bound === "number" && Number.isInteger(bound) && bound > 0 ? bound : defaultMaxToolCalls
}

/** The most a request's hosted tools' calls can cost: `mostToolCalls` at its dearest hosted tool's price. */
function mostHostedCost(price: Price, request: ChatRequest.Input): number {
  let dearest = 0
  for (const { type } of hostedTools(price, request)) dearest = Math.max(dearest, hostedCallPrice(price, type))
  return dearest * mostToolCalls(request)
}

/**
 * The most prompt tokens a request's hosted tools' results can add: each call's results are read by a further model
 * turn, billed as input, of at most the model's context window; none without hosted tools.
 */
function mostHostedResultTokens(price: Price, request: ChatRequest.Input): number {
  if (hostedTools(price, request).length === 0) return 0
  return price.contextWindow === undefined ? Infinity : mostToolCalls(request) * price.contextWindow
}

/**
 * The highest price a prompt token of `request` can be billed at in `rates`: a price may set a cache read above
 * `input`, and an audio token's or a cache write's count only where the request may have one.
 */
function mostPerPromptToken(rates: TokenPrices, request: ChatRequest.Input, audible: boolean): number {
  let most = Math.max(
    rates.input,
    rates.cachedInput ?? 0,
    audible ? Math.max(rates.audioInput ?? 0, rates.cachedAudioInput ?? 0) : 0
  )
  function weigh(breakpoint: CacheBreakpoint | undefined) {
    if (breakpoint !== undefined) most = Math.max(most, cacheWritePrice(rates, breakpoint.ttl))
  }
  for (const tool of request.tools ?? []) weigh(tool.cache)
  for (const message of request.messages) {
    if (message.role !== "user") weigh(message.cache)
    // A user message's parts, and a tool result's, carry their own breakpoints.
    if ((message.role === "user" || message.role === "tool") && typeof message.content !== "string") {
      for (const part of message.content) weigh(part.cache)
    }
  }
  return most
}

/**
 * Tiers a request may be billed at beyond the one it asks: priority has two names (OpenAI's `service_tier` reference:
 * `fast` is reported as `priority`); `auto` may be served at priority (Anthropic's "Service tiers" page; OpenAI's
 * reference: the project's default tier); `scale` is sent to Anthropic as `auto` (`wire/serviceTier.ts`).
 */
const servedAt: Readonly<Record<string, ReadonlyArray<string>>> = {
  priority: ["priority", "fast"],
  fast: ["fast", "priority"],
  auto: ["auto", "priority", "fast"],
  scale: ["scale", "priority", "fast"]
}

/**
 * The tiers a call of `request` with a prompt of at most `prompt` tokens can be billed at. The tier asked is
 * `providerOptions.service_tier`, which wins in the body, else `serviceTier`.
 */
function tiersOf(price: Price, request: ChatRequest.Input, prompt: number): ReadonlyArray<TokenPrices> {
  const tiers: Array<TokenPrices> = [price]
  if (price.longContext !== undefined && prompt > price.longContext.above) tiers.push(price.longContext)
  // A request naming no tier is served as `auto` (the default of OpenAI's and Anthropic's `service_tier`).
  const asked = request.providerOptions?.["service_tier"] ?? request.serviceTier ?? "auto"
  const priced = price.serviceTiers
  if (typeof asked !== "string" || priced === undefined) return tiers
  for (const name of ownValue(servedAt, asked) ?? [asked]) {
    const tier = ownValue(priced, name)
    if (tier !== undefined) tiers.push(tier)
  }
  return tiers
}

/**
 * Options of `estimate`.
 *
 * @since 0.1.0
 * @category Models
 */
export interface EstimateOptions {
  /** Reply tokens to charge when the request sets no `maxTokens`. Default: 0. */
  readonly defaultMaxTokens?: number | undefined
  /**
   * The prompt's tokens as its provider counts them (`Llm.countTokens` where the count is not `estimated`), with
   * whatever margin the caller keeps: taken instead of the bound from its bytes, media and tool prompt, which a
   * provider's count already holds. A part whose size cannot be known still makes the prompt the context window.
   * Default: the bound from the request.
   *
   * @since 0.3.0
   */
  readonly promptTokens?: number | undefined
}

/**
 * The most a request can cost before it is sent, for budgets: its prompt tokens counted at most (one per UTF-8 byte of
 * its text, as a byte-level tokenizer's token is at least one byte, plus each message's markers; or
 * `options.promptTokens`) at the highest price a prompt token of it can be billed at (a cache write's when it has a
 * cache breakpoint, an audio token's when it may have audio), plus `maxTokens` (or `defaultMaxTokens`) at the output
 * price, in the dearest tier the call may be billed at: its long-context tier, and priority for a request asking
 * `fast`, `auto`, `scale` or no tier, as the provider may serve those at priority. Media parts count by what they are
 * (docs/cost.md, "Media"); a part whose size cannot be known before the call makes the prompt the price's
 * `contextWindow`, and without one the estimate is `Infinity` (`unboundedPart`). A request with tools counts
 * `toolPromptTokens` more; one with hosted tools (`providerOptions.tools`) its `max_tool_calls` (default
 * `defaultMaxToolCalls`) calls at the dearest one's `hostedCallPrice`, and a context window of prompt more for each
 * (without a `contextWindow`, `Infinity`: `unboundedTool`).
 *
 * @example
 * ```ts
 * import { Message, Pricing } from "effect-llm-router"
 *
 * const price = Pricing.fromPerMtok({ input_per_mtok: 2.5, output_per_mtok: 10 })
 * const most = Pricing.estimate(price, { messages: [Message.user("Summarize this report: ...")], maxTokens: 500 })
 * ```
 *
 * @since 0.1.0
 * @category Destructors
 */
export function estimate(price: Price, request: ChatRequest.Input, options?: EstimateOptions): number {
  const media = mostMediaTokens(request, mediaRates(price))
  const results = mostHostedResultTokens(price, request)
  if ((media.unsized !== undefined && price.contextWindow === undefined) || results === Infinity) return Infinity
  const reply = request.maxTokens ?? options?.defaultMaxTokens ?? 0
  // A provider's count of the prompt (`promptTokens`) cannot hold the hosted tools' results: they come in the call.
  const counted = results + (options?.promptTokens ?? mostPromptTokens(request) + media.tokens +
      (request.tools !== undefined && request.tools.length > 0 ? toolPromptTokens : 0))
  // A provider refuses a prompt past its context window rather than bill it.
  const prompt = media.unsized === undefined ? counted : Math.max(counted, price.contextWindow!)
  let most = 0
  for (const rates of tiersOf(price, request, prompt)) {
    const perPrompt = mostPerPromptToken(rates, request, media.audible)
    most = Math.max(most, prompt * perPrompt + reply * Math.max(rates.output, rates.audioOutput ?? 0))
  }
  return most * perToken + mostHostedCost(price, request)
}

/** The token rates of a price's media, with their defaults. */
function mediaRates(price: Price): Rates {
  return {
    imageTokens: price.imageTokens ?? defaultImageTokens,
    audioTokensPerSecond: price.audioTokensPerSecond ?? defaultAudioTokensPerSecond,
    videoTokensPerSecond: price.videoTokensPerSecond ?? defaultVideoTokensPerSecond,
    pdfPageTokens: price.pdfPageTokens ?? defaultPdfPageTokens,
    urls: price.mediaUrls ?? "fetched"
  }
}

/**
 * The first media part of `request` whose cost `estimate` cannot bound at `price`: a part whose size cannot be known
 * before the call (`Price.mediaUrls`), when the price has no `contextWindow`; where it is (`messages[0].content[1]`)
 * and what it is, in words; `undefined` when every part has a bound.
 *
 * @example
 * ```ts
 * import { Message, Pricing } from "effect-llm-router"
 *
 * // A price of no stated API: a part by URL may be fetched as whatever it holds, however it is spelled.
 * const price = Pricing.fromPerMtok({ input_per_mtok: 0.3, output_per_mtok: 2.5 })
 * const request = { messages: [Message.user([Message.image("https://www.youtube-nocookie.com/embed/9hE5-98ZeCg")])] }
 * Pricing.unboundedPart(price, request) // { at: "messages[0].content[0]", what: "an image by URL" }
 * Pricing.unboundedPart({ ...price, contextWindow: 1_048_576 }, request) // undefined: the prompt is 1,048,576 tokens
 * ```
 *
 * @since 0.3.0
 * @category Destructors
 */
export function unboundedPart(
  price: Price,
  request: ChatRequest.Input
): { readonly at: string; readonly what: string } | undefined {
  return price.contextWindow === undefined ? mostMediaTokens(request, mediaRates(price)).unsized : undefined
}

/**
 * The first hosted tool of `request` (`providerOptions.tools`, a Responses request's `web_search`...) whose results
 * `estimate` cannot bound at `price`: the provider bills them as the prompt of the model turns that read them, at
 * most the model's context window each, so a price with no `contextWindow` leaves them no bound. `undefined` when the
 * price has a window or the request no hosted tool.
 *
 * @example
 * ```ts
 * import { Message, Pricing } from "effect-llm-router"
 *
 * const price = Pricing.fromPerMtok({ input_per_mtok: 2.5, output_per_mtok: 10 })
 * const request = {
 *   messages: [Message.user("What happened today?")],
 *   providerOptions: { tools: [{ type: "web_search" }] }
 * }
 * Pricing.unboundedTool(price, request) // { at: "providerOptions.tools[0]", type: "web_search" }
 * // Ten searches' results reserved: 1,280,000 prompt tokens.
 * Pricing.unboundedTool({ ...price, contextWindow: 128_000 }, request) // undefined
 * ```
 *
 * @since 0.3.0
 * @category Destructors
 */
export function unboundedTool(
  price: Price,
  request: ChatRequest.Input
): { readonly at: string; readonly type: string } | undefined {
  return price.contextWindow === undefined ? hostedTools(price, request)[0] : undefined
}

/**
 * A tier's prices as provider.json writes them (`TokenPrices` in snake case, US dollars per million tokens).
 *
 * @since 0.3.0
 * @category Models
 */
export interface PerMtok {
  readonly input_per_mtok: number
  readonly cached_input_per_mtok?: number | undefined
  readonly cache_write_per_mtok?: number | undefined
  readonly cache_write_1h_per_mtok?: number | undefined
  readonly output_per_mtok: number
  readonly audio_input_per_mtok?: number | undefined
  readonly cached_audio_input_per_mtok?: number | undefined
  readonly audio_output_per_mtok?: number | undefined
}

/** A tier's prices from provider.json's names. */
function tierFromPerMtok(pricing: PerMtok): TokenPrices {
  return {
    input: pricing.input_per_mtok,
    ...(pricing.cached_input_per_mtok === undefined ? {} : { cachedInput: pricing.cached_input_per_mtok }),
    ...(pricing.cache_write_per_mtok === undefined ? {} : { cacheWrite: pricing.cache_write_per_mtok }),
    ...(pricing.cache_write_1h_per_mtok === undefined ? {} : { cacheWrite1h: pricing.cache_write_1h_per_mtok }),
    output: pricing.output_per_mtok,
    ...(pricing.audio_input_per_mtok === undefined ? {} : { audioInput: pricing.audio_input_per_mtok }),
    ...(pricing.cached_audio_input_per_mtok === undefined
      ? {}
      : { cachedAudioInput: pricing.cached_audio_input_per_mtok }),
    ...(pricing.audio_output_per_mtok === undefined ? {} : { audioOutput: pricing.audio_output_per_mtok })
  }
}

/**
 * A price as provider.json writes it (`pricing` of a model entry): `Price`'s fields in snake case, each token price
 * with `_per_mtok` (`cached_input_per_mtok` is `cachedInput`), and `long_context` with its `above_tokens`.
 *
 * @example
 * ```ts
 * import { Llm, Pricing } from "effect-llm-router"
 *
 * // A self-hosted model, priced for internal billing.
 * const layer = Llm.layer({
 *   model: "llama-3.3-70b",
 *   price: Pricing.fromPerMtok({ input_per_mtok: 0.6, cached_input_per_mtok: 0.3, output_per_mtok: 0.9 })
 * })
 * ```
 *
 * @since 0.1.0
 * @category Constructors
 */
export function fromPerMtok(
  pricing: PerMtok & {
    readonly image_tokens?: number | undefined
    readonly audio_tokens_per_second?: number | undefined
    readonly video_tokens_per_second?: number | undefined
    readonly pdf_page_tokens?: number | undefined
    readonly hosted_tool_calls?: Readonly<Record<string, number>> | undefined
    readonly long_context?: (PerMtok & { readonly above_tokens: number }) | undefined
    readonly service_tiers?: Readonly<Record<string, PerMtok>> | undefined
  }
): Price {
  const long = pricing.long_context
  const tiers = pricing.service_tiers
  return {
    ...tierFromPerMtok(pricing),
    ...definedFields({
      imageTokens: pricing.image_tokens,
      audioTokensPerSecond: pricing.audio_tokens_per_second,
      videoTokensPerSecond: pricing.video_tokens_per_second,
      pdfPageTokens: pricing.pdf_page_tokens,
      hostedToolCalls: pricing.hosted_tool_calls,
      longContext: long === undefined ? undefined : { above: long.above_tokens, ...tierFromPerMtok(long) },
      serviceTiers: tiers === undefined ? undefined : Record.map(tiers, tierFromPerMtok)
    })
  }
}
