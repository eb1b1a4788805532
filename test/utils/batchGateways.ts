/**
 * What the tests of the gateway's batches over loopback share (test/e2e/GatewayBatches, GatewayMessageBatches): the
 * simulator playing the providers' batch APIs, instances of one gateway configuration over it, the official clients of
 * each wire, a SQLite database of the test's own, and the admin reads of the request log and of a key's budget spent.
 */
import Anthropic from "@anthropic-ai/sdk"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import OpenAI, { toFile } from "openai"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
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

/** An input file of `count` lines of `model` (custom ids `req-<i>`), each of `maxTokens`. */
export const inputFile = (model: string, count: number, maxTokens = 100) =>
  Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `req-${i}`,
      method: "POST",
      url: "/v1/chat/completions",
      body: { model, max_tokens: maxTokens, messages: [{ role: "user", content: `Hello ${i}` }] }
    })).join("\n")

/** `content` uploaded as an input file of purpose `batch`. */
export const upload = (openai: OpenAI, content: string) =>
  promise(async () =>
    openai.files.create({ file: await toFile(Buffer.from(content), "batch.jsonl"), purpose: "batch" })
  )

/** A batch of the input file `fileId`. */
export const create = (openai: OpenAI, fileId: string) =>
  openai.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" })

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

/** The budget of the gateway key named `key` spent, as the dashboard reads it. */
export const spentOf = (gateway: Gateway.Service, key: string) =>
  Effect.map(
    adminRead<{ readonly budgets: ReadonlyArray<{ readonly key: string; readonly spent: number }> }>(
      gateway,
      "/dashboard/data"
    ),
    (data) => data.budgets.find((budget) => budget.key === key)?.spent ?? 0
  )
