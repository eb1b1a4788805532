/**
 * What Bedrock needs of AWS's own libraries (SigV4 signing, the event-stream framing, the default credential chain),
 * all optional peer dependencies imported only when a Bedrock client or the simulator's Bedrock routes are built.
 * Credentials are shared by every call and asked for again before they expire (`renewing`); their secrets are held
 * `Redacted`, read only to sign.
 */
import type * as CredentialProviders from "@aws-sdk/credential-providers"
import type { EventStreamCodec } from "@smithy/eventstream-codec"
import type { SignatureV4 } from "@smithy/signature-v4"
import * as Effect from "effect/Effect"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import { refreshAtOf, renewing } from "../../providers/renewing.js"
import { causeText } from "../../transport/providerHttp.js"
import type { AwsCredentials, CredentialProvider } from "./options.js"

/** The SigV4 service name of Bedrock's runtime and control plane (Amazon Bedrock API reference). */
export const service = "bedrock"

/**
 * The services a Bedrock client signs for: Bedrock's, and S3's for a batch's input and output files (Amazon S3 API
 * reference, "Authenticating Requests (AWS Signature Version 4)": S3 signs a path as it is sent, not encoded again).
 */
export type Service = typeof service | "s3"

/** Credentials as they are held between calls: the secret key and the session token `Redacted`. */
export interface HeldCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: Redacted.Redacted<string>
  readonly sessionToken?: Redacted.Redacted<string> | undefined
}

