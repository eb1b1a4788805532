/**
 * The batches the gateway runs as calls against their store's contract (`contract/batchRuns.ts`) on each backend the
 * gateway has: memory (`layerMemory`), SQLite and Postgres (`layerSql`), and Redis (`runsRedis.ts`' `layerRedis`, each
 * test under a prefix of its own on one redis-server the file shares); and a database whose runs were answered before
 * their outcomes were kept beside their answers counts them as its full read does, once migrated.
 */
import { expect } from "@effect/vitest"
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
import { serviceOf, storeBackends } from "../utils/sqlDatabases.js"

for (const backend of storeBackends("batch_runs", Runs.RunStore, Runs)) batchRunsContract(backend)

batchRunsContract(redisBackend("runs", Runs.RunStore, RunsRedis.layerRedis))

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
