/**
 * The usage and cost of an `Llm` call (a chat, or embeddings): usage the
 * provider did not report is estimated locally; the cost is `Options.price`,
 * else the built-in price of the model that answered, else of the requested
 * model.
 */
import type * as ChatChunk from "../../ChatChunk.js"
import type { Input as ChatRequest } from "../../ChatRequest.js"
import type { ChatResponse, Usage } from "../../ChatResponse.js"
import type { EmbeddingResponse } from "../../Embedding.js"
import * as Pricing from "../../Pricing.js"
import type { Env } from "./service.js"

export const isMissing = (usage: Pick<Usage, "totalTokens"> | undefined): boolean =>
  usage === undefined || usage.totalTokens === 0

const builtInPrice = (env: Env, model: string) => {
  if (!env.builtInPrices.has(model)) env.builtInPrices.set(model, Pricing.lookup(model))
  return env.builtInPrices.get(model)
}

const costOf = (env: Env, request: ChatRequest, model: string, usage: Usage) =>
  Pricing.cost(
    env.price ?? builtInPrice(env, model) ??
      (request.model === undefined ? undefined : builtInPrice(env, request.model)),
    usage
  )

export const withCost = (env: Env, request: ChatRequest, response: ChatResponse): ChatResponse => {
  const cost = costOf(env, request, response.model, response.usage)
  return cost === undefined ? response : { ...response, cost }
}

/** Embeddings priced as prompt tokens only, at the price a chat of the same models would have. */
export const withEmbeddingCost = (
  env: Env,
  requested: string | undefined,
  response: EmbeddingResponse
): EmbeddingResponse => {
  const price = env.price ?? builtInPrice(env, response.model) ??
    (requested === undefined ? undefined : builtInPrice(env, requested))
  const usage = { promptTokens: response.usage.promptTokens, completionTokens: 0, cachedPromptTokens: 0 }
  const cost = Pricing.cost(price, usage)
  return cost === undefined ? response : { ...response, cost }
}

export const withFinishCost = (
  env: Env,
  request: ChatRequest,
  finish: ChatChunk.Finish,
  usage: Usage
): ChatChunk.Finish => {
  const cost = costOf(env, request, finish.model, usage)
  return cost === undefined ? finish : { ...finish, cost }
}
