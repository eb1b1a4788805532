/**
 * Amazon Bedrock's table (Amazon Bedrock API reference: `Converse`, `ConverseStream`, `CountTokens`): the model's
 * paths on the region's runtime endpoint, a SigV4 signature (or a Bedrock API key as `Authorization: Bearer`), the
 * Converse codec's bodies, replies and event-stream frames, and, where the options name its buckets and role, batch
 * inference (`batch.ts`).
 */
import type * as Effect from "effect/Effect"
import type * as HttpClientResponse from "effect/http/HttpClientResponse"
import * as Result from "effect/Result"
import type { OptionsError } from "../../../OptionsError.js"
import type { JsonObject } from "../../json.js"
import * as Invalid from "../../optionsError.js"
import * as Adapter from "../../providers/adapter.js"
import type * as ProviderHttp from "../../transport/providerHttp.js"
import { batchFolders, endpointProblem } from "../batch.js"
import type { Aws } from "./aws.js"
import * as Batch from "./batch.js"
import * as Codec from "./codec.js"
import { EventStreamParser } from "./eventStream.js"
import type { Options } from "./options.js"

export const endpointOf = (region: string): string => `https://bedrock-runtime.${region}.amazonaws.com`

/** The control plane of `region`, where batch inference jobs are made. */
export const controlEndpointOf = (region: string): string => `https://bedrock.${region}.amazonaws.com`

// A service role's ARN (AWS IAM user guide, "IAM identifiers"), in any partition.
const roleArnShape = /^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/

/** The path of a model's `Converse` (or `ConverseStream`): the model id (an inference profile id, an ARN) encoded. */
export const pathOf = (model: string, stream: boolean): string =>
  `/model/${encodeURIComponent(model)}/${stream ? "converse-stream" : "converse"}`

const requestIdOf = (response: HttpClientResponse.HttpClientResponse) => response.headers["x-amzn-requestid"]

const regionShape = /^[a-z]{2}(-[a-z]+)+-\d+$/

/** The error body a 2xx reply may be: an object with a message and no output. */
const failureOf = (body: JsonObject): unknown =>
  body["output"] === undefined && (typeof body["message"] === "string" || body["__type"] !== undefined)
    ? body
    : undefined

type Signer = NonNullable<ProviderHttp.Options["sign"]>

/**
 * The batch settings of `options.batch`, or the `OptionsError` naming each field missing or wrong; undefined without
 * one. A batch's files go to S3, which takes only SigV4 (`signS3`): not with a Bedrock API key.
 */
function batchOf(
  options: Options,
  signS3: Signer | undefined
): Result.Result<Batch.Settings | undefined, OptionsError> {
  const batch = options.batch
  if (batch === undefined) return Result.succeed(undefined)
  if (signS3 === undefined) {
    return Result.fail(Invalid.make("Bedrock", "batch", "auth: \"api-key\"", "SigV4 (S3 takes no Bedrock API key)"))
  }
  const { input, output, problems: folderProblems } = batchFolders("Bedrock", batch, Batch.s3Uris, "Bedrock")
  const region = options.region
  const problems = [
    typeof batch.roleArn === "string" && roleArnShape.test(batch.roleArn) ? undefined : Invalid.make(
      "Bedrock",
      "batch.roleArn",
      batch.roleArn,
      "the ARN of the service role Bedrock reads and writes the buckets with (arn:aws:iam::123456789012:role/name)"
    ),
    ...folderProblems,
    endpointProblem("Bedrock", "batch.endpoint", batch.endpoint, "https://bedrock.us-east-1.amazonaws.com"),
    batch.endpoint !== undefined || region !== undefined ? undefined : Invalid.make(
      "Bedrock",
      "batch.endpoint",
      batch.endpoint,
      "the control plane's URL, or a region to find it by"
    ),
    endpointProblem("Bedrock", "batch.s3Endpoint", batch.s3Endpoint, "https://s3.us-east-1.amazonaws.com"),
    batch.timeoutHours === undefined ||
      (Number.isInteger(batch.timeoutHours) && batch.timeoutHours >= 24 && batch.timeoutHours <= 168)
      ? undefined
      : Invalid.make("Bedrock", "batch.timeoutHours", batch.timeoutHours, "a whole number of hours, 24 to 168")
  ]
  const invalid = Invalid.all(problems)
  if (invalid !== undefined) return Result.fail(invalid)
  const s3Endpoint = batch.s3Endpoint?.replace(/\/+$/, "")
  return Result.succeed({
    roleArn: batch.roleArn,
    input: input!,
    output: output!,
    timeoutHours: batch.timeoutHours,
    control: { baseUrl: batch.endpoint ?? controlEndpointOf(region!) },
    // Path-style at an endpoint given (a VPC endpoint, an S3-compatible store), else the bucket's virtual host.
    bucket: (name) => ({
      baseUrl: s3Endpoint === undefined
        ? `https://${name}.s3.${region ?? "us-east-1"}.amazonaws.com`
        : `${s3Endpoint}/${name}`,
      sign: signS3
    })
  })
}

/**
 * Bedrock's table for `options`: `sign` signs each request (SigV4), else the key a call is given goes as a Bedrock
 * API key; `signS3` signs a batch's S3 requests.
 */
export const definition = (
  options: Options,
  aws: Aws,
  sign: ProviderHttp.Options["sign"],
  credential?: Effect.Effect<unknown, string>,
  signS3?: Signer
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
  return Result.map(batchOf(options, signS3), (batch) => ({
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
    body: (request) => {
      const model = request.model ?? options.model ?? ""
      return Codec.requestBody(request, {
        claude: Codec.isClaude(model),
        textFormat: Codec.takesTextFormat(model),
        cacheConversations: options.cacheConversations
      })
    },
    failureOf,
    reply: (body, { model, request }) => Result.succeed(Codec.reply(body, Codec.forcedOutputTool(request, model))),
    stream: (context) => new EventStreamParser(aws.codec, context),
    embeddings: "Bedrock's Converse API has no embeddings; use a provider that has an embeddings API",
    countTokens: {
      path: (model) => `/model/${encodeURIComponent(model)}/count-tokens`,
      body: (request) => Codec.countBody(request),
      count: Codec.countOf
    },
    prefill: options.model !== undefined && Codec.isClaude(options.model),
    batch: batch === undefined ? undefined : Batch.clientWire(batch)
  }))
}
