import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { split } from "../../bench/cpuProfile.js"

// A profile of two frames, a function of Node's HTTP under the root, and `(idle)`; each sample at its µs.
function profileOf(samples: ReadonlyArray<{ readonly at: number; readonly idle: boolean }>, startTime: number) {
  const frame = (id: number, functionName: string, url: string, children?: Array<number>) => ({
    id,
    callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 },
    ...(children === undefined ? {} : { children })
  })
  const sorted = [...samples].sort((a, b) => a.at - b.at)
  return {
    nodes: [frame(1, "(root)", "", [2, 3]), frame(2, "parserOnIncoming", "node:_http_server"), frame(3, "(idle)", "")],
    startTime,
    endTime: startTime + (sorted.at(-1)?.at ?? 0),
    samples: sorted.map((sample) => sample.idle ? 3 : 2),
    timeDeltas: sorted.map((sample, i) => sample.at - (i === 0 ? 0 : sorted[i - 1]!.at))
  }
}

describe("bench/cpuProfile's split", () => {
  it("counts the busy samples within the window alone, each at its time, the window's end left out", () => {
    const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "cpu-profile-"))
    try {
      fc.assert(
        fc.property(
          fc.array(fc.record({ at: fc.integer({ min: 0, max: 10_000 }), idle: fc.boolean() }), { maxLength: 60 }),
          fc.integer({ min: 0, max: 1_000_000 }),
          fc.integer({ min: -100, max: 10_100 }),
          fc.integer({ min: 0, max: 10_200 }),
          (samples, startTime, from, length) => {
            const file = Path.join(dir, "run.cpuprofile")
            Fs.writeFileSync(file, JSON.stringify(profileOf(samples, startTime)))
            const busy = samples.filter((sample) => !sample.idle)
            const window = { from: startTime + from, to: startTime + from + length }
            const within = busy.filter((sample) => sample.at >= from && sample.at < from + length).length
            expect(split(file, window).busy).toBe(within)
            expect(split(file).busy).toBe(busy.length)
            const shares = split(file, window).selfGroup.get("Node: HTTP, net, streams, events")
            expect(shares).toBe(within === 0 ? undefined : 1)
          }
        )
      )
    } finally {
      Fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