/** The loaded libraries. */
export interface Aws {
  readonly codec: EventStreamCodec
  readonly signer: (credentials: HeldCredentials, region: string, service?: Service) => SignatureV4
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()

/** Whether an import failed because the package is not installed. */
const notInstalled = (error: unknown): boolean => (error as { readonly code?: unknown }).code === "ERR_MODULE_NOT_FOUND"

let loading: Promise<Aws> | undefined

function importAws(): Promise<Aws> {
  return Promise.all([
    import("@smithy/eventstream-codec"),
    import("@smithy/signature-v4"),
    import("@smithy/hash-node")
  ]).then(([codec, signature, hash]) => ({
    codec: new codec.EventStreamCodec((bytes) => utf8Decoder.decode(bytes), (text) => utf8Encoder.encode(text)),
    signer: (credentials, region, signedFor = service) =>
      new signature.SignatureV4({
        service: signedFor,
        region,
        credentials: {
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: Redacted.value(credentials.secretAccessKey),
          ...(credentials.sessionToken !== undefined ? { sessionToken: Redacted.value(credentials.sessionToken) } : {})
        },
        // As AWS's SDKs build their SHA-256 in Node.
        sha256: hash.Hash.bind(null, "sha256"),
        uriEscapePath: signedFor !== "s3"
      })
  }))
}

/**
 * The libraries, imported once; a failure names the packages to install (the import is tried again next time).
 */
export const load: Effect.Effect<Aws, string> = Effect.tryPromise({
  try: () =>
    loading ??= importAws().catch((error: unknown) => {
      loading = undefined
      throw error
    }),
  catch: (error) =>
    notInstalled(error) ? notInstalledDetail : `AWS's libraries could not be loaded (${causeText(error)})`
})

/** The packages Bedrock imports, optional peer dependencies. */
export const peerPackages = "@smithy/signature-v4 @smithy/hash-node @smithy/eventstream-codec"

/** `load`'s failure when they are not installed. */
export const notInstalledDetail =
  `Bedrock needs the optional peer dependencies ${peerPackages}; install them (npm install ${peerPackages})`

/** Whether `provider` is the default chain (`defaultCredentialChain`'s, by its function's name). */
export const isDefaultChain = (provider: CredentialProvider): boolean => provider.name === "awsDefaultCredentialChain"

/** What the default chain is called in errors. */
export const defaultChainName = "the AWS default credential chain (fromNodeProviderChain: environment, SSO, " +
  "shared config and credentials files, web identity, process, container and instance metadata)"

/** The provider `make` builds of `@aws-sdk/credential-providers`, the package imported when it is first asked. */
function imported(make: (providers: typeof CredentialProviders) => CredentialProvider): () => Promise<AwsCredentials> {
  let loading: Promise<CredentialProvider> | undefined
  return () => {
    const loaded = loading ??= import("@aws-sdk/credential-providers").then(make, (error: unknown) => {
      loading = undefined
      throw new Error(
        notInstalled(error)
          ? "the optional peer dependency @aws-sdk/credential-providers is not installed; install it " +
            "(npm install @aws-sdk/credential-providers), or give the deployment Bedrock API keys"
          : `@aws-sdk/credential-providers could not be loaded (${causeText(error)})`
      )
    })
    return loaded.then((provider) => provider())
  }
}

/** `@aws-sdk/credential-providers`' `fromNodeProviderChain()`, the package imported when credentials are asked for. */
export function defaultCredentialChain(): CredentialProvider {
  const ask = imported((providers) => providers.fromNodeProviderChain())
  return function awsDefaultCredentialChain() {
    return ask()
  }
}

/** What the credentials of a shared config profile are called in errors. */
export const profileName = (profile: string): string =>
  `the AWS profile ${JSON.stringify(profile)} (fromIni: the shared config and credentials files)`

/**
 * The credentials of one profile of the shared config and credentials files (`fromIni({ profile })`), whatever
 * `AWS_PROFILE` says.
 */
export function profileCredentials(profile: string): CredentialProvider {
  return imported((providers) => providers.fromIni({ profile }))
}

// Where a failed `credential_process` (`Command failed: <command line>` and the command's stderr, as Node's `exec`
// words it) begins in a credential provider's message.
const commandFailed = /Command failed:/

/**
 * What a credential provider's failure says, without a failed `credential_process`'s command line and output: either
 * may hold a secret (a token passed as an argument, one the command printed before it failed).
 */
export function failureText(error: unknown): string {
  const text = causeText(error)
  const at = text.search(commandFailed)
  return at < 0
    ? text
    : `${text.slice(0, at)}its credential_process failed (the command line and its output are not shown)`
}

/**
 * The credentials of `provider` for each call, held (their secrets `Redacted`) while fresh and asked for again
 * before they expire (`renewing`). A failure is a detail naming the provider (`name`).
 */
export const credentialSource = (
  provider: CredentialProvider,
  name: string
): Effect.Effect<HeldCredentials, string> => {
  const ask = Effect.tryPromise({ try: () => provider(), catch: (error) => `${name}: ${failureText(error)}` })
  return renewing((now) =>
    Effect.flatMap(ask, (credentials) => {
      if (
        typeof credentials?.accessKeyId !== "string" || credentials.accessKeyId === "" ||
        typeof credentials.secretAccessKey !== "string"
      ) {
        return Effect.fail(`${name}: no credentials`)
      }
      const expiresAt = credentials.expiration?.getTime() ?? Infinity
      const value: HeldCredentials = {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: Redacted.make(credentials.secretAccessKey),
        ...(typeof credentials.sessionToken === "string" && credentials.sessionToken !== ""
          ? { sessionToken: Redacted.make(credentials.sessionToken) }
          : {})
      }
      return Effect.succeed({ value, expiresAt, refreshAt: refreshAtOf(expiresAt, now) })
    })
  )
}

/** The body of a request as the bytes it sends. */
function bodyBytes(request: HttpClientRequest.HttpClientRequest): Uint8Array | string {
  const body = request.body
  return body._tag === "Uint8Array" ? body.body : ""
}

/**
 * The request signed with SigV4, its headers and body as they go out, the path as it is written (for Bedrock, the model
 * id already URL-encoded, which the signer encodes again, as AWS's SDKs do; for S3, as it is).
 */
export const sign = (
  aws: Aws,
  credentials: Effect.Effect<HeldCredentials, string>,
  region: string,
  signedFor: Service = service
) =>
(request: HttpClientRequest.HttpClientRequest, nowMillis: number): Effect.Effect<
  HttpClientRequest.HttpClientRequest,
  string
> =>
  Effect.flatMap(credentials, (held) =>
    Effect.tryPromise({
      try: () => {
        const url = new URL(request.url)
        const query: Record<string, string> = {}
        url.searchParams.forEach((value, key) => {
          query[key] = value
        })
        return aws.signer(held, region, signedFor).sign({
          method: request.method,
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port !== "" ? { port: Number(url.port) } : {}),
          path: url.pathname,
          query,
          headers: { ...request.headers, host: url.host },
          body: bodyBytes(request)
        }, { signingDate: new Date(nowMillis) })
      },
      catch: (error) => `SigV4 signing failed: ${causeText(error)}`
    }).pipe(Effect.map((signed) => {
      const { host: _host, ...headers } = signed.headers
      return HttpClientRequest.setHeaders(request, headers)
    })))
