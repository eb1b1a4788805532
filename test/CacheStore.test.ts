import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/testing/TestClock"
import * as CacheStore from "../src/CacheStore.js"
import * as LlmTest from "../src/LlmTest.js"

const reply = (text: string) => LlmTest.reply(text)
const textOf = (found: Option.Option<{ readonly text: string }>) =>
  Option.getOrUndefined(Option.map(found, (r) => r.text))

// What every backend does is its contract (CacheStoreContract.test.ts); here, what only memory has: a capacity.
describe("CacheStore.layerMemory", () => {
  it.effect("at capacity, storing evicts the least recently used; a read counts as a use", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory({ capacity: 3 })
      for (const k of ["a", "b", "c"]) yield* store.set(k, reply(k), "1 hour")
      yield* store.get("a") // order of use: b, c, a
      yield* store.set("d", reply("d"), "1 hour") // evicts b
      expect(yield* store.get("b")).toStrictEqual(Option.none())
      yield* store.set("c", reply("c2"), "1 hour") // rewriting is a use: a, d, c
      yield* store.set("e", reply("e"), "1 hour") // evicts a
      expect(yield* store.get("a")).toStrictEqual(Option.none())
      expect([textOf(yield* store.get("c")), textOf(yield* store.get("d")), textOf(yield* store.get("e"))])
        .toStrictEqual([
          "c2",
          "d",
          "e"
        ])
      expect(yield* store.size).toBe(3)
    }))

  it.effect("at capacity, expired entries go before any live one", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.makeMemory({ capacity: 2 })
      yield* store.set("old", reply("old"), "1 hour")
      yield* store.set("brief", reply("brief"), "1 second")
      yield* TestClock.adjust("2 seconds")
      yield* store.set("new", reply("new"), "1 hour")
      expect(textOf(yield* store.get("old"))).toBe("old")
      expect(textOf(yield* store.get("new"))).toBe("new")
    }))

  it.effect("a capacity that is not a positive whole number fails with OptionsError naming it", () =>
    Effect.gen(function*() {
      const zero = yield* Effect.flip(CacheStore.makeMemory({ capacity: 0 }))
      expect(zero).toMatchObject({ _tag: "OptionsError", module: "CacheStore", option: "capacity", value: "0" })
      expect(zero.message).toBe("CacheStore: capacity must be a positive integer, got 0")
      const layered = yield* Effect.flip(Effect.scoped(Layer.build(CacheStore.layerMemory({ capacity: 2.5 }))))
      expect(layered).toMatchObject({ _tag: "OptionsError", option: "capacity", value: "2.5" })
    }))
})
