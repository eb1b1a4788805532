/**
 * The Bedrock adapter's settings and the AWS credentials it signs with, which its client table reads and the public
 * `Bedrock` module gives users.
 */
import type { HttpOptions } from "../../../ProviderClient.js"

/**
 * @since 0.3.0
 * @category Models
 */
export interface Options extends HttpOptions {
  /** The model of requests that name none: a model id, an inference profile id or an ARN. Default: none. */
  readonly model?: string | undefined
  /** The AWS region (`us-east-1`): the runtime endpoint's and the signature's. Required unless `baseUrl` is set. */
  readonly region?: string | undefined
  /**
   * The runtime endpoint (a VPC endpoint, a proxy). Default: `https://bedrock-runtime.{region}.amazonaws.com`. With
   * SigV4 a `region` is still needed to sign; without one, `us-east-1`.
   */
  readonly baseUrl?: string | undefined
  /** The provider's name in responses and errors. Default: `"bedrock"`. */
  readonly provider?: string | undefined
  /**
   * How requests are authenticated: `"sigv4"` signs them with the `Credentials` in context (a pool of one stand-in
   * key, `"none"`, serves); `"api-key"` sends the call's key as a Bedrock API key (`Authorization: Bearer`).
   * Default: `"sigv4"`.
   */
  readonly auth?: "sigv4" | "api-key" | undefined
  /**
   * The profile of AWS's shared config and credentials files whose credentials sign (`fromIni({ profile })`), in place
   * of the `Credentials` in context, so deployments in one process can sign as different accounts or roles. Only with
   * SigV4. Default: none.
   *
   * @since 0.3.0
   */
  readonly profile?: string | undefined
  /**
   * Whether every conversation with Claude is cached, as a client of an API that caches long prompts on its own
   * (Gemini's, OpenAI's) expects: a request with no cache point gets one after its last turn's last block. A cache
   * write costs more than a prompt token, so a one-turn conversation costs more with it. A request with a
   * `promptCacheKey` is cached so either way. Default: off.
   *
   * @since 0.3.0
   */
  readonly cacheConversations?: boolean | undefined
  /**
   * Where `Batch` runs this client's batches as Bedrock batch inference jobs, at Bedrock's batch price (docs/batch.md,
   * "Bedrock"). Only with SigV4: the same credentials sign the control plane's and S3's requests. Default: none, and
   * `Batch` runs the requests as calls.
   *
   * @since 0.3.0
   */
  readonly batch?: BatchOptions | undefined
}

/**
 * Where a Bedrock client's batches go (Amazon Bedrock API reference, `CreateModelInvocationJob`): a JSONL file under
 * `inputUri`, read by a job run as `roleArn` that writes its results under `outputUri`.
 *
 * @since 0.3.0
 * @category Models
 */
export interface BatchOptions {
  /**
   * The ARN of the service role Bedrock runs the job as (`arn:aws:iam::123456789012:role/name`): it reads the input
   * bucket and writes the output one (user guide, "Create a custom service role for batch inference").
   */
  readonly roleArn: string
  /** The S3 prefix each batch's input file is written under, `s3://bucket/prefix/`. */
  readonly inputUri: string
  /** The S3 prefix Bedrock writes each batch's results under (a folder per job), `s3://bucket/prefix/`. */
  readonly outputUri: string
  /** The control plane's URL (a VPC endpoint, a proxy). Default: `https://bedrock.{region}.amazonaws.com`. */
  readonly endpoint?: string | undefined
  /**
   * S3's URL, a bucket's objects addressed path-style under it (a VPC endpoint, an S3-compatible store, the simulator's
   * `/s3`). Default: each bucket's own host, `https://{bucket}.s3.{region}.amazonaws.com`.
   */
  readonly s3Endpoint?: string | undefined
  /** Hours a job may wait and run before it stops, its lines not run then expired (24 to 168). Default: Bedrock's. */
  readonly timeoutHours?: number | undefined
}

/**
 * AWS credentials, as AWS's SDKs give them (`@smithy/types`' `AwsCredentialIdentity`).
 *
 * @since 0.3.0
 * @category Models
 */
export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string | undefined
  /** When they expire; never when absent. */
  readonly expiration?: Date | undefined
}

/**
 * What gives AWS credentials: the shape of AWS's credential providers (`AwsCredentialIdentityProvider`), so every
 * `@aws-sdk/credential-providers` provider is one (`fromIni`, `fromSSO`, `fromTemporaryCredentials`...).
 *
 * @since 0.3.0
 * @category Models
 */
export type CredentialProvider = () => Promise<AwsCredentials>
