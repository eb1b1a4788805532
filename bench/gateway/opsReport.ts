/**
 * What the benches that load `opsCounter.ts` into their sides print of its counts (`cases/gateway.ts` with
 * `GATEWAY_OPS`, `cases/mcpToolCall.ts` with `MCP_TOOL_CALL_OPS`): a side's operations by step against another's, and
 * by site, each a unit of work (a request, a call) over the units between two answers of a side.
 */
import { round2 } from "../stats.js"
import type { OpsAnswer } from "./opsCounter.js"

/** A side's answers before and after the units counted. */
export type Counted = readonly [OpsAnswer, OpsAnswer]

/** Each key's count a unit over `units`, from the counts `before` and `after` them. */
export function perUnit(
  before: ReadonlyArray<readonly [string, number]>,
  after: ReadonlyArray<readonly [string, number]>,
  units: number
): Map<string, number> {
  const earlier = new Map(before)
  return new Map(after.map(([key, n]) => [key, (n - (earlier.get(key) ?? 0)) / units] as const))
}

/**
 * The sites (the nearest line of this repository's code that built an operation) of the most operations a unit,
 * each with its labels of the most.
 */
export function siteLines(side: Counted, units: number): Array<string> {
  const bySite = new Map<string, { total: number; labels: Array<readonly [string, number]> }>()
  for (const [key, n] of perUnit(side[0].sites, side[1].sites, units)) {
    if (n === 0) continue
    const [site = "", label = ""] = key.split("\t")
    const entry = bySite.get(site) ?? { total: 0, labels: [] }
    entry.total += n
    entry.labels.push([label, n])
    bySite.set(site, entry)
  }
  return [...bySite].filter(([, entry]) => entry.total >= 0.5).sort((a, b) => b[1].total - a[1].total).slice(0, 40)
    .map(([site, entry]) => {
      const labels = entry.labels.sort((a, b) => b[1] - a[1]).slice(0, 4)
        .map(([label, n]) => `${round2(n)} ${label.slice(0, 70)}`)
      return `  ${round2(entry.total)}  ${site}\n      ${labels.join("\n      ")}`
    })
}

/** The steps whose operations a unit differ most between `ours` and `engine` over `units`. */
export function breakdownLines(ours: Counted, engine: Counted, units: number): Array<string> {
  const o = perUnit(ours[0].breakdown, ours[1].breakdown, units)
  const e = perUnit(engine[0].breakdown, engine[1].breakdown, units)
  const labels = new Set([...o.keys(), ...e.keys()])
  return [...labels]
    .map((label) => ({ label, ours: o.get(label) ?? 0, engine: e.get(label) ?? 0 }))
    .filter((step) => Math.abs(step.ours - step.engine) >= 0.5)
    .sort((a, b) => Math.abs(b.ours - b.engine) - Math.abs(a.ours - a.engine))
    .slice(0, 60)
    .map((step) => `  ${round2(step.ours)} (engine ${round2(step.engine)})  ${step.label}`)
}
