import type Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  anthropicClient as client,
  batchSimulator,
  create,
  inputFile,
  instances,
  lineRows,
  messageResults,
  onSimulator,
  openAiClient,
  promise,
  providerBatchOf,
  refusal,
  spentOf,
  sqliteFile,
  upload
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"

const fullKey = "gw-msgbatch-full-4b2d6f8a1c3e5a7b"
const otherKey = "gw-msgbatch-other-9c1e3a5b7d2f4a6c"
const payerKey = "gw-msgbatch-payer-1a3c5e7b9d2f4a6b"
const brokeKey = "gw-msgbatch-broke-8d0f2a4c6e1b3d5f"

/** An Anthropic model the simulator plays, priced with a batch tier. */
const claude = "claude-haiku-4-5"

class Fixture extends Context.Service<Fixture, { readonly gateway: Gateway.Service }>()("test/GatewayMessageBatches") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* batchSimulator({ models: [...Simulator.defaultModels, claude, "claude-slow"] })
    const anthropicBase = onSimulator(simulator, "anthropic")
    const providers = {
      // The simulator playing Anthropic: its Message Batches API.
      anthropic: [
        { model_name: claude, ...anthropicBase },
        // Its batches run for ten minutes: one is still running when it is cancelled.
        { model_name: "claude-slow", ...anthropicBase, headers: { [Simulator.batchFaultHeader]: "slow=600000" } }
      ],
      // The simulator playing OpenAI: its Batch API, for an Anthropic client's batch.
      openai: [{ model_name: "gpt-4o-mini", ...onSimulator(simulator) }]
    }
    // A database: the request log, whose rows of a batch's lines are read below.
    const [gateway] = yield* instances(providers, {
      database: yield* sqliteFile,
      keys: [
        { name: "full", key: Redacted.make(fullKey) },
        { name: "other", key: Redacted.make(otherKey) },
        { name: "payer", key: Redacted.make(payerKey), models: [claude], budget: { limit: 1, period: "1 day" } },
        // $0.001: two requests of 100,000 max_tokens do not fit at the batch price ($2.50 a million out).
        { name: "broke", key: Redacted.make(brokeKey), models: [claude], budget: { limit: 0.001, period: "1 day" } }
      ]
    })
    return { gateway: gateway! }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const rejection = (f: () => Promise<unknown>) => refusal<InstanceType<typeof Anthropic.APIError>>(f)

const requests = (model: string, count: number, maxTokens = 100) =>
  Array.from({ length: count }, (_, i) => ({
    custom_id: `req-${i}`,
    params: { model, max_tokens: maxTokens, messages: [{ role: "user" as const, content: `Hello ${i}` }] }
  }))

/** The batch read until it ended. */
const ended = (anthropic: Anthropic, id: string) =>
  eventually(
    "the batch ended",
    promise(() => anthropic.messages.batches.retrieve(id)),
    (read) => read.processing_status === "ended"
  )

