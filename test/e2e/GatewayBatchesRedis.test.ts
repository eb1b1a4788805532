/**
 * The settling of a batch by gateway instances that share a Redis and no database, over loopback with the official
 * `openai` client: their settlements in that Redis (docs/batch.md, "Settlement"), so any instance on it settles a
 * batch another made, and takes up a settling one left when it died.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Gateway from "../../src/Gateway.js"
import * as UndiciHttpClient from "../../src/UndiciHttpClient.js"
import {
  adminRead,
  billOf,
  create,
  inputFile,
  lineRows,
  openAiClient,
  payerInstances,
  payerKey,
  promise,
  providerBatchOf,
  type Row,
  settlingSimulator,
  spentOf,
  sum,
  upload,
  whileConnecting
} from "../utils/batchGateways.js"
import { eventually } from "../utils/eventually.js"
import { pausableProxy } from "../utils/redisProxy.js"
import { redisServer } from "../utils/redisServer.js"

/** A batch as `GET /admin/batches` lists it: the fields read here. */
interface Listed {
  readonly id: string
  readonly status: string | null
  readonly request_counts: { readonly total: number; readonly succeeded: number; readonly failed: number } | null
  readonly settled_at: number | null
  readonly cost_settled: number | null
}

/** The lines of the batch settled: enough that a settling through a slow Redis takes a second or more. */
const lineCount = 60

/**
 * An instance budgeting the payer over `simulator`, its store the Redis at `url` (no database), stopped with `stop`
 * (or at the test's end): once its store answers (the payer's budget read).
 */
const instanceOn = (simulator: Parameters<typeof payerInstances>[0], url: string) =>
  Effect.gen(function*() {
    const scope = yield* Scope.fork(yield* Effect.scope)
    const [gateway] = yield* Scope.provide(payerInstances(simulator, undefined, 1, 1, url), scope)
    yield* eventually("the payer's budget read", spentOf(gateway!, "payer"), (spent) => spent === 0, {
      every: "50 millis"
    })
    return { gateway: gateway!, stop: Scope.close(scope, Exit.void) }
  })

/** The batch `id` as `gateway`'s admin list shows it. */
const listedOn = (gateway: Gateway.Service, id: string) =>
  Effect.map(
    adminRead<{ readonly data: ReadonlyArray<Listed> }>(gateway, "/admin/batches"),
    (page) => page.data.find((row) => row.id === id)
  )

const customIdOf = (row: Row) => row.request_id.split(":")[1]!

