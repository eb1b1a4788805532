/**
 * What the tests of the gateway's batches over loopback share (test/e2e/GatewayBatches, GatewayMessageBatches,
 * GatewayBatchesRedis, GatewayBatchesAsCalls): the simulator playing the providers' batch APIs, instances of one
 * gateway configuration over it, the official clients of each wire and a message batch's results read with one, a
 * SQLite database of the test's own, the admin reads of the request log and of a key's budget spent, and the
 * settlement tests' instances, budgeted for one payer, and the bill of a result at the batch or the live price.
 */
import Anthropic from "@anthropic-ai/sdk"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import OpenAI, { toFile } from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as Pricing from "../../src/Pricing.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import { eventually } from "./eventually.js"
import { get } from "./gatewayHarness.js"

/** The provider key the simulator takes and every deployment below sends. */
export const providerKey = "sk-provider-batches-e2e-0001"

/** The admin key of every gateway `instances` makes. */
export const adminKey = "gw-batch-admin-6d8f0a2c4e1b3d5f"

/** A simulator of the batch APIs taking `providerKey`, its replies of eight tokens, with `options`. */
export const batchSimulator = (options: Omit<Simulator.Options, "apiKeys" | "replyTokens"> = {}) =>
  Simulator.make({ apiKeys: [providerKey], replyTokens: 8, ...options })

/** A deployment's fields on `simulator`: OpenAI's paths (under `/v1`) or, for `anthropic`, Anthropic's. */
export const onSimulator = (simulator: Simulator.Simulator, api: "openai" | "anthropic" = "openai") =>
  api === "openai"
    ? { base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }
    : { api: "anthropic", base_url: simulator.url, api_keys: [providerKey], max_retries: 0 }

/**
 * `count` instances of one gateway configuration: `providers` (a `provider.json`'s content) served with `options`
 * and the admin key `adminKey`, for the scope.
 */
export const instances = (
  providers: Record<string, unknown>,
  options: Omit<Gateway.Options, "config" | "port" | "adminKeys">,
  count = 1
) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson(providers)
    const served: Gateway.Options = {
      ...options,
      config: ProviderConfig.gatewayConfig(config),
      port: 0,
      adminKeys: [{ name: "ops", key: Redacted.make(adminKey) }]
    }
    return yield* Effect.forEach(Array.from({ length: count }), () => Gateway.make(served))
  })

/** The official `openai` client of `gateway` with the gateway key `apiKey`, retrying nothing. */
export const openAiClient = (gateway: Gateway.Service, apiKey: string) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 })

/** The official `@anthropic-ai/sdk` client of `gateway` with the gateway key `apiKey`, retrying nothing. */
export const anthropicClient = (gateway: Gateway.Service, apiKey: string) =>
  new Anthropic({ baseURL: gateway.url, apiKey, maxRetries: 0 })

export const promise = <A>(f: () => Promise<A>) => Effect.promise(f)

/** The results of an ended message batch, read with the `@anthropic-ai/sdk` client, in the order given. */
export const messageResults = (anthropic: Anthropic, id: string) =>
  promise(async () => {
    const out: Array<Anthropic.Messages.Batches.MessageBatchIndividualResponse> = []
    for await (const line of await anthropic.messages.batches.results(id)) out.push(line)
    return out
  })

