/**
 * The gateway's admin API of keys and teams, called over loopback as an operator's script would: `fetch` with an
 * admin key, each answer's status and JSON body; and a gateway over the simulator with a database, admin keys and
 * priced models for the tests of keys made at run time, and streams held open on it; the admin commands (`keys`,
 * `teams`, `spend`) run in-process against it.
 */
import { assert } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import OpenAI from "openai"
import * as CliAdminApi from "../../src/cli/adminApi.js"
import type { Io } from "../../src/cli/io.js"
import * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { captureIo } from "./cliHarness.js"

export const providerKey = "sk-runtime-keys-provider-0001"
export const adminKey = "gw-runtime-keys-admin-7f3a9c1e"
export const configKey = "gw-runtime-keys-config-2b4d6f80"
/** A provider.json key with a budget of a few calls. */
export const cappedKey = "gw-runtime-keys-capped-9e8d7c6b"

/** A dollar for every thousand tokens, in and out: costs that are easy to reckon. */
export const pricing = { input_per_mtok: 1000, output_per_mtok: 1000 }

/** A scope's spend as `GET /admin/keys/{id}` and `GET /admin/teams/{id}` give it. */
export interface Spend {
  readonly spent: number
  readonly reserved: number
  readonly limit: number | null
}

/** The fields of the admin API's answers the tests read. */
export interface Body {
  readonly id?: string
  readonly key?: string
  readonly name?: string
  readonly models?: ReadonlyArray<string> | null
  readonly metadata?: unknown
  readonly read_only?: boolean
  readonly data?: ReadonlyArray<{ readonly id: string; readonly name: string; readonly read_only: boolean }>
  readonly spend?: Spend
  readonly keys?: ReadonlyArray<{ readonly name: string }>
  readonly error?: { readonly message: string; readonly param: string | null; readonly code: string | null }
}

export interface Answer {
  readonly status: number
  readonly body: Body
}

/** `method path` on the gateway at `url` with the admin key (or `key`), and `body` as JSON. */
export const call = (url: string, method: string, path: string, body?: unknown, key: string = adminKey) =>
  Effect.promise(async (): Promise<Answer> => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await response.text()
    return { status: response.status, body: text === "" ? {} : JSON.parse(text) }
  })

/** A key made through the admin API, named `name`: its id and its key (the answer a 201). */
export const makeKey = (url: string, name: string) =>
  Effect.map(call(url, "POST", "/admin/keys", { name }), (answer) => {
    assert.strictEqual(answer.status, 201)
    return { id: answer.body.id!, key: answer.body.key! }
  })

/** A provider.json over `simulator` with priced models, an admin key and a gateway key of its own. */
export const configJson = (simulator: Simulator.Simulator, extra: Record<string, unknown> = {}) => ({
  sim: [
    { model_name: "gpt-4o-mini", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0, pricing },
    { model_name: "house", base_url: `${simulator.url}/v1`, api_keys: [providerKey], max_retries: 0 }
  ],
  gateway: {
    keys: [
      { name: "fixed", key: configKey },
      { name: "capped", key: cappedKey, models: ["gpt-4o-mini"], budget: { limit: 0.03, period: "month" } }
    ],
    admin_keys: [{ name: "ops", key: adminKey }]
  },
  ...extra
})

/**
 * A gateway over `simulator` on `database` (none: without one), `extra` replacing sections of its file, listening on
 * `host` (default loopback).
 */
export const gatewayOn = (
  simulator: Simulator.Simulator,
  database: Gateway.Database | undefined,
  extra: Record<string, unknown> = {},
  host?: string
) =>
  Effect.gen(function*() {
    const config = yield* ProviderConfig.fromJson(configJson(simulator, extra))
    // The client lives as long as the gateway: its calls go through it.
    const http = yield* Layer.build(UndiciHttpClient.layer())
    return yield* Effect.provideContext(
      Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0, database, ...(host ? { host } : {}) }),
      http
    )
  })

/** A directory of its own under the system's temporary one, named from `prefix`, removed with the scope. */
export const temporaryDirectory = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
  )

/** A gateway over a simulator (replies of four tokens) on a SQLite database in a directory of its own. */
export const gatewayOnSqlite = (prefix: string) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({ apiKeys: [providerKey], replyTokens: 4 })
    return yield* gatewayOn(simulator, { sqlite: join(yield* temporaryDirectory(prefix), "gateway.db") })
  })

/** The admin key in a command's environment, as an operator sets it. */
export const adminEnv = { [CliAdminApi.adminKeyVariable]: adminKey }

/**
 * An admin command (`keys`, `teams`, `spend`) run in-process with `env` (default: the admin key): its exit code and
 * output, which never hold the admin key.
 */
