/**
 * What the gateway keeps is bounded by bytes, over loopback: requests refused before they are authenticated leave the
 * data directory as it was and are counted in `/metrics`; the request log is trimmed by its rows and its bytes; the
 * responses kept in memory stay within their byte budget, the least recently used going first, and one too large
 * for it is answered but not kept; in Redis, a chain of responses ends at its bound with a clear 400.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { readdirSync, statSync } from "node:fs"
import { connect } from "node:net"
import { join } from "node:path"
import OpenAI from "openai"
import type * as Gateway from "../../src/Gateway.js"
import * as ProviderConfig from "../../src/ProviderConfig.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import { eventually } from "../utils/eventually.js"
import { get, rejection } from "../utils/gatewayHarness.js"
import { postgresServer } from "../utils/postgresServer.js"
import { samplesOf, valueOf } from "../utils/prometheus.js"
import { redisServer } from "../utils/redisServer.js"
import {
  admin,
  adminKey,
  alphaKey,
  configJson,
  gatewaySection,
  type Page,
  serveOn,
  simulator,
  temporary
} from "../utils/requestLogHarness.js"
import { apiError, create } from "../utils/responsesHarness.js"
import { connected } from "../utils/sharedStore.js"

const openAi = (gateway: Gateway.Service) =>
  new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: alphaKey, maxRetries: 0 })

// The bytes of every file in `dir` (the database, its WAL and shared-memory files).
const sizeOf = (dir: string): number =>
  readdirSync(dir).reduce((total, name) => total + statSync(join(dir, name)).size, 0)

// The value of a metric, read with the admin key.
const metric = (gateway: Gateway.Service, name: string, labels: Record<string, string> = {}) =>
  Effect.map(get(gateway, "/metrics", adminKey), (answer) => {
    expect(answer.status).toBe(200)
    return valueOf(samplesOf(answer.text), name, labels)
  })

const chat = (gateway: Gateway.Service, content: string) =>
  Effect.promise(() =>
    openAi(gateway).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })
  )

// A request log row's size as the retention counts it: its text and 160 bytes.
const rowBytes = (row: Page["data"][number]): number =>
  160 + row.id.length + row.request_id.length + row.route.length + (row.key_name?.length ?? 0) +
  (row.model?.length ?? 0) + (row.deployment?.length ?? 0) + (row.error?.length ?? 0) +
  (row.payload === null ? 0 : JSON.stringify({ request: row.payload.request, reply: row.payload.reply }).length)

describe("requests refused before authentication", () => {
  it.live(
    "200 with a wrong key and 256 KiB bodies: no row, the data directory as it was, refused_total 200",
    () =>
      Effect.gen(function*() {
        const dir = yield* temporary
        const gateway = yield* serveOn(yield* simulator, { sqlite: join(dir, "gateway.db") })
        // The first sweep of the request log runs at start.
        yield* Effect.sleep("300 millis")
        const before = sizeOf(dir)
        const body = JSON.stringify({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "x".repeat(256 * 1024) }]
        })
        for (let i = 0; i < 200; i++) {
          const status = yield* Effect.promise(() =>
            fetch(`${gateway.url}/v1/chat/completions`, {
              method: "POST",
              headers: { authorization: "Bearer gw-wrong-key-0123456789", "content-type": "application/json" },
              body
            }).then(async (response) => (await response.arrayBuffer(), response.status))
          )
          expect(status).toBe(401)
        }
        // Rows, were there any, are written within milliseconds of their answers.
        yield* Effect.sleep("500 millis")
        expect(Math.abs(sizeOf(dir) - before)).toBeLessThan(64 * 1024)
        expect((yield* admin<Page>(gateway, "/admin/requests?limit=10")).data).toHaveLength(0)
        expect(yield* metric(gateway, "llm_gateway_refused_total", { reason: "invalid_api_key" })).toBe(200)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
  it.live(
    "refused without its body: a wrong key declaring 1 GiB and sending none is answered 401 at once",
    () =>
      Effect.gen(function*() {
        const dir = yield* temporary
        const gateway = yield* serveOn(yield* simulator, { sqlite: join(dir, "gateway.db") })
        const head = yield* Effect.promise(() =>
          new Promise<string>((resolve, reject) => {
            const socket = connect(gateway.port, "127.0.0.1", () =>
              socket.write(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
                  `Content-Length: ${1024 ** 3}\r\nAuthorization: Bearer gw-wrong-key-0123456789\r\n\r\n`
              ))
            let received = ""
            socket.on("data", (chunk) => {
              received += chunk.toString("latin1")
              if (received.includes("\r\n\r\n")) {
                socket.destroy()
                resolve(received.slice(0, received.indexOf("\r\n")))
              }
            })
            socket.on("error", reject)
          })
        ).pipe(Effect.timeout("5 seconds"))
        expect(head).toBe("HTTP/1.1 401 Unauthorized")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )
  it.live(
    "request_body_timeout_seconds: a body trickled past it is answered 408 and closed; headers trickled are closed",
    () =>
      Effect.gen(function*() {
        const dir = yield* temporary
        const gateway = yield* serveOn(
          yield* simulator,
          { sqlite: join(dir, "gateway.db") },
          gatewaySection({ request_body_timeout_seconds: 1 })
        )
        const head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
          `Content-Length: 1000\r\nAuthorization: Bearer ${alphaKey}\r\n\r\n`
        // The body (after the whole head), or the head itself, sent a byte every 100 ms: what the gateway answered
        // before it closed the connection. Without a deadline the connection would stay open for minutes.
        const trickled = (sent: string, before: string) =>
          Effect.promise(() =>
            new Promise<string>((resolve, reject) => {
              let received = ""
              const socket = connect(gateway.port, "127.0.0.1", () => {
                socket.write(before)
                let index = 0
                const timer = setInterval(() => {
                  if (socket.writable && index < sent.length) socket.write(sent[index++]!)
                }, 100)
                socket.on("close", () => {
                  clearInterval(timer)
                  resolve(received)
                })
              })
              socket.on("data", (chunk) => {
                received += chunk.toString("latin1")
              })
              socket.on("error", (error: NodeJS.ErrnoException) =>
                error.code === "ECONNRESET" || error.code === "EPIPE" ? undefined : reject(error))
            })
          ).pipe(Effect.timeout("4 seconds"))
        const body = yield* trickled("x".repeat(1000), head)
        expect(body.slice(0, body.indexOf("\r\n"))).toBe("HTTP/1.1 408 Request Timeout")
        // A head never finished: the connection is closed within the deadline too.
        yield* trickled(head.slice(20), head.slice(0, 20))
        // The deadline is the whole request's: a prompt one is answered as ever.
        expect((yield* chat(gateway, "still here")).choices[0]!.message.content).toBeTruthy()
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    30_000
  )
})

describe("the request log's retention by rows and bytes", () => {
  it.live("request_log_max_rows: the oldest rows go, the newest stay", () =>
    Effect.gen(function*() {
      const dir = yield* temporary
      const gateway = yield* serveOn(
        yield* simulator,
        { sqlite: join(dir, "gateway.db") },
        gatewaySection({ request_log_max_rows: 3 })
      )
      for (let i = 0; i < 8; i++) yield* chat(gateway, `call ${i}`)
      const page = yield* eventually(
        "the log trimmed to 3 rows",
        admin<Page>(gateway, "/admin/requests?limit=100"),
        (page) => page.data.length === 3
      )
      expect(page.data.every((row) => row.status === 200)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)

  // SQLite trims rows; Postgres drops whole days, keeping the day the bound is passed in whole (docs/store.md).
  const databases: ReadonlyArray<readonly [string, Effect.Effect<Gateway.Database, never, Scope.Scope>]> = [
    ["SQLite", Effect.map(temporary, (dir): Gateway.Database => ({ sqlite: join(dir, "gateway.db") }))],
    [
      "Postgres",
      Effect.gen(function*() {
        const server = yield* postgresServer
        return { postgres: Redacted.make(yield* server.database("bounds")) }
      })
    ]
  ]
  for (const [name, made] of databases) {
    it.live(
      `request_log_max_bytes on ${name}: rows with payloads trimmed to the byte bound, oldest first (on Postgres by day)`,
      () =>
        Effect.gen(function*() {
          const maxBytes = 8_000
          const gateway = yield* serveOn(
            yield* simulator,
            yield* made,
            gatewaySection({ log_payloads: true, request_log_max_bytes: maxBytes })
          )
          for (let i = 0; i < 16; i++) yield* chat(gateway, `call ${i} ${"y".repeat(1_000)}`)
          // Its rows are written after the answers: once the last call's is there.
          const written = (page: Page) => page.data[0]?.payload?.request?.includes("call 15 ") === true
          if (name === "Postgres") {
            const page = yield* eventually(
              "the last call's row written",
              admin<Page>(gateway, "/admin/requests?limit=100"),
              written
            )
            // Every row of the newest day kept, though they pass the bound: today's partition is not dropped.
            const dayOf = (row: Page["data"][number]) => Math.floor(row.at / 86_400)
            expect(page.data.reduce((total, row) => total + rowBytes(row), 0)).toBeGreaterThan(maxBytes)
            expect(page.data.length === 16 || page.data.every((row) => dayOf(row) === dayOf(page.data[0]!))).toBe(true)
            return
          }
          const page = yield* eventually(
            "the log trimmed to its bytes",
            admin<Page>(gateway, "/admin/requests?limit=100"),
            (page) => written(page) && page.data.reduce((total, row) => total + rowBytes(row), 0) <= maxBytes
          )
          expect(page.data.length).toBeGreaterThanOrEqual(3)
          expect(page.data.length).toBeLessThan(16)
        }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
      120_000
    )
  }

  it("a bound that is not a positive whole number is refused by its path", () =>
    Effect.gen(function*() {
      const sim = yield* simulator
      const refused = yield* Effect.flip(
        serveOn(sim, { sqlite: ":memory:" }, gatewaySection({ request_log_max_bytes: 0, responses_max_chain: 1.5 }))
      )
      expect(refused.message).toContain("gateway.request_log_max_bytes")
      expect(refused.message).toContain("gateway.responses_max_chain")
      const over = yield* Effect.flip(
        serveOn(
          sim,
          { sqlite: ":memory:" },
          gatewaySection({ responses_max_bytes: 1_000, responses_max_response_bytes: 2_000 })
        )
      )
      expect(over.message).toContain("gateway.responses_max_response_bytes")
      // A key's bound past the whole store's, or one response's past a key's.
      for (
        const [section, path] of [
          [{ responses_max_bytes: 4_000, responses_max_key_bytes: 5_000 }, "gateway.responses_max_key_bytes"],
          [
            { responses_max_key_bytes: 3_000, responses_max_response_bytes: 3_500 },
            "gateway.responses_max_response_bytes"
          ],
          [{ mcp_sessions_max: 10, mcp_sessions_max_key: 11 }, "gateway.mcp_sessions_max_key"],
          [{ mcp_sessions_max_bytes: 1_000, mcp_sessions_max_key_bytes: 2_000 }, "gateway.mcp_sessions_max_key_bytes"],
          [{ mcp_sessions_max: 0 }, "gateway.mcp_sessions_max"]
        ] as const
      ) {
        const refusal = yield* Effect.flip(serveOn(sim, { sqlite: ":memory:" }, gatewaySection(section)))
        expect(refusal.message).toContain(path)
      }
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())))
})

describe("session affinity bounded in count", () => {
  it.live("affinity_max_sessions: three sessions of 1 MB each, two pins kept", () =>
    Effect.gen(function*() {
      const gateway = yield* serveOn(
        yield* simulator,
        { sqlite: join(yield* temporary, "gateway.db") },
        gatewaySection({ affinity_max_sessions: 2 })
      )
      const client = openAi(gateway)
      for (const session of ["a", "b", "c"]) {
        yield* create(client, {
          model: "gpt-4o-mini",
          input: "Hi",
          store: false,
          prompt_cache_key: session.repeat(1024 * 1024)
        })
      }
      const details = Object.values((yield* gateway.status).details)
      expect(details.reduce((total, detail) => total + (detail.pinnedSessions ?? 0), 0)).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)
})

describe("the bounds are taken at start", () => {
  it.live(
    "a reload that changes one is refused, naming it; the running configuration stays",
    () =>
      Effect.gen(function*() {
        const sim = yield* simulator
        const changed = ProviderConfig.gatewayConfig(
          yield* ProviderConfig.fromJson(configJson(sim, gatewaySection({ responses_max_bytes: 2_000_000 })))
        )
        const gateway = yield* serveOn(sim, { sqlite: join(yield* temporary, "gateway.db") }, gatewaySection(), {
          source: Effect.succeed(changed)
        })
        const refused = yield* Effect.flip(gateway.reload)
        expect(refused.message).toContain("config.keys.responsesMaxBytes")
        expect(refused.message).toContain("takes a restart")
        expect((yield* chat(gateway, "still served")).choices[0]!.message.content).toBeTruthy()
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})

describe("responses kept within a byte budget", () => {
  it.live(
    "in memory: the least recently used go first, the store stays within responses_max_bytes",
    () =>
      Effect.gen(function*() {
        const dir = yield* temporary
        const maxBytes = 12_000
        const gateway = yield* serveOn(
          yield* simulator,
          { sqlite: join(dir, "gateway.db") },
          // One key: its bound the whole store's, so that the total is what drops them.
          gatewaySection({
            responses_max_bytes: maxBytes,
            responses_max_key_bytes: maxBytes,
            responses_max_response_bytes: 5_000
          })
        )
        const client = openAi(gateway)
        const ids: Array<string> = []
        for (let i = 0; i < 10; i++) {
          ids.push((yield* create(client, { model: "gpt-4o-mini", input: `turn ${i} ${"z".repeat(2_000)}` })).id)
          // The first response, read after each: the most recently used, it stays while others go.
          if (i > 0) expect((yield* get(gateway, `/v1/responses/${ids[0]}`, alphaKey)).status).toBe(200)
        }
        const bytes = yield* metric(gateway, "llm_gateway_responses_kept_bytes")
        const kept = yield* metric(gateway, "llm_gateway_responses_kept")
        expect(bytes).toBeGreaterThan(0)
        expect(bytes).toBeLessThanOrEqual(maxBytes)
        expect(kept).toBeGreaterThanOrEqual(2)
        expect(kept).toBeLessThan(10)
        expect((yield* get(gateway, `/v1/responses/${ids[1]}`, alphaKey)).status).toBe(404)
        expect((yield* get(gateway, `/v1/responses/${ids[9]}`, alphaKey)).status).toBe(200)
        // One larger than a response may be: answered, not kept.
        const large = yield* create(client, { model: "gpt-4o-mini", input: "w".repeat(6_000) })
        expect(large.status).toBe("completed")
        expect((yield* get(gateway, `/v1/responses/${large.id}`, alphaKey)).status).toBe(404)
        expect(yield* metric(gateway, "llm_gateway_responses_kept_bytes")).toBeLessThanOrEqual(maxBytes)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "in Redis: a chain past responses_max_chain, or past responses_max_response_bytes, is refused (400)",
    () =>
      Effect.gen(function*() {
        const dir = yield* temporary
        const redis = yield* redisServer
        const gateway = yield* serveOn(
          yield* simulator,
          { sqlite: join(dir, "gateway.db") },
          gatewaySection({ responses_max_chain: 3, responses_max_response_bytes: 6_000 }),
          { store: yield* connected(redis.url) }
        )
        const client = openAi(gateway)
        let previous = (yield* create(client, { model: "gpt-4o-mini", input: "one" })).id
        for (const input of ["two", "three"]) {
          previous = (yield* create(client, { model: "gpt-4o-mini", input, previous_response_id: previous })).id
        }
        const past = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "gpt-4o-mini", input: "four", previous_response_id: previous })
          )
        )
        expect(past).toMatchObject({ status: 400, param: "previous_response_id", code: "conversation_too_long" })
        expect(past.message).toContain("3 responses")
        expect(past.message).toContain("without previous_response_id")
        // The chain's last response is still there to read.
        expect((yield* get(gateway, `/v1/responses/${previous}`, alphaKey)).status).toBe(200)
        // A conversation that would pass the bytes one response may take.
        const first = (yield* create(client, { model: "gpt-4o-mini", input: "v".repeat(4_000) })).id
        const large = apiError(
          yield* rejection(() =>
            client.responses.create({ model: "gpt-4o-mini", input: "u".repeat(4_000), previous_response_id: first })
          )
        )
        expect(large).toMatchObject({ status: 400, code: "conversation_too_long" })
        expect(large.message).toContain("responses_max_response_bytes")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )
})
