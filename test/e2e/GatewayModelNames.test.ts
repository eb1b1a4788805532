/**
 * A tenant's text bounded before the gateway logs, keeps or echoes it, over loopback with the official clients and raw
 * HTTP: a model name longer than the gateway takes (`Intake.maxModelBytes`) is a 400 naming the bound in every
 * dialect, never the name; the log line and the request log row hold a bounded part of it, so `/admin/requests` stays
 * small; a model that names nothing, or is too long, takes from the key's rate limit as a call does; the lines of
 * requests refused before authentication carry a bounded path and are rate-limited, the next line written counting
 * those that were not.
 */
import type Anthropic from "@anthropic-ai/sdk"
import { expect, layer } from "@effect/vitest"
import type { GoogleGenAI } from "@google/genai"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { join } from "node:path"
import type OpenAI from "openai"
import type * as Gateway from "../../src/Gateway.js"
import { maxLoggedLength, maxModelBytes } from "../../src/internal/gateway/intake.js"
import { refusalLinesPerSecond } from "../../src/internal/gateway/observe/refusalLines.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { gatewayClients } from "../utils/gatewayClients.js"
import { get, rejection } from "../utils/gatewayHarness.js"
import { samplesOf, valueOf } from "../utils/prometheus.js"
import { postJson } from "../utils/rawHttp.js"
import { jsonLines, requestLogLines } from "../utils/requestLines.js"
import {
  adminKey,
  alphaKey,
  embeddingModel,
  type Page,
  serveOn,
  simulator,
  temporary
} from "../utils/requestLogHarness.js"

const limitedKey = "gw-model-names-limited-8f2a4c6e0b"
process.env["MODEL_NAMES_LIMITED_KEY"] = limitedKey

// `alpha` without a rate limit; `limited` with a bucket of 4 requests that refills about once a minute and a half.
const section = {
  keys: [
    { name: "alpha", key: "env:REQUEST_LOG_ALPHA_KEY" },
    { name: "limited", key: "env:MODEL_NAMES_LIMITED_KEY", rate_limit_capacity: 4, rate_limit_refill_rate: 0.01 }
  ],
  admin_keys: [{ name: "ops", key: "env:REQUEST_LOG_ADMIN_KEY" }]
}

class Fixture extends Context.Service<Fixture, {
  readonly gateway: Gateway.Service
  readonly openAi: OpenAI
  readonly anthropic: Anthropic
  readonly google: GoogleGenAI
  readonly lines: ReadonlyArray<string>
}>()("test/GatewayModelNamesFixture") {}

const fixture = Layer.effect(
  Fixture,
  Effect.gen(function*() {
    const dir = yield* temporary
    const lines: Array<string> = []
    const gateway = yield* serveOn(yield* simulator, { sqlite: join(dir, "gateway.db") }, section, {
      logRequests: true
    }).pipe(Effect.provide(jsonLines(lines)))
    const { anthropic, google, openai } = gatewayClients(gateway.url, alphaKey)
    return { gateway, lines, openAi: openai, anthropic, google }
  })
).pipe(Layer.provide(UndiciHttpClient.layer()))

// A name of 1 MiB: what a tenant sent, and got back whole as a 404, before the bound.
const huge = "m".repeat(1 << 20)
// A name in a path: a request's head is bounded by the HTTP server (16 KiB), so a smaller one, still over the bound.
const inPath = "m".repeat(4000)
const messages = [{ role: "user" as const, content: "Hello" }]
const bearer = (key: string) => ({ authorization: `Bearer ${key}` })

// What an official client raised: its status, code and message.
const raised = (error: unknown) => {
  const { code, message, status } = error as { status: number; code?: string | null; message: string }
  return { status, code, message }
}

