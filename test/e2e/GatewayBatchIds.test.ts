/**
 * The ids of a keyless deployment's batches (a server that checks no key, whose pool's key is the stand-in `none`),
 * over loopback with the official `openai` client: signed under the gateway's own secret, not under the stand-in any
 * client could sign with, so an id made so (naming another key's batch as the forger's) is not found; and read by
 * every instance sharing the gateway's store (here a Redis without a database), which keeps the secret.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Gateway from "../../src/Gateway.js"
import * as Ids from "../../src/internal/gateway/batches/ids.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { create, inputFile, instances, openAiClient, promise, refusal, upload } from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"
import { redisServer } from "../utils/redisServer.js"

const aliceKey = "gw-batch-ids-alice-4b6d8f0a2c1e3d5f"
const bobKey = "gw-batch-ids-bob-9e1c3a5b7d0f2e4a"
const model = "sim-local"

/** `count` instances sharing the Redis at `redis` (none: each on its own) over a simulator that checks no key. */
const keyless = (count: number, redis?: string) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ replyTokens: 4, models: [...Simulator.defaultModels, model] })
    const gateways = yield* instances(
      {
        ...(redis === undefined ? {} : { store: { redis, on_unavailable: "fail-closed", command_timeout: 5 } }),
        // vLLM's preset: a server started without --api-key, so the entry lists none.
        local: [{ model_name: model, preset: "vllm", base_url: `${simulator.url}/v1`, max_retries: 0 }]
      },
      {
        keys: [{ name: "alice", key: Redacted.make(aliceKey) }, { name: "bob", key: Redacted.make(bobKey) }]
      },
      count
    )
    // Each answering once its shared store is connected.
    yield* Effect.forEach(gateways, (gateway) =>
      Effect.retry(
        Effect.tryPromise(() => openAiClient(gateway, aliceKey).batches.list()),
        { schedule: Schedule.spaced("100 millis"), times: 50 }
      ))
    return gateways
  })

/** A completed batch of two lines made by `apiKey` on `gateway`. */
const completed = (gateway: Gateway.Service, apiKey: string) =>
  Effect.gen(function*() {
    const openai = openAiClient(gateway, apiKey)
    const file = yield* upload(openai, inputFile(model, 2))
    const batch = yield* promise(() => create(openai, file.id))
    return yield* eventually(
      "the batch completed",
      promise(() => openai.batches.retrieve(batch.id)),
      (read) => read.status === "completed",
      { every: "100 millis" }
    )
  })

describe("a keyless deployment's batch ids", () => {
  it.live(
    "an id signed with the deployment's stand-in key, naming another key's batch, is not found",
    () =>
      Effect.gen(function*() {
        const [gateway] = yield* keyless(1)
        const alices = yield* completed(gateway!, aliceKey)
        const bobs = yield* completed(gateway!, bobKey)
        const bob = openAiClient(gateway!, bobKey)
        // Alice's batch, as bob's: what an id carries is readable, and `none` is every keyless pool's key.
        const bobCaller = Ids.claimed("batch", bobs.id)!.ref.caller
        const forgedRef = { ...Ids.claimed("batch", alices.id)!.ref, caller: bobCaller }
        const standIn = Redacted.make("none")
        const forged = yield* refusal(() => bob.batches.retrieve(Ids.sealed("batch", forgedRef, standIn)))
        expect(forged).toMatchObject({ status: 404, code: "not_found" })
        const forgedOutput = yield* refusal(() => bob.files.content(Ids.sealed("output", forgedRef, standIn)))
        expect(forgedOutput).toMatchObject({ status: 404, code: "not_found" })
        // Nor are the ids it gives signed with it.
        for (const [kind, id] of [["batch", alices.id], ["output", alices.output_file_id!]] as const) {
          expect(Ids.claimed(kind, id)!.signedBy(standIn)).toBe(false)
        }
        // Each key reads its own.
        expect((yield* promise(() => bob.batches.retrieve(bobs.id))).status).toBe("completed")
        const output = yield* promise(() => bob.files.content(bobs.output_file_id!).then((reply) => reply.text()))
        expect(output.trim().split("\n")).toHaveLength(2)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("every instance sharing the gateway's store answers them", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      const [first, second] = yield* keyless(2, redis.url)
      const made = yield* completed(first!, aliceKey)
      const read = yield* promise(() => openAiClient(second!, aliceKey).batches.retrieve(made.id))
      expect([read.id, read.status]).toEqual([made.id, "completed"])
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)
})
