/**
 * The gateway's `GET /metrics` read as the samples of its Prometheus text, for the tests that count what it counted.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"

/** One sample of the exposition: its name, its labels and its value. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** The samples of Prometheus text; every line that is not a comment must be one. */
export const samplesOf = (text: string): ReadonlyArray<Sample> =>
  text.split("\n").filter((line) => line !== "" && !line.startsWith("#")).map((line) => {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null) throw new Error(`not a sample: ${line}`)
    const labels: Record<string, string> = {}
    for (const label of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
    }
    const value = match[3] === "+Inf" ? Infinity : Number(match[3])
    return { name: match[1]!, labels, value }
  })

/** The value of the sample with exactly `labels` (0 when the series does not exist yet). */
export const valueOf = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}): number => {
  const wanted = Object.entries(labels)
  const found = samples.filter((sample) =>
    sample.name === name && Object.keys(sample.labels).length === wanted.length &&
    wanted.every(([label, value]) => sample.labels[label] === value)
  )
  expect(found.length).toBeLessThanOrEqual(1)
  return found[0]?.value ?? 0
}

/** `GET {url}/metrics` with the admin key `key`: its text and samples. */
export const scrape = (url: string, key: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${key}` } })
    expect(response.status).toBe(200)
    expect(response.headers.get("content-type")).toContain("text/plain; version=0.0.4")
    const text = await response.text()
    return { text, samples: samplesOf(text) }
  })