layer(fixture, { timeout: 60_000, excludeTestServices: true })("Gateway: a tenant's model name bounded", (it) => {
  it.effect(
    "openai client: a 1 MiB model name is 400 model_too_long naming the bound, on chat, embeddings and Responses; " +
      "the answer a few hundred bytes, never the name",
    () =>
      Effect.gen(function*() {
        const { openAi } = yield* Fixture
        const calls = [
          () => openAi.chat.completions.create({ model: huge, messages }),
          () => openAi.embeddings.create({ model: huge, input: "Hello" }),
          () => openAi.responses.create({ model: huge, input: "Hello" })
        ]
        for (const call of calls) {
          const error = raised(yield* rejection(call))
          expect(error.status).toBe(400)
          expect(error.code).toBe("model_too_long")
          expect(error.message).toContain(`at most ${maxModelBytes} bytes`)
          expect(error.message).toContain(`${1 << 20} bytes long`)
          expect(error.message.length).toBeLessThan(400)
        }
        for (const path of ["/v1/chat/completions", "/v1/embeddings", "/v1/responses"]) {
          const answer = yield* postJson(`${(yield* Fixture).gateway.url}${path}`, {
            model: huge,
            messages,
            input: "Hello"
          }, bearer(alphaKey))
          expect(answer.status).toBe(400)
          expect(answer.text.length).toBeLessThan(1024)
          expect(answer.text).not.toContain("m".repeat(maxModelBytes + 1))
        }
      })
  )

  it.effect(
    "@anthropic-ai/sdk and @google/genai: the same 400 in their shapes; GET /v1/models/{long id} too",
    () =>
      Effect.gen(function*() {
        const { anthropic, gateway, google } = yield* Fixture
        const anthropicError = raised(
          yield* rejection(() => anthropic.messages.create({ model: huge, max_tokens: 16, messages }))
        )
        expect(anthropicError.status).toBe(400)
        expect(anthropicError.message).toContain(`at most ${maxModelBytes} bytes`)
        expect(anthropicError.message.length).toBeLessThan(600)
        const anthropicRaw = yield* postJson(`${gateway.url}/v1/messages`, { model: huge, max_tokens: 16, messages }, {
          "x-api-key": alphaKey,
          "anthropic-version": "2023-06-01"
        })
        expect(anthropicRaw.status).toBe(400)
        expect(JSON.parse(anthropicRaw.text)).toMatchObject({ type: "error", error: { type: "invalid_request_error" } })
        expect(anthropicRaw.text.length).toBeLessThan(1024)

        const googleError = yield* rejection(() => google.models.generateContent({ model: inPath, contents: "Hello" }))
        expect(String(googleError)).toContain(`at most ${maxModelBytes} bytes`)
        expect(String(googleError)).not.toContain(inPath)
        const googleRaw = yield* postJson(
          `${gateway.url}/v1beta/models/${inPath}:generateContent`,
          { contents: [{ role: "user", parts: [{ text: "Hello" }] }] },
          { "x-goog-api-key": alphaKey }
        )
        expect(googleRaw.status).toBe(400)
        expect(JSON.parse(googleRaw.text)).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT" } })
        expect(googleRaw.text.length).toBeLessThan(1024)

        const model = yield* get(gateway, `/v1/models/${inPath}`, alphaKey)
        expect(model.status).toBe(400)
        expect(JSON.parse(model.text).error.code).toBe("model_too_long")
        expect(model.text.length).toBeLessThan(1024)
      })
  )

  it.effect(
    "20 calls naming a 1 MiB model: their log lines and rows hold at most the logged bound of it; /admin/requests " +
      "answers in kilobytes",
    () =>
      Effect.gen(function*() {
        const { gateway, lines } = yield* Fixture
        const ids: Array<string> = []
        for (let i = 0; i < 20; i++) {
          const id = `model-names-huge-${i}`
          const answer = yield* postJson(`${gateway.url}/v1/chat/completions`, { model: huge, messages }, {
            ...bearer(alphaKey),
            "x-request-id": id
          })
          expect(answer.status).toBe(400)
          ids.push(id)
        }
        const logged = requestLogLines(lines).filter((line) => ids.includes(String(line.annotations["request_id"])))
        expect(logged).toHaveLength(20)
        for (const line of logged) {
          expect(line.annotations).toMatchObject({ status: 400, error: "model_too_long" })
          expect(String(line.annotations["model"]).length).toBeLessThanOrEqual(maxLoggedLength + 1)
        }
        const page = yield* eventually(
          "the 20 rows in the request log",
          Effect.map(get(gateway, "/admin/requests?limit=100", adminKey), (answer) => ({
            text: answer.text,
            rows: (JSON.parse(answer.text) as Page).data.filter((row) => ids.includes(row.request_id))
          })),
          (page) => page.rows.length === 20
        )
        expect(page.text.length).toBeLessThan(128 * 1024)
        for (const row of page.rows) {
          expect(row.status).toBe(400)
          expect(row.model!.length).toBeLessThanOrEqual(maxLoggedLength + 1)
          expect(row.model!.startsWith("mmm")).toBe(true)
        }
      })
  )

  it.effect(
    "a model that names nothing takes from the key's rate limit: a key of 4 requests gets 404, 404, 404, 400 (too " +
      "long), then 429 rate_limit_exceeded for an unknown model and a known one alike",
    () =>
      Effect.gen(function*() {
        const { gateway } = yield* Fixture
        const { openai } = gatewayClients(gateway.url, limitedKey)
        const call = (model: string) =>
          Effect.map(rejection(() => openai.chat.completions.create({ model, messages })), raised)
        for (let i = 0; i < 3; i++) {
          expect(yield* call(`no-such-model-${i}`)).toMatchObject({ status: 404, code: "model_not_found" })
        }
        expect(yield* call(huge)).toMatchObject({ status: 400, code: "model_too_long" })
        expect(yield* call("no-such-model-4")).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
        expect(yield* call("gpt-4o-mini")).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
        const embeddings = yield* Effect.map(
          rejection(() => openai.embeddings.create({ model: embeddingModel, input: "Hello" })),
          raised
        )
        expect(embeddings).toMatchObject({ status: 429, code: "rate_limit_exceeded" })
      })
  )

  it.effect(
    "requests refused before authentication: each line's path bounded, at most the refusal lines' rate written, the " +
      "next line written counting those that were not; refused_total counts every one",
    () =>
      Effect.gen(function*() {
        const { gateway, lines } = yield* Fixture
        const path = `/v1/models/${"z".repeat(6000)}`
        const metric = Effect.map(
          get(gateway, "/metrics", adminKey),
          (answer) => valueOf(samplesOf(answer.text), "llm_gateway_refused_total", { reason: "invalid_api_key" })
        )
        const counted = yield* metric
        const before = lines.length
        const started = yield* Clock.currentTimeMillis
        for (let i = 0; i < 60; i++) {
          expect((yield* get(gateway, path, "gw-wrong-key-0123456789")).status).toBe(401)
        }
        const elapsed = (yield* Clock.currentTimeMillis) - started
        // A second later, one more: its line is written, and counts what was not.
        yield* Effect.sleep("1100 millis")
        expect((yield* get(gateway, path, "gw-wrong-key-0123456789")).status).toBe(401)
        const refusals = requestLogLines(lines.slice(before)).filter((line) => line.annotations["status"] === 401)
        for (const line of refusals) {
          expect(String(line.annotations["path"]).length).toBeLessThanOrEqual(maxLoggedLength + 1)
          expect(String(line.annotations["path"]).startsWith("/v1/models/zzz")).toBe(true)
        }
        const written = refusals.length - 1
        expect(written).toBeGreaterThanOrEqual(refusalLinesPerSecond)
        expect(written).toBeLessThanOrEqual(refusalLinesPerSecond + Math.ceil(elapsed / 1000 * refusalLinesPerSecond))
        expect(written).toBeLessThan(60)
        const told = refusals.reduce((sum, line) => sum + Number(line.annotations["suppressed"] ?? 0), 0)
        // The lines not written are counted by the next one written: by the last, unless the loop ran long enough
        // (a loaded machine) for a line within it to count them.
        expect(told).toBeGreaterThan(0)
        expect(written + 1 + told).toBe(61)
        expect((yield* metric) - counted).toBe(61)
      })
  )
})
