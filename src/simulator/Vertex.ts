/**
 * The simulator's Vertex AI wire formats (Vertex AI's REST reference): Google's models and Anthropic's on a project's
 * location, answered by the Gemini and Anthropic formats (`Gemini`, `Anthropic`) with Vertex's paths, auth and errors,
 * which docs/simulator.md gives (its opening section and "Each wire's own rules").
 *
 * @since 0.3.0
 */
import * as Result from "effect/Result"
import { isJsonObject } from "../internal/json.js"
import { bearerKey, invalid } from "../internal/simulator/requestChecks.js"
import { errorJson } from "../internal/wire/gemini/codec.js"
import * as Anthropic from "./Anthropic.js"
import * as Gemini from "./Gemini.js"
import type { ApiError, WireFormat } from "./WireFormat.js"

type Params = Readonly<Record<string, string | undefined>>

/**
 * A route's model segment (`gemini-2.5-flash:generateContent`, `claude-sonnet-4-5:rawPredict`) split into the model and
 * the method; undefined for a method `publisher` does not serve.
 *
 * @since 0.3.0
 * @category Routes
 */
export const anthropicTarget = (segment: string): Params | undefined => {
  const colon = segment.lastIndexOf(":")
  const method = segment.slice(colon + 1)
  return colon < 0 || (method !== "rawPredict" && method !== "streamRawPredict")
    ? undefined
    : { model: segment.slice(0, colon), method }
}

/**
 * Google's error body for the failures Vertex's front end answers itself (auth, unknown model, rate limit, unknown
 * path); undefined for the others, which the publisher's format renders.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const frontEndError = (error: ApiError): { readonly status: number; readonly body: string } | undefined => {
  const answer = (status: number, message: string) => ({ status, body: errorJson(status, message) })
  switch (error._tag) {
    case "InvalidKey":
      return answer(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other " +
          "valid authentication credential. " +
          "See https://developers.google.com/identity/sign-in/web/devconsole-project."
      )
    case "ModelNotFound":
      return answer(
        404,
        `Publisher Model \`${error.model}\` was not found or your project does not have access to it. ` +
          "Please ensure you are using a valid model version."
      )
    case "RateLimited":
      return answer(
        429,
        "Resource exhausted. Please try again later. Please refer to " +
          "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
      )
    case "NotFound":
      return answer(404, `The requested URL ${error.path} was not found on this server.`)
    case "Injected":
      // A permission Google's IAM refuses is answered by the front end, for either publisher.
      return error.fault.status === 403
        ? answer(
          403,
          error.fault.message ??
            "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist). (injected fault)"
        )
        : undefined
    default:
      return undefined
  }
}

// Anthropic publishes the `claude-` models, Google the others.
const isAnthropics = (model: string | undefined): boolean => model?.startsWith("claude-") === true

/**
 * Google's models on Vertex: the Gemini format with a bearer token and Vertex's errors.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const geminiFormat: WireFormat<Gemini.Extra> = {
  ...Gemini.format,
  apiKey: bearerKey,
  decode: (body, params) =>
    isAnthropics(params?.model)
      ? Result.fail({ _tag: "ModelNotFound", model: params?.model ?? "" })
      : Gemini.format.decode(body, params),
  renderError: (error) => frontEndError(error) ?? Gemini.format.renderError(error)
}

/**
 * The Messages body of a `rawPredict` route: with its `anthropic_version`, without a `model`, the path's model put in.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const messagesBody = (
  body: unknown,
  params?: Params
): Result.Result<{ readonly messages: unknown }, ApiError> => {
  if (!isJsonObject(body)) return Result.succeed({ messages: body })
  if (typeof body.anthropic_version !== "string") {
    return Result.fail(invalid("anthropic_version: Field required", "anthropic_version"))
  }
  if (body.model !== undefined) return Result.fail(invalid("model: Extra inputs are not permitted", "model"))
  const { anthropic_version: _version, ...rest } = body
  return Result.succeed({ messages: { ...rest, model: params?.model } })
}

/**
 * Anthropic's models on Vertex: the Anthropic Messages format on `rawPredict`, with a bearer token and Vertex's
 * front-end errors.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const anthropicFormat: WireFormat<Anthropic.Extra> = {
  ...Anthropic.format,
  apiKey: bearerKey,
  // The `anthropic-beta` header is read as on Anthropic's own API (Vertex's Claude takes the same betas).
  decode: (body, params, headers) => {
    if (!isAnthropics(params?.model)) return Result.fail({ _tag: "ModelNotFound", model: params?.model ?? "" })
    return Result.flatMap(messagesBody(body, params), (read) => Anthropic.format.decode(read.messages, params, headers))
  },
  cachePrefixes: (body, params) => {
    const read = messagesBody(body, params)
    return Result.isFailure(read) ? [] : Anthropic.format.cachePrefixes?.(read.success.messages, params) ?? []
  },
  renderError: (error) => frontEndError(error) ?? Anthropic.format.renderError(error)
}
