import { expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import OpenAI, { toFile } from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"

const providerKey = "sk-provider-batches-e2e-0001"
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
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 8 })
    const base = { base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }
    const config = yield* ProviderConfig.fromJson({
      // OpenAI's provider: its client has OpenAI's Batch API, here the simulator's.
      openai: [
        { model_name: "gpt-4o-mini", ...base },
        // Its batches run for ten minutes: one is still running when it is cancelled.
        { model_name: "gpt-4o", ...base, headers: { [Simulator.batchFaultHeader]: "slow=600000" } }
      ],
      // An OpenAI-compatible server of another provider: no batch API.
      sim: [{ model_name: "gpt-4.1-mini", ...base }]
    })
    const options: Gateway.Options = {
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
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
    }
    return { gateway: yield* Gateway.make(options), other: yield* Gateway.make(options) }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

const rejection = (f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      () => Promise.reject(new Error("expected the request to be refused")),
      (error: unknown) => error as InstanceType<typeof OpenAI.APIError>
    )
  )

const client = (gateway: Gateway.Service, apiKey: string) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })

const inputFile = (model: string, count: number, maxTokens = 100) =>
  Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `req-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model, max_tokens: maxTokens, messages: [{ role: "user", content: `Hello ${i}` }] }
    })).join("\n")

const upload = (openai: OpenAI, content: string) =>
  promise(async () =>
    openai.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" })
  )

const create = (openai: OpenAI, fileId: string) =>
  openai.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })

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

    it.effect("a model whose deployments have no batch API, and an upload of another purpose, are refused (400)", () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const openai = client(gateway, fullKey)
        const file = yield* upload(openai, inputFile("gpt-4.1-mini", 1))
        const refused = yield* rejection(() => create(openai, file.id))
        expect(refused.status).toBe(400)
        const purpose = yield* rejection(async () =>
          openai.files.create({ file: await toFile(Buffer.from("{}"), "a.jsonl"), purpose: "fine-tune" })
        )
        expect(purpose.status).toBe(400)
      }))
  }
)
