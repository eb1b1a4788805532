import { describe, expect, it, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { toFile } from "openai"
import type * as Gateway from "../../src/Gateway.js"
import * as LlmError from "../../src/LlmError.js"
import * as Pricing from "../../src/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminKey,
  adminRead,
  batchSimulator,
  billOf,
  create,
  inputFile,
  instances,
  lineRows,
  onSimulator,
  openAiClient as client,
  payerInstances,
  payerKey,
  priceOf,
  promise,
  providerBatchOf,
  providerKey,
  refusal as rejection,
  type Row,
  settlingSimulator,
  spentOf as spentBy,
  sqliteFile,
  sum,
  upload,
  whileConnecting
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"
import { postgresServer } from "../utils/postgresServer.js"
import { scrape, valueOf } from "../utils/prometheus.js"
import { redisServer } from "../utils/redisServer.js"

const fullKey = "gw-batch-full-5c1e9a3b7d2f4a6c"
const otherKey = "gw-batch-other-0e2c4a6b8d1f3e5a"
const miniKey = "gw-batch-mini-7b3d5f1a9c2e4d6b"
const brokeKey = "gw-batch-broke-2a4c6e8b0d3f5a7c"

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  /** Another instance on the same configuration. */
  readonly other: Gateway.Service
}>()("test/GatewayBatches") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* batchSimulator()
    const base = onSimulator(simulator)
    const providers = {
      // OpenAI's provider: its client has OpenAI's Batch API, here the simulator's.
      openai: [
        { model_name: "gpt-4o-mini", ...base },
        // Its batches run for ten minutes: one is still running when it is cancelled.
        { model_name: "gpt-4o", ...base, headers: { [Simulator.batchFaultHeader]: "slow=600000" } }
      ],
      // An OpenAI-compatible server of another provider: no batch API.
      sim: [{ model_name: "gpt-4.1-mini", ...base }]
    }
    const [gateway, other] = yield* instances(providers, {
      keys: [
        { name: "full", key: Redacted.make(fullKey) },
        { name: "other", key: Redacted.make(otherKey) },
        { name: "mini-only", key: Redacted.make(miniKey), models: ["gpt-4o-mini"] },
        // $0.0001: two lines of "Hello <i>" with 100 max_tokens (at most some 12 prompt tokens each, at $0.15 and
        // $0.60 a million) fit at gpt-4o-mini's batch price, half of those ($0.0000618), not at its standard one
        // ($0.0001236); with 100,000 max_tokens they do not fit at all.
        {
          name: "broke",
          key: Redacted.make(brokeKey),
          models: ["gpt-4o-mini"],
          budget: { limit: 0.0001, period: "1 day" }
        }
      ]
    }, 2)
    return { gateway: gateway!, other: other! }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway batches, over loopback with the official openai client",
  (it) => {
    it.effect("files.create, batches.create, retrieve and list, then the output file's lines by custom_id", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, fullKey)
        const file = yield* upload(openai, inputFile("gpt-4o-mini", 3))
        expect(file).toMatchObject({ object: "file", purpose: "batch", filename: "batch.jsonl" })
        const batch = yield* promise(() => create(openai, file.id))
        expect(batch).toMatchObject({ object: "batch", input_file_id: file.id, endpoint: "/v1/chat/completions" })
        expect(batch.request_counts?.total).toBe(3)
        const done = yield* eventually(
          "the batch completed",
          promise(() => openai.batches.retrieve(batch.id)),
          (read) => read.status === "completed"
        )
        expect(done.request_counts).toEqual({ total: 3, completed: 3, failed: 0 })
        expect(done.output_file_id).toBeTruthy()
        const listed = yield* promise(() => openai.batches.list())
        expect(listed.data.map((each) => each.id)).toContain(batch.id)
        const text = yield* promise(() => openai.files.content(done.output_file_id!).then((reply) => reply.text()))
        const lines = text.trim().split("\n").map((line) => JSON.parse(line))
        expect(lines.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1", "req-2"])
        for (const line of lines) {
          expect(line.response.status_code).toBe(200)
          expect(line.response.body.object).toBe("chat.completion")
          expect(line.response.body.choices[0].message.content.length).toBeGreaterThan(0)
        }
        const errors = yield* promise(() => openai.files.content(done.error_file_id!).then((reply) => reply.text()))
        expect(errors).toBe("")
      }))

    it.effect("another instance answers a batch's retrieve and its result files from their ids alone", () =>
      Effect.gen(function*() {
        const { gateway, other } = yield* Fixture
        const made = client(gateway, fullKey)
        const file = yield* upload(made, inputFile("gpt-4o-mini", 2))
        const batch = yield* promise(() => create(made, file.id))
        const elsewhere = client(other, fullKey)
        const done = yield* eventually(
          "the batch completed, read on the other instance",
          promise(() => elsewhere.batches.retrieve(batch.id)),
          (read) => read.status === "completed"
        )
        expect(done.id).toBe(batch.id)
        // Its ids name the provider key by a digest of it only: nothing of its masked id reaches the client.
        const [masked, digest] = LlmError.maskKey(providerKey).split("#")
        for (const id of [batch.id, done.output_file_id!, done.error_file_id!]) {
          const fields = Buffer.from(id.split(".")[1]!, "base64url").toString()
          expect(fields).not.toContain(masked)
          expect(fields).not.toContain(`#${digest}`)
        }
        const text = yield* promise(() => elsewhere.files.content(done.output_file_id!).then((reply) => reply.text()))
        expect(text.trim().split("\n").map((line) => JSON.parse(line).custom_id).sort()).toEqual(["req-0", "req-1"])
        const object = yield* promise(() => elsewhere.files.retrieve(done.output_file_id!))
        expect(object).toMatchObject({ id: done.output_file_id, purpose: "batch_output", bytes: text.length })
        // Its maker's only there too.
        const byOther = yield* rejection(() => client(other, otherKey).batches.retrieve(batch.id))
        expect(byOther).toMatchObject({ status: 404, code: "not_found" })
      }))

    it.effect("batches.cancel cancels a running batch at the provider", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, fullKey)
        const file = yield* upload(openai, inputFile("gpt-4o", 2))
        const batch = yield* promise(() => create(openai, file.id))
        expect(batch.status).toBe("in_progress")
        const cancelling = yield* promise(() => openai.batches.cancel(batch.id))
        expect(["cancelling", "cancelled"]).toContain(cancelling.status)
        const cancelled = yield* eventually(
          "the batch cancelled",
          promise(() => openai.batches.retrieve(batch.id)),
          (read) => read.status === "cancelled"
        )
        const errors = yield* promise(() =>
          openai.files.content(cancelled.error_file_id!).then((reply) => reply.text())
        )
        const codes = errors.trim().split("\n").map((line) => JSON.parse(line).error.code)
        expect(codes).toEqual(["batch_cancelled", "batch_cancelled"])
      }))

    it.effect("a batch's id is its maker's: another key, or an id changed by a character, is not found", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, fullKey)
        const file = yield* upload(openai, inputFile("gpt-4o-mini", 1))
        const batch = yield* promise(() => create(openai, file.id))
        const byOther = yield* rejection(() => client(gateway, otherKey).batches.retrieve(batch.id))
        expect(byOther).toMatchObject({ status: 404, code: "not_found" })
        // Every character of the id's payload and signature changed in turn: none names a batch.
        const start = batch.id.indexOf(".") + 1
        for (let i = start; i < batch.id.length; i++) {
          const changed = batch.id.slice(0, i) + (batch.id[i] === "A" ? "B" : "A") + batch.id.slice(i + 1)
          const refused = yield* rejection(() => openai.batches.retrieve(changed))
          expect(refused).toMatchObject({ status: 404, code: "not_found" })
        }
        const otherFile = yield* rejection(() => create(client(gateway, otherKey), file.id))
        expect(otherFile).toMatchObject({ status: 404, code: "not_found" })
      }))

    it.effect("a key not allowed the model is refused (403) before anything is sent", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, miniKey)
        const file = yield* upload(openai, inputFile("gpt-4o", 2))
        const refused = yield* rejection(() => create(openai, file.id))
        expect(refused.status).toBe(403)
        expect(refused.code).toBe("model_not_allowed")
        const listed = yield* promise(() => openai.batches.list())
        expect(listed.data).toEqual([])
      }))

    it.effect("a budget refuses (429) a batch not fitting at the batch price, not one fitting at it only", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, brokeKey)
        const large = yield* upload(openai, inputFile("gpt-4o-mini", 2, 100_000))
        const refused = yield* rejection(() => create(openai, large.id))
        expect(refused.status).toBe(429)
        expect(refused.code).toBe("insufficient_quota")
        expect((yield* promise(() => openai.batches.list())).data).toEqual([])
        const small = yield* upload(openai, inputFile("gpt-4o-mini", 2, 100))
        const batch = yield* promise(() => create(openai, small.id))
        expect(batch.request_counts?.total).toBe(2)
      }))

    // A model whose deployments have no batch API is run as calls: test/e2e/GatewayBatchesAsCalls.
    it.effect("an upload of another purpose is refused (400)", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, fullKey)
        const purpose = yield* rejection(async () =>
          openai.files.create({ file: await toFile(Buffer.from("{}"), "a.jsonl"), purpose: "fine-tune" })
        )
        expect(purpose.status).toBe(400)
      }))
  }
)

