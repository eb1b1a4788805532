import Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import OpenAI, { toFile } from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { get } from "../utils/gatewayHarness.js"

const providerKey = "sk-provider-message-batches-0001"
const fullKey = "gw-msgbatch-full-4b2d6f8a1c3e5a7b"
const otherKey = "gw-msgbatch-other-9c1e3a5b7d2f4a6c"
const payerKey = "gw-msgbatch-payer-1a3c5e7b9d2f4a6b"
const brokeKey = "gw-msgbatch-broke-8d0f2a4c6e1b3d5f"
const adminKey = "gw-msgbatch-admin-5e7a9c1b3d2f4a6c"

/** An Anthropic model the simulator plays, priced with a batch tier. */
const claude = "claude-haiku-4-5"

class Fixture extends Context.Service<Fixture, { readonly gateway: Gateway.Service }>()("test/GatewayMessageBatches") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      models: [...Simulator.defaultModels, claude, "claude-slow"]
    })
    const base = { api_keys: [providerKey], max_retries: 0 }
    const config = yield* ProviderConfig.fromJson({
      // The simulator playing Anthropic: its Message Batches API.
      anthropic: [
        { model_name: claude, api: "anthropic", base_url: simulator.url, ...base },
        // Its batches run for ten minutes: one is still running when it is cancelled.
        {
          model_name: "claude-slow",
          api: "anthropic",
          base_url: simulator.url,
          ...base,
          headers: { [Simulator.batchFaultHeader]: "slow=600000" }
        }
      ],
      // The simulator playing OpenAI: its Batch API, for an Anthropic client's batch.
      openai: [{ model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, ...base }]
    })
    // A database: the request log, whose rows of a batch's lines are read below.
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(join(tmpdir(), "gateway-message-batches-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    )
    return {
      gateway: yield* Gateway.make({
        config: ProviderConfig.gatewayConfig(config),
        port: 0,
        database: { sqlite: join(dir, "gateway.db") },
        keys: [
          { name: "full", key: Redacted.make(fullKey) },
          { name: "other", key: Redacted.make(otherKey) },
          { name: "payer", key: Redacted.make(payerKey), models: [claude], budget: { limit: 1, period: "1 day" } },
          // $0.001: two requests of 100,000 max_tokens do not fit at the batch price ($2.50 a million out).
          { name: "broke", key: Redacted.make(brokeKey), models: [claude], budget: { limit: 0.001, period: "1 day" } }
        ],
        adminKeys: [{ name: "ops", key: Redacted.make(adminKey) }]
      })
    }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      () => Promise.reject(new Error("expected the request to be refused")),
      (error: unknown) => error as InstanceType<typeof Anthropic.APIError>
    )
  )

const client = (gateway: Gateway.Service, apiKey: string) =>
  new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0 })

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

/** The results of an ended batch, in the order given. */
const resultsOf = (anthropic: Anthropic, id: string) =>
  promise(async () => {
    const out: Array<Anthropic.Messages.Batches.MessageBatchIndividualResponse> = []
    for await (const line of await anthropic.messages.batches.results(id)) out.push(line)
    return out
  })

/** An admin path's JSON. */
const adminRead = <A>(gateway: Gateway.Service, path: string) =>
  Effect.map(get(gateway, path, adminKey), (answer) => {
    if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${answer.text}`)
    return JSON.parse(answer.text) as A
  })

interface Row {
  readonly request_id: string
  readonly key_name: string | null
  readonly route: string
  readonly cost: number | null
}

/** The key `payer`'s budget spent, as the dashboard reads it. */
const spentOf = (gateway: Gateway.Service) =>
  Effect.map(
    adminRead<{ readonly budgets: ReadonlyArray<{ readonly key: string; readonly spent: number }> }>(
      gateway,
      "/dashboard/data"
    ),
    (data) => data.budgets.find((budget) => budget.key === "payer")?.spent ?? 0
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
          const lines = yield* resultsOf(anthropic, batch.id)
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
        const openai = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: fullKey, maxRetries: 0 })
        const content = [0, 1].map((i) =>
          JSON.stringify({
            custom_id: `req-${i}`,
            method: "POST",
            url: "/v1/chat/completions",
            body: { model: claude, max_tokens: 100, messages: [{ role: "user", content: `Hello ${i}` }] }
          })
        ).join("\n")
        const file = yield* promise(async () =>
          openai.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" })
        )
        const batch = yield* promise(() =>
          openai.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" })
        )
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
        const lines = yield* resultsOf(anthropic, batch.id)
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
        yield* eventually("the lines charged", spentOf(gateway), (spent) => spent >= total * 0.999)
        // Read again: settled, nothing more is charged.
        yield* promise(() => anthropic.messages.batches.retrieve(batch.id))
        yield* Effect.sleep("300 millis")
        expect(yield* spentOf(gateway)).toBeCloseTo(total, 12)
        const rows = yield* adminRead<{ readonly data: ReadonlyArray<Row> }>(gateway, "/admin/requests?limit=500")
        // Its lines' rows: `<provider's batch id>:<custom_id>`, the provider's id the one the batch's id carries.
        const providerBatch = JSON.parse(Buffer.from(batch.id.split(".")[1]!, "base64url").toString())[2] as string
        const lineRows = rows.data.filter((row) => row.request_id.startsWith(`${providerBatch}:`))
        expect(lineRows.map((row) => row.key_name)).toEqual(["payer", "payer", "payer"])
        expect(lineRows.map((row) => row.route)).toEqual([
          "/v1/messages/batches",
          "/v1/messages/batches",
          "/v1/messages/batches"
        ])
        for (const row of lineRows) expect(row.cost).toBeCloseTo(bill.get(row.request_id.split(":")[1]!)!, 15)
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
        const lines = yield* resultsOf(anthropic, batch.id)
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
