import { describe, expect, it } from "@effect/vitest"
import {
  firstTextOf,
  type Measured,
  repeatsOf,
  resultOf,
  roundOf,
  type Seen,
  stallMillis,
  streamCounts,
  warmupsOf
} from "../../bench/cases/streamCapacity.js"

const read = (firstByteMillis: number, longestGapMillis: number): Seen => ({
  _tag: "Read",
  firstByteMillis,
  longestGapMillis
})

describe("bench/cases/streamCapacity", () => {
  it("a stream is stall-free when no gap passes the stall bound; a failed one is neither stall-free nor timed", () => {
    const round = roundOf([
      read(10, 20),
      read(30, stallMillis),
      read(20, stallMillis + 1),
      { _tag: "Failed", error: "socket hang up" }
    ])
    expect(round).toEqual({ streams: 4, stallFree: 2, failed: 1, firstByteP50: 20, firstByteP99: 30 })
  })

  it("the counts are STREAM_CAPACITY_COUNTS' whole numbers, else 512 and 768; anything else is refused", () => {
    expect(streamCounts(undefined)).toEqual([512, 768])
    expect(streamCounts("")).toEqual([512, 768])
    expect(streamCounts("64, 256")).toEqual([64, 256])
    expect(() => streamCounts("64,many")).toThrow(/STREAM_CAPACITY_COUNTS/)
    expect(() => streamCounts("0")).toThrow(/positive whole numbers/)
  })

  it("a count's result is the median of its repeats, every side's ratios to the pass-through with their ranges", () => {
    const measured = (stallFree: number, firstByte: number, cpuMicros: number): Measured => ({
      round: { streams: 512, stallFree, failed: 0, firstByteP50: firstByte, firstByteP99: firstByte * 2 },
      cpuMicros,
      wallMicros: 4e6,
      delay: { p50: 10, p99: 50, max: 100 }
    })
    const same = measured(512, 300, 2e6)
    const result = resultOf(512, [
      {
        ours: measured(512, 600, 3e6),
        baseline: measured(512, 300, 2e6),
        floor: same,
        decoder: same,
        engine: same,
        control: same
      },
      {
        ours: measured(500, 900, 5e6),
        baseline: measured(510, 450, 2.5e6),
        floor: same,
        decoder: same,
        engine: measured(510, 600, 3e6),
        control: measured(510, 450, 2.5e6)
      },
      {
        ours: measured(256, 300, 4e6),
        baseline: measured(512, 300, 2e6),
        floor: same,
        decoder: same,
        engine: same,
        control: same
      }
    ])
    expect(result).toMatchObject({
      name: "stream-capacity-512",
      repeats: 3,
      baseline: { stall_free: 512, first_byte_p50_ms: 300, first_byte_p99_ms: 600, cpu_s: 2, busy: 0.5 },
      ours: {
        stall_free: 500,
        stall_free_ratio: 0.98,
        stall_free_ratio_range: [0.5, 1],
        first_byte_p50_ms: 600,
        first_byte_p50_ratio: 2,
        first_byte_p50_ratio_range: [1, 2],
        first_byte_p99_ms: 1200,
        first_byte_p99_ratio: 2,
        first_byte_p99_ratio_range: [1, 2],
        cpu_s: 4,
        busy: 1,
        cpu_ratio: 2,
        cpu_ratio_range: [1.5, 2]
      },
      floor: { stall_free_ratio: 1, first_byte_p50_ratio: 1, cpu_ratio: 1, cpu_ratio_range: [0.8, 1] },
      engine: { stall_free_ratio: 1, first_byte_p50_ratio: 1, cpu_ratio: 1, cpu_ratio_range: [1, 1.2] },
      control: { stall_free_ratio: 1, first_byte_p50_ratio: 1, cpu_ratio: 1, cpu_ratio_range: [1, 1] }
    })
  })

  it("a stream's first text is the first event whose delta carries text, however the reads split it", () => {
    const events = [
      `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
      `data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
      `data: [DONE]`
    ].map((event) => `${event}\n\n`).join("")
    const roleEnds = events.indexOf("\n\n") + 2
    for (const cut of [roleEnds, roleEnds + 20]) {
      const push = firstTextOf()
      expect(push(events.slice(0, cut))).toBe(false)
      expect(push(events.slice(cut))).toBe(true)
    }
    expect(firstTextOf()(events.slice(0, roleEnds) + "data: [DONE]\n\n")).toBe(false)
  })

  it("the repeats are STREAM_CAPACITY_REPEATS, else 5; anything but a positive whole number is refused", () => {
    expect(repeatsOf(undefined)).toBe(5)
    expect(repeatsOf("3")).toBe(3)
    expect(() => repeatsOf("0")).toThrow(/STREAM_CAPACITY_REPEATS must be a whole number, at least 1/)
    expect(() => repeatsOf("two")).toThrow(/STREAM_CAPACITY_REPEATS/)
  })

  it("the warm-up rounds are STREAM_CAPACITY_WARMUP, else 5; none may be asked for, a fraction may not", () => {
    expect(warmupsOf(undefined)).toBe(5)
    expect(warmupsOf("0")).toBe(0)
    expect(() => warmupsOf("1.5")).toThrow(/STREAM_CAPACITY_WARMUP must be a whole number, at least 0/)
  })
})
