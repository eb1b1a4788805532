import { describe, expect, it } from "@effect/vitest"
import { attempt, type CaseFailure, caseFilter, summary } from "../../bench/report.js"

interface Figures {
  readonly name: string
  readonly ratio: number
}

describe("bench/report", () => {
  it("keeps every other case's figures when one case fails, and exits 1", async () => {
    const results: Array<Figures | CaseFailure> = []
    await attempt(results, ["openai-chat-stream"], () => Promise.resolve({ name: "openai-chat-stream", ratio: 0.9 }))
    await attempt(
      results,
      ["streams-10k-memory"],
      () => Promise.reject(new Error("bench: ours exited (1) before reporting"))
    )
    await attempt(results, ["keypool"], () => Promise.resolve({ name: "keypool", ratio: 0.89 }))
    const { exitCode, line } = summary(results)
    expect(JSON.parse(line)).toEqual({
      results: [
        { name: "openai-chat-stream", ratio: 0.9 },
        { name: "streams-10k-memory", error: "bench: ours exited (1) before reporting" },
        { name: "keypool", ratio: 0.89 }
      ]
    })
    expect(exitCode).toBe(1)
  })

  it("reports a failure under each name the case would have given; a tagged error by its message", async () => {
    const results: Array<Figures | CaseFailure> = []
    const timeout = { _tag: "TimeoutError", message: "no bytes for 30 seconds (idle)" }
    await attempt(results, ["gateway-nonstream", "gateway-stream"], () => Promise.reject(timeout))
    await attempt(results, ["tagged"], () => Promise.reject({ _tag: "TimeoutError" }))
    expect(results).toEqual([
      { name: "gateway-nonstream", error: "no bytes for 30 seconds (idle)" },
      { name: "gateway-stream", error: "no bytes for 30 seconds (idle)" },
      { name: "tagged", error: "TimeoutError" }
    ])
  })

  it("adds every result of a case that gives several, and exits 0 when none failed", async () => {
    const results: Array<Figures | CaseFailure> = []
    await attempt(results, ["a", "b"], () => Promise.resolve([{ name: "a", ratio: 1 }, { name: "b", ratio: 2 }]))
    expect(results.map((result) => result.name)).toEqual(["a", "b"])
    expect(summary(results).exitCode).toBe(0)
  })

  it("selects the cases whose name contains one of a comma list, every case without one", () => {
    const chosen = caseFilter("openai-chat-stream, streams-10k")
    expect(["openai-chat-stream", "openai-chat-nonstream", "streams-10k-memory"].filter(chosen)).toEqual([
      "openai-chat-stream",
      "streams-10k-memory"
    ])
    expect(caseFilter(undefined)("anything")).toBe(true)
    expect(caseFilter("")("anything")).toBe(true)
  })
})
