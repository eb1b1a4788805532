/**
 * Phase limits a deployment learns from its own streams (`Options.learnedLimits`):
 * the time to a stream's first chunk and the longest wait between its chunks,
 * each over a window of the latest streams. Once a window holds `minSamples`,
 * its limit is a high quantile of it times a factor, never under the floor;
 * the router tells each attempt these limits (`RouterCall.limits`) and the
 * transport keeps the sooner of them and the adapter's own. A provider that is
 * usually fast is then left in seconds when it goes silent or stalls, and a
 * slow one (a reasoning model) is never cut sooner than its own history says.
 *
 * Unstreamed calls keep the adapter's limits: the wait for an unstreamed
 * reply's headers grows with the reply's length, which is not known before it.
 */
import * as Duration from "effect/Duration"
import type { LearnedLimitsOptions } from "../../Router.js"
import type { PhaseLimits } from "../routerCall.js"

/** The options with their defaults. */
export interface Settings {
  readonly quantile: number
  readonly factor: number
  readonly floorMillis: number
  readonly minSamples: number
  readonly window: number
  /** The first-token limit before one is learned, while the call could go elsewhere; undefined: none. */
  readonly initialFirstTokenMillis: number | undefined
}

export const defaults = {
  quantile: 0.99,
  factor: 4,
  floorMillis: 2_000,
  minSamples: 20,
  window: 200,
  initialFirstTokenMillis: 15_000
} as const

/** The settings of valid options; `undefined` when learning is off. */
export const resolve = (options: LearnedLimitsOptions | false | undefined): Settings | undefined => {
  if (options === false) return undefined
  return {
    quantile: options?.quantile ?? defaults.quantile,
    factor: options?.factor ?? defaults.factor,
    floorMillis: options?.floor === undefined
      ? defaults.floorMillis
      : Duration.toMillis(Duration.fromInputUnsafe(options.floor)),
    minSamples: options?.minSamples ?? defaults.minSamples,
    window: options?.window ?? Math.max(defaults.window, options?.minSamples ?? defaults.minSamples),
    initialFirstTokenMillis: options?.initialFirstToken === false
      ? undefined
      : options?.initialFirstToken === undefined
      ? defaults.initialFirstTokenMillis
      : Duration.toMillis(Duration.fromInputUnsafe(options.initialFirstToken))
  }
}

/** The latest samples, in milliseconds, and a quantile of them, sorted again only every few samples. */
export class Window {
  private readonly samples: Float64Array
  private count = 0
  private next = 0
  private sinceSorted = 0
  private value: number | undefined = undefined

  constructor(private readonly settings: Settings) {
    this.samples = new Float64Array(settings.window)
  }

  get size(): number {
    return this.count
  }

  add(millis: number): void {
    this.samples[this.next] = millis
    this.next = (this.next + 1) % this.samples.length
    if (this.count < this.samples.length) this.count++
    this.sinceSorted++
  }

  /** The quantile, once `minSamples` are in; sorted again after a tenth of the window is new. */
  quantile(): number | undefined {
    const { minSamples, quantile, window } = this.settings
    if (this.count < minSamples) return undefined
    if (this.value === undefined || this.sinceSorted * 10 >= window) {
      const sorted = this.samples.slice(0, this.count).sort()
      this.value = sorted[Math.min(this.count - 1, Math.ceil(quantile * this.count) - 1)]
      this.sinceSorted = 0
    }
    return this.value
  }
}

/** A deployment's learned limits: its streams' first chunks and their longest waits between chunks. */
export class Learned {
  readonly firstChunk: Window
  readonly gap: Window

  constructor(private readonly settings: Settings) {
    this.firstChunk = new Window(settings)
    this.gap = new Window(settings)
  }

  private limit(window: Window): number | undefined {
    const quantile = window.quantile()
    return quantile === undefined ? undefined : Math.max(this.settings.floorMillis, quantile * this.settings.factor)
  }

  /**
   * What a stream's attempt is told; `undefined` while nothing is learned. Before its first-token limit is learned,
   * an attempt the call could leave for another deployment (`elsewhere`) has the initial one.
   */
  limits(elsewhere: () => boolean): PhaseLimits | undefined {
    const initial = this.settings.initialFirstTokenMillis
    const firstToken = this.limit(this.firstChunk) ??
      (initial !== undefined && elsewhere() ? initial : undefined)
    const idle = this.limit(this.gap)
    if (firstToken === undefined && idle === undefined) return undefined
    // The headers come before the first chunk: its limit bounds them too.
    return { headers: firstToken, firstToken, idle }
  }
}
