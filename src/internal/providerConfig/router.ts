/**
 * The `router` section of a configuration: each named router's deployments resolved to `provider/model_name` against
 * the file's models, its other fields turned into `Router.Options`, every name matching nothing reported at its path.
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"
import { LlmError } from "../../LlmError.js"
import type { Issue, ModelConfig, RouterConfig } from "../../ProviderConfig.js"
import type { ErrorTag, LearnedLimitsOptions, Options } from "../../Router.js"
import { definedFields } from "../json.js"
import { NonEmpty, oneOf, optional, PositiveInt } from "./fields.js"

/** Seconds (a positive number) or an Effect duration string, as a finite positive duration; else undefined. */
export const toDuration = (value: number | string): Duration.Duration | undefined => {
  const decoded = typeof value === "number"
    ? Duration.fromInput(value * 1000)
    : Duration.fromInput(value as Duration.Input)
  if (decoded._tag === "None") return undefined
  const millis = Duration.toMillis(decoded.value)
  return Number.isFinite(millis) && millis > 0 ? decoded.value : undefined
}

const ErrorTag = oneOf(LlmError.members.map((member) => member.identifier))
const ErrorTags = Schema.Array(ErrorTag).check(Schema.isMinLength(1, { message: "expected at least one error tag" }))
/** Seconds, as elsewhere in the file, or an Effect duration string such as "30 seconds". */
export const DurationEntry = Schema.Union([Schema.Number, Schema.String]).check(
  Schema.makeFilter((value: number | string) => toDuration(value) !== undefined, {
    message: "expected seconds (a positive number) or a duration such as \"30 seconds\""
  })
)

/** `ProviderConfig.RouterEntry`. */
export const RouterEntry = Schema.Struct({
  deployments: Schema.Array(NonEmpty).check(Schema.isMinLength(1, { message: "expected at least one deployment" })),
  /** Names of the file's `guardrails` section its calls run, besides its deployments'. */
  guardrails: optional(Schema.Array(NonEmpty)),
  strategy: optional(oneOf(["weighted", "least-busy", "lowest-latency", "lowest-cost", "priority"])),
  fallbacks: optional(Schema.Record(Schema.String, Schema.Array(Schema.Struct({ to: NonEmpty, on: ErrorTags })))),
  retry_on: optional(Schema.Array(ErrorTag)),
  deadline: optional(DurationEntry),
  /** `Router.Options.maxRetryWait`: how long in all a deployment's retries wait while the call could go elsewhere. */
  max_retry_wait: optional(DurationEntry),
  cooldown: optional(Schema.Struct({
    failures: optional(PositiveInt),
    window: optional(DurationEntry),
    period: optional(DurationEntry),
    on: optional(Schema.Array(ErrorTag))
  })),
  hedge: optional(Schema.Struct({ after: DurationEntry })),
  mid_stream: optional(oneOf(["restart", "continue", "fail"])),
  /** `Router.Options.learnedLimits`: `false` turns learning off. */
  learned_limits: optional(Schema.Union([
    Schema.Literal(false),
    Schema.Struct({
      quantile: optional(Schema.Number.check(Schema.makeFilter((value: number) => value > 0 && value <= 1, {
        message: "expected a number in (0, 1]"
      }))),
      factor: optional(Schema.Number.check(Schema.isGreaterThanOrEqualTo(1))),
      floor: optional(DurationEntry),
      min_samples: optional(PositiveInt),
      window: optional(PositiveInt),
      initial_first_token: optional(Schema.Union([Schema.Literal(false), DurationEntry]))
    })
  ])),
  /** The address of requests that name no model. */
  model: optional(NonEmpty),
  /** Session affinity: `true`, `false` (the gateway's routers have it unless it is `false`), or its settings. */
  affinity: optional(Schema.Union([
    Schema.Boolean,
    Schema.Struct({ ttl: optional(DurationEntry), max_sessions: optional(PositiveInt) })
  ]))
})

export type RouterEntry = typeof RouterEntry.Type

// Decoded entries passed `toDuration` already; an absent one stays `undefined`.
export const duration = (value: number | string | undefined): Duration.Duration | undefined =>
  value === undefined ? undefined : toDuration(value)

const known = (names: ReadonlyArray<string>): string => names.length === 0 ? "none" : names.join(", ")

const fullName = (model: ModelConfig) => `${model.provider}/${model.entry.model_name}`

/** The model `wanted` names (`provider/model_name`, or a `model_name` only one provider has), or why none is. */
export const findModel = (
  providers: Readonly<Record<string, Readonly<Record<string, ModelConfig>>>>,
  wanted: string
): ModelConfig | string => {
  const models = Object.values(providers).flatMap((byName) => Object.values(byName))
  const exact = models.filter((model) => fullName(model) === wanted)
  const found = exact.length > 0 ? exact : models.filter((model) => model.entry.model_name === wanted)
  return found.length === 1
    ? found[0]!
    : found.length === 0
    ? `no deployment ${wanted}; known: ${known(models.map(fullName))}`
    : `${wanted} is served by ${found.map(fullName).join(" and ")}; name one`
}

