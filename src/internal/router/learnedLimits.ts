/**
 * Phase limits a deployment learns from its own streams (`Options.learnedLimits`): the time to a stream's first chunk
 * and the longest wait between its chunks, each over a window of the latest streams. Once a window holds `minSamples`,
 * its limit is a high quantile of it times a factor, never under the floor; the transport keeps the sooner of it and
 * the adapter's own. A usually fast provider is then left in seconds when it goes silent or stalls, and a slow one (a
 * reasoning model) is never cut sooner than its own history says.
 *
 * The samples are kept in the router's `Router.LearnedLimitStore` under the deployment's key, so routers on one store
 * learn from all their streams. Attempts read a mirror of the store's last answer synchronously: each sample is one
 * store step in a fiber the stream never waits for, and a store other routers write is read every `refreshMillis`.
 *
 * Unstreamed calls keep the adapter's limits: the wait for an unstreamed reply's headers grows with the reply's length,
 * which is not known before it.
 */
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type {
  LearnedLimitsOptions,
  LearnedLimitStore,
  PhaseSamples,
  Samples,
  SamplesReply,
  StreamPhase
} from "../../Router.js"
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
export function resolve(options: LearnedLimitsOptions | false | undefined): Settings | undefined {
  if (options === false) return undefined
  return {
    quantile: options?.quantile ?? defaults.quantile,
    factor: options?.factor ?? defaults.factor,
    floorMillis: options?.floor === undefined ? defaults.floorMillis : Duration.toMillis(options.floor),
    minSamples: options?.minSamples ?? defaults.minSamples,
    window: options?.window ?? Math.max(defaults.window, options?.minSamples ?? defaults.minSamples),
    initialFirstTokenMillis: options?.initialFirstToken === false
      ? undefined
      : options?.initialFirstToken === undefined
      ? defaults.initialFirstTokenMillis
      : Duration.toMillis(options.initialFirstToken)
  }
}

/**
 * The latest samples of one phase and their quantile: the rules the memory `Router.LearnedLimitStore` runs (the Redis
 * one runs the same in Lua, `stores/redis/learned.ts`). Kept in arrival order (which one leaves a full window) and
 * sorted (which one is the quantile), a sample costs a binary search and a shift, never a sort.
 */
export class Window {
  private readonly arrived: Float64Array
  private readonly sorted: Float64Array
  private count = 0
  private next = 0

  constructor(private readonly options: Pick<Settings, "quantile" | "minSamples" | "window">) {
    this.arrived = new Float64Array(options.window)
    this.sorted = new Float64Array(options.window)
  }

  add(millis: number): void {
    const { arrived, sorted } = this
    if (this.count === arrived.length) {
      // The oldest sample leaves the sorted ones.
      const at = placeOf(sorted, this.count, arrived[this.next]!, false)
      sorted.copyWithin(at, at + 1, this.count)
      this.count--
    }
    const at = placeOf(sorted, this.count, millis, true)
    sorted.copyWithin(at + 1, at, this.count)
    sorted[at] = millis
    this.count++
    arrived[this.next] = millis
    this.next = (this.next + 1) % arrived.length
  }

  /** The samples kept and, once `minSamples` are in, the one at `ceil(quantile * count)` in order. */
  reply(): PhaseSamples {
    const { minSamples, quantile } = this.options
    const count = this.count
    return {
      count,
      quantile: count < minSamples ? undefined : this.sorted[Math.min(count, Math.ceil(quantile * count)) - 1]
    }
  }
}

// The first of the `count` sorted values at least (`above`: above) `value`: where it is (goes after its equals).
function placeOf(sorted: Float64Array, count: number, value: number, above: boolean): number {
  let low = 0
  let high = count
  while (low < high) {
    const middle = (low + high) >>> 1
    if (sorted[middle]! < value || (above && sorted[middle] === value)) low = middle + 1
    else high = middle
  }
  return low
}

