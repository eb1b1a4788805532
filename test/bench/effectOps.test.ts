import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { countOps } from "../../bench/effectOps.js"

describe("bench/effectOps", () => {
  it("counts the operations a fiber evaluates, and a turn each time it runs until it ends or waits", async () => {
    const counted = countOps()
    const before = counted()
    Effect.runSync(Effect.flatMap(Effect.succeed(1), (n) => Effect.succeed(n + 1)))
    const sync = counted()
    expect(sync.turns - before.turns).toBe(1)
    expect(sync.ops - before.ops).toBe(3)
    // A wait and its resumption: two turns.
    await Effect.runPromise(Effect.callback<number>((resume) => {
      setTimeout(() => resume(Effect.succeed(1)), 1)
    }))
    const waited = counted()
    expect(waited.turns - sync.turns).toBe(2)
    expect(waited.ops - sync.ops).toBeGreaterThan(0)
  })
})
