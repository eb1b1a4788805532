/**
 * The batches' files and records shared by every instance on one database, or one Redis without a database
 * (`batches/store.ts`, `batches/storeRedis.ts`), over loopback with the official `openai` and `@anthropic-ai/sdk`
 * clients: a file uploaded through one instance is read, and made a batch of, through another; a batch made on one is
 * listed and retrieved on the other; another key sees neither; a file larger than the gateway keeps is refused (413)
 * naming the limit. On SQLite, on Postgres and on Redis.
 */
import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { toFile } from "openai"
import type * as Gateway from "../../src/Gateway.js"
import * as Batches from "../../src/internal/gateway/batches/store.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  anthropicClient,
  batchSimulator,
  create,
  inputFile,
  instances,
  onSimulator,
  openAiClient,
  promise,
  refusal,
  sqliteFile,
  upload
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"
import { postgresServer } from "../utils/postgresServer.js"
import { redisServer } from "../utils/redisServer.js"

const ownerKey = "gw-batch-shared-owner-3c5e7a9b1d2f4a6c"
const otherKey = "gw-batch-shared-other-8e0a2c4b6d1f3e5a"

/**
 * Two instances on `database` (or, without one, sharing the Redis at `redis`) over the simulator, keys `owner` and
 * `other`, bodies up to twice the file bound; each answering its lists (its shared store connected).
 */
const twoInstances = (database: Gateway.Database | undefined, redis?: string) =>
  Effect.gen(function*() {
    const simulator = yield* batchSimulator()
    const gateways = yield* instances(
      {
        ...(redis === undefined ? {} : { store: { redis, on_unavailable: "fail-closed", command_timeout: 5 } }),
        openai: [{ model_name: "gpt-4o-mini", ...onSimulator(simulator) }],
        anthropic: [{ model_name: "claude-haiku-4-5", ...onSimulator(simulator, "anthropic") }]
      },
      {
        database,
        maxBodyBytes: 2 * Batches.bounds.fileBytes,
        keys: [
          { name: "owner", key: Redacted.make(ownerKey) },
          { name: "other", key: Redacted.make(otherKey) }
        ]
      },
      2
    )
    yield* Effect.forEach(gateways, (gateway) =>
      Effect.retry(
        Effect.tryPromise(() => openAiClient(gateway, ownerKey).batches.list()),
        { schedule: Schedule.spaced("100 millis"), times: 50 }
      ))
    return gateways
  })

/** What both instances share, checked through the official clients. */
const shared = ([first, second]: ReadonlyArray<Gateway.Service>) =>
  Effect.gen(function*() {
    const onFirst = openAiClient(first!, ownerKey)
    const onSecond = openAiClient(second!, ownerKey)
    const content = inputFile("gpt-4o-mini", 2)
    const file = yield* upload(onFirst, content)
    // The file, read and made a batch of through the other instance.
    const read = yield* promise(() => onSecond.files.content(file.id).then((reply) => reply.text()))
    expect(read).toBe(content)
    const batch = yield* promise(() => create(onSecond, file.id))
    expect(batch.input_file_id).toBe(file.id)
    // Listed and retrieved on the instance that did not make it.
    const listed = yield* promise(() => onFirst.batches.list())
    expect(listed.data.map((each) => each.id)).toEqual([batch.id])
    const done = yield* eventually(
      "the batch completed, read on the instance that did not make it",
      promise(() => onFirst.batches.retrieve(batch.id)),
      (each) => each.status === "completed"
    )
    expect(done.request_counts).toEqual({ total: 2, completed: 2, failed: 0 })
    // A message batch made on one is listed on the other.
    const message = yield* promise(() =>
      anthropicClient(first!, ownerKey).messages.batches.create({
        requests: [{
          custom_id: "req-0",
          params: { model: "claude-haiku-4-5", max_tokens: 100, messages: [{ role: "user", content: "Hello" }] }
        }]
      })
    )
    const messages = yield* promise(() => anthropicClient(second!, ownerKey).messages.batches.list())
    expect(messages.data.map((each) => each.id)).toEqual([message.id])
    // Another key sees neither, on either instance.
    for (const gateway of [first!, second!]) {
      const other = openAiClient(gateway, otherKey)
      expect(yield* refusal(() => other.files.content(file.id))).toMatchObject({ status: 404, code: "not_found" })
      expect(yield* refusal(() => create(other, file.id))).toMatchObject({ status: 404, code: "not_found" })
      expect(yield* refusal(() => other.batches.retrieve(batch.id))).toMatchObject({ status: 404 })
      expect((yield* promise(() => other.batches.list())).data).toEqual([])
      const anthropic = anthropicClient(gateway, otherKey)
      expect((yield* promise(() => anthropic.messages.batches.list())).data).toEqual([])
      const byOther = yield* refusal<InstanceType<typeof Anthropic.APIError>>(() =>
        anthropic.messages.batches.retrieve(message.id)
      )
      expect(byOther.status).toBe(404)
    }
    // A file larger than the gateway keeps, within the body it takes: refused, naming the limit; nothing kept.
    const large = yield* refusal(async () =>
      onFirst.files.create({
        file: await toFile(Buffer.from("x".repeat(Batches.bounds.fileBytes + 1)), "large.jsonl"),
        purpose: "batch"
      })
    )
    expect(large).toMatchObject({ status: 413, code: "file_too_large", param: "file" })
    expect(large.message).toContain(`at most ${Batches.bounds.fileBytes} bytes`)
  })

describe("Gateway batches' files and lists, shared by every instance on one database or one Redis", () => {
  it.live("two instances on one SQLite file", () =>
    Effect.gen(function*() {
      yield* shared(yield* twoInstances(yield* sqliteFile))
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)

  it.live("two instances on one Postgres database", () =>
    Effect.gen(function*() {
      const server = yield* postgresServer
      yield* shared(yield* twoInstances({ postgres: Redacted.make(yield* server.database("batches_shared")) }))
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 120_000)

  it.live("two instances without a database, sharing a Redis", () =>
    Effect.gen(function*() {
      const redis = yield* redisServer
      yield* shared(yield* twoInstances(undefined, redis.url))
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)
})
