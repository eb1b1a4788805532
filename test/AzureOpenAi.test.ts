import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HttpClient from "effect/http/HttpClient"
import * as ProviderClient from "../src/ProviderClient.js"
import * as AzureOpenAi from "../src/providers/AzureOpenAi.js"
import { adapterHarness, hello } from "./utils/adapterHarness.js"
import { jsonResponse } from "./utils/fakeHttpClient.js"
import { expectOptionsError } from "./utils/optionsError.js"
import { attributeText, recordingTracer } from "./utils/recordingTracer.js"

const KEY = "azure-unit-key-0123456789abcdef"
const TOKEN = "entra-unit-token-0123456789abcdef"
const credentials = ProviderClient.credentials(KEY)
const base = "https://my-resource.openai.azure.com"
const { chatWith, setup } = adapterHarness({ make: AzureOpenAi.make, defaults: { baseUrl: base }, credentials })

const completion = (model: string) =>
  jsonResponse({
    id: "chatcmpl-1",
    model,
    prompt_filter_results: [{ prompt_index: 0, content_filter_results: {} }],
    choices: [{
      index: 0,
      finish_reason: "stop",
      message: { role: "assistant", content: "ok" },
      content_filter_results: { hate: { filtered: false, severity: "safe" } }
    }],
    usage: { prompt_tokens: 3, completion_tokens: 1, total_tokens: 4 }
  })

const tokenCredential: AzureOpenAi.TokenCredential = {
  getToken: () => Promise.resolve({ token: TOKEN, expiresOnTimestamp: Number.MAX_SAFE_INTEGER })
}

describe("AzureOpenAi requests", () => {
  it.effect("with apiVersion: the deployment's path, the key as api-key and no Authorization", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => completion("gpt-4o-2024-08-06"), hello, {
        model: "gpt-4o",
        deployment: "gpt4o prod",
        apiVersion: "2024-10-21"
      })
      const response = yield* run
      assert.strictEqual(response.text, "ok")
      assert.strictEqual(response.provider, "azure")
      const [request] = requests
      assert.strictEqual(
        request!.url,
        `${base}/openai/deployments/gpt4o%20prod/chat/completions?api-version=2024-10-21`
      )
      assert.strictEqual(request!.headers["api-key"], KEY)
      assert.isUndefined(request!.headers["authorization"])
      assert.isUndefined(request!.body["prompt_cache_key"])
      // Azure's deployments have their own processing tiers, not OpenAI's `service_tier`.
      const tiered = chatWith(() => completion("gpt-4o"), { ...hello, serviceTier: "priority" }, { model: "gpt-4o" })
      yield* tiered.run
      assert.isUndefined(tiered.requests[0]!.body["service_tier"])
    }))

  it.effect("without apiVersion: the v1 path, the deployment (else the request's model) as the body's model", () =>
    Effect.gen(function*() {
      const deployed = chatWith(() => completion("gpt-4o"), hello, { model: "gpt-4o", deployment: "gpt4o-prod" })
      yield* deployed.run
      assert.strictEqual(deployed.requests[0]!.url, `${base}/openai/v1/chat/completions`)
      assert.strictEqual(deployed.requests[0]!.body["model"], "gpt4o-prod")
      const named = chatWith(() => completion("gpt-4.1"), { ...hello, model: "gpt-4.1" })
      yield* named.run
      assert.strictEqual(named.requests[0]!.body["model"], "gpt-4.1")
    }))

  it.effect("embeddings go to the deployment's embeddings path", () =>
    Effect.gen(function*() {
      const { requests, service } = setup(
        () => jsonResponse({ data: [{ index: 0, embedding: [0.5, 0.25] }], model: "emb" }),
        { deployment: "emb", apiVersion: "2024-10-21", embeddingEncoding: "float" }
      )
      const client = yield* service
      const reply = yield* client.embed({ input: ["a"] }, credentials)
      assert.deepStrictEqual(reply.embeddings, [[0.5, 0.25]])
      assert.strictEqual(requests[0]!.url, `${base}/openai/deployments/emb/embeddings?api-version=2024-10-21`)
      assert.strictEqual(requests[0]!.body["model"], "emb")
    }))

  it.effect("entraId: the Credential's token as a bearer, no api-key", () =>
    Effect.gen(function*() {
      const { requests, run } = chatWith(() => completion("gpt-4.1"), hello, { model: "gpt-4.1", entraId: true })
      yield* run.pipe(Effect.provideService(AzureOpenAi.Credential, tokenCredential))
      assert.strictEqual(requests[0]!.headers["authorization"], `Bearer ${TOKEN}`)
      assert.isUndefined(requests[0]!.headers["api-key"])
    }))

  it.effect("HTTP spans carry neither the key nor the token: api-key is a redacted header name", () =>
    Effect.gen(function*() {
      const { spans, tracer } = recordingTracer()
      const traced = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          Effect.withTracer(tracer),
          Effect.provideService(HttpClient.TracerHeaderFilter, () => true),
          Effect.provideService(AzureOpenAi.Credential, tokenCredential)
        )
      yield* traced(chatWith(() => completion("gpt-4o"), hello, { model: "gpt-4o" }).run)
      yield* traced(chatWith(() => completion("gpt-4o"), hello, { model: "gpt-4o", entraId: true }).run)
      const values = attributeText(spans)
      const keyed = spans.find(({ attributes }) => attributes.has("http.request.header.api-key"))
      assert.strictEqual(String(keyed?.attributes.get("http.request.header.api-key")), "<redacted>")
      assert.include(values, "http.request.header.authorization")
      assert.notInclude(values, KEY)
      assert.notInclude(values, TOKEN)
    }))

  it.effect("a baseUrl that is not a URL is an OptionsError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(setup(() => completion("m"), { baseUrl: "my-resource" }).service)
      expectOptionsError(error, { module: "AzureOpenAi", option: "baseUrl" })
    }))
})
