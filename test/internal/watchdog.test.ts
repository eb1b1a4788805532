/**
 * The `Clock`'s one watchdog (`time/watchdog`): every bound in flight in one
 * heap, one fiber sleeping until the soonest. Bounds fire at their own times
 * whatever order they are kept and dropped in, and nothing stays pending once
 * none is kept.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"
import * as TestClock from "effect/testing/TestClock"
import * as fc from "fast-check"
import { countOps } from "../../bench/effectOps.js"
import { type Bound, bounded, timeoutFail, until, Watchdog, watchdogOf } from "../../src/internal/time/watchdog.js"

const late = (millis: number) => Effect.as(Effect.sleep(Duration.millis(millis)), "done" as const)

describe("watchdog", () => {
  it.effect("a bound interrupts its work at its own time and fails with its reason", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(bounded(late(5_000), until(1_000, "late"), (reason) => reason))
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const exit = yield* Fiber.await(fiber)
      assert.deepStrictEqual(exit, Exit.fail("late"))
    }))

  it.effect("work that ends first is its own answer, and its bound goes with it", () =>
    Effect.gen(function*() {
      const answer = yield* Effect.forkChild(timeoutFail(late(10), Duration.seconds(1), () => "timeout"))
      yield* TestClock.adjust("10 millis")
      assert.deepStrictEqual<Exit.Exit<string, string>>(yield* Fiber.await(answer), Exit.succeed("done"))
      // A later bound, once the earlier is gone, fires at its own time, not the dropped one's.
      const slow = yield* Effect.forkChild(timeoutFail(late(60_000), Duration.seconds(30), () => "timeout"))
      yield* TestClock.adjust("29 seconds")
      assert.isUndefined(slow.pollUnsafe())
      yield* TestClock.adjust("1 seconds")
      assert.deepStrictEqual(yield* Fiber.await(slow), Exit.fail("timeout"))
    }))

  it.effect("a bound looked at early says when to look again, and is looked at then", () =>
    Effect.gen(function*() {
      const watchdog = yield* Effect.withFiber((fiber) => Effect.succeed(watchdogOf(fiber)))
      const clock = watchdog.clock
      const looks: Array<number> = []
      // Moves its own limit on at each look until 3 000, like an idle limit whose stream keeps reading.
      const moving: Bound<"idle"> = {
        check: (now) => {
          looks.push(now)
          return now >= 3_000 ? "idle" : now + 1_000
        }
      }
      let passedAt: number | undefined
      watchdog.keep(moving, () => passedAt = clock.currentTimeMillisUnsafe())
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(looks, [0, 1_000, 2_000, 3_000])
      assert.strictEqual(passedAt, 3_000)
    }))

  it.effect(
    "many bounds kept and dropped in any order each fire exactly when due, and only if kept",
    () =>
      Effect.gen(function*() {
        const watchdog = yield* Effect.withFiber((fiber) => Effect.succeed(watchdogOf(fiber)))
        const clock = watchdog.clock
        const samples = fc.sample(
          fc.array(
            fc.record({
              at: fc.integer({ min: 1, max: 1_000 }),
              dropAt: fc.option(fc.integer({ min: 0, max: 1_000 }))
            }),
            {
              minLength: 1,
              maxLength: 40
            }
          ),
          { numRuns: 40, seed: 27 }
        )
        for (const bounds of samples) {
          const base = clock.currentTimeMillisUnsafe()
          const fired = new Map<number, number>()
          const drops = bounds.map((bound, i) =>
            watchdog.keep(until(base + bound.at, `${i}`), (index) =>
              fired.set(Number(index), clock.currentTimeMillisUnsafe()))
          )
          for (let t = 0; t <= 1_000; t += 1) {
            bounds.forEach((bound, i) => {
              if (bound.dropAt === t) {
                drops[i]!()
              }
            })
            yield* TestClock.adjust("1 millis")
          }
          bounds.forEach((bound, i) => {
            const dropped = bound.dropAt !== null && bound.dropAt < bound.at
            assert.strictEqual(
              fired.get(i),
              dropped ? undefined : base + bound.at,
              `bound ${i} of ${JSON.stringify(bounds)} at ${base}: ${JSON.stringify([...fired])}`
            )
          })
        }
      }),
    60_000
  )

  it("with every bound dropped, no sleep of the watchdog is left on the clock", () => {
    let pending = 0
    const clock: Clock.Clock = {
      currentTimeMillisUnsafe: () => 0,
      currentTimeMillis: Effect.succeed(0),
      currentTimeNanosUnsafe: () => 0n,
      currentTimeNanos: Effect.succeed(0n),
      monotonicTimeNanosUnsafe: () => 0n,
      monotonicTimeNanos: Effect.succeed(0n),
      sleep: () =>
        Effect.callback<void>(() => {
          pending += 1
          return Effect.sync(() => pending -= 1)
        })
    }
    const watchdog = new Watchdog(clock, new Scheduler.MixedScheduler())
    const first = watchdog.keep(until(60_000, "late"), () => assert.fail("a dropped bound fired"))
    const second = watchdog.keep(until(1_000, "sooner"), () => assert.fail("a dropped bound fired"))
    assert.strictEqual(pending, 1)
    first()
    assert.strictEqual(pending, 1)
    second()
    assert.strictEqual(pending, 0)
  })

  it("work that ends in the caller's turn is its own answer, or the bound's when it had passed, and no sleep starts", () => {
    const property = fc.property(
      fc.integer({ min: 0, max: 2_000 }),
      fc.integer({ min: 0, max: 2_000 }),
      fc.oneof(fc.integer().map(Exit.succeed), fc.string().map(Exit.fail)),
      (now, at, outcome) => {
        let sleeps = 0
        const clock: Clock.Clock = {
          currentTimeMillisUnsafe: () => now,
          currentTimeMillis: Effect.sync(() => now),
          currentTimeNanosUnsafe: () => BigInt(now) * 1_000_000n,
          currentTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
          monotonicTimeNanosUnsafe: () => BigInt(now) * 1_000_000n,
          monotonicTimeNanos: Effect.sync(() => BigInt(now) * 1_000_000n),
          sleep: () => Effect.callback<void>(() => void (sleeps += 1))
        }
        const work: Effect.Effect<number, string> = outcome
        const exit = Effect.runSyncExit(
          Effect.provideService(bounded(work, until(at, "late"), (reason) => reason), Clock.Clock, clock)
        )
        assert.deepStrictEqual<Exit.Exit<number, string>>(exit, now >= at ? Exit.fail("late") : outcome)
        assert.strictEqual(sleeps, 0)
      }
    )
    fc.assert(property, { numRuns: 500 })
  })

  it("a call's timeout is the one bound's mechanism: its operations over the work's are a bound's, whatever the work", () => {
    const counted = countOps()
    return fc.assert(
      fc.asyncProperty(
        fc.record({
          waits: fc.boolean(),
          fails: fc.boolean(),
          steps: fc.integer({ min: 0, max: 5 })
        }),
        async ({ fails, steps, waits }) => {
          const work = (): Effect.Effect<number, string> => {
            const end: Effect.Effect<number, string> = fails ? Effect.fail("failed") : Effect.succeed(0)
            let made: Effect.Effect<number, string> = waits
              ? Effect.flatMap(
                Effect.callback<void>((resume) => void setImmediate(() => resume(Effect.void))),
                () => end
              )
              : end
            for (let i = 0; i < steps; i++) made = Effect.map(made, (n) => n + 1)
            return made
          }
          const cost = async (effect: Effect.Effect<unknown, unknown>) => {
            const before = counted()
            await Effect.runPromise(Effect.exit(effect))
            const after = counted()
            return { ops: after.ops - before.ops, turns: after.turns - before.turns }
          }
          const alone = await cost(work())
          const timed = await cost(timeoutFail(work(), Duration.hours(1), () => "timeout"))
          const kept = await cost(bounded(work(), until(2 ** 52, "timeout"), () => "timeout"))
          assert.deepStrictEqual(
            { ops: timed.ops - alone.ops, turns: timed.turns - alone.turns },
            { ops: kept.ops - alone.ops, turns: kept.turns - alone.turns }
          )
        }
      ),
      { numRuns: 50 }
    )
  })
})
