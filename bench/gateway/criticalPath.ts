/**
 * Loaded with Node's `--import` into a side the added-latency case (`bench/cases/addedLatency.ts`) runs (the gateway
 * as `serve` runs it, and the engine side): between a `"trace-on"` message and a `"trace-off"` one, when each request
 * reached each point of its critical path, read from the channels Node's server and undici already publish
 * (`node:diagnostics_channel`). Off, nothing is subscribed and nothing is wrapped, so the sides' timed rounds run as
 * they run without it. Nothing here is in the library.
 *
 * One request is in flight at a time, so the upstream request a side makes belongs to the client's request it is
 * serving: the points of both are one record. Times are `process.hrtime` microseconds, the monotonic clock every
 * process on the machine reads alike, so the client's own points (in the bench's process) line up with these.
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel"
import type * as Http from "node:http"

/** A point of a request's critical path. */
export type PointName = Exclude<keyof TracePoints, "immediates" | "timers" | "idle">

/**
 * One request's points, `process.hrtime` microseconds; a point the request never reached is absent. `idle` holds,
 * for each point reached, the event loop's idle time so far (`performance.eventLoopUtilization`, microseconds): over
 * a gap, what grew of it is time the side waited with nothing to do, the rest its work (or the machine's other work).
 */
export interface TracePoints {
  idle: Partial<Record<PointName, number>>
  /** Its headers parsed by Node's server (`http.server.request.start`). */
  arrival?: number
  /** Its body read to the end (the request stream's `end`). */
  bodyRead?: number
  /** The upstream request made (`undici:request:create`): the gateway's decision taken. */
  upstreamMade?: number
  /** A new upstream connection started and made (`undici:client:beforeConnect` / `connected`). */
  connectStart?: number
  connected?: number
  /** The upstream request's headers written to its socket (`undici:client:sendHeaders`). */
  upstreamHeadersSent?: number
  /** Its body written (`undici:request:bodySent`). */
  upstreamBodySent?: number
  /** The upstream answer's headers (`undici:request:headers`): its first byte's turn. */
  upstreamHeaders?: number
  upstreamFirstChunk?: number
  /** The upstream answer complete (`undici:request:trailers`): its last byte's turn. */
  upstreamLastByte?: number
  /** The response's first `write` or `end` with a body. */
  firstWrite?: number
  /** The response's `end`. */
  responseEnd?: number
  /** The response handed to the socket whole (`http.server.response.finish`). */
  flushed?: number
  /** How many times the request's turns called `setImmediate` (a scheduler's yield or fork: one turn of the loop). */
  immediates: number
  /** How many times they set a timer (`setTimeout`, `setInterval`). */
  timers: number
}

const micros = (): number => Number(process.hrtime.bigint() / 1000n)

/** Marks `points` at `name`, now, with the loop's idle time so far. */
function mark(points: TracePoints, name: PointName): void {
  points[name] = micros()
  points.idle[name] = Math.round(performance.eventLoopUtilization().idle * 1000)
}

/** A record with no point yet. */
const fresh = (): TracePoints => ({ idle: {}, immediates: 0, timers: 0 })

let records: Array<TracePoints> = []
let current: TracePoints = fresh()

function onArrival(message: unknown): void {
  const { request, response } = message as {
    readonly request: Http.IncomingMessage
    readonly response: Http.ServerResponse
  }
  const points = fresh()
  mark(points, "arrival")
  current = points
  records.push(points)
  request.once("end", () => {
    mark(points, "bodyRead")
  })
  const { end, write } = response
  function firstWrite(): void {
    if (points.firstWrite === undefined) mark(points, "firstWrite")
  }
  response.write = function(this: Http.ServerResponse, ...args: Array<unknown>) {
    firstWrite()
    return (write as (...args: Array<unknown>) => boolean).apply(this, args)
  } as typeof response.write
  response.end = function(this: Http.ServerResponse, ...args: Array<unknown>) {
    if (args[0] !== undefined && typeof args[0] !== "function") firstWrite()
    mark(points, "responseEnd")
    return (end as (...args: Array<unknown>) => Http.ServerResponse).apply(this, args)
  } as typeof response.end
}

function onFinish(): void {
  mark(current, "flushed")
}

const upstreamPoints: Record<string, (message: unknown) => void> = {
  "undici:request:create": () => {
    mark(current, "upstreamMade")
  },
  "undici:client:beforeConnect": () => {
    mark(current, "connectStart")
  },
  "undici:client:connected": () => {
    mark(current, "connected")
  },
  "undici:client:sendHeaders": () => {
    mark(current, "upstreamHeadersSent")
  },
  "undici:request:bodySent": () => {
    mark(current, "upstreamBodySent")
  },
  "undici:request:headers": () => {
    mark(current, "upstreamHeaders")
  },
  "undici:request:bodyChunkReceived": () => {
    if (current.upstreamFirstChunk === undefined) mark(current, "upstreamFirstChunk")
  },
  "undici:request:trailers": () => {
    mark(current, "upstreamLastByte")
  }
}

const channels: Record<string, (message: unknown) => void> = {
  "http.server.request.start": onArrival,
  "http.server.response.finish": onFinish,
  ...upstreamPoints
}

const unwrapped = { setImmediate, setTimeout, setInterval }

/** Counts the loop's turns and timers asked for while tracing; globals are read at call time by Effect and Node. */
function countTurns(on: boolean): void {
  if (!on) {
    Object.assign(globalThis, unwrapped)
    return
  }
  globalThis.setImmediate = Object.assign(function(this: unknown, ...args: Parameters<typeof setImmediate>) {
    current.immediates++
    return unwrapped.setImmediate.apply(this, args)
  }, unwrapped.setImmediate)
  globalThis.setTimeout = Object.assign(function(this: unknown, ...args: Parameters<typeof setTimeout>) {
    current.timers++
    return unwrapped.setTimeout.apply(this, args)
  }, unwrapped.setTimeout) as typeof setTimeout
  globalThis.setInterval = Object.assign(function(this: unknown, ...args: Parameters<typeof setInterval>) {
    current.timers++
    return unwrapped.setInterval.apply(this, args)
  }, unwrapped.setInterval) as typeof setInterval
}

process.on("message", (message) => {
  if (message === "trace-on") {
    records = []
    current = fresh()
    for (const [name, listener] of Object.entries(channels)) subscribe(name, listener)
    countTurns(true)
    process.send?.("tracing")
  } else if (message === "trace-off") {
    for (const [name, listener] of Object.entries(channels)) unsubscribe(name, listener)
    countTurns(false)
    process.send?.({ trace: records })
  }
})
