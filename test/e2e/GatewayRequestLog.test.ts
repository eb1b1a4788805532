/**
 * The gateway's request log (`Gateway.Options.database`) over loopback, the calls made by the official `openai` and
 * `@anthropic-ai/sdk` clients: a row per call with its key, model, deployment, tokens, cost and error tag, and no
 * prompt or reply unless payloads are logged (then with every key masked); rows kept across a restart on a SQLite
 * file and written to a real Postgres; without a database, kept in memory within its bounds and read by the admin
 * paths; and a database gone while the gateway runs: calls still answered, the rows dropped counted in `/metrics`.
 */
import Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import OpenAI from "openai"
import * as Gateway from "../../src/Gateway.js"
import { maskKey } from "../../src/LlmError.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { get } from "../utils/gatewayHarness.js"
import { postgresServer } from "../utils/postgresServer.js"
import {
  admin,
  adminKey,
  alphaKey,
  betaKey,
  configJson,
  embeddingModel,
  gatewaySection,
  type LoggedRow,
  type Page,
  providerKey,
  rows,
  serveOn,
  simulator,
  temporary
} from "../utils/requestLogHarness.js"

const prompt = "Tell me about the purple elephant of Lisbon"

const openAi = (gateway: Gateway.Service, key: string) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key, maxRetries: 0 })

/** The four calls every row test makes: whole and streamed chat, embeddings, and one that fails upstream. */
const calls = (gateway: Gateway.Service) =>
  Effect.promise(async () => {
    const alpha = openAi(gateway, alphaKey)
    const whole = await alpha.chat.completions.create({
      model: "gpt-4o-mini",
      messages: [{ role: "user", content: prompt }]
    })
    const stream = await openAi(gateway, betaKey).chat.completions.create({
      model: "gpt-4o-mini",
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 50,
      messages: [{ role: "user", content: prompt }]
    })
    let streamed = ""
    for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? ""
    await alpha.embeddings.create({ model: embeddingModel, input: [prompt, "another text"] })
    const failed = await alpha.chat.completions.create({
      model: "sim-small",
      messages: [{ role: "user", content: prompt }]
    }).then(() => undefined, (error: unknown) => error)
    return { whole: whole.choices[0]!.message.content!, streamed, failed }
  })

const byRoute = (logged: ReadonlyArray<LoggedRow>, route: string, model: string) =>
  logged.find((row) => row.route === route && row.model === model)!

// Every row of the table, as one text: what the database holds of the calls.
const sqliteText = (file: string) => {
  const db = new DatabaseSync(file, { readOnly: true })
  try {
    return JSON.stringify(db.prepare("SELECT * FROM requests").all())
  } finally {
    db.close()
  }
}

