/**
 * The simulator's Azure OpenAI wire format (Azure OpenAI's REST API reference): Chat Completions and embeddings at a
 * deployment's paths and at the v1 API's, answered by the Chat Completions format (`OpenAiChat`) with Azure's own
 * additions: auth, content-filter fields and errors, which docs/simulator.md gives (its opening section and "Each
 * wire's own rules").
 *
 * @since 0.3.0
 */
import type * as Http from "node:http"
import { isJsonObject } from "../internal/json.js"
import { embeddingFormatOf } from "../internal/simulator/embeddingFormat.js"
import * as internalEmbedding from "../internal/simulator/openAiChat/embedding.js"
import { renderReply, renderStream } from "../internal/simulator/openAiChat/render.js"
import { bearerKey } from "../internal/simulator/requestChecks.js"
import { azureErrorJson } from "../internal/wire/openAiChat/codec.js"
import * as OpenAiChat from "./OpenAiChat.js"
import type { ApiError, EmbeddingFormat, WireFormat } from "./WireFormat.js"

type Params = Readonly<Record<string, string | undefined>>

/**
 * The key of a request: its `api-key` header, else its bearer token.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const apiKey = (headers: Http.IncomingHttpHeaders): string | undefined => {
  const key = headers["api-key"]
  return typeof key === "string" ? key : bearerKey(headers)
}

/**
 * The body with the route's deployment as its `model` (a deployment's path names it); as it is on the v1 path.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const withDeployment = (body: unknown, params?: Params): unknown =>
  params?.deployment === undefined || !isJsonObject(body) ? body : { ...body, model: params.deployment }

/**
 * The route parameters of a deployment's path, its `api-version` query taken with them; undefined without one.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const deploymentParams = (params: Params, url: string): Params | undefined => {
  const query = url.indexOf("?")
  const version = query < 0 ? null : new URLSearchParams(url.slice(query + 1)).get("api-version")
  return version === null || version === "" ? undefined : { ...params, "api-version": version }
}

const azureError = (status: number, code: string, message: string) => ({
  status,
  body: azureErrorJson(code, message)
})

const renderError = (error: ApiError): { readonly status: number; readonly body: string } => {
  switch (error._tag) {
    case "InvalidKey":
      return azureError(
        401,
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for " +
          "an active subscription and use a correct regional API endpoint for your resource."
      )
    case "RateLimited":
      return azureError(
        429,
        "429",
        `Requests to the ChatCompletions_Create Operation have exceeded the rate limit of ${error.limit} per minute. ` +
          `Please retry after ${Math.max(1, Math.ceil(error.retryAfterMs / 1000))} seconds.`
      )
    case "ModelNotFound":
      return azureError(
        404,
        "DeploymentNotFound",
        "The API deployment for this resource does not exist. If you created the deployment within the last 5 " +
          "minutes, please wait a moment and try again."
      )
    case "NotFound":
      return azureError(404, "404", "Resource not found")
    default:
      return OpenAiChat.format.renderError(error)
  }
}

/**
 * The Azure OpenAI Chat Completions wire format.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const format: WireFormat<OpenAiChat.Extra> = {
  ...OpenAiChat.format,
  apiKey,
  decode: (body, params) => OpenAiChat.format.decode(withDeployment(body, params)),
  cachePrefixes: (body, params) => OpenAiChat.format.cachePrefixes?.(withDeployment(body, params)) ?? [],
  renderError,
  renderReply: (reply, meta) => renderReply(reply, meta, { contentFilters: true }),
  renderStream: (reply, meta, extra) => renderStream(reply, meta, extra, { contentFilters: true })
}

/**
 * Azure OpenAI embeddings, with the errors and keys of its Chat Completions.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const embeddingFormat: EmbeddingFormat = embeddingFormatOf(
  format,
  (body, params) => internalEmbedding.decodeEmbedding(withDeployment(body, params)),
  internalEmbedding.renderEmbedding
)
