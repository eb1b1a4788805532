/**
 * The contract every backend of the batches the gateway runs as calls (`batches/runs.ts`' `RunStore`) keeps, run
 * against each (`test/gateway/batchRuns.test.ts`: SQLite, Postgres and Redis): a run recorded once, its lines
 * read back as they were made (any text, any reply limit); its lease held by one holder at a time until it lapses,
 * renewed by its holder, cancelled for its holder once the run is, lost to all once the run ended; each line answered
 * once, its first answer kept (a reply or a typed error, read back as it was), never a line the run does not hold (for
 * any sequence of answers); its progress what its full read counts (for any answers, cancelled or ended); a run ended
 * by its lease's holder only, its requests and its lines not answered then let go of; a maker's runs past its count or
 * bytes bound letting go of the oldest ended, a new run refused (naming the bound) while those running hold it;
 * forgotten with its batch's record.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { ChatResponse, emptyUsage } from "../../src/ChatResponse.js"
import * as Runs from "../../src/internal/gateway/batches/runs.js"
import { bounds } from "../../src/internal/gateway/batches/store.js"
import { InvalidRequestError, RateLimitError } from "../../src/LlmError.js"
import * as Message from "../../src/Message.js"
import { effectProp } from "../utils/effectProp.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"
import { leaseProperty, type Leasing } from "./lease.js"

/** The runs of the properties: fewer on the backends whose steps are slower. */
const runsOf = { SQLite: 20, Postgres: 10, Redis: 20 } as const

/** A backend of the store: its name, and its service, each time the effect runs a new one. */
export interface Backend {
  readonly name: keyof typeof runsOf
  readonly store: StoreBackend<Runs.Runs>["store"]
}

const month = Duration.toMillis(bounds.batchTtl)

/** A run of `count` lines (custom ids `line-<i>`), each of `text` and `maxTokens`, made by `owner`. */
const runOf = (
  id: string,
  count: number,
  startedAt = 1_000,
  text = "Hello",
  maxTokens = 100,
  owner = "key-a"
): Runs.Run & Pick<Runs.Started, "lines"> => ({
  id,
  model: "gpt-4.1-mini",
  owner,
  startedAt,
  lines: Array.from({ length: count }, (_, i) => ({
    customId: `line-${i}`,
    request: { model: "gpt-4.1-mini", maxTokens, messages: [Message.user(`${text} ${i}`)] }
  }))
})

/** `run` started in `store` at `now`, its lines encoded as the gateway encodes them. */
const started = (store: Runs.Runs, run: Runs.Run & Pick<Runs.Started, "lines">, now: number) =>
  Effect.flatMap(Runs.encodeLines(run.lines), (encoded) => store.start({ ...run, encoded }, now))

/** What a run's full read holds while it runs, before any answer. */
const fresh = ({ lines, ...run }: Runs.Run & Pick<Runs.Started, "lines">): Runs.Recorded => ({
  run,
  customIds: lines.map((line) => line.customId),
  lines,
  answers: new Map(),
  cancelled: false,
  ended: false
})

/** A reply of `text`, as a line's answer. */
export const replyOf = (text: string): ChatResponse =>
  ChatResponse.make({
    id: `chatcmpl-${text.length}`,
    model: "gpt-4.1-mini",
    provider: "sim",
    text,
    toolCalls: [],
    finishReason: "stop",
    usage: { ...emptyUsage, promptTokens: 12, completionTokens: 8 },
    cost: 0.000017,
    latency: Duration.millis(40),
    keyId: "sk-…0001#b0b3"
  })

/** Typed errors, as lines' answers. */
export const failures = [
  new RateLimitError({ provider: "sim", model: "gpt-4.1-mini", status: 429, retryAfter: Duration.seconds(2) }),
  new InvalidRequestError({ provider: "sim", model: "gpt-4.1-mini", status: 400, detail: "max_tokens is too large" })
]

