/**
 * The gateway's stored responses never fill the Redis they share with every other store: a real redis-server with a
 * `maxmemory` limit, one tenant sending large images with `store` on, through the official openai client. The
 * responses stay within `responses_max_key_bytes` and `responses_max_bytes`, the oldest dropped, so Redis stays below
 * its limit and another tenant, whose rate limit and budget live in the same Redis (fail-closed), is served; and a
 * write Redis does not take (its writes paused past the store's command bound) never fails a call, `store` on or off.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { randomBytes } from "node:crypto"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import type * as Store from "../../src/Store.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { rejection } from "../utils/gatewayHarness.js"
import { redisServer } from "../utils/redisServer.js"
import { apiError, create, promise } from "../utils/responsesHarness.js"
import { connected } from "../utils/sharedStore.js"

const providerKey = "sk-provider-responses-bounds-01"
const teamA = "gw-team-a-8e1f4c2b9d7a3e65"
const teamB = "gw-team-b-3c7d9a1e5f2b8c40"

const mib = 1024 * 1024

// A ~600 KB image as a data URL, different each time.
const image = () => `data:image/png;base64,${randomBytes(450_000).toString("base64")}`

/** Redis' memory in use, in bytes, once the store is connected (a fail-open store serves before it is). */
const usedMemory = (store: Store.Store) =>
  Effect.map(
    Effect.orDie(
      Effect.retry(store.connection.send<string>("INFO", "memory"), {
        schedule: Schedule.spaced("50 millis"),
        times: 100
      })
    ),
    (info) => Number(/used_memory:(\d+)/.exec(info)![1])
  )

const setting = (onUnavailable: "fail-open" | "fail-closed") =>
  Effect.gen(function*() {
    const redis = yield* redisServer
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 8 })
    const config = ProviderConfig.gatewayConfig(
      yield* ProviderConfig.fromJson({
        sim: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }]
      })
    )
    const store = yield* connected(redis.url, { onUnavailable })
    const keys: Gateway.Keys = {
      keys: [
        { name: "team-a", key: Redacted.make(teamA) },
        // Limits kept in the same Redis: served only while Redis takes writes.
        {
          name: "team-b",
          key: Redacted.make(teamB),
          rateLimit: { capacity: 100, refillRate: 10 },
          budget: { limit: 100, period: "month" }
        }
      ],
      adminKeys: [],
      responsesMaxBytes: 6 * mib,
      responsesMaxKeyBytes: 3 * mib
    }
    const gateway = yield* Gateway.make({ config: { ...config, keys }, port: 0, store })
    const client = (key: string) => new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })
    // A connection of the test's own, for commands the gateway's writes may be held behind.
    const admin = yield* connected(redis.url)
    return { a: client(teamA), b: client(teamB), store, admin }
  })

const live = <A, E, R>(test: Effect.Effect<A, E, R>) =>
  Effect.scoped(test).pipe(Effect.provide(UndiciHttpClient.layer()))

const withImage = (input: string): OpenAI.Responses.ResponseCreateParamsNonStreaming => ({
  model: "sim/gpt-4o-mini",
  input: [{
    role: "user",
    content: [{ type: "input_text", text: input }, { type: "input_image", image_url: image(), detail: "low" }]
  }]
})

describe("Gateway /v1/responses in a Redis with maxmemory", () => {
  it.live(
    "one tenant's images never fill Redis: its responses stay within their bounds, the oldest dropped, and " +
      "another tenant, its limits in the same Redis, is served",
    () =>
      live(Effect.gen(function*() {
        const { a, b, store } = yield* setting("fail-closed")
        // Room for 12 MiB more than Redis holds now: 25 images of ~600 KB would pass it.
        const limit = (yield* usedMemory(store)) + 12 * mib
        yield* Effect.orDie(store.connection.send("CONFIG", "SET", "maxmemory", String(limit)))
        const made: Array<string> = []
        for (let i = 0; i < 25; i++) made.push((yield* create(a, withImage(`Describe picture ${i}.`))).id)
        expect(yield* usedMemory(store)).toBeLessThan(limit - 4 * mib)
        // The key's newest kept (within its 3 MiB: four of ~600 KB at least), its oldest dropped.
        const kept = yield* Effect.forEach(made, (id) =>
          Effect.map(
            rejection(() => a.responses.retrieve(id)),
            (error) => {
              if (error === undefined) return true
              expect(apiError(error).status).toBe(404)
              return false
            }
          ))
        expect(kept.slice(-4)).toEqual([true, true, true, true])
        expect(kept.slice(0, 10).some(Boolean)).toBe(false)
        const next = yield* create(a, { model: "sim/gpt-4o-mini", previous_response_id: made.at(-1)!, input: "And?" })
        expect(next.previous_response_id).toBe(made.at(-1))
        // The other tenant: its rate limit and budget taken in Redis, its response kept there.
        const other = yield* create(b, withImage("Describe this one."))
        expect((yield* promise(() => b.responses.retrieve(other.id))).id).toBe(other.id)
      })),
    120_000
  )

  it.live(
    "a write Redis does not take never fails a call: store off or on, it is answered; only a call that reads a kept " +
      "response needs the store (503 meanwhile)",
    () =>
      live(Effect.gen(function*() {
        const { a, admin, store } = yield* setting("fail-open")
        yield* usedMemory(store)
        // Writes held back past the store's command bound (scripts among them).
        yield* Effect.orDie(admin.connection.send("CLIENT", "PAUSE", "20000", "WRITE"))
        const unkept = yield* create(a, { ...withImage("Describe it."), store: false })
        expect(unkept.output_text.length).toBeGreaterThan(0)
        const answered = yield* create(a, withImage("Describe it again."))
        expect(answered.output_text.length).toBeGreaterThan(0)
        const lookup = yield* Effect.map(rejection(() => a.responses.retrieve(answered.id)), apiError)
        expect(lookup).toMatchObject({ status: 503, code: "store_unavailable" })
        yield* Effect.orDie(admin.connection.send("CLIENT", "UNPAUSE"))
      })),
    60_000
  )
})
