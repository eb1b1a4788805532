import { describe, expect, it } from "@effect/vitest"
import { simulatorPace, streamTokensPerSecond } from "../../bench/cases/gateway.js"

describe("bench/cases/gateway: the simulator's pace", () => {
  it("gateway-stream's reply is paced token by token unless BENCH_TOKENS_PER_SECOND sets the pace", () => {
    expect(simulatorPace("gateway-stream", undefined)).toBe(String(streamTokensPerSecond))
    expect(simulatorPace("gateway-stream", "")).toBe(String(streamTokensPerSecond))
    expect(simulatorPace("gateway-stream", "250")).toBe("250")
  })

  it("gateway-nonstream's reply is unpaced unless BENCH_TOKENS_PER_SECOND sets a pace", () => {
    expect(simulatorPace("gateway-nonstream", undefined)).toBeUndefined()
    expect(simulatorPace("gateway-nonstream", "1000")).toBe("1000")
  })
})
