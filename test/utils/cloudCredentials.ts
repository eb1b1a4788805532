/**
 * What the gateway's credential tests share: the three cloud deployments over one upstream (Vertex AI's Gemini, Azure
 * OpenAI with Microsoft Entra ID, Bedrock with SigV4), their credentials provided to a gateway, and what a request
 * left behind (its log lines, its spans) checked for secrets.
 */
import * as Effect from "effect/Effect"
import { expect } from "vitest"
import * as AzureOpenAi from "../../src/providers/AzureOpenAi.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { recordingTracer } from "./recordingTracer.js"
import { jsonLines } from "./requestLines.js"

/** The Bedrock model the cloud deployments serve. */
export const claude = "anthropic.claude-3-5-haiku-20241022-v1:0"

/**
 * provider.json's entries of the three cloud deployments over `url`: `gcp/gemini-2.5-flash`, `<azure>/gpt-4.1`
 * (`azure` default `"azure-entra"`) and `aws/<claude>`, each without retries and with `extra` fields.
 */
export function cloudEntries(
  url: string,
  options: { readonly azure?: string; readonly extra?: Record<string, unknown> } = {}
): Record<string, ReadonlyArray<Record<string, unknown>>> {
  const common = { base_url: url, max_retries: 0, ...options.extra }
  return {
    gcp: [{ model_name: "gemini-2.5-flash", api: "vertex", project: "my-proj", location: "us-central1", ...common }],
    [options.azure ?? "azure-entra"]: [{ model_name: "gpt-4.1", api: "azure", ...common }],
    aws: [{ model_name: claude, api: "bedrock", region: "us-east-1", ...common }]
  }
}

/** What each cloud's credential answers when asked. */
export interface CloudCredentials {
  readonly vertex: () => Promise<{ readonly token: string }>
  readonly entra: () => Promise<{ readonly token: string; readonly expiresOnTimestamp: number }>
  readonly aws: () => Promise<Bedrock.AwsCredentials>
}

/** The tokens cloud credentials give. */
export interface CloudTokens {
  readonly vertex: string
  readonly entra: string
  /** Bedrock's session token, beside the simulator's keys. */
  readonly awsSession: string
}

/** Credentials that give `tokens`: Bedrock's the simulator's keys with `tokens.awsSession` as the session token. */
export function givingTokens(tokens: CloudTokens): CloudCredentials {
  return {
    vertex: () => Promise.resolve({ token: tokens.vertex }),
    entra: () => Promise.resolve({ token: tokens.entra, expiresOnTimestamp: Date.now() + 3_600_000 }),
    aws: () => Promise.resolve({ ...Simulator.bedrockCredentials, sessionToken: tokens.awsSession })
  }
}

/** Each cloud credential of `cloudEntries`: the deployment a client asks for, and the secrets its request carries. */
export function cloudKinds(tokens: CloudTokens) {
  return [
    { kind: "Vertex token", model: "gcp/gemini-2.5-flash", secrets: [tokens.vertex] },
    { kind: "Entra ID token", model: "azure-entra/gpt-4.1", secrets: [tokens.entra] },
    {
      kind: "SigV4 header and session token",
      model: `aws/${claude}`,
      secrets: [tokens.awsSession, Simulator.bedrockCredentials.secretAccessKey]
    }
  ] as const
}

/** `effect` with the three clouds' credentials provided. */
export function withCloudCredentials(credentials: CloudCredentials) {
  return <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(Vertex.Credential, { getAccessToken: credentials.vertex }),
      Effect.provideService(AzureOpenAi.Credential, { getToken: credentials.entra }),
      Effect.provideService(Bedrock.Credentials, credentials.aws)
    )
}

/** A SigV4 signature (64 hex digits after `Signature=`), whatever it was. */
export const signature = /Signature=[0-9a-f]{64}/

/**
 * Log lines (as JSON) and spans recorded from what `observe` runs; `since()` marks a point and gives back what was
 * logged and traced after it, as text.
 */
export function observed() {
  const lines: Array<string> = []
  const { spans, tracer } = recordingTracer()
  return {
    spans,
    observe: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(
        Effect.provide(jsonLines(lines)),
        Effect.withTracer(tracer)
      ),
    since: () => {
      const before = lines.length
      const spansBefore = spans.length
      return () => ({
        logged: lines.slice(before).join("\n"),
        traced: JSON.stringify(
          spans.slice(spansBefore).map((span) => ({
            attributes: [...span.attributes.entries()].map(([name, value]) => [name, String(value)]),
            events: span.events,
            failure: span.failure
          }))
        )
      })
    }
  }
}

/** None of `texts` holds a secret of `secrets` or a SigV4 signature. */
export function expectNoSecrets(texts: ReadonlyArray<string>, secrets: ReadonlyArray<string>, what: string): void {
  for (const text of texts) {
    for (const secret of secrets) expect(text, what).not.toContain(secret)
    expect(text, what).not.toMatch(signature)
  }
}