/** The key `payer`'s budget spent, as the dashboard reads it. */
const spentOf = (gateway: Gateway.Service) => spentBy(gateway, "payer")

/**
 * A batch of `lines` lines of `model` made on `gateway` by `payer`, read until it ended on every one of `readers` at
 * once (each read that sees it ended settles it); then its output file and the request log's rows of its lines.
 */
const settledBatch = (
  gateway: Gateway.Service,
  readers: ReadonlyArray<Gateway.Service>,
  model: string,
  lines: number
) =>
  Effect.gen(function*() {
    const openai = client(gateway, payerKey)
    const file = yield* upload(openai, inputFile(model, lines))
    const batch = yield* whileConnecting(() => create(openai, file.id))
    const done = yield* eventually(
      "the batch ended, read on every instance at once",
      promise(() => Promise.all(readers.map((reader) => client(reader, payerKey).batches.retrieve(batch.id)))),
      (read) => read.every((each) => ["completed", "cancelled", "expired"].includes(each.status)),
      { every: "50 millis" }
    )
    const output = yield* promise(() => openai.files.content(done[0]!.output_file_id!).then((reply) => reply.text()))
    return { batch, done: done[0]!, output, providerBatch: providerBatchOf(batch.id) }
  })

/** The rows of a batch's lines once there are `count`, and still `count` after every instance read it again. */
const rowsSettled = (
  gateways: ReadonlyArray<Gateway.Service>,
  batch: { readonly id: string },
  providerBatch: string,
  count: number
) =>
  Effect.gen(function*() {
    yield* eventually(
      `${count} lines' rows`,
      lineRows(gateways[0]!, providerBatch),
      (rows) => rows.length >= count
    )
    // Read again everywhere: settled, nothing more is charged.
    yield* Effect.forEach(gateways, (gateway) => promise(() => client(gateway, payerKey).batches.retrieve(batch.id)), {
      concurrency: "unbounded"
    })
    yield* Effect.sleep("300 millis")
    return yield* lineRows(gateways[0]!, providerBatch)
  })

