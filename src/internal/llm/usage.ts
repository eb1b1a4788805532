/**
 * The usage and cost of an `Llm` call (a chat, or embeddings): usage the provider did not report is estimated locally;
 * the cost is `Options.price`, else the built-in price of the model that answered, else of the requested model.
 *
 * The local estimate counts tokens with `gpt-tokenizer` (o200k_base) through a bounded tally (`tokens/tally.ts`): exact
 * for ordinary text, sampled past a bound, linear in any case. The tokenizer's tables are large, so they are loaded on
 * first use only.
 */
import * as Effect from "effect/Effect"
import type * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse, Usage } from "../../ChatResponse.js"
import type { EmbeddingResponse, EmbeddingUsage } from "../../Embedding.js"
import { textOf } from "../../Message.js"
import * as Pricing from "../../Pricing.js"
import { perMessageOverhead, replyPriming, toolTexts } from "../promptSize.js"
import * as Images from "../tokens/images.js"
import * as Media from "../tokens/media.js"
import * as Tally from "../tokens/tally.js"
import { opaqueReasoning } from "../wire/signedReasoning.js"
import type { Env } from "./service.js"

// Text that looks like a special token (`<|endoftext|>`) is a user's text, and is
// counted as such: gpt-tokenizer's default refuses it with an exception.
const asText = { disallowedSpecial: new Set<string>() }

let loaded: Tally.Tokenizer | undefined
let loading: Promise<Tally.Tokenizer> | undefined

/** The tokenizer, loaded once. */
export const tokenizer: Effect.Effect<Tally.Tokenizer> = Effect.suspend(() =>
  loaded !== undefined ?
    Effect.succeed(loaded) :
    Effect.promise(() =>
      loading ??= import("gpt-tokenizer").then((module) => loaded = (text: string) => module.countTokens(text, asText))
    )
)

// The rates the local estimate counts media other than images at: the budgets' defaults (the Gemini API's figures),
// a part by URL as the kind of its field.
const localRates: Media.Rates = {
  imageTokens: Pricing.defaultImageTokens,
  audioTokensPerSecond: Pricing.defaultAudioTokensPerSecond,
  videoTokensPerSecond: Pricing.defaultVideoTokensPerSecond,
  pdfPageTokens: Pricing.defaultPdfPageTokens,
  urls: "typed"
}

/**
 * The prompt tokens of a request's media parts, counted locally for the APIs with no counting endpoint (OpenAI's Chat
 * Completions and its compatibles): an image by OpenAI's rule (`tokens/images.ts`), other media as `tokens/media.ts`
 * measures them.
 */
export function mediaTokens(request: ChatRequest): number {
  let tokens = 0
  for (const { part } of Media.mediaParts(request)) tokens += Media.partTokens(part, Images.openAi, localRates)
  return tokens
}

/** The prompt tokens of a request: every message's text, reasoning, tool calls, media, and the tool schemas. */
export function promptTokens(request: ChatRequest): Effect.Effect<number> {
  return Effect.map(tokenizer, (count) => {
    const tally = Tally.make(count)
    for (const message of request.messages) {
      tally.count(textOf(message.content))
      if (message.role === "assistant") {
        tally.count(message.reasoning ?? "")
        for (const payload of opaqueReasoning(message.providerMetadata)) tally.count(payload)
        for (const call of message.toolCalls ?? []) {
          tally.count(call.name)
          tally.count(call.arguments)
        }
      }
    }
    for (const text of toolTexts(request.tools)) tally.count(text)
    return replyPriming + perMessageOverhead * request.messages.length + tally.total() + mediaTokens(request)
  })
}

/** The completion tokens of a reply: text, reasoning and tool calls. */
export function completionTokens(response: Pick<ChatResponse, "text" | "reasoning" | "toolCalls">) {
  return Effect.map(tokenizer, (count) => {
    const tally = Tally.make(count)
    tally.count(response.text)
    tally.count(response.reasoning ?? "")
    for (const call of response.toolCalls) {
      tally.count(call.name)
      tally.count(call.arguments)
    }
    return tally.total()
  })
}

// The hosted tools' calls a reply counted are kept when its tokens are estimated: they are billed apart from them.
function usageOf(prompt: number, completion: number, reported: Usage | undefined): Usage {
  const calls = reported?.hostedToolCalls
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: prompt + completion,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    estimated: true,
    ...(calls === undefined ? {} : { hostedToolCalls: calls })
  }
}

/** Usage counted locally, marked `estimated`, with the hosted tools' calls the reply counted. */
export function estimateUsage(
  request: ChatRequest,
  response: Pick<ChatResponse, "text" | "reasoning" | "toolCalls"> & { readonly usage?: Usage | undefined }
): Effect.Effect<Usage> {
  return Effect.zipWith(
    promptTokens(request),
    completionTokens(response),
    (prompt, completion) => usageOf(prompt, completion, response.usage)
  )
}

