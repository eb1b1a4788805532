/**
 * Every credential the gateway holds is masked when an upstream echoes it (the simulator's `echo-key=error`, which
 * quotes the request's key, its `authorization` header and its `x-amz-security-token` in a 400): an API key (OpenAI's
 * Chat Completions, Azure's `api-key`), a Vertex token, an Entra ID token, and Bedrock's SigV4 header with its session
 * token. For each, through the gateway with the official `openai` client: the tenant's answer, the request's log line
 * and every span (its attributes, events and the failure an exporter records) hold none of them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  claude,
  cloudEntries,
  cloudKinds,
  expectNoSecrets,
  givingTokens,
  observed,
  withCloudCredentials
} from "../utils/cloudCredentials.js"

const apiKey = "sk-masks-openai-key-0123456789abcdef"
const azureKey = "azure-masks-key-0123456789abcdef"
const tokens = {
  vertex: "ya29.masks-vertex-token-0123456789abcdef",
  entra: "eyJ0eXAi.masks-entra-token-0123456789abcdef",
  awsSession: "IQoJb3JpZ2luX2VjE.masks-aws-session-token-0123456789"
}

const echo = { headers: { [Simulator.faultHeader]: "echo-key=error" } }

/** Each credential kind: the deployment a client asks for, and the secrets its upstream request carried. */
const kinds = [
  { kind: "API key (Chat Completions)", model: "openai/sim-small", secrets: [apiKey] },
  { kind: "API key (Azure)", model: "azure-key/gpt-4o", secrets: [azureKey] },
  ...cloudKinds(tokens)
] as const

describe("Gateway: every credential it holds is masked in the answer, the log line and the span", () => {
  it.live(
    "an upstream 400 that echoes the request's credentials, for every kind",
    () =>
      Effect.gen(function*() {
        const simulator = yield* Simulator.make({
          apiKeys: [apiKey, azureKey, tokens.vertex, tokens.entra, Simulator.bedrockCredentials.accessKeyId],
          models: [...Simulator.defaultModels, "gpt4o-prod", "gpt-4.1", claude]
        })
        const url = simulator.url
        const config = yield* ProviderConfig.fromJson({
          ...cloudEntries(url, { extra: echo }),
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
          }]
        })
        const { observe, since, spans } = observed()
        const gateway = yield* Gateway.make({
          config: ProviderConfig.gatewayConfig(config),
          port: 0,
          logRequests: true
        }).pipe(
          withCloudCredentials(givingTokens(tokens)),
          observe
        )
        const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
        for (const { kind, model, secrets } of kinds) {
          const left = since()
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
          const { logged, traced } = left()
          expect(logged, kind).toContain("may not make this request")
          expectNoSecrets([answer, logged, traced], secrets, kind)
        }
        // The spans were made (the gateway's calls ran under the tracer) and one recorded a failure.
        expect(spans.some((span) => span.failure?.includes("may not make this request") === true)).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