export const adminCommand =
  (run: (argv: ReadonlyArray<string>, io: Io) => Effect.Effect<number>) =>
  (args: ReadonlyArray<string>, env: Record<string, string> = adminEnv) =>
    Effect.gen(function*() {
      const { io, result } = captureIo({ env })
      const captured = result(yield* run(args, io))
      assert.notInclude(captured.stdout + captured.stderr, adminKey)
      return captured
    })

/** An OpenAI client of the gateway with `key`, without retries. */
export const client = (gateway: Gateway.Service, key: string) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })

/** A chat with no key at all: no `Authorization` header. */
export const chatWithoutKey = (gateway: Gateway.Service) =>
  Effect.promise(async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 10 })
    })
    await response.text()
    return { status: response.status }
  })

/** A short chat with `key`: its status (200, or the refusal's) and, when answered, its cost at `pricing`. */
export const chat = (gateway: Gateway.Service, key: string, maxTokens: number | null = 10) =>
  Effect.promise(async () => {
    try {
      const completion = await client(gateway, key).chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "Hello" }],
        ...(maxTokens === null ? {} : { max_tokens: maxTokens })
      })
      const usage = completion.usage!
      return { status: 200, cost: (usage.prompt_tokens + usage.completion_tokens) / 1000 }
    } catch (error) {
      if (error instanceof OpenAI.APIError) return { status: error.status ?? 0, cost: 0, error }
      throw error
    }
  })

/** A provider.json entry of `model` on `simulator`'s Chat Completions, without retries, priced at `pricing`. */
export const simDeployment = (simulator: Simulator.Simulator, model: string, pricing: Record<string, unknown>) => ({
  model_name: model,
  base_url: `${simulator.url}/v1`,
  api_keys: [providerKey],
  max_retries: 0,
  pricing
})

/**
 * A gateway without a database over a simulator that also serves `models` and answers one token, with `sections`
 * (given the simulator) as its provider sections, the admin key, and one gateway key, `key` named `name`, on a budget
 * of $0.01 a day.
 */
export const budgetedGateway = (options: {
  readonly name: string
  readonly key: string
  readonly models: ReadonlyArray<string>
  readonly sections: (simulator: Simulator.Simulator) => Record<string, unknown>
}) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 1,
      models: [...Simulator.defaultModels, ...options.models]
    })
    const gateway = yield* gatewayOn(simulator, undefined, {
      ...options.sections(simulator),
      gateway: {
        keys: [{ name: options.name, key: options.key, budget: { limit: 0.01, period: "1 day" } }],
        admin_keys: [{ name: "ops", key: adminKey }]
      }
    })
    return { simulator, gateway }
  })

/**
 * A gateway on `database` over a simulator whose model `held` (priced) stalls every stream after its first chunk, so
 * a stream stays open until the gateway ends it; `gpt-4o-mini` answers as usual.
 */
export const heldGateway = (database: Gateway.Database) =>
  Effect.gen(function*() {
    const simulator = yield* Simulator.make({
      apiKeys: [providerKey],
      replyTokens: 8,
      models: [...Simulator.defaultModels, "held"]
    })
    return yield* gatewayOn(simulator, database, {
      sim: [
        simDeployment(simulator, "gpt-4o-mini", pricing),
        { ...simDeployment(simulator, "held", pricing), headers: { "x-simulator-fault": "stall=2" } }
      ]
    })
  })

/** A streamed chat of `held` with `key`, once its first chunk is in: the stream's reader and that chunk's text. */
export const openHeld = (gateway: Gateway.Service, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "held", stream: true, messages: [{ role: "user", content: "Hi" }] })
    })
    const reader = response.body!.getReader()
    const first = await reader.read()
    return { reader, first: new TextDecoder().decode(first.value) }
  })

/** A stream read to its end from now on (`watch`). */
export interface Watched {
  /**
   * What the stream has come to within `ms`: its last event's error code once it ended on an error event, "ended"
   * once it ended otherwise, "open" while it goes on.
   */
  readonly within: (ms: number) => Effect.Effect<string>
  /** What it has sent since it was watched. */
  readonly text: () => string
}

/** Reads `reader` to its end from now on. */
export const watch = (reader: ReadableStreamDefaultReader<Uint8Array>): Watched => {
  let text = ""
  const end = (async () => {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) {
        const last = text.trimEnd().split("\n\n").at(-1)!
        return last.startsWith("data: {\"error\"") ? String(JSON.parse(last.slice(6)).error.code) : "ended"
      }
      text += new TextDecoder().decode(value)
    }
  })()
  return {
    within: (ms) =>
      Effect.promise(() =>
        Promise.race([end, new Promise<string>((resolve) => setTimeout(() => resolve("open"), ms))])
      ),
    text: () => text
  }
}
