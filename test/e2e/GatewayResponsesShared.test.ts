import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { recorder } from "../utils/cliHarness.js"
import { rejection } from "../utils/gatewayHarness.js"
import { redisServer } from "../utils/redisServer.js"
import { apiError, create, events, promise } from "../utils/responsesHarness.js"
import { connected } from "../utils/sharedStore.js"

const providerKey = "sk-provider-responses-shared-01"
const teamA = "gw-team-a-5d3b1f9e7c2a4e60"
const teamB = "gw-team-b-0a8c6e4d2f1b3a59"

// Two teams' keys, so that a response is its key's on every instance.
const keys: ReadonlyArray<Gateway.Key> = [
  { name: "team-a", key: Redacted.make(teamA) },
  { name: "team-b", key: Redacted.make(teamB) }
]

// A simulator with a Chat Completions, an Anthropic and a Responses deployment (with `store`, its requests recorded)
// behind it, and what starts a gateway on it.
const setting = Effect.gen(function*() {
  const redis = yield* redisServer
  const simulator = yield* Simulator.make({
    apiKeys: [providerKey],
    replyTokens: 8,
    models: [...Simulator.defaultModels, "claude-sim"]
  })
  const recorded = yield* recorder(simulator.url)
  const config = ProviderConfig.gatewayConfig(
    yield* ProviderConfig.fromJson({
      sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }],
      claude: [{
        model_name: "claude-sim",
        api: "anthropic",
        base_url: simulator.url,
        api_keys: [providerKey],
        max_retries: 0
      }],
      up: [{
        model_name: "gpt-4o-mini",
        api: "responses",
        store: true,
        base_url: recorded.baseUrl,
        api_keys: [providerKey],
        max_retries: 0
      }]
    })
  )
  // One instance, in `scope`, with a store (so a Redis connection) of its own, as a process of its own has.
  const instance = (scope: Scope.Scope, responsesTtl?: Duration.Input) =>
    Scope.provide(
      Effect.gen(function*() {
        const gateway = yield* Gateway.make({
          config,
          port: 0,
          keys,
          store: yield* connected(redis.url),
          ...(responsesTtl !== undefined ? { responsesTtl } : {})
        })
        const client = (key: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
        return { a: client(teamA), b: client(teamB) }
      }),
      scope
    )
  return { instance, redis, recorded }
})

// A test's effect, scoped, with the HTTP client the gateways call the simulator with.
const live = <A, E, R>(test: Effect.Effect<A, E, R>) =>
  Effect.scoped(test).pipe(Effect.provide(UndiciHttpClient.layer()))

const notFound = (call: () => Promise<unknown>) => Effect.map(rejection(call), apiError)

