/**
 * The router's options: checked once when the router is built, and resolved
 * with their defaults into what every call reads.
 */
import * as Duration from "effect/Duration"
import type { OptionsError } from "../../OptionsError.js"
import type { ErrorTag, Fallback, Options, StrategyName } from "../../Router.js"
import * as Invalid from "../optionsError.js"
import type * as Breaker from "./breaker.js"
import * as LearnedLimits from "./learnedLimits.js"

/** The provider the router's own errors name. */
export const provider = "router"

/** The reply tokens counted for requests without `maxTokens` (`lowest-cost`, budgets). */
export const replyTokensDefault = 256

const defaultRetryOn: ReadonlyArray<ErrorTag> = [
  "RateLimitError",
  "ProviderUnavailableError",
  "TimeoutError",
  "TransportError",
  "NoCapacityError",
  "StreamTruncatedError",
  "OutputDecodeError",
  "AuthError",
  "BudgetExceededError"
]

const defaultCooldownOn: ReadonlyArray<ErrorTag> = [
  "ProviderUnavailableError",
  "TimeoutError",
  "TransportError",
  "StreamTruncatedError",
  "AuthError",
  "ModelNotFoundError",
  "NoCapacityError"
]

/** The options with their defaults, as the call loop reads them. */
export interface Settings {
  readonly strategy: StrategyName
  /** Whether a pick draws a number from `Random` (`priority` does not). */
  readonly drawsRandom: boolean
  readonly fallbacks: Readonly<Record<string, ReadonlyArray<Fallback>>>
  readonly retryOn: ReadonlySet<ErrorTag>
  readonly cooldownOn: ReadonlySet<ErrorTag>
  readonly cooldown: Breaker.Settings
  readonly deadline: Duration.Duration
  readonly deadlineMillis: number
  readonly alpha: number
  readonly exploration: number
  /** The address of requests that name no model; undefined: every deployment. */
  readonly model: string | undefined
  readonly replyTokens: number
  /** `hedge.after`; undefined: no hedging. */
  readonly hedgeAfter: Duration.Duration | undefined
  /** `maxHold`: the longest a provider's rate-limit signal holds a deployment back. */
  readonly maxHoldMillis: number
  /** `maxRateLimitWait`: how long a call waits for a deployment held back by a rate limit when none is usable. */
  readonly rateLimitWaitMillis: number
  /** `maxRetryWait`: how long in all a deployment's retries wait while the call could go elsewhere. */
  readonly retryWaitMillis: number
  /** What a stream that breaks after its first chunk does (`Options.midStream`). */
  readonly midStream: "restart" | "fail" | "continue"
  /** `learnedLimits`; undefined: off. */
  readonly learnedLimits: LearnedLimits.Settings | undefined
  /** `affinity`; undefined: off. */
  readonly affinity: { readonly ttlMillis: number; readonly maxSessions: number } | undefined
}

const midStreamModes: ReadonlyArray<unknown> = ["restart", "continue", "fail"]

const fail = (option: string, value: unknown, expected: string) => Invalid.make("Router", option, value, expected)

/** What is wrong with `options`; undefined when nothing is. */
export const invalid = (options: Options): OptionsError | undefined => {
  if (options.deployments.length === 0) return fail("deployments", options.deployments, "at least one deployment")
  const names = new Set<string>()
  const addresses = new Set<string>()
  for (const [index, deployment] of options.deployments.entries()) {
    if (deployment.name === "") return fail(`deployments[${index}].name`, deployment.name, "a non-empty name")
    if (names.has(deployment.name)) {
      return fail(`deployments[${index}].name`, deployment.name, "a name no other deployment has")
    }
    names.add(deployment.name)
    const weight = Invalid.positive("Router", `deployments[${index}].weight`, deployment.weight, { optional: true })
    if (weight !== undefined) return weight
    addresses.add(deployment.name).add(deployment.model)
    for (const group of deployment.groups ?? []) addresses.add(group)
  }
  const known = "the name of a deployment, a group or a model"
  for (const [from, fallbacks] of Object.entries(options.fallbacks ?? {})) {
    if (!addresses.has(from)) return fail("fallbacks", from, `keyed by ${known}`)
    for (const [index, fallback] of fallbacks.entries()) {
      if (!addresses.has(fallback.to)) {
        return fail(`fallbacks[${JSON.stringify(from)}][${index}].to`, fallback.to, known)
      }
    }
  }
  if (options.model !== undefined && !addresses.has(options.model)) return fail("model", options.model, known)
  const exploration = options.exploration ?? 0.05
  if (!(exploration >= 0 && exploration < 1)) return fail("exploration", exploration, "a number in [0, 1)")
  const alpha = options.latencyAlpha ?? 0.3
  if (!(alpha > 0 && alpha <= 1)) return fail("latencyAlpha", alpha, "a number in (0, 1]")
  if (options.midStream !== undefined && !midStreamModes.includes(options.midStream)) {
    return fail("midStream", options.midStream, `"restart", "continue" or "fail"`)
  }
  return Invalid.duration("Router", "maxHold", options.maxHold) ??
    Invalid.duration("Router", "maxRateLimitWait", options.maxRateLimitWait) ??
    Invalid.duration("Router", "maxRetryWait", options.maxRetryWait) ??
    Invalid.duration("Router", "hedge.after", options.hedge?.after) ??
    invalidLearning(options.learnedLimits) ??
    Invalid.nonEmpty("Router", "key", options.key, { optional: true }) ??
    invalidAffinity(options.affinity) ??
    Invalid.positive("Router", "cooldown.failures", options.cooldown?.failures ?? 3, { integer: true })
}