/**
 * The text of a streamed reply, counted in bounded memory as it arrives: each text keeps only its tail, and what was
 * cut off is tallied once the tokenizer is loaded.
 */
export interface ReplyCounter {
  readonly add: (chunk: ChatChunk.ChatChunk) => void
  /** Whether text waits for the tokenizer, which `tokenizer` loads. */
  readonly waiting: () => boolean
  /** The completion tokens of everything added; the tokenizer must be loaded. */
  readonly completion: () => number
}

export function makeReplyCounter(): ReplyCounter {
  let tally: Tally.Tally | undefined
  let text: Tally.Channel = { tail: "" }
  let reasoning: Tally.Channel = { tail: "" }
  let calls: Array<{ name: string; arguments: Tally.Channel }> = []
  let waiting = false
  function append(channel: Tally.Channel, piece: string) {
    channel.tail += piece
    if (channel.tail.length <= Tally.flushAt) return
    if (loaded === undefined) waiting = true
    else (tally ??= Tally.make(loaded)).drain(channel, false)
  }
  return {
    add(chunk) {
      switch (chunk._tag) {
        case "TextDelta":
          append(text, chunk.text)
          break
        case "ReasoningDelta":
          append(reasoning, chunk.text)
          break
        case "ToolCallDelta": {
          const call = calls[chunk.index] ??= { name: "", arguments: { tail: "" } }
          if (chunk.name !== undefined) call.name = chunk.name
          append(call.arguments, chunk.arguments)
          break
        }
        case "Restart":
          tally = undefined
          text = { tail: "" }
          reasoning = { tail: "" }
          calls = []
      }
    },
    waiting: () => waiting && loaded === undefined,
    completion() {
      const ended = tally ??= Tally.make(loaded!)
      ended.drain(text, true)
      ended.drain(reasoning, true)
      for (const call of calls) {
        if (call === undefined) continue
        ended.count(call.name)
        ended.drain(call.arguments, true)
      }
      return ended.total()
    }
  }
}

/** A streamed reply's usage counted locally, with the hosted tools' calls of the usage it `reported`. */
export function estimateStreamUsage(
  request: ChatRequest,
  reply: ReplyCounter,
  reported: Usage | undefined
): Effect.Effect<Usage> {
  return Effect.map(promptTokens(request), (prompt) => usageOf(prompt, reply.completion(), reported))
}

/** The usage of embedding `inputs`, counted locally (a tokenized input: its ids) and marked `estimated`. */
export function estimateEmbeddingUsage(
  inputs: ReadonlyArray<string | ReadonlyArray<number>>
): Effect.Effect<EmbeddingUsage> {
  return Effect.map(tokenizer, (count) => {
    const tally = Tally.make(count)
    let ids = 0
    for (const input of inputs) {
      if (typeof input === "string") tally.count(input)
      else ids += input.length
    }
    const total = tally.total() + ids
    return { promptTokens: total, totalTokens: total, estimated: true }
  })
}

export function isMissing(usage: Pick<Usage, "totalTokens"> | undefined): boolean {
  return usage === undefined || usage.totalTokens === 0
}

function builtInPrice(env: Env, model: string | undefined) {
  if (model === undefined) return undefined
  if (!env.builtInPrices.has(model)) env.builtInPrices.set(model, Pricing.lookup(model))
  return env.builtInPrices.get(model)
}

/** A reply's cost, and what the prompt cache saved it: both absent when the price is unknown. */
function costOf(
  env: Env,
  request: ChatRequest,
  model: string,
  usage: Usage
): { readonly cost?: number; readonly cacheSavings?: number } {
  const price = env.price ?? builtInPrice(env, model) ?? builtInPrice(env, request.model)
  const cost = Pricing.cost(price, usage)
  if (cost === undefined) return {}
  const cached = usage.cachedPromptTokens > 0 || (usage.cacheWriteTokens ?? 0) > 0
  return cached ? { cost, cacheSavings: Pricing.cacheSavings(price, usage)! } : { cost }
}

export function withCost(env: Env, request: ChatRequest, response: ChatResponse): ChatResponse {
  const priced = costOf(env, request, response.model, response.usage)
  return priced.cost === undefined ? response : { ...response, ...priced }
}

/** Embeddings priced as prompt tokens only, at the price a chat of the same models would have. */
export function withEmbeddingCost(
  env: Env,
  requested: string | undefined,
  response: EmbeddingResponse
): EmbeddingResponse {
  const price = env.price ?? builtInPrice(env, response.model) ?? builtInPrice(env, requested)
  const usage = { promptTokens: response.usage.promptTokens, completionTokens: 0, cachedPromptTokens: 0 }
  const cost = Pricing.cost(price, usage)
  return cost === undefined ? response : { ...response, cost }
}

export function withFinishCost(
  env: Env,
  request: ChatRequest,
  finish: ChatChunk.Finish,
  usage: Usage
): ChatChunk.Finish {
  const priced = costOf(env, request, finish.model, usage)
  return priced.cost === undefined ? finish : { ...finish, ...priced }
}
