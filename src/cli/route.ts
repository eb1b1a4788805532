/**
 * `chat`'s routing: `--router NAME` (a router of the provider.json's `router` section), and for one model
 * `--fallback MODEL` (a second deployment tried on any failure) and `--timeout SECONDS` (the call's deadline: every
 * attempt and the fallback, to the reply's first chunk when streaming).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as HttpClient from "effect/http/HttpClient"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import type * as Llm from "../Llm.js"
import { LlmError } from "../LlmError.js"
import type { OptionsError } from "../OptionsError.js"
import * as ProviderConfig from "../ProviderConfig.js"
import * as Router from "../Router.js"
import { failUsage, secondsFlag, UsageError } from "./usage.js"

/**
 * The routing flags of one `chat`.
 */
export interface Routing {
  /** `--router`: a router of the file (with `--config` only). */
  readonly router: string | undefined
  /** `--fallback`: with `--config`, a model of the file (`provider/model_name`, `model_name`); else of the same API. */
  readonly fallback: string | undefined
  /** `--timeout`, in seconds. */
  readonly timeout: number | undefined
}

/**
 * The routing flags, or a `UsageError`: `--timeout` not a positive number, `--router` without `--config`, or with
 * `--provider` or `--fallback`.
 */
export const parse = (values: {
  readonly config?: string | undefined
  readonly provider?: string | undefined
  readonly router?: string | undefined
  readonly fallback?: string | undefined
  readonly timeout?: string | undefined
}): Result.Result<Routing, UsageError> =>
  Result.gen(function*() {
    const timeout = yield* secondsFlag("timeout", values.timeout)
    if (values.router !== undefined) {
      if (values.config === undefined) {
        return yield* failUsage("--router needs --config (the file that names the router)")
      }
      const mixed = (["provider", "fallback"] as const).filter((name) => values[name] !== undefined)
      if (mixed.length > 0) {
        return yield* failUsage(
          `--router cannot be combined with ${mixed.map((name) => `--${name}`).join(", ")} (set them in the router)`
        )
      }
    }
    return { router: values.router, fallback: values.fallback, timeout }
  })

/**
 * Whether the routing chooses or bounds each call (a router, a fallback or a deadline), so the command addresses no
 * one deployment.
 */
export const isRouted = (routing: Routing): boolean =>
  routing.router !== undefined || routing.fallback !== undefined || routing.timeout !== undefined

const everyError = LlmError.members.map((member) => member.identifier as Router.ErrorTag)

const deadline = (timeout: number | undefined) => timeout === undefined ? {} : { deadline: Duration.seconds(timeout) }

/**
 * One deployment as the call's `Llm`: itself, or with a fallback or a timeout, a router that tries it first, falls back
 * on any failure and bounds the call.
 */
export const oneOff = <E, R>(
  primary: Router.Deployment<E, R>,
  fallback: Router.Deployment<E, R> | undefined,
  timeout: number | undefined
): Layer.Layer<Llm.Llm, E | OptionsError, R> =>
  fallback === undefined && timeout === undefined ? primary.llm : Router.layer({
    deployments: fallback === undefined ? [primary] : [primary, fallback],
    strategy: "priority",
    model: primary.name,
    ...(fallback === undefined ? {} : { fallbacks: { [primary.name]: [{ to: fallback.name, on: everyError }] } }),
    ...deadline(timeout)
  }).pipe(Layer.provide(Router.layerStoreMemory))

/**
 * The `Llm` of a provider.json's router `name`, `--timeout` overriding its deadline. A name not in the file is a
 * `ProviderConfigError` naming those there are.
 */
export const named = (
  config: ProviderConfig.ProviderConfig,
  name: string,
  timeout: number | undefined
): Layer.Layer<Llm.Llm, OptionsError | ProviderConfig.ProviderConfigError, HttpClient.HttpClient> =>
  Layer.unwrap(
    Effect.map(ProviderConfig.namedRouterOptions(config, name), (options) =>
      Router.layer({ ...options, ...deadline(timeout) }).pipe(Layer.provide(Router.layerStoreMemory)))
  )

/**
 * The `Llm` of a provider.json's model with `--fallback` (`provider/model_name`, or a `model_name` only one provider
 * has) and `--timeout` (see `oneOff`). A model not in the file is a `ProviderConfigError`; a `--fallback` naming none,
 * a `UsageError`.
 */
export const fromConfig = (
  config: ProviderConfig.ProviderConfig,
  file: string,
  target: { readonly provider: string; readonly model: string },
  routing: Routing
): Effect.Effect<
  Layer.Layer<Llm.Llm, OptionsError, HttpClient.HttpClient>,
  ProviderConfig.ProviderConfigError | UsageError
> =>
  Effect.gen(function*() {
    const primary = yield* ProviderConfig.model(config, target.provider, target.model)
    const found = routing.fallback === undefined ?
      undefined :
      yield* ProviderConfig.named(config, routing.fallback).pipe(
        Effect.mapError((error) => new UsageError({ reason: `--fallback: ${error.issues[0]!.message} (in ${file})` }))
      )
    const { deployments } = yield* ProviderConfig.routerOptions(config)
    const deployment = (settings: ProviderConfig.ModelConfig) =>
      deployments.find((d) => d.name === `${settings.provider}/${settings.entry.model_name}`)!
    return oneOff(deployment(primary), found === undefined ? undefined : deployment(found), routing.timeout)
  })