/** How often a router reads its deployments' samples from a store other routers write. */
const refreshMillis = 1_000

const nothing: SamplesReply = {
  firstChunk: { count: 0, quantile: undefined },
  gap: { count: 0, quantile: undefined }
}

/** One phase of a deployment's learned limits, as its streams tell it. */
export interface Phase {
  /** One stream's sample, in milliseconds, sent to the store; the stream does not wait for it. */
  readonly add: (millis: number) => void
  /** The samples the store keeps, as it answered last. */
  readonly size: number
}

/** A deployment's learned limits: a mirror of its samples in the store, and the limits they give. */
export class Learned {
  readonly firstChunk: Phase
  readonly gap: Phase
  /** Reads the store's samples into the mirror. */
  readonly refresh: Effect.Effect<void>
  private reply: SamplesReply = nothing

  constructor(
    private readonly settings: Settings,
    samples: Samples,
    /** Runs a step of the store in a fiber of its own, at once. */
    run: (step: Effect.Effect<void>) => void
  ) {
    const mirrored = (step: Effect.Effect<SamplesReply>) =>
      Effect.map(step, (reply) => {
        this.reply = reply
      })
    const phase = (name: StreamPhase): Phase => {
      const kept = () => this.reply[name].count
      return {
        add: (millis) => run(mirrored(samples.add(name, millis))),
        get size() {
          return kept()
        }
      }
    }
    this.firstChunk = phase("firstChunk")
    this.gap = phase("gap")
    this.refresh = mirrored(samples.peek)
  }

  /** The limit learned of `phase`; `undefined` while too few streams were sampled. */
  learnedLimit(phase: StreamPhase): number | undefined {
    const { quantile } = this.reply[phase]
    return quantile === undefined ? undefined : Math.max(this.settings.floorMillis, quantile * this.settings.factor)
  }

  /**
   * `undefined` while nothing is learned, and for an attempt the call could not leave for another deployment
   * (`elsewhere`): a learned limit is there to leave a deployment gone silent for one that answers; cutting the last
   * one a call could try fails the call sooner and answers nothing, and when the gateway's own loop is too busy to read
   * a reply in time, it would blame the provider. Before its first-token limit is learned, an attempt gets the initial
   * one.
   */
  limits(elsewhere: () => boolean): PhaseLimits | undefined {
    const firstToken = this.learnedLimit("firstChunk") ?? this.settings.initialFirstTokenMillis
    const idle = this.learnedLimit("gap")
    if (firstToken === undefined && idle === undefined || !elsewhere()) return undefined
    // The headers come before the first chunk: its limit bounds them too.
    return { headers: firstToken, firstToken, idle }
  }
}

/**
 * The learned limits of the deployment under `key`; its steps run on the router's services (its logger, its `Clock`).
 */
export function make(
  settings: Settings,
  store: LearnedLimitStore["Service"],
  key: string
): Effect.Effect<Learned> {
  return Effect.flatMap(
    Effect.all([
      store.samples({ key, quantile: settings.quantile, minSamples: settings.minSamples, window: settings.window }),
      Effect.context<never>()
    ]),
    ([samples, context]: readonly [Samples, Context.Context<never>]) =>
      Effect.sync(() =>
        new Learned(settings, samples, (step) => {
          Effect.runForkWith(context)(step)
        })
      )
  )
}

/**
 * Reads every deployment's samples into its mirror every `refreshMillis`: for stores other routers may write (a
 * router's own memory store changes only by its own steps, whose answers its mirrors take already).
 */
export function refresh(learned: ReadonlyArray<Learned>): Effect.Effect<void, never, Scope.Scope> {
  if (learned.length === 0) return Effect.void
  const once = Effect.forEach(learned, (each) => each.refresh, { discard: true })
  return Effect.asVoid(Effect.forkScoped(Effect.repeat(once, Schedule.spaced(refreshMillis))))
}
