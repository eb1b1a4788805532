import { describe, expect, it, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { rejection } from "../utils/gatewayHarness.js"
import { apiError, create, events, Fixture, fixture, promise, tools } from "../utils/responsesHarness.js"

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway /v1/responses: stored responses, with the official openai client",
  (it) => {
    it.effect("previous_response_id: a stored conversation continued on another deployment", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const first = yield* create(client, {
          model: "sim/gpt-4o-mini",
          instructions: "Remember names.",
          input: "My name is Ada Lovelace and I was born in London in the winter of 1815."
        })
        const fresh = yield* create(client, { model: "claude/claude-sim", input: "What is my name?" })
        const next = yield* create(client, {
          model: "claude/claude-sim",
          previous_response_id: first.id,
          input: "What is my name?"
        })
        expect(next.previous_response_id).toBe(first.id)
        expect(next.status).toBe("completed")
        // The first turn (its input and its reply, not its instructions) came before the new input.
        expect(next.usage!.input_tokens).toBeGreaterThan(fresh.usage!.input_tokens + 20)
        const counted = yield* promise(() =>
          client.responses.inputTokens.count({
            model: "claude/claude-sim",
            previous_response_id: first.id,
            input: "What is my name?"
          })
        )
        const alone = yield* promise(() =>
          client.responses.inputTokens.count({ model: "claude/claude-sim", input: "What is my name?" })
        )
        expect(counted.input_tokens).toBeGreaterThan(alone.input_tokens + 20)
      }))

    it.effect("previous_response_id carries a streamed tool call: only the function_call_output is sent next", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        for (const first of ["sim/gpt-4o-mini", "gemini/gpt-4o-mini"]) {
          const seen = yield* events(client, { model: first, input: "Weather in Rome? Use get_weather.", tools })
          const last = seen[seen.length - 1]!
          if (last.type !== "response.completed") return expect(last.type).toBe("response.completed")
          const call = last.response.output.find((item) => item.type === "function_call")
          if (call?.type !== "function_call") return expect(call?.type).toBe("function_call")
          // The same deployment (a Gemini one gets its thought signature back) or another.
          for (const model of [first, "claude/claude-sim"]) {
            const next = yield* create(client, {
              model,
              tools,
              previous_response_id: last.response.id,
              input: [{ type: "function_call_output", call_id: call.call_id, output: "cloudy" }]
            })
            expect(next.output_text).toMatch(/^The tool returned cloudy/)
          }
        }
      }))

    it.effect("a response's id is the gateway's own: a client's x-request-id neither chooses nor reaches one", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const asked = (params: Parameters<typeof create>[1], id: string) =>
          promise(() => client.responses.create(params, { headers: { "x-request-id": id } }))
        const first = yield* asked({ model: "sim/gpt-4o-mini", input: "Remember the number 7." }, "trace-1")
        const again = yield* asked({ model: "sim/gpt-4o-mini", input: "Remember the number 8." }, "trace-1")
        expect(again.id).not.toBe(first.id)
        expect(first.id).toMatch(/^resp_[0-9a-f]{32}$/)
        // A request whose x-request-id is the first response's id makes another response, the first one untouched.
        const claimed = yield* asked({ model: "sim/gpt-4o-mini", input: "Forget it." }, first.id.slice(5))
        expect(claimed.id).not.toBe(first.id)
        const kept = yield* promise(() => client.responses.retrieve(first.id))
        expect(kept.output_text).toBe(first.output_text)
      }))

    it.effect("an unknown previous_response_id is 404, as is one not stored (store: false)", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const unknown = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", previous_response_id: "resp_nope", input: "x" })
          )
        )
        expect(unknown.status).toBe(404)
        expect(unknown.param).toBe("previous_response_id")
        expect(unknown.code).toBe("previous_response_not_found")
        expect(unknown.message).toContain("resp_nope")
        const unstored = yield* create(client, { model: "sim/gpt-4o-mini", input: "Hi", store: false })
        const refused = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "sim/gpt-4o-mini", previous_response_id: unstored.id, input: "x" })
          )
        )
        expect(refused.status).toBe(404)
        expect(apiError(yield* rejection(() => client.responses.retrieve(unstored.id))).status).toBe(404)
      }))

    it.effect("GET and DELETE /v1/responses/{id}: a stored response, then none", () =>
      Effect.gen(function*() {
        const { client } = yield* Fixture
        const created = yield* create(client, { model: "claude/claude-sim", input: "Keep this" })
        const retrieved = yield* promise(() => client.responses.retrieve(created.id))
        expect(retrieved.id).toBe(created.id)
        expect(retrieved.output_text).toBe(created.output_text)
        expect(retrieved.usage).toEqual(created.usage)
        yield* promise(() => client.responses.delete(created.id))
        const gone = apiError(yield* rejection(() => client.responses.retrieve(created.id)))
        expect(gone.status).toBe(404)
        expect(gone.message).toContain(created.id)
        expect(apiError(yield* rejection(() => client.responses.delete(created.id))).status).toBe(404)
      }))
  }
)

describe("Gateway /v1/responses: provider.json's gateway.responses_ttl", () => {
  it.live("a response is kept for the file's responses_ttl, then 404", () =>
    Effect.gen(function*() {
      const key = "sk-responses-ttl-key-00001"
      const simulator = yield* Simulator.make({ apiKeys: [key], replyTokens: 4 })
      const config = yield* ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [key], max_retries: 0 }],
        gateway: { responses_ttl: "1 second" }
      })
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
      const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: "unused", maxRetries: 0 })
      const created = yield* create(client, { model: "sim/gpt-4o-mini", input: "Brief" })
      expect((yield* promise(() => client.responses.retrieve(created.id))).id).toBe(created.id)
      yield* Effect.sleep("1200 millis")
      const expired = apiError(yield* rejection(() => client.responses.retrieve(created.id)))
      expect(expired.status).toBe(404)
      expect(expired.code).toBe("response_not_found")
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 30_000)
})
