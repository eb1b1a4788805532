import { describe, expect, it } from "@effect/vitest"
import { roundOf, type Seen, stallMillis, streamCounts } from "../../bench/cases/streamCapacity.js"

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
})
