/**
 * What every side of the gateway bench answers over its IPC channel, whichever
 * program it runs: a `"cpu"` message is answered with the process's CPU time
 * (user + system, microseconds) so far, and a `"delay"` message with its event
 * loop's delay since the last one (`monitorEventLoopDelay`: p50, p99 and max,
 * in milliseconds).
 *
 * `bench/gateway/sideProcess.ts` calls `answerSideQuestions`; the gateway side,
 * which runs the command line's `serve` itself, loads `servePreload.ts` with
 * Node's `--import`, which calls it before `serve` starts.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"

/** A side's event loop delay since it was last asked, in milliseconds. */
export interface LoopDelay {
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** Starts the event loop delay monitor and answers the bench's `"cpu"` and `"delay"` questions. */
export function answerSideQuestions(): void {
  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  process.on("message", (message) => {
    if (message === "cpu") {
      const cpu = process.cpuUsage()
      process.send?.(cpu.user + cpu.system)
    } else if (message === "delay") {
      process.send?.(loopDelayOf(delay))
      delay.reset()
    }
  })
}

/** A histogram's p50, p99 and max, in milliseconds to two decimals. */
export function loopDelayOf(histogram: { readonly max: number; percentile(p: number): number }): LoopDelay {
  const millis = (nanos: number) => Math.round(nanos / 1e4) / 100
  return { p50: millis(histogram.percentile(50)), p99: millis(histogram.percentile(99)), max: millis(histogram.max) }
}