export const batchRunsContract = (backend: Backend) =>
  describe(`batches run as calls' store contract: ${backend.name}`, () => {
    it.live(`${backend.name}: a run is recorded once, its lines read back as they were made`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        expect(yield* store.read("gwrun:none")).toBeUndefined()
        const run = runOf("gwrun:a", 3)
        yield* started(store, run, 1_000)
        yield* started(store, runOf("gwrun:a", 1, 2_000), 2_000)
        const read = yield* store.read("gwrun:a")
        expect(read).toEqual(fresh(run))
      }).pipe(Effect.scoped))

    effectProp(
      `${backend.name}: any line's text and reply limit read back as made`,
      fc.record({ text: fc.string({ unit: "grapheme", maxLength: 40 }), maxTokens: fc.integer({ min: 1, max: 1e6 }) }),
      ({ maxTokens, text }) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const run = runOf("gwrun:text", 2, 1_000, text, maxTokens)
          yield* started(store, run, 1_000)
          expect(yield* store.read(run.id)).toEqual(fresh(run))
        }),
      runsOf[backend.name]
    )

    it.live(`${backend.name}: the lease is one holder's until it lapses; cancelled, then lost once the run ended`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* started(store, runOf("gwrun:l", 2), 1_000)
        expect(yield* store.lease("gwrun:none", "a", 1_000, 2_000)).toBe("lost")
        expect(yield* store.lease("gwrun:l", "a", 1_000, 2_000)).toBe("held")
        expect(yield* store.lease("gwrun:l", "b", 1_999, 3_000)).toBe("lost")
        // Renewed by its holder, then lapsed: the next takes it.
        expect(yield* store.lease("gwrun:l", "a", 1_500, 2_500)).toBe("held")
        expect(yield* store.lease("gwrun:l", "b", 2_400, 3_000)).toBe("lost")
        expect(yield* store.lease("gwrun:l", "b", 2_500, 3_500)).toBe("held")
        // Given up by another than its holder: still its holder's; by its holder: free.
        yield* store.unlease("gwrun:l", "a")
        expect(yield* store.lease("gwrun:l", "a", 2_600, 3_600)).toBe("lost")
        yield* store.unlease("gwrun:l", "b")
        expect(yield* store.lease("gwrun:l", "a", 2_600, 3_600)).toBe("held")
        yield* store.cancel("gwrun:l", 2_700)
        expect(yield* store.lease("gwrun:l", "a", 2_700, 3_700)).toBe("cancelled")
        expect(yield* store.lease("gwrun:l", "b", 2_700, 3_700)).toBe("lost")
        // Ended by another than its holder: not ended; by its holder: ended, the lease lost to all.
        yield* store.end("gwrun:l", "b", 2_800)
        expect((yield* store.read("gwrun:l"))?.ended).toBe(false)
        yield* store.end("gwrun:l", "a", 2_800)
        expect(yield* store.read("gwrun:l")).toMatchObject({ cancelled: true, ended: true })
        expect(yield* store.lease("gwrun:l", "a", 2_900, 3_900)).toBe("lost")
        expect(yield* store.lease("gwrun:l", "b", 9_000, 9_900)).toBe("lost")
      }).pipe(Effect.scoped))

    leaseProperty(
      `${backend.name}: a run's running`,
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* started(store, runOf("gwrun:leased", 1), 1_000)
        const leasing: Leasing = {
          take: (holder, now, until) =>
            Effect.map(store.lease("gwrun:leased", holder, now, until), (lease) => lease !== "lost"),
          giveUp: (holder) => store.unlease("gwrun:leased", holder)
        }
        return leasing
      }),
      runsOf[backend.name]
    )

    it.live(`${backend.name}: a line's first answer stays, a reply or a typed error read back as it was`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* started(store, runOf("gwrun:x", 3), 1_000)
        expect(yield* store.answer("gwrun:x", "line-0", Result.succeed(replyOf("hi")))).toBe(true)
        expect(yield* store.answer("gwrun:x", "line-0", Result.fail(failures[0]!))).toBe(false)
        expect(yield* store.answer("gwrun:x", "line-1", Result.fail(failures[0]!))).toBe(true)
        expect(yield* store.answer("gwrun:x", "line-2", Result.fail(failures[1]!))).toBe(true)
        // No line of the run, or no run.
        expect(yield* store.answer("gwrun:x", "line-9", Result.succeed(replyOf("no")))).toBe(false)
        expect(yield* store.answer("gwrun:none", "line-0", Result.succeed(replyOf("no")))).toBe(false)
        const answers = (yield* store.read("gwrun:x"))!.answers
        expect([...answers.keys()].sort()).toEqual(["line-0", "line-1", "line-2"])
        expect(answers.get("line-0")).toEqual(Result.succeed(replyOf("hi")))
        const limited = answers.get("line-1")!
        expect(Result.isFailure(limited) && limited.failure).toBeInstanceOf(RateLimitError)
        expect(limited).toEqual(Result.fail(failures[0]!))
        const invalid = answers.get("line-2")!
        expect(Result.isFailure(invalid) && invalid.failure).toBeInstanceOf(InvalidRequestError)
        expect(invalid).toEqual(Result.fail(failures[1]!))
      }).pipe(Effect.scoped))

    effectProp(
      `${backend.name}: any answers, in any order, keep each line's first and no line the run does not hold`,
      fc.record({
        count: fc.integer({ min: 1, max: 6 }),
        answers: fc.array(fc.record({ line: fc.integer({ min: 0, max: 8 }), ok: fc.boolean() }), { maxLength: 20 })
      }),
      ({ answers, count }) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          yield* started(store, runOf("gwrun:p", count), 1_000)
          const kept = new Map<string, Runs.Answer>()
          for (const [index, { line, ok }] of answers.entries()) {
            const customId = `line-${line}`
            const answer: Runs.Answer = ok ? Result.succeed(replyOf(`r${index}`)) : Result.fail(failures[index % 2]!)
            const first = line < count && !kept.has(customId)
            if (first) kept.set(customId, answer)
            expect(yield* store.answer("gwrun:p", customId, answer)).toBe(first)
          }
          expect((yield* store.read("gwrun:p"))!.answers).toEqual(kept)
        }),
      runsOf[backend.name]
    )

    effectProp(
      `${backend.name}: a run's progress counts what its full read holds, for any answers, cancelled or ended`,
      fc.record({
        count: fc.integer({ min: 1, max: 6 }),
        answers: fc.array(fc.record({ line: fc.integer({ min: 0, max: 8 }), ok: fc.boolean() }), { maxLength: 20 }),
        cancelled: fc.boolean(),
        ended: fc.boolean()
      }),
      ({ answers, cancelled, count, ended }) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          expect(yield* store.progress("gwrun:none")).toBeUndefined()
          yield* started(store, runOf("gwrun:c", count), 1_000)
          const outcomes = new Map<string, boolean>()
          for (const [index, { line, ok }] of answers.entries()) {
            const answer: Runs.Answer = ok ? Result.succeed(replyOf(`r${index}`)) : Result.fail(failures[index % 2]!)
            if (yield* store.answer("gwrun:c", `line-${line}`, answer)) outcomes.set(`line-${line}`, ok)
          }
          if (cancelled) yield* store.cancel("gwrun:c", 2_000)
          if (ended) {
            yield* store.lease("gwrun:c", "a", 2_000, 3_000)
            yield* store.end("gwrun:c", "a", 2_100)
          }
          const succeeded = [...outcomes.values()].filter((ok) => ok).length
          const progress = yield* store.progress("gwrun:c")
          expect(progress).toEqual({ total: count, succeeded, failed: outcomes.size - succeeded, cancelled, ended })
          expect(progress).toEqual(Runs.progressOf((yield* store.read("gwrun:c"))!))
        }),
      runsOf[backend.name]
    )

    it.live(`${backend.name}: an ended run lets go of its requests and its lines not answered, its answers kept`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const run = runOf("gwrun:e", 3)
        yield* started(store, run, 1_000)
        yield* store.answer("gwrun:e", "line-1", Result.succeed(replyOf("one")))
        yield* store.lease("gwrun:e", "a", 1_000, 2_000)
        yield* store.end("gwrun:e", "a", 1_100)
        expect(yield* store.read("gwrun:e")).toEqual({
          ...fresh(run),
          lines: [],
          answers: new Map([["line-1", Result.succeed(replyOf("one"))]]),
          ended: true
        })
        expect(yield* store.progress("gwrun:e")).toEqual({
          total: 3,
          succeeded: 1,
          failed: 0,
          cancelled: false,
          ended: true
        })
        // Its lines not answered take no answer now.
        expect(yield* store.answer("gwrun:e", "line-0", Result.succeed(replyOf("late")))).toBe(false)
      }).pipe(Effect.scoped))

    it.live(
      `${backend.name}: a maker's runs past its count let go of its oldest ended; refused while its running hold it`,
      () =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const count = bounds.ownerRuns
          yield* started(store, runOf("gwrun:b-0", 1, 500, "Hello", 100, "key-b"), 500)
          for (let i = 0; i < count; i++) yield* started(store, runOf(`gwrun:a-${i}`, 1, 1_000 + i), 1_000 + i)
          const now = 1_000 + count
          const refused = yield* Effect.flip(started(store, runOf("gwrun:a-new", 1, now), now))
          expect(refused).toMatchObject({ _tag: "RunsFull", bound: "ownerRuns", limit: count })
          expect(refused.message).toContain("ownerRuns")
          expect(yield* store.read("gwrun:a-new")).toBeUndefined()
          // One ended: the oldest ended is let go of for the new one; the other maker's is not.
          yield* store.lease("gwrun:a-5", "a", now, now + 1_000)
          yield* store.end("gwrun:a-5", "a", now)
          yield* started(store, runOf("gwrun:a-new", 1, now), now)
          expect(yield* store.read("gwrun:a-5")).toBeUndefined()
          expect(yield* store.read("gwrun:a-0")).toBeDefined()
          expect(yield* store.read("gwrun:a-new")).toBeDefined()
          expect(yield* store.read("gwrun:b-0")).toBeDefined()
        }).pipe(Effect.scoped),
      120_000
    )

    it.live(
      `${backend.name}: a maker's runs past its bytes refused while running; an ended one's requests let go of`,
      () =>
        Effect.gen(function*() {
          const store = yield* backend.store
          // Four runs of a line of a quarter of the bound less a little, each somewhat less than a quarter of the bytes.
          const text = "y".repeat(Math.floor(bounds.ownerRunBytes / 4) - 4096)
          for (let i = 0; i < 4; i++) yield* started(store, runOf(`gwrun:big-${i}`, 1, 1_000 + i, text), 1_000 + i)
          const refused = yield* Effect.flip(started(store, runOf("gwrun:big-new", 1, 2_000, text), 2_000))
          expect(refused).toMatchObject({ _tag: "RunsFull", bound: "ownerRunBytes", limit: bounds.ownerRunBytes })
          yield* store.lease("gwrun:big-0", "a", 2_000, 3_000)
          yield* store.end("gwrun:big-0", "a", 2_000)
          // Its requests let go of, it holds its custom ids only: the new one fits beside it.
          yield* started(store, runOf("gwrun:big-new", 1, 2_000, text), 2_000)
          expect(yield* store.read("gwrun:big-0")).toMatchObject({ customIds: ["line-0"], lines: [], ended: true })
        }).pipe(Effect.scoped),
      120_000
    )

    it.live(`${backend.name}: a run is forgotten with its batch's record, its answers with it`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* started(store, runOf("gwrun:old", 1), 1_000)
        yield* store.answer("gwrun:old", "line-0", Result.succeed(replyOf("old")))
        // On its last instant, then past it.
        yield* started(store, runOf("gwrun:new", 1, 1_000 + month), 1_000 + month)
        expect(yield* store.read("gwrun:old")).toBeDefined()
        yield* started(store, runOf("gwrun:newer", 1, 1_001 + month), 1_001 + month)
        expect(yield* store.read("gwrun:old")).toBeUndefined()
        expect(yield* store.progress("gwrun:old")).toBeUndefined()
        // Started again under its id, it holds no answer of the one forgotten.
        yield* started(store, runOf("gwrun:old", 1, 1_001 + month), 1_001 + month)
        expect((yield* store.read("gwrun:old"))?.answers.size).toBe(0)
        expect(yield* store.progress("gwrun:old")).toMatchObject({ total: 1, succeeded: 0, failed: 0 })
        expect(yield* store.read("gwrun:new")).toBeDefined()
      }).pipe(Effect.scoped))
  })
