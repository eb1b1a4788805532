/**
 * Every credential the gateway holds is masked when an upstream echoes it (the simulator's `echo-key=error`, which
 * quotes the request's key, its `authorization` header and its `x-amz-security-token` in a 400): an API key (OpenAI's
 * Chat Completions, Azure's `api-key`), a Vertex token, an Entra ID token, and Bedrock's SigV4 header with its session
 * token. For each, through the gateway with the official `openai` client: the tenant's answer, the request's log line
 * and every span (its attributes, events and the failure an exporter records) hold none of them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as AzureOpenAi from "../../src/providers/AzureOpenAi.js"
import * as Bedrock from "../../src/providers/Bedrock.js"
import * as Vertex from "../../src/providers/Vertex.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { recordingTracer } from "../utils/recordingTracer.js"

const apiKey = "sk-masks-openai-key-0123456789abcdef"
const azureKey = "azure-masks-key-0123456789abcdef"
const vertexToken = "ya29.masks-vertex-token-0123456789abcdef"
const entraToken = "eyJ0eXAi.masks-entra-token-0123456789abcdef"
const sessionToken = "IQoJb3JpZ2luX2VjE.masks-aws-session-token-0123456789"

const echo = { headers: { [Simulator.faultHeader]: "echo-key=error" } }

/** Each credential kind: the deployment a client asks for, and the secrets its upstream request carried. */
const kinds = [
  { kind: "API key (Chat Completions)", model: "openai/sim-small", secrets: [apiKey] },
  { kind: "API key (Azure)", model: "azure-key/gpt-4o", secrets: [azureKey] },
  { kind: "Vertex token", model: "gcp/gemini-2.5-flash", secrets: [vertexToken] },
  { kind: "Entra ID token", model: "azure-entra/gpt-4.1", secrets: [entraToken] },
  {
    kind: "SigV4 header and session token",
    model: "aws/anthropic.claude-3-5-haiku-20241022-v1:0",
    secrets: [sessionToken, Simulator.bedrockCredentials.secretAccessKey]
  }
] as const

// A SigV4 signature (64 hex digits after `Signature=`), whatever it was.
const signature = /Signature=[0-9a-f]{64}/

describe("Gateway: every credential it holds is masked in the answer, the log line and the span", () => {
  it.live(
    "an upstream 400 that echoes the request's credentials, for every kind",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          apiKeys: [apiKey, azureKey, vertexToken, entraToken, Simulator.bedrockCredentials.accessKeyId],
          models: [...Simulator.defaultModels, "gpt4o-prod", "gpt-4.1", "anthropic.claude-3-5-haiku-20241022-v1:0"]
        })
        const url = simulator.url
        const config = yield* ProviderConfig.fromJson({
          openai: [{ model_name: "sim-small", base_url: `${url}/v1`, api_keys: [apiKey], max_retries: 0, ...echo }],
          "azure-key": [{
            model_name: "gpt-4o",
            api: "azure",
            base_url: url,
            deployment: "gpt4o-prod",
            api_version: "2024-10-21",
            api_keys: [azureKey],
            max_retries: 0,
            ...echo
          }],
          "azure-entra": [{ model_name: "gpt-4.1", api: "azure", base_url: url, max_retries: 0, ...echo }],
          gcp: [{
            model_name: "gemini-2.5-flash",
            api: "vertex",
            project: "my-proj",
            location: "us-central1",
            base_url: url,
            max_retries: 0,
            ...echo
          }],
          aws: [{
            model_name: "anthropic.claude-3-5-haiku-20241022-v1:0",
            api: "bedrock",
            region: "us-east-1",
            base_url: url,
            max_retries: 0,
            ...echo
          }]
        })
        const lines: Array<string> = []
        const { spans, tracer } = recordingTracer()
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          logRequests: true
        })
          .pipe(
            Effect.provideService(Vertex.Credential, { getAccessToken: () => Promise.resolve({ token: vertexToken }) }),
            Effect.provideService(AzureOpenAi.Credential, {
              getToken: () => Promise.resolve({ token: entraToken, expiresOnTimestamp: Date.now() + 3_600_000 })
            }),
            Effect.provideService(
              Bedrock.Credentials,
              () => Promise.resolve({ ...Simulator.bedrockCredentials, sessionToken })
            ),
            Effect.provide(Logger.layer([Logger.map(Logger.formatJson, (line) => lines.push(line))])),
            Effect.withTracer(tracer)
          )
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        for (const { kind, model, secrets } of kinds) {
          const before = lines.length
          const spansBefore = spans.length
          const error = yield* Effect.promise(() =>
            client.chat.completions.create({ model, messages: [{ role: "user", content: "Hello" }] }).then(
              () => undefined,
              (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
            )
          )
          expect(error?.status, kind).toBe(400)
          const answer = JSON.stringify(error?.error)
          // The upstream's words reach the tenant (a 400 is about the request), masked.
          expect(answer, kind).toContain("may not make this request")
          const logged = lines.slice(before).join("\n")
          expect(logged, kind).toContain("may not make this request")
          const traced = JSON.stringify(
            spans.slice(spansBefore).map((span) => ({
              attributes: [...span.attributes.entries()].map(([name, value]) => [name, String(value)]),
              events: span.events,
              failure: span.failure
            }))
          )
          for (const text of [answer, logged, traced]) {
            for (const secret of secrets) expect(text, kind).not.toContain(secret)
            expect(text, kind).not.toMatch(signature)
          }
        }
        // The spans were made (the gateway's calls ran under the tracer) and one recorded a failure.
        expect(spans.some((span) => span.failure?.includes("may not make this request") === true)).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