const invalidLearning = (options: Options["learnedLimits"]): OptionsError | undefined => {
  if (options === undefined || options === false) return undefined
  const quantile = options.quantile
  if (quantile !== undefined && !(quantile > 0 && quantile <= 1)) {
    return fail("learnedLimits.quantile", quantile, "a number in (0, 1]")
  }
  if (options.factor !== undefined && !(options.factor >= 1)) {
    return fail("learnedLimits.factor", options.factor, "a number of at least 1")
  }
  const minSamples = options.minSamples ?? LearnedLimits.defaults.minSamples
  const invalid = Invalid.duration("Router", "learnedLimits.floor", options.floor) ??
    Invalid.duration(
      "Router",
      "learnedLimits.initialFirstToken",
      options.initialFirstToken === false ? undefined : options.initialFirstToken
    ) ??
    Invalid.positive("Router", "learnedLimits.minSamples", minSamples, { integer: true })
  if (invalid !== undefined) return invalid
  const window = options.window ?? Math.max(LearnedLimits.defaults.window, minSamples)
  if (!(Number.isInteger(window) && window >= minSamples)) {
    return fail("learnedLimits.window", window, `an integer of at least minSamples (${minSamples})`)
  }
  return undefined
}

const invalidAffinity = (affinity: Options["affinity"]): OptionsError | undefined => {
  if (affinity === undefined || typeof affinity === "boolean") return undefined
  if (typeof affinity !== "object" || affinity === null) {
    return fail("affinity", affinity, "true, false or { ttl, maxSessions }")
  }
  return Invalid.duration("Router", "affinity.ttl", affinity.ttl, true) ??
    Invalid.positive("Router", "affinity.maxSessions", affinity.maxSessions, { integer: true, optional: true })
}

/** The settings of valid `options` (see `invalid`). */
export const resolve = (options: Options): Settings => {
  const cooldown: Breaker.Settings = {
    failures: options.cooldown?.failures ?? 3,
    windowMillis: Duration.toMillis(options.cooldown?.window ?? "1 minute"),
    periodMillis: Duration.toMillis(options.cooldown?.period ?? "30 seconds")
  }
  const deadline = Duration.fromInputUnsafe(options.deadline ?? "10 minutes")
  return {
    strategy: options.strategy ?? "weighted",
    drawsRandom: options.strategy !== "priority",
    fallbacks: options.fallbacks ?? {},
    retryOn: new Set(options.retryOn ?? defaultRetryOn),
    cooldownOn: new Set(options.cooldown?.on ?? defaultCooldownOn),
    cooldown,
    deadline,
    deadlineMillis: Duration.toMillis(deadline),
    alpha: options.latencyAlpha ?? 0.3,
    exploration: options.exploration ?? 0.05,
    model: options.model,
    replyTokens: options.replyTokens ?? replyTokensDefault,
    midStream: options.midStream ?? "restart",
    learnedLimits: LearnedLimits.resolve(options.learnedLimits),
    maxHoldMillis: Duration.toMillis(options.maxHold ?? "5 minutes"),
    rateLimitWaitMillis: Duration.toMillis(options.maxRateLimitWait ?? "5 seconds"),
    retryWaitMillis: Duration.toMillis(options.maxRetryWait ?? "1 second"),
    hedgeAfter: options.hedge === undefined ? undefined : Duration.fromInputUnsafe(options.hedge.after),
    affinity: resolveAffinity(options.affinity)
  }
}

const resolveAffinity = (affinity: Options["affinity"]): Settings["affinity"] => {
  if (affinity === undefined || affinity === false) return undefined
  const chosen = affinity === true ? {} : affinity
  return {
    ttlMillis: Duration.toMillis(chosen.ttl ?? "5 minutes"),
    maxSessions: chosen.maxSessions ?? 10_000
  }
}