describe("the request log", () => {
  it.live("a row per call: chat, streamed chat, embeddings and a failure, with no prompt or reply stored", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      const gateway = yield* serveOn(yield* simulator, { sqlite: file })
      const { failed, streamed, whole } = yield* calls(gateway)
      expect(failed).toBeInstanceOf(OpenAI.APIError)
      const failedStatus = (failed as InstanceType<typeof OpenAI.APIError>).status!
      expect(failedStatus).toBeGreaterThanOrEqual(500)
      const logged = yield* rows(gateway, 4)
      expect(logged).toHaveLength(4)

      const chat = logged.find((row) =>
        row.key_name === "alpha" && row.route === "/v1/chat/completions" &&
        row.model === "gpt-4o-mini"
      )!
      expect(chat).toMatchObject({
        team_id: null,
        deployment: "sim/gpt-4o-mini",
        status: 200,
        output_tokens: 6,
        error: null,
        payload: null,
        first_token_ms: null
      })
      expect(chat.input_tokens).toBeGreaterThan(0)
      expect(chat.cost).toBeGreaterThan(0)
      expect(chat.latency_ms).toBeGreaterThanOrEqual(0)

      const stream = logged.find((row) => row.key_name === "beta")!
      expect(stream).toMatchObject({ deployment: "sim/gpt-4o-mini", status: 200, output_tokens: 6, error: null })
      expect(stream.first_token_ms).toBeGreaterThanOrEqual(0)
      expect(stream.first_token_ms!).toBeLessThanOrEqual(stream.latency_ms)
      expect(stream.cost).toBeCloseTo(chat.cost!, 10)

      const embedded = byRoute(logged, "/v1/embeddings", embeddingModel)
      expect(embedded).toMatchObject({ key_name: "alpha", deployment: `sim/${embeddingModel}`, status: 200 })
      expect(embedded.input_tokens).toBeGreaterThan(0)
      expect(embedded.output_tokens).toBe(0)
      expect(embedded.cost).toBeGreaterThan(0)

      const failure = byRoute(logged, "/v1/chat/completions", "sim-small")
      expect(failure).toMatchObject({
        key_name: "alpha",
        status: failedStatus,
        error: "ProviderUnavailableError",
        cost: null
      })

      // Newest first.
      expect([...logged].sort((a, b) => b.at - a.at || (b.id < a.id ? -1 : 1))).toEqual(logged)
      const stored = sqliteText(file)
      for (const text of [prompt, whole, streamed, "purple elephant", alphaKey, betaKey, providerKey]) {
        expect(stored).not.toContain(text)
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("an Anthropic client's messages and a refusal (a model the key may not use) get rows too", () =>
    Effect.gen(function*() {
      const gateway = yield* serveOn(yield* simulator, { sqlite: join(yield* temporary, "gateway.db") })
      const client = new Anthropic({ baseURL: gateway.url, apiKey: alphaKey, maxRetries: 0 })
      const message = yield* Effect.promise(() =>
        client.messages.create({ model: "gpt-4o-mini", max_tokens: 64, messages: [{ role: "user", content: prompt }] })
      )
      expect(message.usage.output_tokens).toBe(6)
      const missing = yield* Effect.promise(() =>
        client.messages.create({ model: "no-such-model", max_tokens: 8, messages: [{ role: "user", content: "x" }] })
          .then(() => undefined, (error: unknown) => error)
      )
      expect(missing).toBeInstanceOf(Anthropic.NotFoundError)
      const logged = yield* rows(gateway, 2)
      expect(byRoute(logged, "/v1/messages", "gpt-4o-mini")).toMatchObject({
        key_name: "alpha",
        deployment: "sim/gpt-4o-mini",
        status: 200,
        input_tokens: message.usage.input_tokens,
        output_tokens: 6
      })
      expect(byRoute(logged, "/v1/messages", "no-such-model")).toMatchObject({ status: 404, deployment: null })
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("with log_payloads: the request and the reply are kept, every key in them masked", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const file = join(dir, "gateway.db")
      const gateway = yield* serveOn(yield* simulator, { sqlite: file }, gatewaySection({ log_payloads: true }))
      const leaky = `${prompt}; my keys are ${alphaKey}, ${adminKey} and ${providerKey}`
      const client = openAi(gateway, betaKey)
      const reply = yield* Effect.promise(() =>
        client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: leaky }] })
      )
      const stream = yield* Effect.promise(async () => {
        const events = await client.chat.completions.create({
          model: "gpt-4o-mini",
          stream: true,
          messages: [{ role: "user", content: `${prompt} (streamed) ${betaKey}` }]
        })
        let text = ""
        for await (const chunk of events) text += chunk.choices[0]?.delta.content ?? ""
        return text
      })
      const logged = yield* rows(gateway, 2)
      const [streamed, whole] = logged
      expect(whole!.payload!.reply).toBe(reply.choices[0]!.message.content)
      expect(streamed!.payload!.reply).toBe(stream)
      const request = JSON.parse(whole!.payload!.request!)
      expect(request.messages[0].content).toContain(prompt)
      for (const key of [alphaKey, adminKey, providerKey]) expect(whole!.payload!.request).toContain(maskKey(key))
      // The key the request came with, masked in its own payload.
      expect(streamed!.payload!.request).toContain(maskKey(betaKey))
      const stored = sqliteText(file)
      expect(stored).toContain("purple elephant")
      for (const key of [alphaKey, betaKey, adminKey, providerKey]) expect(stored).not.toContain(key)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))

  it.live("survives a restart on its SQLite file: the rows of a gateway closed right after its calls are all there", () =>
    Effect.gen(function*() {
      const file = join(yield* temporary, "gateway.db")
      const sim = yield* simulator
      // Closed as soon as the calls are answered: whatever was still queued is written on the way out.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const gateway = yield* serveOn(sim, { sqlite: file })
        return yield* calls(gateway)
      }))
      expect(first.whole.length).toBeGreaterThan(0)
      const gateway = yield* serveOn(sim, { sqlite: file })
      const page = yield* admin<{ readonly data: ReadonlyArray<LoggedRow> }>(gateway, "/admin/requests")
      expect(page.data).toHaveLength(4)
      expect(page.data.filter((row) => row.status === 200)).toHaveLength(3)
      expect(page.data.filter((row) => row.error === "ProviderUnavailableError")).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})

