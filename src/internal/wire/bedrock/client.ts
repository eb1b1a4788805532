/**
 * Amazon Bedrock's table (Amazon Bedrock API reference: `Converse`, `ConverseStream`): the model's paths on the
 * region's runtime endpoint, a SigV4 signature (or a Bedrock API key as `Authorization: Bearer`), and the Converse
 * codec's bodies, replies and event-stream frames.
 */
import type * as Effect from "effect/Effect"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Result from "effect/Result"
import type { OptionsError } from "../../../OptionsError.js"
import type { Options } from "../../../providers/Bedrock.js"
import * as Invalid from "../../optionsError.js"
import * as Adapter from "../../providers/adapter.js"
import type * as ProviderHttp from "../../transport/providerHttp.js"
import type { JsonObject } from "../json.js"
import { outputToolName } from "../outputTool.js"
import type { Aws } from "./aws.js"
import * as Codec from "./codec.js"
import { EventStreamParser } from "./eventStream.js"

/** The runtime endpoint of `region`. */
export const endpointOf = (region: string): string => `https://bedrock-runtime.${region}.amazonaws.com`

/** The path of a model's `Converse` (or `ConverseStream`): the model id (an inference profile id, an ARN) encoded. */
export const pathOf = (model: string, stream: boolean): string =>
  `/model/${encodeURIComponent(model)}/${stream ? "converse-stream" : "converse"}`

const requestIdOf = (response: HttpClientResponse.HttpClientResponse) => response.headers["x-amzn-requestid"]

const regionShape = /^[a-z]{2}(-[a-z]+)+-\d+$/

/**
 * Whether a model id, inference profile id or ARN names Anthropic's Claude, which goes on from a last assistant
 * message on Converse as on Anthropic's Messages API (Amazon Bedrock user guide, Anthropic Claude models).
 */
export const isClaude = (model: string): boolean => /(?:^|[./])anthropic\.claude-/.test(model)

/** The error body a 2xx reply may be: an object with a message and no output. */
const failureOf = (body: JsonObject): unknown =>
  body["output"] === undefined && (typeof body["message"] === "string" || body["__type"] !== undefined)
    ? body
    : undefined

/**
 * Bedrock's table for `options`: `sign` signs each request (SigV4), else the key a call is given goes as a Bedrock
 * API key.
 */
export const definition = (
  options: Options,
  aws: Aws,
  sign: ProviderHttp.Options["sign"],
  credential?: Effect.Effect<unknown, string>
): Result.Result<Adapter.Definition, OptionsError> => {
  const region = options.region
  if (region !== undefined && !regionShape.test(region)) {
    return Result.fail(Invalid.make("Bedrock", "region", region, "an AWS region such as us-east-1"))
  }
  if (options.baseUrl === undefined && region === undefined) {
    return Result.fail(
      Invalid.make("Bedrock", "region", region, "the AWS region of the runtime endpoint, such as us-east-1")
    )
  }
  const baseUrl = options.baseUrl ?? endpointOf(region!)
  if (!URL.canParse(baseUrl)) {
    return Result.fail(Invalid.make(
      "Bedrock",
      "baseUrl",
      baseUrl,
      "an absolute URL such as https://bedrock-runtime.us-east-1.amazonaws.com"
    ))
  }
  return Result.succeed({
    ...Adapter.limitsOf(options),
    provider: options.provider ?? "bedrock",
    baseUrl,
    headers: options.headers,
    model: options.model,
    auth: sign === undefined ? Adapter.bearer : () => undefined,
    sign,
    credential,
    // The signature's `authorization` is redacted as every key header is.
    secretHeaders: sign === undefined ? undefined : ["x-amz-security-token"],
    requestId: requestIdOf,
    failureHeaders: "response",
    path: pathOf,
    body: (request) => Codec.requestBody(request),
    failureOf,
    reply: (body, { request }) => Result.succeed(Codec.reply(body, outputToolName(request))),
    stream: (context) => new EventStreamParser(aws.codec, context),
    embeddings: "Bedrock's Converse API has no embeddings; use a provider that has an embeddings API",
    prefill: options.model !== undefined && isClaude(options.model)
  })
}
