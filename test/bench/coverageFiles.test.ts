import { describe, expect, it } from "@effect/vitest"
import { filesRun, type ScriptCoverage } from "../../bench/coverageFiles.js"

const script = (url: string, ...counts: ReadonlyArray<number>): ScriptCoverage => ({
  url,
  functions: counts.map((count, i) => ({
    functionName: `f${i}`,
    ranges: [{ startOffset: i * 10, endOffset: i * 10 + 9, count }]
  }))
})

describe("bench/coverageFiles", () => {
  it("counts the compiled project files one of whose functions was called, as their TypeScript sources", () => {
    const src = "file:///project/.bench-build/src"
    const ran = filesRun([
      script(`${src}/Llm.js`, 0, 3),
      script(`${src}/internal/router/run.js`, 1),
      script(`${src}/Gateway.js`, 0, 0),
      script("file:///project/.bench-build/bench/main.js", 5),
      script("file:///project/node_modules/effect/dist/Effect.js", 9),
      script("node:internal/streams/readable", 2)
    ], src)
    expect(ran).toEqual(["src/Llm.ts", "src/internal/router/run.ts"])
  })
})
