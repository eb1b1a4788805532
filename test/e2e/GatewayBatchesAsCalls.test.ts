import type Anthropic from "@anthropic-ai/sdk"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as fc from "fast-check"
import type OpenAI from "openai"
import { toFile } from "openai"
import type * as Gateway from "../../src/Gateway.js"
import * as Simulator from "../../src/simulator/Simulator.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminRead,
  anthropicClient,
  batchSimulator,
  billOf,
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
  type Row,
  spentOf,
  sqliteFile,
  sum,
  upload,
  whileConnecting
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"
import { postgresServer } from "../utils/postgresServer.js"
import { redisServer } from "../utils/redisServer.js"
import { jsonLines, logLineOf } from "../utils/requestLines.js"

const payerKey = "gw-calls-payer-2b4d6f8a0c1e3a5b"
const brokeKey = "gw-calls-broke-7e9a1c3b5d0f2a4c"
const freeKey = "gw-calls-free-5a7c9e1b3d2f4a6c"

/** An OpenAI-compatible model of a provider with no batch API: its batches run as calls. */
const model = "gpt-4.1-mini"

/**
 * `count` instances on `database` (else on `redis`, else each in its memory) over `simulator`, whose one deployment of `model` is
 * OpenAI-compatible with no batch API, its calls answered `fault` when given; the key `free` without a budget, `payer`
 * budgeted at $1 a day, `broke` at `brokeLimit`.
 */
const callsInstances = (
  simulator: Simulator.Simulator,
  options: {
    readonly database?: Gateway.Database | undefined
    /** A Redis the instances share their stores through, without a database. */
    readonly redis?: string
    readonly count?: number
    readonly fault?: string
    readonly brokeLimit?: number
    /** Whether each request's log line is written (`Gateway.Options.logRequests`). */
    readonly logRequests?: boolean
  } = {}
) =>
  instances(
    {
      ...(options.redis === undefined ? {} : {
        store: { redis: options.redis, on_unavailable: "fail-closed", command_timeout: 5 }
      }),
      sim: [{
        model_name: model,
        ...onSimulator(simulator),
        ...(options.fault === undefined ? {} : { headers: { "x-simulator-fault": options.fault } })
      }]
    },
    {
      database: options.database,
      logRequests: options.logRequests ?? false,
      keys: [
        { name: "free", key: Redacted.make(freeKey) },
        { name: "payer", key: Redacted.make(payerKey), budget: { limit: 1, period: "1 day" } },
        {
          name: "broke",
          key: Redacted.make(brokeKey),
          budget: { limit: options.brokeLimit ?? 0.0001, period: "1 day" }
        }
      ]
    },
    options.count ?? 1
  )

/** A simulator that knows `model`. */
const simulatorOf = batchSimulator({ models: [...Simulator.defaultModels, model] })

const textOf = (openai: OpenAI, file: string) => promise(() => openai.files.content(file).then((reply) => reply.text()))

const linesOf = (text: string) => text.trim().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line))

/** The batch read on `gateway` until it ended. */
const endedOn = (gateway: Gateway.Service, id: string, key = payerKey) =>
  eventually(
    "the batch ended",
    promise(() => openAiClient(gateway, key).batches.retrieve(id)),
    (read) => ["completed", "cancelled", "expired"].includes(read.status),
    { every: "50 millis", within: "40 seconds" }
  )

/** The request log's rows of a batch's lines once there are `count`, and still after a pause. */
const rowsOf = (gateway: Gateway.Service, id: string, count: number) =>
  Effect.gen(function*() {
    yield* eventually("the lines' rows", lineRows(gateway, providerBatchOf(id)), (rows) => rows.length >= count)
    yield* Effect.sleep("300 millis")
    return yield* lineRows(gateway, providerBatchOf(id))
  })

/** Each answered line once in the request log, at the live price of its output line, and in the key's budget. */
const expectCharged = (gateway: Gateway.Service, rows: ReadonlyArray<Row>, output: string) =>
  Effect.gen(function*() {
    const bill = billOf(output, model, "live")
    expect(rows.map((row) => row.request_id.split(":").at(-1)).sort()).toEqual([...bill.keys()].sort())
    for (const row of rows) {
      expect(row).toMatchObject({ key_name: "payer", route: "/v1/batches" })
      expect(row.cost).toBeCloseTo(bill.get(row.request_id.split(":").at(-1)!)!, 15)
    }
    expect(yield* spentOf(gateway, "payer")).toBeCloseTo(sum(bill.values()), 12)
  })

