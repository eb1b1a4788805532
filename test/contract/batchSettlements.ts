/**
 * The contract every backend of the batches' settlements (`batches/settlements.ts`' `SettlementStore`) keeps, run
 * against each (`test/gateway/batchSettlements.test.ts`: SQLite, Postgres and Redis), and the settling of a
 * batch over it (`batches/settlement.ts`): a batch recorded open once and listed until it is settled, the oldest first,
 * its last status kept by the close that settles it (any status, any counts); one holder
 * of a batch's lease at a time, taken again when it lapsed or was given up, none once the batch is settled; a line
 * recorded settled once; several instances settling one batch at once, or one taking up a settling another left
 * mid-way (interrupted, or dead with its lease), log each line once and charge the batch's hold on its key's budget
 * once, with the lines' cost, wherever the settling stopped; the batches settled long ago forgotten; and for any
 * result (lines missing, repeated, failed, expired or cancelled) the lines logged are the distinct answered lines and
 * the budget's spend their cost at the batch price, however often it is settled.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import * as Budget from "../../src/Budget.js"
import { type ChatResponse, emptyUsage } from "../../src/ChatResponse.js"
import * as Settlement from "../../src/internal/gateway/batches/settlement.js"
import type * as Settlements from "../../src/internal/gateway/batches/settlements.js"
import { ProviderUnavailableError } from "../../src/LlmError.js"
import * as Pricing from "../../src/Pricing.js"
import type { BatchLine } from "../../src/ProviderClient.js"
import { effectProp } from "../utils/effectProp.js"
import { eventually } from "../utils/eventually.js"
import type { StoreBackend } from "../utils/sqlDatabases.js"
import { leaseProperty, type Leasing } from "./lease.js"

/** The runs of the properties: fewer on the backends whose steps are slower. */
const runsOf = { SQLite: 20, Postgres: 10, Redis: 20 } as const

/** A backend of the store: its name, and its service, each time the effect runs a new one. */
export interface Backend {
  readonly name: keyof typeof runsOf
  readonly store: StoreBackend<Settlements.Settlements>["store"]
}

/** The last status a settling below records: a batch completed, its lines' counts. */
const completed = (total: number): Settlements.LastStatus => ({
  state: "completed",
  total,
  succeeded: total,
  failed: 0
})

/** Any last status a provider may end a batch with, and any counts. */
const lastStatus = fc.record({
  state: fc.constantFrom<Settlements.LastStatus["state"]>("completed", "expired", "cancelled", "refused", "running"),
  total: fc.nat({ max: 100_000 }),
  succeeded: fc.nat({ max: 100_000 }),
  failed: fc.nat({ max: 100_000 })
})

/** gpt-4o-mini's price, whose batch tier is half of it. */
const price = Pricing.lookup("gpt-4o-mini")!

