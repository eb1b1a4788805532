/**
 * The limits a deployment learns from its streams (`router/learnedLimits`), over a memory store:
 * none before `minSamples`, never under the floor, and on a steady latency
 * the quantile of that latency times the factor, whatever came before.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as LearnedLimits from "../../src/internal/router/learnedLimits.js"
import * as Memory from "../../src/internal/router/stores/memory.js"

const settingsArb = fc.record({
  quantile: fc.double({ min: 0.01, max: 1, noNaN: true }),
  factor: fc.double({ min: 1, max: 10, noNaN: true }),
  floorMillis: fc.integer({ min: 0, max: 10_000 }),
  minSamples: fc.integer({ min: 1, max: 50 })
}).chain((settings) =>
  fc.integer({ min: settings.minSamples, max: 300 }).map((window): LearnedLimits.Settings => ({
    ...settings,
    window,
    initialFirstTokenMillis: undefined
  }))
)
const latency = fc.double({ min: 0, max: 120_000, noNaN: true })
// A deployment's learned limits over a memory store of its own, whose steps answer at once.
const learnedOf = (settings: LearnedLimits.Settings) =>
  Effect.runSync(LearnedLimits.make(settings, Memory.learnedLimitStore(), "deployment"))

// The call could go to another deployment: what was learned applies.
const anywhere = () => true
// The call has no other deployment to go to.
const nowhere = () => false

describe("learned limits", () => {
  it("none before minSamples streams, then never under the floor", () =>
    fc.assert(
      fc.property(settingsArb, fc.array(fc.tuple(latency, latency), { maxLength: 400 }), (settings, streams) => {
        const learned = learnedOf(settings)
        streams.forEach(([first, gap], i) => {
          learned.firstChunk.add(first)
          learned.gap.add(gap)
          const limits = learned.limits(anywhere)
          if (i + 1 < settings.minSamples) return assert.isUndefined(limits)
          assert(limits !== undefined)
          assert.isAtLeast(limits.firstToken!, settings.floorMillis)
          assert.isAtLeast(limits.idle!, settings.floorMillis)
          // The headers come before the first chunk: one limit bounds both.
          assert.strictEqual(limits.headers, limits.firstToken)
        })
      })
    ))

  it("never over the factor times the slowest stream in the window", () =>
    fc.assert(fc.property(settingsArb, fc.array(latency, { minLength: 1, maxLength: 400 }), (settings, samples) => {
      const learned = learnedOf(settings)
      samples.forEach((sample) => learned.firstChunk.add(sample))
      const firstToken = learned.limits(anywhere)?.firstToken
      if (samples.length < settings.minSamples) return assert.isUndefined(firstToken)
      const slowest = Math.max(...samples.slice(-settings.window))
      assert.isAtMost(firstToken!, Math.max(settings.floorMillis, slowest * settings.factor))
    })))

  it("converges on a steady latency: a window of it gives its limit, whatever came before", () =>
    fc.assert(fc.property(settingsArb, fc.array(latency, { maxLength: 400 }), latency, (settings, before, steady) => {
      const learned = learnedOf(settings)
      before.forEach((sample) => learned.firstChunk.add(sample))
      learned.limits(anywhere)
      for (let i = 0; i < settings.window; i++) learned.firstChunk.add(steady)
      assert.strictEqual(learned.limits(anywhere)?.firstToken, Math.max(settings.floorMillis, steady * settings.factor))
    })))

  it("the quantile is of the window's samples: a 0.5 quantile of 1..100 is 50", () => {
    const learned = learnedOf({
      quantile: 0.5,
      factor: 1,
      floorMillis: 0,
      minSamples: 1,
      window: 100,
      initialFirstTokenMillis: undefined
    })
    for (let i = 100; i >= 1; i--) learned.firstChunk.add(i)
    assert.strictEqual(learned.limits(anywhere)?.firstToken, 50)
    assert.isUndefined(learned.limits(anywhere)?.idle)
  })

  it("before its first-token limit is learned, an attempt that could go elsewhere has the initial one; the last none, learned or not", () => {
    const learned = learnedOf(LearnedLimits.resolve(undefined)!)
    assert.deepStrictEqual(learned.limits(() => true), { headers: 15_000, firstToken: 15_000, idle: undefined })
    assert.isUndefined(learned.limits(nowhere))
    // Once learned, its own where the call could go elsewhere; the last deployment keeps its adapter's limits.
    for (let i = 0; i < 20; i++) learned.firstChunk.add(1_000)
    assert.strictEqual(learned.limits(anywhere)?.firstToken, 4_000)
    assert.strictEqual(learned.learnedLimit("firstChunk"), 4_000)
    assert.isUndefined(learned.limits(nowhere))
    const off = learnedOf(LearnedLimits.resolve({ initialFirstToken: false })!)
    assert.isUndefined(off.limits(() => true))
  })

  it("resolves the defaults, and off is off", () => {
    assert.deepStrictEqual(LearnedLimits.resolve(undefined), LearnedLimits.defaults)
    assert.deepStrictEqual(LearnedLimits.resolve({ floor: "5 seconds", minSamples: 300 }), {
      ...LearnedLimits.defaults,
      floorMillis: 5_000,
      minSamples: 300,
      window: 300
    })
    assert.isUndefined(LearnedLimits.resolve(false))
  })
})
