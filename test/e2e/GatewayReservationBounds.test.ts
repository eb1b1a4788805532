/**
 * A budgeted key's reservation is the most its call can bill, so calls at once never spend past the budget, over
 * loopback with the official `openai` client against the simulator: a request naming no service tier, which the
 * provider serves as `auto` and may serve at priority (the simulator's `defaultServiceTier`, as a project whose default
 * tier is Priority processing), is reserved at priority's prices; a compaction, whose `/responses/compact` takes no
 * output bound, is made by the model with the key's `max_output_tokens` sent and reserved, never passed through to
 * write what it likes.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import OpenAI from "openai"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { adminKey, call, gatewayOn, providerKey, temporaryDirectory } from "../utils/adminApi.js"

// No price for the prompt, a dollar for every thousand reply tokens at the standard tier and two at priority: what a
// call costs is its reply, as the simulator makes it.
const tiered = {
  input_per_mtok: 0,
  output_per_mtok: 1_000,
  service_tiers: { priority: { input_per_mtok: 0, output_per_mtok: 2_000 } }
}
const limit = 0.05
const tenKey = "gw-reservation-bounds-ten-4d6f8a0c2e"
const compactKey = "gw-reservation-bounds-compact-5e7a9c1b3d"

const served = Effect.gen(function*() {
  // Forty reply tokens unless asked for fewer; served at priority unless the request names a tier.
  const simulator = yield* Simulator.make({
    apiKeys: [providerKey],
    models: [...Simulator.defaultModels, "tiered-chat", "tiered-responses", "compacting"],
    replyTokens: 40,
    defaultServiceTier: "priority"
  })
  const deployment = (model: string, api: string, headers?: Record<string, string>) => ({
    model_name: model,
    api,
    base_url: `${simulator.url}/v1`,
    api_keys: [providerKey],
    max_retries: 0,
    pricing: tiered,
    ...(headers === undefined ? {} : { headers })
  })
  const budget = { limit, period: "1 day" }
  const directory = yield* temporaryDirectory("gateway-reservation-bounds-")
  // A database, for the admin API's spend of each key.
  const gateway = yield* gatewayOn(simulator, { sqlite: `${directory}/gateway.db` }, {
    sim: [
      deployment("tiered-chat", "chat-completions"),
      deployment("tiered-responses", "responses"),
      // A compaction's summary runs to 200 tokens unless it is bounded.
      deployment("compacting", "responses", { "x-simulator-reply-tokens": "200" })
    ],
    gateway: {
      keys: [
        { name: "ten", key: tenKey, budget },
        { name: "compact", key: compactKey, budget: { ...budget, default_max_tokens: 20 } }
      ],
      admin_keys: [{ name: "ops", key: adminKey }]
    }
  })
  const client = (key: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
  return { gateway, client }
})

/** What the key `id` has spent of its budget, as the admin API says. */
const spentBy = (url: string, id: string) =>
  Effect.map(call(url, "GET", `/admin/keys/${id}`), (answer) => {
    assert.strictEqual(answer.status, 200)
    return answer.body.spend!.spent
  })

/** One call of `api` asking for `maxTokens` at `tier` (none: no `service_tier`): its status. */
async function ask(client: OpenAI, api: "chat" | "responses", maxTokens: number, tier: string | undefined) {
  const asked = tier === undefined ? {} : { service_tier: tier as "auto" }
  try {
    if (api === "chat") {
      await client.chat.completions.create({
        model: "tiered-chat",
        max_tokens: maxTokens,
        messages: [{ role: "user", content: "Hi" }],
        ...asked
      })
    } else {
      await client.responses.create({ model: "tiered-responses", max_output_tokens: maxTokens, input: "Hi", ...asked })
    }
    return 200
  } catch (error) {
    if (error instanceof OpenAI.APIError) return error.status ?? 0
    throw error
  }
}

describe("a reservation bounds what a call can bill", () => {
  it.live(
    "ten calls at once naming no tier, served at priority, never spend past the budget",
    () =>
      Effect.gen(function*() {
        const { client, gateway } = yield* served
        const statuses = yield* Effect.promise(() =>
          Promise.all(Array.from({ length: 10 }, () => ask(client(tenKey), "chat", 10, undefined)))
        )
        // Ten reply tokens at priority's $2 a thousand: $0.02 a call, reserved so; two fit the $0.05 at once.
        expect(statuses.filter((status) => status === 200).length).toBeGreaterThan(0)
        for (const status of statuses) expect([200, 429]).toContain(status)
        const spent = yield* spentBy(gateway.url, "config:ten")
        expect(spent).toBeGreaterThan(0)
        expect(spent).toBeLessThanOrEqual(limit + 1e-12)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "any calls at once, of any reply limit and tier, through Chat Completions and Responses: never past the budget",
    () =>
      Effect.gen(function*() {
        const { client, gateway } = yield* served
        let run = 0
        // Each run on a key of its own, made with the budget.
        const fresh = () =>
          Effect.map(
            call(gateway.url, "POST", "/admin/keys", { name: `property-${run++}`, budget: { limit, period: "1 day" } }),
            (answer) => {
              assert.strictEqual(answer.status, 201)
              return { id: answer.body.id!, key: answer.body.key! }
            }
          )
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(
                fc.record({
                  api: fc.constantFrom("chat" as const, "responses" as const),
                  // The least a Responses deployment is sent is 16; the simulator's reply is all of them.
                  maxTokens: fc.integer({ min: 16, max: 40 }),
                  tier: fc.constantFrom(undefined, "auto", "priority", "default", "flex")
                }),
                { minLength: 1, maxLength: 12 }
              ),
              async (calls) => {
                const { id, key } = await Effect.runPromise(fresh())
                await Promise.all(calls.map((one) => ask(client(key), one.api, one.maxTokens, one.tier)))
                const spent = await Effect.runPromise(spentBy(gateway.url, id))
                expect(spent).toBeLessThanOrEqual(limit + 1e-12)
              }
            ),
            { numRuns: 12 }
          )
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "a budgeted key's compaction is made by the model within its max_output_tokens, and charged no more than reserved",
    () =>
      Effect.gen(function*() {
        const { client, gateway } = yield* served
        const input = [{ role: "user" as const, content: "Rename foo to bar in main.ts" }]
        // The key's 20 reply tokens at priority's $2 a thousand: $0.04 reserved, one at a time under $0.05.
        const compacted = yield* Effect.promise(() =>
          client(compactKey).responses.compact({ model: "compacting", input })
        )
        expect(compacted.usage.output_tokens).toBeLessThanOrEqual(20)
        const spent = yield* spentBy(gateway.url, "config:compact")
        expect(spent).toBeGreaterThan(0)
        expect(spent).toBeLessThanOrEqual(0.04 + 1e-12)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