/** The simulator's requests: each a line's call, as nothing else of a batch run as calls reaches it. */
const callsOf = (simulator: Simulator.Simulator) => Effect.map(simulator.stats, (stats) => stats.requests)

describe("Gateway batches run as calls, where no deployment of the model has a batch API", () => {
  it.live(
    "the openai client's files, batch, retrieve and result files; each line called once, charged live",
    () =>
      Effect.gen(function*() {
        const simulator = yield* simulatorOf
        const [gateway] = yield* callsInstances(simulator, { database: yield* sqliteFile })
        const openai = openAiClient(gateway!, payerKey)
        const file = yield* upload(openai, inputFile(model, 5))
        const batch = yield* promise(() => create(openai, file.id))
        expect(batch).toMatchObject({ object: "batch", input_file_id: file.id, status: "in_progress" })
        expect(batch.request_counts?.total).toBe(5)
        const done = yield* endedOn(gateway!, batch.id)
        expect(done.status).toBe("completed")
        expect(done.request_counts).toEqual({ total: 5, completed: 5, failed: 0 })
        const output = yield* textOf(openai, done.output_file_id!)
        const lines = linesOf(output)
        expect(lines.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1", "req-2", "req-3", "req-4"])
        for (const line of lines) {
          expect(line.response.status_code).toBe(200)
          expect(line.response.body.object).toBe("chat.completion")
          expect(line.response.body.choices[0].message.content.length).toBeGreaterThan(0)
        }
        expect(yield* textOf(openai, done.error_file_id!)).toBe("")
        expect(yield* callsOf(simulator)).toBe(5)
        yield* expectCharged(gateway!, yield* rowsOf(gateway!, batch.id, 5), output)
        // The lines are the batch's spend only: no call of the model was recorded beside them.
        const page = yield* adminRead<{ readonly data: ReadonlyArray<Row> }>(gateway!, "/admin/requests?limit=500")
        expect(page.data.filter((row) => row.route === "/v1/chat/completions")).toEqual([])
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live("the @anthropic-ai/sdk client's messages.batches.create, retrieve and results", () =>
    Effect.gen(function*() {
      const simulator = yield* simulatorOf
      const [gateway] = yield* callsInstances(simulator)
      const anthropic = anthropicClient(gateway!, payerKey)
      const requests = Array.from({ length: 3 }, (_, i) => ({
        custom_id: `req-${i}`,
        params: { model, max_tokens: 100, messages: [{ role: "user" as const, content: `Hello ${i}` }] }
      }))
      const batch = yield* promise(() => anthropic.messages.batches.create({ requests }))
      expect(batch).toMatchObject({ type: "message_batch", processing_status: "in_progress" })
      const done = yield* eventually(
        "the batch ended",
        promise(() => anthropic.messages.batches.retrieve(batch.id)),
        (read) => read.processing_status === "ended"
      )
      expect(done.request_counts).toEqual({ processing: 0, succeeded: 3, errored: 0, canceled: 0, expired: 0 })
      const results = yield* messageResults(anthropic, batch.id)
      expect(results.map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1", "req-2"])
      for (const { result } of results) {
        expect(result.type).toBe("succeeded")
        if (result.type === "succeeded") expect(result.message.usage.output_tokens).toBeGreaterThan(0)
      }
      expect(yield* callsOf(simulator)).toBe(3)
    }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())), 60_000)

  it.live(
    "a budget refuses (429) a batch not fitting at the live price, before anything is sent",
    () =>
      Effect.gen(function*() {
        const simulator = yield* simulatorOf
        // A line of "Hello <i>" with 100 max_tokens is reserved at most $0.00029 at the live price (its dearest tier,
        // priority, as no tier is named; half of it at a batch price): $0.0004 holds one line only.
        const [gateway] = yield* callsInstances(simulator, { brokeLimit: 0.0004 })
        const openai = openAiClient(gateway!, brokeKey)
        const two = yield* upload(openai, inputFile(model, 2))
        const refused = yield* refusal<InstanceType<typeof OpenAI.APIError>>(() => create(openai, two.id))
        expect(refused.status).toBe(429)
        expect(yield* callsOf(simulator)).toBe(0)
        const one = yield* upload(openai, inputFile(model, 1))
        const made = yield* promise(() => create(openai, one.id))
        const done = yield* eventually(
          "the batch ended",
          promise(() => openai.batches.retrieve(made.id)),
          (read) => read.status === "completed"
        )
        expect(done.request_counts).toEqual({ total: 1, completed: 1, failed: 0 })
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "batches.cancel stops new lines: the ones running end, the rest are cancelled lines, charged what ran",
    () =>
      Effect.gen(function*() {
        const simulator = yield* simulatorOf
        // Each call takes 600 ms: four run at a time, so a cancel after the first ended leaves lines not started.
        const [gateway] = yield* callsInstances(simulator, { database: yield* sqliteFile, fault: "silent=600" })
        const openai = openAiClient(gateway!, payerKey)
        const file = yield* upload(openai, inputFile(model, 16))
        const batch = yield* promise(() => create(openai, file.id))
        yield* eventually(
          "some lines ran",
          promise(() => openai.batches.retrieve(batch.id)),
          (read) => (read.request_counts?.completed ?? 0) > 0,
          { every: "20 millis" }
        )
        // Answered at once, the lines running still running.
        const cancelling = yield* promise(() => openai.batches.cancel(batch.id))
        expect(["in_progress", "cancelled"]).toContain(cancelling.status)
        const done = yield* endedOn(gateway!, batch.id)
        expect(done.status).toBe("cancelled")
        const output = yield* textOf(openai, done.output_file_id!)
        const ran = billOf(output, model, "live").size
        expect(ran).toBeGreaterThan(0)
        expect(ran).toBeLessThan(16)
        expect(done.request_counts).toEqual({ total: 16, completed: ran, failed: 16 - ran })
        const errors = linesOf(yield* textOf(openai, done.error_file_id!))
        expect(errors).toHaveLength(16 - ran)
        for (const line of errors) expect(line.error.code).toBe("batch_cancelled")
        expect(yield* callsOf(simulator)).toBe(ran)
        yield* expectCharged(gateway!, yield* rowsOf(gateway!, batch.id, ran), output)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "lines failing at random are the error file's lines, each once; the others charged, each once",
    () =>
      Effect.gen(function*() {
        const simulator = yield* simulatorOf
        const [gateway] = yield* callsInstances(simulator, { database: yield* sqliteFile })
        const openai = openAiClient(gateway!, freeKey)
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), async (failing) => {
              // A line asking for more tokens than the model's context window fails; the others are answered.
              const content = failing.map((fails, i) =>
                JSON.stringify({
                  custom_id: `line-${i}`,
                  method: "POST",
                  url: "/v1/chat/completions",
                  body: {
                    model,
                    max_tokens: fails ? 1_000_000 : 50,
                    messages: [{ role: "user", content: `Hello ${i}` }]
                  }
                })
              ).join("\n")
              await Effect.runPromise(
                Effect.gen(function*() {
                  const file = yield* upload(openai, content)
                  const batch = yield* promise(() => create(openai, file.id))
                  const done = yield* endedOn(gateway!, batch.id, freeKey)
                  const failed = failing.filter(Boolean).length
                  expect(done.status).toBe("completed")
                  expect(done.request_counts).toEqual({
                    total: failing.length,
                    completed: failing.length - failed,
                    failed
                  })
                  const output = yield* textOf(openai, done.output_file_id!)
                  const errors = linesOf(yield* textOf(openai, done.error_file_id!))
                  const expected = (fails: boolean) =>
                    failing.flatMap((each, i) => each === fails ? [`line-${i}`] : []).sort()
                  expect([...billOf(output, model, "live").keys()].sort()).toEqual(expected(false))
                  expect(errors.map((line) => line.custom_id).sort()).toEqual(expected(true))
                  for (const line of errors) expect(line.response.status_code).toBe(400)
                  const rows = yield* rowsOf(gateway!, batch.id, failing.length - failed)
                  expect(rows).toHaveLength(failing.length - failed)
                  expect(sum(rows.map((row) => row.cost!))).toBeCloseTo(sum(billOf(output, model, "live").values()), 12)
                }).pipe(Effect.provide(UndiciHttpClient.layer()))
              )
            }),
            { numRuns: 6 }
          )
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )

  it.live(
    "in each instance's memory, another instance's retrieve is 404 saying where such batches are kept",
    () =>
      Effect.gen(function*() {
        const simulator = yield* simulatorOf
        const [first, second] = yield* callsInstances(simulator, { count: 2 })
        const here = openAiClient(first!, payerKey)
        const file = yield* upload(here, inputFile(model, 2))
        const batch = yield* promise(() => create(here, file.id))
        const elsewhere = yield* refusal(() => openAiClient(second!, payerKey).batches.retrieve(batch.id))
        expect(elsewhere).toMatchObject({ status: 404, code: "not_found" })
        expect(elsewhere.message).toContain("memory of the instance that made it")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "on Redis with a SQLite file of each instance's own, a batch is answered by every instance: file, run, lists",
    () =>
      Effect.gen(function*() {
        const simulator = yield* simulatorOf
        const redis = (yield* redisServer).url
        const [first] = yield* callsInstances(simulator, { redis, database: yield* sqliteFile })
        const [second] = yield* callsInstances(simulator, { redis, database: yield* sqliteFile })
        const here = openAiClient(first!, payerKey)
        const there = openAiClient(second!, payerKey)
        // Uploaded through one, made a batch of through the other.
        const file = yield* upload(here, inputFile(model, 3))
        const batch = yield* whileConnecting(() => create(there, file.id))
        const done = yield* endedOn(first!, batch.id)
        expect(done).toMatchObject({ status: "completed", request_counts: { total: 3, completed: 3, failed: 0 } })
        const output = yield* textOf(there, done.output_file_id!)
        expect(linesOf(output).map((line) => line.custom_id).sort()).toEqual(["req-0", "req-1", "req-2"])
        const listed = yield* promise(() => here.batches.list())
        expect(listed.data.map((each) => each.id)).toContain(batch.id)
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    60_000
  )

  it.live(
    "its database away, each wire's batch create, retrieve, cancel, results and list say so (503 " +
      "database_unavailable), naming what of the batch, not the provider; the store's reason logged, not its password",
    () =>
      Effect.gen(function*() {
        const postgres = yield* postgresServer
        // A password in its URL (the server trusts loopback), which no answer and no log line may hold.
        const password = "pw-never-shown-4c8e2a6f"
        const url = (yield* postgres.database("away")).replace("postgres@", `postgres:${password}@`)
        const simulator = yield* simulatorOf
        const logged: Array<string> = []
        const [gateway] = yield* callsInstances(simulator, {
          database: { postgres: Redacted.make(url) },
          logRequests: true
        }).pipe(Effect.provide(jsonLines(logged)))
        const openai = openAiClient(gateway!, freeKey)
        const anthropic = anthropicClient(gateway!, freeKey)
        const file = yield* upload(openai, inputFile(model, 2))
        const batch = yield* promise(() => create(openai, file.id))
        const done = yield* endedOn(gateway!, batch.id, freeKey)
        const requests = [{
          custom_id: "req-0",
          params: { model, max_tokens: 100, messages: [{ role: "user" as const, content: "Hello" }] }
        }]
        const messages = yield* promise(() => anthropic.messages.batches.create({ requests }))
        // Both ended first: no line of theirs is still to call when the database goes.
        yield* eventually(
          "the message batch ended",
          promise(() => anthropic.messages.batches.retrieve(messages.id)),
          (read) => read.processing_status === "ended"
        )
        yield* postgres.stop
        const calls = yield* callsOf(simulator)

        // Each ask: what the client is told its database did not give, and the store's step its log line names.
        const run = "a batch run"
        const listing = ["the batches could not be listed", "listing batches"] as const
        // A refusal's message and its request's log line (its status as written): the database's, naming `what`, the
        // store's reason logged.
        const expectDatabase = Effect.fnUntraced(function*(
          refused: { readonly status: number | undefined; readonly headers: Headers | undefined },
          message: string | null,
          [what, step]: readonly [string, string]
        ) {
          expect(message).toContain(`The gateway's database did not answer: ${what}`)
          expect(message).not.toMatch(/provider/i)
          expect(message).not.toContain(password)
          const line = yield* logLineOf(logged, refused.headers?.get("x-request-id") ?? "")
          expect(line).toMatchObject({ status: refused.status, error: "database_unavailable" })
          expect(line["error_message"]).toContain(step)
        })
        // OpenAI's shape: 503 and its code (a create, a list and a result file read the batches' files or records
        // first).
        const input = "reading a batch's input file"
        const openAiAsked = [
          ["the batch's input file could not be read", input, () => create(openai, file.id)],
          ["the batch could not be read", run, () => openai.batches.retrieve(batch.id)],
          ["the batch's cancel could not be recorded", run, () => openai.batches.cancel(batch.id)],
          ["the file could not be read", input, () => openai.files.content(done.output_file_id!)],
          [...listing, () => openai.batches.list()]
        ] as const
        for (const [what, step, ask] of openAiAsked) {
          const refused = yield* refusal(ask)
          expect(refused).toMatchObject({ status: 503, code: "database_unavailable", type: "server_error" })
          yield* expectDatabase(refused, refused.message, [what, step])
        }
        // Anthropic's shape, as its other answers of a service that cannot answer now: 529 `overloaded_error`, with
        // the database's message. A create refused records no batch and sends none of its lines.
        const anthropicAsked = [
          ["the batch could not be recorded, and none of its lines was sent", run, () =>
            anthropic.messages.batches.create({ requests })],
          ["the batch could not be read", run, () =>
            anthropic.messages.batches.retrieve(messages.id)],
          ["the batch's cancel could not be recorded", run, () =>
            anthropic.messages.batches.cancel(messages.id)],
          ["the batch could not be read", run, () => anthropic.messages.batches.results(messages.id)],
          [...listing, () => anthropic.messages.batches.list()]
        ] as const
        for (const [what, step, ask] of anthropicAsked) {
          const refused = yield* refusal<InstanceType<typeof Anthropic.APIError>>(ask)
          expect(refused).toMatchObject({ status: 529, type: "overloaded_error" })
          yield* expectDatabase(refused, refused.apiMessage, [what, step])
        }
        expect(yield* callsOf(simulator)).toBe(calls)
        expect(logged.filter((line) => line.includes(password))).toEqual([])
        // The database back, each batch is answered as before.
        yield* postgres.start
        const again = yield* eventually(
          "the batch answered again",
          Effect.result(Effect.tryPromise(() => openai.batches.retrieve(batch.id))),
          Result.isSuccess,
          { every: "200 millis" }
        )
        expect(again).toMatchObject({ success: { id: batch.id, status: "completed" } })
        const read = yield* promise(() => anthropic.messages.batches.retrieve(messages.id))
        expect(read.processing_status).toBe("ended")
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    90_000
  )

  for (const backend of ["SQLite", "Postgres", "Redis"] as const) {
    it.live(
      `on one ${backend}, the instance running a batch stopped mid-way, the other finishes it: each line once`,
      () =>
        Effect.gen(function*() {
          const simulator = yield* simulatorOf
          const shared = backend === "SQLite"
            ? { database: yield* sqliteFile }
            : backend === "Postgres"
            ? { database: { postgres: Redacted.make(yield* (yield* postgresServer).database("calls")) } }
            : { redis: (yield* redisServer).url }
          // Each call takes 400 ms: the batch's twelve lines run in three rounds of four.
          const running = yield* Scope.make()
          const [first] = yield* Scope.provide(
            callsInstances(simulator, { ...shared, fault: "silent=400" }),
            running
          )
          const [second] = yield* callsInstances(simulator, { ...shared, fault: "silent=400" })
          const openai = openAiClient(first!, payerKey)
          const batch = yield* whileConnecting(async () => {
            const content = inputFile(model, 12)
            const file = await openai.files.create({
              file: await toFile(Buffer.from(content), "in.jsonl"),
              purpose: "batch"
            })
            return create(openai, file.id)
          })
          const midway = yield* eventually(
            "some lines ran",
            promise(() => openai.batches.retrieve(batch.id)),
            (read) => (read.request_counts?.completed ?? 0) > 0,
            { every: "20 millis" }
          )
          expect(midway.request_counts!.completed).toBeLessThan(12)
          // Stopped: the lines it started end, their answers kept; it runs no more.
          yield* Scope.close(running, Exit.void)
          const done = yield* endedOn(second!, batch.id)
          expect(done.status).toBe("completed")
          expect(done.request_counts).toEqual({ total: 12, completed: 12, failed: 0 })
          const other = openAiClient(second!, payerKey)
          const output = yield* textOf(other, done.output_file_id!)
          expect(linesOf(output).map((line) => line.custom_id).sort()).toEqual(
            Array.from({ length: 12 }, (_, i) => `req-${i}`).sort()
          )
          expect(yield* callsOf(simulator)).toBe(12)
          // Settled by the instance that finished it, on a database or a shared Redis alike (docs/batch.md, "Settlement").
          yield* expectCharged(second!, yield* rowsOf(second!, batch.id, 12), output)
        }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
      90_000
    )
  }
})