/**
 * Each router of the section with its deployments resolved, or every issue, paths under `router`. A deployment among
 * `undecoded` (whose own issues name it) is neither resolved nor refused, and its router's fallbacks and `model` are
 * not checked (they may name its groups).
 */
export const resolve = (
  section: Readonly<Record<string, RouterEntry>>,
  providers: Readonly<Record<string, Readonly<Record<string, ModelConfig>>>>,
  undecoded: ReadonlySet<string> = new Set()
): { readonly routers: Record<string, RouterConfig>; readonly issues: ReadonlyArray<typeof Issue.Type> } => {
  const routers: Record<string, RouterConfig> = {}
  const issues: Array<typeof Issue.Type> = []
  for (const [name, entry] of Object.entries(section)) {
    const at = `router.${name}`
    const listed: Array<ModelConfig> = []
    const unchecked = entry.deployments.some((wanted) => undecoded.has(wanted))
    for (const [index, wanted] of entry.deployments.entries()) {
      if (undecoded.has(wanted)) continue
      const found = findModel(providers, wanted)
      const path = `${at}.deployments[${index}]`
      if (typeof found === "string") issues.push({ path, message: found })
      else if (listed.includes(found)) issues.push({ path, message: `${fullName(found)} is listed twice` })
      else listed.push(found)
    }
    // What a fallback or `model` may name: a listed deployment, its model, or one of its groups.
    const addresses = new Set(
      listed.flatMap((model) => [fullName(model), model.entry.model_name, ...(model.entry.groups ?? [])])
    )
    const checkAddress = (path: string, address: string) => {
      if (!unchecked && !addresses.has(address)) {
        issues.push({
          path,
          message: `${address} names no deployment, model or group of this router; known: ${known([...addresses])}`
        })
      }
    }
    for (const [from, fallbacks] of Object.entries(entry.fallbacks ?? {})) {
      checkAddress(`${at}.fallbacks.${from}`, from)
      for (const [index, fallback] of fallbacks.entries()) {
        checkAddress(`${at}.fallbacks.${from}[${index}].to`, fallback.to)
      }
    }
    if (entry.model !== undefined) checkAddress(`${at}.model`, entry.model)
    routers[name] = {
      deployments: listed.map(fullName),
      options: toOptions(entry),
      ...definedFields({ guardrails: entry.guardrails })
    }
  }
  return { routers, issues }
}

// The decoded tags are `LlmError` tags (`ProviderConfig`'s `ErrorTag` schema checks them).
const tags = (names: ReadonlyArray<string>) => names as ReadonlyArray<ErrorTag>

const learnedLimits = (entry: NonNullable<RouterEntry["learned_limits"]>): LearnedLimitsOptions | false =>
  entry === false ? false : definedFields({
    quantile: entry.quantile,
    factor: entry.factor,
    floor: duration(entry.floor),
    minSamples: entry.min_samples,
    window: entry.window,
    initialFirstToken: entry.initial_first_token !== false && duration(entry.initial_first_token)
  })

const toOptions = (entry: RouterEntry): Omit<Options, "deployments"> => {
  const { cooldown } = entry
  return definedFields({
    strategy: entry.strategy,
    fallbacks: entry.fallbacks && Object.fromEntries(
      Object.entries(entry.fallbacks).map(([from, list]) => [from, list.map(({ on, to }) => ({ to, on: tags(on) }))])
    ),
    retryOn: entry.retry_on && tags(entry.retry_on),
    deadline: duration(entry.deadline),
    maxRetryWait: duration(entry.max_retry_wait),
    cooldown: cooldown && definedFields({
      failures: cooldown.failures,
      window: duration(cooldown.window),
      period: duration(cooldown.period),
      on: cooldown.on && tags(cooldown.on)
    }),
    hedge: entry.hedge && { after: toDuration(entry.hedge.after)! },
    midStream: entry.mid_stream,
    learnedLimits: entry.learned_limits === undefined ? undefined : learnedLimits(entry.learned_limits),
    model: entry.model,
    affinity: entry.affinity === undefined ? undefined : affinityOf(entry.affinity)
  })
}

const affinityOf = (affinity: NonNullable<RouterEntry["affinity"]>): NonNullable<Options["affinity"]> =>
  typeof affinity === "boolean"
    ? affinity
    : definedFields({ ttl: duration(affinity.ttl), maxSessions: affinity.max_sessions })