const reply = (promptTokens: number, completionTokens: number): ChatResponse => ({
  id: "chatcmpl-1",
  text: "Hello",
  toolCalls: [],
  finishReason: "stop",
  usage: { ...emptyUsage, promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
  provider: "openai",
  model: "gpt-4o-mini",
  latency: Duration.zero
})

/** One line of a result: answered (with its tokens), failed, expired or cancelled. */
type Kind = "answered" | "failed" | "expired" | "cancelled"

const lineOf = (index: number, kind: Kind, tokens: number): BatchLine => ({
  customId: `req-${index}`,
  position: index,
  outcome: kind === "answered"
    ? Result.succeed(reply(tokens, tokens * 2))
    : kind === "failed"
    ? Result.fail(new ProviderUnavailableError({ provider: "openai", model: "gpt-4o-mini" }))
    : kind
})

/** A batch's lines, and its result file: each line left out, written once or written twice. */
const result = fc.array(
  fc.record({
    kind: fc.constantFrom<Kind>("answered", "answered", "failed", "expired", "cancelled"),
    tokens: fc.integer({ min: 1, max: 5_000 }),
    written: fc.constantFrom(0, 1, 1, 2)
  }),
  { maxLength: 12 }
).map((lines) => ({
  lines,
  file: lines.flatMap(({ kind, tokens, written }, index) =>
    Array.from({ length: written }, () => lineOf(index, kind, tokens))
  )
}))

/** The cost of a line of `tokens` prompt tokens at the batch price. */
const batchCost = (tokens: number) =>
  Pricing.cost(price, { ...reply(tokens, tokens * 2).usage, serviceTier: Pricing.batchTier })!

/** What a settling writes: each line logged, by custom id, the batch's end noted, and the hold's charge on its budget. */
interface Books {
  readonly logged: Array<Settlement.Billed>
  readonly log: Settlement.Settling["logged"]
  /** How often the batch's end was noted. */
  readonly ends: { count: number }
  readonly ended: Settlement.Settling["ended"]
  readonly charged: Settlement.Settling["charged"]
  /** The batch's worst case, held on the budget as the gateway holds it when the batch is made. */
  readonly hold: Budget.Hold
  /** The budget's spend and what it holds. */
  readonly levels: Effect.Effect<{ readonly spent: number; readonly reserved: number }>
}

/** A key's budget (of $1,000, in a window no run crosses) holding a batch's worst case of `worst`. */
const books = (worst = 100): Effect.Effect<Books> =>
  Effect.gen(function*() {
    const budget = yield* Budget.make({ limits: [{ scope: Budget.overall, limit: 1_000, period: "36500 days" }] })
    const hold = yield* budget.hold({ estimate: worst }, { id: `hold-${randomUUID()}`, until: Number.MAX_SAFE_INTEGER })
    const logged: Array<Settlement.Billed> = []
    const ends = { count: 0 }
    return {
      logged,
      log: (line: Settlement.Billed) => Effect.sync(() => void logged.push(line)),
      ends,
      ended: Effect.sync(() => void ends.count++),
      charged: budget.settleHold,
      hold,
      levels: Effect.map(budget.status, ([status]) => ({ spent: status!.spent, reserved: status!.reserved }))
    }
  }).pipe(Effect.provide(Budget.layerStoreMemory), Effect.orDie)

const settling = (
  store: Settlements.Settlements,
  holder: string,
  { charged, ended, log }: Pick<Books, "log" | "charged"> & Partial<Pick<Books, "ended">>,
  batch = "batch_gw1.test",
  last = completed(0)
): Settlement.Settling => ({ store, batch, holder, last, logged: log, ended: ended ?? Effect.void, charged })

const costOf = (lines: ReadonlyArray<Settlement.Billed>) => lines.reduce((sum, line) => sum + line.cost, 0)

export const batchSettlementsContract = (backend: Backend) =>
  describe(`batches' settlements store contract: ${backend.name}`, () => {
    it.live(`${backend.name}: a batch is recorded open once, listed the oldest first until it is settled`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* store.open({ id: "batch-b", openedAt: 2_000 })
        yield* store.open({ id: "batch-a", openedAt: 1_000 })
        yield* store.open({ id: "batch-c", openedAt: 3_000 })
        // Again, later: the first record stays.
        yield* store.open({ id: "batch-b", openedAt: 9_000 })
        expect(yield* store.opened).toEqual([
          { id: "batch-a", openedAt: 1_000 },
          { id: "batch-b", openedAt: 2_000 },
          { id: "batch-c", openedAt: 3_000 }
        ])
        // Recorded settled once: a second close (another instance's, racing) is told it was settled already.
        expect(yield* store.close("batch-a", 5_000, completed(3))).toBe(true)
        expect(yield* store.close("batch-a", 5_500, completed(4))).toBe(false)
        expect(yield* store.close("batch-none", 5_000, completed(3))).toBe(false)
        expect((yield* store.opened).map((batch) => batch.id)).toEqual(["batch-b", "batch-c"])
        // Closed is closed: opening it again does not reopen it.
        yield* store.open({ id: "batch-a", openedAt: 6_000 })
        expect((yield* store.opened).map((batch) => batch.id)).toEqual(["batch-b", "batch-c"])
        expect(yield* store.settled("batch-a")).toEqual({
          lines: new Map(),
          hold: undefined,
          closed: true,
          settledAt: 5_000,
          last: completed(3)
        })
        expect(yield* store.settled("batch-none")).toBeUndefined()
        // A batch's hold on its key's budget, kept with its record for any instance to settle.
        const hold: Budget.Hold = { id: "hold-1", estimate: 0.125, at: 1_000, until: 2_000_000_000_000 }
        yield* store.open({ id: "batch-held", openedAt: 4_000, hold })
        expect(yield* store.settled("batch-held")).toEqual({
          lines: new Map(),
          hold,
          closed: false,
          settledAt: undefined,
          last: undefined
        })
      }).pipe(Effect.scoped))

    effectProp(
      `${backend.name}: a batch's last status, any state and counts, is kept by the close that settles it, not another`,
      fc.tuple(lastStatus, lastStatus, fc.integer({ min: 1, max: 2 ** 42 }), fc.integer({ min: 0, max: 2 ** 42 })),
      ([last, later, settledAt, laterAt]) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          yield* store.open({ id: "batch-last", openedAt: 1_000 })
          expect((yield* store.settled("batch-last"))?.last).toBeUndefined()
          expect(yield* store.close("batch-last", settledAt, last)).toBe(true)
          expect(yield* store.close("batch-last", laterAt, later)).toBe(false)
          expect(yield* store.settled("batch-last")).toEqual({
            lines: new Map(),
            hold: undefined,
            closed: true,
            settledAt,
            last
          })
        }).pipe(Effect.scoped, Effect.orDie),
      runsOf[backend.name]
    )

    it.live(`${backend.name}: one holder of a batch's lease at a time, taken again once lapsed or given up`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        expect(yield* store.lease("batch-x", "one", 1_000, 2_000)).toBe(false)
        yield* store.open({ id: "batch-x", openedAt: 1_000 })
        expect(yield* store.lease("batch-x", "one", 1_000, 2_000)).toBe(true)
        expect(yield* store.lease("batch-x", "two", 1_999, 3_000)).toBe(false)
        // Renewed by its holder; lapsed, taken by another.
        expect(yield* store.lease("batch-x", "one", 1_500, 4_000)).toBe(true)
        expect(yield* store.lease("batch-x", "two", 3_999, 5_000)).toBe(false)
        expect(yield* store.lease("batch-x", "two", 4_000, 5_000)).toBe(true)
        expect(yield* store.lease("batch-x", "one", 4_500, 6_000)).toBe(false)
        // Given up by one that does not hold it: nothing; by its holder: free.
        yield* store.unlease("batch-x", "one")
        expect(yield* store.lease("batch-x", "one", 4_500, 6_000)).toBe(false)
        yield* store.unlease("batch-x", "two")
        expect(yield* store.lease("batch-x", "one", 4_500, 6_000)).toBe(true)
        yield* store.close("batch-x", 5_000, completed(1))
        expect(yield* store.lease("batch-x", "one", 5_000, 7_000)).toBe(false)
        expect(yield* store.lease("batch-x", "two", 9_000, 10_000)).toBe(false)
      }).pipe(Effect.scoped))

    leaseProperty(
      `${backend.name}: a batch's settling`,
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* store.open({ id: "batch-leased", openedAt: 1_000 })
        const leasing: Leasing = {
          take: (holder, now, until) => store.lease("batch-leased", holder, now, until),
          giveUp: (holder) => store.unlease("batch-leased", holder)
        }
        return leasing
      }),
      runsOf[backend.name]
    )

    it.live(`${backend.name}: a line is recorded settled once, and only of a batch recorded open`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        expect(yield* store.settleLine("batch-y", "req-0", 0.5)).toBe(false)
        yield* store.open({ id: "batch-y", openedAt: 1_000 })
        expect(yield* store.settleLine("batch-y", "req-0", 0.5)).toBe(true)
        expect(yield* store.settleLine("batch-y", "req-0", 0.7)).toBe(false)
        expect(yield* store.settleLine("batch-y", "req-1", 0.25)).toBe(true)
        expect(yield* store.settled("batch-y")).toEqual({
          lines: new Map([["req-0", 0.5], ["req-1", 0.25]]),
          hold: undefined,
          closed: false,
          settledAt: undefined,
          last: undefined
        })
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: instances racing for one batch's lease: one takes it`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        yield* store.open({ id: "batch-race", openedAt: 1_000 })
        const taken = yield* Effect.forEach(
          ["a", "b", "c", "d"],
          (holder) => store.lease("batch-race", holder, 1_000, 60_000),
          { concurrency: "unbounded" }
        )
        expect(taken.filter((held) => held)).toHaveLength(1)
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: three instances settling one batch at once charge each line once`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const lines = Settlement.billed(Array.from({ length: 20 }, (_, i) => lineOf(i, "answered", 10 + i)), price)
        const kept = yield* books()
        yield* store.open({ id: "batch_gw1.test", openedAt: 1_000, hold: kept.hold })
        const charged = kept.logged
        // Each instance tries until the batch is settled, as retrieves and sweeps do, every 10 ms: the one holding the
        // lease settles it, the others leave it to that one until they read it settled.
        const instance = (holder: string) =>
          eventually(
            `the batch settled, as ${holder} reads it`,
            Effect.andThen(Settlement.settle(settling(store, holder, kept), lines), store.settled("batch_gw1.test")),
            (found) => found?.closed === true
          )
        yield* Effect.forEach(["a", "b", "c"], instance, { concurrency: "unbounded", discard: true })
        expect(charged.map((line) => line.customId).sort()).toEqual(lines.map((line) => line.customId).sort())
        expect((yield* store.settled("batch_gw1.test"))?.closed).toBe(true)
        // Settled: another settling charges nothing.
        expect(yield* Settlement.settle(settling(store, "d", kept), lines)).toBe("left")
        expect(charged).toHaveLength(20)
        // Its end noted once, by the one instance that recorded it settled.
        expect(kept.ends.count).toBe(1)
        const { reserved, spent } = yield* kept.levels
        expect(reserved).toBe(0)
        expect(spent).toBeCloseTo(costOf(lines), 12)
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: a settling interrupted mid-way, taken up by another instance, charges each line once`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const lines = Settlement.billed(Array.from({ length: 10 }, (_, i) => lineOf(i, "answered", 100)), price)
        const kept = yield* books()
        yield* store.open({ id: "batch_gw1.test", openedAt: 1_000, hold: kept.hold })
        const charged = kept.logged
        const fourth = yield* Deferred.make<void>()
        const go = yield* Deferred.make<void>()
        // The first instance is at its fourth line's log (the line's record and log are one uninterruptible step)
        // when it is interrupted: it stops after that line.
        const stalling = (line: Settlement.Billed) =>
          Effect.andThen(
            kept.log(line),
            Effect.suspend(() =>
              charged.length === 4
                ? Effect.andThen(Deferred.succeed(fourth, undefined), Deferred.await(go))
                : Effect.void
            )
          )
        const first = yield* Effect.forkChild(
          Settlement.settle(settling(store, "first", { log: stalling, charged: kept.charged }), lines)
        )
        yield* Deferred.await(fourth)
        // While it holds the lease, another instance leaves the batch to it.
        expect(yield* Settlement.settle(settling(store, "second", kept), lines)).toBe("left")
        const interrupted = yield* Effect.forkChild(Fiber.interrupt(first))
        // The interruption asked for (the fiber forked runs first), then the fourth line let go.
        yield* Effect.yieldNow
        yield* Deferred.succeed(go, undefined)
        yield* Fiber.join(interrupted)
        expect(charged).toHaveLength(4)
        // Nothing charged yet: the budget still holds the worst case.
        expect(yield* kept.levels).toEqual({ spent: 0, reserved: 100 })
        expect(yield* Settlement.settle(settling(store, "second", kept), lines)).toBe("settled")
        expect(charged.map((line) => line.customId).sort()).toEqual(lines.map((line) => line.customId).sort())
        const { reserved, spent } = yield* kept.levels
        expect(reserved).toBe(0)
        expect(spent).toBeCloseTo(costOf(lines), 12)
      }).pipe(Effect.scoped))

    it.live(
      `${backend.name}: an instance killed before or after the budget's charge, its batch settled by another: ` +
        "charged once",
      () =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const lines = Settlement.billed(Array.from({ length: 6 }, (_, i) => lineOf(i, "answered", 100 + i)), price)
          for (const killed of ["before", "after"] as const) {
            const batch = `batch_gw1.killed-${killed}`
            const kept = yield* books()
            yield* store.open({ id: batch, openedAt: 1_000, hold: kept.hold })
            const reached = yield* Deferred.make<void>()
            // The first instance recorded and logged every line, and is killed at the budget's charge: before it
            // is made, or once it is made and before the batch is recorded settled.
            const stalled: Settlement.Settling["charged"] = (hold, cost) =>
              Effect.andThen(
                killed === "before" ? Effect.void : kept.charged(hold, cost),
                Effect.andThen(Deferred.succeed(reached, undefined), Effect.never)
              )
            const first = yield* Effect.forkChild(
              Settlement.settle(settling(store, "first", { log: kept.log, charged: stalled }, batch), lines)
            )
            yield* Deferred.await(reached)
            yield* Fiber.interrupt(first)
            expect((yield* store.settled(batch))?.closed).toBe(false)
            expect((yield* kept.levels).reserved).toBe(killed === "before" ? 100 : 0)
            // Another instance takes it up once the lease is given up (an interruption gives it up).
            expect(yield* Settlement.settle(settling(store, "second", kept, batch), lines)).toBe("settled")
            expect(kept.logged.map((line) => line.customId)).toEqual(lines.map((line) => line.customId))
            const { reserved, spent } = yield* kept.levels
            expect(reserved).toBe(0)
            expect(spent).toBeCloseTo(costOf(lines), 12)
          }
        }).pipe(Effect.scoped)
    )

    it.live(`${backend.name}: the batches settled before an instant are forgotten, with their lines; others kept`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        for (const id of ["batch-old", "batch-new", "batch-open"]) yield* store.open({ id, openedAt: 1_000 })
        yield* store.settleLine("batch-old", "req-0", 0.5)
        yield* store.settleLine("batch-new", "req-0", 0.25)
        yield* store.close("batch-old", 2_000, completed(1))
        yield* store.close("batch-new", 4_000, completed(1))
        yield* store.forget(3_000)
        expect(yield* store.settled("batch-old")).toBeUndefined()
        expect(yield* store.settled("batch-new")).toEqual({
          lines: new Map([["req-0", 0.25]]),
          hold: undefined,
          closed: true,
          settledAt: 4_000,
          last: completed(1)
        })
        expect((yield* store.opened).map((batch) => batch.id)).toEqual(["batch-open"])
        // Forgotten is as never recorded: nothing is settled of it.
        expect(yield* store.lease("batch-old", "one", 5_000, 6_000)).toBe(false)
        expect(yield* store.settleLine("batch-old", "req-1", 0.5)).toBe(false)
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: every batch settled before an instant is forgotten, however many`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        // More than a Redis script lets go of at once, twice over.
        const ids = Array.from({ length: 250 }, (_, i) => `batch-many-${i}`)
        for (const [i, id] of ids.entries()) {
          yield* store.open({ id, openedAt: 1_000 })
          yield* store.settleLine(id, "req-0", 0.5)
          yield* store.close(id, 2_000 + i, completed(1))
        }
        yield* store.forget(2_000 + 240)
        const kept = yield* Effect.forEach(ids, (id) => store.settled(id))
        expect(kept.map((found) => found?.settledAt)).toEqual(
          ids.map((_, i) => i < 240 ? undefined : 2_000 + i)
        )
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: a batch not recorded open in the store is left, nothing charged`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const kept = yield* books()
        const lines = Settlement.billed([lineOf(0, "answered", 10)], price)
        expect(yield* Settlement.settle(settling(store, "one", kept), lines)).toBe("left")
        expect(kept.logged).toEqual([])
        expect(yield* kept.levels).toEqual({ spent: 0, reserved: 100 })
        expect(yield* store.settled("batch_gw1.test")).toBeUndefined()
      }).pipe(Effect.scoped))

    it.live(`${backend.name}: a holder that died leaves its batch once its lease lapsed, not before`, () =>
      Effect.gen(function*() {
        const store = yield* backend.store
        const lines = Settlement.billed([lineOf(0, "answered", 10), lineOf(1, "answered", 20)], price)
        const kept = yield* books()
        yield* store.open({ id: "batch_gw1.test", openedAt: 1_000, hold: kept.hold })
        // It settled the first line and died, its lease held until far off.
        yield* store.settleLine("batch_gw1.test", "req-0", lines[0]!.cost)
        expect(yield* store.lease("batch_gw1.test", "dead", 1_000, Number.MAX_SAFE_INTEGER)).toBe(true)
        expect(yield* Settlement.settle(settling(store, "alive", kept), lines)).toBe("left")
        expect(kept.logged).toEqual([])
        // Its lease lapsed (at the epoch's first instants).
        expect(yield* store.lease("batch_gw1.test", "dead", 1_000, 2_000)).toBe(true)
        expect(yield* Settlement.settle(settling(store, "alive", kept), lines)).toBe("settled")
        expect(kept.logged.map((line) => line.customId)).toEqual(["req-1"])
        // The budget charged both lines: the one the dead instance recorded too.
        expect((yield* kept.levels).spent).toBeCloseTo(costOf(lines), 12)
      }).pipe(Effect.scoped))

    effectProp(
      `${backend.name}: a result with lines missing, repeated and failed charges each distinct answered line's batch ` +
        "price once, however often settled",
      fc.tuple(result, fc.integer({ min: 1, max: 3 }), lastStatus),
      ([{ file, lines }, times, last]) =>
        Effect.gen(function*() {
          const store = yield* backend.store
          const kept = yield* books()
          const charged = kept.logged
          const billed = Settlement.billed(file, price)
          yield* store.open({ id: "batch_gw1.test", openedAt: 1_000, hold: kept.hold })
          for (let i = 0; i < times; i++) {
            yield* Settlement.settle(settling(store, `instance-${i}`, kept, "batch_gw1.test", last), billed)
          }
          const expected = lines.flatMap(({ kind, tokens, written }, index) =>
            kind === "answered" && written > 0 ? [{ customId: `req-${index}`, cost: batchCost(tokens) }] : []
          )
          expect(charged.map(({ cost, customId }) => ({ customId, cost }))).toEqual(expected)
          const total = charged.reduce((sum, line) => sum + line.cost, 0)
          expect(total).toBeCloseTo(expected.reduce((sum, line) => sum + line.cost, 0), 12)
          for (const line of charged) expect(line.usage.serviceTier).toBe(Pricing.batchTier)
          const recorded = yield* store.settled("batch_gw1.test")
          expect(recorded?.closed).toBe(true)
          expect(recorded?.last).toEqual(last)
          expect(kept.ends.count).toBe(1)
          expect([...recorded!.lines.keys()].sort()).toEqual(expected.map((line) => line.customId).sort())
          // The budget: the lines' cost spent, nothing held.
          const levels = yield* kept.levels
          expect(levels.reserved).toBe(0)
          expect(levels.spent).toBeCloseTo(total, 12)
        }).pipe(Effect.orDie),
      runsOf[backend.name]
    )
  })