describe("Gateway /v1/responses kept in the shared store, with the official openai client", () => {
  it.live(
    "a response created on one instance is continued, fetched and deleted on the other, for its key only",
    () =>
      live(Effect.gen(function*() {
        const { instance } = yield* setting
        const scope = yield* Effect.scope
        const one = yield* instance(scope)
        const other = yield* instance(scope)
        const first = yield* create(one.a, {
          model: "sim/gpt-4o-mini",
          instructions: "Remember names.",
          input: "My name is Ada Lovelace and I was born in London in the winter of 1815."
        })
        const fresh = yield* create(other.a, { model: "claude/claude-sim", input: "What is my name?" })
        const next = yield* create(other.a, {
          model: "claude/claude-sim",
          previous_response_id: first.id,
          input: "What is my name?"
        })
        expect(next.previous_response_id).toBe(first.id)
        // The first turn came before the new input, read from the store by the other instance.
        expect(next.usage!.input_tokens).toBeGreaterThan(fresh.usage!.input_tokens + 20)
        const retrieved = yield* promise(() => other.a.responses.retrieve(first.id))
        expect(retrieved.id).toBe(first.id)
        expect(retrieved.output_text).toBe(first.output_text)
        expect(retrieved.usage).toEqual(first.usage)
        // Another key sees nothing, on either instance, and cannot delete it.
        expect((yield* notFound(() => other.b.responses.retrieve(first.id))).status).toBe(404)
        const foreign = yield* notFound(() =>
          one.b.responses.create({ model: "sim/gpt-4o-mini", previous_response_id: first.id, input: "x" })
        )
        expect(foreign.status).toBe(404)
        expect(foreign.code).toBe("previous_response_not_found")
        expect((yield* notFound(() => other.b.responses.delete(first.id))).status).toBe(404)
        yield* promise(() => other.a.responses.delete(first.id))
        const gone = yield* notFound(() => one.a.responses.retrieve(first.id))
        expect(gone.status).toBe(404)
        expect(gone.message).toContain(first.id)
        expect((yield* notFound(() => one.a.responses.delete(first.id))).status).toBe(404)
      })),
    60_000
  )

  it.live(
    "a Responses deployment's own id is kept in Redis: the other instance continues by it, with the new input only",
    () =>
      live(Effect.gen(function*() {
        const { instance, recorded } = yield* setting
        const scope = yield* Effect.scope
        const one = yield* instance(scope)
        const other = yield* instance(scope)
        const first = yield* create(one.a, { model: "up/gpt-4o-mini", input: "Remember the number 7." })
        const next = yield* create(other.a, {
          model: "up/gpt-4o-mini",
          previous_response_id: first.id,
          input: "Which number?"
        })
        expect(next.previous_response_id).toBe(first.id)
        const [made, continued] = recorded.bodies
        expect(made!["previous_response_id"]).toBeUndefined()
        // The simulator's own id, never the gateway's.
        expect(continued!["previous_response_id"]).toMatch(/^resp_sim\d+$/)
        expect(continued!["previous_response_id"]).not.toBe(first.id)
        expect(continued!["input"]).toEqual([
          { type: "message", role: "user", content: [{ type: "input_text", text: "Which number?" }] }
        ])
      })),
    60_000
  )

  it.live(
    "a streamed response is kept before its response.completed: the other instance continues it at once",
    () =>
      live(Effect.gen(function*() {
        const { instance } = yield* setting
        const scope = yield* Effect.scope
        const one = yield* instance(scope)
        const other = yield* instance(scope)
        for (let turn = 0; turn < 5; turn++) {
          const seen = yield* events(one.a, { model: "sim/gpt-4o-mini", input: `Turn ${turn}: remember the number 7.` })
          const last = seen[seen.length - 1]!
          if (last.type !== "response.completed") return expect(last.type).toBe("response.completed")
          const next = yield* create(other.a, {
            model: "sim/gpt-4o-mini",
            previous_response_id: last.response.id,
            input: "Which number?"
          })
          expect(next.status).toBe("completed")
        }
      })),
    60_000
  )

  it.live(
    "kept across a restart: a new instance on the same Redis reads and continues it",
    () =>
      live(Effect.gen(function*() {
        const { instance } = yield* setting
        const first = yield* Scope.make()
        const before = yield* instance(first)
        const created = yield* create(before.a, { model: "claude/claude-sim", input: "Keep this for later" })
        yield* Scope.close(first, Exit.void)
        const after = yield* instance(yield* Effect.scope)
        const retrieved = yield* promise(() => after.a.responses.retrieve(created.id))
        expect(retrieved.output_text).toBe(created.output_text)
        const next = yield* create(after.a, {
          model: "sim/gpt-4o-mini",
          previous_response_id: created.id,
          input: "And now?"
        })
        expect(next.status).toBe("completed")
      })),
    60_000
  )

  it.live(
    "past its time to live (Redis' expiry) a response is 404 on every instance",
    () =>
      live(Effect.gen(function*() {
        const { instance } = yield* setting
        const scope = yield* Effect.scope
        const one = yield* instance(scope, "1 second")
        const other = yield* instance(scope, "1 second")
        const created = yield* create(one.a, { model: "sim/gpt-4o-mini", input: "Brief" })
        yield* Effect.sleep("1200 millis")
        const expired = yield* notFound(() => other.a.responses.retrieve(created.id))
        expect(expired.status).toBe(404)
        expect(expired.code).toBe("response_not_found")
        const continued = yield* notFound(() =>
          other.a.responses.create({ model: "sim/gpt-4o-mini", previous_response_id: created.id, input: "x" })
        )
        expect(continued.status).toBe(404)
        expect(continued.param).toBe("previous_response_id")
      })),
    60_000
  )

  it.live(
    "Redis away: a kept response cannot be told from none, so its lookups are 503, never 404",
    () =>
      live(Effect.gen(function*() {
        const { instance, redis } = yield* setting
        const one = yield* instance(yield* Effect.scope)
        const created = yield* create(one.a, { model: "sim/gpt-4o-mini", input: "Keep this" })
        yield* redis.stop
        for (const call of [() => one.a.responses.retrieve(created.id), () => one.a.responses.delete(created.id)]) {
          const away = yield* notFound(call)
          expect(away.status).toBe(503)
          expect(away.code).toBe("store_unavailable")
        }
      })),
    60_000
  )
})