layer(fixture, { timeout: 60_000, excludeTestServices: true })(
  "Gateway message batches, over loopback with the official @anthropic-ai/sdk client",
  (it) => {
    for (const [deployment, model] of [["an Anthropic", claude], ["an OpenAI", "gpt-4o-mini"]] as const) {
      it.effect(`batches.create, retrieve, list and results over ${deployment} deployment`, () =>
        Effect.gen(function*() {
          const { gateway } = yield* Fixture
          const anthropic = client(gateway, fullKey)
          const batch = yield* promise(() => anthropic.messages.batches.create({ requests: requests(model, 3) }))
          expect(batch).toMatchObject({ type: "message_batch", processing_status: "in_progress" })
          expect(batch.request_counts.processing).toBe(3)
          const done = yield* ended(anthropic, batch.id)
          expect(done.request_counts).toEqual({ processing: 0, succeeded: 3, errored: 0, canceled: 0, expired: 0 })
          expect(done.results_url).toBe(`${gateway.url}/v1/messages/batches/${batch.id}/results`)
          const listed = yield* promise(() => anthropic.messages.batches.list())
          expect(listed.data.map((each) => each.id)).toContain(batch.id)
          const lines = yield* messageResults(anthropic, batch.id)
          expect(lines.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1", "req-2"])
          for (const { result } of lines) {
            expect(result.type).toBe("succeeded")
            if (result.type !== "succeeded") continue
            expect(result.message).toMatchObject({ type: "message", role: "assistant" })
            expect(result.message.content[0]).toMatchObject({ type: "text" })
            expect(result.message.usage.output_tokens).toBeGreaterThan(0)
          }
        }))
    }

    it.effect("an OpenAI client's batch runs on an Anthropic deployment", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = openAiClient(gateway, fullKey)
        const file = yield* upload(openai, inputFile(claude, 2))
        const batch = yield* promise(() => create(openai, file.id))
        const done = yield* eventually(
          "the batch completed",
          promise(() => openai.batches.retrieve(batch.id)),
          (read) => read.status === "completed"
        )
        const text = yield* promise(() => openai.files.content(done.output_file_id!).then((reply) => reply.text()))
        const lines = text.trim().split("\n").map((line) => JSON.parse(line))
        expect(lines.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1"])
        for (const line of lines) expect(line.response.body.object).toBe("chat.completion")
        // An id of one wire is no id of the other.
        const crossed = yield* rejection(() => client(gateway, fullKey).messages.batches.retrieve(batch.id))
        expect(crossed.status).toBe(404)
      }))

    it.effect("its lines are settled once, at the batch price of the usage the provider billed", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const anthropic = client(gateway, payerKey)
        const batch = yield* promise(() => anthropic.messages.batches.create({ requests: requests(claude, 3) }))
        yield* ended(anthropic, batch.id)
        const lines = yield* messageResults(anthropic, batch.id)
        const price = Pricing.lookup(claude)!
        const bill = new Map(lines.map(({ custom_id, result }) => {
          if (result.type !== "succeeded") throw new Error(`line ${result.type}`)
          const usage = result.message.usage
          const cost = Pricing.cost(price, {
            promptTokens: usage.input_tokens,
            completionTokens: usage.output_tokens,
            cachedPromptTokens: 0,
            serviceTier: Pricing.batchTier
          })!
          return [custom_id, cost]
        }))
        const total = [...bill.values()].reduce((sum, cost) => sum + cost, 0)
        expect(total).toBeGreaterThan(0)
        yield* eventually(
          "the lines charged",
          spentOf(gateway, "payer"),
          (spent) => spent !== undefined && spent >= total * 0.999
        )
        // Read again: settled, nothing more is charged.
        yield* promise(() => anthropic.messages.batches.retrieve(batch.id))
        yield* Effect.sleep("300 millis")
        expect(yield* spentOf(gateway, "payer")).toBeCloseTo(total, 12)
        // Its lines' rows: `<provider's batch id>:<custom_id>`, the provider's id the one the batch's id carries.
        const rows = yield* lineRows(gateway, providerBatchOf(batch.id))
        expect(rows.map((row) => row.key_name)).toEqual(["payer", "payer", "payer"])
        expect(rows.map((row) => row.route)).toEqual([
          "/v1/messages/batches",
          "/v1/messages/batches",
          "/v1/messages/batches"
        ])
        for (const row of rows) expect(row.cost).toBeCloseTo(bill.get(row.request_id.split(":")[1]!)!, 15)
      }))

    it.effect("batches.cancel cancels a running batch; its results are canceled lines", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const anthropic = client(gateway, fullKey)
        const batch = yield* promise(() => anthropic.messages.batches.create({ requests: requests("claude-slow", 2) }))
        const cancelling = yield* promise(() => anthropic.messages.batches.cancel(batch.id))
        expect(["canceling", "ended"]).toContain(cancelling.processing_status)
        const done = yield* ended(anthropic, batch.id)
        expect(done.request_counts).toMatchObject({ processing: 0, succeeded: 0, canceled: 2 })
        const lines = yield* messageResults(anthropic, batch.id)
        expect(lines.map(({ result }) => result.type)).toEqual(["canceled", "canceled"])
      }))

    it.effect("a batch is its maker's, and a budget refuses one not fitting before anything is sent", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const made = yield* promise(() =>
          client(gateway, fullKey).messages.batches.create({ requests: requests(claude, 1) })
        )
        const byOther = yield* rejection(() => client(gateway, otherKey).messages.batches.retrieve(made.id))
        expect(byOther.status).toBe(404)
        const broke = client(gateway, brokeKey)
        const refused = yield* rejection(() =>
          broke.messages.batches.create({ requests: requests(claude, 2, 100_000) })
        )
        expect(refused.status).toBe(429)
        expect((refused.error as { readonly type?: string }).type).toBe("error")
        expect((yield* promise(() => broke.messages.batches.list())).data).toEqual([])
        const invalid = yield* rejection(() =>
          client(gateway, fullKey).messages.batches.create({
            requests: [...requests(claude, 1), ...requests(claude, 1)]
          })
        )
        expect(invalid.status).toBe(400)
      }))
  }
)