describe("Gateway batches settled by instances sharing one Redis without a database", () => {
  it.live(
    "three instances settle one batch at once, one killed mid-settlement and one restarted: the bill, each line once",
    () =>
      Effect.gen(function*() {
        const redis = yield* redisServer
        const simulator = yield* settlingSimulator
        // The instance to be killed reaches Redis through a proxy that answers each reply 10 ms late, so its settling
        // takes long enough to be stopped mid-way; closing the proxy cuts it off Redis at once, as a killed process:
        // its lease on the settling is never given up, and lapses.
        const proxyScope = yield* Scope.fork(yield* Effect.scope)
        const proxy = yield* Scope.provide(pausableProxy(redis.port, 10), proxyScope)
        const killed = yield* instanceOn(simulator, proxy.url)
        const other = yield* instanceOn(simulator, redis.url)
        const restarted = yield* instanceOn(simulator, redis.url)
        const retrieved = (gateway: Gateway.Service, id: string) =>
          promise(() => openAiClient(gateway, payerKey).batches.retrieve(id))

        const openai = openAiClient(killed.gateway, payerKey)
        const file = yield* upload(openai, inputFile("gpt-4o-mini", lineCount))
        const batch = yield* whileConnecting(() => create(openai, file.id))
        const providerBatch = providerBatchOf(batch.id)
        // Read on the instance to be killed until it ended: that read starts its settling.
        const done = yield* eventually(
          "the batch completed",
          retrieved(killed.gateway, batch.id),
          (read) => read.status === "completed",
          { every: "50 millis" }
        )
        // Its settling under way, as another instance reads it from the shared store.
        yield* eventually(
          "some of its lines settled",
          listedOn(other.gateway, batch.id),
          (row) => (row?.cost_settled ?? 0) > 0,
          { every: "5 millis" }
        )
        // The two others read it ended at once: they settle it too, and leave it to the holder of its lease.
        yield* Effect.forEach([other, restarted], ({ gateway }) => retrieved(gateway, batch.id), {
          concurrency: "unbounded"
        })
        yield* Scope.close(proxyScope, Exit.void)
        // What reached Redis before the kill has been applied; the killed instance's rows are its memory's.
        yield* Effect.sleep("300 millis")
        const atKill = (yield* listedOn(other.gateway, batch.id))!
        const killedRows = yield* lineRows(killed.gateway, providerBatch)
        yield* killed.stop
        const output = yield* promise(() =>
          openAiClient(other.gateway, payerKey).files.content(done.output_file_id!).then((reply) => reply.text())
        )
        const bill = billOf(output)
        expect(bill.size).toBe(lineCount)
        // Killed mid-settlement: some lines recorded settled, the batch not.
        expect(atKill.settled_at).toBeNull()
        expect(atKill.cost_settled!).toBeGreaterThan(0)
        expect(atKill.cost_settled!).toBeLessThan(sum(bill.values()))

        // One of the others restarted, its Redis answering only a while after it started (its store is read before any
        // batch is); then both read it until it is settled (once the dead lease lapsed).
        yield* restarted.stop
        const late = yield* pausableProxy(redis.port)
        late.pause()
        yield* Effect.forkScoped(Effect.delay(Effect.sync(late.resume), "300 millis"))
        const again = yield* instanceOn(simulator, late.url)
        const survivors = [other.gateway, again.gateway]
        const settled = yield* eventually(
          "the batch settled by the instances left",
          Effect.andThen(
            Effect.forEach(survivors, (gateway) => retrieved(gateway, batch.id), { concurrency: "unbounded" }),
            listedOn(other.gateway, batch.id)
          ),
          (row) => row?.settled_at !== null,
          { every: "500 millis", within: "60 seconds" }
        )
        // Read again everywhere: settled, nothing more is charged.
        yield* Effect.forEach(survivors, (gateway) => retrieved(gateway, batch.id), { concurrency: "unbounded" })
        yield* Effect.sleep("300 millis")

        // The spend is the provider's bill at the batch price, on every instance's view of the shared budget.
        for (const gateway of survivors) expect(yield* spentOf(gateway, "payer")).toBeCloseTo(sum(bill.values()), 12)
        expect(settled).toMatchObject({
          status: "completed",
          request_counts: { total: lineCount, succeeded: lineCount, failed: 0 }
        })
        expect(settled!.cost_settled!).toBeCloseTo(sum(bill.values()), 12)
        // Each line written to a request log once, at its price; a line the killed instance recorded settled as it
        // was cut off, before its row was written, has none (it is charged: its cost is in the record at the kill).
        const rows = [
          ...killedRows,
          ...(yield* lineRows(other.gateway, providerBatch)),
          ...(yield* lineRows(again.gateway, providerBatch))
        ]
        const ids = rows.map(customIdOf)
        expect(new Set(ids).size).toBe(ids.length)
        for (const row of rows) expect(row.cost).toBeCloseTo(bill.get(customIdOf(row))!, 15)
        const unlogged = [...bill.keys()].filter((id) => !ids.includes(id))
        expect(unlogged.length).toBeLessThanOrEqual(1)
        expect(sum(unlogged.map((id) => bill.get(id)!))).toBeCloseTo(
          atKill.cost_settled! - sum(killedRows.map((row) => row.cost!)),
          12
        )
      }).pipe(Effect.scoped, Effect.provide(UndiciHttpClient.layer())),
    120_000
  )
})
