/**
 * The Chat Completions adapter's table (`OpenAiChat`), which Azure OpenAI's (`AzureOpenAi`) fills in with its own
 * paths and key header.
 */
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import type { OptionsError } from "../../../OptionsError.js"
import type { Options } from "../../../providers/OpenAiChat.js"
import * as Wire from "../../codec/openAiChat.js"
import * as Embeddings from "../../codec/openAiEmbeddings.js"
import { causeText } from "../../transport/providerHttp.js"
import * as Adapter from "../adapter.js"
import { RequestError } from "../wire.js"
import { ChatStreamParser } from "./stream.js"

const requestIdOf = (response: HttpClientResponse.HttpClientResponse) => response.headers["x-request-id"]

/** The Chat Completions table of `options`; `adapter` names the options' owner in an `OptionsError`. */
export const definition = (options: Options, adapter = "OpenAiChat"): Adapter.Definition | OptionsError => {
  const provider = options.provider ?? "openai"
  const maxTokensField = options.maxTokensField ?? "max_completion_tokens"
  const includeUsage = options.includeUsage ?? true
  const promptCacheKey = options.sendPromptCacheKey ?? true
  const maxEventSize = options.maxEventSize
  const prefill = options.prefill ?? false
  const invalid = Adapter.checkPositive(adapter, "maxEventSize", maxEventSize) ??
    Adapter.checkPositive(adapter, "maxResponseBytes", options.maxResponseBytes, true)
  if (invalid !== undefined) return invalid
  return {
    provider,
    model: options.model,
    baseUrl: options.baseUrl,
    headers: Wire.headers(options),
    // A custom `auth` takes the time the request is sent (Zhipu signs a JWT with it).
    auth: options.auth === undefined ? Adapter.bearer : () => undefined,
    timedAuth: options.auth,
    requestId: requestIdOf,
    maxRawExcerpt: Wire.maxRaw,
    ...Adapter.limitsOf(options),
    path: () => "/chat/completions",
    body: (request, model, stream) => {
      try {
        return Wire.requestBody(request, { model, stream, includeUsage, maxTokensField, promptCacheKey, prefill })
      } catch (error) {
        throw new RequestError(
          `the request body cannot be written as JSON (${causeText(error)}); check providerOptions`
        )
      }
    },
    failureOf: (body) => Wire.isErrorPayload(body) ? body : undefined,
    failureHeaders: "response",
    reply: Wire.reply,
    stream: (context) => new ChatStreamParser({ ...context, maxEventSize }),
    embeddings: Embeddings.wire(options.embeddingEncoding ?? "base64"),
    prefill: prefill !== false
  }
}
