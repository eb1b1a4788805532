/**
 * The part of `autocannon` (9.0.0, which ships no types) the gateway bench
 * uses: one run, awaited, whose `response` events carry each response's time.
 */
declare module "autocannon" {
  import type { EventEmitter } from "node:events"

  interface Options {
    readonly url: string
    readonly method?: "POST" | "GET"
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly connections?: number
    /** Seconds. */
    readonly duration?: number
    /** Requests per second over all connections. */
    readonly overallRate?: number
  }

  interface Histogram {
    readonly average: number
    readonly p50: number
    readonly p99: number
  }

  interface Result {
    /** Seconds. */
    readonly duration: number
    readonly "2xx": number
    readonly non2xx: number
    readonly errors: number
    readonly timeouts: number
    readonly latency: Histogram
  }

  interface Instance extends EventEmitter, PromiseLike<Result> {
    on(
      event: "response",
      listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void
    ): this
  }

  function autocannon(options: Options): Instance
  export default autocannon
}
