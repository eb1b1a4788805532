/**
 * `POST /v1/embeddings` on the gateway over loopback with `fetch`, against the simulator serving one embedding model
 * through four APIs: a name whose deployments include one without an embeddings API (Anthropic) embeds on the others
 * only; token ids (`[1, 2, 3]`, `[[1, 2], [3]]`, as OpenAI takes them) go to OpenAI-compatible deployments as they
 * are, and a name served by text-only APIs refuses them with a 400 naming `input`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { answerOf } from "../utils/gatewayHarness.js"

const key = "sk-gateway-embeddings-5a7c9e1b"
const model = "text-embedding-3-small"

const serve = Effect.gen(function*() {
  const simulator = yield* Simulator.make({ apiKeys: [key], models: [...Simulator.defaultModels, model] })
  const served = (api: string, base: string, groups: ReadonlyArray<string>) => [{
    model_name: model,
    api,
    base_url: base,
    api_keys: [key],
    max_retries: 0,
    groups
  }]
  const config = yield* ProviderConfig.fromJson({
    openai: served("chat-completions", `${simulator.url}/v1`, ["mixed"]),
    claude: served("anthropic", simulator.url, ["mixed", "claude-only"]),
    google: served("gemini", simulator.url, ["text-only"])
  })
  return yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
})

const embed = (gateway: Gateway.Service, body: Record<string, unknown>) =>
  Effect.map(
    Effect.promise(() =>
      fetch(`${gateway.url}/v1/embeddings`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ encoding_format: "float", ...body })
      }).then(answerOf)
    ),
    (answer) => ({ status: answer.status, json: JSON.parse(answer.text) })
  )

describe("Gateway POST /v1/embeddings over loopback", () => {
  it.live(
    "a group of an OpenAI-style and an Anthropic deployment: all 8 calls embed; a group of Anthropic only is a 400",
    () =>
      Effect.gen(function*() {
        const gateway = yield* serve
        for (let i = 0; i < 8; i++) {
          const answer = yield* embed(gateway, { model: "mixed", input: [`text ${i}`, "more"] })
          expect(answer.status).toBe(200)
          expect(answer.json.data).toHaveLength(2)
        }
        const refused = yield* embed(gateway, { model: "claude-only", input: "hello" })
        expect(refused.status).toBe(400)
        expect(refused.json.error.param).toBe("model")
        expect(refused.json.error.message).toContain("no embeddings API")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "token ids: passed to an OpenAI-compatible deployment as they are; refused (400, param input) by a text-only one",
    () =>
      Effect.gen(function*() {
        const gateway = yield* serve
        const one = yield* embed(gateway, { model: `openai/${model}`, input: [1, 2, 3] })
        expect(one.status).toBe(200)
        expect(one.json.data).toHaveLength(1)
        // The simulator counts a tokenized input's ids.
        expect(one.json.usage.prompt_tokens).toBe(3)
        const two = yield* embed(gateway, { model: "mixed", input: [[1, 2], [3]] })
        expect(two.status).toBe(200)
        expect(two.json.data.map((item: { readonly index: number }) => item.index)).toEqual([0, 1])
        expect(two.json.usage.prompt_tokens).toBe(3)
        // Vectors of ids are not those of a text, and the same ids give the same vector.
        const again = yield* embed(gateway, { model: `openai/${model}`, input: [[1, 2, 3]] })
        expect(again.json.data[0].embedding).toEqual(one.json.data[0].embedding)
        const refused = yield* embed(gateway, { model: "text-only", input: [[1, 2], [3]] })
        expect(refused.status).toBe(400)
        expect(refused.json.error.param).toBe("input")
        expect(refused.json.error.message).toContain("token ids")
        const bad = yield* embed(gateway, { model: "mixed", input: [[1, -2]] })
        expect(bad.status).toBe(400)
        expect(bad.json.error.param).toBe("input[0]")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