/** Each line once, at its price in the output file at the batch tier, in the request log and in the budget. */
const expectCharged = (
  gateways: ReadonlyArray<Gateway.Service>,
  rows: ReadonlyArray<Row>,
  output: string,
  model = "gpt-4o-mini"
) =>
  Effect.gen(function*() {
    const bill = billOf(output, model)
    expect(rows.map((row) => row.request_id.split(":")[1]).sort()).toEqual([...bill.keys()].sort())
    for (const row of rows) {
      expect(row).toMatchObject({ key_name: "payer", route: "/v1/batches" })
      expect(row.cost).toBeCloseTo(bill.get(row.request_id.split(":")[1]!)!, 15)
    }
    const spend = yield* adminRead<
      { readonly groups: ReadonlyArray<{ readonly group: string; readonly cost: number }> }
    >(
      gateways[0]!,
      "/admin/spend?group_by=key"
    )
    expect(spend.groups.find((group) => group.group === "config:payer")?.cost ?? 0).toBeCloseTo(sum(bill.values()), 12)
    for (const gateway of gateways) expect(yield* spentOf(gateway)).toBeCloseTo(sum(bill.values()), 12)
  })

describe("Gateway batches' settlement, over loopback with the official openai client", () => {
  it.live(
    "three instances on one SQLite file settle a completed batch at once: each line once, at the batch price",
    () =>
      Effect.gen(function*() {
        const simulator = yield* settlingSimulator
        const gateways = yield* payerInstances(simulator, yield* sqliteFile, 3)
        const { batch, output, providerBatch } = yield* settledBatch(gateways[0]!, gateways, "gpt-4o-mini", 6)
        const rows = yield* rowsSettled(gateways, batch, providerBatch, 6)
        expect(rows).toHaveLength(6)
        yield* expectCharged(gateways, rows, output)
        // Half the standard price.
        const standard = sum(
          [...billOf(output).keys()].map((id) => rows.find((row) => row.request_id.endsWith(`:${id}`))!)
            .map((row) =>
              Pricing.cost(priceOf("gpt-4o-mini"), {
                promptTokens: row.input_tokens!,
                completionTokens: row.output_tokens!,
                cachedPromptTokens: 0
              })!
            )
        )
        expect(sum(billOf(output).values())).toBeCloseTo(standard / 2, 15)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "three instances on one Postgres database settle a completed batch at once: each line once",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const database: Gateway.Database = { postgres: Redacted.make(yield* server.database("batches")) }
        const simulator = yield* settlingSimulator
        const gateways = yield* payerInstances(simulator, database, 3)
        const { batch, output, providerBatch } = yield* settledBatch(gateways[0]!, gateways, "gpt-4o-mini", 6)
        const rows = yield* rowsSettled(gateways, batch, providerBatch, 6)
        expect(rows).toHaveLength(6)
        yield* expectCharged(gateways, rows, output)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "a result file with a line missing, one repeated and one failed charges the distinct answered lines once",
    () =>
      Effect.gen(function*() {
        const simulator = yield* settlingSimulator
        const gateways = yield* payerInstances(simulator, yield* sqliteFile, 2)
        const { batch, output, providerBatch } = yield* settledBatch(gateways[0]!, gateways, "gpt-4.1", 5)
        // Lines 0, 2 and 4: 1 is missing, 3 failed.
        expect([...billOf(output, "gpt-4.1").keys()].sort()).toEqual(["req-0", "req-2", "req-4"])
        const rows = yield* rowsSettled(gateways, batch, providerBatch, 3)
        yield* expectCharged(gateways, rows, output, "gpt-4.1")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("a cancelled batch, and an expired one, are charged the lines that ran", () =>
    Effect.gen(function*() {
      const simulator = yield* settlingSimulator
      const gateways = yield* payerInstances(simulator, yield* sqliteFile, 1)
      const openai = client(gateways[0]!, payerKey)
      const file = yield* upload(openai, inputFile("gpt-4o", 8))
      const running = yield* promise(() => create(openai, file.id))
      // Cancelled once some of its lines ran.
      yield* eventually(
        "some lines ran",
        promise(() => openai.batches.retrieve(running.id)),
        (read) => (read.request_counts?.completed ?? 0) > 0
      )
      yield* promise(() => openai.batches.cancel(running.id))
      const cancelled = yield* eventually(
        "the batch cancelled",
        promise(() => openai.batches.retrieve(running.id)),
        (read) => read.status === "cancelled"
      )
      const output = yield* promise(() => openai.files.content(cancelled.output_file_id!).then((reply) => reply.text()))
      const ran = billOf(output, "gpt-4o").size
      expect(ran).toBeGreaterThan(0)
      expect(ran).toBeLessThan(8)
      const rows = yield* rowsSettled(gateways, running, providerBatchOf(running.id), ran)
      expect(rows).toHaveLength(ran)
      const expired = yield* settledBatch(gateways[0]!, gateways, "gpt-4.1-mini", 6)
      expect(expired.done.status).toBe("expired")
      // Half its lines ran.
      const expiredRows = yield* rowsSettled(gateways, expired.batch, expired.providerBatch, 3)
      expect(expiredRows).toHaveLength(3)
      const both = [...rows, ...expiredRows]
      const bill = sum([...billOf(output, "gpt-4o").values(), ...billOf(expired.output, "gpt-4.1-mini").values()])
      expect(sum(both.map((row) => row.cost!))).toBeCloseTo(bill, 12)
      expect(yield* spentOf(gateways[0]!)).toBeCloseTo(bill, 12)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)

  it.live("a batch nobody retrieves is settled by the instances' sweep", () =>
    Effect.gen(function*() {
      const simulator = yield* settlingSimulator
      const gateways = yield* payerInstances(simulator, yield* sqliteFile, 2)
      const openai = client(gateways[0]!, payerKey)
      const file = yield* upload(openai, inputFile("gpt-4o-mini", 4))
      const batch = yield* promise(() => create(openai, file.id))
      const rows = yield* eventually(
        "the lines' rows, written by a sweep",
        lineRows(gateways[1]!, providerBatchOf(batch.id)),
        (found) => found.length >= 4,
        { every: "200 millis", within: "70 seconds" }
      )
      expect(rows).toHaveLength(4)
      const done = yield* promise(() => openai.batches.retrieve(batch.id))
      const output = yield* promise(() => openai.files.content(done.output_file_id!).then((reply) => reply.text()))
      yield* expectCharged(gateways, yield* rowsSettled(gateways, batch, providerBatchOf(batch.id), 4), output)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 90_000)

  it.live(
    "metrics count a batch and each line of its result once, summed over two instances settling it and one restarted",
    () =>
      Effect.gen(function*() {
        const simulator = yield* settlingSimulator
        const database = yield* sqliteFile
        const gateways = yield* payerInstances(simulator, database, 2)
        /** A batch metric summed over `over`, for the openai deployment of `model`. */
        const counted = (over: ReadonlyArray<Gateway.Service>, name: string, model: string, labels = {}) =>
          Effect.map(
            Effect.forEach(over, (gateway) => scrape(gateway.url, adminKey)),
            (scrapes) =>
              sum(scrapes.map(({ samples }) => valueOf(samples, name, { provider: "openai", model, ...labels })))
          )
        // Five lines: 1 left out of the result, 2 written twice, 3 failed; 0, 2 and 4 answered.
        const faulty = yield* settledBatch(gateways[0]!, gateways, "gpt-4.1", 5)
        yield* rowsSettled(gateways, faulty.batch, faulty.providerBatch, 3)
        yield* eventually(
          "the batch's end counted",
          counted(gateways, "llm_gateway_batches_ended_total", "gpt-4.1", { status: "completed" }),
          (ended) => ended > 0
        )
        // Four lines expiring with half of them run.
        const expired = yield* settledBatch(gateways[1]!, gateways, "gpt-4.1-mini", 4)
        yield* rowsSettled(gateways, expired.batch, expired.providerBatch, 2)
        yield* eventually(
          "the expired batch's end counted",
          counted(gateways, "llm_gateway_batches_ended_total", "gpt-4.1-mini", { status: "expired" }),
          (ended) => ended > 0
        )
        // An instance started after on the same database reads both: settled, it counts nothing of them.
        const restarted = yield* payerInstances(simulator, database, 1)
        yield* Effect.forEach(
          [faulty.batch, expired.batch],
          (batch) => promise(() => client(restarted[0]!, payerKey).batches.retrieve(batch.id))
        )
        yield* Effect.sleep("300 millis")
        const every = [...gateways, ...restarted]
        const figures = (model: string) =>
          Effect.all({
            created: counted(every, "llm_gateway_batches_created_total", model),
            completed: counted(every, "llm_gateway_batches_ended_total", model, { status: "completed" }),
            expired: counted(every, "llm_gateway_batches_ended_total", model, { status: "expired" }),
            answered: counted(every, "llm_gateway_batch_lines_total", model, { outcome: "answered" }),
            failed: counted(every, "llm_gateway_batch_lines_total", model, { outcome: "failed" }),
            expiredLines: counted(every, "llm_gateway_batch_lines_total", model, { outcome: "expired" }),
            input: counted(every, "llm_gateway_batch_tokens_total", model, { direction: "input" }),
            output: counted(every, "llm_gateway_batch_tokens_total", model, { direction: "output" }),
            cost: counted(every, "llm_gateway_batch_cost_usd_total", model)
          })
        /** The tokens of an output file's lines, by direction. */
        const tokensOf = (output: string) => {
          const usages = output.trim().split("\n").map((line) => JSON.parse(line).response.body.usage)
          return {
            input: sum(usages.map((usage) => usage.prompt_tokens)),
            output: sum(usages.map((usage) => usage.completion_tokens))
          }
        }
        const faultyFigures = yield* figures("gpt-4.1")
        expect(faultyFigures).toMatchObject({ created: 1, completed: 1, expired: 0, answered: 3, failed: 1 })
        expect(faultyFigures.expiredLines).toBe(0)
        // The result repeats line 2: its tokens and cost counted once, as the bill has them.
        const faultyBill = billOf(faulty.output, "gpt-4.1")
        const faultyTokens = tokensOf(
          faulty.output.trim().split("\n").filter((line, i, all) =>
            all.findIndex((other) => JSON.parse(other).custom_id === JSON.parse(line).custom_id) === i
          ).join("\n")
        )
        expect({ input: faultyFigures.input, output: faultyFigures.output }).toEqual(faultyTokens)
        expect(faultyFigures.cost).toBeCloseTo(sum(faultyBill.values()), 12)
        const expiredFigures = yield* figures("gpt-4.1-mini")
        expect(expiredFigures).toMatchObject({ created: 1, completed: 0, expired: 1, answered: 2, expiredLines: 2 })
        expect({ input: expiredFigures.input, output: expiredFigures.output }).toEqual(tokensOf(expired.output))
        expect(expiredFigures.cost).toBeCloseTo(sum(billOf(expired.output, "gpt-4.1-mini").values()), 12)
        // The restarted instance counted nothing of batches settled before it.
        expect(yield* counted(restarted, "llm_gateway_batch_lines_total", "gpt-4.1", { outcome: "answered" })).toBe(0)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "two batches created at once on two instances, whose worst cases fit the budget apart only: one refused",
    () =>
      Effect.gen(function*() {
        // Each create holds its reservation while the simulator takes a second and a half to answer it.
        const simulator = yield* batchSimulator({ latency: "1500 millis" })
        // Two lines of 100 max_tokens each at gpt-4o-mini's batch price ($0.0000618) fit $0.0001; two batches do not.
        const gateways = yield* payerInstances(simulator, yield* sqliteFile, 2, 0.0001)
        const files = yield* Effect.forEach(
          gateways,
          (gateway) => upload(client(gateway, payerKey), inputFile("gpt-4o-mini", 2))
        )
        const outcomes = yield* promise(() =>
          Promise.allSettled(gateways.map((gateway, i) => create(client(gateway, payerKey), files[i]!.id)))
        )
        expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1)
        const refused = outcomes.find((outcome) => outcome.status === "rejected")!
        expect((refused as PromiseRejectedResult).reason).toMatchObject({ status: 429, code: "insufficient_quota" })
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "a batch's worst case is held until it is settled: a second batch fits beside the first's lines only then",
    () =>
      Effect.gen(function*() {
        const simulator = yield* settlingSimulator
        // Two lines of 100 max_tokens each at gpt-4o-mini's batch price ($0.0000618) fit $0.0001; two batches do not.
        const gateways = yield* payerInstances(simulator, yield* sqliteFile, 2, 0.0001)
        const openai = client(gateways[0]!, payerKey)
        const firstFile = yield* upload(openai, inputFile("gpt-4o-mini", 2))
        const first = yield* promise(() => create(openai, firstFile.id))
        // The first made and not settled (nobody retrieved it): its worst case is still held, on every instance.
        const other = client(gateways[1]!, payerKey)
        const second = yield* upload(other, inputFile("gpt-4o-mini", 2))
        const refused = yield* rejection(() => create(other, second.id))
        expect(refused.status).toBe(429)
        expect(refused.code).toBe("insufficient_quota")
        const done = yield* eventually(
          "the first batch ended",
          promise(() => openai.batches.retrieve(first.id)),
          (read) => read.status === "completed"
        )
        const output = yield* promise(() => openai.files.content(done.output_file_id!).then((reply) => reply.text()))
        const rows = yield* rowsSettled(gateways, first, providerBatchOf(first.id), 2)
        // Settled: the key spent its lines' real cost at the batch price, its worst case let go.
        yield* expectCharged(gateways, rows, output)
        const made = yield* promise(() => create(other, second.id))
        expect(made.request_counts?.total).toBe(2)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "two instances without a database, their budgets shared through Redis: a batch read on both is charged once",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* settlingSimulator
        const gateways = yield* payerInstances(simulator, undefined, 2, 1, redis.url)
        // Each store connects in the background: the budgets read on both before the batch.
        yield* Effect.forEach(
          gateways,
          (gateway) => eventually("the budget read", spentOf(gateway), (spent) => spent === 0)
        )
        const { output } = yield* settledBatch(gateways[0]!, gateways, "gpt-4o-mini", 4)
        const bill = sum(billOf(output).values())
        yield* eventually("the lines charged", spentOf(gateways[1]!), (spent) => spent !== undefined && spent > 0)
        // Read again on both, and a sweep's time on: one of them settled it, once.
        yield* Effect.forEach(gateways, (gateway) => spentOf(gateway))
        yield* Effect.sleep("300 millis")
        for (const gateway of gateways) expect(yield* spentOf(gateway)).toBeCloseTo(bill, 12)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
