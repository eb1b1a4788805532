/**
 * Loaded with Node's `--import` into a side the stream profile (`bench/streamProfile.ts`) runs (the gateway as `serve`
 * runs it, or the pass-through), beside what answers the bench's other questions: between a `"burst"` message and a
 * `"phases"` one, when each request of a burst reached each point on its way to its first text, read from Node's and
 * undici's diagnostics channels (and from this library's spans, when `tracedServe.ts` runs the gateway with
 * `recordSpan` as its tracer). Nothing here is in the library.
 *
 * The points, in milliseconds from the burst's start (the `"burst"` message):
 * - downstream, a request of the client: `arrival` (its headers parsed, `http.server.request.start`), its response's
 *   `first write` and `first text write` (the first write carrying a delta's text);
 * - upstream, a request the side sends (undici's `undici:request:*` and `undici:client:*`): `upstream create`,
 *   `upstream headers sent` (once it has a connection), `upstream headers`, `upstream first chunk` and `upstream
 *   first text`; a new connection's `connect start` and `connected`;
 * - spans, when traced: each span's start, by name.
 * Points of one request are linked (a response to its own `arrival`, an undici request to its own `create`, a span to
 * its parent), so the durations between them are per request; points of different requests (a client's request and
 * the upstream request it caused) are not, and compare by their distributions. Its own cost (a wrapper on each
 * response's `write`, a subscriber a channel) is in the profile, under `bench/gateway/phaseRecorder.ts`.
 */
import { subscribe } from "node:diagnostics_channel"
import type * as Http from "node:http"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { loopDelayOf } from "./sideMonitor.js"

/** A distribution of times in milliseconds: how many, p50, p99, max. */
export interface Spread {
  readonly n: number
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** What a burst's `"phases"` answer holds: each point's offsets from the burst's start, and per-request durations. */
export interface Phases {
  readonly points: Readonly<Record<string, Spread>>
  readonly durations: Readonly<Record<string, Spread>>
  readonly loopDelay: { readonly p50: number; readonly p99: number; readonly max: number }
  /** The burst's start and end on the clock of V8's CPU profile (microseconds, `process.hrtime`). */
  readonly window: readonly [number, number]
}

let burstStart = 0
let points = new Map<string, Array<number>>()
let durations = new Map<string, Array<number>>()
let windowStart = 0

function add(into: Map<string, Array<number>>, name: string, value: number): void {
  const list = into.get(name)
  if (list === undefined) into.set(name, [value])
  else list.push(value)
}

function point(name: string): number {
  const now = performance.now()
  add(points, name, now - burstStart)
  return now
}

function duration(name: string, from: number, to: number): void {
  add(durations, name, to - from)
}

/** A chunk of an SSE chat stream carries a delta's text. */
const text = /"content":"[^"]/

function chunkText(chunk: unknown): string {
  return typeof chunk === "string" ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk).toString() : ""
}

subscribe("http.server.request.start", (message) => {
  const { response } = message as { readonly response: Http.ServerResponse }
  const arrival = point("arrival")
  const write = response.write
  let wrote = false
  let wroteText = false
  response.write = function(this: Http.ServerResponse, chunk: unknown, ...rest: Array<unknown>) {
    if (!wrote) {
      wrote = true
      duration("arrival → first write", arrival, point("first write"))
    }
    if (!wroteText && text.test(chunkText(chunk))) {
      wroteText = true
      duration("arrival → first text write", arrival, point("first text write"))
    }
    return (write as (...args: Array<unknown>) => boolean).call(this, chunk, ...rest)
  } as typeof response.write
})

interface Upstream {
  readonly created: number
  sent?: number
  headers?: number
  firstChunk?: number
  firstText?: number
}

const upstream = new WeakMap<object, Upstream>()

subscribe("undici:request:create", (message) => {
  upstream.set((message as { readonly request: object }).request, { created: point("upstream create") })
})
subscribe("undici:client:sendHeaders", (message) => {
  const one = upstream.get((message as { readonly request: object }).request)
  if (one === undefined) return
  one.sent = point("upstream headers sent")
  duration("upstream create → headers sent", one.created, one.sent)
})
subscribe("undici:request:headers", (message) => {
  const one = upstream.get((message as { readonly request: object }).request)
  if (one === undefined) return
  one.headers = point("upstream headers")
  if (one.sent !== undefined) duration("upstream headers sent → headers", one.sent, one.headers)
})
subscribe("undici:request:bodyChunkReceived", (message) => {
  const { chunk, request } = message as { readonly request: object; readonly chunk: unknown }
  const one = upstream.get(request)
  if (one === undefined) return
  if (one.firstChunk === undefined) {
    one.firstChunk = point("upstream first chunk")
    if (one.headers !== undefined) duration("upstream headers → first chunk", one.headers, one.firstChunk)
  }
  if (one.firstText === undefined && text.test(chunkText(chunk))) {
    one.firstText = point("upstream first text")
    duration("upstream create → first text", one.created, one.firstText)
  }
})
const connecting: Array<number> = []
subscribe("undici:client:beforeConnect", () => {
  connecting.push(point("connect start"))
})
subscribe("undici:client:connected", () => {
  const started = connecting.shift()
  const now = point("connected")
  if (started !== undefined) duration("connect (in order of starting)", started, now)
})

const spanStarts = new WeakMap<object, number>()

/** Records a span's start, and its distance from its parent's start (`tracedServe.ts`'s tracer calls it). */
export function recordSpan(span: object, name: string, parent: { readonly name?: string } | undefined): void {
  const now = point(`span ${name}`)
  spanStarts.set(span, now)
  const parentStart = parent === undefined ? undefined : spanStarts.get(parent)
  if (parentStart !== undefined) duration(`span ${parent!.name ?? "?"} → ${name}`, parentStart, now)
}

function spreadOf(values: ReadonlyArray<number>): Spread {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! * 10) / 10
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: Math.round(sorted[sorted.length - 1]! * 10) / 10 }
}

function spreads(from: Map<string, Array<number>>): Record<string, Spread> {
  return Object.fromEntries([...from].map(([name, values]) => [name, spreadOf(values)]))
}

/** Now on the clock of V8's CPU profile, in microseconds. */
function micros(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

const delay = monitorEventLoopDelay({ resolution: 1 })
delay.enable()

process.on("message", (message) => {
  if (message === "burst") {
    points = new Map()
    durations = new Map()
    connecting.length = 0
    delay.reset()
    burstStart = performance.now()
    windowStart = micros()
    process.send?.("ready")
  } else if (message === "phases") {
    const phases: Phases = {
      points: spreads(points),
      durations: spreads(durations),
      loopDelay: loopDelayOf(delay),
      window: [windowStart, micros()]
    }
    process.send?.(phases)
  }
})
