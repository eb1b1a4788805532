/**
 * The built-in price table, `Pricing.builtIn`: each model's standard list prices in US dollars per million tokens,
 * with its provider's published tiers (price pages named in docs/cost.md); `Pricing.builtIn` adds the
 * batch tier where the provider bills a batch at a share of these.
 */
import type { Price, TokenPrices } from "../../Pricing.js"

/**
 * A price of a provider that caches on its own (reads at `cachedInput`, no write premium) and reads a media part by
 * URL only as an image (OpenAI's `image_url`, Bedrock's and DeepSeek's APIs, which take none by URL).
 */
function price(input: number, cachedInput: number, output: number): Price {
  return { input, cachedInput, output, mediaUrls: "typed" }
}

/**
 * An OpenAI price with its Priority processing tier, which a request asks for with `service_tier: "priority"` (or
 * `"fast"`, its other name) and a reply reports in its `service_tier`.
 */
function withPriority(standard: Price, input: number, cachedInput: number, output: number): Price {
  const priority: TokenPrices = { input, cachedInput, output }
  return { ...standard, serviceTiers: { priority, fast: priority } }
}

/**
 * The input tokens a Gemini 2.5 model takes (its model page in the Gemini API docs: an input token limit of
 * 1,048,576), the most a call of it is billed for.
 */
const geminiContextWindow = 1_048_576

/** A Gemini price: it caches on its own and fetches a part by URL as whatever the URL holds (a `fileData`). */
function gemini(input: number, cachedInput: number, output: number): Price {
  return { input, cachedInput, output, mediaUrls: "fetched", contextWindow: geminiContextWindow }
}

/**
 * The prompt tokens a page of a PDF can cost on Claude: Anthropic's PDF support guide bills each page as its text
 * (1,500 to 3,000 tokens a page) and as an image of it (at most 4,784 tokens on its newest models).
 */
const claudePdfPageTokens = 3_000 + 4_784

/**
 * An Anthropic price: reads at a tenth of `input`, writes at 1.25 times it for five minutes and twice for an hour; a
 * PDF's page at `claudePdfPageTokens`; a part by URL read only as the image or PDF its block says.
 */
function claude(input: number, read: number, write: number, writeHour: number, output: number): Price {
  return {
    input,
    cachedInput: read,
    cacheWrite: write,
    cacheWrite1h: writeHour,
    output,
    pdfPageTokens: claudePdfPageTokens,
    mediaUrls: "typed"
  }
}

const claudeOpus4 = claude(15, 1.5, 18.75, 30, 75)
// Claude Sonnet 4 and 4.5 bill a prompt of more than 200,000 tokens (their 1M-token context window) at twice the
// input price and 1.5 times the output price, the cache's multipliers applying to the doubled input price.
const claudeSonnet: Price = {
  ...claude(3, 0.3, 3.75, 6, 15),
  longContext: { above: 200_000, input: 6, cachedInput: 0.6, cacheWrite: 7.5, cacheWrite1h: 12, output: 22.5 }
}
const claudeSonnet37 = claude(3, 0.3, 3.75, 6, 15)
const deepSeekV32 = price(0.28, 0.028, 0.42)

/**
 * The built-in prices of the models whose providers offer a batch API at a share of them: OpenAI's, Anthropic's and
 * Google's by their names, Amazon Bedrock's by model id (on-demand, us-east-1).
 */
export const batchable: Readonly<Record<string, Price>> = {
  // OpenAI
  "gpt-4o": withPriority(price(2.5, 1.25, 10), 4.25, 2.125, 17),
  "gpt-4o-mini": price(0.15, 0.075, 0.6),
  "gpt-4.1": withPriority(price(2, 0.5, 8), 3.5, 0.875, 14),
  "gpt-4.1-mini": withPriority(price(0.4, 0.1, 1.6), 0.7, 0.175, 2.8),
  "gpt-4.1-nano": withPriority(price(0.1, 0.025, 0.4), 0.2, 0.05, 0.8),
  "gpt-5": withPriority(price(1.25, 0.125, 10), 2.5, 0.25, 20),
  "gpt-5-mini": withPriority(price(0.25, 0.025, 2), 0.45, 0.045, 3.6),
  "gpt-5-nano": price(0.05, 0.005, 0.4),
  "o3": price(2, 0.5, 8),
  "o3-mini": price(1.1, 0.55, 4.4),
  "o4-mini": price(1.1, 0.275, 4.4),
  // Anthropic
  "claude-opus-4-5": claude(5, 0.5, 6.25, 10, 25),
  "claude-opus-4-1": claudeOpus4,
  "claude-opus-4": claudeOpus4,
  "claude-opus-4-0": claudeOpus4,
  "claude-sonnet-4-5": claudeSonnet,
  "claude-sonnet-4": claudeSonnet,
  "claude-sonnet-4-0": claudeSonnet,
  "claude-3-7-sonnet": claudeSonnet37,
  "claude-haiku-4-5": claude(1, 0.1, 1.25, 2, 5),
  "claude-3-5-haiku": claude(0.8, 0.08, 1, 1.6, 4),
  // Google
  "gemini-2.5-pro": {
    ...gemini(1.25, 0.125, 10),
    longContext: { above: 200_000, input: 2.5, cachedInput: 0.25, output: 15 }
  },
  // Audio in the prompt costs more than text, images and video on Gemini 2.5 Flash.
  "gemini-2.5-flash": { ...gemini(0.3, 0.03, 2.5), audioInput: 1 },
  "gemini-2.5-flash-lite": gemini(0.1, 0.01, 0.4),
  // Amazon Bedrock
  "anthropic.claude-3-5-haiku-20241022-v1:0": claude(0.8, 0.08, 1, 1.6, 4),
  "anthropic.claude-haiku-4-5-20251001-v1:0": claude(1, 0.1, 1.25, 2, 5),
  "anthropic.claude-3-7-sonnet-20250219-v1:0": claudeSonnet37,
  "anthropic.claude-sonnet-4-20250514-v1:0": claudeSonnet,
  "anthropic.claude-sonnet-4-5-20250929-v1:0": claudeSonnet,
  "anthropic.claude-opus-4-1-20250805-v1:0": claudeOpus4,
  "meta.llama3-1-8b-instruct-v1:0": price(0.22, 0.22, 0.22),
  "meta.llama3-1-70b-instruct-v1:0": price(0.72, 0.72, 0.72),
  "meta.llama3-3-70b-instruct-v1:0": price(0.72, 0.72, 0.72),
  "amazon.nova-micro-v1:0": price(0.035, 0.00875, 0.14),
  "amazon.nova-lite-v1:0": price(0.06, 0.015, 0.24),
  "amazon.nova-pro-v1:0": price(0.8, 0.2, 3.2)
}

/** The built-in prices of the models with no batch tier: DeepSeek's. */
export const unbatchable: Readonly<Record<string, Price>> = {
  "deepseek-chat": deepSeekV32,
  "deepseek-reasoner": deepSeekV32
}
