/**
 * Azure OpenAI's table (Azure OpenAI's REST API reference): the Chat Completions adapter's, with Azure's paths, its
 * `api-key` header or an Entra ID bearer token. Replies and streams are Chat Completions', which skip Azure's
 * content-filter fields (`prompt_filter_results`, `content_filter_results`, a first stream chunk without choices).
 */
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type { OptionsError } from "../../../OptionsError.js"
import * as Invalid from "../../optionsError.js"
import type * as Adapter from "../../providers/adapter.js"
import * as Batch from "../../wire/openAiChat/batch.js"
import { definition as chatDefinition } from "../../wire/openAiChat/client.js"
import * as Embeddings from "../../wire/openAiChat/embeddings.js"
import type { Options } from "./options.js"

export const apiKey = (key: Redacted.Redacted<string>) => ["api-key", Redacted.value(key)] as const

const requestIdOf = (response: HttpClientResponse.HttpClientResponse) =>
  response.headers["x-request-id"] ?? response.headers["apim-request-id"]

/**
 * A deployment's path, dated by `apiVersion`, or without one the v1 API's, which names the deployment in the body's
 * `model`.
 */
export const pathOf = (apiVersion: string | undefined) =>
  apiVersion === undefined
    ? (_deployment: string, operation: string) => `/openai/v1/${operation}`
    : (deployment: string, operation: string) =>
      `/openai/deployments/${encodeURIComponent(deployment)}/${operation}?api-version=${encodeURIComponent(apiVersion)}`

/** Where a resource's Batch API is: the v1 API's paths, or with `apiVersion` the dated ones. */
function batchPaths(apiVersion: string | undefined): Batch.Paths {
  return {
    path: apiVersion === undefined
      ? (path) => `/openai/v1${path}`
      : (path) => `/openai${path}?api-version=${encodeURIComponent(apiVersion)}`,
    endpoint: "/chat/completions"
  }
}

/** Azure's table for `options`, its token (Entra ID) when it has one, else its key sent as `api-key`. */
export const definition = (
  options: Options,
  token: Adapter.Definition["token"]
): Result.Result<Adapter.Definition, OptionsError> => {
  if (!URL.canParse(options.baseUrl)) {
    return Result.fail(Invalid.make(
      "AzureOpenAi",
      "baseUrl",
      options.baseUrl,
      "the resource's endpoint, an absolute URL such as https://my-resource.openai.azure.com"
    ))
  }
  const deploymentOf = (model: string) => options.deployment ?? model
  const path = pathOf(options.apiVersion)
  const encoding = options.embeddingEncoding ?? "base64"
  const chat = chatDefinition({
    ...options,
    model: options.model ?? options.deployment,
    provider: options.provider ?? "azure",
    // Azure takes the prompt cache key only from some API versions on; it caches by prefix without one. Its
    // deployments have their own processing tiers, not OpenAI's `service_tier`.
    sendPromptCacheKey: false,
    sendServiceTier: false
  }, "AzureOpenAi")
  return Result.map(chat, (chat): Adapter.Definition => ({
    ...chat,
    auth: token === undefined ? apiKey : () => undefined,
    token,
    requestId: requestIdOf,
    path: (model) => path(deploymentOf(model), "chat/completions"),
    body: (request, model, stream, keyId) => chat.body(request, deploymentOf(model), stream, keyId),
    // A global batch deployment takes OpenAI's Batch API at the resource's `/openai` paths, each line to
    // `/chat/completions` with the deployment as its `model` (Azure OpenAI's batch guide).
    batch: options.batches === true ? Batch.clientWireAt(batchPaths(options.apiVersion)) : undefined,
    embeddings: {
      ...Embeddings.wire(encoding),
      path: (model) => path(deploymentOf(model), "embeddings"),
      tokens: true,
      body: (model, inputs, request) =>
        Embeddings.requestBody(deploymentOf(model), inputs, request.dimensions, encoding)
    }
  }))
}
