/**
 * The simulator's Amazon Bedrock wire format (Amazon Bedrock API reference: `Converse`, `ConverseStream`,
 * `CountTokens`, and `InvokeModel` for Anthropic's models), so the library's `Bedrock` client and AWS's own SDKs can
 * be tested with no AWS account. Its paths, SigV4 checks (for `bedrockCredentials`, by default
 * {@link testCredentials}), errors, prompt caching and batch inference jobs are in docs/simulator.md, its opening
 * section, "Each wire's own rules" and "Batches". Signing and the frames use AWS's libraries, optional peer
 * dependencies imported at the first Bedrock request.
 *
 * @since 0.3.0
 */
import type { EventStreamCodec } from "@smithy/eventstream-codec"
import type * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Http from "node:http"
import { isJsonObject } from "../internal/json.js"
import { cachePrefixes } from "../internal/simulator/bedrock/cachePrefixes.js"
import { renderError, renderInvokeStream, renderReply, renderStream } from "../internal/simulator/bedrock/render.js"
import { decode } from "../internal/simulator/bedrock/request.js"
import { authorizationOf, checked } from "../internal/simulator/bedrock/sigv4.js"
import { bearerKey, invalid } from "../internal/simulator/requestChecks.js"
import { exceptionFrame, failureBody, malformed } from "../internal/wire/bedrock/writer.js"
import * as Anthropic from "./Anthropic.js"
import { messagesBody } from "./Vertex.js"
import type { ApiError, WireFormat } from "./WireFormat.js"

/**
 * The AWS credentials the simulator verifies SigV4 signatures for: give them to the client (`Bedrock.Credentials`, or
 * the AWS SDK's `credentials`).
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const testCredentials: { readonly accessKeyId: string; readonly secretAccessKey: string } = {
  accessKeyId: "AKIASIMULATOR0000000",
  secretAccessKey: "simulator+secret+access+key/0000000000000"
}

/**
 * The key of a request: a Bedrock API key (`Authorization: Bearer`), or a SigV4 signature's access key id.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const apiKey = (headers: Http.IncomingHttpHeaders): string | undefined =>
  authorizationOf(headers)?.accessKeyId ?? bearerKey(headers)

/** What both of Bedrock's APIs answer alike: the key, errors, the stream's framing and its faults. */
const common = (codec: EventStreamCodec) => ({
  apiKey,
  renderError,
  renderStreamError: () =>
    exceptionFrame(
      codec,
      "modelStreamErrorException",
      "The system encountered an unexpected error during processing. Try your request again."
    ),
  renderBodyError: () => failureBody("InternalServerException", "The server encountered an internal error."),
  malformedEvent: malformed(codec),
  streamContentType: "application/vnd.amazon.eventstream",
  binaryStream: true,
  requestIdHeader: "x-amzn-requestid"
})

/**
 * The Bedrock Converse wire format, its frames written with `codec` (`@smithy/eventstream-codec`'s).
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const format = (codec: EventStreamCodec): WireFormat<undefined> => ({
  ...common(codec),
  decode,
  cachePrefixes,
  renderReply,
  renderStream: (reply, meta) => renderStream(codec, reply, meta),
  idPrefix: ""
})

type Params = Readonly<Record<string, string | undefined>>

/**
 * An `InvokeModel` body for the path's model (`params.modelId`) as the Messages body it carries: its
 * `anthropic_version` required and taken out, no `model`, the path's model put in, and `stream` as the path says
 * (`params.stream`).
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const invokeBody = (
  body: unknown,
  params?: Params
): Result.Result<{ readonly messages: unknown }, ApiError> => {
  const model = params?.modelId ?? ""
  if (!model.includes("anthropic.")) {
    return Result.fail(invalid(
      `The simulator answers InvokeModel with Anthropic's Messages body only; call Converse for ${model}.`,
      "modelId"
    ))
  }
  return Result.map(
    messagesBody(body, { model }),
    (read) => isJsonObject(read.messages) ? { messages: { ...read.messages, stream: params?.stream === "true" } } : read
  )
}

/**
 * Anthropic's models on Bedrock's `InvokeModel` and `InvokeModelWithResponseStream`: the Anthropic Messages format in
 * Bedrock's body, auth, errors and event-stream `chunk` frames (written with `codec`).
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const invokeFormat = (codec: EventStreamCodec): WireFormat<Anthropic.Extra> => ({
  ...common(codec),
  decode: (body, params) =>
    Result.flatMap(invokeBody(body, params), (read) => Anthropic.format.decode(read.messages, params)),
  cachePrefixes: (body, params) => {
    const read = invokeBody(body, params)
    return Result.isFailure(read) ? [] : Anthropic.format.cachePrefixes?.(read.success.messages, params) ?? []
  },
  renderReply: Anthropic.format.renderReply,
  renderStream: (reply, meta, extra) => renderInvokeStream(codec, reply, meta, extra),
  idPrefix: "msg_bdrk_"
})

const testSecretOf = (id: string): string | undefined =>
  id === testCredentials.accessKeyId ? testCredentials.secretAccessKey : undefined

/**
 * The request's signature checked (when it has one) for the credentials `secretOf` knows (the secret key of an access
 * key id; default: `testCredentials` alone): undefined when it verifies or is not SigV4, else the error Bedrock
 * answers.
 *
 * @since 0.3.0
 * @category Wire Formats
 */
export const checkSignature = (
  headers: Http.IncomingHttpHeaders,
  url: string,
  body: string,
  secretOf: (accessKeyId: string) => string | undefined = testSecretOf
): Effect.Effect<ApiError | undefined, string> => checked({ method: "POST", headers, url, body }, secretOf)