describe("the request log without a database", () => {
  it.live("is kept in memory for the gateway's life, within its bounds: the admin paths read the newest rows", () =>
    Effect.gen(function*() {
      const config = yield* ProviderConfig.fromJson(
        configJson(yield* simulator, gatewaySection({ request_log_max_rows: 2 }))
      )
      const gateway = yield* Gateway.make({ config: ProviderConfig.gatewayConfig(config), port: 0 })
      yield* calls(gateway)
      // Four calls, two kept: the newest, the embeddings' and the failure's. A row is written after its answer, by
      // the log's own fiber: the page and the spend are read until both hold the failure's row (the last written) and
      // two rows' worth, none written late between the two reads.
      const { kept, spend } = yield* eventually(
        "the request log trimmed to its two newest rows, the failure's among them, and its spend of those",
        Effect.all({
          kept: admin<Page>(gateway, "/admin/requests"),
          spend: admin<{ readonly groups: ReadonlyArray<{ group: string; calls: number; cost: number }> }>(
            gateway,
            "/admin/spend?group_by=model"
          )
        }),
        ({ kept, spend }) =>
          kept.data.length === 2 && kept.data.some((row) => row.error === "ProviderUnavailableError") &&
          spend.groups.length === 2 && spend.groups.some((group) => group.group === "sim-small")
      )
      expect(kept.data.map((row) => [row.route, row.model, row.key_name])).toEqual([
        ["/v1/chat/completions", "sim-small", "alpha"],
        ["/v1/embeddings", embeddingModel, "alpha"]
      ])
      expect(kept.data[0]).toMatchObject({ error: "ProviderUnavailableError", payload: null })
      expect(spend.groups.map((group) => [group.group, group.calls])).toEqual([[embeddingModel, 1], ["sim-small", 1]])
      expect(spend.groups[0]!.cost).toBeCloseTo(kept.data[1]!.cost!, 12)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})

describe("the request log on Postgres", () => {
  it.live(
    "holds the same rows, and a database gone while serving drops rows (counted) but never a call",
    () =>
      Effect.gen(function*() {
        const server = yield* postgresServer
        const url = yield* server.database("request_log")
        const gateway = yield* serveOn(yield* simulator, { postgres: Redacted.make(url) })
        yield* calls(gateway)
        const logged = yield* rows(gateway, 4)
        expect(logged.map((row) => row.key_name).sort()).toEqual(["alpha", "alpha", "alpha", "beta"])
        expect(byRoute(logged, "/v1/embeddings", embeddingModel).input_tokens).toBeGreaterThan(0)
        expect(typeof logged[0]!.at).toBe("number")
        // Postgres sums and groups as SQLite does: numbers, per key and hour.
        const hourly = yield* admin<
          { readonly groups: ReadonlyArray<{ group: string; bucket: number; calls: number }> }
        >(
          gateway,
          "/admin/spend?group_by=key&bucket=hour"
        )
        expect(hourly.groups.reduce((total, group) => total + group.calls, 0)).toBe(4)
        for (const group of hourly.groups) expect(group.bucket % 3600).toBe(0)
        const costs = yield* admin<
          { readonly groups: ReadonlyArray<{ group: string; name: string; cost: number }> }
        >(
          gateway,
          "/admin/spend?group_by=key"
        )
        // A key's group is its id, named by its name.
        expect(costs.groups.find((group) => group.group === "config:beta")!.name).toBe("beta")
        expect(costs.groups.find((group) => group.group === "config:beta")!.cost).toBeCloseTo(
          logged.find((row) => row.key_name === "beta")!.cost!,
          12
        )

        yield* server.stop
        const client = openAi(gateway, alphaKey)
        const started = Date.now()
        for (let i = 0; i < 3; i++) {
          const reply = yield* Effect.promise(() =>
            client.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "still?" }] })
          )
          expect(reply.choices[0]!.message.content!.length).toBeGreaterThan(0)
        }
        // Answered at the simulator's pace, not the database's connect timeout.
        expect(Date.now() - started).toBeLessThan(5_000)
        const dropped = yield* eventually(
          "the dropped rows counted",
          Effect.map(get(gateway, "/metrics", adminKey), (answer) => {
            const line = answer.text.split("\n").find((text) =>
              text.startsWith("llm_gateway_request_log_dropped_total")
            )
            return line === undefined ? 0 : Number(line.split(" ").at(-1))
          }),
          (count) => count >= 3
        )
        expect(dropped).toBe(3)
        const refused = yield* get(gateway, "/admin/requests", adminKey)
        expect(refused.status).toBe(503)
        expect(JSON.parse(refused.text).error.code).toBe("database_unavailable")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    90_000
  )
})
