/**
 * The router's options: checked once when the router is built, and resolved
 * with their defaults into what every call reads.
 */
import * as Duration from "effect/Duration"
import type { ErrorTag, Fallback, Options, StrategyName } from "../../Router.js"
import type * as Cooldown from "./cooldown.js"

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
  readonly cooldown: Cooldown.Settings
  readonly deadline: Duration.Duration
  readonly deadlineMillis: number
  readonly alpha: number
  readonly exploration: number
  /** The address of requests that name no model; undefined: every deployment. */
  readonly model: string | undefined
  readonly replyTokens: number
}

/** What is wrong with `options`, in a sentence; undefined when nothing is. */
export const invalid = (options: Options): string | undefined => {
  if (options.deployments.length === 0) return "Router: at least one deployment is needed"
  const names = new Set<string>()
  const addresses = new Set<string>()
  for (const deployment of options.deployments) {
    if (deployment.name === "") return "Router: a deployment has an empty name"
    if (names.has(deployment.name)) return `Router: the deployment name ${deployment.name} is listed twice`
    names.add(deployment.name)
    const weight = deployment.weight ?? 1
    if (!(Number.isFinite(weight) && weight > 0)) {
      return `Router: deployment ${deployment.name} has weight ${weight}; it must be a positive number`
    }
    addresses.add(deployment.name).add(deployment.model)
    for (const group of deployment.groups ?? []) addresses.add(group)
  }
  for (const [from, fallbacks] of Object.entries(options.fallbacks ?? {})) {
    if (!addresses.has(from)) return `Router: fallbacks are given for ${from}, which names no deployment, group or model`
    for (const fallback of fallbacks) {
      if (!addresses.has(fallback.to)) {
        return `Router: the fallback of ${from} goes to ${fallback.to}, which names no deployment, group or model`
      }
    }
  }
  if (options.model !== undefined && !addresses.has(options.model)) {
    return `Router: model ${options.model} names no deployment, group or model`
  }
  const exploration = options.exploration ?? 0.05
  if (!(exploration >= 0 && exploration < 1)) return `Router: exploration must be in [0, 1), got ${exploration}`
  const alpha = options.latencyAlpha ?? 0.3
  if (!(alpha > 0 && alpha <= 1)) return `Router: latencyAlpha must be in (0, 1], got ${alpha}`
  const failures = options.cooldown?.failures ?? 3
  if (!(Number.isInteger(failures) && failures >= 1)) return `Router: cooldown.failures must be a whole number >= 1, got ${failures}`
  return undefined
}

/** The settings of valid `options` (see `invalid`). */
export const resolve = (options: Options): Settings => {
  const cooldown: Cooldown.Settings = {
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
    replyTokens: options.replyTokens ?? replyTokensDefault
  }
}