/** An input file of `count` lines of `model` (custom ids `req-<i>`), each of `maxTokens`. */
export const inputFile = (model: string, count: number, maxTokens = 100) =>
  Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `req-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model, max_tokens: maxTokens, messages: [{ role: "user", content: `Hello ${i}` }] }
    })).join("\n")

/** A batch of the input file `fileId`. */
export const create = (openai: OpenAI, fileId: string) =>
  openai.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })

/** `content` made a batch through the gateway, read until it completed: the batch and its output file's lines. */
export const completedBatch = (openai: OpenAI, content: string) =>
  Effect.gen(function*() {
    const file = yield* upload(openai, content)
    const made = yield* promise(() => create(openai, file.id))
    const done = yield* eventually(
      "the batch completed",
      promise(() => openai.batches.retrieve(made.id)),
      (batch) => batch.status === "completed",
      { every: "100 millis" }
    )
    const output = yield* promise(() => openai.files.content(done.output_file_id!).then((reply) => reply.text()))
    return { done, results: output.trim().split("\n").map((line) => JSON.parse(line)) }
  })

/**
 * A client's call, asked again while it is refused with 503 (an instance whose shared store is still connecting
 * refuses before anything is sent), for up to five seconds; a defect when it fails otherwise.
 */
export const whileConnecting = <A>(f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (error) => error }).pipe(
    Effect.retry({
      while: (error) => error instanceof OpenAI.APIError && error.status === 503,
      schedule: Schedule.spaced("100 millis"),
      times: 50
    }),
    Effect.orDie
  )

/** `content` uploaded as an input file of purpose `batch` (asked again while the store connects). */
export const upload = (openai: OpenAI, content: string) =>
  whileConnecting(async () =>
    openai.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" })
  )

/** The API error a client's call is refused with; a defect when it is not refused. */
export const refusal = <E = InstanceType<typeof OpenAI.APIError>>(f: () => Promise<unknown>) =>
  Effect.promise(() =>
    f().then(
      () => Promise.reject(new Error("expected the request to be refused")),
      (error: unknown) => error as E
    )
  )

/** A SQLite database in a directory of its own, removed when the scope closes. */
export const sqliteFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "gateway-batches-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  ),
  (dir): Gateway.Database => ({ sqlite: join(dir, "gateway.db") })
)

/** An admin path's JSON, read with `adminKey`. */
export const adminRead = <A>(gateway: Gateway.Service, path: string) =>
  Effect.map(get(gateway, path, adminKey), (answer) => {
    if (answer.status !== 200) throw new Error(`${path}: ${answer.status} ${answer.text}`)
    return JSON.parse(answer.text) as A
  })

/** A row of the request log, as `/admin/requests` gives it. */
export interface Row {
  readonly request_id: string
  readonly key_name: string | null
  readonly route: string
  readonly model: string | null
  readonly cost: number | null
  readonly input_tokens: number | null
  readonly output_tokens: number | null
}

/** The request log's rows of the lines of the provider's batch `providerBatch`, settled. */
export const lineRows = (gateway: Gateway.Service, providerBatch: string) =>
  Effect.map(
    adminRead<{ readonly data: ReadonlyArray<Row> }>(gateway, "/admin/requests?limit=500"),
    (page) => page.data.filter((row) => row.request_id.startsWith(`${providerBatch}:`))
  )

/** The provider's id of a batch, which the gateway's id of it carries. */
export const providerBatchOf = (id: string) =>
  JSON.parse(Buffer.from(id.split(".")[1]!, "base64url").toString())[2] as string

/**
 * The budget of the gateway key named `key` spent, as the dashboard reads it; `undefined` while its store cannot read
 * it (the dashboard leaves such a budget out), as before an instance's Redis connected.
 */
export const spentOf = (gateway: Gateway.Service, key: string) =>
  Effect.map(
    adminRead<{ readonly budgets: ReadonlyArray<{ readonly key: string; readonly spent: number }> }>(
      gateway,
      "/dashboard/data"
    ),
    (data) => data.budgets.find((budget) => budget.key === key)?.spent
  )

/** The gateway key of the settlement tests' payer, whose budget the batches are charged to. */
export const payerKey = "gw-batch-payer-3f5a7c9e1b2d4f6a"

/** A model's price (the simulator's deployments of it are OpenAI's), whose batch tier is half of it. */
export const priceOf = (model: string) => Pricing.lookup(model)!

/** A simulator that knows the models the settlement tests' batches name. */
export const settlingSimulator = batchSimulator({ models: [...Simulator.defaultModels, "gpt-4.1", "gpt-4.1-mini"] })

/**
 * `count` gateways on `database` (none: each in its memory) over `simulator`, the key `payer` budgeted (`limit` a day);
 * with `redis`, sharing their budgets through it.
 */
export const payerInstances = (
  simulator: Simulator.Simulator,
  database: Gateway.Database | undefined,
  count: number,
  limit = 1,
  redis?: string
) => {
  const base = onSimulator(simulator)
  return instances(
    {
      ...(redis === undefined ? {} : { store: { redis, on_unavailable: "fail-closed", command_timeout: 5 } }),
      openai: [
        { model_name: "gpt-4o-mini", ...base },
        // Its batches take four seconds: one is cancelled while its lines run.
        { model_name: "gpt-4o", ...base, headers: { [Simulator.batchFaultHeader]: "slow=4000" } },
        // Its batches expire with half their lines run.
        { model_name: "gpt-4.1-mini", ...base, headers: { [Simulator.batchFaultHeader]: "expire" } },
        // Its result files leave line 1 out, write line 2 twice, and line 3 failed.
        { model_name: "gpt-4.1", ...base, headers: { [Simulator.batchFaultHeader]: "missing=1,repeat=2,fail=3" } }
      ]
    },
    { database, keys: [{ name: "payer", key: Redacted.make(payerKey), budget: { limit, period: "1 day" } }] },
    count
  )
}

/**
 * What the provider bills the lines of an output file of `model` at its batch price (`tier` `"live"`: its live price,
 * as a batch run as calls is charged), by custom id.
 */
export const billOf = (output: string, model = "gpt-4o-mini", tier: "batch" | "live" = "batch") =>
  new Map(
    output.trim().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line)).map((line) => {
      const usage = line.response.body.usage
      return [
        line.custom_id as string,
        Pricing.cost(priceOf(model), {
          promptTokens: usage.prompt_tokens,
          completionTokens: usage.completion_tokens,
          cachedPromptTokens: 0,
          ...(tier === "batch" ? { serviceTier: Pricing.batchTier } : {})
        })!
      ]
    })
  )

/** The sum of `values`. */
export const sum = (values: Iterable<number>) => [...values].reduce((total, value) => total + value, 0)
