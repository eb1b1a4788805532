/**
 * Local token counts (`gpt-tokenizer`, o200k_base) for when a provider reports no
 * usage. The tokenizer's tables are large, so they are loaded on first use only.
 */
import * as Effect from "effect/Effect"
import type { ChatResponse, Usage } from "../ChatResponse.js"
import type { EmbeddingUsage } from "../Embedding.js"
import type { Input as ChatRequest } from "../ChatRequest.js"
import { textOf } from "../Message.js"

type CountTokens = (text: string) => number

let loaded: Promise<CountTokens> | undefined

const tokenizer: Effect.Effect<CountTokens> = Effect.promise(() =>
  loaded ??= import("gpt-tokenizer").then((module) => (text: string) => module.countTokens(text))
)

// OpenAI's chat format spends a few tokens per message on role markers, and
// primes the reply with three more.
const perMessageOverhead = 4
const replyPriming = 3

/** The prompt tokens of a request: every message's text, tool calls and tool schemas. */
export const promptTokens = (request: ChatRequest): Effect.Effect<number> =>
  Effect.map(tokenizer, (count) => {
    let total = replyPriming
    for (const message of request.messages) {
      total += perMessageOverhead + count(textOf(message.content))
      if (message.role === "assistant") {
        for (const call of message.toolCalls ?? []) total += count(call.name) + count(call.arguments)
      }
    }
    for (const tool of request.tools ?? []) {
      total += count(tool.name) + count(tool.description ?? "") + count(JSON.stringify(tool.parameters))
    }
    return total
  })

/** The completion tokens of a reply: text, reasoning and tool calls. */
export const completionTokens = (response: Pick<ChatResponse, "text" | "reasoning" | "toolCalls">) =>
  Effect.map(tokenizer, (count) => {
    let total = count(response.text) + count(response.reasoning ?? "")
    for (const call of response.toolCalls) total += count(call.name) + count(call.arguments)
    return total
  })

/** Usage counted locally, marked `estimated`. */
export const estimateUsage = (
  request: ChatRequest,
  response: Pick<ChatResponse, "text" | "reasoning" | "toolCalls">
): Effect.Effect<Usage> =>
  Effect.zipWith(promptTokens(request), completionTokens(response), (prompt, completion) => ({
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: prompt + completion,
    cachedPromptTokens: 0,
    reasoningTokens: 0,
    estimated: true
  }))

/** The usage of embedding `inputs`, counted locally and marked `estimated`. */
export const estimateEmbeddingUsage = (inputs: ReadonlyArray<string>): Effect.Effect<EmbeddingUsage> =>
  Effect.map(tokenizer, (count) => {
    let total = 0
    for (const input of inputs) total += count(input)
    return { promptTokens: total, totalTokens: total, estimated: true }
  })
