/**
 * The simulator's check of an AWS Signature Version 4 `authorization` header: the request as it came (method, host,
 * path as written, query, the headers it signed, body) signed again with `@smithy/signature-v4` for the credentials the
 * simulator knows, at the time and in the region and service the signature names (Bedrock's, or S3's for a batch's
 * files); it verifies when both signatures are the same. The request's age is not checked (a test's clock may be
 * anywhere).
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Http from "node:http"
import type { ApiError } from "../../../simulator/WireFormat.js"
import type { Aws } from "../../wire/bedrock/aws.js"
import { load, service } from "../../wire/bedrock/aws.js"

const shape = new RegExp(
  "^AWS4-HMAC-SHA256 Credential=([^/]+)/(\\d{8})/([^/]+)/([^/]+)/aws4_request," +
    " ?SignedHeaders=([^,]+), ?Signature=[0-9a-f]{64}$"
)

/** The SigV4 `authorization` header's parts; undefined when it is not one (a Bedrock API key). */
export function authorizationOf(headers: Http.IncomingHttpHeaders) {
  const match = shape.exec(headers.authorization ?? "")
  return match === null ? undefined : {
    accessKeyId: match[1]!,
    date: match[2]!,
    region: match[3]!,
    service: match[4]!,
    signedHeaders: match[5]!.split(";")
  }
}

const denied = (message: string): ApiError => ({
  _tag: "InvalidRequest",
  status: 403,
  code: "InvalidSignatureException",
  message
})

/** The parts of a SigV4 `authorization` header. */
export type Authorization = NonNullable<ReturnType<typeof authorizationOf>>

/** `20240101T000000Z` as a date. */
function amzDate(text: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  return match === null
    ? undefined
    : new Date(Date.UTC(+match[1]!, +match[2]! - 1, +match[3]!, +match[4]!, +match[5]!, +match[6]!))
}

/** A request as the simulator read it, whose signature is checked. */
interface SignedRequest {
  readonly method: string
  readonly headers: Http.IncomingHttpHeaders
  readonly url: string
  readonly body: string
}

/**
 * Whether a signed request verifies: undefined when it does, else the error Bedrock answers. `secretOf` gives the
 * secret key of an access key id the simulator knows.
 */
export async function verify(
  aws: Aws,
  authorization: Authorization,
  request: SignedRequest,
  secretOf: (accessKeyId: string) => string | undefined
): Promise<ApiError | undefined> {
  const secretAccessKey = secretOf(authorization.accessKeyId)
  if (secretAccessKey === undefined) return { _tag: "InvalidKey", maskedKey: undefined }
  const signedFor = authorization.service
  if (signedFor !== service && signedFor !== "s3") {
    return denied(`Credential should be scoped to correct service: '${service}'.`)
  }
  const dateHeader = request.headers["x-amz-date"]
  const signingDate = typeof dateHeader === "string" ? amzDate(dateHeader) : undefined
  if (signingDate === undefined) return denied("The request has no valid x-amz-date header.")
  const headers: Record<string, string> = {}
  for (const name of authorization.signedHeaders) {
    const value = request.headers[name]
    if (value === undefined) return denied(`The signed header ${name} is missing.`)
    headers[name] = Array.isArray(value) ? value.join(",") : value
  }
  const host = headers.host ?? ""
  const colon = host.lastIndexOf(":")
  const query = request.url.indexOf("?")
  const params = query < 0 ? {} : Object.fromEntries(new URLSearchParams(request.url.slice(query + 1)))
  const token = request.headers["x-amz-security-token"]
  const signed = await aws.signer(
    {
      accessKeyId: authorization.accessKeyId,
      secretAccessKey: Redacted.make(secretAccessKey),
      ...(typeof token === "string" ? { sessionToken: Redacted.make(token) } : {})
    },
    authorization.region,
    signedFor
  ).sign({
    method: request.method,
    protocol: "http:",
    hostname: colon < 0 ? host : host.slice(0, colon),
    ...(colon < 0 ? {} : { port: Number(host.slice(colon + 1)) }),
    path: query < 0 ? request.url : request.url.slice(0, query),
    query: params,
    headers,
    body: request.body
  }, { signingDate })
  return signed.headers["authorization"] === request.headers.authorization ? undefined : denied(
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access " +
      "Key and signing method. Consult the service documentation for details."
  )
}

/**
 * The request's signature checked (when it has one) for the credentials `secretOf` knows: undefined when it verifies or
 * is not SigV4, else the error Bedrock answers; a failure when AWS's libraries could not be loaded.
 */
export function checked(
  request: SignedRequest,
  secretOf: (accessKeyId: string) => string | undefined
): Effect.Effect<ApiError | undefined, string> {
  const authorization = authorizationOf(request.headers)
  if (authorization === undefined) return Effect.succeed(undefined)
  return Effect.flatMap(load, (aws) =>
    Effect.tryPromise({
      try: () => verify(aws, authorization, request, secretOf),
      catch: (error) => `the signature could not be checked: ${String(error)}`
    }))
}
