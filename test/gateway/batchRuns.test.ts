/**
 * The batches the gateway runs as calls against their store's contract (`contract/batchRuns.ts`) on each backend the
 * gateway has: SQLite and Postgres (`layerSql`), and Redis (`runsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares); and a database whose runs were answered before
 * their outcomes were kept beside their answers counts them as its full read does, once migrated; a SQL row read back
 * unlike its columns (a number, an answer's JSON) is a typed failure.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Runs from "../../src/internal/gateway/batches/runs.js"
import * as RunsRedis from "../../src/internal/gateway/batches/runsRedis.js"
import { gateway, schemas } from "../../src/internal/gateway/databaseSchema.js"
import * as Database from "../../src/internal/persistence/database.js"
import * as Sql from "../../src/internal/persistence/sql.js"
import * as Message from "../../src/Message.js"
import { batchRunsContract, failures, replyOf } from "../contract/batchRuns.js"
import { effectProp } from "../utils/effectProp.js"
import { redisBackend } from "../utils/sharedStore.js"
import { serviceOf, sqliteDatabase, storeBackends, storeOn } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_runs", Runs.RunStore, Runs)) batchRunsContract(backend)

// Its runs carry up to a quarter of a maker's bytes (16 MiB) a command, about 0.1 s on a quiet machine: the shared
// two seconds, set for small commands, would time one out on a loaded one.
batchRunsContract(redisBackend("runs", Runs.RunStore, RunsRedis.layerRedis, { commandTimeout: "30 seconds" }))

/** The migrations before the one that keeps an answer's outcome beside it. */
const beforeOutcomes = Object.fromEntries(
  Object.entries(gateway.migrations).filter(([name]) => Number.parseInt(name) < 25)
)

effectProp(
  "SQLite: lines answered before outcomes were kept are counted by their answers once migrated",
  fc.array(fc.constantFrom("reply", "error", "none"), { minLength: 1, maxLength: 8 }),
  (outcomes) =>
    Effect.gen(function*() {
      const directory = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "batch-runs-outcomes-"))),
        (made) => Effect.sync(() => rmSync(made, { recursive: true, force: true }))
      )
      const file = { sqlite: join(directory, "gateway.db") }
      yield* Effect.scoped(
        Effect.gen(function*() {
          const sql = yield* Effect.orDie(Database.connect(file, [{ ...gateway, migrations: beforeOutcomes }]))
          const lines = outcomes.map((_, index) => ({
            customId: `line-${index}`,
            request: { model: "gpt-4.1-mini", maxTokens: 10, messages: [Message.user(`Hello ${index}`)] }
          }))
          const encoded = yield* Runs.encodeLines(lines)
          yield* sql`INSERT INTO batch_runs (id, model, lines, started_at)
          VALUES ('gwrun:o', 'gpt-4.1-mini', ${encoded}, 1000)`
          for (const [index, outcome] of outcomes.entries()) {
            const answer = outcome === "none"
              ? null
              : Runs.encodeAnswer(
                Runs.answerJson(outcome === "reply" ? Result.succeed(replyOf("hi")) : Result.fail(failures[0]!))
              )
            yield* sql`INSERT INTO batch_run_answers (run, custom_id, answer)
              VALUES ('gwrun:o', ${`line-${index}`}, ${answer})`
          }
        }).pipe(Effect.orDie)
      )
      const sql = yield* Effect.orDie(Database.connect(file, schemas))
      const store = yield* serviceOf(
        Runs.RunStore,
        Layer.provide(
          Runs.layerSql,
          Layer.succeed(Sql.Database, { sql, bounds: { address: "test.db", timeout: Sql.defaultTimeout } })
        )
      )
      const progress = yield* store.progress("gwrun:o")
      expect(progress).toEqual({
        total: outcomes.length,
        succeeded: outcomes.filter((outcome) => outcome === "reply").length,
        failed: outcomes.filter((outcome) => outcome === "error").length,
        cancelled: false,
        ended: false
      })
      expect(progress).toEqual(Runs.progressOf((yield* store.read("gwrun:o"))!))
    }).pipe(Effect.orDie),
  10
)

describe("the runs in SQL", () => {
  it.effect("a row read back unlike its columns fails a read with StoreUnavailableError naming table and column", () =>
    Effect.gen(function*() {
      const database = yield* sqliteDatabase("batch-runs-malformed")
      yield* database.sql`INSERT INTO batch_runs (id, model, owner, lines, custom_ids, bytes, total, started_at)
        VALUES ('gwrun:late', 'gpt-4.1-mini', 'key-a', '[]', '["a"]', 2, 1, 'soon'),
          ('gwrun:cut', 'gpt-4.1-mini', 'key-a', '[]', '["a"]', 2, 1, 0)`
      yield* database.sql`INSERT INTO batch_run_answers (run, custom_id, answer, outcome)
        VALUES ('gwrun:cut', 'a', '{"reply":', 'reply')`
      const runs = yield* storeOn(Runs.RunStore, Runs.layerSql, database)
      const late = yield* Effect.flip(runs.read("gwrun:late"))
      expect(late._tag).toBe("StoreUnavailableError")
      expect(late.reason).toMatch(/a row of batch_runs .*\["started_at"\]/s)
      const cut = yield* Effect.flip(runs.read("gwrun:cut"))
      expect(cut._tag).toBe("StoreUnavailableError")
      expect(cut.reason).toMatch(/a row of batch_run_answers .*\["answer"\]/s)
    }).pipe(Effect.scoped))
})
